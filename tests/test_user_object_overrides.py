"""Regularizers, constraints and learning-rate schedules of one's own, as Keras's guides write them (a subclass
whose ``__call__`` computes with ``keras.ops``), and subclasses of built-in ones overriding ``__call__`` (their
``super().__call__`` being the built-in computation): gpunn runs them where Keras does, and trains as Keras 3
does on the same weights and batches (Keras itself, in a subprocess on its jax backend), eager and replayed.
Overrides that gpunn's fused steps cannot run (an optimizer's update, a loss's ``__call__``) are refused by name."""
from __future__ import annotations

import numpy as np
import pytest

import gpunn
from gpunn import layers
from gpunn.overrides import OverrideNotSupportedError
from helpers import numpy_backend, run_keras  # noqa: F401  (fixture)

CLASSES = '''
class SquaredPenalty(keras.regularizers.Regularizer):
    def __init__(self, strength):
        self.strength = strength

    def __call__(self, x):
        return self.strength * keras.ops.sum(keras.ops.square(x))


class HalvedL1(keras.regularizers.L1):
    def __call__(self, x):
        return 0.5 * super().__call__(x)


class ClippedMaxNorm(keras.constraints.MaxNorm):
    def __call__(self, w):
        return keras.ops.clip(super().__call__(w), -0.3, 0.3)


class InverseSqrt(keras.optimizers.schedules.LearningRateSchedule):
    def __init__(self, rate):
        self.rate = rate

    def __call__(self, step):
        return self.rate / keras.ops.sqrt(keras.ops.cast(step, "float32") + 1.0)


class FloorDecay(keras.optimizers.schedules.ExponentialDecay):
    def __call__(self, step):
        return keras.ops.maximum(super().__call__(step), 0.05)
'''

RUN = '''
def model(weights, schedule):
    net = keras.Sequential([
        keras.Input((4,)),
        keras.layers.Dense(3, activation="tanh", kernel_regularizer=SquaredPenalty(0.05),
                           bias_regularizer=HalvedL1(0.2)),
        keras.layers.Dense(1, kernel_constraint=ClippedMaxNorm(0.5)),
    ])
    net.set_weights([np.asarray(w, "float32") for w in weights])
    net.compile(optimizer=keras.optimizers.SGD(schedule), loss="mse", **COMPILE)
    return net


x, y = np.asarray(task["x"], "float32"), np.asarray(task["y"], "float32")
results = {}
for label, schedule in (("inverse_sqrt", InverseSqrt(0.3)), ("floor_decay", FloorDecay(0.4, 2, 0.5))):
    net = model(task["weights"], schedule)
    history = net.fit(x, y, batch_size=4, epochs=3, shuffle=False, verbose=0).history
    results[label] = {"loss": [float(v) for v in history["loss"]],
                      "weights": [np.asarray(w).tolist() for w in net.get_weights()],
                      "evaluate": float(net.evaluate(x, y, verbose=0)),
                      "rate": float(net.optimizer.learning_rate)}
w = np.asarray(task["weights"][0], "float32")
results["standalone"] = [float(SquaredPenalty(0.05)(w)), float(HalvedL1(0.2)(w)),
                         np.asarray(ClippedMaxNorm(0.5)(w)).tolist(), float(InverseSqrt(0.3)(3)),
                         float(FloorDecay(0.4, 2, 0.5)(10))]
'''

KERAS_SIDE = ("import json, sys\nimport numpy as np\nimport keras\ntask = json.loads(sys.stdin.read())\n"
              "COMPILE = {}\n" + CLASSES + RUN + "print(json.dumps(results))\n")


def _task():
    rng = np.random.default_rng(21)
    return {"x": rng.normal(size=(12, 4)).tolist(), "y": rng.normal(size=(12, 1)).tolist(),
            "weights": [(0.6 * rng.normal(size=(4, 3))).tolist(), (0.3 * rng.normal(size=3)).tolist(),
                        (0.6 * rng.normal(size=(3, 1))).tolist(), [0.1]]}


