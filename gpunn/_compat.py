"""The one place for optional imports and device detection.

Nothing here touches CUDA or MPI at import time: every probe runs on first call and is cached,
so ``import gpunn`` works (silently) on a machine with neither.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import functools
import importlib
import os
from types import ModuleType


def _try_import(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except Exception:  # ImportError, or a broken CUDA install raising at import
        return None


@functools.lru_cache(maxsize=None)
def cuda_driver_device_count() -> int:
    """GPUs the CUDA driver sees, asked through libcuda directly (no CuPy, no Numba).

    Used to decide, before numba is imported, whether kernel tests run on a GPU or on the simulator.
    """
    for name in ("libcuda.so.1", "libcuda.so", ctypes.util.find_library("cuda")):
        if not name:
            continue
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        if lib.cuInit(0) != 0:
            return 0
        count = ctypes.c_int(0)
        if lib.cuDeviceGetCount(ctypes.byref(count)) != 0:
            return 0
        return count.value
    return 0


def cuda_simulator_enabled() -> bool:
    return os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0")


@functools.lru_cache(maxsize=None)
def cupy() -> ModuleType | None:
    """CuPy if it imports and can talk to at least one GPU, else None."""
    if cuda_simulator_enabled():
        return None
    cp = _try_import("cupy")
    if cp is None:
        return None
    try:
        if cp.cuda.runtime.getDeviceCount() < 1:
            return None
    except Exception:
        return None
    return cp


def cupy_unavailable_reason() -> str:
    """Why ``cupy()`` returned None, in words a user can act on."""
    if cuda_simulator_enabled():
        if cuda_driver_device_count() == 0:
            return "the CUDA driver sees no GPU (kernels run on Numba's CUDA simulator instead)"
        return "NUMBA_ENABLE_CUDASIM is set, so the GPU is not used"
    cp = _try_import("cupy")
    if cp is None:
        return "CuPy is not installed (pip install 'gpunn[cuda12]' or 'gpunn[cuda13]')"
    try:
        n = cp.cuda.runtime.getDeviceCount()
    except Exception as exc:
        return f"CuPy found no usable GPU ({type(exc).__name__}: {exc})"
    return "CuPy found no GPU" if n < 1 else "CuPy works"


def has_cupy_gpu() -> bool:
    return cupy() is not None


def gpu_backend_problem() -> str | None:
    """Why the CuPy backend cannot run here (it needs CuPy with a GPU and numba-cuda), or None when it can."""
    if not has_cupy_gpu():
        return cupy_unavailable_reason()
    if numba_cuda() is None:
        return "numba-cuda is not installed (pip install 'gpunn[cuda12]' or 'gpunn[cuda13]')"
    return None


@functools.lru_cache(maxsize=None)
def numba() -> ModuleType | None:
    """Numba (its CPU compiler), or None."""
    return _try_import("numba")


@functools.lru_cache(maxsize=None)
def numba_omp_layer_loads() -> bool:
    """Whether Numba's 'omp' threading layer (libgomp) loads here."""
    return numba() is not None and _try_import("numba.np.ufunc.omppool") is not None


@functools.lru_cache(maxsize=None)
def numba_cuda() -> ModuleType | None:
    """``numba.cuda`` (from the numba-cuda package), real or simulated, or None."""
    _restore_numpy_row_stack()
    return _try_import("numba.cuda")


def _restore_numpy_row_stack() -> None:
    """numba-cuda (0.30.4 and earlier) registers a CUDA twin of ``np.row_stack`` when its array typing loads,
    at the first kernel compile; NumPy 2.5 removed that alias of ``np.vstack``, so on NumPy 2.5 every kernel
    compile raises AttributeError. Numba's CPU compiler checks for the name first; numba-cuda does not. Put
    the alias back, as NumPy had it, only where it is missing: nothing changes on NumPy < 2.5."""
    import numpy as np

    if not hasattr(np, "row_stack"):
        np.row_stack = np.vstack


