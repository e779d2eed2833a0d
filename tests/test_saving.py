"""Model files: save / load_model round trips, optimizer state, interoperability (a plain safetensors file, no
pickle), save_weights / load_weights, atomic writes and overwrite protection."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
from helpers import digits, numpy_backend  # noqa: F401

import gpunn
from gpunn import layers, optimizers, regularizers
from gpunn.models import NotAModelFileError, load_model
from gpunn.optimizers import schedules
from gpunn.utils import set_random_seed


@pytest.fixture(scope="module")
def data():
    (x, y), (xt, yt) = digits()
    return x[:300], y[:300], xt[:100], yt[:100]


def make_model(optimizer=None, dtype=None):
    model = gpunn.Sequential([
        gpunn.Input(shape=(64,), dtype=dtype),
        layers.Dense(16, activation="relu", kernel_regularizer=regularizers.l2(1e-3)),
        layers.BatchNormalization(),
        layers.Dropout(0.2),
        layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer=optimizer or optimizers.Adam(learning_rate=0.005, amsgrad=True),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


@pytest.fixture
def trained(data):
    x, y, *_ = data
    set_random_seed(0)
    model = make_model()
    model.fit(x, y, epochs=2, batch_size=32, verbose=0)
    return model


def assert_same_weights(a, b):
    wa, wb = a.get_weights(), b.get_weights()
    assert len(wa) == len(wb)
    for u, v in zip(wa, wb):
        assert u.dtype == v.dtype
        np.testing.assert_array_equal(u, v)


# ---- round trips ---------------------------------------------------------------------------------------------


def test_save_and_load_model_round_trip(trained, data, tmp_path):
    _, _, xt, yt = data
    path = tmp_path / "model.h5"
    trained.save(path)
    restored = load_model(path)
    assert [type(l).__name__ for l in restored.layers] == [type(l).__name__ for l in trained.layers]
    assert [l.name for l in restored.layers] == [l.name for l in trained.layers]
    assert_same_weights(trained, restored)
    np.testing.assert_array_equal(restored.predict(xt, verbose=0), trained.predict(xt, verbose=0))
    assert restored.evaluate(xt, yt, verbose=0) == trained.evaluate(xt, yt, verbose=0)
    # Same optimizer, configuration, step count and slots.
    assert type(restored.optimizer) is optimizers.Adam
    assert restored.optimizer.get_config() == trained.optimizer.get_config()
    assert restored.optimizer.iterations == trained.optimizer.iterations == 2 * 10
    assert set(restored.optimizer.slots) == set(trained.optimizer.slots) == {"momentum", "velocity", "velocity_hat"}
    for name, value in trained.optimizer.slots.items():
        np.testing.assert_array_equal(np.asarray(restored.optimizer.slots[name]), np.asarray(value))
    # (an HDF5 file holds the Loss, which its Keras reader takes)
    assert type(restored._resolved_loss) is type(trained._resolved_loss)
    # Layer configuration survives: the regularizer, the dropout rate and seed, the BN momentum.
    assert restored.layers[0].kernel_regularizer.get_config() == {"l2": 1e-3}
    assert restored.layers[2].rate == 0.2 and restored.layers[2].seed == trained.layers[2].seed
    assert restored.layers[1].momentum == 0.99


def test_training_after_load_continues_exactly(trained, data, tmp_path):
    """Continuing after save + load gives bit for bit what continuing without them gives (on the CPU)."""
    x, y, *_ = data
    path = tmp_path / "model.h5"
    trained.save(path)
    restored = load_model(path)
    set_random_seed(123)
    h1 = trained.fit(x, y, epochs=2, batch_size=32, verbose=0)
    set_random_seed(123)
    h2 = restored.fit(x, y, epochs=2, batch_size=32, verbose=0)
    assert h1.history == h2.history
    assert_same_weights(trained, restored)
    assert restored.optimizer.iterations == trained.optimizer.iterations == 4 * 10
    for name, value in trained.optimizer.slots.items():
        np.testing.assert_array_equal(np.asarray(restored.optimizer.slots[name]), np.asarray(value))


def test_schedule_and_step_count_survive_save(data, tmp_path):
    x, y, *_ = data
    schedule = schedules.ExponentialDecay(0.01, decay_steps=5, decay_rate=0.5)
    model = make_model(optimizer=optimizers.SGD(learning_rate=schedule, momentum=0.9))
    model.fit(x, y, epochs=1, batch_size=50, verbose=0)
    model.save(tmp_path / "m.keras")
    restored = load_model(tmp_path / "m.keras")
    assert isinstance(restored.optimizer._learning_rate, schedules.ExponentialDecay)
    assert restored.optimizer.iterations == 6
    assert restored.optimizer.learning_rate == pytest.approx(0.01 * 0.5 ** (6 / 5))
    np.testing.assert_array_equal(np.asarray(restored.optimizer.slots["velocity"]),
                                  np.asarray(model.optimizer.slots["velocity"]))


def test_include_optimizer_false_saves_a_fresh_optimizer(trained, data, tmp_path):
    _, _, xt, _ = data
    trained.save(tmp_path / "m.safetensors", include_optimizer=False)
    restored = load_model(tmp_path / "m.safetensors")
    assert restored.compiled and restored.optimizer.iterations == 0
    np.testing.assert_array_equal(restored.predict(xt, verbose=0), trained.predict(xt, verbose=0))
    from safetensors.numpy import load_file

    assert not any(k.startswith("optimizer/") for k in load_file(tmp_path / "m.safetensors"))


def test_uncompiled_and_float64_models_round_trip(tmp_path, rng):
    model = gpunn.Sequential([gpunn.Input(shape=(5,), dtype="float64"), layers.Dense(3, activation="gelu"),
                              layers.LayerNormalization(), layers.Dense(2, activation="sigmoid")])
    model.save(tmp_path / "plain.h5")
    restored = load_model(tmp_path / "plain.h5")
    assert not restored.compiled
    assert restored.dtype == "float64"
    x = rng.standard_normal((4, 5))
    np.testing.assert_array_equal(restored.predict(x, verbose=0), model.predict(x, verbose=0))
    assert restored.predict(x, verbose=0).dtype == np.float64
    compiled_off = load_model(tmp_path / "plain.h5", compile=False)
    assert not compiled_off.compiled


def test_load_model_compile_false_skips_the_optimizer(trained, tmp_path):
    trained.save(tmp_path / "m.h5")
    restored = load_model(tmp_path / "m.h5", compile=False)
    assert not restored.compiled and restored.optimizer is None
    assert_same_weights(trained, restored)


def test_model_built_from_data_round_trips(data, tmp_path):
    x, y, xt, _ = data
    model = gpunn.Sequential([layers.Dense(8, activation="tanh"), layers.Dense(10, activation="softmax")])
    model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, verbose=0)
    model.save(tmp_path / "m.h5")
    restored = load_model(tmp_path / "m.h5")
    assert restored.input_shape == (None, 64)
    np.testing.assert_array_equal(restored.predict(xt, verbose=0), model.predict(xt, verbose=0))
    assert type(restored.optimizer) is optimizers.RMSprop


# ---- the file itself -----------------------------------------------------------------------------------------


def test_model_file_is_plain_safetensors_without_pickle(trained, tmp_path):
    from safetensors import safe_open
    from safetensors.numpy import load_file

    path = tmp_path / "model.safetensors"
    trained.save(path)
    tensors = load_file(path)  # another tool's reader
    weight_keys = [k for k in tensors if k.startswith("layers/")]
    names = [(i, l.name, s.name) for i, l in enumerate(trained.layers) for s in l.weight_specs()]
    assert set(weight_keys) == {f"layers/{i:03d}.{n}/{w}" for i, n, w in names}
    assert len(weight_keys) == len(trained.get_weights()) == 8
    for (i, n, w), value in zip(names, trained.get_weights()):
        np.testing.assert_array_equal(tensors[f"layers/{i:03d}.{n}/{w}"], value)
    assert tensors[f"layers/000.{trained.layers[0].name}/kernel"].shape == (64, 16)  # Keras layout
    assert {k for k in tensors if k.startswith("optimizer/")} == {
        "optimizer/momentum", "optimizer/velocity", "optimizer/velocity_hat"}
    with safe_open(str(path), "np") as f:
        metadata = f.metadata()
    assert metadata["format"] == "gpunn.model"
    config = json.loads(metadata["model_config"])
    assert config["class_name"] == "Sequential"
    assert [l["class_name"] for l in config["config"]["layers"]] == [
        "InputLayer", "Dense", "BatchNormalization", "Dropout", "Dense"]
    assert json.loads(metadata["compile_config"])["optimizer"]["class_name"] == "Adam"

    # No pickle, nor anything else: the file is the 8-byte header length, the JSON header, then exactly the
    # tensors' bytes, back to back.
    raw = path.read_bytes()
    header_len = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + header_len])
    assert all(isinstance(v, str) for v in header.pop("__metadata__").values())
    spans = sorted(tuple(entry["data_offsets"]) for entry in header.values())
    assert spans[0][0] == 0
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))
    assert 8 + header_len + spans[-1][1] == len(raw)
    assert {entry["dtype"] for entry in header.values()} <= {"F32", "F64"}
    assert b"\x80\x04\x95" not in raw[:8 + header_len] and b"pickle" not in raw[:8 + header_len]


def test_file_name_does_not_matter(trained, tmp_path, data):
    _, _, xt, _ = data
    for name in ("model.h5", "model.keras", "model.safetensors", "model"):
        trained.save(tmp_path / name)
        np.testing.assert_array_equal(load_model(str(tmp_path / name)).predict(xt, verbose=0),
                                      trained.predict(xt, verbose=0))


def test_saved_file_gets_ordinary_permissions(trained, tmp_path):
    path = tmp_path / "model.h5"
    trained.save(path)
    umask = os.umask(0)
    os.umask(umask)
    assert (path.stat().st_mode & 0o777) == (0o666 & ~umask)


# ---- save_weights / load_weights -----------------------------------------------------------------------------


def test_save_weights_and_load_into_a_fresh_model(trained, data, tmp_path):
    _, _, xt, _ = data
    path = tmp_path / "w.weights.h5"
    trained.save_weights(path)
    fresh = make_model()  # same architecture, other generated layer names
    assert [l.name for l in fresh.layers] != [l.name for l in trained.layers]
    fresh.load_weights(path)
    assert_same_weights(trained, fresh)
    np.testing.assert_array_equal(fresh.predict(xt, verbose=0), trained.predict(xt, verbose=0))
    # load_weights also reads a full model file.
    trained.save(tmp_path / "full.h5")
    other = make_model()
    other.load_weights(tmp_path / "full.h5")
    assert_same_weights(trained, other)
    # A weights file holds no model: load_model refuses it clearly.
    with pytest.raises(NotAModelFileError, match="not a gpunn model file"):
        load_model(path)


def test_load_weights_into_a_different_architecture_fails_clearly(trained, tmp_path):
    path = tmp_path / "w.h5"
    trained.save_weights(path)
    wider = gpunn.Sequential([gpunn.Input(shape=(64,)), layers.Dense(17, activation="relu"),
                              layers.BatchNormalization(), layers.Dropout(0.2), layers.Dense(10)])
    before = wider.get_weights()
    with pytest.raises(ValueError, match=r"has shape \(64, 16\), the model expects \(64, 17\)"):
        wider.load_weights(path)
    deeper = gpunn.Sequential([gpunn.Input(shape=(64,)), layers.Dense(16), layers.BatchNormalization(),
                               layers.Dropout(0.2), layers.Dense(10), layers.Dense(3)])
    with pytest.raises(ValueError, match="lacks weights"):
        deeper.load_weights(path)
    for a, b in zip(before, wider.get_weights()):
        np.testing.assert_array_equal(a, b)


# ---- atomic writes -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("failing", ["replace", "fsync", "write_interrupt"])
def test_crash_mid_save_keeps_the_previous_file(failing, trained, data, tmp_path, monkeypatch):
    x, y, *_ = data
    path = tmp_path / "model.h5"
    trained.save(path)
    previous = path.read_bytes()
    trained.fit(x, y, epochs=1, verbose=0)  # new weights to save

    import gpunn.models.file_format as saving

    def boom(*args, **kwargs):
        raise (KeyboardInterrupt() if failing == "write_interrupt" else OSError("No space left on device"))

    target = {"replace": "replace", "fsync": "fsync", "write_interrupt": "fsync"}[failing]
    monkeypatch.setattr(saving.os, target, boom)
    with pytest.raises(KeyboardInterrupt if failing == "write_interrupt" else OSError):
        trained.save(path)
    monkeypatch.undo()
    assert path.read_bytes() == previous
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.h5"]  # no temporary file left behind
    restored = load_model(path)  # still a good model file
    assert restored.optimizer.iterations == 20


def test_overwrite_false_refuses_an_existing_file(trained, tmp_path):
    path = tmp_path / "model.h5"
    path.write_bytes(b"precious")
    with pytest.raises(FileExistsError, match="overwrite=False"):
        trained.save(path, overwrite=False)
    with pytest.raises(FileExistsError, match="model.h5"):
        trained.save_weights(path, overwrite=False)
    assert path.read_bytes() == b"precious"
    new = tmp_path / "new.h5"
    trained.save(new, overwrite=False)  # a new name is fine
    assert load_model(new).optimizer.iterations == trained.optimizer.iterations


def test_save_creates_missing_directories(trained, tmp_path):
    path = tmp_path / "a" / "b" / "model.h5"
    trained.save(path)
    assert path.is_file()


def test_models_save_model_is_model_save(tmp_path):
    """keras.models.save_model(model, filepath): the same file as model.save(filepath)."""
    model = gpunn.Sequential([gpunn.Input(shape=(3,)), gpunn.layers.Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    gpunn.models.save_model(model, tmp_path / "m.keras")
    loaded = gpunn.models.load_model(tmp_path / "m.keras")
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(FileExistsError):
        gpunn.models.save_model(model, tmp_path / "m.keras", overwrite=False)
