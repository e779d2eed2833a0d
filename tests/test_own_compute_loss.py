"""A model subclass's own ``compute_loss`` as the loss of its steps (Keras's knowledge-distillation example's
``Distiller``, and an override building on ``super().compute_loss``): training and evaluation equal Keras 3's on
the same weights and batches (Keras itself, in a subprocess on its jax backend), eager and replayed; what Keras
would compute differently (a trainable teacher, weight penalties, several outputs) is refused by name."""
from __future__ import annotations

import numpy as np
import pytest

import gpunn
from gpunn import layers
from gpunn.overrides import OverrideNotSupportedError
from helpers import numpy_backend, run_keras, run_script_both_ways  # noqa: F401  (fixture)

CLASSES = '''
class Distiller(keras.Model):
    """keras.io's knowledge-distillation example, as written there."""

    def __init__(self, student, teacher):
        super().__init__()
        self.teacher = teacher
        self.student = student

    def compile(self, optimizer, metrics, student_loss_fn, distillation_loss_fn, alpha=0.1, temperature=3, **kw):
        super().compile(optimizer=optimizer, metrics=metrics, **kw)
        self.student_loss_fn = student_loss_fn
        self.distillation_loss_fn = distillation_loss_fn
        self.alpha = alpha
        self.temperature = temperature

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, allow_empty=False):
        teacher_pred = self.teacher(x, training=False)
        student_loss = self.student_loss_fn(y, y_pred)
        distillation_loss = self.distillation_loss_fn(
            keras.ops.softmax(teacher_pred / self.temperature, axis=1),
            keras.ops.softmax(y_pred / self.temperature, axis=1),
        ) * (self.temperature ** 2)
        return self.alpha * student_loss + (1 - self.alpha) * distillation_loss

    def call(self, x):
        return self.student(x)


class Smoothed(keras.Model):
    """A compute_loss adding a term to Keras's default (the compiled loss, sample weights applied)."""

    def __init__(self):
        super().__init__()
        self.hidden = keras.layers.Dense(5, activation="tanh")
        self.out = keras.layers.Dense(2)

    def call(self, x):
        return self.out(self.hidden(x))

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        base = super().compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=training)
        return base + 0.05 * keras.ops.mean(keras.ops.square(y_pred)) + 0.0 * keras.ops.mean(x)
'''

RUN = '''
rng = np.random.default_rng(0)
x = rng.normal(size=(24, 6)).astype("float32")
y = rng.integers(0, 3, 24)
targets = rng.normal(size=(24, 2)).astype("float32")
weights = rng.uniform(0.5, 1.5, 24).astype("float32")
teacher = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(3)])
student = keras.Sequential([keras.Input((6,)), keras.layers.Dense(4, activation="relu"), keras.layers.Dense(3)])
teacher.set_weights([(0.5 * rng.normal(size=w.shape)).astype("float32") for w in teacher.get_weights()])
student.set_weights([(0.5 * rng.normal(size=w.shape)).astype("float32") for w in student.get_weights()])
teacher.trainable = False  # Keras would train it through compute_loss otherwise
distiller = Distiller(student=student, teacher=teacher)
distiller.compile(optimizer=keras.optimizers.SGD(0.2), metrics=[keras.metrics.SparseCategoricalAccuracy()],
                  student_loss_fn=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  distillation_loss_fn=keras.losses.KLDivergence(), alpha=0.1, temperature=10, **COMPILE)
history = distiller.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0).history
results = {"distiller": {"history": {k: [float(v) for v in values] for k, values in history.items()},
                         "evaluate": {k: float(v) for k, v in
                                      distiller.evaluate(x, y, verbose=0, return_dict=True).items()},
                         "weights": [np.asarray(w).tolist() for w in student.get_weights()]}}
smoothed = Smoothed()
smoothed(x[:1])  # its weights made (Keras's build((None, 6)) makes none for a model with its own call())
smoothed.set_weights([(0.5 * rng.normal(size=np.shape(w))).astype("float32") for w in smoothed.get_weights()])
smoothed.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse", **COMPILE)
history = smoothed.fit(x, targets, sample_weight=weights, batch_size=8, epochs=3, shuffle=False, verbose=0).history
results["smoothed"] = {"history": {k: [float(v) for v in values] for k, values in history.items()},
                       "evaluate": {"loss": float(smoothed.evaluate(x, targets, verbose=0))},
                       "weights": [np.asarray(w).tolist() for w in smoothed.get_weights()]}
'''

