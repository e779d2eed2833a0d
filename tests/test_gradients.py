"""Finite-difference gradient checks in float64: every layer, activation, regularizer and loss, and whole models.

Each check compares the hand-written backward pass with central differences of a scalar objective: for a
layer, sum(y * R) with a fixed random R (so backprop receives dy = R), plus the weight penalty when the
layer has regularizers; for a loss and a model, the mean loss over the batch.
"""
from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_gradients_close, numerical_gradient, numpy_backend, softmax  # noqa: F401

import gpunn
from gpunn import losses, regularizers
from gpunn.layers import Activation, BatchNormalization, Dense, Dropout, Flatten, LayerNormalization
from gpunn.ops.workspace import Workspace
from gpunn.trainer.plan import make_plan, run_forward

B, F, U = 5, 7, 3  # batch, features, units: small and odd
ACTIVATIONS = ["linear", "relu", "leaky_relu", "elu", "gelu", "sigmoid", "tanh", "softmax", "silu", "swish"]
KINKED = {"relu", "leaky_relu", "elu"}  # non-differentiable (or with a jump in f'') at 0


def build(layer, input_shape=(F,)):
    """A float64 model around one layer, built; returns the (bound) layer."""
    model = gpunn.Sequential([gpunn.Input(shape=input_shape, dtype="float64"), layer])
    if not model.built:
        model.build()
    assert model.params.dtype == np.float64
    return layer


def layer_objective(layer, x, R, training=True):
    """sum(forward(x) * R) plus the layer's weight penalty: the scalar whose gradient backprop(R) computes."""
    y, _ = layer.forward(x, training)
    penalty = np.zeros((), dtype=np.float64)
    layer.regularization_penalty(penalty)
    return float((np.asarray(y) * R).sum() + penalty)


def analytic(layer, x, R, training=True):
    """(dx, {weight name: gradient}) from the layer's own backward pass with dy = R, plus the weight penalties'
    gradients, which the model adds after backward."""
    y, backprop = layer.forward(x, training)
    dx = backprop(R.copy(), True)
    layer.add_regularization_gradients()
    return np.array(dx), {name: np.array(g) for name, g in layer.bound.grads.items()}


def check_layer(layer, x, rng, training=True, rtol=1e-6):
    y, _ = layer.forward(x.copy(), training)
    R = rng.standard_normal(np.shape(y))
    dx, grads = analytic(layer, x.copy(), R, training)
    x_work = x.copy()
    numeric_dx = numerical_gradient(lambda xx: layer_objective(layer, xx, R, training), x_work)
    assert_gradients_close(dx, numeric_dx, rtol=rtol, what=f"{layer.name} dx")
    for name, grad in grads.items():
        weight = layer.bound.weights[name]
        numeric = numerical_gradient(lambda _: layer_objective(layer, x, R, training), weight)
        assert_gradients_close(grad, numeric, rtol=rtol, what=f"{layer.name} d{name}")
    return dx, grads


def inputs_away_from_kinks(layer, rng, shape=(B, F)):
    """Inputs whose pre-activations are all at least 1e-3 from 0 (finite differences need smoothness)."""
    for _ in range(100):
        x = rng.standard_normal(shape)
        w = layer.bound.weights
        z = x @ w["kernel"] + (w["bias"] if "bias" in w else 0.0) if "kernel" in w else x
        if np.abs(z).min() > 1e-3:
            return x
    raise AssertionError("could not draw inputs away from the kinks")


# ---- Dense ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("use_bias", [True, False], ids=["bias", "no_bias"])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_dense_gradients(activation, use_bias, rng):
    layer = build(Dense(U, activation=activation, use_bias=use_bias, dtype="float64"))
    if use_bias:  # a non-zero bias, so the bias gradient is exercised away from the initial zeros
        layer.bound.weights["bias"][...] = rng.uniform(-0.5, 0.5, U)
    x = inputs_away_from_kinks(layer, rng)
    _, grads = check_layer(layer, x, rng)
    assert set(grads) == ({"kernel", "bias"} if use_bias else {"kernel"})


def test_dense_gradients_on_3d_inputs(rng):
    layer = build(Dense(U, activation="tanh", dtype="float64"), input_shape=(2, F))
    layer.bound.weights["bias"][...] = rng.uniform(-0.5, 0.5, U)
    check_layer(layer, rng.standard_normal((B, 2, F)), rng)


def _away_from_zero(rng, shape):
    return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.2, 1.0, size=shape)


