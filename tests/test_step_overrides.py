"""A model subclass's own steps and hooks (Keras's guide "Customizing what happens in fit()"): ``predict_step``
runs as Keras runs it (checked against Keras 3 itself: what each step is handed, and what predict returns);
the training and evaluation hooks, which gpunn's recorded steps do not call, are refused by name before any
work, as are a ``call()`` over a Sequential, over a model made from inputs and outputs, and over a built-in
layer (each would otherwise be ignored)."""
from __future__ import annotations

import numpy as np
import pytest

import gpunn
from gpunn import layers, ops
from gpunn.callbacks import Callback
from gpunn.overrides import OverrideNotSupportedError
from gpunn.trainer.custom_steps import TEST_HOOKS, TRAIN_HOOKS
from helpers import numpy_backend, run_keras  # noqa: F401  (fixture)


def _data(rows=10, features=3):
    rng = np.random.default_rng(4)
    return rng.normal(size=(rows, features)).astype("float32"), rng.normal(size=(rows, 1)).astype("float32")


class _Base(gpunn.Model):
    def __init__(self):
        super().__init__()
        self.dense = layers.Dense(1)

    def call(self, x):
        return self.dense(x)


def _hook(name):
    """A subclass of _Base overriding ``name`` (a method, or the ``metrics`` property) with something of its own."""
    if name == "metrics":
        member = property(lambda self: [])
    else:
        def member(self, *args, **kwargs):
            raise AssertionError(f"{name} was called")
    return type(f"Own_{name}", (_Base,), {name: member})


class _Recorder(Callback):
    def __init__(self):
        super().__init__()
        self.events = []

    def on_train_begin(self, logs=None):
        self.events.append("train_begin")

    def on_test_begin(self, logs=None):
        self.events.append("test_begin")


def _compiled(cls):
    model = cls()
    model.compile(optimizer="sgd", loss="mse")
    model.build((None, 3))
    return model


@pytest.mark.parametrize("name", TRAIN_HOOKS)
@pytest.mark.parametrize("entry", ["fit", "train_on_batch"])
def test_a_training_hook_of_ones_own_is_refused_before_any_work(numpy_backend, name, entry):
    x, y = _data()
    model = _compiled(_hook(name))
    before = model.get_weights()
    recorder = _Recorder()
    with pytest.raises(OverrideNotSupportedError, match=rf"Own_{name}\.{name}: {entry} in gpunn does not use"):
        if entry == "fit":
            model.fit(x, y, epochs=1, verbose=0, callbacks=[recorder])
        else:
            model.train_on_batch(x, y)
    assert recorder.events == []
    for old, new in zip(before, model.get_weights()):
        np.testing.assert_array_equal(old, new)


@pytest.mark.parametrize("name", TEST_HOOKS)
@pytest.mark.parametrize("entry", ["evaluate", "test_on_batch"])
def test_an_evaluation_hook_of_ones_own_is_refused(numpy_backend, name, entry):
    x, y = _data()
    model = _compiled(_hook(name))
    recorder = _Recorder()
    with pytest.raises(OverrideNotSupportedError, match=rf"{name}: {entry} in gpunn"):
        if entry == "evaluate":
            model.evaluate(x, y, verbose=0, callbacks=[recorder])
        else:
            model.test_on_batch(x, y)
    assert recorder.events == []


def test_a_test_step_of_ones_own_stops_fit_only_when_it_validates(numpy_backend):
    x, y = _data()
    model = _compiled(_hook("test_step"))
    before = model.get_weights()[0].copy()
    model.fit(x, y, epochs=1, batch_size=4, verbose=0)  # Keras calls test_step only to validate
    assert not np.array_equal(before, model.get_weights()[0])
    for validation in ({"validation_data": (x, y)}, {"validation_split": 0.2}):
        with pytest.raises(OverrideNotSupportedError, match=r"test_step: fit \(its validation\) in gpunn"):
            model.fit(x, y, epochs=1, verbose=0, **validation)


