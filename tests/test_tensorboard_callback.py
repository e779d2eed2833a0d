"""gpunn.callbacks.TensorBoard: the event files Keras 3's callback writes (its tags, steps and log folders,
read back with TensorBoard's own reader), without TensorFlow; TensorBoard's "Get started" tutorial script runs
after the import rename; arguments are checked before any work."""
from __future__ import annotations

import json

import numpy as np
import pytest

import gpunn
from gpunn import layers
from gpunn.callbacks import tensorboard as tensorboard_module
from helpers import numpy_backend  # noqa: F401  (fixture)

pytest.importorskip("tensorboard", reason="the tensorboard package is gpunn's [tensorboard] extra (in [test])")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402
from tensorboard.plugins.graph import keras_util  # noqa: E402
from tensorboard.util import tensor_util  # noqa: E402


def _read(folder) -> dict:
    """{tag: [(step, value as an array), ...]} of every event file in ``folder``."""
    events = EventAccumulator(str(folder), size_guidance={"tensors": 0})
    events.Reload()
    return {tag: [(e.step, tensor_util.make_ndarray(e.tensor_proto)) for e in events.Tensors(tag)]
            for tag in events.Tags()["tensors"]}


def _plugin(folder, tag) -> str:
    events = EventAccumulator(str(folder), size_guidance={"tensors": 0})
    events.Reload()
    return events.SummaryMetadata(tag).plugin_data.plugin_name


def _data(n=60):
    rng = np.random.default_rng(1)
    return rng.standard_normal((n, 6)).astype("float32"), rng.integers(0, 3, n)