@pytest.mark.parametrize("activation", ["linear", "tanh", "softmax"])
@pytest.mark.parametrize("kernel_reg, bias_reg", [
    (regularizers.l1(0.03), None),
    (regularizers.l2(0.05), None),
    (regularizers.l1_l2(l1=0.02, l2=0.04), None),
    (None, regularizers.l1(0.03)),
    (None, regularizers.l2(0.05)),
    (regularizers.L1L2(l1=0.01, l2=0.02), regularizers.l1_l2(l1=0.03, l2=0.06)),
], ids=["kernel_l1", "kernel_l2", "kernel_l1_l2", "bias_l1", "bias_l2", "both_l1_l2"])
def test_dense_regularized_gradients(kernel_reg, bias_reg, activation, rng):
    """The gradient backprop writes is d(sum(y * R) + penalty): the penalty's gradient is included."""
    layer = build(Dense(U, activation=activation, kernel_regularizer=kernel_reg, bias_regularizer=bias_reg,
                        dtype="float64"))
    # l1 is not differentiable at 0: every weight at least 0.2 away from it.
    layer.bound.weights["kernel"][...] = _away_from_zero(rng, (F, U))
    layer.bound.weights["bias"][...] = _away_from_zero(rng, (U,))
    x = rng.standard_normal((B, F))
    _, grads = check_layer(layer, x, rng)
    # And the penalty really contributes: without it the kernel/bias gradient differs by d(penalty).
    w = {k: np.array(v) for k, v in layer.bound.weights.items()}
    for name, reg in (("kernel", kernel_reg), ("bias", bias_reg)):
        if reg is None:
            continue
        expected_penalty = reg.l1 * np.abs(w[name]).sum() + reg.l2 * (w[name] ** 2).sum()
        assert expected_penalty > 0
        penalty = np.zeros((), dtype=np.float64)
        reg.penalty(layer.ops, Workspace(layer.ops), w[name], penalty)
        assert float(penalty) == pytest.approx(expected_penalty, rel=1e-12)


# ---- weightless layers ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_activation_layer_gradients(activation, rng):
    layer = build(Activation(activation, dtype="float64"))
    x = inputs_away_from_kinks(layer, rng)
    dx, grads = check_layer(layer, x, rng)
    assert grads == {}


def test_activation_layer_gradients_on_3d_inputs(rng):
    layer = build(Activation("softmax", dtype="float64"), input_shape=(2, F))
    check_layer(layer, rng.standard_normal((B, 2, F)), rng)


def test_flatten_gradients(rng):
    layer = build(Flatten(dtype="float64"), input_shape=(2, 3, 4))
    x = rng.standard_normal((B, 2, 3, 4))
    y, _ = layer.forward(x, True)
    assert y.shape == (B, 24)
    np.testing.assert_array_equal(y, x.reshape(B, 24))
    dx, _ = check_layer(layer, x, rng)
    assert dx.shape == x.shape


def test_flatten_then_dense_gradients(rng):
    """Flatten passes gradients through to the input shape when a weighted layer follows it."""
    model = gpunn.Sequential([gpunn.Input(shape=(2, 3), dtype="float64"), Flatten(dtype="float64"),
                              Dense(U, activation="tanh", dtype="float64")])
    flatten, dense = model.layers
    x = rng.standard_normal((B, 2, 3))
    R = rng.standard_normal((B, U))

    def objective(xx):
        h, _ = flatten.forward(xx, True)
        y, _ = dense.forward(h, True)
        return (y * R).sum()

    h, back_flatten = flatten.forward(x, True)
    _, back_dense = dense.forward(h, True)
    dx = back_flatten(back_dense(R.copy(), True), True)
    assert_gradients_close(dx, numerical_gradient(objective, x.copy()), what="Flatten+Dense dx")


@pytest.mark.parametrize("rate", [0.25, 0.5])
def test_dropout_gradient_is_the_mask_scaled(rate, rng):
    layer = build(Dropout(rate, seed=11, dtype="float64"), input_shape=(40, F))
    x = rng.uniform(0.5, 1.5, (B, 40, F)) * rng.choice([-1, 1], (B, 40, F))  # never 0: the mask shows in y
    y, backprop = layer.forward(x, True)
    mask = np.asarray(y) != 0
    assert 0 < mask.sum() < mask.size
    # About `rate` of the elements dropped (binomial, 1400 draws: well within 5 standard deviations).
    sd = np.sqrt(rate * (1 - rate) / mask.size)
    assert abs((1 - mask.mean()) - rate) < 5 * sd
    np.testing.assert_allclose(y, x * mask / (1 - rate), rtol=1e-15)
    dy = rng.standard_normal(x.shape)
    dx = backprop(dy.copy(), True)
    np.testing.assert_allclose(dx, dy * mask / (1 - rate), rtol=1e-15)
    # The finite-difference view of the same map (the mask held fixed): y = x * mask / (1 - rate).
    numeric = numerical_gradient(lambda xx: (xx * mask / (1 - rate) * dy).sum(), x.copy())
    assert_gradients_close(dx, numeric, what="dropout dx")


