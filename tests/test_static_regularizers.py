"""Weight penalties as static steps: penalty and gradient written into given buffers, allocation-free after the
first call; values against the Keras formula in float64, gradients against central differences."""
from __future__ import annotations

import numpy as np
import pytest
from allocations import count_step_allocations, describe
from helpers import assert_gradients_close, numerical_gradient, numpy_backend  # noqa: F401

import gpunn
from gpunn import layers, regularizers
from gpunn.ops.recording import Recording
from gpunn.ops.workspace import Workspace

REGULARIZERS = {
    "l1": lambda: regularizers.l1(0.03),
    "l2": lambda: regularizers.l2(0.05),
    "l1_l2": lambda: regularizers.l1_l2(l1=0.02, l2=0.04),
    "none": lambda: regularizers.L1L2(0.0, 0.0),
}


def _weights(rng, shape=(7, 5), dtype=np.float64):
    """Weights at least 0.2 away from 0, where l1 is not differentiable."""
    return (rng.uniform(0.2, 1.5, shape) * rng.choice([-1, 1], shape)).astype(dtype)


def _penalty(reg, w):
    return reg.l1 * np.abs(w).sum() + reg.l2 * (w * w).sum()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", list(REGULARIZERS))
def test_regularizer_is_static_and_keeps_its_numbers(name, dtype, rng, numpy_backend):
    ops, reg = numpy_backend, REGULARIZERS[name]()
    w = _weights(rng, dtype=dtype)
    ws, out, grad = Workspace(ops), np.empty((), dtype), np.ones_like(w)
    reg.penalty(ops, ws, w, out)
    reg.add_gradient(ops, ws, w, grad)
    grad[...] = 1.0
    with count_step_allocations() as events:
        reg.penalty(ops, ws, w, out)
        reg.add_gradient(ops, ws, w, grad)
    assert events == [], describe(events)
    rtol = 1e-6 if dtype == np.float32 else 1e-12
    w64 = w.astype(np.float64)
    assert float(out) == pytest.approx(_penalty(reg, w64), rel=rtol, abs=0.0)
    np.testing.assert_allclose(grad, 1.0 + reg.l1 * np.sign(w64) + 2 * reg.l2 * w64, rtol=rtol)


@pytest.mark.parametrize("name", ["l1", "l2", "l1_l2"])
def test_regularizer_gradient_matches_finite_differences(name, rng, numpy_backend):
    ops, reg = numpy_backend, REGULARIZERS[name]()
    w = _weights(rng)
    ws, out, grad = Workspace(ops), np.empty(()), np.zeros_like(w)
    reg.add_gradient(ops, ws, w, grad)

    def penalty(_):
        reg.penalty(ops, ws, w, out)
        return float(out)

    assert_gradients_close(grad, numerical_gradient(penalty, w), what=f"{name} gradient")


def test_regularizers_sharing_a_workspace_keep_their_own_constants(rng, numpy_backend):
    """Two factors and two shapes on one workspace: no constant or scratch buffer is rewritten or remade."""
    ops = numpy_backend
    cases = [(regularizers.l2(0.05), _weights(rng, (7, 5))), (regularizers.l2(0.3), _weights(rng, (5,)))]
    ws, out = Workspace(ops), np.empty(())
    for reg, w in cases:
        reg.penalty(ops, ws, w, out)
    with count_step_allocations() as events:
        values = []
        for reg, w in cases:
            reg.penalty(ops, ws, w, out)
            values.append(float(out))
    assert events == [], describe(events)
    assert values == [pytest.approx(_penalty(reg, w), rel=1e-12) for reg, w in cases]


# ---- layers ---------------------------------------------------------------------------------------------------


def _dense(dtype, **regularizer_kwargs):
    layer = layers.Dense(3, dtype=dtype, **regularizer_kwargs)
    gpunn.Sequential([gpunn.Input(shape=(5,), dtype=dtype), layer]).build()
    return layer


@pytest.mark.parametrize("dtype, out_dtype", [("float64", "float64"), ("float32", "float32"),
                                              ("float32", "float64")])
def test_layer_penalty_and_gradients_are_static(dtype, out_dtype, rng):
    kernel_reg, bias_reg = regularizers.l1_l2(l1=0.02, l2=0.04), regularizers.l1(0.03)
    layer = _dense(dtype, kernel_regularizer=kernel_reg, bias_regularizer=bias_reg)
    w, g = layer.bound.weights, layer.bound.grads
    w["kernel"][...] = _weights(rng, (5, 3))
    w["bias"][...] = _weights(rng, (3,))
    out = np.empty((), out_dtype)
    layer.regularization_penalty(out)
    layer.add_regularization_gradients()
    for grad in g.values():
        grad[...] = 0.0
    with count_step_allocations() as events:
        layer.regularization_penalty(out)
        layer.add_regularization_gradients()
    assert events == [], describe(events)
    rtol = 1e-6 if dtype == "float32" else 1e-12
    kernel, bias = (np.array(w[k], dtype=np.float64) for k in ("kernel", "bias"))
    assert float(out) == pytest.approx(_penalty(kernel_reg, kernel) + _penalty(bias_reg, bias), rel=rtol)
    np.testing.assert_allclose(g["kernel"], 0.02 * np.sign(kernel) + 0.08 * kernel, rtol=rtol)
    np.testing.assert_allclose(g["bias"], 0.03 * np.sign(bias), rtol=rtol)


