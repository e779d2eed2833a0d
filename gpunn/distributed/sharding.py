"""How a global batch is split over ranks: contiguous shares differing by at most one, lower ranks first."""
from __future__ import annotations


def shard_bounds(start: int, stop: int, rank: int, size: int) -> tuple[int, int]:
    """Rank ``rank``'s contiguous share of rows [start, stop): sizes differ by at most one, lower ranks first.

    With n rows and N ranks, the first n % N ranks get n // N + 1 rows and the others n // N, in rank order
    (10 rows over 4 ranks: 3, 3, 2, 2). A share may be empty when n < N; that rank still joins the sum.
    """
    n = stop - start
    base, extra = divmod(n, size)
    lo = start + rank * base + min(rank, extra)
    return lo, lo + base + (1 if rank < extra else 0)
