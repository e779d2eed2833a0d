"""User-written losses and metrics (functions, Loss and Metric subclasses, MeanMetricWrapper, saved files, clones)
and the ops they use behave as in Keras 3, checked against Keras itself or by hand / finite differences."""
from __future__ import annotations

import numpy as np
import pytest

import gpunn
from gpunn import layers, ops
from gpunn.autodiff import Tensor, gradients
from gpunn.autodiff import functions as F
from helpers import numerical_gradient, numpy_backend, run_keras  # noqa: F401 (numpy_backend: autouse fixture)


def _grad(function, x):
    """d sum(function(x)) / d x by gpunn's reverse mode."""
    t = Tensor(np.array(x, dtype=np.float64), requires_grad=True)
    out = function(t)
    (g,) = gradients(out, [t], np.ones(out.shape))
    return g


def _numeric(function, x):
    x = np.array(x, dtype=np.float64)
    return numerical_gradient(lambda v: float(np.sum(function(Tensor(v)).value)), x)


# ---- gpunn.ops functions ------------------------------------------------------------------------------------------

def test_prod_gradient_with_a_zero_factor_is_the_product_of_the_others():
    """The gradient of prod with respect to a factor is the product of the other factors, also where a factor
    is 0, as in TF and JAX."""
    x = np.array([[0.0, 2.0, 3.0], [1.5, -2.0, 0.5]])
    got = _grad(lambda t: F.prod(t, axis=-1), x)
    np.testing.assert_allclose(got, [[6.0, 0.0, 0.0], [-1.0, 0.75, -3.0]], rtol=1e-12)
    np.testing.assert_allclose(got, _numeric(lambda t: F.prod(t, axis=-1), x), rtol=1e-6, atol=1e-8)


def test_dot_of_an_n_d_array_sums_over_the_last_axis():
    """keras.ops.dot of an N-D array sums over its last axis and x2's last (1-D) or second-to-last (M-D) axis,
    as numpy.dot."""
    a = np.arange(24.0).reshape(2, 3, 4)
    v = np.arange(4.0)
    b = np.arange(20.0).reshape(4, 5)
    np.testing.assert_allclose(F.dot(a, v).value, np.dot(a, v))
    np.testing.assert_allclose(F.dot(a, b).value, np.dot(a, b))


def test_matmul_gradient_of_a_vector_times_a_stack_of_matrices():
    """The gradient of x (3,) @ B (2, 3, 4) with respect to x sums each stack member's contribution and matches
    finite differences."""
    stack = np.random.default_rng(0).normal(size=(2, 3, 4))
    x = np.array([1.0, 2.0, 3.0])
    function = lambda t: F.matmul(t, stack)  # noqa: E731
    np.testing.assert_allclose(_grad(function, x), _numeric(function, x), rtol=1e-6)


def test_norm_with_ord_2_of_a_matrix_is_its_spectral_norm():
    """keras.ops.norm(x, ord=2) of a matrix (axis None) is its largest singular value, not the Frobenius norm."""
    assert float(F.norm(np.array([[3.0, 0.0], [0.0, 4.0]]), ord=2).value) == pytest.approx(4.0)


# ---- losses written by the user -----------------------------------------------------------------------------------

def _classifier(units=4, inputs=3, seed=1):
    gpunn.utils.set_random_seed(seed)
    return gpunn.Sequential([gpunn.Input(shape=(inputs,)), layers.Dense(units, activation="softmax")])


def _sparse_data(rows=16, classes=4):
    rng = np.random.default_rng(0)
    return rng.normal(size=(rows, 3)).astype("float32"), rng.integers(0, classes, size=(rows, 1))


def test_a_loss_function_trains_on_class_ids():
    """A loss function of class ids (y of shape (samples,)) trains and evaluates against a softmax output,
    as in Keras."""
    def sparse_ce(y_true, y_pred):
        return ops.sparse_categorical_crossentropy(y_true, y_pred)

    x, y = _sparse_data()
    model = _classifier()
    model.compile(optimizer="sgd", loss=sparse_ce)
    loss = model.evaluate(x, y[:, 0], batch_size=16, verbose=0)
    p = model.predict(x, verbose=0).astype(np.float64)
    assert loss == pytest.approx(-np.log(p[np.arange(len(y)), y[:, 0]]).mean(), rel=1e-5)
    model.fit(x, y[:, 0], epochs=1, batch_size=8, verbose=0)