@pytest.fixture(scope="module")
def keras_results():
    return run_keras(KERAS_SIDE, _task())


@pytest.mark.parametrize("jit_compile", [False, True], ids=["eager", "replayed"])
def test_regularizers_constraints_and_schedules_of_ones_own_train_as_keras(numpy_backend, keras_results,
                                                                          jit_compile):
    namespace = {"keras": gpunn, "np": np, "task": _task(), "COMPILE": {"jit_compile": jit_compile}}
    exec(CLASSES + RUN, namespace)
    mine = namespace["results"]
    theirs_alone, mine_alone = keras_results["standalone"], mine["standalone"]
    np.testing.assert_allclose(mine_alone[:2], theirs_alone[:2], rtol=1e-6)
    np.testing.assert_allclose(mine_alone[2], theirs_alone[2], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(mine_alone[3:], theirs_alone[3:], rtol=1e-6)
    for label in ("inverse_sqrt", "floor_decay"):
        ours, theirs = mine[label], keras_results[label]
        np.testing.assert_allclose(ours["loss"], theirs["loss"], rtol=1e-5, err_msg=label)
        for a, b in zip(ours["weights"], theirs["weights"]):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=label)
        assert ours["evaluate"] == pytest.approx(theirs["evaluate"], rel=1e-5)
        assert ours["rate"] == pytest.approx(theirs["rate"], rel=1e-6)
    # the constraint's clip binds: the overriding __call__ ran
    assert np.max(np.abs(mine["inverse_sqrt"]["weights"][2])) == pytest.approx(0.3, abs=1e-6)


def test_an_own_regularizer_s_gradient_is_its_penalty_s_derivative(numpy_backend):
    """The gradient a step adds for a regularizer of one's own equals float64 finite differences of its
    penalty."""
    from gpunn.ops import NumpyOps
    from gpunn.ops.workspace import Workspace

    class Mixed(gpunn.regularizers.Regularizer):
        def __call__(self, x):
            return 0.3 * gpunn.ops.sum(gpunn.ops.square(x)) + 0.1 * gpunn.ops.sum(gpunn.ops.absolute(x) ** 3)

    rng = np.random.default_rng(5)
    weight = rng.normal(size=(3, 2))
    regularizer, ops = Mixed(), NumpyOps()
    grad = np.zeros_like(weight)
    regularizer.add_gradient(ops, Workspace(ops), weight, grad)
    penalty = np.zeros((), dtype=np.float64)
    regularizer.penalty(ops, Workspace(ops), weight, penalty)
    assert float(penalty) == pytest.approx(0.3 * np.sum(weight ** 2) + 0.1 * np.sum(np.abs(weight) ** 3))
    def value(w):
        result = regularizer(w)  # a Tensor, as gpunn.ops functions return
        return float(getattr(result, "value", result))

    numeric = np.zeros_like(weight)
    for index in np.ndindex(weight.shape):
        for sign in (1, -1):
            shifted = weight.copy()
            shifted[index] += sign * 1e-6
            numeric[index] += sign * value(shifted) / 2e-6
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8)


def test_an_own_schedule_giving_a_bad_rate_stops_training_by_name(numpy_backend):
    class Broken(gpunn.optimizers.schedules.LearningRateSchedule):
        def __call__(self, step):
            return -1.0 if step >= 1 else 0.1

    model = gpunn.Sequential([layers.Input((2,)), layers.Dense(1)])
    model.compile(optimizer=gpunn.optimizers.SGD(Broken()), loss="mse")
    with pytest.raises(ValueError, match=r"the schedule Broken gave -1.0 at step 1"):
        model.fit(np.ones((8, 2)), np.ones((8, 1)), batch_size=4, verbose=0)