def test_dropout_draws_a_new_mask_each_training_step(rng):
    layer = build(Dropout(0.5, seed=5, dtype="float64"), input_shape=(64,))
    x = np.ones((B, 64))
    first = np.asarray(layer.forward(x, True)[0]) != 0
    second = np.asarray(layer.forward(x, True)[0]) != 0
    assert not np.array_equal(first, second)


def test_dropout_inference_is_identity(rng):
    layer = build(Dropout(0.5, seed=3, dtype="float64"))
    x = rng.standard_normal((B, F))
    y, backprop = layer.forward(x, False)
    np.testing.assert_array_equal(y, x)
    dy = rng.standard_normal((B, F))
    np.testing.assert_array_equal(backprop(dy.copy(), True), dy)


# ---- normalization -------------------------------------------------------------------------------------------


def _set_scale_shift(layer, rng, moving=False):
    w = layer.bound.weights
    w["gamma"][...] = rng.uniform(0.5, 1.5, F) * rng.choice([-1, 1], F)
    w["beta"][...] = rng.standard_normal(F)
    if moving:
        w["moving_mean"][...] = rng.standard_normal(F)
        w["moving_variance"][...] = rng.uniform(0.5, 2.0, F)


def test_batch_normalization_training_gradients(rng):
    layer = build(BatchNormalization(dtype="float64"))
    _set_scale_shift(layer, rng, moving=True)
    x = rng.standard_normal((B, F)) * 2.0 + 1.0
    _, grads = check_layer(layer, x, rng, training=True)
    assert set(grads) == {"gamma", "beta"}  # the moving statistics are state, not trained


def test_batch_normalization_inference_uses_moving_statistics(rng):
    layer = build(BatchNormalization(dtype="float64", epsilon=1e-3))
    _set_scale_shift(layer, rng, moving=True)
    w = {k: np.array(v) for k, v in layer.bound.weights.items()}
    x = rng.standard_normal((B, F))
    y, _ = layer.forward(x, False)
    expected = w["gamma"] * (x - w["moving_mean"]) / np.sqrt(w["moving_variance"] + 1e-3) + w["beta"]
    np.testing.assert_allclose(y, expected, rtol=1e-12)
    # Inference must not touch the moving statistics.
    np.testing.assert_array_equal(layer.bound.weights["moving_mean"], w["moving_mean"])
    dx, _ = check_layer(layer, x, rng, training=False)
    R = np.ones((B, F))
    dx_ones, _ = analytic(layer, x, R, training=False)
    np.testing.assert_allclose(dx_ones, np.broadcast_to(w["gamma"] / np.sqrt(w["moving_variance"] + 1e-3), (B, F)),
                               rtol=1e-12)


@pytest.mark.parametrize("training", [True, False])
def test_layer_normalization_gradients(training, rng):
    layer = build(LayerNormalization(dtype="float64"))
    _set_scale_shift(layer, rng)
    x = rng.standard_normal((B, F)) * 3.0 - 1.0
    _, grads = check_layer(layer, x, rng, training=training)
    assert set(grads) == {"gamma", "beta"}


def test_layer_normalization_gradients_on_3d_inputs(rng):
    layer = build(LayerNormalization(dtype="float64"), input_shape=(2, F))
    _set_scale_shift(layer, rng)
    check_layer(layer, rng.standard_normal((B, 2, F)), rng)


# ---- losses --------------------------------------------------------------------------------------------------


