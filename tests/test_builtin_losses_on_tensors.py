"""Built-in losses inside a loss of one's own: ``keras.losses.binary_crossentropy(y_true, y_pred)`` or
``keras.losses.Huber()(y_true, y_pred)`` on the Tensors gpunn differentiates (``gpunn/loss_tensors.py``). Training
with such losses equals Keras 3's on the same weights and batches (Keras itself, in a subprocess on its jax
backend), eager and replayed, and their gradients equal float64 finite differences."""
from __future__ import annotations

import numpy as np
import pytest

import gpunn
from helpers import numpy_backend, run_keras  # noqa: F401  (fixture)

LOSSES = '''
def bce_plus_penalty(y_true, y_pred):
    return keras.losses.BinaryCrossentropy()(y_true, y_pred) + 0.05 * keras.ops.mean(keras.ops.square(y_pred))


def dice_bce(y_true, y_pred):
    overlap = keras.ops.sum(y_true * y_pred)
    dice = 1.0 - (2.0 * overlap + 1.0) / (keras.ops.sum(y_true) + keras.ops.sum(y_pred) + 1.0)
    return keras.losses.binary_crossentropy(y_true, y_pred) + dice


def mse_and_huber(y_true, y_pred):
    return keras.losses.mean_squared_error(y_true, y_pred) + 0.5 * keras.losses.Huber(delta=0.5)(y_true, y_pred)


def sparse_with_entropy(y_true, y_pred):
    entropy = -keras.ops.sum(y_pred * keras.ops.log(y_pred + 1e-7), axis=-1)
    return keras.losses.sparse_categorical_crossentropy(y_true, y_pred) - 0.1 * entropy


def logits_and_kl(y_true, y_pred):
    probabilities = keras.ops.softmax(y_pred, axis=-1)
    return (keras.losses.CategoricalCrossentropy(from_logits=True)(y_true, y_pred)
            + 0.3 * keras.losses.KLDivergence()(keras.ops.ones_like(y_true) / 3.0, probabilities))
'''

CASES = {  # loss: (output activation, targets)
    "bce_plus_penalty": ("sigmoid", "binary"), "dice_bce": ("sigmoid", "binary"),
    "mse_and_huber": ("linear", "real"), "sparse_with_entropy": ("softmax", "ids"),
    "logits_and_kl": ("linear", "one_hot"),
}

RUN = '''
x = np.asarray(task["x"], "float32")
results = {}
for name, (activation, targets) in CASES.items():
    y = np.asarray(task[targets], "int32" if targets == "ids" else "float32")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(5, activation="tanh"),
                              keras.layers.Dense(3, activation=activation)])
    model.set_weights([np.asarray(w, "float32") for w in task["weights"]])
    model.compile(optimizer=keras.optimizers.SGD(0.2), loss=globals()[name], **COMPILE)
    history = model.fit(x, y, batch_size=4, epochs=3, shuffle=False, verbose=0).history
    results[name] = {"loss": [float(v) for v in history["loss"]],
                     "weights": [np.asarray(w).tolist() for w in model.get_weights()]}
'''

KERAS_SIDE = ("import json, sys\nimport numpy as np\nimport keras\ntask = json.loads(sys.stdin.read())\n"
              f"COMPILE = {{}}\nCASES = {CASES!r}\n" + LOSSES + RUN + "print(json.dumps(results))\n")


def _task():
    rng = np.random.default_rng(30)
    rows = 12
    ids = rng.integers(0, 3, rows)
    return {"x": rng.normal(size=(rows, 4)).tolist(), "binary": (rng.random((rows, 3)) < 0.5).astype(float).tolist(),
            "real": rng.normal(size=(rows, 3)).tolist(), "ids": ids.tolist(), "one_hot": np.eye(3)[ids].tolist(),
            "weights": [(0.5 * rng.normal(size=(4, 5))).tolist(), (0.1 * rng.normal(size=5)).tolist(),
                        (0.5 * rng.normal(size=(5, 3))).tolist(), (0.1 * rng.normal(size=3)).tolist()]}


@pytest.fixture(scope="module")
def keras_results():
    return run_keras(KERAS_SIDE, _task())


@pytest.mark.parametrize("jit_compile", [False, True], ids=["eager", "replayed"])
def test_losses_built_of_keras_losses_train_as_keras(numpy_backend, keras_results, jit_compile):
    namespace = {"keras": gpunn, "np": np, "task": _task(), "COMPILE": {"jit_compile": jit_compile},
                 "CASES": CASES}
    exec(LOSSES + RUN, namespace)
    for name in CASES:
        ours, theirs = namespace["results"][name], keras_results[name]
        np.testing.assert_allclose(ours["loss"], theirs["loss"], rtol=2e-5, err_msg=name)
        for a, b in zip(ours["weights"], theirs["weights"]):
            np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-6, err_msg=name)