def test_layer_without_regularizers_writes_a_zero_penalty():
    layer = _dense("float64")
    out = np.full((), 5.0)
    with count_step_allocations() as events:
        layer.regularization_penalty(out)
        layer.add_regularization_gradients()
    assert events == [], describe(events)
    assert float(out) == 0.0


def test_a_frozen_layer_pays_no_penalty(rng):
    """As in Keras (``Layer._get_regularization_losses`` takes ``trainable_weights``): a frozen layer's weights
    are not trained and add no penalty to the loss; a trained layer's do."""
    layer = layers.Dense(3, kernel_regularizer=regularizers.l2(0.1), trainable=False, dtype="float64")
    model = gpunn.Sequential([gpunn.Input(shape=(5,), dtype="float64"), layer])
    model.build()
    out = np.empty(())
    layer.regularization_penalty(out)
    assert float(out) == 0.0 and layer.losses == []
    layer.add_regularization_gradients()  # nothing to add to
    x = rng.standard_normal((4, 5))
    model.compile(optimizer="sgd", loss="mse")
    plain = float(np.mean((model.predict(x, verbose=0) - 1.0) ** 2))
    assert model.evaluate(x, np.ones((4, 3)), verbose=0) == pytest.approx(plain, rel=1e-12)
    trained = layers.Dense(3, kernel_regularizer=regularizers.l2(0.1), dtype="float64")
    model = gpunn.Sequential([gpunn.Input(shape=(5,), dtype="float64"), trained])
    model.compile(optimizer="sgd", loss="mse")
    plain = float(np.mean((model.predict(x, verbose=0) - 1.0) ** 2))
    penalty = 0.1 * (np.asarray(trained.kernel) ** 2).sum()
    assert model.evaluate(x, np.ones((4, 3)), verbose=0) == pytest.approx(plain + penalty, rel=1e-12)
    np.testing.assert_allclose(model.losses, [penalty], rtol=1e-12)


def test_recorded_penalty_and_gradients_replay_on_new_weights(rng):
    layer = _dense("float64", kernel_regularizer=regularizers.l1_l2(l1=0.02, l2=0.04),
                   bias_regularizer=regularizers.l2(0.1))
    out = np.empty(())
    layer.regularization_penalty(out)
    with Recording(layer.ops) as tape:
        layer.regularization_penalty(out)
        layer.add_regularization_gradients()
    w, g = layer.bound.weights, layer.bound.grads
    w["kernel"][...], w["bias"][...] = _weights(rng, (5, 3)), _weights(rng, (3,))
    for grad in g.values():
        grad[...] = 0.0
    tape.replay()
    kernel, bias = np.array(w["kernel"]), np.array(w["bias"])
    assert float(out) == pytest.approx(0.02 * np.abs(kernel).sum() + 0.04 * (kernel ** 2).sum()
                                       + 0.1 * (bias ** 2).sum(), rel=1e-12)
    np.testing.assert_allclose(g["kernel"], 0.02 * np.sign(kernel) + 0.08 * kernel, rtol=1e-12)
    np.testing.assert_allclose(g["bias"], 0.2 * bias, rtol=1e-12)


def test_keras_3_s_snake_case_regularizer_names_are_the_classes():
    """``keras.regularizers.l2`` is Keras 3's class ``L2``: given uncalled (``kernel_regularizer=regularizers.l2``,
    as "Python Machine Learning" ch14 writes it) it is made with its default factor, 0.01; ``l1_l2()`` is
    ``L1L2()``, whose factors default to 0."""
    assert regularizers.l2 is regularizers.L2 and regularizers.l1 is regularizers.L1
    assert regularizers.l1_l2 is regularizers.L1L2 and regularizers.l1_l2().get_config() == {"l1": 0.0, "l2": 0.0}
    x = np.random.default_rng(0).random((8, 3)).astype("float32")
    losses = []
    for regularizer in (regularizers.l2, regularizers.L2(0.01)):
        gpunn.utils.set_random_seed(3)
        model = gpunn.Sequential([gpunn.Input((3,)), gpunn.layers.Dense(2, kernel_regularizer=regularizer)])
        model.compile("sgd", "mse")
        losses.append(model.fit(x, x[:, :2], epochs=2, shuffle=False, verbose=0).history["loss"])
    assert losses[0] == losses[1]