def _loss_case(name, rng):
    """(loss, output, y_true, logits flag) for one loss configuration."""
    onehot = np.eye(U)[rng.integers(0, U, B)]
    labels = rng.integers(0, U, B)
    if name == "mse":
        return losses.MeanSquaredError(), rng.standard_normal((B, U)), rng.standard_normal((B, U)), False
    if name == "mae":
        out = rng.standard_normal((B, U))
        # |out - y| >= 0.1 everywhere: away from the kink of |.|
        y = out + rng.choice([-1, 1], (B, U)) * rng.uniform(0.1, 1.0, (B, U))
        return losses.MeanAbsoluteError(), out, y, False
    if name == "binary_probs":
        return losses.BinaryCrossentropy(), rng.uniform(0.05, 0.95, (B, U)), rng.uniform(0, 1, (B, U)), False
    if name == "binary_probs_hard_targets":
        return (losses.BinaryCrossentropy(), rng.uniform(0.05, 0.95, (B, U)),
                rng.integers(0, 2, (B, U)).astype(np.float64), False)
    if name == "binary_logits":
        return (losses.BinaryCrossentropy(from_logits=True), 3 * rng.standard_normal((B, U)),
                rng.uniform(0, 1, (B, U)), True)
    if name == "categorical_probs":
        return losses.CategoricalCrossentropy(), softmax(rng.standard_normal((B, U))), onehot, False
    if name == "categorical_probs_soft_targets":
        return (losses.CategoricalCrossentropy(), softmax(rng.standard_normal((B, U))),
                softmax(rng.standard_normal((B, U))), False)
    if name == "categorical_probs_unnormalized":
        # Keras rescales each row to sum to 1 first: the loss (and its gradient) sees output / sum(output).
        return losses.CategoricalCrossentropy(), rng.uniform(0.1, 1.0, (B, U)), onehot, False
    if name == "categorical_logits":
        return (losses.CategoricalCrossentropy(from_logits=True), 2 * rng.standard_normal((B, U)),
                softmax(rng.standard_normal((B, U))), True)
    if name == "sparse_probs":
        return losses.SparseCategoricalCrossentropy(), softmax(rng.standard_normal((B, U))), labels, False
    if name == "sparse_logits":
        return (losses.SparseCategoricalCrossentropy(from_logits=True), 2 * rng.standard_normal((B, U)), labels,
                True)
    raise KeyError(name)


LOSS_CASES = ["mse", "mae", "binary_probs", "binary_probs_hard_targets", "binary_logits", "categorical_probs",
              "categorical_probs_soft_targets", "categorical_probs_unnormalized", "categorical_logits",
              "sparse_probs", "sparse_logits"]


@pytest.mark.parametrize("case", LOSS_CASES)
def test_loss_gradients(case, rng, numpy_backend):
    ops = numpy_backend
    loss, output, y, logits = _loss_case(case, rng)
    per_sample, grad, _ = loss.compute(ops, Workspace(ops), output.copy(), y, 1.0 / B, logits)
    assert per_sample.shape == (B,)
    ws = Workspace(ops)

    def mean_loss(out):
        return loss.compute(ops, ws, out.copy(), y, 1.0 / B, logits, need_grad=False)[0].mean()

    numeric = numerical_gradient(mean_loss, output.copy())
    assert_gradients_close(grad, numeric, what=f"{case} d loss / d output")


@pytest.mark.parametrize("case", ["mse", "binary_logits", "sparse_logits"])
def test_loss_gradient_scales_with_grad_scale(case, rng, numpy_backend):
    """grad_scale multiplies the gradient (fit passes 1 / batch size, so the gradient is of the mean)."""
    loss, output, y, logits = _loss_case(case, rng)
    ops = numpy_backend
    _, g1, _ = loss.compute(ops, Workspace(ops), output.copy(), y, 1.0, logits)
    _, g2, _ = loss.compute(ops, Workspace(ops), output.copy(), y, 0.25, logits)
    np.testing.assert_allclose(g2, 0.25 * g1, rtol=1e-14)


# ---- whole models: the fused output activation + loss path ---------------------------------------------------


def _reference_loss(name, probs, y):
    """The mean loss from the model's predicted outputs, written from the definitions."""
    if name == "sparse":
        return -np.log(probs[np.arange(len(y)), y]).mean()
    if name == "categorical":
        return -(y * np.log(probs)).sum(axis=1).mean()
    if name == "binary":
        return -(y * np.log(probs) + (1 - y) * np.log(1 - probs)).mean()
    if name == "categorical_logits":
        return -(y * np.log(softmax(probs))).sum(axis=1).mean()
    if name == "mse":
        return ((probs - y) ** 2).mean()
    raise KeyError(name)


