"""The compiled CPU fused steps (Numba) against their NumPy twins: every step, activation and dtype, odd shapes,
the in-place cases, special values, bad arguments, and that a warmed-up step allocates no NumPy memory."""
import os
import subprocess
import sys

import numpy as np
import pytest
from allocations import count_numpy_allocations, describe

from gpunn.kernels import (
    ACTIVATIONS,
    NEEDS_PREACTIVATION,
    act_backward_bias_grad_numpy,
    bias_act_forward_numpy,
    cpu_fused,
    dropout_backward_numpy,
    dropout_forward_numpy,
    sigmoid_bce_numpy,
    softmax_numpy,
    softmax_xent_numpy,
)

compiled = cpu_fused()
pytestmark = pytest.mark.skipif(compiled is None, reason="Numba is not installed: the NumPy twins run")

DTYPES = [np.float32, np.float64]
SHAPES = [(7, 5), (1, 3), (33, 17), (64, 300)]
# Activations whose forward uses no elementary function: the compiled result is the twin's to the bit.
EXACT_FORWARD = {"linear", "relu", "leaky_relu", "softsign", "hard_sigmoid"}
# Backward computed by arithmetic alone (from y; softsign from z): bit for bit as well.
EXACT_BACKWARD = {"linear", "relu", "leaky_relu", "elu", "sigmoid", "tanh", "selu", "hard_sigmoid", "exponential",
                  "softsign"}


def assert_close(got, want, ulps=4):
    """Within ``ulps`` units of the dtype's epsilon, relative to each value or to the largest finite one
    (formulas like gelu's z (1 + erf) cancel, so an ulp of erf is an ulp of the scale, not of the value)."""
    assert got.dtype == want.dtype and got.shape == want.shape
    eps = np.finfo(want.dtype).eps
    finite = np.abs(want[np.isfinite(want)])
    scale = finite.max() if finite.size else 0.0
    np.testing.assert_allclose(got, want, rtol=ulps * eps, atol=ulps * eps * scale, equal_nan=True)


def _activation_cases():
    for activation in ACTIVATIONS:
        for in_place in (False, True):
            if in_place and activation in NEEDS_PREACTIVATION:
                continue  # out must not be z there
            yield activation, in_place


# ---------------------------------------------------------------- bias + activation


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("with_bias", [True, False])
@pytest.mark.parametrize("activation, in_place", list(_activation_cases()))
def test_bias_act_forward_matches_twin(activation, in_place, with_bias, shape, dtype):
    rng = np.random.default_rng(sum(shape))
    z = (rng.standard_normal(shape) * 3).astype(dtype)
    bias = rng.standard_normal(shape[1]).astype(dtype) if with_bias else None
    z_want, z_got = z.copy(), z.copy()
    want = z_want if in_place else np.empty_like(z)
    got = z_got if in_place else np.empty_like(z)
    bias_act_forward_numpy(z_want, bias, activation, want)
    assert compiled.bias_act_forward(z_got, bias, activation, got) is got
    if not in_place:
        np.testing.assert_array_equal(z_got, z_want)  # z += bias, exactly
    if activation in EXACT_FORWARD:
        np.testing.assert_array_equal(got, want)
    else:
        assert_close(got, want)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("with_bias", [True, False])
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("in_place", [False, True])
def test_act_backward_bias_grad_matches_twin(in_place, activation, with_bias, shape, dtype):
    rng = np.random.default_rng(sum(shape) + 1)
    z = (rng.standard_normal(shape) * 3).astype(dtype)
    y = bias_act_forward_numpy(z, None, activation, np.empty_like(z))
    dy = rng.standard_normal(shape).astype(dtype)
    dy_want, dy_got = dy.copy(), dy.copy()
    dz_want = dy_want if in_place else np.empty_like(dy)
    dz_got = dy_got if in_place else np.empty_like(dy)
    db_want, db_got = (np.empty(shape[1], dtype), np.empty(shape[1], dtype)) if with_bias else (None, None)
    act_backward_bias_grad_numpy(dy_want, y, z, activation, dz_want, db_want)
    assert compiled.act_backward_bias_grad(dy_got, y, z, activation, dz_got, db_got) is dz_got
    check = np.testing.assert_array_equal if activation in EXACT_BACKWARD else assert_close
    check(dz_got, dz_want)
    if with_bias:
        check(db_got, db_want)  # summed row after row, as np.sum(axis=0): bit for bit on equal dz