def _model():
    gpunn.utils.set_random_seed(4)
    model = gpunn.Sequential([gpunn.Input(shape=(6,)), layers.Dense(5, activation="relu", name="hidden"),
                              layers.Dense(3, activation="softmax", name="out")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_epoch_logs_go_to_train_and_validation_as_keras_names_them(tmp_path):
    x, y = _data()
    model = _model()
    history = model.fit(x, y, batch_size=20, epochs=3, validation_data=(x[:20], y[:20]), verbose=0,
                        callbacks=[gpunn.callbacks.TensorBoard(log_dir=tmp_path)]).history
    train, validation = _read(tmp_path / "train"), _read(tmp_path / "validation")
    assert {"epoch_loss", "epoch_accuracy", "epoch_learning_rate"} <= set(train)
    assert not any(tag.startswith("batch_") or tag.endswith("/histogram") for tag in train)  # the defaults
    for name in ("loss", "accuracy"):
        assert [step for step, _ in train[f"epoch_{name}"]] == [0, 1, 2]
        np.testing.assert_allclose([v for _, v in train[f"epoch_{name}"]], history[name], rtol=1e-6)
        np.testing.assert_allclose([v for _, v in validation[f"epoch_{name}"]], history[f"val_{name}"], rtol=1e-6)
    np.testing.assert_allclose([v for _, v in train["epoch_learning_rate"]], [0.001] * 3, rtol=1e-6)
    # after each validation, Keras also writes the metrics against the optimizer's step count
    assert [step for step, _ in validation["evaluation_loss_vs_iterations"]] == [3, 6, 9]
    assert _plugin(tmp_path / "train", "epoch_loss") == "scalars"


def test_a_schedules_rate_is_logged_as_it_moves(tmp_path):
    x, y = _data()
    model = _model()
    schedule = gpunn.optimizers.schedules.ExponentialDecay(0.1, decay_steps=3, decay_rate=0.5)
    model.compile(optimizer=gpunn.optimizers.SGD(schedule), loss="sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=20, epochs=2, verbose=0, callbacks=[gpunn.callbacks.TensorBoard(log_dir=tmp_path)])
    rates = [float(v) for _, v in _read(tmp_path / "train")["epoch_learning_rate"]]
    np.testing.assert_allclose(rates, [0.1 * 0.5 ** 1, 0.1 * 0.5 ** 2], rtol=1e-6)  # after 3 and 6 steps


@pytest.mark.parametrize("update_freq, steps", [("batch", [1, 2, 3, 4, 5, 6]), (2, [2, 4, 6]), (4, [4])])
def test_batch_logs_every_update_freq_batches_counted_over_epochs(tmp_path, update_freq, steps):
    x, y = _data()
    model = _model()
    model.fit(x, y, batch_size=20, epochs=2, verbose=0,
              callbacks=[gpunn.callbacks.TensorBoard(log_dir=tmp_path, update_freq=update_freq,
                                                     write_steps_per_second=True)])
    train = _read(tmp_path / "train")
    for tag in ("batch_loss", "batch_accuracy", "batch_steps_per_second"):
        assert [step for step, _ in train[tag]] == steps, tag
    assert all(v > 0 for _, v in train["epoch_steps_per_second"])


def test_weight_histograms_and_images_every_histogram_freq_epochs(tmp_path):
    x, y = _data()
    model = _model()
    model.fit(x, y, batch_size=20, epochs=3, verbose=0,
              callbacks=[gpunn.callbacks.TensorBoard(log_dir=tmp_path, histogram_freq=2, write_images=True)])
    train = _read(tmp_path / "train")
    kernel = model.layers[0].kernel.numpy()
    for weight in ("hidden/kernel", "hidden/bias", "out/kernel", "out/bias"):  # Keras's tags: the variables' paths
        assert [step for step, _ in train[f"{model.name}/{weight}/histogram"]] == [0, 2]
        assert [step for step, _ in train[f"{model.name}/{weight}/image"]] == [0, 2]
    counts = train[f"{model.name}/hidden/kernel/histogram"][-1][1]
    assert counts.shape == (30, 3) and counts[:, 2].sum() == kernel.size  # TensorBoard's default 30 buckets
    assert counts[0, 0] == pytest.approx(kernel.min()) and counts[-1, 1] == pytest.approx(kernel.max())
    width, height, png = train[f"{model.name}/hidden/kernel/image"][-1][1]
    assert (int(width), int(height)) == (6, 5)  # a 6x5 kernel is taller than wide: drawn transposed, as Keras does
    from PIL import Image
    import io

    pixels = np.asarray(Image.open(io.BytesIO(png)))
    np.testing.assert_array_equal(pixels, np.clip(kernel.T * 255.5, 0, 255).astype(np.uint8))


def test_the_graph_dashboard_gets_the_models_keras_json(tmp_path):
    model = _model()
    x, y = _data()
    model.fit(x, y, epochs=1, verbose=0, callbacks=[gpunn.callbacks.TensorBoard(log_dir=tmp_path / "on")])
    (_, saved), = _read(tmp_path / "on" / "train")["keras"]
    assert _plugin(tmp_path / "on" / "train", "keras") == "graph_keras_model"
    graph = keras_util.keras_model_to_graph_def(json.loads(saved.item()))  # what TensorBoard draws
    assert [node.name.split("/")[-1] for node in graph.node][1:] == ["hidden", "out"]  # after the input layer
    model.fit(x, y, epochs=1, verbose=0,
              callbacks=[gpunn.callbacks.TensorBoard(log_dir=tmp_path / "off", write_graph=False)])
    assert "keras" not in _read(tmp_path / "off" / "train")


def test_evaluate_alone_writes_its_metrics_against_the_step_count(tmp_path):
    x, y = _data()
    model = _model()
    model.fit(x, y, batch_size=20, epochs=1, verbose=0)
    model.evaluate(x, y, verbose=0, callbacks=[gpunn.callbacks.TensorBoard(log_dir=tmp_path)])
    validation = _read(tmp_path / "validation")
    assert [step for step, _ in validation["evaluation_loss_vs_iterations"]] == [3]


def test_nothing_is_written_on_a_rank_that_is_not_the_chief(tmp_path, monkeypatch):
    x, y = _data()
    model = _model()
    monkeypatch.setattr(type(model), "is_chief", property(lambda self: False))
    model.fit(x, y, epochs=2, verbose=0, validation_split=0.2,
              callbacks=[gpunn.callbacks.TensorBoard(log_dir=tmp_path / "logs", histogram_freq=1, update_freq=1)])
    assert not (tmp_path / "logs").exists()


@pytest.mark.parametrize("kwargs, message", [
    ({"histogram_freq": -1}, "histogram_freq: expected a non-negative integer"),
    ({"histogram_freq": 1.5}, "histogram_freq: expected a non-negative integer"),
    ({"update_freq": "sometimes"}, "update_freq: expected 'epoch', 'batch' or a positive integer"),
    ({"update_freq": 0}, "update_freq: expected 'epoch', 'batch' or a positive integer"),
    ({"profile_batch": -1}, "profile_batch must be a non-negative integer or 2-tuple"),
    ({"profile_batch": (20, 10)}, "profile_batch must be a non-negative integer or 2-tuple"),
    ({"profile_batch": (5,)}, "profile_batch must be a non-negative integer or 2-tuple"),
    ({"profile_batch": "10,20,30"}, "profile_batch must be a non-negative integer or 2-tuple"),
    ({"profile_batch": 2.5}, "profile_batch must be a non-negative integer or 2-tuple"),
    ({"embeddings_freq": 1}, "embeddings_freq / embeddings_metadata: gpunn does not write TensorBoard.s embedding"),
])
def test_bad_arguments_are_refused_when_the_callback_is_made(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        gpunn.callbacks.TensorBoard(log_dir=tmp_path, **kwargs)
    with pytest.raises(TypeError, match="log_dir: expected a path"):
        gpunn.callbacks.TensorBoard(log_dir=3)


@pytest.mark.parametrize("profile_batch", [0, "0", (0, 0), "0,0"])
def test_no_profiling_in_any_spelling_is_accepted(tmp_path, profile_batch, recwarn):
    assert gpunn.callbacks.TensorBoard(log_dir=tmp_path, profile_batch=profile_batch).update_freq == "epoch"
    assert not [w for w in recwarn if "profile_batch" in str(w.message)]


@pytest.mark.parametrize("profile_batch", [5, True, (100, 200), "10,20"])
def test_profiling_asked_for_is_warned_about_and_the_logs_are_written(tmp_path, profile_batch):
    """"Hands-On Machine Learning" asks for profile_batch=(100, 200): gpunn has no trace profiler, says so, and
    the script goes on with the other logs."""
    with pytest.warns(UserWarning, match="gpunn has no trace profiler"):
        callback = gpunn.callbacks.TensorBoard(log_dir=tmp_path / "logs", profile_batch=profile_batch)
    x, y = _data()
    _model().fit(x, y, epochs=1, verbose=0, callbacks=[callback])
    assert list((tmp_path / "logs" / "train").iterdir())


def test_without_the_tensorboard_package_the_error_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(tensorboard_module._compat, "tensorboard_writing", lambda: None)
    with pytest.raises(ImportError, match=r"pip install 'gpunn\[tensorboard\]'"):
        gpunn.callbacks.TensorBoard(log_dir=tmp_path)


GET_STARTED = '''
import datetime
import numpy as np
import tensorflow as tf

rng = np.random.default_rng(0)
x_train, y_train = rng.random((300, 28, 28)).astype("float32"), rng.integers(0, 10, 300)
x_test, y_test = rng.random((60, 28, 28)).astype("float32"), rng.integers(0, 10, 60)

def create_model():
  return tf.keras.models.Sequential([
    tf.keras.layers.Flatten(input_shape=(28, 28), name='layers_flatten'),
    tf.keras.layers.Dense(512, activation='relu', name='layers_dense'),
    tf.keras.layers.Dropout(0.2, name='layers_dropout'),
    tf.keras.layers.Dense(10, activation='softmax', name='layers_dense_2')
  ])

model = create_model()
model.compile(optimizer='adam',
              loss='sparse_categorical_crossentropy',
              metrics=['accuracy'])

log_dir = "logs/fit/" + datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
tensorboard_callback = tf.keras.callbacks.TensorBoard(log_dir=log_dir, histogram_freq=1)

model.fit(x=x_train,
          y=y_train,
          epochs=5,
          validation_data=(x_test, y_test),
          callbacks=[tensorboard_callback])
'''


def test_tensorboards_get_started_script_runs_after_the_import_rename(tmp_path, monkeypatch, capsys):
    """TensorBoard's "Get started" tutorial (an MLP on MNIST, histogram_freq=1), random data in its shapes."""
    from test_tutorial_scripts import run_script

    namespace = run_script(GET_STARTED, tmp_path, monkeypatch)
    capsys.readouterr()
    run = tmp_path / namespace["log_dir"]
    train, validation = _read(run / "train"), _read(run / "validation")
    assert [step for step, _ in train["epoch_accuracy"]] == [0, 1, 2, 3, 4]
    assert [step for step, _ in validation["epoch_loss"]] == [0, 1, 2, 3, 4]
    assert len(train[f"{namespace['model'].name}/layers_dense/kernel/histogram"]) == 5