def test_a_loss_function_takes_targets_of_another_width_than_the_output():
    """A loss function receives y_true as given, whatever its width (here (samples, 2) against a one-unit
    output: a target and a weight), as in Keras."""
    def weighted_squares(y_true, y_pred):
        return ops.mean(y_true[:, 1:] * ops.square(y_true[:, :1] - y_pred), axis=-1)

    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 3)).astype("float32")
    y = np.stack([rng.normal(size=16), rng.uniform(0.5, 2.0, 16)], axis=1).astype("float32")
    gpunn.utils.set_random_seed(1)
    model = gpunn.Sequential([gpunn.Input(shape=(3,)), layers.Dense(1)])
    model.compile(optimizer="sgd", loss=weighted_squares)
    loss = model.evaluate(x, y, verbose=0)
    p = model.predict(x, verbose=0)[:, 0]
    assert loss == pytest.approx((y[:, 1] * (y[:, 0] - p) ** 2).mean(), rel=1e-5)


def test_a_loss_called_on_its_own_takes_class_ids():
    """A loss function wrapped as a Loss, and a Loss subclass, called directly on class ids and probabilities
    compute the sparse cross-entropy, as in Keras."""
    def sparse_ce(y_true, y_pred):
        return ops.sparse_categorical_crossentropy(y_true, y_pred)

    class SparseCE(gpunn.losses.Loss):
        def call(self, y_true, y_pred):
            return ops.sparse_categorical_crossentropy(y_true, y_pred)

    ids = np.array([0, 2, 1])
    p = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.25, 0.5, 0.25]])
    expected = -np.log(p[np.arange(3), ids]).mean()
    assert gpunn.losses.as_loss(sparse_ce)(ids, p) == pytest.approx(expected, rel=1e-6)
    assert SparseCE()(ids, p) == pytest.approx(expected, rel=1e-6)


def test_a_subclass_of_a_built_in_loss_with_its_own_call():
    """A subclass of a built-in loss (here MeanSquaredError) that overrides call() is computed by its own call(),
    as in Keras."""
    class DoubledAbsolute(gpunn.losses.MeanSquaredError):
        def call(self, y_true, y_pred):
            return ops.mean(ops.abs(y_true - y_pred), axis=-1) * 2.0

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(16, 3)).astype("float32"), rng.normal(size=(16, 2)).astype("float32")
    gpunn.utils.set_random_seed(1)
    model = gpunn.Sequential([gpunn.Input(shape=(3,)), layers.Dense(2)])
    model.compile(optimizer="sgd", loss=DoubledAbsolute())
    loss = model.evaluate(x, y, verbose=0)
    assert loss == pytest.approx((np.abs(y - model.predict(x, verbose=0)).mean(axis=-1) * 2).mean(), rel=1e-5)


def test_a_loss_subclass_takes_keras_s_constructor_arguments():
    """Loss.__init__ takes Keras's arguments (name=None, reduction=..., dtype=None): a subclass may pass dtype
    on, or its name positionally."""
    class Absolute(gpunn.losses.Loss):
        def __init__(self, name="absolute", **kwargs):
            super().__init__(name=name, **kwargs)

        def call(self, y_true, y_pred):
            return ops.abs(y_true - y_pred)

    class Positional(gpunn.losses.Loss):
        def __init__(self):
            super().__init__("positional")

        def call(self, y_true, y_pred):
            return ops.abs(y_true - y_pred)

    assert Absolute(dtype="float32").name == "absolute"
    assert Positional().name == "positional"


# ---- metrics written by the user ----------------------------------------------------------------------------------

class TruePositives(gpunn.metrics.Metric):
    """The CategoricalTruePositives metric from Keras's guide to writing metrics."""

    def __init__(self, name="categorical_true_positives", **kwargs):
        super().__init__(name=name, **kwargs)
        self.true_positives = self.add_variable(shape=(), name="ctp", initializer="zeros")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = ops.reshape(ops.argmax(y_pred, axis=1), (-1, 1))
        values = ops.cast(ops.cast(y_true, "int32") == ops.cast(y_pred, "int32"), "float32")
        self.true_positives.assign_add(ops.sum(values))

    def result(self):
        return self.true_positives