@pytest.mark.parametrize("activation", sorted(set(ACTIVATIONS) - (NEEDS_PREACTIVATION - {"elu"})))
def test_backward_without_z_where_the_activation_does_not_read_it(activation):
    rng = np.random.default_rng(3)
    z = rng.standard_normal((9, 4)).astype(np.float32)
    y = bias_act_forward_numpy(z, None, activation, np.empty_like(z))
    dy = rng.standard_normal((9, 4)).astype(np.float32)
    want = act_backward_bias_grad_numpy(dy, y, None, activation, np.empty_like(dy), None)
    check = np.testing.assert_array_equal if activation in EXACT_BACKWARD else assert_close
    check(compiled.act_backward_bias_grad(dy, y, None, activation, np.empty_like(dy), None), want)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("alpha", [0.01, 0.3, 1.0, 1.5])
def test_leaky_relu_alpha(alpha, dtype):
    rng = np.random.default_rng(4)
    z = rng.standard_normal((13, 11)).astype(dtype)
    want = bias_act_forward_numpy(z.copy(), None, "leaky_relu", np.empty_like(z), alpha)
    got = compiled.bias_act_forward(z.copy(), None, "leaky_relu", np.empty_like(z), alpha)
    np.testing.assert_array_equal(got, want)
    dy = rng.standard_normal(z.shape).astype(dtype)
    np.testing.assert_array_equal(
        compiled.act_backward_bias_grad(dy, got, z, "leaky_relu", np.empty_like(dy), None, alpha),
        act_backward_bias_grad_numpy(dy, want, z, "leaky_relu", np.empty_like(dy), None, alpha))


SPECIAL = [0.0, -0.0, 1e-30, -1e-30, 0.3, -0.3, 1.0, -1.0, 4.5, -4.5, 10.0, -10.0, 30.0, -30.0, 95.0, -95.0,
           120.0, -120.0, 800.0, -800.0, np.inf, -np.inf, np.nan]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_special_values_follow_the_twin(activation, dtype):
    z = np.array([SPECIAL], dtype)
    with np.errstate(all="ignore"):
        want = bias_act_forward_numpy(z.copy(), None, activation, np.empty_like(z))
        got = compiled.bias_act_forward(z.copy(), None, activation, np.empty_like(z))
        assert_close(got, want)
        dy = np.ones_like(z)
        dz_want = act_backward_bias_grad_numpy(dy, want, z, activation, np.empty_like(z), None)
        dz_got = compiled.act_backward_bias_grad(dy, want, z, activation, np.empty_like(z), None)
    assert_close(dz_got, dz_want)


@pytest.mark.parametrize("dtype", DTYPES)
def test_strided_arrays(dtype):
    """Views with gaps (a column slice) compile their own loops and give the same results."""
    rng = np.random.default_rng(5)
    base = rng.standard_normal((10, 16)).astype(dtype)
    bias = rng.standard_normal(8).astype(dtype)
    z_want, z_got = base.copy()[:, ::2], base.copy()[:, ::2]
    want = bias_act_forward_numpy(z_want, bias, "tanh", np.empty((10, 8), dtype))
    got = compiled.bias_act_forward(z_got, bias, "tanh", np.empty((20, 8), dtype)[::2])
    assert_close(got, want)
    np.testing.assert_array_equal(z_got, z_want)
    probs = compiled.softmax(base[:, 1::2], np.empty((10, 8), dtype))
    assert_close(probs, softmax_numpy(base[:, 1::2], np.empty((10, 8), dtype)))


# ---------------------------------------------------------------- softmax and cross-entropy


def _logits(shape, dtype, seed):
    x = (np.random.default_rng(seed).standard_normal(shape) * 4).astype(dtype)
    x[0, :] = 7.0  # a row of equal logits
    if shape[0] > 2:
        x[1, 0] = 1000.0  # huge ones: stable because of the max shift
        x[2, -1] = -1000.0
    return x


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES + [(4, 1), (3, 1000)])
@pytest.mark.parametrize("in_place", [False, True])
def test_softmax_matches_twin(in_place, shape, dtype):
    x = _logits(shape, dtype, 6)
    x_want, x_got = x.copy(), x.copy()
    want = softmax_numpy(x_want, x_want if in_place else np.empty_like(x))
    got = compiled.softmax(x_got, x_got if in_place else np.empty_like(x))
    assert_close(got, want, ulps=8)
    np.testing.assert_allclose(got.sum(axis=1), 1.0, rtol=16 * np.finfo(dtype).eps * shape[1] ** 0.5)