KERAS_SIDE = "import json\nimport numpy as np\nimport keras\nCOMPILE = {}\n" + CLASSES + RUN + \
    "print(json.dumps(results))\n"


@pytest.fixture(scope="module")
def keras_results():
    return run_keras(KERAS_SIDE, {})


@pytest.mark.parametrize("jit_compile", [False, True], ids=["eager", "replayed"])
def test_an_own_compute_loss_trains_and_evaluates_as_keras(numpy_backend, keras_results, jit_compile):
    namespace = {"keras": gpunn, "np": np, "COMPILE": {"jit_compile": jit_compile}}
    exec(CLASSES + RUN, namespace)
    for label, ours in namespace["results"].items():
        theirs = keras_results[label]
        assert ours["history"].keys() == theirs["history"].keys()
        for key, values in theirs["history"].items():
            np.testing.assert_allclose(ours["history"][key], values, rtol=2e-5, err_msg=f"{label} {key}")
        for key, value in theirs["evaluate"].items():
            assert ours["evaluate"][key] == pytest.approx(value, rel=2e-5), (label, key)
        for a, b in zip(ours["weights"], theirs["weights"]):
            np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-6, err_msg=label)


def _with_own_loss(**layer_kwargs):
    class Own(gpunn.Model):
        def __init__(self):
            super().__init__()
            self.dense = layers.Dense(1, **layer_kwargs)

        def call(self, x):
            return self.dense(x)

        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None):
            return gpunn.ops.mean(gpunn.ops.square(y - y_pred))

    return Own()


def test_what_keras_would_compute_otherwise_is_refused_by_name_before_training(numpy_backend):
    x, y = np.ones((8, 3)), np.ones((8, 1))
    model = _with_own_loss(kernel_regularizer="l2")
    model.compile(optimizer="sgd")
    with pytest.raises(OverrideNotSupportedError, match=r"Own\.compute_loss: the model has weight penalties"):
        model.fit(x, y, verbose=0)

    model = _with_own_loss()
    model.teacher = gpunn.Sequential([layers.Input((3,)), layers.Dense(1)])
    model.compile(optimizer="sgd")
    with pytest.raises(OverrideNotSupportedError,
                       match=r"trainable layers it does not call in call\(\) \(\['teacher'\]\)"):
        model.fit(x, y, verbose=0)
    model.teacher.trainable = False
    model.compile(optimizer="sgd")
    assert np.isfinite(model.fit(x, y, verbose=0).history["loss"][0])


def test_a_model_without_an_own_compute_loss_still_needs_a_loss(numpy_backend):
    model = gpunn.Sequential([layers.Input((3,)), layers.Dense(1)])
    model.compile(optimizer="sgd")
    with pytest.raises(RuntimeError, match="compiled without a loss"):
        model.fit(np.ones((4, 3)), np.ones((4, 1)), verbose=0)


def test_files_and_clones_hold_the_loss_compile_was_given(numpy_backend, tmp_path):
    """As Keras's compile config does: the compiled loss (or none), not the model's compute_loss."""
    from gpunn.models.compile_config import get_compile_config

    x, y = np.ones((8, 3)), np.ones((8, 1))
    model = _with_own_loss()
    model.compile(optimizer="sgd", loss="mae")
    model.fit(x, y, verbose=0)
    assert get_compile_config(model)["loss"] == "mae"  # the name given, as Keras writes it
    model.save(tmp_path / "own.keras")
    loaded = gpunn.models.load_model(tmp_path / "own.keras")  # its functional graph, as any subclassed model's
    assert loaded.loss == "mae" and isinstance(loaded._resolved_loss, gpunn.losses.MeanAbsoluteError)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert isinstance(gpunn.models.clone_model(model)._resolved_loss, gpunn.losses.MeanAbsoluteError)
    model.compile(optimizer="sgd", loss=gpunn.losses.MeanAbsoluteError())
    model.fit(x, y, verbose=0)
    assert get_compile_config(model)["loss"]["class_name"] == "MeanAbsoluteError"
    bare = _with_own_loss()
    bare.compile(optimizer="sgd")
    bare.fit(x, y, verbose=0)
    assert get_compile_config(bare)["loss"] is None
    bare.save(tmp_path / "bare.keras")
    assert gpunn.models.load_model(tmp_path / "bare.keras").loss is None