class SmallestError(gpunn.metrics.Metric):
    """The smallest per-sample error seen: reset_state starts it high (not at 0)."""

    def __init__(self, name="smallest_error", **kwargs):
        super().__init__(name=name, **kwargs)
        self.low = self.add_variable(shape=(), name="low", initializer="zeros")

    def update_state(self, y_true, y_pred, sample_weight=None):
        error = ops.max(ops.abs(ops.cast(y_true, "float32") - y_pred), axis=-1)
        self.low.assign(ops.minimum(self.low, ops.min(error)))

    def result(self):
        return self.low

    def reset_state(self):
        self.low.assign(1e9)


def test_a_metric_subclass_sees_class_ids_of_shape_samples_by_1_as_given():
    """With class ids y of shape (samples, 1), a Metric subclass's update_state receives y_true in that shape,
    so the guide's true-positives metric counts the correct predictions, as in Keras."""
    x, y = _sparse_data()
    model = _classifier()
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=[TruePositives()])
    logs = model.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    hits = int((model.predict(x, verbose=0).argmax(axis=1) == y[:, 0]).sum())
    assert logs["categorical_true_positives"] == hits


def test_a_metric_function_sees_class_ids_of_shape_samples_by_1_as_given():
    def hit(y_true, y_pred):  # y_true (samples, 1), as Keras gives it
        return ops.cast(ops.equal(ops.cast(ops.squeeze(y_true, axis=-1), "int64"), ops.argmax(y_pred, axis=-1)),
                        "float32")

    x, y = _sparse_data()
    model = _classifier()
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=[hit])
    logs = model.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    assert logs["hit"] == pytest.approx((model.predict(x, verbose=0).argmax(axis=1) == y[:, 0]).mean())