def _xent_both(logits, labels, in_place, with_grad, dtype):
    results = []
    for step in (softmax_xent_numpy, compiled.softmax_xent):
        x = logits.copy()
        probs = x if in_place else np.empty_like(x)
        dlogits = np.full_like(x, np.nan) if with_grad else None
        loss = np.empty(x.shape[0], dtype)
        assert step(x, labels, probs, dlogits, loss, 1.0 / x.shape[0]) is loss
        results.append((probs, dlogits, loss))
    return results


def _check_xent(want, got):
    assert_close(got[0], want[0], ulps=8)
    if want[1] is not None:
        assert_close(got[1], want[1], ulps=8)
    assert_close(got[2], want[2], ulps=8)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES + [(4, 1), (3, 1000)])
@pytest.mark.parametrize("in_place", [False, True])
@pytest.mark.parametrize("with_grad", [True, False])
@pytest.mark.parametrize("label_dtype", [np.int64, np.int32, np.uint8])
def test_softmax_xent_sparse_matches_twin(label_dtype, with_grad, in_place, shape, dtype):
    rng = np.random.default_rng(7)
    labels = rng.integers(0, min(shape[1], 255), shape[0]).astype(label_dtype)
    want, got = _xent_both(_logits(shape, dtype, 8), labels, in_place, with_grad, dtype)
    _check_xent(want, got)


def test_softmax_xent_negative_labels_count_from_the_end_as_numpy_indexing():
    logits = _logits((5, 6), np.float64, 9)
    want, got = _xent_both(logits, np.array([-1, -6, 0, 5, -2]), False, True, np.float64)
    _check_xent(want, got)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES + [(3, 1000)])
@pytest.mark.parametrize("in_place", [False, True])
@pytest.mark.parametrize("with_grad", [True, False])
@pytest.mark.parametrize("targets", ["one_hot", "soft"])
def test_softmax_xent_dense_matches_twin(targets, with_grad, in_place, shape, dtype):
    rng = np.random.default_rng(10)
    if targets == "one_hot":
        labels = np.eye(shape[1], dtype=dtype)[rng.integers(0, shape[1], shape[0])]
    else:
        labels = rng.random(shape).astype(dtype)
        labels /= labels.sum(axis=1, keepdims=True)
    want, got = _xent_both(_logits(shape, dtype, 11), labels, in_place, with_grad, dtype)
    _check_xent(want, got)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES + [(16, 1), (3, 1000)])
@pytest.mark.parametrize("with_grad", [True, False])
def test_sigmoid_bce_matches_twin(with_grad, shape, dtype):
    rng = np.random.default_rng(12)
    logits = (rng.standard_normal(shape) * 4).astype(dtype)
    extremes = [v for v in SPECIAL if np.isfinite(v)][: logits.size]  # up to +-800
    logits.flat[: len(extremes)] = extremes
    targets = rng.random(shape).astype(dtype)
    targets.flat[::3] = np.round(targets.flat[::3])
    results = []
    for step in (sigmoid_bce_numpy, compiled.sigmoid_bce):
        probs = np.empty_like(logits)
        dlogits = np.full_like(logits, np.nan) if with_grad else None
        loss = np.empty(shape[0], dtype)
        assert step(logits, targets, probs, dlogits, loss, 1.0 / shape[0]) is loss
        results.append((probs, dlogits, loss))
    _check_xent(*results)