LOSS_OBJECTS = [
    (gpunn.losses.BinaryCrossentropy(), "probabilities"), (gpunn.losses.BinaryCrossentropy(from_logits=True), "any"),
    (gpunn.losses.CategoricalCrossentropy(), "probabilities"), (gpunn.losses.MeanSquaredError(), "any"),
    (gpunn.losses.MeanAbsoluteError(), "any"), (gpunn.losses.Huber(delta=0.7), "any"),
    (gpunn.losses.LogCosh(), "any"), (gpunn.losses.KLDivergence(), "probabilities"),
    (gpunn.losses.CategoricalHinge(), "any"), (gpunn.losses.Poisson(), "positive"),
    (gpunn.losses.BinaryFocalCrossentropy(gamma=1.5), "probabilities"),
    (gpunn.losses.BinaryCrossentropy(label_smoothing=0.2), "probabilities"),
    (gpunn.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1), "any"),
]


@pytest.mark.parametrize("loss,domain", LOSS_OBJECTS, ids=[f"{type(loss).__name__}-{k}" for k, (loss, _) in
                                                          enumerate(LOSS_OBJECTS)])
def test_a_built_in_loss_on_tensors_has_the_finite_difference_gradient(loss, domain):
    from gpunn.autodiff import Tensor, gradients

    rng = np.random.default_rng(7)
    shape = (3, 4)
    raw = rng.uniform(0.1, 0.9, size=shape) if domain in ("probabilities", "positive") else rng.normal(size=shape)
    if domain == "probabilities" and isinstance(loss, (gpunn.losses.CategoricalCrossentropy,
                                                         gpunn.losses.KLDivergence)):
        raw = raw / raw.sum(axis=1, keepdims=True)
    y_true = rng.uniform(0.05, 0.95, size=shape) if domain != "any" else (rng.random(shape) < 0.5).astype(float)
    weights = rng.uniform(0.5, 1.5, size=shape[0])
    prediction = Tensor(raw.copy(), requires_grad=True)
    value = loss(y_true, prediction, sample_weight=weights)
    (analytic,) = gradients(value, [prediction], np.ones(()))
    assert float(value.value) == pytest.approx(loss(y_true, raw, sample_weight=weights), rel=1e-12)
    numeric = np.zeros(shape)
    for index in np.ndindex(shape):
        for sign in (1, -1):
            shifted = raw.copy()
            shifted[index] += sign * 1e-6
            numeric[index] += sign * loss(y_true, shifted, sample_weight=weights) / 2e-6
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-8)


def test_a_loss_function_on_tensors_keeps_the_shape_keras_gives():
    from gpunn.autodiff import Tensor

    prediction = Tensor(np.full((2, 5, 3), 0.25), requires_grad=True)
    values = gpunn.losses.mean_squared_error(np.zeros((2, 5, 3)), prediction)
    assert values.value.shape == (2, 5)
    np.testing.assert_allclose(values.value, 0.0625)
    one = gpunn.losses.binary_crossentropy(np.ones(3), Tensor(np.full(3, 0.5), requires_grad=True))
    assert one.value.shape == ()
    from gpunn.autodiff import gradients

    target, prediction = Tensor(np.zeros((2, 3)), requires_grad=True), Tensor(np.ones((2, 3)), requires_grad=True)
    d_target, d_prediction = gradients(gpunn.losses.mean_squared_error(target, prediction), [target, prediction],
                                       np.ones(2))
    np.testing.assert_allclose(d_target, -d_prediction)
    np.testing.assert_allclose(d_prediction, 2 / 3)