def test_a_sequential_subclass_is_checked_as_a_model_of_ones_own(numpy_backend):
    class Stepped(gpunn.Sequential):
        def train_step(self, data):
            return {}

    model = Stepped([layers.Input((3,)), layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(OverrideNotSupportedError, match=r"Stepped\.train_step.*several optimizers taking turns, as a "
                                                      r"GAN's, has no gpunn form"):
        model.fit(*_data(), verbose=0)
    model.predict(_data()[0], verbose=0)  # predict_step is gpunn's: nothing to refuse


def test_a_hook_inherited_from_a_class_of_ones_own_is_found(numpy_backend):
    class WithMetrics(_Base):
        def compute_metrics(self, x, y, y_pred, sample_weight=None):
            return {}

    class Child(WithMetrics):
        pass

    model = _compiled(Child)
    with pytest.raises(OverrideNotSupportedError, match=r"WithMetrics\.compute_metrics"):
        model.fit(*_data(), verbose=0)


def test_a_subclass_without_hooks_of_its_own_trains(numpy_backend):
    class Named(_Base):
        def describe(self):
            return "a model"

    model = _compiled(Named)
    history = model.fit(*_data(), epochs=2, verbose=0, validation_split=0.2)
    assert len(history.history["val_loss"]) == 2
    assert np.isfinite(model.evaluate(*_data(), verbose=0))


# ---- call() where gpunn runs a graph of its own ------------------------------------------------------------------

def test_a_call_over_a_sequential_is_refused_when_the_model_is_made():
    class Doubled(gpunn.Sequential):
        def call(self, x, training=None):
            return x * 2

    with pytest.raises(OverrideNotSupportedError, match=r"Doubled\.call: a Sequential model in gpunn"):
        Doubled([layers.Dense(1)])


def test_a_call_over_a_model_made_from_inputs_and_outputs_is_refused():
    class Wired(gpunn.Model):
        def call(self, x):
            return x

    inputs = layers.Input((3,))
    with pytest.raises(OverrideNotSupportedError, match=r"Wired\.call: a model given inputs and outputs"):
        Wired(inputs, layers.Dense(1)(inputs))


def test_a_call_over_a_built_in_layer_is_refused_when_the_layer_is_made():
    class Clipped(layers.Dense):
        def call(self, x):
            return ops.clip(super().call(x), 0, 1)

    with pytest.raises(OverrideNotSupportedError, match=r"Clipped\.call: .*built-in Dense.*subclass "
                                                        r"gpunn\.layers\.Layer"):
        Clipped(4)


def test_a_built_in_layer_subclass_without_a_call_is_that_layer(numpy_backend):
    class Tagged(layers.Dense):
        def get_config(self):
            return {**super().get_config(), "tag": "t"}

        @classmethod
        def from_config(cls, config):
            config.pop("tag")
            return cls(**config)

    x, y = _data()
    gpunn.utils.set_random_seed(3)
    tagged = gpunn.Sequential([layers.Input((3,)), Tagged(1)])
    gpunn.utils.set_random_seed(3)
    plain = gpunn.Sequential([layers.Input((3,)), layers.Dense(1)])
    for model in (tagged, plain):
        model.compile(optimizer="sgd", loss="mse")
        model.fit(x, y, epochs=2, batch_size=4, shuffle=False, verbose=0)
    np.testing.assert_array_equal(tagged.predict(x, verbose=0), plain.predict(x, verbose=0))
    assert tagged.layers[0].get_config()["tag"] == "t"


# ---- predict_step of one's own ---------------------------------------------------------------------------------------

STEP_CLASS = '''
class Summarised(keras.Model):
    def __init__(self):
        super().__init__()
        self.dense = keras.layers.Dense(2)

    def call(self, x):
        if isinstance(x, dict):
            x = x["a"]
        if isinstance(x, (list, tuple)):
            x = x[0]
        return self.dense(x)

    def predict_step(self, *args):
        data = args[-1]  # Keras's jax backend passes (state, data), TensorFlow's and torch's (data)
        kind = type(data).__name__ if isinstance(data, (tuple, list, dict)) else "array"
        inner = type(data[0]).__name__ if isinstance(data, tuple) else ""
        SEEN.append(kind + ("/" + inner if inner else ""))
        x, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        if isinstance(x, dict):
            x = x["a"]
        if isinstance(x, (list, tuple)):
            x = x[0]
        outputs = {"twice": x * 2.0, "row_sum": keras.ops.sum(x, axis=1), "pair": (x[:, :1], x[:, 1:] + 1.0)}
        return (outputs, args[0][1]) if len(args) == 2 else outputs
'''

STEP_RUN = '''
x = np.arange(21, dtype="float32").reshape(7, 3)
model = Summarised()
model(x)
model.compile(run_eagerly=True)  # Keras's jax backend would trace predict_step once per batch shape otherwise
def stream():
    for start in (0, 3):
        yield (x[start:start + 3],)
class Batches(keras.utils.PyDataset):
    def __len__(self):
        return 3
    def __getitem__(self, index):
        return x[3 * index:3 * index + 3]  # a bare array: Keras hands the step (x,)
results = {}
for form, data in (("array", x), ("list", [x, x]), ("tuple", (x, x)), ("dict", {"a": x}), ("stream", None),
                   ("pydataset", None)):
    SEEN.clear()
    source = stream() if form == "stream" else Batches() if form == "pydataset" else data
    out = model.predict(source, batch_size=3, verbose=0)
    results[form] = {"seen": list(SEEN), "twice": np.asarray(out["twice"]).tolist(),
                     "row_sum": np.asarray(out["row_sum"]).tolist(),
                     "pair": [np.asarray(part).tolist() for part in out["pair"]],
                     "pair_type": type(out["pair"]).__name__}
SEEN.clear()
out = model.predict_on_batch(x)
results["on_batch"] = {"seen": list(SEEN), "row_sum": np.asarray(out["row_sum"]).tolist()}
'''

KERAS_SIDE = "import json\nimport numpy as np\nimport keras\nSEEN = []\n" + STEP_CLASS + STEP_RUN + \
    "print(json.dumps(results))\n"


def _gpunn_results():
    namespace = {"keras": gpunn, "np": np, "SEEN": []}
    exec(STEP_CLASS + STEP_RUN, namespace)
    return namespace["results"]


def test_predict_step_is_handed_what_keras_hands_it_and_predict_concatenates_as_keras(numpy_backend):
    theirs = run_keras(KERAS_SIDE, {})
    mine = _gpunn_results()
    assert mine.keys() == theirs.keys()
    for form in mine:
        assert mine[form]["seen"] == theirs[form]["seen"], form
        np.testing.assert_allclose(mine[form]["row_sum"], theirs[form]["row_sum"], rtol=1e-6, err_msg=form)
        if form != "on_batch":
            np.testing.assert_allclose(mine[form]["twice"], theirs[form]["twice"], rtol=1e-6, err_msg=form)
            for a, b in zip(mine[form]["pair"], theirs[form]["pair"]):
                np.testing.assert_allclose(a, b, rtol=1e-6, err_msg=form)
            assert mine[form]["pair_type"] == theirs[form]["pair_type"]
    assert mine["array"]["seen"] == ["array"] * 3  # 7 rows in batches of 3
    assert len(mine["array"]["row_sum"]) == 7


def test_predict_step_calling_the_model_gives_its_predictions_and_callbacks_see_each_batch(numpy_backend):
    class Labelled(_Base):
        def predict_step(self, data):
            scores = self(data, training=False)
            return {"scores": scores, "positive": ops.cast(scores > 0, "int32")}

    class Batches(Callback):
        def __init__(self):
            super().__init__()
            self.sizes = []

        def on_predict_batch_end(self, batch, logs=None):
            self.sizes.append(len(logs["outputs"]["scores"]))

    x, _ = _data(rows=11)
    model = _compiled(Labelled)
    batches = Batches()
    out = model.predict(x, batch_size=4, verbose=0, callbacks=[batches])
    plain = gpunn.Sequential([layers.Input((3,)), layers.Dense(1)])
    plain.set_weights(model.get_weights())
    np.testing.assert_array_equal(out["scores"], plain.predict(x, batch_size=4, verbose=0))
    np.testing.assert_array_equal(out["positive"], (out["scores"] > 0).astype("int32"))
    assert batches.sizes == [4, 4, 3]
    assert len(model.predict(x, batch_size=4, steps=2, verbose=0)["scores"]) == 8


def test_predict_step_may_call_keras_s_own_and_return_any_structure(numpy_backend):
    import collections

    Pair = collections.namedtuple("Pair", ["scores", "doubled"])

    class Wrapped(_Base):
        def predict_step(self, data):
            scores = super().predict_step(data)  # Keras's default: the model's outputs for x
            return Pair(scores, 2.0 * scores)

    x, _ = _data(rows=7)
    model = _compiled(Wrapped)
    out = model.predict(x.astype("float64"), batch_size=3, verbose=0)
    plain = gpunn.Sequential([layers.Input((3,)), layers.Dense(1)])
    plain.set_weights(model.get_weights())
    assert isinstance(out, Pair) and out.scores.dtype == np.float32  # float64 inputs cast to the model's dtype
    np.testing.assert_allclose(out.scores, plain.predict(x, batch_size=3, verbose=0), rtol=1e-6)
    np.testing.assert_array_equal(out.doubled, 2.0 * out.scores)
    with pytest.raises(ValueError, match="arrays of numbers"):
        model.predict(np.array([{"a": 1}, {"b": 2}]), verbose=0)


def test_a_call_dunder_over_a_built_in_layer_is_refused():
    class Twice(layers.Dense):
        def __call__(self, *args, **kwargs):
            return super().__call__(*args, **kwargs)

    with pytest.raises(OverrideNotSupportedError, match=r"Twice\.__call__: gpunn does not run a __call__\(\)"):
        Twice(2)


def test_unpack_and_pack_are_keras_s():
    from gpunn.utils import pack_x_y_sample_weight, unpack_x_y_sample_weight

    x, y, w = np.ones(2), np.zeros(2), np.full(2, 0.5)
    assert unpack_x_y_sample_weight(x)[0] is x
    assert unpack_x_y_sample_weight([x, y])[:2] == (x, y)
    assert unpack_x_y_sample_weight((x, y, w))[2] is w
    assert unpack_x_y_sample_weight((x,))[1:] == (None, None)
    with pytest.raises(ValueError, match="Data is expected to be in format"):
        unpack_x_y_sample_weight((x, y, w, w))
    assert pack_x_y_sample_weight(x) is x
    assert pack_x_y_sample_weight([x, y]) == ([x, y],)
    assert pack_x_y_sample_weight(x, y) == (x, y)
    assert len(pack_x_y_sample_weight(x, y, w)) == 3


METRICS_PROPERTY_SCRIPT = '''
import json, sys
import numpy as np

def run(keras, folder):
    class Tracked(keras.Model):  # keras.io's habit: super().metrics plus a tracker the model updates itself
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dense = keras.layers.Dense(1, kernel_initializer="ones")
            self.tracker = keras.metrics.Mean(name="twice_the_loss")

        def call(self, x):
            return self.dense(x)

        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
            loss = keras.ops.mean((y - y_pred) ** 2)
            self.tracker.update_state(loss * 2)
            return loss

        @property
        def metrics(self):
            return super().metrics + [self.tracker]

    model = Tracked()
    model.compile("sgd", metrics=["mae"])
    x, y = np.linspace(0, 1, 24, dtype="float32").reshape(8, 3), np.ones((8, 1), "float32")
    history = model.fit(x, y, epochs=2, batch_size=4, shuffle=False, verbose=0).history
    evaluated = model.evaluate(x, y, verbose=0, return_dict=True)
    return {"history": {k: np.round(v, 5).tolist() for k, v in history.items()},
            "evaluate": {k: round(float(v), 5) for k, v in evaluated.items()}}
'''


def test_a_metrics_property_adding_a_tracker_to_super_s_runs_as_in_keras(tmp_path_factory):
    """``super().metrics + [self.tracker]`` lists what gpunn logs and resets anyway: it runs, and the logs are
    Keras's."""
    from helpers import run_script_both_ways

    ours, theirs = run_script_both_ways(METRICS_PROPERTY_SCRIPT, tmp_path_factory)
    assert ours == theirs


def test_a_metrics_property_of_other_metrics_is_still_refused(numpy_backend):
    """A hand-made list (keras.io's VAE: its trackers alone, without the loss tracker) changes the logs in Keras:
    refused, as are lists adding a metric gpunn does not track."""
    class OwnTrackers(_Base):
        def __init__(self):
            super().__init__()
            self.tracker = gpunn.metrics.Mean(name="total")

        @property
        def metrics(self):
            return [self.tracker]

    class Stranger(_Base):
        @property
        def metrics(self):
            return super().metrics + [gpunn.metrics.Mean(name="never_updated")]

    x, y = _data()
    for cls in (OwnTrackers, Stranger):
        model = _compiled(cls)
        with pytest.raises(OverrideNotSupportedError, match=rf"{cls.__name__}\.metrics: fit in gpunn does not use"):
            model.fit(x, y, epochs=1, verbose=0)
