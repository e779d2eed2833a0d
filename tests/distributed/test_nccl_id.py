"""NCCL's unique id in both CuPy forms (CuPy <= 13: a tuple of C chars; CuPy >= 14: bytes), on the CPU."""
from __future__ import annotations

import numpy as np
import pytest

from gpunn.distributed import nccl_id
from gpunn.distributed.local import LocalCommunicator

RAW = bytes(range(256))[::2]  # 128 bytes, half of them >= 128
SIGNED = tuple(b - 256 if b > 127 else b for b in RAW)   # what CuPy 13 returns on x86-64
UNSIGNED = tuple(RAW)                                      # ... and on aarch64


@pytest.mark.parametrize("uid", [RAW, bytearray(RAW), SIGNED, UNSIGNED, list(SIGNED)],
                         ids=["bytes", "bytearray", "signed-tuple", "unsigned-tuple", "list"])
def test_every_form_becomes_the_same_128_bytes(uid):
    buffer = nccl_id.unique_id_to_buffer(uid)
    assert buffer.dtype == np.uint8 and buffer.shape == (128,)
    assert buffer.tobytes() == RAW


def test_cupy14_gets_bytes_back():
    buffer = nccl_id.unique_id_to_buffer(RAW)
    assert nccl_id.unique_id_from_buffer(buffer, as_bytes=True) == RAW


@pytest.mark.parametrize("signed, expected", [(True, SIGNED), (False, UNSIGNED)])
def test_cupy13_gets_the_tuple_of_its_platform_chars(signed, expected):
    buffer = nccl_id.unique_id_to_buffer(SIGNED)
    back = nccl_id.unique_id_from_buffer(buffer, as_bytes=False, signed_char=signed)
    assert back == expected and isinstance(back, tuple) and all(type(v) is int for v in back)


def test_round_trip_through_the_uint8_buffer_for_both_forms():
    for version, uid in (("14.2.0", RAW), ("13.6.0", SIGNED)):
        wants_bytes = nccl_id.cupy_wants_bytes(version)
        back = nccl_id.unique_id_from_buffer(nccl_id.unique_id_to_buffer(uid), wants_bytes, signed_char=True)
        assert back == uid


def test_version_and_platform_rules():
    assert nccl_id.cupy_wants_bytes("14.0.0") and nccl_id.cupy_wants_bytes("15.0.0a1")
    assert not nccl_id.cupy_wants_bytes("13.6.0")
    assert nccl_id.char_is_signed("x86_64") and not nccl_id.char_is_signed("aarch64")
    with pytest.raises(ValueError, match="cupy_version"):
        nccl_id.cupy_wants_bytes("dev")


@pytest.mark.parametrize("uid, error, match", [
    (RAW[:64], ValueError, "expected 128 bytes, got 64"),
    (tuple(range(300, 428)), ValueError, "C char values"),
    ("abc", TypeError, "got str"),
    (None, TypeError, "got NoneType"),
])
def test_bad_ids_are_named(uid, error, match):
    with pytest.raises(error, match=match):
        nccl_id.unique_id_to_buffer(uid)


def test_bad_buffer_is_named():
    with pytest.raises(ValueError, match="buffer: expected 128 uint8"):
        nccl_id.unique_id_from_buffer(np.zeros(128, np.int16), as_bytes=True)


class _FakeNccl:
    def __init__(self, uid):
        self.uid = uid

    def get_unique_id(self):
        return self.uid


@pytest.mark.parametrize("version, uid", [("14.2.0", RAW), ("13.6.0", SIGNED)])
def test_broadcast_alone_returns_this_cupys_form(version, uid):
    got = nccl_id.broadcast_unique_id(_FakeNccl(uid), LocalCommunicator(), version)
    assert nccl_id.unique_id_to_buffer(got).tobytes() == RAW
    assert isinstance(got, bytes if version.startswith("14") else tuple)


@pytest.mark.mpi
def test_id_reaches_every_rank_under_mpiexec(mpirun):
    run = mpirun(2, ["worker_nccl_id.py"])
    assert run.returncode == 0, run.output
    assert "nccl id OK on rank 0" in run.output and "nccl id OK on rank 1" in run.output
