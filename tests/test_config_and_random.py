"""keras.config and keras.random as gpunn has them: the settings a Keras 3 script reads or sets (others refused
by name), and random draws for the functions users write (a layer of their own drawing noise in training)."""
from __future__ import annotations

import numpy as np
import pytest

import gpunn
from gpunn import layers, ops
from helpers import assert_same_training, numpy_backend  # noqa: F401  (fixture)


def test_config_reads_and_refuses_by_name():
    assert gpunn.config.backend() in ("numpy", "cupy")
    assert gpunn.config.floatx() == "float32" and gpunn.config.image_data_format() == "channels_last"
    gpunn.config.set_epsilon(1e-5)
    try:
        assert gpunn.backend.epsilon() == 1e-5
        clipped = ops.binary_crossentropy(np.array([1.0]), np.array([0.0])).numpy()  # log(eps) at the clip
        np.testing.assert_allclose(clipped, [-np.log(1e-5)], rtol=1e-6)
    finally:
        gpunn.config.set_epsilon(1e-7)
    for call, message in ((lambda: gpunn.config.set_floatx("float16"), "set_floatx"),
                          (lambda: gpunn.config.set_dtype_policy("mixed_float16"), "computes in half precision"),
                          (lambda: gpunn.config.set_image_data_format("channels_first"), "channels last")):
        with pytest.raises(ValueError, match=message):
            call()
    gpunn.config.enable_unsafe_deserialization()  # gpunn never loads code: nothing to enable
    gpunn.config.disable_traceback_filtering()
    assert not gpunn.config.is_traceback_filtering_enabled()
    gpunn.config.enable_traceback_filtering()


@pytest.fixture
def floatx_restored():
    yield
    gpunn.config.set_floatx("float32")


def test_set_floatx_float64_makes_the_layers_made_afterwards_float64(floatx_restored):
    """Keras's ``set_floatx("float64")``: layers made from then on without a dtype take it (those made before keep
    theirs), and a model of them trains in float64: Adam's three steps equal the exact float64 formula."""
    before = gpunn.layers.Dense(1)
    gpunn.backend.set_floatx("float64")
    assert gpunn.config.floatx() == "float64" and gpunn.backend.floatx() == "float64"
    assert before.dtype == "float32" and before.declared_dtype is None and gpunn.layers.Dense(1).dtype == "float64"
    model = gpunn.Sequential([gpunn.Input((1,)), gpunn.layers.Dense(1, use_bias=False, kernel_initializer="ones")])
    assert model.get_weights()[0].dtype == np.float64 and model.layers[0].dtype_policy.name == "float64"
    model.compile(gpunn.optimizers.Adam(0.01), "mse")
    for _ in range(3):
        model.train_on_batch(np.ones((1, 1)), np.zeros((1, 1)))
    w, m, v = 1.0, 0.0, 0.0
    for t in range(1, 4):
        g = 2 * w
        m, v = m + (g - m) * 0.1, v + (g * g - v) * 0.001
        w -= m * (0.01 * np.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t)) / (np.sqrt(v) + 1e-7)
    assert model.get_weights()[0].item() == pytest.approx(w, rel=1e-14)
    assert model.predict(np.ones((1, 1)), verbose=0).dtype == np.float64
    gpunn.backend.set_floatx("float32")
    assert gpunn.layers.Dense(1).declared_dtype is None
    with pytest.raises(ValueError, match="Unknown `floatx` value: float8"):
        gpunn.config.set_floatx("float8")


def test_set_backend_chooses_gpunn_s_backend_and_refuses_keras_s_by_name():
    before = gpunn.get_ops()
    try:
        gpunn.config.set_backend("numpy")
        assert gpunn.config.backend() == "numpy" and gpunn.get_ops().on_host
        for name in ("jax", "tensorflow", "torch"):
            with pytest.raises(ValueError, match=f"'{name}' is a backend of Keras's; gpunn computes with 'numpy'"):
                gpunn.config.set_backend(name)
        with pytest.raises(ValueError, match="backend: expected one of"):
            gpunn.config.set_backend("nunpy")
    finally:
        gpunn.set_backend(before)


def test_random_draws_follow_keras_s_seed_rules():
    gpunn.utils.set_random_seed(1)
    first = gpunn.random.normal((3, 2)).numpy()
    gpunn.utils.set_random_seed(1)
    np.testing.assert_array_equal(first, gpunn.random.normal((3, 2)).numpy())  # the global state repeats
    np.testing.assert_array_equal(gpunn.random.uniform((4,), seed=5).numpy(),
                                  gpunn.random.uniform((4,), seed=5).numpy())  # an integer seed: stateless
    generator = gpunn.random.SeedGenerator(3)
    assert not np.array_equal(gpunn.random.uniform((4,), seed=generator).numpy(),
                              gpunn.random.uniform((4,), seed=generator).numpy())  # a SeedGenerator advances
    assert gpunn.random.normal((2,), dtype="float64").dtype == np.float64
    values = gpunn.random.truncated_normal((1000,), stddev=2.0, seed=1).numpy()
    assert np.abs(values).max() <= 4.0
    assert set(np.unique(gpunn.random.randint((100,), 0, 3, seed=2).numpy())) == {0, 1, 2}
    kept = gpunn.random.dropout(np.ones((200, 5)), 0.4, seed=4).numpy()
    assert set(np.unique(kept)) == {0.0, 1 / 0.6} and 0.3 < (kept == 0).mean() < 0.5
    rows = gpunn.random.shuffle(np.arange(12.0).reshape(6, 2), seed=7).numpy()
    assert sorted(rows[:, 0]) == [0, 2, 4, 6, 8, 10] and (rows[:, 1] - rows[:, 0] == 1).all()


