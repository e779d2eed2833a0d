"""What Keras 3's docstring examples compute on their own, outside any model, each run by Keras itself and by gpunn:
``gpunn.ops`` results in Keras's types (int32 / float32 where NumPy would give 64 bits), handed to NumPy's functions
and operators as Keras's arrays are; an explicit mask given to Softmax; the standalone ``get``, metrics, losses and
optimizer configs those examples use; tf.keras 2's short names; and ``model.loss`` holding what compile was given."""
from __future__ import annotations

import numpy as np
import pytest

import gpunn
from helpers import numpy_backend, run_script_both_ways  # noqa: F401  (fixture)

OPS_SCRIPT = r'''
import json, os, sys
import numpy as np


def dtype(value):
    return str(np.asarray(value).dtype)


def run(keras, folder):
    ops = keras.ops
    f32 = np.array([[1.5, -2.0, 3.0], [0.5, 4.0, -1.0]], "float32")
    i32 = np.array([[1, 2, 3], [4, 0, 6]], "int32")
    b = np.array([[True, False, True], [False, True, True]])
    out = {}
    # Keras's types: Python numbers as int32 / float32, positions as int32, integers' floats as float32, an integer
    # beside a float taking the float's type, small integers summed in 32 bits
    cases = {
        "literal ints": lambda: ops.convert_to_tensor([1, 2]), "literal floats": lambda: ops.array([1.0, 2.0]),
        "arange int": lambda: ops.arange(3), "arange float": lambda: ops.arange(0.0, 1.0, 0.25),
        "argmax": lambda: ops.argmax(f32, axis=-1), "argsort": lambda: ops.argsort(f32),
        "top_k indices": lambda: ops.top_k(f32, 2)[1], "count_nonzero": lambda: ops.count_nonzero(f32),
        "sqrt int": lambda: ops.sqrt(i32), "exp int": lambda: ops.exp(i32), "divide ints": lambda: ops.divide(i32, 2),
        "add f32 i32": lambda: ops.add(f32, i32), "matmul f32 i32": lambda: ops.matmul(f32, i32.T),
        "einsum i32 f32": lambda: ops.einsum("ij,kj->ik", i32, f32),
        "concatenate": lambda: ops.concatenate([i32, f32]), "stack": lambda: ops.stack([i32, f32]),
        "where ints": lambda: ops.where(b, 1, 0), "where floats": lambda: ops.where(b, 1.0, 0.0),
        "where mixed": lambda: ops.where(b, i32, f32), "clip int float": lambda: ops.clip(i32, 0.0, 3.0),
        "sum bool": lambda: ops.sum(b), "sum int32": lambda: ops.sum(i32), "prod int32": lambda: ops.prod(i32),
        "cumsum bool": lambda: ops.cumsum(b), "floor int": lambda: ops.floor(i32), "ceil int": lambda: ops.ceil(i32),
        "mean int": lambda: ops.mean(i32), "sqrt uint8": lambda: ops.sqrt(i32.astype("uint8")),
        "exp bool": lambda: ops.exp(b), "cumsum int8": lambda: ops.cumsum(i32.astype("int8")),
        "cumprod bool": lambda: ops.cumprod(b), "add f16 literal": lambda: ops.add(f32.astype("float16"), 0.5),
    }
    for name, case in cases.items():
        value = case()
        out[name] = [dtype(value), np.asarray(value).astype("float64").tolist()]
    out["view shape"] = list(np.shape(ops.view(ops.array([1, 2, 3]), "float32")))
    # NumPy's functions and Python's operators on ops results, as on Keras's arrays
    t = ops.relu(np.array([[1.0, -2.0, 3.5]], "float32"))
    np.save(os.path.join(folder, "t.npy"), t)
    out["numpy"] = [bool(np.allclose(t, [[1.0, 0.0, 3.5]])), np.unique(t).tolist(), int(np.count_nonzero(t)),
                    np.sort(t, axis=None).tolist(), np.load(os.path.join(folder, "t.npy")).tolist(),
                    bool(np.array_equal(t, np.maximum(f32[:1] * 0 + [[1.0, -2.0, 3.5]], 0)))]
    q, r = divmod(t, 2)
    out["float operators"] = [np.asarray(v).tolist() for v in (t // 2, t % 2, 7 // (t + 1), 5 % (t + 1), q, r)]
    i = ops.convert_to_tensor(np.array([1, 2, 3, 4], "int32"))
    out["int operators"] = [np.asarray(v).tolist() for v in (i & 1, ~i, i | 8, i ^ 1, i << 1, i >> 1, 3 & i)]
    flags = ops.convert_to_tensor(np.array([True, False]))
    out["bool operators"] = [np.asarray(v).tolist() for v in (flags & True, ~flags, True | flags)]
    out["methods"] = [float(t.max()), float(t.min()), list(t.ravel().shape), list(t.flatten().shape), t.tolist(),
                      t[0, 0].item(), np.asarray(t.argmax(axis=-1)).tolist(), np.asarray(t.clip(0, 2)).tolist(),
                      list(t.squeeze().shape), np.asarray(t.copy()).tolist()]
    # Softmax given a mask on its own (keyword or Keras's second positional argument), broadcast from the last axis
    x = np.array([[-10, -5, 0.0, 5, 10], [1, 2, 3, 4, 5]], "float32")
    mask = np.array([[1, 1, 0, 1, 0], [0, 0, 0, 0, 0]], bool)
    out["softmax"] = [np.asarray(keras.layers.Softmax()(x, mask=mask)).tolist(),
                      np.asarray(keras.layers.Softmax()(x, mask)).tolist(),
                      np.asarray(keras.layers.Softmax()(x, mask=np.array([1.0, 0, 1, 0.3, 0.7], "float32"))).tolist(),
                      np.asarray(keras.layers.Softmax()(x)).tolist()]
    try:
        keras.layers.Softmax()(x, mask=np.ones((2, 3), bool))
        out["softmax bad mask"] = None
    except ValueError as error:
        out["softmax bad mask"] = "broadcastable" in str(error)
    # the activations' other forms, computed on their own
    v = np.array([[-1.0, 0.5, -3.0]], "float32")
    out["activations"] = [np.asarray(keras.activations.elu(v, alpha=0.5)).tolist(),
                          np.asarray(keras.activations.gelu(v, approximate=True)).tolist()]
    return out
'''


