"""Run under ``mpiexec -n 2``: every Communicator method of the MPI path, checked on each rank.

Any failed check raises, which the excepthook from ``init`` turns into a non-zero exit of the job.
"""
import numpy as np

import gpunn
from gpunn.distributed.base import GradientReducer
from gpunn.distributed.sharding import shard_bounds

comm = gpunn.distributed.init()
rank, size = comm.rank, comm.size
assert comm.backend == "mpi" and size == 2 and 0 <= rank < size, comm
assert gpunn.distributed.current() is comm and gpunn.distributed.init() is comm  # init is idempotent
assert comm.local_size == 2 and comm.local_rank == rank  # one node
assert comm.is_chief == (rank == 0)

# allreduce_sum_: in place, any float dtype, the exact sum on every rank
for dtype in ("float32", "float64"):
    a = np.arange(5, dtype=dtype) * (rank + 1)
    comm.allreduce_sum_(a)
    np.testing.assert_array_equal(a, np.arange(5, dtype=dtype) * 3)

# broadcast_ from rank 0 and from rank 1
b = np.full(4, float(rank))
comm.broadcast_(b)
np.testing.assert_array_equal(b, np.zeros(4))
b = np.full(4, float(rank))
comm.broadcast_(b, root=1)
np.testing.assert_array_equal(b, np.ones(4))

# allreduce_host returns a new float64 array of the input's shape
host = comm.allreduce_host(np.array([[1.0, rank]]))
assert host.shape == (1, 2) and host.tolist() == [[2.0, 1.0]], host

# broadcast_object: small values, no pickle; tuples come back as tuples
assert comm.broadcast_object(1234 if rank == 0 else None) == 1234
assert comm.broadcast_object("hello" if rank == 0 else "") == "hello"
assert comm.broadcast_object((1, "a", (2, 3)) if rank == 0 else None) == (1, "a", (2, 3))
assert comm.broadcast_object("from one" if rank == 1 else None, root=1) == "from one"

# check_same: silent when ranks agree, a clear error on every rank when they do not
comm.check_same("a value", "same")
try:
    comm.check_same("the answer", f"value-{rank}")
except RuntimeError as exc:
    assert "ranks disagree on the answer" in str(exc) and "rank(s) [1]" in str(exc), exc
else:
    raise AssertionError("check_same accepted different values")

# allgather_rows: uneven (and empty) shares joined in rank order on every rank
rows = np.arange(6, dtype="float32").reshape(3, 2) + 100 * rank if rank == 0 else np.zeros((0, 2), "float32")
gathered = comm.allgather_rows(rows)
np.testing.assert_array_equal(gathered, np.arange(6, dtype="float32").reshape(3, 2))
lo, hi = shard_bounds(0, 7, rank, size)
gathered = comm.allgather_rows(np.arange(lo, hi, dtype="int64")[:, None])
np.testing.assert_array_equal(gathered[:, 0], np.arange(7))

# the default gradient reducer sums the whole buffer at wait()
grads = np.full(10, rank + 1.0, dtype="float32")
reducer = comm.gradient_reducer(grads, [[(0, 6)], [(6, 10)]])
assert type(reducer) is GradientReducer
reducer.layer_done(1)
reducer.layer_done(0)
reducer.wait()
np.testing.assert_array_equal(grads, np.full(10, 3.0, dtype="float32"))

comm.barrier()
print(f"collectives OK on rank {rank}", flush=True)