LOSS_WEIGHT_SCRIPT = r'''
import json, sys
import numpy as np


def run(module, folder):
    class Doubled(module.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dense = module.layers.Dense(1, kernel_initializer="ones")

        def call(self, x):
            return self.dense(x)

        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
            return 2.0 * super().compute_loss(x, y, y_pred, sample_weight, training=training)

    out = {}
    x, y = np.ones((4, 3), "float32"), np.zeros((4, 1), "float32")
    for weight in (None, 0.5):
        model = Doubled()
        model.compile(module.optimizers.SGD(0.01), "mse", loss_weights=weight)
        out[str(weight)] = [model.evaluate(x, y, verbose=0), model.fit(x, y, epochs=2, verbose=0).history["loss"]]
    return out
'''


def test_loss_weights_count_once_in_an_own_compute_loss_calling_super(tmp_path_factory):
    """Keras's default compute_loss weighs the compiled loss; the step takes an override's value as the whole
    loss, weighing it no further."""
    from helpers import run_script_both_ways

    ours, theirs = run_script_both_ways(LOSS_WEIGHT_SCRIPT, tmp_path_factory)
    assert theirs["0.5"][0] == 9.0 and theirs["None"][0] == 18.0
    for key, (evaluated, losses) in theirs.items():
        assert ours[key][0] == pytest.approx(evaluated, rel=1e-6)
        np.testing.assert_allclose(ours[key][1], losses, rtol=1e-6)


def _student_and_loss(call_there):
    """A model training a student whose compute_loss calls ``call_there(model, x)`` and adds it to its loss."""
    student = gpunn.Sequential([layers.Input((3,)), layers.Dense(4, activation="relu", name="hidden"),
                                layers.Dense(2, name="out")])
    features = gpunn.Model(student.inputs, student.get_layer("hidden").output)

    class Student(gpunn.Model):
        def __init__(self):
            super().__init__()
            self.student, self.features = student, features

        def call(self, x, training=None):
            return self.student(x, training=training)

        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
            extra = gpunn.ops.mean(gpunn.ops.square(call_there(self, x)))
            return gpunn.ops.mean(gpunn.ops.square(y - y_pred)) + 0.1 * extra

    return Student()


@pytest.mark.parametrize("call_there", [lambda model, x: model.features(x, training=True),
                                        lambda model, x: model(x), lambda model, x: model.student(x),
                                        lambda model, x: model.student.layers[0](x)],
                         ids=["feature-extractor", "self", "student", "layer"])