@functools.lru_cache(maxsize=None)
def nccl() -> ModuleType | None:
    """``cupy.cuda.nccl`` when CuPy has a GPU and was built with NCCL available."""
    cp = cupy()
    if cp is None:
        return None
    mod = _try_import("cupy.cuda.nccl")
    if mod is None or not getattr(mod, "available", True):
        return None
    return mod


def has_nccl() -> bool:
    return nccl() is not None


@functools.lru_cache(maxsize=None)
def cublas_library():
    """The cuBLAS shared library CuPy uses, opened with ctypes (for calls CuPy's wrappers refuse while a
    stream is being captured), or None when there is no GPU backend or it cannot be found."""
    return _nvidia_library("cublas")


@functools.lru_cache(maxsize=None)
def cublaslt_library():
    """cuBLASLt (cuBLAS's GEMMs with fused epilogues), opened with ctypes, or None when there is no GPU backend
    or it cannot be found."""
    return _nvidia_library("cublasLt")


def _nvidia_library(name: str):
    """An NVIDIA library of a GPU backend (``libcublas``, ``libcublasLt``), opened with ctypes: where CUDA's
    path finder puts it (the pip wheels first), else by its CUDA 13 or 12 name; None without CuPy."""
    if cupy() is None:
        return None
    candidates = []
    try:
        from cuda.pathfinder import load_nvidia_dynamic_lib

        path = load_nvidia_dynamic_lib(name).abs_path
        if path:
            candidates.append(path)
    except Exception:  # noqa: BLE001 - any failure here means: try the plain names
        pass
    candidates += [f"lib{name}.so.13", f"lib{name}.so.12", f"lib{name}.so"]
    return _first_loadable(candidates)


@functools.lru_cache(maxsize=None)
def mkl_runtime():
    """Intel oneMKL's single dynamic library (``libmkl_rt``, from the ``mkl`` wheel: ``pip install
    'gpunn[mkl]'``), opened with ctypes, or None when it is not installed."""
    import glob
    import sys

    candidates = []
    for prefix in dict.fromkeys((sys.prefix, sys.base_prefix)):
        candidates += sorted(glob.glob(os.path.join(prefix, "lib", "libmkl_rt.so*")), reverse=True)
        candidates += sorted(glob.glob(os.path.join(prefix, "Library", "bin", "mkl_rt*.dll")), reverse=True)
    found = ctypes.util.find_library("mkl_rt")
    if found:
        candidates.append(found)
    return _first_loadable(candidates)


def _first_loadable(candidates):
    """The first of these shared libraries (paths or names) that ctypes can open, or None."""
    for name in candidates:
        try:
            return ctypes.CDLL(name)
        except OSError:
            continue
    return None


@functools.lru_cache(maxsize=None)
def mpi4py_MPI() -> ModuleType | None:
    """``mpi4py.MPI`` (initialises MPI on first call), or None."""
    return _try_import("mpi4py.MPI")


def has_mpi() -> bool:
    return importlib.util.find_spec("mpi4py") is not None