AUTOENCODER = '''
class AutoEncoder(keras.layers.Layer):
    """Keras's add_loss pattern: a reconstruction loss of the layer's own input, which needs a gradient (the
    layer before it trains through both the target and the prediction)."""

    def __init__(self, loss, **kwargs):
        super().__init__(**kwargs)
        self.loss_fn = loss
        self.encoder = keras.layers.Dense(2, activation="tanh")
        self.decoder = keras.layers.Dense(4, activation="sigmoid")

    def call(self, x):
        code = self.encoder(x)
        self.add_loss(0.5 * keras.ops.mean(self.loss_fn(x, self.decoder(code))))
        return code


x = np.asarray(task["x"], "float32")
results = {}
for name, loss in (("bce", keras.losses.binary_crossentropy), ("mse", keras.losses.mean_squared_error),
                   ("cce", keras.losses.CategoricalCrossentropy(label_smoothing=0.1)),
                   ("huber", keras.losses.Huber(delta=0.3))):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(4, activation="sigmoid"), AutoEncoder(loss),
                              keras.layers.Dense(1)])
    model.set_weights([np.asarray(w, "float32") for w in task["weights"]])
    model.compile(optimizer=keras.optimizers.SGD(0.3), loss="mse", **COMPILE)
    history = model.fit(x, x[:, :1], batch_size=4, epochs=3, shuffle=False, verbose=0).history
    results[name] = {"loss": [float(v) for v in history["loss"]],
                     "weights": [np.asarray(w).tolist() for w in model.get_weights()]}
'''


def _autoencoder_task():
    rng = np.random.default_rng(8)
    shapes = [(4, 4), (4,), (4, 2), (2,), (2, 4), (4,), (2, 1), (1,)]
    return {"x": rng.uniform(0.05, 0.95, (12, 4)).tolist(),
            "weights": [(0.6 * rng.normal(size=shape)).tolist() for shape in shapes]}


@pytest.mark.parametrize("jit_compile", [False, True], ids=["eager", "replayed"])
def test_a_built_in_loss_of_a_layer_s_own_input_trains_as_keras(numpy_backend, jit_compile):
    keras_side = ("import json, sys\nimport numpy as np\nimport keras\ntask = json.loads(sys.stdin.read())\n"
                  "COMPILE = {}\n" + AUTOENCODER + "print(json.dumps(results))\n")
    theirs = run_keras(keras_side, _autoencoder_task())
    namespace = {"keras": gpunn, "np": np, "task": _autoencoder_task(), "COMPILE": {"jit_compile": jit_compile}}
    exec(AUTOENCODER, namespace)
    for name, ours in namespace["results"].items():
        np.testing.assert_allclose(ours["loss"], theirs[name]["loss"], rtol=2e-5, err_msg=name)
        for a, b in zip(ours["weights"], theirs[name]["weights"]):
            np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-6, err_msg=name)


def test_a_clipped_probability_passes_no_gradient_as_keras_s_clip():
    """CategoricalCrossentropy on probabilities clips them to [1e-7, 1 - 1e-7]; where the clip is active the
    gradient is 0 (Keras's numbers for p = [1e-9, 0.3, 0.7], one-hot on the last class, smoothing 0.1)."""
    from gpunn.autodiff import Tensor, gradients

    prediction = Tensor(np.array([[1e-9, 0.3, 0.7]]), requires_grad=True)
    value = gpunn.losses.CategoricalCrossentropy(label_smoothing=0.1)(np.array([[0.0, 0.0, 1.0]]), prediction)
    (gradient,) = gradients(value, [prediction], np.ones(()))
    np.testing.assert_allclose(gradient, [[0.9666667, 0.8555556, -0.3666667]], rtol=1e-6)


def test_what_a_built_in_loss_on_tensors_refuses_it_names():
    from gpunn.autodiff import Tensor

    with pytest.raises(ValueError, match="axis=1 on y_pred of rank 3"):
        gpunn.losses.binary_crossentropy(np.ones((2, 3, 4)), Tensor(np.full((2, 3, 4), 0.5), requires_grad=True),
                                         axis=1)
    with pytest.raises(ValueError, match=r"class ids in \[0, 3\), got values from -1 to 3"):
        gpunn.losses.sparse_categorical_crossentropy(np.array([3, -1, 2]),
                                                     Tensor(np.full((3, 3), 1 / 3), requires_grad=True))
    with pytest.raises(TypeError, match="stop_gradient"):
        gpunn.losses.KLDivergence()(Tensor(np.full((2, 3), 0.3), requires_grad=True), np.full((2, 3), 0.3))


def test_keras_s_call_of_a_built_in_loss_and_a_function_loss_on_tensors():
    from gpunn.autodiff import Tensor

    y_true, y_pred = np.array([[0.0, 1.0], [1.0, 1.0]]), np.array([[0.2, 0.6], [0.9, 0.4]])
    per_sample = gpunn.losses.BinaryCrossentropy().call(y_true, y_pred)  # Keras's LossFunctionWrapper.call
    np.testing.assert_allclose(per_sample, gpunn.losses.binary_crossentropy(y_true, y_pred))

    class Doubled(gpunn.losses.MeanSquaredError):
        def call(self, y_true, y_pred):
            return 2.0 * super().call(y_true, y_pred)

    assert float(Doubled()(y_true, y_pred)) == pytest.approx(2 * gpunn.losses.MeanSquaredError()(y_true, y_pred))
    wrapped = gpunn.losses.as_loss(lambda t, p: gpunn.ops.mean(gpunn.ops.abs(t - p), axis=-1))
    value = wrapped(y_true, Tensor(y_pred, requires_grad=True))
    assert float(value.value) == pytest.approx(gpunn.losses.MeanAbsoluteError()(y_true, y_pred))


