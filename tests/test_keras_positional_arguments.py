"""Arguments passed by position bind as in Keras 3 (its signatures are the specification), and Keras 3's keyword
spellings are taken: a script passing them gets Keras's numbers, not another parameter silently set. Where
tf.keras 2 ordered them otherwise (compile's metrics, Sequential's name, Metric's name), its order is told apart
by the values' types. Each case runs under Keras and gpunn."""
from __future__ import annotations

import inspect

import numpy as np
import pytest
from helpers import numpy_backend, run_script_both_ways  # noqa: F401  (fixture)

import gpunn
from gpunn.beyond_mlps import LeftOutError

POSITIONAL = r'''
import json, os, sys
import numpy as np


def run(keras, folder):
    x = (np.arange(24, dtype="float32").reshape(8, 3) / 10)
    y = x.sum(axis=1, keepdims=True)
    out = {}

    def model(*layers):
        return keras.Sequential([keras.Input((3,)), *layers])

    # Dense's eighth argument is activity_regularizer, its ninth kernel_constraint
    dense = keras.layers.Dense(1, None, True, "ones", "zeros", None, None, keras.regularizers.L2(0.1),
                               keras.constraints.NonNeg())
    m = model(dense)
    m.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    out["dense_loss"] = m.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0).history["loss"]
    out["dense_kernel"] = np.asarray(dense.kernel).ravel().tolist()
    out["dense_objects"] = [type(dense.activity_regularizer).__name__, type(dense.kernel_constraint).__name__,
                            dense.bias_constraint is None]
    # evaluate(x, y, batch_size, verbose, sample_weight, steps)
    out["evaluate_steps"] = m.evaluate(x + 1, y, 4, 0, None, 1)
    # Sequential(layers, trainable)
    frozen = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)], False)
    out["sequential_trainable"] = [frozen.trainable, len(frozen.trainable_weights)]
    # BatchNormalization(axis, momentum, epsilon, center, scale), LayerNormalization(axis, epsilon)
    bn, ln = keras.layers.BatchNormalization(-1, 0.9, 0.5, True, False), keras.layers.LayerNormalization(-1, 0.25)
    out["normalization"] = [bn.epsilon, bn.momentum, bn.scale, ln.epsilon]
    # the optimizers' base arguments after their own: Adam's weight_decay, AdamW's betas, Muon's clipvalue
    adam = keras.optimizers.Adam(1e-3, 0.9, 0.999, 1e-7, False, 0.01, 1.0)
    adamw = keras.optimizers.AdamW(1e-3, 0.01, 0.8)
    muon = keras.optimizers.Muon(1e-3, 0.9, 0.999, 0.004, 1e-7, 0.004, None, 0.5)
    out["optimizers"] = [adam.weight_decay, adam.clipnorm, adamw.weight_decay, adamw.beta_1, muon.clipvalue,
                         muon.exclude_embeddings]
    # compile(optimizer, loss, loss_weights, metrics)
    m = model(keras.layers.Dense(1, kernel_initializer="ones"))
    m.compile("sgd", "mse", 2.0, ["mae"])
    out["compile_weights"] = m.evaluate(x, y, verbose=0)
    # Metric(dtype, name), InputLayer(shape, batch_size, dtype, sparse)
    metric, unnamed_dtype = keras.metrics.Metric("float32", "my_metric"), keras.metrics.Metric(None, "mine")
    out["metric"] = [metric.name, metric.dtype, unnamed_dtype.name, unnamed_dtype.dtype]
    out["input_layer"] = keras.layers.InputLayer((3,), None, "float64", False).dtype
    return out
'''

KEYWORDS = r'''
import json, os, sys
import numpy as np


def run(keras, folder):
    out = {}
    out["ops"] = [bool(keras.ops.convert_to_numpy(keras.ops.equal(x1=1, x2=1))),
                  bool(keras.ops.convert_to_numpy(keras.ops.isnan(x=1.0))),
                  keras.ops.convert_to_numpy(keras.ops.map(f=lambda v: v * 2, xs=keras.ops.ones((3,)))).tolist()]
    out["to_categorical"] = keras.utils.to_categorical(x=[0, 2], num_classes=3).tolist()
    dense = keras.layers.Dense(2)
    dense.build((None, 3))
    dense.set_weights(weights=[np.ones((3, 2)), np.zeros(2)])
    out["set_weights"] = np.asarray(dense.kernel).tolist()
    # (de)serialization: keyword names and custom_objects
    init = keras.initializers.deserialize(keras.initializers.serialize(initializer=keras.initializers.Constant(3.0)),
                                          custom_objects={})
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5)
    again = keras.optimizers.schedules.deserialize(
        keras.optimizers.schedules.serialize(learning_rate_schedule=schedule), custom_objects={})
    adam = keras.optimizers.Adam.from_config(keras.optimizers.Adam(learning_rate=schedule).get_config(),
                                             custom_objects={})
    metric = keras.metrics.deserialize(keras.metrics.serialize(keras.metrics.AUC(name="auc")), custom_objects={})
    loss = keras.losses.deserialize(name=keras.losses.serialize(keras.losses.MeanSquaredError()))
    regularizer = keras.regularizers.serialize(regularizer=keras.regularizers.L2(0.5))
    with keras.saving.CustomObjectScope(custom_objects={"twice": lambda v: v * 2}):
        found = keras.saving.get_custom_objects() is not None
    out["serialization"] = [np.asarray(init((2,))).tolist(), float(again(10)),
                            adam.get_config()["learning_rate"]["class_name"],
                            metric.name, getattr(loss, "__name__", type(loss).__name__), regularizer["config"],
                            found]
    return out
'''