def test_ops_results_operators_and_masked_softmax_as_keras(tmp_path_factory):
    ours, theirs = run_script_both_ways(OPS_SCRIPT, tmp_path_factory)
    assert ours.keys() == theirs.keys()
    for key in ours:
        if key in ("softmax", "activations", "methods", "float operators"):
            np.testing.assert_allclose(_flat(ours[key]), _flat(theirs[key]), rtol=2e-6, atol=1e-7, err_msg=key)
        elif isinstance(ours[key], list) and len(ours[key]) == 2 and isinstance(ours[key][0], str):
            assert ours[key][0] == theirs[key][0], f"{key}: dtype {ours[key][0]} vs Keras's {theirs[key][0]}"
            np.testing.assert_allclose(ours[key][1], theirs[key][1], rtol=2e-6, err_msg=key)
        else:
            assert ours[key] == theirs[key], key


def _flat(nested) -> list:
    if isinstance(nested, (list, tuple)):
        return [value for item in nested for value in _flat(item)]
    return [float(nested)]


def test_clip_without_one_bound_passes_the_gradient_where_it_holds_nothing_back():
    from gpunn.autodiff import Tensor, gradients

    x = Tensor(np.array([-1.0, 0.5, 3.0]), requires_grad=True)
    for clipped, expected in ((x.clip(max=1.0), [1, 1, 0]), (x.clip(min=0.0), [0, 1, 1])):
        np.testing.assert_array_equal(gradients(clipped, [x], np.ones(3))[0], expected)
    assert gpunn.ops.exp(np.float64(1.0)).dtype == np.float64  # a NumPy scalar keeps its type


def test_numpy_functions_still_refuse_a_value_being_differentiated():
    from gpunn.autodiff import Tensor

    value = Tensor(np.ones(3, "float32"), requires_grad=True)
    with pytest.raises(TypeError, match="numpy.allclose has no gradient"):
        np.allclose(value, 1.0)


def test_a_shared_softmax_still_builds_in_a_model():
    softmax = gpunn.layers.Softmax()
    inputs = gpunn.Input((5,))
    outputs = softmax(softmax(gpunn.layers.Dense(5)(inputs)))
    assert gpunn.Model(inputs, outputs).predict(np.ones((2, 5), "float32"), verbose=0).shape == (2, 5)