SPARSITY_REGULARIZER = r'''
import json
import sys

import numpy as np


def run(keras, folder):
    ops = keras.ops

    class KLDivergenceRegularizer(keras.regularizers.Regularizer):
        """"Hands-On Machine Learning" (chapter 17): a target activity for every unit, as one number."""

        def __init__(self, weight, target):
            self.weight, self.target = weight, target

        def __call__(self, inputs):
            mean_activities = ops.mean(inputs, axis=0)
            return self.weight * (keras.losses.kl_divergence(self.target, mean_activities) +
                                  keras.losses.kl_divergence(1.0 - self.target, 1.0 - mean_activities))

    x = np.linspace(0, 1, 64 * 6, dtype="float32").reshape(64, 6)
    model = keras.Sequential([
        keras.Input((6,)), keras.layers.Dense(5, activation="sigmoid", activity_regularizer=KLDivergenceRegularizer(
            0.05, 0.1)), keras.layers.Dense(6)])
    model.set_weights([np.sin(np.arange(w.size) * 0.3 + i).reshape(w.shape).astype("float32")
                       for i, w in enumerate(model.get_weights())])
    model.compile(loss="mse", optimizer=keras.optimizers.SGD(0.1))
    history = model.fit(x, x, epochs=3, batch_size=16, shuffle=False, verbose=0)
    standalone = [float(np.asarray(keras.losses.kl_divergence(0.1, [0.2, 0.3]))),
                  float(np.asarray(keras.losses.mean_squared_error(0.1, [0.2, 0.4])))]
    return {"loss": history.history["loss"], "standalone": standalone,
            "weights": [w.tolist() for w in model.get_weights()]}
'''


def test_a_target_of_one_number_broadcasts_as_in_keras(tmp_path_factory):
    """Keras's loss functions broadcast their targets to the predictions' shape: the book's sparsity regularizer
    gives one target activity for every unit."""
    from helpers import run_script_both_ways

    ours, theirs = run_script_both_ways(SPARSITY_REGULARIZER, tmp_path_factory)
    for key in ("loss", "standalone"):
        np.testing.assert_allclose(ours[key], theirs[key], rtol=1e-5, err_msg=key)
    for mine, expected in zip(ours["weights"], theirs["weights"]):
        np.testing.assert_allclose(mine, expected, rtol=1e-5, atol=1e-6)


def test_a_broadcast_target_gets_the_sum_of_its_values_gradients():
    from gpunn.autodiff import Tensor, gradients

    rng = np.random.default_rng(3)
    predicted = rng.uniform(0.1, 0.9, size=(3, 4))
    for loss in (gpunn.losses.MeanSquaredError(), gpunn.losses.BinaryCrossentropy()):
        for shape in ((), (1, 4), (3, 1)):
            raw = rng.uniform(0.2, 0.8, size=shape)
            target = Tensor(raw.copy(), requires_grad=True)
            (analytic,) = gradients(loss(target, predicted), [target], np.ones(()))
            numeric = np.zeros(shape)
            for index in np.ndindex(shape):
                for sign in (1, -1):
                    shifted = raw.copy()
                    shifted[index] += sign * 1e-6
                    numeric[index] += sign * float(loss(shifted, predicted)) / 2e-6
            np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-9, err_msg=f"{loss.name} {shape}")
    with pytest.raises(ValueError, match=r"MeanSquaredError expected targets of the predictions' shape \(3, 4\) "
                                         r"\(or one that broadcasts to it\), got targets of shape \(2,\)"):
        gpunn.losses.mean_squared_error(np.ones(2), Tensor(predicted, requires_grad=True))
    # (Keras normalizes the targets before spreading them, which gives similarities outside [-1, 1])
    for target in (0.3, np.ones((3, 1))):
        with pytest.raises(ValueError, match=r"CosineSimilarity takes targets of the predictions' shape \(3, 4\)"):
            gpunn.losses.cosine_similarity(target, predicted)
    np.testing.assert_allclose(gpunn.losses.cosine_similarity(np.ones(4), predicted),
                               gpunn.losses.cosine_similarity(np.ones((3, 4)), predicted), rtol=1e-12)
