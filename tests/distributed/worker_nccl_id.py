"""Under mpiexec: rank 0's NCCL unique id (a fake NCCL module, both CuPy forms) reaches every rank intact."""
import sys

from gpunn.distributed.launch import init
from gpunn.distributed.nccl_id import broadcast_unique_id

ID = bytes(range(256))[-128:]  # values >= 128: the ones a signed char makes negative


class FakeNccl:
    def __init__(self, form):
        self.form = form

    def get_unique_id(self):
        return ID if self.form == "bytes" else tuple(b - 256 if b > 127 else b for b in ID)


comm = init("mpi")
got_new = broadcast_unique_id(FakeNccl("bytes"), comm, "14.2.0")
got_old = broadcast_unique_id(FakeNccl("tuple"), comm, "13.6.0")
assert got_new == ID, got_new
assert bytes(v & 0xFF for v in got_old) == ID and isinstance(got_old, tuple)
print(f"nccl id OK on rank {comm.rank}", flush=True)
sys.exit(0)