def test_the_models_own_layers_run_again_in_compute_loss_are_refused_before_a_weight_moves(numpy_backend,
                                                                                             call_there):
    """Keras differentiates them; gpunn's step differentiates compute_loss by y_pred alone, and such a call would
    write over the forward pass its backward pass reads (and a model sharing the layers took them to its own
    buffers, from which the next step copied the old values back: training stood still, without a word)."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(16, 3)).astype("float32"), rng.normal(size=(16, 2)).astype("float32")
    model = _student_and_loss(call_there)
    model.compile(optimizer="sgd")
    model(x[:2])
    before = model.get_weights()
    with pytest.raises(ValueError, match=r"Student\.compute_loss: layer 'hidden' of model 'student(_\d+)?' was called "
                                         r"while the model's step computes its loss"):
        model.fit(x, y, batch_size=8, verbose=0)
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="was called while the model's step computes its loss"):
        model.evaluate(x, y, verbose=0)
    # outside a step, the extractor reads the model's weights
    np.testing.assert_allclose(model.features(x), np.maximum(x @ before[0] + before[1], 0), rtol=1e-6)


def test_a_frozen_teacher_of_its_own_still_runs_in_compute_loss(numpy_backend):
    model = _student_and_loss(lambda model, x: model.teacher(x))
    model.teacher = gpunn.Sequential([layers.Input((3,)), layers.Dense(2)])
    model.teacher.trainable = False
    model.compile(optimizer=gpunn.optimizers.SGD(0.1))
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(16, 3)).astype("float32"), rng.normal(size=(16, 2)).astype("float32")
    losses = model.fit(x, y, batch_size=8, epochs=3, verbose=0, shuffle=False).history["loss"]
    assert losses[2] < losses[1] < losses[0]


def test_a_trainable_teacher_held_in_a_private_attribute_is_refused_too(numpy_backend):
    """Keras tracks private attributes as well (``self._teacher``) and trains such a teacher through compute_loss;
    gpunn would call it as a constant."""
    model = _with_own_loss()
    model._teacher = gpunn.Sequential([layers.Input((3,)), layers.Dense(1)])
    model.compile(optimizer="sgd")
    with pytest.raises(OverrideNotSupportedError, match=r"does not call in call\(\) \(\['_teacher'\]\)"):
        model.fit(np.ones((8, 3)), np.ones((8, 1)), verbose=0)
    model._teacher.trainable = False
    model.compile(optimizer="sgd")
    assert np.isfinite(model.fit(np.ones((8, 3)), np.ones((8, 1)), verbose=0).history["loss"][0])


OWN_WEIGHT = '''
import json
import sys

import numpy as np


def run(keras, folder):
    class Scaled(keras.Model):
        """A model with a weight of its own beside its layers, and its own compute_loss."""

        def __init__(self):
            super().__init__()
            self.d1, self.d2 = keras.layers.Dense(4), keras.layers.Dense(2)
            self.scale = self.add_weight(shape=(2,), initializer="ones")

        def call(self, x):
            return self.d2(self.d1(x)) * self.scale

        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
            return keras.ops.mean(keras.ops.square(y_pred - y))

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(12, 3)).astype("float32"), rng.normal(size=(12, 2)).astype("float32")
    model = Scaled()
    model(x[:1])
    model.set_weights([(0.5 * np.cos(np.arange(np.size(w)))).reshape(np.shape(w)).astype("float32")
                       for w in model.get_weights()])
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    history = model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0).history
    return {"loss": history["loss"], "weights": [np.asarray(w).tolist() for w in model.get_weights()]}
'''


def test_a_model_with_a_weight_of_its_own_trains_through_its_compute_loss_as_keras(tmp_path_factory):
    """Its layers run inside the one layer holding the model's own weight: they are called, not held outside."""
    ours, theirs = run_script_both_ways(OWN_WEIGHT, tmp_path_factory)
    np.testing.assert_allclose(ours["loss"], theirs["loss"], rtol=2e-5)
    for a, b in zip(ours["weights"], theirs["weights"]):
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=1e-6)


CRITIC = '''
import json
import sys

import numpy as np


def run(keras, folder):
    class Criticised(keras.Model):
        """Its compute_loss passes y_pred through a frozen critic (a layer and a small model's layers)."""

        def __init__(self, critic, head):
            super().__init__()
            self.d = keras.layers.Dense(2, kernel_initializer="ones")
            self.critic, self.head = critic, head

        def call(self, x):
            return self.d(x)

        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
            judged = self.head(self.critic(y_pred))
            return keras.ops.mean(keras.ops.square(y_pred - y)) + keras.ops.mean(judged[:, :1] * y_pred[:, 1:])

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(16, 3)).astype("float32"), rng.normal(size=(16, 2)).astype("float32")
    critic = keras.layers.Dense(3, activation="tanh")
    critic.build((None, 2))
    critic.set_weights([np.array([[0.3, -0.2, 0.1], [0.05, 0.4, -0.3]], "float32"), np.zeros(3, "float32")])
    head = keras.layers.LayerNormalization(center=False)
    head.build((None, 3))
    critic.trainable = head.trainable = False
    model = Criticised(critic, head)
    model.compile(optimizer=keras.optimizers.SGD(0.05))
    history = model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history
    return {"loss": history["loss"], "weights": [np.asarray(w).tolist() for w in model.d.get_weights()],
            "critic": [np.asarray(w).tolist() for w in critic.get_weights()]}
'''


