"""NCCL's unique id: made on rank 0, carried to every rank over MPI as 128 raw bytes.

CuPy changed its form: up to CuPy 13, ``cupy.cuda.nccl.get_unique_id()`` returns a tuple of 128 C ``char``
values (signed on x86-64, unsigned on aarch64/ppc64le) and ``NcclCommunicator(ndev, commId, rank)`` wants
that tuple back; from CuPy 14 both sides are ``bytes``. MPI carries the id as a uint8 buffer (never a
pickle), and each rank converts it to the form its own CuPy wants.
"""
from __future__ import annotations

import platform

import numpy as np

NCCL_UNIQUE_ID_BYTES = 128

# Linux ABIs whose plain C ``char`` is unsigned; CuPy 13 returned (and expects) values in 0..255 there.
_UNSIGNED_CHAR_MACHINES = frozenset({"aarch64", "arm64", "armv7l", "armv8l", "ppc64le", "ppc64", "s390x"})


def char_is_signed(machine: str | None = None) -> bool:
    """Whether C ``char`` is signed on this machine (x86-64: yes; aarch64, ppc64le, s390x: no)."""
    return (machine or platform.machine()).lower() not in _UNSIGNED_CHAR_MACHINES


def cupy_wants_bytes(cupy_version: str) -> bool:
    """True for CuPy >= 14, whose NCCL unique id is ``bytes``; False for the tuple form of CuPy <= 13."""
    try:
        major = int(str(cupy_version).split(".", 1)[0])
    except ValueError:
        raise ValueError(f"cupy_version: expected a version such as '14.2.0', got {cupy_version!r}") from None
    return major >= 14


def unique_id_to_buffer(uid) -> np.ndarray:
    """The id as a uint8 array of 128 bytes, from either CuPy form (``bytes`` or a tuple of chars)."""
    if isinstance(uid, (bytes, bytearray, memoryview)):
        raw = bytes(uid)
    elif isinstance(uid, (tuple, list)):
        if not all(isinstance(v, (int, np.integer)) and -128 <= v <= 255 for v in uid):
            raise ValueError("uid: expected C char values (-128..255) in the tuple from "
                             "cupy.cuda.nccl.get_unique_id()")
        raw = bytes(int(v) & 0xFF for v in uid)
    else:
        raise TypeError(f"uid: expected the bytes or tuple from cupy.cuda.nccl.get_unique_id(), "
                        f"got {type(uid).__name__}")
    if len(raw) != NCCL_UNIQUE_ID_BYTES:
        raise ValueError(f"uid: expected {NCCL_UNIQUE_ID_BYTES} bytes, got {len(raw)}")
    return np.frombuffer(raw, dtype=np.uint8).copy()


def empty_buffer() -> np.ndarray:
    """Where a non-root rank receives the id."""
    return np.zeros(NCCL_UNIQUE_ID_BYTES, dtype=np.uint8)


def unique_id_from_buffer(buffer, as_bytes: bool, signed_char: bool | None = None):
    """The id in the form ``NcclCommunicator`` wants: ``bytes`` (CuPy >= 14) or a tuple of C chars."""
    array = np.asarray(buffer)
    if array.dtype != np.uint8 or array.shape != (NCCL_UNIQUE_ID_BYTES,):
        raise ValueError(f"buffer: expected {NCCL_UNIQUE_ID_BYTES} uint8 values, "
                         f"got {array.dtype} of shape {array.shape}")
    if as_bytes:
        return array.tobytes()
    signed = char_is_signed() if signed_char is None else signed_char
    values = array.view(np.int8) if signed else array
    return tuple(int(v) for v in values)


def broadcast_unique_id(nccl, host, cupy_version: str):
    """Make the id on rank 0 of ``host``, send it to every rank; returns it in this CuPy's form."""
    buffer = unique_id_to_buffer(nccl.get_unique_id()) if host.rank == 0 else empty_buffer()
    host.broadcast_(buffer)
    return unique_id_from_buffer(buffer, as_bytes=cupy_wants_bytes(cupy_version))