def test_evaluate_starts_a_metric_subclass_from_its_own_reset_state():
    """evaluate and fit call every metric's reset_state() before they start, so a metric's own initial state
    (here a minimum starting at 1e9) is used, as in Keras."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(16, 3)).astype("float32"), rng.normal(size=(16, 2)).astype("float32")
    gpunn.utils.set_random_seed(1)
    model = gpunn.Sequential([gpunn.Input(shape=(3,)), layers.Dense(2)])
    model.compile(optimizer="sgd", loss="mse", metrics=[SmallestError()])
    logs = model.evaluate(x, y, batch_size=8, verbose=0, return_dict=True)
    smallest = np.abs(y - model.predict(x, verbose=0)).max(axis=-1).min()
    assert logs["smallest_error"] == pytest.approx(smallest, rel=1e-6)
    model.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    logs = model.evaluate(x, y, batch_size=8, verbose=0, return_dict=True)
    assert logs["smallest_error"] == pytest.approx(np.abs(y - model.predict(x, verbose=0)).max(axis=-1).min(),
                                                   rel=1e-6)


def test_a_mean_subclass_with_its_own_update_state_compiles():
    """A subclass of keras.metrics.Mean whose update_state(y_true, y_pred) computes the values it averages
    compiles and reports their mean, as in Keras."""
    class MeanAbsolute(gpunn.metrics.Mean):
        def update_state(self, y_true, y_pred, sample_weight=None):
            values = ops.mean(ops.abs(y_true - y_pred), axis=-1)
            return super().update_state(values, sample_weight=sample_weight)

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(16, 3)).astype("float32"), rng.normal(size=(16, 2)).astype("float32")
    gpunn.utils.set_random_seed(1)
    model = gpunn.Sequential([gpunn.Input(shape=(3,)), layers.Dense(2)])
    model.compile(optimizer="sgd", loss="mse", metrics=[MeanAbsolute(name="mean_absolute")])
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    assert logs["mean_absolute"] == pytest.approx(np.abs(y - model.predict(x, verbose=0)).mean(), rel=1e-5)


def test_mean_metric_wrapper_on_its_own_keeps_the_shapes_it_is_given():
    """keras.metrics.MeanMetricWrapper(fn).update_state hands fn y_true and y_pred in the shapes given,
    including N-D predictions and class ids."""
    rowwise_max = gpunn.metrics.MeanMetricWrapper(lambda t, p: ops.max(ops.abs(t - p), axis=-1))
    rowwise_max.update_state(np.zeros((2, 2, 3)), np.arange(12.0).reshape(2, 2, 3))
    assert float(rowwise_max.result()) == pytest.approx(6.5)
    hits = gpunn.metrics.MeanMetricWrapper(
        lambda t, p: ops.cast(ops.equal(ops.cast(t, "int64"), ops.argmax(p, axis=-1)), "float32"))
    hits.update_state(np.array([0, 1, 1]), np.eye(3))
    assert float(hits.result()) == pytest.approx(2 / 3)


def test_a_mean_metric_wrapper_given_twice_is_copied_without_a_lookup_by_name():
    """A MeanMetricWrapper of an unregistered function given in both metrics and weighted_metrics works for
    both, without looking the function up by name."""
    def error(y_true, y_pred):
        return ops.mean(ops.abs(y_true - y_pred), axis=-1)

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(16, 3)).astype("float32"), rng.normal(size=(16, 2)).astype("float32")
    w = rng.uniform(0.5, 2.0, 16).astype("float32")
    gpunn.utils.set_random_seed(1)
    model = gpunn.Sequential([gpunn.Input(shape=(3,)), layers.Dense(2)])
    wrapper = gpunn.metrics.MeanMetricWrapper(error, name="error")
    model.compile(optimizer="sgd", loss="mse", metrics=[wrapper], weighted_metrics=[wrapper])
    logs = model.evaluate(x, y, sample_weight=w, verbose=0, return_dict=True)
    per_sample = np.abs(y - model.predict(x, verbose=0)).mean(axis=-1)
    assert logs["error"] == pytest.approx(per_sample.mean(), rel=1e-5)
    assert logs["weighted_error"] == pytest.approx((w * per_sample).sum() / w.sum(), rel=1e-5)


# ---- files and clones ---------------------------------------------------------------------------------------------

def _mean_power(y_true, y_pred, power=2.0):
    return ops.mean(ops.abs(y_true - y_pred) ** power, axis=-1)


@pytest.mark.parametrize("suffix", ["keras", "h5"])
def test_a_mean_metric_wrapper_comes_back_from_a_file(tmp_path, suffix):
    """A MeanMetricWrapper(fn, name=..., **kwargs) saved and loaded with custom_objects keeps its name and
    kwargs, and the loaded model evaluates as the original."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(16, 3)).astype("float32"), rng.normal(size=(16, 2)).astype("float32")
    gpunn.utils.set_random_seed(1)
    model = gpunn.Sequential([gpunn.Input(shape=(3,)), layers.Dense(2)])
    model.compile(optimizer="sgd", loss="mse",
                  metrics=[gpunn.metrics.MeanMetricWrapper(_mean_power, name="cubed", power=3.0)])
    expected = model.evaluate(x, y, verbose=0, return_dict=True)
    assert expected["cubed"] == pytest.approx((np.abs(y - model.predict(x, verbose=0)) ** 3).mean(), rel=1e-5)
    model.save(tmp_path / f"m.{suffix}")
    loaded = gpunn.models.load_model(tmp_path / f"m.{suffix}", custom_objects={"_mean_power": _mean_power})
    assert loaded.evaluate(x, y, verbose=0, return_dict=True) == pytest.approx(expected, rel=1e-6)


