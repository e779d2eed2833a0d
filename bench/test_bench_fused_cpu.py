"""The fused steps on the CPU: NumPy twin against its compiled (Numba) version, per step, shape and dtype.

    OPENBLAS_NUM_THREADS=1 python -m pytest bench/test_bench_fused_cpu.py --benchmark-only -q
    ... -k "float32 and 512x1024"        one slice of the table

Each twin/compiled pair shares a benchmark group, so pytest-benchmark prints them side by side. Shapes: a
small batch (128x128, where the twins' per-ufunc overhead decides) and a larger one (512x1024, where passes
over memory decide). Outputs are written to separate buffers, so repeated calls see the same inputs (an
in-place backward would shrink dy call after call into subnormal numbers and time those).
"""
import numpy as np
import pytest

from gpunn.kernels import (
    ACTIVATIONS,
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
pytestmark = pytest.mark.skipif(compiled is None, reason="Numba is not installed: nothing compiled to compare")

SHAPES = [(128, 128), (512, 1024)]
DTYPES = [np.float32, np.float64]
VARIANTS = ["twin", "compiled"]
TWINS = {
    "bias_act_forward": bias_act_forward_numpy,
    "act_backward_bias_grad": act_backward_bias_grad_numpy,
    "softmax": softmax_numpy,
    "softmax_xent": softmax_xent_numpy,
    "sigmoid_bce": sigmoid_bce_numpy,
    "dropout_forward": dropout_forward_numpy,
    "dropout_backward": dropout_backward_numpy,
}

shape_ids = pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
dtype_ids = pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
variant_ids = pytest.mark.parametrize("variant", VARIANTS)


def _step(name, variant):
    return TWINS[name] if variant == "twin" else getattr(compiled, name)


def _group(step, shape, dtype):
    return f"{step} {'x'.join(map(str, shape))} {np.dtype(dtype).name}"


def _normal(rng, shape, dtype, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(dtype)


@pytest.fixture(scope="module", autouse=True)
def warmed_up():
    for dtype in DTYPES:
        compiled.warm_up(dtype)


@pytest.mark.parametrize("activation", ACTIVATIONS)
@shape_ids
@dtype_ids
@variant_ids
def test_bias_act_forward(run_benchmark, rng, variant, dtype, shape, activation):
    step = _step("bias_act_forward", variant)
    z, out = _normal(rng, shape, dtype, 2.0), np.empty(shape, dtype)
    bias = _normal(rng, shape[1:], dtype, 1e-6)  # z accumulates the bias call after call: keep the drift small
    run_benchmark(lambda: step(z, bias, activation, out), group=_group(f"forward {activation}", shape, dtype))


@pytest.mark.parametrize("activation", ACTIVATIONS)
@shape_ids
@dtype_ids
@variant_ids
def test_act_backward_bias_grad(run_benchmark, rng, variant, dtype, shape, activation):
    step = _step("act_backward_bias_grad", variant)
    z, dy = _normal(rng, shape, dtype, 2.0), _normal(rng, shape, dtype)
    y = bias_act_forward_numpy(z.copy(), None, activation, np.empty(shape, dtype))
    dz, dbias = np.empty(shape, dtype), np.empty(shape[1], dtype)
    run_benchmark(lambda: step(dy, y, z, activation, dz, dbias),
                  group=_group(f"backward+dbias {activation}", shape, dtype))


@shape_ids
@dtype_ids
@variant_ids
def test_softmax(run_benchmark, rng, variant, dtype, shape):
    step = _step("softmax", variant)
    logits, out = _normal(rng, shape, dtype, 4.0), np.empty(shape, dtype)
    run_benchmark(lambda: step(logits, out), group=_group("softmax", shape, dtype))


@pytest.mark.parametrize("labels", ["sparse", "dense"])
@shape_ids
@dtype_ids
@variant_ids
def test_softmax_xent(run_benchmark, rng, variant, dtype, shape, labels):
    step = _step("softmax_xent", variant)
    logits = _normal(rng, shape, dtype, 4.0)
    classes = rng.integers(0, shape[1], shape[0])
    target = classes if labels == "sparse" else np.eye(shape[1], dtype=dtype)[classes]
    probs, dlogits, loss = np.empty(shape, dtype), np.empty(shape, dtype), np.empty(shape[0], dtype)
    run_benchmark(lambda: step(logits, target, probs, dlogits, loss, 1.0 / shape[0]),
                  group=_group(f"softmax_xent {labels}", shape, dtype))


@shape_ids
@dtype_ids
@variant_ids
def test_sigmoid_bce(run_benchmark, rng, variant, dtype, shape):
    step = _step("sigmoid_bce", variant)
    logits, targets = _normal(rng, shape, dtype, 4.0), rng.integers(0, 2, shape).astype(dtype)
    probs, dlogits, loss = np.empty(shape, dtype), np.empty(shape, dtype), np.empty(shape[0], dtype)
    run_benchmark(lambda: step(logits, targets, probs, dlogits, loss, 1.0 / shape[0]),
                  group=_group("sigmoid_bce", shape, dtype))


@shape_ids
@dtype_ids
@variant_ids
def test_dropout_forward(run_benchmark, rng, variant, dtype, shape):
    step = _step("dropout_forward", variant)
    x, out, mask = _normal(rng, shape, dtype), np.empty(shape, dtype), np.empty(shape, np.uint8)
    run_benchmark(lambda: step(x, 0.3, 1234, 7, out, mask), group=_group("dropout_forward", shape, dtype))


@shape_ids
@dtype_ids
@variant_ids
def test_dropout_backward(run_benchmark, rng, variant, dtype, shape):
    step = _step("dropout_backward", variant)
    dy, dx, mask = _normal(rng, shape, dtype), np.empty(shape, dtype), np.empty(shape, np.uint8)
    dropout_forward_numpy(dy.copy(), 0.3, 1234, 7, np.empty(shape, dtype), mask)
    run_benchmark(lambda: step(dy, mask, 0.3, dx), group=_group("dropout_backward", shape, dtype))