@pytest.mark.parametrize("jit_compile", [False, True], ids=["eager", "replayed"])
def test_layers_called_on_y_pred_in_compute_loss_pass_its_gradient_as_keras(tmp_path_factory, jit_compile):
    """A frozen critic's layers called on y_pred there: Keras differentiates through them; gpunn's gradient went
    through them as through a constant (silently: the loss counted their values, the update did not)."""
    script = CRITIC if not jit_compile else CRITIC.replace("optimizer=keras.optimizers.SGD(0.05))",
                                                            "optimizer=keras.optimizers.SGD(0.05), jit_compile=True)")
    ours, theirs = run_script_both_ways(script, tmp_path_factory)
    np.testing.assert_allclose(ours["loss"], theirs["loss"], rtol=2e-5)
    for key in ("weights", "critic"):
        for a, b in zip(ours[key], theirs[key]):
            np.testing.assert_allclose(a, b, rtol=2e-5, atol=1e-6, err_msg=key)


def test_a_layer_of_the_users_called_on_y_pred_in_compute_loss_is_differentiated_through_its_call(numpy_backend):
    """Its call() runs on the Tensor itself: the loss trains as the same expression written with gpunn.ops."""
    class Scale(layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.factor = self.add_weight(shape=(2,), initializer="ones", trainable=False)

        def call(self, inputs):
            return gpunn.ops.tanh(inputs * self.factor * 2.0)

    class Judged(gpunn.Model):
        def __init__(self, through_the_layer):
            super().__init__()
            self.d = layers.Dense(2, kernel_initializer="ones")
            self.scale, self.through_the_layer = Scale(), through_the_layer
            self.seen = gpunn.metrics.Mean(name="seen")

        def call(self, x):
            return self.d(x)

        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
            scaled = self.scale(y_pred) if self.through_the_layer else gpunn.ops.tanh(y_pred * 2.0)
            self.seen.update_state(gpunn.ops.mean(scaled))
            return gpunn.ops.mean(gpunn.ops.square(y_pred - y)) + gpunn.ops.mean(scaled * y_pred)

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(16, 3)).astype("float32"), rng.normal(size=(16, 2)).astype("float32")
    histories, weights = [], []
    for through_the_layer in (True, False):
        model = Judged(through_the_layer)
        model.compile(optimizer=gpunn.optimizers.SGD(0.1))
        histories.append(model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history)
        weights.append(model.d.get_weights())
    assert histories[0] == histories[1]
    for a, b in zip(*weights):
        np.testing.assert_array_equal(a, b)


SEVERAL_INPUTS = '''
import json
import sys

import numpy as np


def run(keras, folder):
    results = {}
    for how in ("list", "dict"):
        class TwoInputs(keras.Model):
            def __init__(self):
                super().__init__()
                self.d = keras.layers.Dense(2, kernel_initializer="ones")
                self.seen = keras.metrics.Mean(name="seen")

            def call(self, inputs):
                a, b = (inputs["a"], inputs["b"]) if how == "dict" else (inputs[0], inputs[1])
                return self.d(keras.ops.concatenate([a, b], axis=-1))

            def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
                b = x["b"] if how == "dict" else x[1]  # (the second input, not the second sample)
                self.seen.update_state(keras.ops.mean(keras.ops.abs(b)))
                return keras.ops.mean(keras.ops.square(y_pred - y)) * keras.ops.mean(keras.ops.abs(b))

        rng = np.random.default_rng(0)
        a, b = rng.normal(size=(16, 2)).astype("float32"), 10 * rng.normal(size=(16, 1)).astype("float32")
        y = rng.normal(size=(16, 2)).astype("float32")
        x = {"b": b, "a": a} if how == "dict" else [a, b]  # (keys out of sorted order)
        model = TwoInputs()
        model.compile(optimizer=keras.optimizers.SGD(0.001))
        history = model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history
        results[how] = {"history": {k: [float(v) for v in values] for k, values in history.items()},
                        "weights": [np.asarray(w).tolist() for w in model.get_weights()]}
    return results
'''


