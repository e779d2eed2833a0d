"""Device out-of-memory errors turned into one that names the batch size."""
from __future__ import annotations


class OutOfMemoryGuard:
    """``with OutOfMemoryGuard(ops, batch_size):`` re-raises the device's out-of-memory error as a MemoryError
    naming ``batch_size`` and the memory asked for."""

    def __init__(self, ops, batch_size: int):
        self.ops, self.batch_size = ops, batch_size

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None and issubclass(exc_type, self.ops.out_of_memory_errors):
            raise MemoryError(
                f"batch_size: out of {self.ops.device_description} memory with batch_size={self.batch_size} "
                f"({exc}); try a smaller batch_size"
            ) from exc
        return False
