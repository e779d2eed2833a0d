"""Cheap kernel launches: prepared launches, array views, the stream to launch on, grid sizes, checks.

Computes no math itself; every CUDA launcher in this package goes through it. Small MLPs are
launch-bound on a GPU, so the host time of a launch, not the kernel, sets their speed.

* Prepared launches. A launcher's first call with given arguments does the slow work once: checks
  that name the faulty argument, the kernel variant, the grid, the device views, the configured
  ``kernel[grid, block, stream]``. It keeps the result, a ``(run, scalar_type)`` pair, in its own
  ``plan_cache()`` under ``plan_key(...)``: the stream, the launcher's flags and, for every array,
  (data pointer, shape, strides, dtype). A later call with arrays described identically only builds
  that key, converts its scalars and calls ``run``. The key holds everything the checks and views
  read, so a kept plan is exactly what a fresh preparation would produce, and like the view cache it
  is only reached by a caller holding live arrays over that very memory. Arrays without a data
  pointer (NumPy under the simulator, Numba device arrays) have no key and are prepared every call.
* ``configured(kernel, grid, block, stream)``: ``kernel[grid, block, stream]`` made once per
  configuration and kept (numba-cuda's own cache holds 128 configurations for all kernels together).
* ``device_view(arr)`` turns a CuPy array into a Numba device array once per distinct buffer and
  returns the cached view afterwards. Handing a CuPy array straight to a Numba kernel costs about
  90 microseconds per argument per launch: Numba reads ``__cuda_array_interface__``, builds a new
  ``DeviceNDArray`` and, because the interface names CuPy's stream, synchronises that stream
  (``NUMBA_CUDA_ARRAY_INTERFACE_SYNC``, on by default), which serialises the host with the GPU. The
  cache is keyed by (data pointer, shape, strides, dtype), so a view is only reused for a live array
  describing the very same memory, and it is created with ``sync=False`` (ordering comes from
  launching on CuPy's stream).
* ``current_stream()`` is the Numba stream wrapping CuPy's current stream (cached per stream pointer),
  so our kernels are ordered with CuPy's matmuls without any synchronisation; 0 (the default stream)
  when CuPy is absent, as under the simulator.
* ``grid_1d`` / ``grid_2d`` pick launch shapes; ``check_array`` gives errors that name the argument.

Numba device arrays pass through ``device_view`` unchanged, and so do NumPy arrays, except under the
simulator, where they are wrapped (without copying) in its device-array type.
There are no NumPy twins or CUDA kernels here.
"""
from __future__ import annotations

import collections
import functools
import math
import weakref

import numpy as np

from gpunn import _compat

VIEW_CACHE_SIZE = 256
CONFIGURED_CACHE_SIZE = 1024
PLAN_CACHE_SIZE = 1024  # per launcher; a training step needs one plan per launch site

_view_cache: collections.OrderedDict = collections.OrderedDict()
_stream_cache: dict = {}
_configured_cache: dict = {}
_plan_caches: list = []
_array_kinds: dict = {}  # type -> one of the kinds below
_dtype_names: dict = {}

_HOST, _NUMBA, _INTERFACE, _NOT_AN_ARRAY = "host", "numba", "cuda array interface", "not an array"


def clear_caches() -> None:
    """Forget every kept view, stream, configuration and prepared launch (they are rebuilt on use)."""
    _view_cache.clear()
    _stream_cache.clear()
    _configured_cache.clear()
    for plans in _plan_caches:
        plans.clear()


# ---------------------------------------------------------------- prepared launches


def plan_cache() -> dict:
    """A launcher's own store of prepared launches, keyed by ``plan_key``."""
    plans: dict = {}
    _plan_caches.append(plans)
    return plans


def plan_key(flags: tuple, *arrays):
    """(flags, then (data pointer, shape, strides, dtype) per array, None for a None array), or None
    when an array has no device data pointer: those are prepared anew at every call.

    ``flags`` must hold the stream and everything else, besides the arrays' descriptions, that the
    launcher's checks, kernel choice or views depend on (an activation, ``out is z``, ...)."""
    key = [flags]
    try:
        for a in arrays:
            key.append(None if a is None else (a.data.ptr, a.shape, a.strides, a.dtype))
    except AttributeError:  # NumPy's .data has no .ptr; Numba device arrays have no .data
        return None
    return tuple(key)


def keep(plans: dict, key, plan):
    """Store ``plan`` under ``key`` (unless None) and return it. A full store is emptied rather than
    trimmed: more live plans than PLAN_CACHE_SIZE means arguments that keep changing, where keeping
    old ones buys nothing."""
    if key is not None:
        if len(plans) >= PLAN_CACHE_SIZE:
            plans.clear()
        plans[key] = plan
    return plan


def bind(launch, *arrays):
    """``launch`` with its leading array arguments bound; called with the scalar arguments."""
    return functools.partial(launch, *arrays)