OBJECTS_SCRIPT = r'''
import json, os, sys
import numpy as np


def run(keras, folder):
    out = {}
    metric = keras.metrics.get("accuracy")
    metric.update_state([[1], [2], [3], [4]], [[0], [2], [3], [4]])
    out["get accuracy"] = [type(metric).__name__, float(metric.result())]
    y_true = np.eye(3, dtype="float32")[[0, 2, 1, 2]]
    y_pred = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.3, 0.3, 0.4], [0.5, 0.1, 0.4]], "float32")
    for regressors in (1, 2):
        r2 = keras.metrics.R2Score(num_regressors=regressors)
        r2.update_state(y_true, y_pred)
        out[f"r2 {regressors}"] = float(r2.result())
    weights = np.array([1.0, 2, 0, 1])
    for loss in (keras.losses.Dice, keras.losses.Tversky):
        for reduction in ("sum", "sum_over_batch_size", "mean"):
            out[f"{loss.__name__} {reduction}"] = [float(loss(reduction=reduction)(y_true, y_pred)),
                                                   float(loss(reduction=reduction)(y_true, y_pred, weights))]
        out[f"{loss.__name__} none weighted"] = np.asarray(loss(reduction="none")(y_true, y_pred, weights)).tolist()
    # optimizers made from the configs Keras writes (loss_scale_factor included), and writing Keras's keys
    for name in ("SGD", "Adam", "AdamW", "RMSprop", "Nadam", "Lion", "Adagrad"):
        optimizer = getattr(keras.optimizers, name)(learning_rate=0.5)
        out[f"{name} config"] = sorted(optimizer.get_config())
    out["serialized metric function"] = keras.metrics.serialize(keras.metrics.binary_accuracy)
    out["regularizer by class name config"] = {  # (Keras's factor is the float32 value: rounded here)
        key: round(value, 6) if isinstance(value, float) else value
        for key, value in keras.regularizers.get("OrthogonalRegularizer").get_config().items()}
    iterations = keras.optimizers.Adam().iterations
    out["iterations config"] = [str(iterations.dtype).startswith("int"), list(iterations.shape)]  # (int32 on jax)
    out["model config classes"] = [issubclass(keras.Sequential, keras.Model), isinstance(keras.Sequential(), keras.Model)]
    # model.loss: what compile was given, in files and clones too
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer="sgd", loss="mean_squared_error")
    model.fit(np.ones((4, 3)), np.ones((4, 2)), verbose=0)
    model.save(os.path.join(folder, "m.keras"))
    out["loaded loss"] = keras.models.load_model(os.path.join(folder, "m.keras")).loss
    # compiled again without a loss: keeps it (Keras's file of such a model then holds none; gpunn's holds it)
    model.compile(optimizer=keras.optimizers.SGD(0.01))
    out["model.loss"] = model.loss
    return out
'''


def test_standalone_objects_as_keras(tmp_path_factory):
    ours, theirs = run_script_both_ways(OBJECTS_SCRIPT, tmp_path_factory)
    assert ours.keys() == theirs.keys()
    for key in ours:
        if key.startswith(("r2", "Dice", "Tversky")):
            np.testing.assert_allclose(ours[key], theirs[key], rtol=1e-5, err_msg=key)
        else:
            assert ours[key] == theirs[key], key


def test_own_model_classes_hold_their_own_instances():
    class Own(gpunn.Model):
        def call(self, x):
            return x

    assert issubclass(Own, gpunn.Model) and not issubclass(gpunn.Sequential, Own)
    assert isinstance(Own(), gpunn.Model) and not isinstance(gpunn.Sequential(), Own)


def test_a_loss_given_targets_of_another_size_says_so():
    with pytest.raises(ValueError, match=r"y_true, y_pred: MeanSquaredError expected targets of the predictions' "
                                         r"shape \(2, 3\) \(or one that broadcasts to it\), got targets of shape "
                                         r"\(2, 2\)"):
        gpunn.losses.MeanSquaredError()(np.zeros((2, 2)), np.zeros((2, 3)))
    assert gpunn.metrics.get(gpunn.metrics.serialize(gpunn.metrics.binary_accuracy)).name == "binary_accuracy"


