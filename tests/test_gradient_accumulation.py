"""Keras's ``gradient_accumulation_steps``: an update every N steps with the mean of their gradients. Training equal
to Keras's own (in a subprocess on jax) with schedules, clipping, weight decay, a moving average and a weight
constraint; replayed steps equal to eager ones bit for bit, whatever the number of steps per execution; the
arithmetic against one update on the union of the batches; the accumulator saved where Keras keeps it, mid-way
through a cycle, and resumed exactly."""
from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_same_state, assert_same_training, run_keras

import gpunn

TRAIN = '''
def data():
    x = np.linspace(-1, 1, 160, dtype="float32").reshape(40, 4)
    return x, (np.sin(3 * x[:, 0]) + x[:, 1] * x[:, 2] > 0).astype("int64")


def optimizer(keras, kind):
    schedules = keras.optimizers.schedules
    if kind == "sgd":
        return keras.optimizers.SGD(0.1, momentum=0.9, gradient_accumulation_steps=3)
    if kind == "adam":
        return keras.optimizers.Adam(schedules.ExponentialDecay(0.05, 3, 0.5), clipnorm=0.1,
                                     gradient_accumulation_steps=2)
    if kind == "adamw":
        return keras.optimizers.AdamW(0.05, weight_decay=0.1, use_ema=True, ema_momentum=0.8,
                                      ema_overwrite_frequency=2, gradient_accumulation_steps=4)
    return keras.optimizers.RMSprop(0.01, global_clipnorm=0.5, gradient_accumulation_steps=2)


def model_for(keras, kind, jit=None, steps_per_execution=1):
    model = keras.Sequential([keras.Input((4,)),
                              keras.layers.Dense(6, activation="tanh",
                                                 kernel_constraint=keras.constraints.MaxNorm(0.9)),
                              keras.layers.Dense(2, activation="softmax")])
    model.set_weights([np.linspace(-0.6, 0.6, w.size, dtype="float32").reshape(w.shape) for w in model.get_weights()])
    model.compile(optimizer(keras, kind), "sparse_categorical_crossentropy", steps_per_execution=steps_per_execution,
                  **({} if jit is None else {"jit_compile": jit}))
    return model


def train(keras, kind, jit=None, epochs=3, steps_per_execution=1):
    model = model_for(keras, kind, jit, steps_per_execution)
    x, y = data()
    history = model.fit(x, y, batch_size=8, epochs=epochs, shuffle=False, verbose=0, validation_data=(x[:16], y[:16]))
    return model, history.history
'''
KINDS = ("sgd", "adam", "adamw", "rmsprop")
KERAS_SCRIPT = '''
import json, sys
import numpy as np
import keras
''' + TRAIN + '''
runs = {}
for kind in ''' + repr(KINDS) + ''':
    model, history = train(keras, kind, False)
    runs[kind] = [[w.tolist() for w in model.get_weights()], history["loss"], history["val_loss"],
                  int(model.optimizer.iterations), float(model.optimizer.learning_rate)]
print(json.dumps(runs))
'''


def _namespace() -> dict:
    namespace = {"np": np}
    exec(TRAIN, namespace)
    return namespace


def _train(kind, **kwargs):
    return _namespace()["train"](gpunn, kind, **kwargs)


def test_training_with_accumulated_gradients_equals_keras():
    keras = run_keras(KERAS_SCRIPT, None)
    for kind in KINDS:
        model, history = _train(kind, jit=False)
        weights, losses, val_losses, iterations, rate = keras[kind]
        for ours, theirs in zip(model.get_weights(), weights):
            np.testing.assert_allclose(ours, np.asarray(theirs), rtol=1e-4, atol=2e-5, err_msg=kind)
        np.testing.assert_allclose(history["loss"], losses, rtol=1e-4, err_msg=kind)
        np.testing.assert_allclose(history["val_loss"], val_losses, rtol=1e-4, err_msg=kind)
        # 15 steps: the updates done (Keras's iterations), and the schedule's rate at the step count, not theirs
        assert (model.optimizer.iterations, model.optimizer.step_count) == (iterations, 15), kind
        assert float(model.optimizer.learning_rate) == pytest.approx(rate, rel=1e-6), kind
    plain = gpunn.optimizers.SGD(0.1, momentum=0.9)
    model = _namespace()["model_for"](gpunn, "sgd")
    model.compile(plain, "sparse_categorical_crossentropy")
    model.fit(*_namespace()["data"](), batch_size=8, epochs=3, shuffle=False, verbose=0)
    assert np.abs(model.get_weights()[0] - np.asarray(keras["sgd"][0][0])).max() > 1e-2  # accumulation mattered


