"""Losses and metrics as static steps: after a first call of a given batch size they allocate nothing, and
they still compute Keras's formulas (checked against plain float64 NumPy written from the definitions)."""
from __future__ import annotations

import numpy as np
import pytest
from allocations import count_step_allocations, describe
from helpers import numpy_backend, sigmoid, softmax  # noqa: F401

from gpunn import losses, metrics
from gpunn.ops.recording import Recording
from gpunn.ops.workspace import Workspace

B, C = 7, 5  # batch, classes: small and odd
EPS = 1e-7  # Keras's backend epsilon
GRAD_SCALE = 0.25  # not 1 / B, so that a gradient ignoring grad_scale would show
TOLERANCE = {np.float32: 2e-5, np.float64: 1e-12}


def _allocations_outside_fused_kernels(events):
    """The allocations not made inside a fused kernel's NumPy twin (kernels/): the loss's own code must
    add none. The twins are the CPU stand-ins for CUDA kernels, which allocate nothing on the device."""
    return [event for event in events if "/kernels/" not in event[1]]


# ---- losses ---------------------------------------------------------------------------------------------------


def _loss_inputs(kind, logits, dtype, rng):
    """(output, y_true) for one loss; probabilities include values outside Keras's clip range."""
    if logits:
        output = 3.0 * rng.standard_normal((B, C))
    else:
        output = rng.uniform(0.02, 0.98, (B, C))
        output[0, 0], output[1, 1], output[2, 2] = 0.0, 1.0, 0.5 * EPS  # clipped: no gradient through the clip
    labels = rng.integers(0, C, B)
    y = {"regression": rng.standard_normal((B, C)), "binary": rng.integers(0, 2, (B, C)).astype(float),
         "categorical": np.eye(C)[labels], "sparse": labels}[kind]
    return output.astype(dtype), (y if kind == "sparse" else y.astype(dtype))


def _reference(kind, name, logits, output, y, grad_scale):
    """(per-sample loss, gradient, predictions) in float64, written from Keras's definitions. The clip bounds
    are those of the output's dtype (Keras casts epsilon to it): in float32, 1 - 1e-7 is 1 - 2**-23."""
    o = output.astype(np.float64)
    low, high = (float(np.asarray(bound, output.dtype)) for bound in (EPS, 1 - EPS))
    t = np.eye(C)[y] if kind == "sparse" else y.astype(np.float64)
    if name == "mse":
        return ((o - t) ** 2).mean(-1), 2.0 * (o - t) * grad_scale / C, o
    if name == "mae":
        return np.abs(o - t).mean(-1), np.sign(o - t) * grad_scale / C, o
    # With from_logits=True the metrics see the logits themselves, as Keras's metrics see y_pred.
    if name == "bce" and logits:
        s = sigmoid(o)
        per_sample = (np.maximum(o, 0) - o * t + np.log1p(np.exp(-np.abs(o)))).mean(-1)
        return per_sample, (s - t) * grad_scale / C, o
    if name == "bce":
        p = np.clip(o, low, high)
        inside = (o > low) & (o < high)
        per_sample = -(t * np.log(p) + (1 - t) * np.log(1 - p)).mean(-1)
        return per_sample, (p - t) / (p * (1 - p)) * inside * grad_scale / C, o
    if logits:  # categorical / sparse from logits
        s = softmax(o)
        log_softmax = o - o.max(-1, keepdims=True) - np.log(np.exp(o - o.max(-1, keepdims=True)).sum(-1,
                                                                                                    keepdims=True))
        return -(t * log_softmax).sum(-1), (s * t.sum(-1, keepdims=True) - t) * grad_scale, o
    total = o.sum(-1, keepdims=True)
    p = np.clip(o / total, low, high)
    grad = (-t / (p * total) + t.sum(-1, keepdims=True) / total) * grad_scale
    return -(t * np.log(p)).sum(-1), grad, o