def test_an_own_regularizer_computed_outside_gpunn_ops_is_refused_rather_than_left_untrained(numpy_backend):
    class Detached(gpunn.regularizers.Regularizer):
        def __call__(self, x):
            return 0.5 * float(np.sum(np.square(np.asarray(x.numpy()))))

    model = gpunn.Sequential([layers.Input((2,)), layers.Dense(1, kernel_regularizer=Detached())])
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(TypeError, match="regularizer Detached: .* has no gradient"):
        model.fit(np.ones((4, 2)), np.ones((4, 1)), verbose=0)


def test_an_own_schedule_is_called_once_per_step_with_the_step_count(numpy_backend):
    calls = []

    class Recorded(gpunn.optimizers.schedules.LearningRateSchedule):
        def __call__(self, step):
            calls.append(int(step))
            return 0.1

    for jit_compile in (False, True):
        calls.clear()
        model = gpunn.Sequential([layers.Input((2,)), layers.Dense(1)])
        model.compile(optimizer=gpunn.optimizers.SGD(Recorded()), loss="mse", jit_compile=jit_compile)
        model.fit(np.ones((12, 2)), np.ones((12, 1)), batch_size=4, epochs=2, verbose=0)
        assert calls == list(range(6)), jit_compile


def test_objects_of_ones_own_are_saved_and_loaded_with_custom_objects(numpy_backend, tmp_path):
    class Penalty(gpunn.regularizers.Regularizer):
        def __init__(self, strength=0.1):
            self.strength = strength

        def __call__(self, x):
            return self.strength * gpunn.ops.sum(gpunn.ops.square(x))

        def get_config(self):
            return {"strength": self.strength}

    class Halved(gpunn.constraints.NonNeg):
        def __call__(self, w):
            return super().__call__(w) * 0.5

    class Slow(gpunn.optimizers.schedules.LearningRateSchedule):
        def __init__(self, rate):
            self.rate = rate

        def __call__(self, step):
            return self.rate / (step + 1)

        def get_config(self):
            return {"rate": self.rate}

    class Unconfigured(gpunn.regularizers.Regularizer):  # Keras's guide's class: no get_config
        def __init__(self, strength):
            self.strength = strength

        def __call__(self, x):
            return self.strength * gpunn.ops.sum(x)

    x, y = np.random.default_rng(1).normal(size=(8, 3)), np.ones((8, 1))
    model = gpunn.Sequential([layers.Input((3,)), layers.Dense(2, kernel_regularizer=Penalty(0.2),
                                                                kernel_constraint=Halved()), layers.Dense(1)])
    model.compile(optimizer=gpunn.optimizers.SGD(Slow(0.05)), loss="mse")
    model.fit(x, y, epochs=1, verbose=0)
    path = tmp_path / "own.keras"
    model.save(path)
    loaded = gpunn.models.load_model(path, custom_objects={"Penalty": Penalty, "Halved": Halved, "Slow": Slow})
    dense = loaded.layers[0]
    assert isinstance(dense.kernel_regularizer, Penalty) and dense.kernel_regularizer.strength == 0.2
    assert isinstance(dense.kernel_constraint, Halved)
    assert isinstance(loaded.optimizer.schedule, Slow)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    with pytest.raises(gpunn.custom_objects.MissingCustomObjectError, match="Penalty"):
        gpunn.models.load_model(path)
    clone = gpunn.models.clone_model(model)  # Keras finds the user's classes again without being told
    assert isinstance(clone.layers[0].kernel_regularizer, Penalty) and clone.layers[0].kernel_regularizer is not \
        dense.kernel_regularizer and isinstance(clone.layers[0].kernel_constraint, Halved)
    assert isinstance(clone.optimizer.schedule, Slow) and clone.optimizer.schedule.rate == 0.05
    assert isinstance(gpunn.regularizers.deserialize(gpunn.regularizers.serialize(Penalty(0.3)),
                                                     custom_objects={"Penalty": Penalty}), Penalty)
    assert gpunn.optimizers.deserialize({"class_name": "SGD", "config": {"learning_rate": {
        "class_name": "Slow", "config": {"rate": 0.2}}}}, custom_objects={"Slow": Slow}).schedule.rate == 0.2
    assert gpunn.losses.deserialize({"class_name": "Huber", "config": {"delta": 0.5}}).delta == 0.5
    unconfigured = gpunn.Sequential([layers.Input((3,)), layers.Dense(1, kernel_regularizer=Unconfigured(0.1))])
    with pytest.raises(NotImplementedError, match="Unconfigured does not implement get_config"):  # as Keras
        unconfigured.save(tmp_path / "unconfigured.keras")

    class Fixed(gpunn.regularizers.Regularizer):  # (nothing of its own to configure, no __init__ either)
        def __call__(self, x):
            return 0.05 * gpunn.ops.sum(gpunn.ops.abs(x))

    fixed = gpunn.Sequential([layers.Input((3,)), layers.Dense(1, kernel_regularizer=Fixed())])
    with pytest.raises(NotImplementedError, match="Fixed does not implement get_config"):  # as Keras
        fixed.save(tmp_path / "fixed.keras")
    assert type("MyL2", (gpunn.regularizers.L2,), {})(0.1).get_config() == {"l2": 0.1}  # (L2's own config)

    import functools

    def scaled_l2(weight, scale=0.01):
        return scale * gpunn.ops.sum(gpunn.ops.square(weight))

    # a partial keeps an argument its name alone would lose: refused at save, as Keras refuses it
    partial = gpunn.Sequential([layers.Input((3,)), layers.Dense(1, kernel_regularizer=functools.partial(
        scaled_l2, scale=0.02))])
    with pytest.raises(TypeError, match="Cannot serialize object functools.partial"):
        partial.save(tmp_path / "partial.keras")

    class Scaled:  # a callable object with a config, but of no regularizer class
        def __init__(self, scale):
            self.scale = scale

        def __call__(self, weight):
            return scaled_l2(weight, self.scale)

        def get_config(self):
            return {"scale": self.scale}

    held = gpunn.Sequential([layers.Input((3,)), layers.Dense(1, kernel_regularizer=Scaled(0.02))])
    with pytest.raises(TypeError, match=r"when its class subclasses keras\.regularizers\.Regularizer"):
        held.save(tmp_path / "held.keras")