def test_the_distributions_keras_random_draws_from():
    """categorical, gamma, binomial and beta: Keras's shapes and dtypes, the seed rules, and their moments."""
    logits = np.log(np.array([[0.2, 0.3, 0.5], [0.9, 0.05, 0.05]]))
    ids = gpunn.random.categorical(logits, 20000, seed=3).numpy()
    assert ids.shape == (2, 20000) and ids.dtype == np.int32
    frequencies = np.stack([np.bincount(row, minlength=3) / 20000 for row in ids])
    np.testing.assert_allclose(frequencies, np.exp(logits), atol=0.015)
    np.testing.assert_array_equal(ids, gpunn.random.categorical(logits + 7.0, 20000, seed=3).numpy())  # unnormalised
    with pytest.raises(ValueError, match="2-D tensor"):
        gpunn.random.categorical(np.zeros(3), 2)
    draws = {"gamma": gpunn.random.gamma((40000,), alpha=2.5, seed=1),
             "binomial": gpunn.random.binomial((40000,), counts=10, probabilities=0.3, seed=1),
             "beta": gpunn.random.beta((40000,), alpha=2.0, beta=6.0, seed=1)}
    means = {"gamma": 2.5, "binomial": 3.0, "beta": 0.25}
    for name, values in draws.items():
        assert values.dtype == np.float32 and values.shape == (40000,), name  # floats, floatx by default
        assert abs(float(values.numpy().mean()) - means[name]) < 0.03 * means[name] + 0.01, name
    assert set(np.unique(draws["binomial"].numpy())) <= set(range(11))
    np.testing.assert_array_equal(gpunn.random.beta((5,), 1.0, 2.0, seed=9).numpy(),
                                  gpunn.random.beta((5,), 1.0, 2.0, seed=9).numpy())
    assert gpunn.random.gamma((2,), 1.0, dtype="float64").dtype == np.float64
    with pytest.raises(ValueError, match="dtype: expected a floating-point type"):
        gpunn.random.gamma((2,), 1.0, dtype="int32")


def test_a_layer_of_the_user_s_drawing_noise_in_training_replays_bit_for_bit():
    class Noise(gpunn.layers.Layer):  # Keras's guide pattern: a SeedGenerator made in __init__
        def __init__(self, stddev=0.1, **kwargs):
            super().__init__(**kwargs)
            self.stddev = stddev
            self.seed_generator = gpunn.random.SeedGenerator(1337)

        def call(self, inputs, training=None):
            if training:
                return inputs + gpunn.random.normal(ops.shape(inputs), stddev=self.stddev, seed=self.seed_generator)
            return inputs

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(48, 4)).astype("float32"), rng.normal(size=(48, 1)).astype("float32")

    def run(jit):
        gpunn.utils.set_random_seed(2)
        model = gpunn.Sequential([gpunn.Input(shape=(4,)), Noise(), layers.Dense(3, activation="relu"),
                                  layers.Dense(1)])
        model.compile(optimizer="adam", loss="mse", jit_compile=jit)
        return model, model.fit(x, y, batch_size=16, epochs=2, verbose=0).history

    model, history = run(False)
    assert_same_training((model, history), run(True))
    noise = model.layers[0]
    np.testing.assert_array_equal(noise(x), x)  # no noise outside training
    assert not np.array_equal(noise(x, training=True), x)


def test_values_made_without_a_dtype_take_floatx(floatx_restored):
    gpunn.backend.set_floatx("float64")
    made = [gpunn.ops.ones((2,)), gpunn.ops.zeros((2,)), gpunn.ops.full((2,), 3.0), gpunn.ops.eye(2),
            gpunn.ops.linspace(0, 1, 3)]
    assert {str(value.dtype) for value in made} == {"float64"}
    assert gpunn.metrics.Mean().dtype == "float64"
    assert str(gpunn.random.normal((2,)).dtype) == "float64"
    assert gpunn.initializers.GlorotUniform()((2, 2)).dtype == np.float64
    gpunn.backend.set_floatx("float32")
    assert str(gpunn.ops.ones((2,)).dtype) == "float32" and gpunn.metrics.Mean().dtype == "float32"