@pytest.mark.parametrize("kind,steps_per_execution", [("sgd", 1), ("sgd", 4), ("adam", 5), ("adamw", 3),
                                                      ("rmsprop", 2)])
def test_replayed_steps_equal_eager_ones_bit_for_bit(kind, steps_per_execution):
    """Steps between updates and update steps are recorded apart and replayed in the order the count gives,
    across executions of several steps that start anywhere in a cycle."""
    eager = _train(kind, jit=False)
    assert_same_training(eager, _train(kind, jit=True, steps_per_execution=steps_per_execution))
    assert_same_training(eager, _train(kind, jit=False, steps_per_execution=steps_per_execution))


def test_n_accumulated_steps_make_one_update_with_the_mean_of_their_gradients():
    """SGD without momentum: N steps of batches of b rows take the step one batch of N * b rows would, in float64
    to rounding; the steps between change no weight."""
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((48, 5)), rng.standard_normal((48, 2))

    def model(**kwargs):
        gpunn.utils.set_random_seed(4)
        net = gpunn.Sequential([gpunn.Input((5,), dtype="float64"), gpunn.layers.Dense(7, activation="relu"),
                                gpunn.layers.Dense(2)])
        net.compile(gpunn.optimizers.SGD(0.2, **kwargs), "mse")
        return net

    accumulated, whole = model(gradient_accumulation_steps=3), model()
    start = accumulated.get_weights()
    accumulated.fit(x[:16], y[:16], batch_size=8, shuffle=False, verbose=0)  # 2 steps: no update yet
    for before, after in zip(start, accumulated.get_weights()):
        np.testing.assert_array_equal(before, after)
    assert (accumulated.optimizer.iterations, accumulated.optimizer.step_count) == (0, 2)
    accumulated.fit(x, y, batch_size=8, shuffle=False, verbose=0)  # 6 more steps: updates at steps 3 and 6
    whole.fit(np.concatenate([x[:16], x[:8]]), np.concatenate([y[:16], y[:8]]), batch_size=24, shuffle=False,
              verbose=0)
    whole.fit(x[8:32], y[8:32], batch_size=24, shuffle=False, verbose=0)
    for ours, reference in zip(accumulated.get_weights(), whole.get_weights()):
        np.testing.assert_allclose(ours, reference, rtol=1e-12, atol=1e-14)
    assert (accumulated.optimizer.iterations, accumulated.optimizer.step_count) == (2, 8)
    assert accumulated.optimizer.iterations == whole.optimizer.iterations


def test_saved_mid_cycle_the_accumulator_and_count_resume_exactly_and_keras_reads_them(tmp_path):
    """Saved after 5 steps of cycles of 3 (two steps' gradients in the accumulator): loaded, training goes on as in
    memory, bit for bit; Keras reads the accumulator and the step count where it keeps them."""
    ns = _namespace()
    first = ns["model_for"](gpunn, "adam")
    first.compile(gpunn.optimizers.Adam(0.05, gradient_accumulation_steps=3), "sparse_categorical_crossentropy")
    x, y = ns["data"]()
    first.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    assert (first.optimizer.iterations, first.optimizer.step_count) == (1, 5)
    accumulator = np.array(first.optimizer.slots["gradient_accumulator"])  # a copy: training goes on
    assert np.abs(accumulator).max() > 0
    path = str(tmp_path / "accumulating.keras")
    first.save(path)
    resumed = gpunn.models.load_model(path)
    assert resumed.optimizer.gradient_accumulation_steps == 3 and resumed.optimizer.step_count == 5
    for model in (first, resumed):
        model.fit(x, y, batch_size=8, epochs=3, initial_epoch=1, shuffle=False, verbose=0)
    assert_same_state(first, resumed)
    script = '''
import json, sys
import numpy as np
import keras
task = json.loads(sys.stdin.read())
model = keras.models.load_model(task["path"])
variables = model.optimizer.variables
read = {"count": len(variables), "names": [v.path for v in variables[:3]], "iteration": int(variables[0].numpy()),
        "accumulator": np.asarray(variables[2]).tolist(), "steps": model.optimizer.gradient_accumulation_steps}
x, y = np.asarray(task["x"], "float32"), np.asarray(task["y"])
model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
read["weights"] = [w.tolist() for w in model.get_weights()]
print(json.dumps(read))
'''
    again = gpunn.models.load_model(path)
    keras = run_keras(script, {"path": path, "x": x.tolist(), "y": y.tolist()})
    assert keras["count"] == 2 + 3 * 4 and keras["steps"] == 3 and keras["iteration"] == 5
    assert "gradient_accumulator" in keras["names"][2]
    np.testing.assert_array_equal(np.asarray(keras["accumulator"], dtype=np.float32), accumulator[:24].reshape(4, 6))
    again.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    for ours, theirs in zip(again.get_weights(), keras["weights"]):
        np.testing.assert_allclose(ours, np.asarray(theirs), rtol=1e-4, atol=2e-5)