@pytest.mark.parametrize("member", ["update_step", "apply_gradients", "build"])
def test_an_optimizer_subclass_with_an_update_of_its_own_is_refused_when_made(member):
    cls = type("Tuned", (gpunn.optimizers.Adam,), {member: lambda self, *args: None})
    with pytest.raises(OverrideNotSupportedError, match="Tuned\\." + member + ": gpunn's optimizers update"):
        cls()


def test_an_optimizer_subclass_with_its_own_arguments_trains(numpy_backend):
    class SlowAdam(gpunn.optimizers.Adam):
        def __init__(self, **kwargs):
            super().__init__(learning_rate=1e-4, **kwargs)

        def get_config(self):
            return {**super().get_config(), "note": "slow"}

    model = gpunn.Sequential([layers.Input((2,)), layers.Dense(1)])
    model.compile(optimizer=SlowAdam(), loss="mse")
    model.fit(np.ones((8, 2)), np.ones((8, 1)), verbose=0)
    assert model.optimizer.learning_rate == pytest.approx(1e-4)


def test_a_loss_overriding_call_dunder_is_refused_at_compile():
    class Scaled(gpunn.losses.MeanSquaredError):
        def __call__(self, y_true, y_pred, sample_weight=None):
            return 2.0 * super().__call__(y_true, y_pred, sample_weight)

    model = gpunn.Sequential([layers.Input((2,)), layers.Dense(1)])
    with pytest.raises(OverrideNotSupportedError, match=r"Scaled\.__call__: .*write the loss in call\(\)"):
        model.compile(optimizer="sgd", loss=Scaled())