def configured(kernel, grid, block, stream=0, sharedmem=0):
    """``kernel[grid, block, stream, sharedmem]``, made once per distinct configuration and kept.

    numba-cuda caches configurations too, but in one 128-entry LRU shared by every kernel of the
    process; past that, each launch builds a new ``_LaunchConfiguration`` (about 6 us, most of it
    wrapping the stream in a cuda.core Stream). A configured launch holds only launch metadata, and
    numba-cuda keeps the per-launch state in thread-local storage, so reusing one, from any thread,
    is what numba-cuda's own cache does."""
    key = (kernel, grid, block, stream, sharedmem)
    launch = _configured_cache.get(key)
    if launch is None:
        if len(_configured_cache) >= CONFIGURED_CACHE_SIZE:
            _configured_cache.clear()
        launch = _configured_cache[key] = _configure(kernel, grid, block, stream, sharedmem)
    return launch


def _configure(kernel, grid, block, stream, sharedmem):
    launch = kernel[grid, block, stream, sharedmem]
    if launch is kernel:
        # The simulator's kernel[...] sets the configuration on the kernel object itself and returns
        # it, so a kept one would be overwritten by the next configuration: set it at every launch.
        return functools.partial(_launch_reconfigured, kernel, (grid, block, stream, sharedmem))
    return launch


def _launch_reconfigured(kernel, configuration, *args):
    return kernel[configuration](*args)


# ---------------------------------------------------------------- device views


def _array_kind(cls) -> str:
    kind = _array_kinds.get(cls)
    if kind is None:
        if issubclass(cls, np.ndarray):
            kind = _HOST
        elif getattr(cls, "__cuda_ndarray__", False):
            kind = _NUMBA
        # asked of the type: on a CuPy array, reading the attribute builds the whole interface dict
        elif hasattr(cls, "__cuda_array_interface__"):
            kind = _INTERFACE
        else:
            return _NOT_AN_ARRAY
        _array_kinds[cls] = kind
    return kind


def device_view(arr, flat: bool = False):
    """A Numba-launchable view of ``arr``; with ``flat=True`` a 1-D view of a C-contiguous array."""
    kind = _array_kind(type(arr))
    if kind is _INTERFACE:
        key = (arr.data.ptr, arr.shape, arr.strides, arr.dtype, flat)
        view = _view_cache.get(key)
        if view is None:
            return _new_view(arr, key, flat)
        _view_cache.move_to_end(key)
        return view
    if kind is _HOST:
        if flat and arr.ndim != 1:
            arr = arr.reshape(arr.size)
        return _simulated_device_array(arr) if _compat.cuda_simulator_enabled() else arr
    if kind is _NUMBA:
        return arr.reshape(arr.size) if flat and arr.ndim != 1 else arr
    raise TypeError(f"expected a NumPy, CuPy or Numba device array, got {type(arr).__name__}")


def _new_view(arr, key, flat):
    desc = dict(arr.__cuda_array_interface__)
    # The stream entry would make Numba wrap (and maybe sync) CuPy's stream on every conversion;
    # launches name the stream explicitly instead.
    desc.pop("stream", None)
    if flat:
        desc["shape"] = (arr.size,)
        desc["strides"] = None
    # owner=None on purpose: a cached view must not keep a freed CuPy buffer alive (the pool could not
    # reuse it). The key guarantees that a view is only handed out while a caller holds a live array
    # over exactly this memory, and CuPy's pool frees in stream order, so the memory stays valid.
    view = _compat.numba_cuda().from_cuda_array_interface(desc, owner=None, sync=False)
    _view_cache[key] = view
    if len(_view_cache) > VIEW_CACHE_SIZE:
        _view_cache.popitem(last=False)
    return view


def _simulated_device_array(arr):
    """Wrap a NumPy array as the simulator's device array, sharing its memory. Passed bare, the
    simulator would copy each argument in and back out separately, so an array given twice (``out``
    aliasing ``z``, a placeholder argument) would be overwritten by a stale copy."""
    from numba.cuda.simulator.cudadrv.devicearray import FakeCUDAArray

    return FakeCUDAArray(arr)


def current_stream():
    """The stream kernels are launched on: CuPy's current stream, or 0 (default) without CuPy."""
    cp = _compat.cupy()
    if cp is None:
        return 0
    ptr = cp.cuda.get_current_stream().ptr
    if ptr == 0:
        return 0
    stream = _stream_cache.get(ptr)
    if stream is None:
        stream = _compat.numba_cuda().external_stream(ptr)
        _stream_cache[ptr] = stream
    return stream


def grid_1d(n: int, threads: int = 256, max_blocks: int = 2048) -> tuple[int, int]:
    """(blocks, threads) for a grid-stride loop over n elements; at least one block."""
    return max(1, min(math.ceil(n / threads), max_blocks)), threads


