"""``compile(jit_compile=...)`` as Keras 3 defines it: True, False or "auto" (the default; None means the same),
"auto" resolved for the model's backend, ``run_eagerly=True`` overriding it (with Keras's warning when both were
asked for), the request kept in the compile config so that another backend resolves it again."""
import warnings

import numpy as np
import pytest

import gpunn
from gpunn import layers
from gpunn.models.compile_config import get_compile_config
from gpunn.ops import Ops
from helpers import numpy_backend  # noqa: F401  (fixture)


def _model():
    gpunn.utils.set_random_seed(5)
    return gpunn.Sequential([gpunn.Input(shape=(6,)), layers.Dense(8, activation="relu"), layers.Dropout(0.25),
                             layers.Dense(3, activation="softmax")])


def _data():
    rng = np.random.default_rng(2)
    return rng.standard_normal((50, 6)).astype("float32"), rng.integers(0, 3, 50)


def _fit(model, **compile_args):
    x, y = _data()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"], **compile_args)
    history = model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0).history
    return model, history


def _recordings(model) -> int:
    return sum(len(state.recordings) for state in model.train_function._states.values())


def test_the_default_records_and_replays_on_the_cpu_and_trains_as_eager_steps(numpy_backend):
    model, history = _fit(_model())
    assert model.jit_compile is True and model.train_function.jit
    assert _recordings(model) == 2  # the full batches' shape and the last, partial batch's
    eager, eager_history = _fit(_model(), jit_compile=False)
    assert eager.jit_compile is False and not eager.train_function.jit and _recordings(eager) == 0
    for got, expected in zip(model.get_weights(), eager.get_weights()):
        np.testing.assert_array_equal(got, expected)
    assert history == eager_history


@pytest.mark.parametrize("asked", ["auto", None])
def test_auto_follows_the_backend(asked):
    """The reference backend (``Ops()``) does not replay by default; NumPy does."""
    with gpunn.use_backend(Ops()):
        model, _ = _fit(_model(), jit_compile=asked)
        assert model.jit_compile is False and not model.train_function.jit
    with gpunn.use_backend("numpy"):
        model, _ = _fit(_model(), jit_compile=asked)
        assert model.jit_compile is True and model.train_function.jit


def test_the_numpy_and_cupy_backends_replay_by_default():
    """Both were measured faster replayed than eager (bench/results), and replays equal eager steps."""
    from gpunn.ops.cupy_ops import CupyOps

    assert CupyOps.replays_by_default is True
    assert gpunn.ops.NumpyOps.replays_by_default is True


def test_run_eagerly_turns_replays_off_and_warns_when_jit_was_asked_for(numpy_backend):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model, _ = _fit(_model(), run_eagerly=True)  # "auto" with run_eagerly: no warning, as in Keras
    assert model.jit_compile is False and not model.train_function.jit
    with pytest.warns(UserWarning, match="run_eagerly.*cannot also be True"):
        model, _ = _fit(_model(), jit_compile=True, run_eagerly=True)
    assert model.jit_compile is False


@pytest.mark.parametrize("bad", ["yes", 1, 0.0, "AUTO", [True]])
def test_other_values_are_refused_before_any_work(bad, numpy_backend):
    model = _model()
    with pytest.raises(ValueError, match=r"jit_compile: expected True, False, 'auto' or None, got"):
        model.compile(optimizer="adam", loss="mse", jit_compile=bad)
    assert not model.compiled
    with pytest.raises(ValueError, match="jit_compile: expected"):
        model.jit_compile = bad


def test_setting_the_property_takes_effect_at_the_next_fit(numpy_backend):
    model, _ = _fit(_model())
    assert model.train_function.jit
    model.jit_compile = False
    x, y = _data()
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    assert model.jit_compile is False and not model.train_function.jit


@pytest.mark.parametrize("asked", ["auto", True, False])
def test_the_request_comes_back_from_a_file(tmp_path, asked, numpy_backend):
    model = _model()
    model.compile(optimizer="adam", loss="mse", jit_compile=asked)
    assert get_compile_config(model)["jit_compile"] == asked
    model.save(tmp_path / "m.keras")
    loaded = gpunn.models.load_model(tmp_path / "m.keras")
    assert loaded._jit_compile == asked
    assert loaded.jit_compile is (asked is not False)