def test_optimizers_take_the_configs_keras_writes():
    config = {"name": "adam", "learning_rate": 0.001, "weight_decay": None, "clipnorm": None,
              "global_clipnorm": None, "clipvalue": None, "use_ema": False, "ema_momentum": 0.99,
              "ema_overwrite_frequency": None, "loss_scale_factor": None, "gradient_accumulation_steps": None,
              "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-07, "amsgrad": False}
    adam = gpunn.optimizers.Adam.from_config(config)
    assert adam.get_config() == config
    assert gpunn.optimizers.deserialize({"class_name": "Adam", "config": {**config, "loss_scale_factor": 128.0}}) \
        .get_config()["loss_scale_factor"] == 128.0
    with pytest.raises(ValueError, match="loss_scale_factor: expected a positive number"):
        gpunn.optimizers.SGD(loss_scale_factor=-1)


def test_the_short_names_of_tf_keras_2():
    from gpunn import losses, metrics

    y_true, y_pred = np.array([[0.2, 0.7]]), np.array([[0.3, 0.5]])
    for short, full in (("mse", "mean_squared_error"), ("mae", "mean_absolute_error"),
                        ("mape", "mean_absolute_percentage_error"), ("msle", "mean_squared_logarithmic_error"),
                        ("kld", "kl_divergence")):
        for module in (losses, metrics):
            assert getattr(module, short) is getattr(module, full) is getattr(module, short.upper())
    assert metrics.logcosh is metrics.log_cosh and metrics.kullback_leibler_divergence is metrics.kl_divergence
    np.testing.assert_allclose(metrics.mse(y_true, y_pred), [0.025])
    assert losses.Reduction.SUM == "sum" and losses.Reduction.all() == ("auto", "none", "sum", "sum_over_batch_size")
    with pytest.raises(ValueError, match="Invalid Reduction Key"):
        losses.Reduction.validate("total")
    model = gpunn.Sequential([gpunn.Input((2,)), gpunn.layers.Dense(2)])
    model.compile(optimizer="sgd", loss=losses.MeanSquaredError(reduction=losses.Reduction.SUM_OVER_BATCH_SIZE),
                  metrics=[metrics.mae])
    assert list(model.fit(y_true, y_pred, verbose=0).history) == ["loss", "mean_absolute_error"]


def test_tensorflow_activation_functions_become_kerass_activations(numpy_backend, tmp_path):
    """``Dense(128, activation=tf.nn.relu)`` (the DeepLearning.AI courses): TensorFlow's functions by their names."""
    def tensorflow_function(name: str, module: str):
        def function(x):
            raise AssertionError("gpunn computes the activation itself")
        function.__name__, function.__module__ = name, module
        return function

    pairs = [("relu", "tensorflow.python.ops.gen_nn_ops", "relu"),
             ("softmax_v2", "tensorflow.python.ops.nn_ops", "softmax"),
             ("swish", "tensorflow.python.ops.nn_impl", "silu"),
             ("tanh", "tensorflow.python.ops.gen_math_ops", "tanh")]
    for name, module, ours in pairs:
        assert gpunn.activations.get(tensorflow_function(name, module)).name == ours
    relu = tensorflow_function("relu", "tensorflow.python.ops.gen_nn_ops")
    model = gpunn.Sequential([gpunn.Input((3,)), gpunn.layers.Dense(4, activation=relu),
                              gpunn.layers.Dense(2, activation=tensorflow_function("softmax_v2", "tensorflow.nn"))])
    named = gpunn.models.clone_model(model)
    assert named.layers[0].get_config()["activation"] == "relu"
    named.set_weights(model.get_weights())
    x = np.random.default_rng(0).standard_normal((5, 3)).astype("float32")
    np.testing.assert_array_equal(model.predict(x, verbose=0), named.predict(x, verbose=0))
    # another library's function of those names is a function of the user's, called as it is
    own = tensorflow_function("relu", "somewhere_else")
    assert gpunn.activations.get(own).function is own


KEPT_VALUES_SCRIPT = r'''
import json, os, sys
import numpy as np


def run(keras, folder):
    ops = keras.ops
    out = {}
    # a metric's result of several thresholds is a value of its moment, in History and evaluate's returns too
    counts = keras.metrics.FalseNegatives(thresholds=[0.3, 0.7])
    counts.update_state([1, 1, 0], [0.5, 0.9, 0.1])
    first = counts.result()
    counts.update_state([1, 1], [0.1, 0.2])
    counts.reset_state()
    out["result kept"] = np.asarray(first).tolist()
    x = np.linspace(-1, 1, 24, dtype="float32").reshape(12, 2)
    y = (x[:, :1] > 0).astype("float32")
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, activation="sigmoid",
                                                                      kernel_initializer="ones")])
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss="binary_crossentropy",
                  metrics=[keras.metrics.TruePositives(thresholds=[0.4, 0.6], name="tp")])
    kept = []
    snapshots = [keras.ops.convert_to_numpy(model.layers[0].kernel), np.asarray(model.layers[0].kernel)]
    keep = keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: kept.append(logs))
    history = model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0, callbacks=[keep])
    out["history tp"] = np.asarray(history.history["tp"]).tolist()
    out["kept batch losses"] = [round(float(logs["loss"]), 5) for logs in kept]
    out["snapshots"] = [np.asarray(s).ravel().tolist() for s in snapshots]
    first = model.evaluate(x, y, verbose=0, return_dict=True)
    model.evaluate(x[:4], y[:4], verbose=0)
    out["evaluate kept"] = np.asarray(first["tp"]).tolist()
    # Python numbers given to ops are Keras's float32, and so is what they make with float32 arrays
    out["python floats"] = [str(np.asarray(v).dtype) for v in (
        ops.exp(1.0), ops.sqrt(2.0), ops.mean([1.0, 2.0]), ops.multiply(x, ops.log(2.0)), ops.sum([1, 2]))]

    # a Loss subclass's call() values, reduced as they come when the loss is called on its own
    class SquaredError(keras.losses.Loss):
        def call(self, y_true, y_pred):
            return ops.square(y_true - y_pred)

    y_true = np.zeros((4, 2), "float32")
    y_pred = np.array([[1, 2], [3, 4], [0, 0], [1, 1]], "float32")
    weights = np.array([[1.0], [1.0], [0.0], [2.0]], "float32")
    for reduction in (None, "sum", "sum_over_batch_size", "mean_with_sample_weight"):
        value = SquaredError(reduction=reduction)(y_true, y_pred, sample_weight=weights)
        out[f"loss {reduction}"] = [list(np.shape(value)), np.asarray(value).ravel().tolist()]
    return out
'''


def test_values_read_are_kept_as_they_were_as_keras(tmp_path_factory):
    """History, evaluate's returns, batch logs a callback keeps and weight snapshots hold the values of their
    moment; Python numbers in ops are float32; a Loss's call() values are reduced as they come."""
    ours, theirs = run_script_both_ways(KEPT_VALUES_SCRIPT, tmp_path_factory)
    assert ours.keys() == theirs.keys()
    for key in ours:
        if key == "python floats":
            assert ours[key] == theirs[key]
        else:
            np.testing.assert_allclose(_flat(ours[key]), _flat(theirs[key]), rtol=1e-5, atol=1e-6, err_msg=key)
        if key.startswith("loss"):
            assert ours[key][0] == theirs[key][0], key


def test_batch_logs_nobody_keeps_are_never_read(numpy_backend, monkeypatch):
    from gpunn.trainer import running_metrics

    reads = []
    resolve = running_metrics.LazyLogs._resolve
    monkeypatch.setattr(running_metrics.LazyLogs, "_resolve", lambda self: reads.append(1) or resolve(self))
    model = gpunn.Sequential([gpunn.Input((2,)), gpunn.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    model.fit(np.ones((16, 2)), np.ones((16, 1)), batch_size=4, epochs=2, verbose=0)
    model.evaluate(np.ones((16, 2)), np.ones((16, 1)), batch_size=4, verbose=0)
    assert reads == []


def test_a_weight_per_sample_weighs_each_samples_values():
    """Keras broadcasts (samples,) weights against a loss's (samples, units) values, and fails (or, with as many
    units as samples, weighs the units): gpunn weighs each sample's values."""
    class SquaredError(gpunn.losses.Loss):
        def call(self, y_true, y_pred):
            return gpunn.ops.square(y_true - y_pred)

    y_pred = np.array([[1.0, 2.0], [3.0, 4.0], [0.5, 0.5]])
    weights = np.array([1.0, 0.0, 2.0])
    expected = (y_pred ** 2 * weights[:, None]).sum()
    assert float(SquaredError(reduction="sum")(np.zeros((3, 2)), y_pred, sample_weight=weights)) == \
        pytest.approx(expected)
    assert gpunn.ops.convert_to_tensor(np.float64(2.5)).dtype == np.float64
