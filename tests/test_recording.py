"""The recorder itself (``ops/recording.py``): outermost primitive calls are kept with their buffers and
replayed in order; a call a replay could not repeat (no ``out=``) is refused while recording, however ``out``
is passed; nested primitives run as part of their caller."""
import numpy as np
import pytest

from gpunn.ops import NumpyOps
from gpunn.ops.recording import NotReplayableError, Recording


def test_calls_are_recorded_and_replayed_on_the_same_buffers():
    ops = NumpyOps()
    a, b, out = np.arange(6.0).reshape(2, 3), np.ones((3, 2)), np.zeros((2, 2))
    with Recording(ops) as tape:
        ops.matmul(a, b, out=out)
        ops.add(out, out, out)
    assert len(tape) == 2
    np.testing.assert_array_equal(out, 2 * (a @ b))
    a += 1  # a replay reads the buffers as they are now
    tape.replay()
    np.testing.assert_array_equal(out, 2 * (a @ b))


@pytest.mark.parametrize("call", [
    lambda ops, a, b, out: ops.matmul(a, b),                 # out left to its default (None)
    lambda ops, a, b, out: ops.matmul(a, b, None),           # None by position
    lambda ops, a, b, out: ops.matmul(a, b, out=None),       # None by keyword
    lambda ops, a, b, out: ops.add(a @ b, a @ b, None),      # a required out given as None
], ids=["default", "positional", "keyword", "required"])
def test_a_call_without_out_is_refused_while_recording(call):
    ops = NumpyOps()
    a, b, out = np.ones((2, 3)), np.ones((3, 2)), np.zeros((2, 2))
    with Recording(ops) as tape:
        with pytest.raises(NotReplayableError, match=r"was called without out= while recording a step"):
            call(ops, a, b, out)
    assert len(tape) == 0


@pytest.mark.parametrize("call", [
    lambda ops, a, b, out: ops.matmul(a, b, out),
    lambda ops, a, b, out: ops.matmul(a, b, out=out),
], ids=["positional", "keyword"])
def test_out_is_found_by_position_or_keyword(call):
    ops = NumpyOps()
    a, b, out = np.ones((2, 3)), np.ones((3, 2)), np.zeros((2, 2))
    with Recording(ops) as tape:
        call(ops, a, b, out)
    assert len(tape) == 1
    np.testing.assert_array_equal(out, 3.0)
    assert ops.matmul(a, b).shape == (2, 2)  # outside a recording, out is optional


def test_a_second_recording_on_the_same_ops_is_refused():
    ops = NumpyOps()
    with Recording(ops):
        with pytest.raises(NotReplayableError, match="already being recorded"):
            with Recording(ops):
                pass