def test_arguments_are_checked_as_keras_checks_them_and_configs_round_trip():
    for wrong in (1, -2, 2.5, True):
        with pytest.raises(ValueError, match=r"`gradient_accumulation_steps` must be an integer >= 2. Received: "
                                             rf"gradient_accumulation_steps={wrong}"):
            gpunn.optimizers.SGD(gradient_accumulation_steps=wrong)
    for nothing in (None, 0):
        assert gpunn.optimizers.SGD(gradient_accumulation_steps=nothing).gradient_accumulation_steps is None
    optimizer = gpunn.optimizers.Adam(gradient_accumulation_steps=np.int64(4))
    config = optimizer.get_config()
    assert config["gradient_accumulation_steps"] == 4 and type(config["gradient_accumulation_steps"]) is int
    assert gpunn.optimizers.Adam.from_config(config).get_config() == config
    assert gpunn.optimizers.Adam().get_config()["gradient_accumulation_steps"] is None  # Keras's key, unused
    assert gpunn.optimizers.get({"class_name": "Adam", "config": config}).gradient_accumulation_steps == 4


def test_iterations_counts_updates_and_setting_it_starts_that_update():
    model, _ = _train("sgd", jit=False, epochs=1)  # 5 steps, cycles of 3
    optimizer = model.optimizer
    assert (optimizer.iterations, optimizer.step_count, optimizer.next_step_phase()) == (1, 5, "update")
    optimizer.iterations.assign(4)
    assert (optimizer.iterations, optimizer.step_count, optimizer.next_step_phase()) == (4, 12, "accumulate")


@pytest.mark.gpu
def test_accumulation_on_the_gpu_matches_numpy_and_its_graphs_replay_it():
    import warnings

    from gpunn.trainer.train_step import GraphFallbackWarning

    runs = {}
    for backend, jit, steps_per_execution in (("numpy", False, 1), ("cupy", False, 1), ("cupy", True, 1),
                                              ("cupy", True, 4)):
        with gpunn.use_backend(backend), warnings.catch_warnings():
            warnings.simplefilter("error", GraphFallbackWarning)
            runs[backend, jit, steps_per_execution] = _train("adamw", jit=jit, steps_per_execution=steps_per_execution)
    graph = runs["cupy", True, 1][0]
    for key, tolerance in ((("cupy", True, 4), 0.0), (("cupy", False, 1), 1e-6), (("numpy", False, 1), 1e-4)):
        for ours, reference in zip(graph.get_weights(), runs[key][0].get_weights()):
            np.testing.assert_allclose(ours, reference, rtol=tolerance, atol=tolerance / 5, err_msg=str(key))
        assert runs[key][0].optimizer.iterations == graph.optimizer.iterations == 3


@pytest.mark.parametrize("steps_while_frozen, expected", [(1, (0.872, 0.64)), (0, (0.8, 0.8))])
def test_a_frozen_weight_s_accumulator_is_zeroed_by_the_update_steps_it_misses(steps_while_frozen, expected):
    """Keras zeroes every weight's accumulator at each update step, frozen ones included (base_optimizer.py
    ``_backend_apply_gradients``; Keras's torch backend gives these numbers, its jax backend refuses the freeze).
    y = w1 * w2 on x = 1, loss y^2, SGD(0.1), two steps per update: w1 accumulates 2 at step 1, is frozen through
    the update of step 2 (w2 -> 0.8), then updates with the mean of steps 3 and 4, 1.28 each: 1 - 0.128. Frozen
    through no update, it keeps its 2 and updates at step 2 with (2 + 2) / 2."""
    x, y = np.ones((1, 1), "float32"), np.zeros((1, 1), "float32")
    first = gpunn.layers.Dense(1, use_bias=False, kernel_initializer="ones")
    second = gpunn.layers.Dense(1, use_bias=False, kernel_initializer="ones")
    inputs = gpunn.Input((1,))
    model = gpunn.Model(inputs, second(first(inputs)))
    optimizer = gpunn.optimizers.SGD(0.1, gradient_accumulation_steps=2)
    model.compile(optimizer, "mse")
    model.fit(x, y, verbose=0)
    first.trainable = False
    model.compile(optimizer, "mse")
    model.fit(x, y, epochs=steps_while_frozen, verbose=0)
    first.trainable = True
    model.compile(optimizer, "mse")
    model.fit(x, y, epochs=2, verbose=0)
    np.testing.assert_allclose([float(np.ravel(first.kernel)[0]), float(np.ravel(second.kernel)[0])], expected,
                               rtol=1e-6)