def test_clone_model_keeps_a_lambda_loss_apart_from_a_lambda_metric():
    """clone_model compiles the clone with the original's lambda loss, kept apart from a lambda metric of the
    same name "<lambda>"."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(16, 3)).astype("float32"), rng.normal(size=(16, 2)).astype("float32")
    gpunn.utils.set_random_seed(1)
    model = gpunn.Sequential([gpunn.Input(shape=(3,)), layers.Dense(2)])
    model.compile(optimizer="sgd", loss=lambda t, p: ops.mean(ops.square(t - p), axis=-1),
                  metrics=[lambda t, p: ops.mean(ops.abs(t - p), axis=-1)])
    expected = model.evaluate(x, y, verbose=0, return_dict=True)
    clone = gpunn.models.clone_model(model)
    clone.set_weights(model.get_weights())
    assert clone.evaluate(x, y, verbose=0, return_dict=True)["loss"] == pytest.approx(expected["loss"], rel=1e-6)


# ---- against Keras itself (one subprocess) ------------------------------------------------------------------------

SCRIPT = '''
def definitions(keras):
    ops = keras.ops

    def sparse_ce(y_true, y_pred):
        return ops.sparse_categorical_crossentropy(y_true, y_pred)

    class TruePositives(keras.metrics.Metric):
        def __init__(self, name="categorical_true_positives", **kwargs):
            super().__init__(name=name, **kwargs)
            self.true_positives = self.add_variable(shape=(), name="ctp", initializer="zeros")

        def update_state(self, y_true, y_pred, sample_weight=None):
            y_pred = ops.reshape(ops.argmax(y_pred, axis=1), (-1, 1))
            values = ops.cast(ops.cast(y_true, "int32") == ops.cast(y_pred, "int32"), "float32")
            self.true_positives.assign_add(ops.sum(values))

        def result(self):
            return ops.convert_to_tensor(self.true_positives)

    class SmallestError(keras.metrics.Metric):
        def __init__(self, name="smallest_error", **kwargs):
            super().__init__(name=name, **kwargs)
            self.low = self.add_variable(shape=(), name="low", initializer="zeros")

        def update_state(self, y_true, y_pred, sample_weight=None):
            error = ops.max(ops.abs(ops.cast(y_true, "float32") - y_pred), axis=-1)
            self.low.assign(ops.minimum(self.low, ops.min(error)))

        def result(self):
            return ops.convert_to_tensor(self.low)

        def reset_state(self):
            self.low.assign(1e9)

    return sparse_ce, TruePositives, SmallestError


def run(keras, x, y, initial):
    sparse_ce, TruePositives, SmallestError = definitions(keras)
    model = keras.Sequential([keras.Input(shape=(3,)), keras.layers.Dense(4, activation="softmax")])
    model.set_weights(initial)
    model.compile(optimizer="sgd", loss=sparse_ce, metrics=[TruePositives(), SmallestError()])
    history = model.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    return {"history": {k: [float(v) for v in values] for k, values in history.history.items()},
            "evaluate": {k: float(v) for k, v in model.evaluate(x, y, batch_size=8, verbose=0,
                                                                return_dict=True).items()}}
'''

KERAS_SIDE = SCRIPT + r'''
import json, sys
import numpy as np
import keras
task = json.loads(sys.stdin.read())
x, y = np.array(task["x"], dtype="float32"), np.array(task["y"], dtype="int64")
print(json.dumps(run(keras, x, y, [np.array(w, dtype="float32") for w in task["initial"]])))
'''


def test_a_sparse_loss_function_and_metric_subclasses_train_as_in_keras():
    """A loss function of class ids of shape (samples, 1), the guide's true-positives metric and a metric with
    its own reset_state train and evaluate as in Keras 3."""
    x, y = _sparse_data()
    initial = _classifier().get_weights()
    namespace: dict = {}
    exec(SCRIPT, namespace)
    theirs = run_keras(KERAS_SIDE, {"x": x.tolist(), "y": y.tolist(), "initial": [w.tolist() for w in initial]})
    ours = namespace["run"](gpunn, x, y, initial)
    assert sorted(ours["history"]) == sorted(theirs["history"])
    for key, values in theirs["history"].items():
        np.testing.assert_allclose(ours["history"][key], values, rtol=1e-4, atol=1e-6, err_msg=key)
    assert ours["evaluate"] == pytest.approx(theirs["evaluate"], rel=1e-4, abs=1e-6)


NAMES_SCRIPT = r'''
import json, sys
import numpy as np


def error(y_true, y_pred):
    return keras.ops.mean(keras.ops.abs(y_true - y_pred), axis=-1)


def run(module, folder):
    global keras
    keras = module

    class ShiftedError(module.metrics.MeanMetricWrapper):
        def __init__(self, name=None):
            super().__init__(error, name=name)

    names = [module.metrics.MeanMetricWrapper(error).name, module.metrics.MeanMetricWrapper(error).name,
             module.metrics.MeanMetricWrapper(error, name="given").name, ShiftedError().name]
    model = module.Sequential([module.Input((2,)), module.layers.Dense(1)])
    model.compile("sgd", "mse", metrics=[error])
    history = model.fit(np.ones((4, 2), "float32"), np.ones((4, 1), "float32"), verbose=0)
    return {"names": names, "logs": sorted(history.history)}
'''


def test_an_unnamed_mean_metric_wrapper_is_named_as_keras_names_it(tmp_path_factory):
    """Keras's auto_name: 'mean_metric_wrapper', '_1' after it; a subclass by its class; compile's wrapper of a
    function by the function."""
    from helpers import run_script_both_ways

    ours, theirs = run_script_both_ways(NAMES_SCRIPT, tmp_path_factory)
    assert ours == theirs
    assert theirs["names"][2:] == ["given", "shifted_error"] and theirs["logs"] == ["error", "loss"]