LOSSES = {
    "mse": (losses.MeanSquaredError, "regression"),
    "mae": (losses.MeanAbsoluteError, "regression"),
    "bce": (losses.BinaryCrossentropy, "binary"),
    "cce": (losses.CategoricalCrossentropy, "categorical"),
    "sparse_cce": (losses.SparseCategoricalCrossentropy, "sparse"),
}
LOSS_CASES = [(name, logits) for name in LOSSES for logits in (False, True) if not (name in ("mse", "mae") and logits)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("need_grad", [True, False])
@pytest.mark.parametrize("name, logits", LOSS_CASES)
def test_loss_is_static_and_keeps_keras_numbers(name, logits, need_grad, dtype, rng, numpy_backend):
    ops = numpy_backend
    cls, kind = LOSSES[name]
    loss = cls(from_logits=logits) if kind != "regression" else cls()
    output, y = _loss_inputs(kind, logits, dtype, rng)
    ws = Workspace(ops)
    first = loss.compute(ops, ws, output, y, GRAD_SCALE, logits, need_grad)  # makes the buffers
    with count_step_allocations() as events:
        per_sample, grad, predictions = loss.compute(ops, ws, output, y, GRAD_SCALE, logits, need_grad)
    events = _allocations_outside_fused_kernels(events) if logits else events
    assert events == [], describe(events)
    # The same buffers every call: a recorded step finds its results where it left them.
    assert per_sample is first[0] and predictions is first[2] and (grad is first[1] if need_grad else grad is None)
    assert per_sample.shape == (B,) and per_sample.dtype == dtype
    if not logits:
        assert predictions is output

    want_per_sample, want_grad, want_predictions = _reference(kind, name, logits, output, y, GRAD_SCALE)
    rtol = TOLERANCE[dtype]
    np.testing.assert_allclose(per_sample, want_per_sample, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(predictions, want_predictions, rtol=rtol, atol=rtol)
    if need_grad:
        assert grad.shape == output.shape and grad.dtype == dtype
        np.testing.assert_allclose(grad, want_grad, rtol=rtol, atol=rtol * np.abs(want_grad).max())


def test_training_and_evaluation_share_a_loss_workspace(rng, numpy_backend):
    """A step with the gradient and one without, alternating on one workspace, stay allocation-free."""
    ops = numpy_backend
    loss = losses.SparseCategoricalCrossentropy()
    output, y = _loss_inputs("sparse", False, np.float32, rng)
    ws = Workspace(ops)
    for need_grad in (True, False):
        loss.compute(ops, ws, output, y, 1.0 / B, False, need_grad)
    with count_step_allocations() as events:
        for need_grad in (True, False, True):
            loss.compute(ops, ws, output, y, 1.0 / B, False, need_grad)
    assert events == [], describe(events)


@pytest.mark.parametrize("name, logits", LOSS_CASES)
def test_recorded_loss_replays_on_new_inputs(name, logits, rng, numpy_backend):
    """Recorded once, replayed after the inputs' contents change: the eager numbers, bit for bit."""
    ops = numpy_backend
    cls, kind = LOSSES[name]
    loss = cls(from_logits=logits) if kind != "regression" else cls()
    output, y = _loss_inputs(kind, logits, np.float32, rng)
    ws = Workspace(ops)
    loss.compute(ops, ws, output, y, GRAD_SCALE, logits)
    with Recording(ops) as tape:
        per_sample, grad, predictions = loss.compute(ops, ws, output, y, GRAD_SCALE, logits)
    new_output, new_y = _loss_inputs(kind, logits, np.float32, rng)
    output[...], y[...] = new_output, new_y
    tape.replay()
    want = loss.compute(ops, Workspace(ops), output.copy(), y.copy(), GRAD_SCALE, logits)
    for got, expected in zip((per_sample, grad, predictions), want):
        np.testing.assert_array_equal(got, expected)


def test_sparse_loss_host_api_rejects_labels_out_of_range():
    with pytest.raises(ValueError, match=r"labels: expected class ids in \[0, 3\)"):
        losses.SparseCategoricalCrossentropy()(np.array([0, 3]), np.full((2, 3), 1 / 3))


# ---- metrics --------------------------------------------------------------------------------------------------


def _metric_case(name, dtype, rng):
    """(metric, y_true, predictions, expected batch sum from the definition in float64)."""
    labels = rng.integers(0, C, B)
    p = rng.uniform(0, 1, (B, C)).astype(dtype)
    p64 = p.astype(np.float64)
    if name in ("binary_accuracy", "binary_accuracy_0.8"):
        threshold = 0.8 if name.endswith("0.8") else 0.5
        t = rng.integers(0, 2, (B, C)).astype(dtype)
        return (metrics.BinaryAccuracy(threshold=threshold), t, p,
                ((p > np.asarray(threshold, dtype)) == (t > 0.5)).mean(-1).sum())
    if name == "categorical_accuracy":
        return metrics.CategoricalAccuracy(), np.eye(C, dtype=dtype)[labels], p, float((p.argmax(-1) == labels).sum())
    if name == "sparse_categorical_accuracy":
        return metrics.SparseCategoricalAccuracy(), labels, p, float((p.argmax(-1) == labels).sum())
    y = rng.standard_normal((B, C)).astype(dtype)
    if name == "mean_absolute_error":
        return metrics.MeanAbsoluteError(), y, p, np.abs(p64 - y).mean(-1).sum()
    return metrics.MeanSquaredError(), y, p, ((p64 - y) ** 2).mean(-1).sum()


METRICS = ["binary_accuracy", "binary_accuracy_0.8", "categorical_accuracy", "sparse_categorical_accuracy",
           "mean_absolute_error", "mean_squared_error"]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", METRICS)
def test_metric_is_static_and_keeps_its_numbers(name, dtype, rng, numpy_backend):
    ops = numpy_backend
    metric, y, p, expected = _metric_case(name, dtype, rng)
    ws = Workspace(ops)
    out = np.full((), 123.0)  # overwritten, not added to
    metric.batch_sum(ops, ws, y, p, out)
    out[...] = 123.0
    with count_step_allocations() as events:
        metric.batch_sum(ops, ws, y, p, out)
    assert events == [], describe(events)
    assert out.dtype == np.float64
    assert float(out) == pytest.approx(expected, rel=TOLERANCE[dtype])


def test_metrics_sharing_a_workspace_keep_their_own_constants(rng, numpy_backend):
    """Two thresholds on one workspace: each metric keeps its constant (a rewritten one would break a replay)."""
    ops = numpy_backend
    low, high = metrics.BinaryAccuracy(name="low", threshold=0.3), metrics.BinaryAccuracy(name="high", threshold=0.7)
    t = rng.integers(0, 2, (B, C)).astype(np.float32)
    p = rng.uniform(0, 1, (B, C)).astype(np.float32)
    ws, out_low, out_high = Workspace(ops), np.zeros(()), np.zeros(())
    for _ in range(2):
        low.batch_sum(ops, ws, t, p, out_low)
        high.batch_sum(ops, ws, t, p, out_high)
    assert float(out_low) == pytest.approx(((p > 0.3) == t).mean(-1).sum())
    assert float(out_high) == pytest.approx(((p > 0.7) == t).mean(-1).sum())


@pytest.mark.parametrize("name", METRICS)
def test_recorded_metric_replays_on_new_inputs(name, rng, numpy_backend):
    ops = numpy_backend
    metric, y, p, _ = _metric_case(name, np.float32, rng)
    ws, out = Workspace(ops), np.zeros(())
    metric.batch_sum(ops, ws, y, p, out)
    with Recording(ops) as tape:
        metric.batch_sum(ops, ws, y, p, out)
    _, new_y, new_p, expected = _metric_case(name, np.float32, rng)
    y[...], p[...] = new_y, new_p
    tape.replay()
    assert float(out) == pytest.approx(expected, rel=TOLERANCE[np.float32])