def launched_by_mpi() -> bool:
    """True under mpiexec/mpirun/srun, judged from the environment the launchers set."""
    keys = ("PMI_RANK", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS")
    if any(k in os.environ for k in keys):
        return True
    return "SLURM_PROCID" in os.environ and int(os.environ.get("SLURM_NTASKS", "1")) > 1


def launched_by_torchrun() -> int:
    """The number of processes of a job PyTorch's launcher started (torchrun, torch.distributed.launch, accelerate:
    they set WORLD_SIZE, RANK and LOCAL_RANK), 0 when none; gpunn's processes meet through MPI instead."""
    if not all(k in os.environ for k in ("WORLD_SIZE", "RANK", "LOCAL_RANK")):
        return 0
    try:
        size = int(os.environ["WORLD_SIZE"])
    except ValueError:
        return 0
    return size if size > 1 else 0


@functools.lru_cache(maxsize=None)
def keras() -> ModuleType | None:
    """Keras 3 itself, used only to export a model to the formats Keras writes (``models/export.py``) and to make
    the tf.data datasets of Keras's data utilities where a script uses TensorFlow (``keras_utility``)."""
    return _try_import("keras")


def keras_utility(name: str):
    """``keras.utils.<name>`` (a function making tf.data datasets, ``utils/split_dataset.py``,
    ``utils/timeseries.py``), or None where Keras 3 cannot be imported."""
    module = keras()
    return None if module is None else getattr(module.utils, name, None)


@functools.lru_cache(maxsize=None)
def keras_tuner() -> ModuleType:
    """KerasTuner (``pip install 'gpunn[tuner]'``), for ``gpunn/keras_tuner.py``; an ImportError saying how to
    install it where it does not import.

    KerasTuner imports Keras, which imports its backend at once: TensorFlow unless ``KERAS_BACKEND`` or Keras's
    ``keras.json`` names another. Where that backend is not installed (gpunn needs none), Keras is pointed at its
    NumPy backend, which imports with NumPy alone: KerasTuner takes its callback, History and error classes from
    Keras, and gpunn's models do the training."""
    import importlib.util
    import sys

    numpy_backend = "keras" not in sys.modules and importlib.util.find_spec(_keras_backend_module()) is None
    given = os.environ.get("KERAS_BACKEND")
    if numpy_backend:  # (Keras reads it once, at its import: the script's later processes see what it gave)
        os.environ["KERAS_BACKEND"] = "numpy"
    try:
        return importlib.import_module("keras_tuner")
    except ImportError as exc:
        raise ImportError(f"gpunn.keras_tuner needs KerasTuner, which did not import ({exc}); install it with "
                          "pip install 'gpunn[tuner]' (keras-tuner, and six, which it imports without "
                          "declaring it)") from exc
    finally:
        if numpy_backend and given is None:
            del os.environ["KERAS_BACKEND"]
        elif numpy_backend:
            os.environ["KERAS_BACKEND"] = given


def _keras_backend_module() -> str:
    """The module of the backend Keras will import (keras/src/backend/config.py's choice)."""
    import json

    backend = os.environ.get("KERAS_BACKEND")
    if not backend:
        folder = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
        try:
            with open(os.path.join(folder, "keras.json")) as file:
                backend = json.load(file).get("backend")
        except (OSError, ValueError, AttributeError):
            backend = None
    return backend or "tensorflow"


def pil_image() -> ModuleType | None:
    """Pillow's ``PIL.Image``, which reads and writes image files (``utils/image_files.py``), or None."""
    return _try_import("PIL.Image")


def torch() -> ModuleType | None:
    """PyTorch, used only as a benchmark reference."""
    return _try_import("torch")


@functools.lru_cache(maxsize=None)
def tensorboard_writing() -> ModuleType | None:
    """The ``tensorboard`` package's framework-free writing parts (event files, summary protos), as one
    namespace, or None when the package is missing (``pip install 'gpunn[tensorboard]'``)."""
    try:
        from tensorboard.compat.proto import event_pb2, summary_pb2
        from tensorboard.plugins.histogram.summary_v2 import histogram_pb
        from tensorboard.plugins.image import metadata as image_metadata
        from tensorboard.plugins.scalar.summary_v2 import scalar_pb
        from tensorboard.summary.writer.event_file_writer import EventFileWriter
        from tensorboard.util.tensor_util import make_tensor_proto
    except Exception:  # ImportError, or a tensorboard whose layout moved
        return None
    return _namespace(event_pb2=event_pb2, summary_pb2=summary_pb2, histogram_pb=histogram_pb,
                      image_metadata=image_metadata, scalar_pb=scalar_pb, EventFileWriter=EventFileWriter,
                      make_tensor_proto=make_tensor_proto)


def _namespace(**members) -> ModuleType:
    module = ModuleType("tensorboard_writing")
    module.__dict__.update(members)
    return module


@functools.lru_cache(maxsize=None)
def pydot() -> ModuleType | None:
    """pydot for ``plot_model`` / ``model_to_dot`` (``pip install 'gpunn[plot]'``), else pydot_ng or pydotplus (the
    older forks Keras also takes), or None."""
    for name in ("pydot", "pydot_ng", "pydotplus"):
        module = _try_import(name)
        if module is not None:
            return module
    return None


def version_of(dist_name: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(dist_name)
    except metadata.PackageNotFoundError:
        return None