def grid_2d(rows: int, cols: int, block=(32, 8), max_blocks_y: int = 1024):
    """(grid, block) for a (rows, cols) array: threads of a warp take adjacent columns (coalesced),
    blockIdx.y strides over rows."""
    bx, by = block
    return (max(1, math.ceil(cols / bx)), max(1, min(math.ceil(rows / by), max_blocks_y))), block


# ---------------------------------------------------------------- argument checks


def dtype_name(dtype) -> str:
    """``np.dtype(dtype).name``, remembered: NumPy builds that string in Python, about 1.5 us."""
    name = _dtype_names.get(dtype)
    if name is None:
        name = _dtype_names[dtype] = np.dtype(dtype).name
    return name


def is_c_contiguous(arr) -> bool:
    if _is_numba_device_array(arr):
        return arr.is_c_contiguous()
    return bool(arr.flags.c_contiguous)


def _is_numba_device_array(arr) -> bool:
    return bool(getattr(arr, "__cuda_ndarray__", False))


def check_array(name, arr, *, ndim=None, shape=None, dtype=None, floating=False, contiguous=False):
    """Raise ValueError naming ``name`` unless ``arr`` is an array meeting every given condition."""
    if arr is None:
        raise ValueError(f"{name}: an array is required, got None")
    if not hasattr(arr, "shape") or not hasattr(arr, "dtype"):
        raise ValueError(f"{name}: expected an array, got {type(arr).__name__}")
    if ndim is not None and len(arr.shape) != ndim:
        raise ValueError(f"{name}: expected {ndim}-D, got shape {tuple(arr.shape)}")
    if shape is not None and tuple(arr.shape) != tuple(shape):
        raise ValueError(f"{name}: expected shape {tuple(shape)}, got {tuple(arr.shape)}")
    if floating and np.dtype(arr.dtype) not in (np.float32, np.float64):
        raise ValueError(f"{name}: expected float32 or float64, got {np.dtype(arr.dtype)}")
    if dtype is not None and np.dtype(arr.dtype) != np.dtype(dtype):
        raise ValueError(f"{name}: expected dtype {np.dtype(dtype)}, got {np.dtype(arr.dtype)}")
    if contiguous and not is_c_contiguous(arr):
        raise ValueError(f"{name}: expected a C-contiguous array")
    return arr


def numba_dtype(dtype):
    """The Numba scalar type for a NumPy dtype (for shared-memory arrays)."""
    import numba  # lazily: only kernel factories call this

    return numba.from_dtype(np.dtype(dtype))


def bind_numba_cuda(module_globals: dict):
    """Set the global ``cuda`` of a kernel module to ``numba.cuda`` (imported on first use).

    Kernel bodies must reach ``cuda`` as a module global, not a closure variable: the simulator runs
    kernels by swapping the module's globals that are ``numba.cuda`` for its fake module.
    """
    cuda = module_globals.get("cuda")
    if cuda is None:
        cuda = _compat.numba_cuda()
        module_globals["cuda"] = cuda
        _silence_low_occupancy_warnings()
    return cuda


def _silence_low_occupancy_warnings() -> None:
    # numba-cuda warns on every launch of fewer than 128 blocks; a small MLP's steps are made of such
    # launches by design (and each warning costs host time in the launch path).
    try:
        from numba.cuda.core import config
    except ImportError:  # older numba-cuda layouts, or the simulator: nothing to silence
        return
    config.CUDA_LOW_OCCUPANCY_WARNINGS = 0


def empty_device(shape, dtype):
    """An uninitialised array where kernels can write: CuPy, else NumPy under the simulator, else
    a Numba device array."""
    cp = _compat.cupy()
    if cp is not None:
        return cp.empty(shape, dtype=dtype)
    if _compat.cuda_simulator_enabled():
        return np.empty(shape, dtype=dtype)
    return _compat.numba_cuda().device_array(shape, dtype=dtype)


# Scalars a step's kernels compute on the device from a state buffer (an optimizer's learning rate and count)
# live outside the launch plans: a plan is made per stream, and a CUDA-graph capture runs on a stream of its own,
# where its plans are made while capturing and nothing may be allocated. So each state buffer has one scalars
# buffer per kind and dtype, made at its first launch (eagerly) and freed with the state buffer; a graph's
# recording holds that state buffer, so the scalars outlive every graph that reads them.
_state_scalar_buffers: dict = {}


def state_scalars(state, kind: str, size: int, dtype):
    """The device buffer of ``size`` scalars in ``dtype`` that the kernels of ``kind`` derive from ``state``."""
    key = (id(state), kind, np.dtype(dtype).str)
    scalars = _state_scalar_buffers.get(key)
    if scalars is None:
        scalars = _state_scalar_buffers[key] = empty_device((size,), dtype)
        weakref.finalize(state, _state_scalar_buffers.pop, key, None)
    return scalars