# ---------------------------------------------------------------- dropout


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("rate", [0.0, 0.3, 0.9])
@pytest.mark.parametrize("seed, counter", [(0, 0), (12345, 7), (-3, 2**32 + 5)])
@pytest.mark.parametrize("in_place", [False, True])
def test_dropout_matches_twin_bit_for_bit(in_place, seed, counter, rate, shape, dtype):
    x = np.random.default_rng(13).standard_normal(shape).astype(dtype)
    x_want, x_got = x.copy(), x.copy()
    mask_want, mask_got = np.empty(shape, np.uint8), np.empty(shape, np.uint8)
    want = dropout_forward_numpy(x_want, rate, seed, counter, x_want if in_place else np.empty_like(x), mask_want)
    got = compiled.dropout_forward(x_got, rate, seed, counter, x_got if in_place else np.empty_like(x), mask_got)
    np.testing.assert_array_equal(mask_got, mask_want)
    np.testing.assert_array_equal(got, want)
    dy = np.random.default_rng(14).standard_normal(shape).astype(dtype)
    dy_want, dy_got = dy.copy(), dy.copy()
    dx_want = dropout_backward_numpy(dy_want, mask_want, rate, dy_want if in_place else np.empty_like(dy))
    dx_got = compiled.dropout_backward(dy_got, mask_got, rate, dy_got if in_place else np.empty_like(dy))
    np.testing.assert_array_equal(dx_got, dx_want)


@pytest.mark.parametrize("shape", [(37,), (4, 5, 6)])
def test_dropout_other_ranks(shape):
    """The mask follows the C-order flat index whatever the rank."""
    x = np.random.default_rng(15).standard_normal(shape).astype(np.float32)
    mask_want, mask_got = np.empty(shape, np.uint8), np.empty(shape, np.uint8)
    want = dropout_forward_numpy(x, 0.4, 99, 3, np.empty_like(x), mask_want)
    got = compiled.dropout_forward(x, 0.4, 99, 3, np.empty_like(x), mask_got)
    np.testing.assert_array_equal(mask_got, mask_want)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(compiled.dropout_backward(x, mask_got, 0.4, np.empty_like(x)),
                                  dropout_backward_numpy(x, mask_want, 0.4, np.empty_like(x)))


def test_dropout_non_contiguous_higher_rank_falls_back_to_the_twin():
    x = np.random.default_rng(16).standard_normal((4, 5, 6)).astype(np.float32)
    out_want, out_got = np.empty((4, 5, 6), np.float32), np.empty((4, 5, 12), np.float32)[:, :, ::2]
    mask_want, mask_got = np.empty(x.shape, np.uint8), np.empty(x.shape, np.uint8)
    dropout_forward_numpy(x, 0.4, 1, 2, out_want, mask_want)
    compiled.dropout_forward(x, 0.4, 1, 2, out_got, mask_got)
    np.testing.assert_array_equal(mask_got, mask_want)
    np.testing.assert_array_equal(out_got, out_want)


# ---------------------------------------------------------------- bad arguments


def test_bad_arguments_raise():
    z = np.zeros((3, 4), np.float32)
    with pytest.raises(ValueError, match="activation"):
        compiled.bias_act_forward(z, None, "swish", z)
    with pytest.raises(ValueError, match="must not be z"):
        compiled.bias_act_forward(z, None, "gelu", z)
    with pytest.raises(ValueError):
        compiled.bias_act_forward(z, np.zeros(5, np.float32), "relu", np.empty_like(z))
    with pytest.raises(ValueError):
        compiled.bias_act_forward(z, None, "relu", np.empty((3, 5), np.float32))
    with pytest.raises(ValueError):
        compiled.act_backward_bias_grad(z, z, z, "relu", np.empty_like(z), np.empty(3, np.float32))
    loss = np.empty(3, np.float32)
    probs = np.full_like(z, 7.0)
    with pytest.raises(IndexError):
        compiled.softmax_xent(z, np.array([0, 1, 4]), probs, None, loss, 1.0)
    assert (probs == 7.0).all()  # checked before anything is written
    with pytest.raises(ValueError, match="labels"):
        compiled.softmax_xent(z, np.zeros(3, np.float32), np.empty_like(z), None, loss, 1.0)
    with pytest.raises(ValueError):
        compiled.softmax_xent(z, np.zeros(4, np.int64), np.empty_like(z), None, loss, 1.0)
    with pytest.raises(ValueError, match="must not be logits"):
        compiled.sigmoid_bce(z, z, z, None, loss, 1.0)
    with pytest.raises(ValueError, match="rate"):
        compiled.dropout_forward(z, 1.0, 0, 0, np.empty_like(z), np.empty(z.shape, np.uint8))
    with pytest.raises(ValueError):
        compiled.dropout_backward(z, np.empty((3, 5), np.uint8), 0.5, np.empty_like(z))