def _close(ours, theirs):
    """Equal, numbers to float32 rounding (the computations' order differs)."""
    if isinstance(ours, dict):
        return ours.keys() == theirs.keys() and all(_close(ours[k], theirs[k]) for k in ours)
    if isinstance(ours, list):
        return len(ours) == len(theirs) and all(_close(a, b) for a, b in zip(ours, theirs))
    if isinstance(ours, float) and isinstance(theirs, (int, float)):
        return bool(np.isclose(ours, theirs, rtol=2e-5, atol=1e-7))
    return ours == theirs


def test_positional_arguments_bind_as_keras_s(tmp_path_factory):
    ours, theirs = run_script_both_ways(POSITIONAL, tmp_path_factory)
    for key in theirs:
        assert _close(ours[key], theirs[key]), (key, ours[key], theirs[key])


def test_keras_s_keyword_spellings_are_taken(tmp_path_factory):
    ours, theirs = run_script_both_ways(KEYWORDS, tmp_path_factory)
    for key in theirs:
        assert _close(ours[key], theirs[key]), (key, ours[key], theirs[key])


@pytest.mark.parametrize("name", ["SGD", "RMSprop", "Adagrad", "Adam", "AdamW", "Adamax", "Adadelta", "Nadam",
                                  "Ftrl", "Lion", "Lamb", "Adafactor", "Muon"])
def test_every_optimizer_takes_the_base_arguments_by_position_after_its_own(name):
    """An optimizer's positional arguments are Keras's: its own, then weight_decay and clipnorm (AdamW and Muon
    have weight_decay among their own; Muon clipnorm too)."""
    cls = getattr(gpunn.optimizers, name)
    own = [p for p in list(inspect.signature(cls.__init__).parameters.values())[1:]
           if p.kind is p.POSITIONAL_OR_KEYWORD]
    names, values = [p.name for p in own], [p.default for p in own]
    if "weight_decay" not in names:
        made = cls(*values, 0.125, 0.5)
    elif "clipnorm" in names:
        values[names.index("weight_decay")], values[names.index("clipnorm")] = 0.125, 0.5
        made = cls(*values)
    else:
        values[names.index("weight_decay")] = 0.125
        made = cls(*values, 0.5)
    assert (made.weight_decay, made.clipnorm) == (0.125, 0.5)


def test_tf_keras_2_orders_are_told_apart_by_the_values(numpy_backend):
    """tf.keras 2 passed compile's metrics third, Sequential's name second and Metric's name first."""
    model = gpunn.Sequential([gpunn.Input((3,)), gpunn.layers.Dense(1)], "named")
    model.compile("sgd", "mse", ["mae"])
    assert model.name == "named" and model.trainable
    assert model.metric_identifiers == ["mae"]
    assert (gpunn.metrics.Mean("running", "float64").name, gpunn.metrics.Mean("running").dtype) == (
        "running", "float32")


CALL_ARGUMENTS = r'''
import json, os, sys
import numpy as np


def run(keras, folder):
    class Scaled(keras.Model):
        def __init__(self, rate=0.5):
            super().__init__()
            self.hidden = keras.layers.Dense(3, kernel_initializer="ones")
            self.dropout = keras.layers.Dropout(rate)
            self.head = keras.layers.Dense(1, kernel_initializer="ones")

        def call(self, inputs, factor=2.0, training=None, return_hidden=False):
            hidden = self.hidden(inputs)
            if return_hidden:
                return hidden
            return self.head(self.dropout(hidden, training=training)) * factor

    x = np.arange(6, dtype="float32").reshape(2, 3) / 4
    model = Scaled()
    out = {"first": np.asarray(model(x, factor=3.0)).tolist(), "plain": np.asarray(model(x)).tolist(),
           "hidden": np.asarray(model(x, return_hidden=True)).tolist(),
           "inference": np.asarray(model(x, factor=0.5, training=False)).tolist(), "weights": len(model.weights)}
    model = Scaled(rate=0.0)  # (the same masks in both)
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, np.ones((2, 1), "float32"), epochs=2, verbose=0)
    out["trained_hidden"] = np.asarray(model(x, return_hidden=True)).tolist()
    try:
        model(x, unknown=1)
    except TypeError as error:
        out["unknown"] = "'unknown'" in str(error)
    return out
'''


