"""Allreduce time against message size: MPI on CPU ranks, and NCCL's one-rank overhead on a GPU.

    mpiexec -n 2 python bench/allreduce.py --output bench/results/distributed_cpu.json
    python bench/allreduce.py --nccl --output bench/results/distributed_cpu.json   # one GPU, one rank

The MPI mode times two ways of summing a float32 buffer in place over the ranks: a blocking
``Allreduce(IN_PLACE)`` and gpunn's ``MpiCommunicator.allreduce_sum_`` (``Iallreduce`` polled against the
collective timeout), so the cost of the timeout machinery is visible. Each size is warmed up, then timed
``--repeats`` times after a barrier; over ``--rounds`` sweeps of all sizes, the lowest median counts. Bus bandwidth follows nccl-tests' definition:
busbw = 2(N-1)/N x bytes / time. The NCCL mode (skipped without a GPU) times ``NcclCommunicator`` with a
single member: the fixed cost a step pays for the NCCL call before any data moves between GPUs.

Results go to the ``"allreduce"`` (or ``"nccl_one_rank"``) key of the JSON file given, other keys kept.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

SIZES = [4 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20, 4 << 20, 16 << 20, 64 << 20]


def repeats_for(nbytes: int, repeats: int) -> int:
    """Fewer repetitions for the big messages: they are long and steady."""
    return max(5, min(repeats, int(repeats * (1 << 20) / max(nbytes, 1 << 20))))


def time_mpi(repeats: int, rounds: int) -> tuple[list[dict] | None, int]:
    import gpunn
    from gpunn.distributed.mpi import MpiCommunicator

    comm = MpiCommunicator()
    gpunn.distributed.set_current(comm)
    MPI, raw, size = comm.MPI, comm.comm, comm.size
    buffers = {nbytes: np.ones(nbytes // 4, dtype=np.float32) for nbytes in SIZES}
    calls = {"blocking": lambda b: raw.Allreduce(MPI.IN_PLACE, b, op=MPI.SUM),
             "gpunn": lambda b: comm.allreduce_sum_(b)}
    # best[(size, method)]: the lowest per-round median; rounds sweep all sizes in turn, so a burst of
    # other work on a shared machine spoils one round of a size, not the figure.
    best: dict = {}
    for _ in range(rounds):
        for nbytes, buffer in buffers.items():
            count = repeats_for(nbytes, repeats)
            for name, call in calls.items():
                for _ in range(3):
                    call(buffer)
                times = []
                for _ in range(count):
                    raw.Barrier()
                    start = time.perf_counter()
                    call(buffer)
                    times.append(time.perf_counter() - start)
                # The slowest rank decides when everyone can go on.
                median = raw.allreduce(statistics.median(times), op=MPI.MAX)
                best[(nbytes, name)] = min(best.get((nbytes, name), float("inf")), median)
    rows = []
    for nbytes in SIZES:
        t = best[(nbytes, "gpunn")]
        rows.append({
            "bytes": nbytes, "repeats": repeats_for(nbytes, repeats), "rounds": rounds,
            "blocking_Allreduce_us": best[(nbytes, "blocking")] * 1e6, "gpunn_allreduce_sum_us": t * 1e6,
            "gpunn_busbw_GBps": 2 * (size - 1) / size * nbytes / t / 1e9,
        })
    return (rows if comm.rank == 0 else None), size


def time_nccl(repeats: int) -> list[dict]:
    import gpunn
    from gpunn import _compat

    if _compat.nccl() is None:
        print(f"NCCL mode skipped: {_compat.cupy_unavailable_reason() if not _compat.has_cupy_gpu() else 'no NCCL'}")
        return []
    cp = _compat.cupy()
    from gpunn.distributed.nccl import NcclCommunicator

    with gpunn.use_backend("cupy"):
        comm = NcclCommunicator()
        rows = []
        stream = cp.cuda.get_current_stream()
        for nbytes in SIZES:
            buffer = cp.ones(nbytes // 4, dtype=cp.float32)
            for _ in range(5):
                comm.allreduce_sum_(buffer)
            stream.synchronize()
            start_event, stop_event = cp.cuda.Event(), cp.cuda.Event()
            count = repeats_for(nbytes, repeats)
            start_event.record(stream)
            for _ in range(count):
                comm.allreduce_sum_(buffer)
            stop_event.record(stream)
            stop_event.synchronize()
            per_call = cp.cuda.get_elapsed_time(start_event, stop_event) / 1e3 / count
            rows.append({"bytes": nbytes, "repeats": count, "nccl_one_rank_us": per_call * 1e6})
    return rows


def merge_into(path: Path, key: str, value) -> None:
    data = json.loads(path.read_text()) if path.exists() else {}
    data[key] = value
    path.write_text(json.dumps(data, indent=2) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nccl", action="store_true", help="time NCCL with one rank (needs a GPU)")
    parser.add_argument("--repeats", type=int, default=50, help="timed calls per size and round")
    parser.add_argument("--rounds", type=int, default=5, help="sweeps over all sizes; the best median counts")
    parser.add_argument("--output", type=Path, help="JSON file to merge the results into")
    args = parser.parse_args()
    if args.nccl:
        rows, key, ranks = time_nccl(args.repeats), "nccl_one_rank", 1
    else:
        from gpunn import _compat

        if not _compat.launched_by_mpi():
            print("run under mpiexec, e.g.: mpiexec -n 2 python bench/allreduce.py", file=sys.stderr)
            return 2
        (rows, ranks), key = time_mpi(args.repeats, args.rounds), "allreduce"
    if rows is None:  # not rank 0
        return 0
    for row in rows:
        print("  ".join(f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()))
    if args.output and rows:
        launcher = [] if args.nccl else ["mpiexec", "-n", str(ranks)]
        merge_into(args.output, key, {"ranks": ranks, "dtype": "float32", "rows": rows,
                                      "command": " ".join(launcher + ["python"] + sys.argv)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