# ---------------------------------------------------------------- no allocations, warm-up, accessor


def _every_variant(dtype):
    """(name, call) for each compiled entry point and wrapper branch, on training-sized arrays."""
    rng = np.random.default_rng(17)
    b, n = 32, 24
    z, y, dy, out, dz = (rng.standard_normal((b, n)).astype(dtype) for _ in range(5))
    bias, dbias = np.zeros(n, dtype), np.empty(n, dtype)
    probs, dlogits, loss = np.empty((b, n), dtype), np.empty((b, n), dtype), np.empty(b, dtype)
    sparse, dense = rng.integers(0, n, b), np.full((b, n), 1.0 / n, dtype)
    mask = np.empty((b, n), np.uint8)
    cases = []
    for activation in ACTIVATIONS:
        cases += [
            (f"forward {activation}", lambda a=activation: compiled.bias_act_forward(z, bias, a, out)),
            (f"forward {activation} no bias", lambda a=activation: compiled.bias_act_forward(z, None, a, out)),
            (f"backward {activation}", lambda a=activation: compiled.act_backward_bias_grad(dy, y, z, a, dz, dbias)),
            (f"backward {activation} no dbias",
             lambda a=activation: compiled.act_backward_bias_grad(dy, y, z, a, dz, None)),
        ]
    cases += [
        ("forward relu in place", lambda: compiled.bias_act_forward(out, bias, "relu", out)),
        ("backward tanh in place", lambda: compiled.act_backward_bias_grad(dz, y, None, "tanh", dz, dbias)),
        ("softmax", lambda: compiled.softmax(z, probs)),
        ("softmax in place", lambda: compiled.softmax(probs, probs)),
        ("xent sparse", lambda: compiled.softmax_xent(z, sparse, probs, dlogits, loss, 0.5)),
        ("xent sparse no grad", lambda: compiled.softmax_xent(z, sparse, probs, None, loss, 0.5)),
        ("xent dense", lambda: compiled.softmax_xent(z, dense, probs, dlogits, loss, 0.5)),
        ("xent dense in place", lambda: compiled.softmax_xent(probs, dense, probs, dlogits, loss, 0.5)),
        ("bce", lambda: compiled.sigmoid_bce(z, dense, probs, dlogits, loss, 0.5)),
        ("bce no grad", lambda: compiled.sigmoid_bce(z, dense, probs, None, loss, 0.5)),
        ("dropout forward", lambda: compiled.dropout_forward(z, 0.25, 3, 11, out, mask)),
        ("dropout forward in place", lambda: compiled.dropout_forward(out, 0.25, 3, 12, out, mask)),
        ("dropout backward", lambda: compiled.dropout_backward(dy, mask, 0.25, dz)),
        ("dropout backward in place", lambda: compiled.dropout_backward(dz, mask, 0.25, dz)),
    ]
    return cases


@pytest.mark.parametrize("dtype", DTYPES)
def test_warmed_up_steps_allocate_nothing(dtype):
    cases = _every_variant(dtype)
    for _, call in cases:
        call()  # compile or load the loops for this layout
    for name, call in cases:
        with count_numpy_allocations() as events:
            call()
        assert events == [], f"{name}: {describe(events)}"


@pytest.mark.parametrize("dtype", DTYPES)
def test_warm_up_compiles_every_entry_point(dtype):
    from gpunn.kernels import fused_loops_cpu as loops  # imports Numba: only where the module is usable

    compiled.warm_up(dtype)
    for entry in (loops.bias_act_forward, loops.act_forward, loops.act_backward_bias_grad, loops.act_backward,
                  loops.softmax, loops.softmax_xent_sparse, loops.softmax_xent_dense, loops.sigmoid_bce,
                  loops.dropout_forward, loops.dropout_backward):
        assert any(str(sig[0].dtype) == np.dtype(dtype).name for sig in entry.signatures), entry


def test_accessor_is_one_object_and_gpunn_cpu_jit_0_turns_it_off():
    assert cpu_fused() is compiled
    code = "from gpunn.kernels import cpu_fused; print(cpu_fused() is None)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "GPUNN_CPU_JIT": "0"}, check=True)
    assert out.stdout.strip() == "True"