def test_a_model_of_several_inputs_gets_them_in_compute_loss_as_given(tmp_path_factory):
    """x is their list (or dict), as Keras hands it on; gpunn handed the step's array of them side by side, whose
    x[1] is the second sample (silently: a loss scaled by the wrong rows)."""
    ours, theirs = run_script_both_ways(SEVERAL_INPUTS, tmp_path_factory)
    for how in ("list", "dict"):
        assert ours[how]["history"].keys() == theirs[how]["history"].keys()
        for key, values in theirs[how]["history"].items():
            np.testing.assert_allclose(ours[how]["history"][key], values, rtol=2e-5, err_msg=f"{how} {key}")
        for a, b in zip(ours[how]["weights"], theirs[how]["weights"]):
            np.testing.assert_allclose(a, b, rtol=2e-5, atol=1e-6, err_msg=how)


PER_STEP = '''
import json
import sys

import numpy as np


def run(keras, folder):
    """A Dense over sequences (an output per step) trained by a loss function, and by a compute_loss of its own,
    with compiled metrics."""
    class PerStep(keras.Model):
        def __init__(self):
            super().__init__()
            self.d = keras.layers.Dense(2, kernel_initializer="ones")

        def call(self, x):
            return self.d(x)

        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
            return keras.ops.mean(keras.ops.square(y_pred - y))

    def per_step_loss(y_true, y_pred):
        return keras.ops.mean(keras.ops.square(y_true - y_pred), axis=-1)

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(12, 5, 3)).astype("float32"), rng.normal(size=(12, 5, 2)).astype("float32")
    results = {}
    for label in ("function", "compute_loss"):
        if label == "function":
            model = keras.Sequential([keras.Input((5, 3)), keras.layers.Dense(2, kernel_initializer="ones")])
        else:
            model = PerStep()
        model.compile(optimizer=keras.optimizers.SGD(0.01), loss=per_step_loss if label == "function" else None,
                      metrics=["mae"], weighted_metrics=["mse"])
        history = model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0).history
        results[label] = {"history": {k: [float(v) for v in values] for k, values in history.items()},
                          "evaluate": model.evaluate(x, y, verbose=0, return_dict=True)}
    return results
'''


def test_an_output_per_step_trained_by_a_loss_of_ones_own_gets_its_metrics_as_keras(tmp_path_factory):
    """The metrics take each step as a row, as for a built-in loss (they failed inside NumPy's reduction)."""
    ours, theirs = run_script_both_ways(PER_STEP, tmp_path_factory)
    for label in ("function", "compute_loss"):
        for part in ("history", "evaluate"):
            assert ours[label][part].keys() == theirs[label][part].keys(), (label, part)
            for key, value in theirs[label][part].items():
                np.testing.assert_allclose(ours[label][part][key], value, rtol=2e-5, err_msg=f"{label} {part} {key}")


def test_several_target_arrays_for_an_own_compute_loss_are_refused_saying_what_to_do(numpy_backend):
    model = _with_own_loss()
    model.compile(optimizer="sgd")
    x, y = np.ones((8, 3), "float32"), np.ones((8, 1), "float32")
    for targets in ((y, y), [y, y], {"a": y, "b": y}):
        with pytest.raises(ValueError, match=r"target arrays for a model of one output whose compute_loss is its "
                                             r"own; Keras hands them on to compute_loss as given"):
            model.fit(x, targets, verbose=0)


def test_super_compute_loss_without_targets_says_the_compiled_loss_needs_them(numpy_backend):
    class Plain(gpunn.Model):
        def __init__(self):
            super().__init__()
            self.d = layers.Dense(2)

        def call(self, x):
            return self.d(x)

        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
            return super().compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight)

    model = Plain()
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match=r"y: the loss given to compile \('mean_squared_error'\) needs targets, and "
                                         r"compute_loss was given none"):
        model.fit(np.ones((8, 3), "float32"), verbose=0)