def test_a_subclassed_model_passes_arguments_on_to_call_as_keras_does(tmp_path_factory):
    """``model(x, return_hidden=True)``: Keras passes arguments other than inputs, training and mask on to
    call(); gpunn runs call() itself with them (its graph is call() with its defaults)."""
    ours, theirs = run_script_both_ways(CALL_ARGUMENTS, tmp_path_factory)
    assert ours.keys() == theirs.keys() and ours["unknown"] and ours["weights"] == 4
    for key in ours:
        np.testing.assert_allclose(ours[key], theirs[key], rtol=1e-5, err_msg=key)


@pytest.mark.parametrize("call, message", [
    (lambda model, x: model(gpunn.Input((3,)), factor=3.0),
     r"keyword argument\(s\) \['factor'\]: gpunn's models take their inputs"),
    (lambda model, x: model(x, x), r"2 positional inputs"),
])
def test_a_model_called_with_arguments_it_cannot_take_says_what_it_takes(numpy_backend, call, message):
    class Scaled(gpunn.Model):
        def __init__(self):
            super().__init__()
            self.dense = gpunn.layers.Dense(1)

        def call(self, inputs, factor=2.0):
            return self.dense(inputs) * factor

    with pytest.raises(TypeError, match=message):
        call(Scaled(), np.ones((2, 3), "float32"))


def test_ops_sub_namespaces_say_which_names_gpunn_leaves_out():
    with pytest.raises(LeftOutError, match="keras.ops.max_pool: gpunn trains multilayer perceptrons"):
        gpunn.ops.nn.max_pool(np.ones((1, 4, 4, 1)), 2)
    with pytest.raises(AttributeError, match="module 'gpunn.ops.image' has no attribute 'ssim'"):
        gpunn.ops.image.ssim


TRAINING_PASSED_DOWN = r'''
import json, os, sys
import numpy as np


def run(keras, folder):
    class Normalized(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(4, kernel_initializer="ones")
            self.norm = keras.layers.BatchNormalization()

        def call(self, inputs, flag=False):  # no training: Keras's call context hands it to the layers
            return self.norm(self.dense(inputs))

    class FrozenBase(keras.Model):
        def __init__(self):
            super().__init__()
            self.base = keras.layers.BatchNormalization()
            self.dense = keras.layers.Dense(4, kernel_initializer=keras.initializers.Constant(0.3))
            self.head = keras.layers.BatchNormalization()

        def call(self, inputs, scale=1.0):
            hidden = self.base(inputs, training=False)  # a mode given: the layers after it take it (the context)
            return self.head(self.dense(hidden)) * scale

    x = np.arange(8, dtype="float32").reshape(2, 4) / 4
    model = Normalized()
    model(x)
    out = {"training": np.asarray(model(x, training=True, flag=True)).tolist()}
    out["moving_mean"] = np.asarray(model.norm.moving_mean).tolist()
    out["inference"] = np.asarray(model(x, training=False, flag=True)).tolist()
    frozen = FrozenBase()
    frozen(x)
    out["after_frozen_base"] = np.asarray(frozen(x, training=True, scale=2.0)).tolist()
    out["head_mean"] = np.asarray(frozen.head.moving_mean).tolist()
    return out
'''


def test_a_keyword_call_hands_training_to_the_layers_as_keras_s_call_context(tmp_path_factory):
    ours, theirs = run_script_both_ways(TRAINING_PASSED_DOWN, tmp_path_factory)
    for key in ("training", "moving_mean", "inference", "after_frozen_base", "head_mean"):
        np.testing.assert_allclose(ours[key], theirs[key], rtol=1e-5, atol=1e-6, err_msg=key)


def test_a_call_with_an_argument_without_default_says_why_it_needs_one(numpy_backend):
    class Scaled(gpunn.Model):
        def __init__(self):
            super().__init__()
            self.dense = gpunn.layers.Dense(1)

        def call(self, inputs, scale, training=None):
            return self.dense(inputs) * scale

    with pytest.raises(TypeError, match=r"Scaled.call: its argument\(s\) \['scale'\] after the inputs have no default"):
        Scaled()(np.ones((2, 3), "float32"), scale=2.0)