def test_random_draws_refuse_the_dtypes_keras_refuses_and_dropout_takes_rate_one():
    """Keras: normal, uniform and truncated_normal draw floats, randint integers (a ValueError otherwise, not
    draws rounded to another type); dropout with rate 1 gives zeros."""
    for draw in (lambda: gpunn.random.normal((2,), dtype="int32"), lambda: gpunn.random.uniform((2,), dtype="int32"),
                 lambda: gpunn.random.truncated_normal((2,), dtype="int8")):
        with pytest.raises(ValueError, match="dtype: expected a floating-point type"):
            draw()
    with pytest.raises(ValueError, match="dtype: randint draws integers, expected an integer type, got 'float32'"):
        gpunn.random.randint((2,), 0, 3, dtype="float32")
    assert gpunn.random.randint((3,), 0, 3, seed=1).dtype == "int32"
    np.testing.assert_array_equal(gpunn.random.dropout(np.ones(3, "float32"), rate=1.0), [0.0, 0.0, 0.0])
    with pytest.raises(ValueError, match=r"rate: expected a number in \[0, 1\], got 1.5"):
        gpunn.random.dropout(np.ones(3, "float32"), rate=1.5)


def test_one_int_is_the_shape_of_a_draw_of_one_axis_as_in_keras():
    import numpy as np

    import gpunn

    assert np.asarray(gpunn.random.normal(3, seed=1)).shape == (3,)
    assert np.asarray(gpunn.random.randint(4, 0, 5, seed=1)).shape == (4,)
    assert np.asarray(gpunn.random.uniform([2, 2], seed=1)).shape == (2, 2)


def test_python_s_random_seed_repeats_a_run_in_a_new_process_as_in_keras():
    """Keras draws the seeds of unseeded initializers and Dropout from Python's ``random``: ``random.seed(1)``
    (before or after the import) repeats a script's run. gpunn's generator is made at its first use from it."""
    import subprocess
    import sys

    script = ("import random, sys\n"
              "if sys.argv[1] == 'before': random.seed(1)\n"
              "import numpy as np, gpunn\n"
              "if sys.argv[1] == 'after': random.seed(1)\n"
              "model = gpunn.Sequential([gpunn.Input((8,)), gpunn.layers.Dense(3), gpunn.layers.Dropout(0.5)])\n"
              "print(model.get_weights()[0].round(6).tolist(), np.asarray(model(np.ones((4, 8)), training=True))"
              ".round(6).tolist())\n")
    runs = {}
    for where in ("before", "after", "after", "none"):
        done = subprocess.run([sys.executable, "-c", script, where], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
        runs.setdefault(where, []).append(done.stdout)
    assert runs["before"][0] == runs["after"][0] == runs["after"][1]
    assert runs["none"][0] != runs["after"][0]  # (unseeded: Python's random is seeded from the system)


def test_python_s_random_seeded_again_repeats_the_next_model_as_in_keras(numpy_backend):
    """``random.seed(42)`` before each model of a loop (a search over settings) repeats its initial weights and
    Dropout seeds, as Keras's next unseeded initializer draws its seed from Python's ``random`` again."""
    import random

    def made():
        random.seed(42)
        model = gpunn.Sequential([gpunn.Input((3,)), gpunn.layers.Dense(4), gpunn.layers.Dropout(0.5),
                                  gpunn.layers.Dense(1)])
        return [w.copy() for w in model.get_weights()], model.layers[1].seed

    first, second = made(), made()
    assert all(np.array_equal(a, b) for a, b in zip(first[0], second[0])) and first[1] == second[1]
    gpunn.utils.set_random_seed(5)
    seeded = gpunn.Sequential([gpunn.Input((3,)), gpunn.layers.Dense(4)]).get_weights()[0]
    random.random()  # (Python's random moved on: the next weights draw from it, as Keras's do)
    assert not np.array_equal(gpunn.Sequential([gpunn.Input((3,)), gpunn.layers.Dense(4)]).get_weights()[0], seeded)


def test_a_model_built_between_two_fits_leaves_the_shuffling_of_a_fit_in_pieces_as_in_one(numpy_backend):
    """A new model's weights reseed gpunn's generator from Python's random where that moved: the shuffling of
    another model's fit in pieces (initial_epoch) goes on as in one fit, as Keras's (drawn from NumPy's stream)."""
    import random

    x = np.linspace(-1, 1, 64, dtype="float32").reshape(32, 2)
    y = x[:, :1] * 3 + x[:, 1:]

    def run(pieces):
        gpunn.utils.set_random_seed(0)
        model = gpunn.Sequential([gpunn.Input((2,)), gpunn.layers.Dense(1, kernel_initializer="zeros")])
        model.compile(gpunn.optimizers.SGD(0.1), "mse")
        if not pieces:
            return model.fit(x, y, epochs=2, batch_size=4, verbose=0).history["loss"]
        first = model.fit(x, y, epochs=1, batch_size=4, verbose=0).history["loss"]
        random.random()
        gpunn.Sequential([gpunn.Input((2,)), gpunn.layers.Dense(3)])
        return first + model.fit(x, y, initial_epoch=1, epochs=2, batch_size=4, verbose=0).history["loss"]

    assert run(True) == run(False)