MODEL_CASES = {
    # id: (output layers, loss, targets kind, expect the fused path)
    "dense_softmax_sparse_ce": (lambda: [Dense(U, activation="softmax", dtype="float64")],
                                "sparse_categorical_crossentropy", "sparse", True),
    "dense_softmax_ce": (lambda: [Dense(U, activation="softmax", dtype="float64")], "categorical_crossentropy",
                         "categorical", True),
    "dense_sigmoid_bce": (lambda: [Dense(U, activation="sigmoid", dtype="float64")], "binary_crossentropy",
                          "binary", True),
    "activation_layer_softmax_ce": (lambda: [Dense(U, dtype="float64"), Activation("softmax", dtype="float64")],
                                    "categorical_crossentropy", "categorical", True),
    "activation_layer_sigmoid_bce": (lambda: [Dense(U, dtype="float64"), Activation("sigmoid", dtype="float64")],
                                     "binary_crossentropy", "binary", True),
    "logits_ce_from_logits": (lambda: [Dense(U, dtype="float64")],
                              lambda: losses.CategoricalCrossentropy(from_logits=True), "categorical_logits", False),
    "dense_softmax_mse_unfused": (lambda: [Dense(U, activation="softmax", dtype="float64")], "mse", "mse", False),
}


def _targets(kind, rng):
    if kind == "sparse":
        return rng.integers(0, U, B)
    if kind in ("categorical", "categorical_logits"):
        return np.eye(U)[rng.integers(0, U, B)]
    if kind == "binary":
        return rng.integers(0, 2, (B, U)).astype(np.float64)
    return rng.uniform(0, 1, (B, U))


def _model_case(case, rng, optimizer=None):
    make_tail, loss, kind, fused = MODEL_CASES[case]
    model = gpunn.Sequential([
        gpunn.Input(shape=(F,), dtype="float64"),
        Dense(4, activation="tanh", kernel_regularizer=regularizers.l2(0.01), dtype="float64"),
        LayerNormalization(dtype="float64"),
        *make_tail(),
    ])
    model.compile(optimizer=optimizer or gpunn.optimizers.SGD(0.1), loss=loss() if callable(loss) else loss)
    x = rng.standard_normal((B, F))
    y = _targets(kind, rng)
    xp, yp = model._prepare(x, y)
    model.build()
    plan = make_plan(model, sparse_labels=model._resolved_loss.sparse_labels)
    assert plan.loss_takes_logits == (fused or kind == "categorical_logits")
    if fused:  # the path under test: the loss receives logits and applies the activation itself
        assert plan.loss_takes_logits and not model._resolved_loss.from_logits
    return model, plan, x, y, xp, yp, kind


def _numeric_model_gradient(model, x, y, kind):
    def objective(_):
        probs = model.predict(x, verbose=0)
        penalty = sum(0.01 * (w ** 2).sum() for w in [model.layers[0].get_weights()[0]])
        return _reference_loss(kind, probs, y) + penalty

    return numerical_gradient(objective, model.params)


@pytest.mark.parametrize("case", list(MODEL_CASES))
def test_whole_model_gradient(case, rng):
    model, plan, x, y, xp, yp, kind = _model_case(case, rng)
    # Analytic: forward (the output activation left to the loss when fused), the loss's gradient of the mean,
    # then every layer's backprop in reverse, into the flat gradient buffer, then the weight penalties' gradients.
    output, backprops = run_forward(plan, model.ops.asarray(xp), training=True)
    _, dy, _ = model._resolved_loss.compute(model.ops, Workspace(model.ops), output, model.ops.asarray(yp), 1.0 / B,
                                  plan.loss_takes_logits)
    for index in range(len(backprops) - 1, -1, -1):
        dy = backprops[index](dy, plan.need_dx[index])
    for layer in plan.layers:
        layer.add_regularization_gradients()
    analytic_grads = np.array(model.grads)
    numeric = _numeric_model_gradient(model, x, y, kind)
    assert_gradients_close(analytic_grads, numeric, what=f"{case} d mean loss / d params")


@pytest.mark.parametrize("case", ["dense_softmax_sparse_ce", "dense_sigmoid_bce", "activation_layer_softmax_ce"])
def test_train_step_applies_sgd_to_the_true_gradient(case, rng):
    lr = 0.1
    model, plan, x, y, xp, yp, kind = _model_case(case, rng, optimizer=gpunn.optimizers.SGD(lr))
    numeric = _numeric_model_gradient(model, x, y, kind)
    before = np.array(model.params)
    model.train_on_batch(x, y)  # the whole batch: the TrainStep with grad_scale 1 / B
    assert_gradients_close(np.array(model.grads), numeric, what=f"{case} grads after a training step")
    np.testing.assert_allclose(np.array(model.params), before - lr * numeric, rtol=1e-9, atol=1e-10)
    assert model.optimizer.iterations == 1
