"""Counting NumPy data allocations, temporaries included, to prove that a step allocates nothing.

tracemalloc only shows the blocks still alive at a snapshot, so a temporary made and freed inside a step
would pass unseen. NumPy lets a program install its own data allocator (``PyDataMem_SetHandler``, NumPy's C
API since 1.22, slot 304 of its API table): ``count_numpy_allocations`` installs one that forwards every
request to NumPy's default allocator and notes each malloc/calloc/realloc with the Python stack that asked
for it. Frees go straight to the default allocator's C function, so arrays made under the counter can
outlive it safely. The handler is per context (a contextvar in NumPy), so only the calling thread counts.
"""
from __future__ import annotations

import contextlib
import ctypes
import traceback

import numpy as np
import pytest

_MALLOC = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t)
_CALLOC = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_size_t)
_REALLOC = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t)
_SET_HANDLER_SLOT, _DEFAULT_HANDLER_SLOT = 304, 306


class _Allocator(ctypes.Structure):  # PyDataMemAllocator (numpy/ndarraytypes.h)
    _fields_ = [("ctx", ctypes.c_void_p), ("malloc", ctypes.c_void_p), ("calloc", ctypes.c_void_p),
                ("realloc", ctypes.c_void_p), ("free", ctypes.c_void_p)]


class _Handler(ctypes.Structure):  # PyDataMem_Handler
    _fields_ = [("name", ctypes.c_char * 127), ("version", ctypes.c_uint8), ("allocator", _Allocator)]


def _numpy_api_table():
    core = getattr(np, "_core", None) or np.core
    capsule = core._multiarray_umath._ARRAY_API
    get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
    get_pointer.restype, get_pointer.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
    return ctypes.cast(get_pointer(capsule, None), ctypes.POINTER(ctypes.c_void_p)), get_pointer


class _CountingHandler:
    """Made once per process and never freed: arrays keep a reference to the handler they were made with."""

    def __init__(self):
        table, get_pointer = _numpy_api_table()
        self.set_handler = ctypes.PYFUNCTYPE(ctypes.py_object, ctypes.py_object)(table[_SET_HANDLER_SLOT])
        default_capsule = ctypes.cast(table[_DEFAULT_HANDLER_SLOT], ctypes.POINTER(ctypes.py_object))[0]
        default = _Handler.from_address(get_pointer(default_capsule, b"mem_handler"))
        self._malloc = _MALLOC(default.allocator.malloc)
        self._calloc = _CALLOC(default.allocator.calloc)
        self._realloc = _REALLOC(default.allocator.realloc)
        self.events: list | None = None
        self._callbacks = (_MALLOC(self._on_malloc), _CALLOC(self._on_calloc), _REALLOC(self._on_realloc))
        libc = ctypes.CDLL(None)
        libc.malloc.restype = ctypes.c_void_p
        self._struct_address = libc.malloc(ctypes.sizeof(_Handler))  # lives as long as the process
        handler = _Handler.from_address(self._struct_address)
        handler.name, handler.version = b"gpunn_allocation_counter", default.version
        handler.allocator.ctx = default.allocator.ctx
        handler.allocator.malloc, handler.allocator.calloc, handler.allocator.realloc = (
            ctypes.cast(cb, ctypes.c_void_p).value for cb in self._callbacks)
        handler.allocator.free = default.allocator.free
        new_capsule = ctypes.pythonapi.PyCapsule_New
        new_capsule.restype, new_capsule.argtypes = ctypes.py_object, [ctypes.c_void_p, ctypes.c_char_p,
                                                                        ctypes.c_void_p]
        self.capsule = new_capsule(self._struct_address, b"mem_handler", None)

    def _note(self, size):
        if self.events is not None:
            self.events.append((int(size), "".join(traceback.format_stack(limit=12)[:-2])))

    def _on_malloc(self, ctx, size):
        self._note(size)
        return self._malloc(ctx, size)

    def _on_calloc(self, ctx, count, size):
        self._note(count * size)
        return self._calloc(ctx, count, size)

    def _on_realloc(self, ctx, pointer, size):
        self._note(size)
        return self._realloc(ctx, pointer, size)


_handler: _CountingHandler | None = None


@contextlib.contextmanager
def count_numpy_allocations():
    """``with count_numpy_allocations() as events:`` -> events is a list of (bytes, stack) per allocation."""
    global _handler
    if _handler is None:
        _handler = _CountingHandler()
    events: list = []
    _handler.events = events
    previous = _handler.set_handler(_handler.capsule)
    try:
        yield events
    finally:
        _handler.set_handler(previous)
        _handler.events = None


@contextlib.contextmanager
def count_step_allocations():
    """``count_numpy_allocations`` around training steps on the CPU, whose claim to allocate nothing is the
    compiled steps' (Numba): skips the test when the NumPy twins stand in for them (no Numba, or
    GPUNN_CPU_JIT=0), as they are the readable oracle and compute with temporaries."""
    from gpunn.kernels import cpu_fused, cpu_updates

    if cpu_fused() is None or cpu_updates() is None:
        pytest.skip("the compiled CPU steps are off (GPUNN_CPU_JIT=0 or no Numba): the NumPy twins standing in "
                    "for them use temporaries")
    with count_numpy_allocations() as events:
        yield events


def describe(events, limit: int = 3) -> str:
    """A readable account of the first ``limit`` allocations, for assertion messages."""
    shown = [f"{size} bytes at:\n{stack}" for size, stack in events[:limit]]
    return f"{len(events)} NumPy allocation(s); first:\n" + "\n".join(shown)
