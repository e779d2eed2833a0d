"""Model files: nothing silent, nothing lost. A damaged file is refused naming what is damaged (SHA-256 digests
of every tensor and metadata entry); a config that does not build a model is refused as clearly; files written
before the digests still load; a save killed mid-write leaves the previous file and no lasting debris; bad
paths are refused up front, naming them."""
from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from helpers import numpy_backend  # noqa: F401

import gpunn
from gpunn import layers, losses, optimizers
from gpunn.models import NotAModelFileError, load_model
from gpunn.models import save as save_module
from gpunn.models.atomic_write import is_temporary, remove_stale_temporaries, temporary_path
from gpunn.models.file_digests import DIGESTS_KEY
from gpunn.models.file_format import write_file


def expect(exc_type, *fragments):
    """pytest.raises of exactly ``exc_type`` whose message holds every fragment (plain text)."""
    return pytest.raises(exc_type, match="(?s)" + "".join(f"(?=.*{re.escape(f)})" for f in fragments))


def small_model():
    model = gpunn.Sequential([gpunn.Input(shape=(4,)), layers.Dense(3, activation="relu"),
                              layers.Dropout(0.1, seed=1), layers.Dense(2)])
    model.compile(optimizer=optimizers.Adam(learning_rate=0.001), loss="mse")
    rng = np.random.default_rng(0)
    model.fit(rng.random((8, 4), dtype=np.float32), rng.random((8, 2), dtype=np.float32),
              epochs=1, batch_size=8, verbose=0)
    return model


@pytest.fixture
def saved(tmp_path):
    """(model, path, the file's bytes) of a small trained model with optimizer state."""
    model = small_model()
    path = tmp_path / "model.safetensors"
    model.save(path)
    return model, path, path.read_bytes()


def layout(raw: bytes) -> tuple[int, dict]:
    """(header length, {tensor name: (start, end) of its bytes in the file})."""
    header_len = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + header_len])
    header.pop("__metadata__")
    return header_len, {name: (8 + header_len + entry["data_offsets"][0], 8 + header_len + entry["data_offsets"][1])
                        for name, entry in header.items()}


def flipped(raw: bytes, position: int, mask: int = 0xFF) -> bytes:
    damaged = bytearray(raw)
    damaged[position] ^= mask
    return bytes(damaged)


def replaced_once(raw: bytes, old: bytes, new: bytes) -> bytes:
    assert len(old) == len(new) and raw.count(old) >= 1
    return raw.replace(old, new, 1)


def metadata_and_tensors(path):
    from safetensors import safe_open

    with safe_open(str(path), "np") as f:
        return dict(f.metadata()), {name: f.get_tensor(name) for name in f.keys()}


def rewritten(path, out, **changes):
    """``path``'s content with metadata entries changed (None removes one), written with valid digests."""
    metadata, tensors = metadata_and_tensors(path)
    metadata.pop(DIGESTS_KEY)
    for key, value in changes.items():
        if value is None:
            metadata.pop(key, None)
        else:
            metadata[key] = value
    write_file(out, tensors, metadata)
    return out


# ---- damaged files are refused, naming what is damaged -------------------------------------------------------


def test_every_single_bit_flip_anywhere_in_the_file_is_refused(saved, tmp_path):
    _, _, raw = saved
    damaged_path = tmp_path / "damaged.h5"
    for position in range(len(raw)):
        damaged_path.write_bytes(flipped(raw, position, 0x01))
        with pytest.raises(NotAModelFileError, match="damaged"):
            load_model(damaged_path)


def test_an_empty_file_is_said_to_be_empty(tmp_path):
    for name in ("empty.keras", "empty.h5", "empty.safetensors"):
        (tmp_path / name).write_bytes(b"")
        with expect(NotAModelFileError, "filepath:", name, "is empty (0 bytes)"):
            load_model(tmp_path / name)


def test_a_flip_in_the_header_is_refused(saved, tmp_path):
    _, _, raw = saved
    header_len, _ = layout(raw)
    for position in (0, 3, 8, 8 + header_len // 2, 8 + header_len - 1):  # length, JSON start, middle, padding
        path = tmp_path / f"header-{position}.h5"
        path.write_bytes(flipped(raw, position))
        with expect(NotAModelFileError, "filepath:", str(path), "damaged"):
            load_model(path)


def test_a_flip_in_each_tensor_is_refused_naming_the_tensor(saved, tmp_path):
    model, _, raw = saved
    _, spans = layout(raw)
    assert {n for n in spans if n.startswith("optimizer/")} == {"optimizer/momentum", "optimizer/velocity"}
    for name, (start, end) in spans.items():
        for position in (start, (start + end) // 2, end - 1):
            path = tmp_path / "damaged.h5"
            path.write_bytes(flipped(raw, position))
            with expect(NotAModelFileError, "filepath:", str(path), "is damaged", f"tensor {name!r}",
                        "does not match its SHA-256 digest"):
                load_model(path)
            fresh = small_model()
            before = fresh.get_weights()
            with expect(NotAModelFileError, f"tensor {name!r}"):
                fresh.load_weights(path)
            for a, b in zip(before, fresh.get_weights()):
                np.testing.assert_array_equal(a, b)


def test_a_changed_config_is_refused_naming_it_even_when_it_is_still_valid(saved, tmp_path):
    _, _, raw = saved
    path = tmp_path / "damaged.h5"
    cases = [
        (b"relu", b"selu", "the model config (metadata 'model_config') does not match its SHA-256 digest"),
        (b"0.001", b"0.003", "the compile config (metadata 'compile_config') does not match"),
        (b'"format_version":"2"', b'"format_version":"1"', "metadata entry 'format_version' does not match"),
        (b'"format":"gpunn.model"', b'"format":"gpunn.modem"', "metadata entry 'format' does not match"),
    ]
    for old, new, fragment in cases:
        path.write_bytes(replaced_once(raw, old, new))
        with expect(NotAModelFileError, str(path), "is damaged", fragment):
            load_model(path)


def test_a_changed_dtype_or_shape_in_the_header_is_refused(saved, tmp_path):
    """'F32' -> 'I32' keeps every offset valid: only the recorded dtype tells the bytes are misread."""
    _, _, raw = saved
    path = tmp_path / "damaged.h5"
    path.write_bytes(replaced_once(raw, b'"dtype":"F32"', b'"dtype":"I32"'))
    with expect(NotAModelFileError, str(path), "is damaged", "has dtype int32", "float32 and"):
        load_model(path)


def test_a_file_whose_digests_were_removed_is_refused(saved, tmp_path):
    _, _, raw = saved
    path = tmp_path / "damaged.h5"
    path.write_bytes(replaced_once(raw, DIGESTS_KEY.encode(), DIGESTS_KEY[:-1].encode() + b"X"))
    with expect(NotAModelFileError, str(path), "is damaged", "digests", "are missing"):
        load_model(path)
    path.write_bytes(replaced_once(raw, rb'{\"tensors\":{', rb'{\"tensorz\":{'))
    with expect(NotAModelFileError, str(path), "digest record", "not readable"):
        load_model(path)


def test_a_truncated_file_is_refused(saved, tmp_path):
    _, _, raw = saved
    path = tmp_path / "cut.h5"
    for length in (0, 5, 100, len(raw) - 1):
        path.write_bytes(raw[:length])
        with expect(NotAModelFileError, str(path), "gpunn model file"):
            load_model(path)


def test_a_damaged_weights_file_is_refused(tmp_path):
    model = small_model()
    path = tmp_path / "w.safetensors"
    model.save_weights(path)
    raw = path.read_bytes()
    name, (start, _) = next(iter(layout(raw)[1].items()))
    path.write_bytes(flipped(raw, start))
    fresh = small_model()
    before = fresh.get_weights()
    with expect(NotAModelFileError, str(path), f"tensor {name!r}"):
        fresh.load_weights(path)
    for a, b in zip(before, fresh.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_digests_are_plain_sha256_of_the_stored_bytes(saved):
    """Any tool can check a file: sha256 of each tensor's bytes and of each metadata entry's text."""
    _, path, _ = saved
    metadata, tensors = metadata_and_tensors(path)
    record = json.loads(metadata.pop(DIGESTS_KEY))
    assert metadata["format_version"] == "2"
    assert set(record["tensors"]) == set(tensors)
    for name, value in tensors.items():
        assert record["tensors"][name] == {"dtype": value.dtype.name, "shape": list(value.shape),
                                           "sha256": hashlib.sha256(value.tobytes()).hexdigest()}
    assert record["metadata"] == {k: hashlib.sha256(v.encode()).hexdigest() for k, v in metadata.items()}


# ---- configs that do not build a model -----------------------------------------------------------------------


def _config_with(path, edit):
    config = json.loads(metadata_and_tensors(path)[0]["model_config"])
    edit(config)
    return json.dumps(config)


def test_configs_that_do_not_build_a_model_are_refused_clearly(saved, tmp_path):
    _, path, _ = saved

    def unknown_layer(config):
        config["config"]["layers"][1]["class_name"] = "Conv2D"

    def missing_units(config):
        del config["config"]["layers"][1]["config"]["units"]

    def wider_layer(config):
        config["config"]["layers"][1]["config"]["units"] = 5

    cases = {
        "unknown layer class": (dict(model_config=_config_with(path, unknown_layer)),
                                ["its model config does not describe a model gpunn can build", "Conv2D"]),
        "missing key": (dict(model_config=json.dumps({"class_name": "Sequential", "config": {}})),
                        ["its model config", "missing key 'layers'"]),
        "missing argument": (dict(model_config=_config_with(path, missing_units)), ["its model config", "units"]),
        "not JSON": (dict(model_config="{not json"), ["its model config", "JSONDecodeError"]),
        "no model config": (dict(model_config=None), ["its model config", "missing key 'model_config'"]),
        "other model class": (dict(model_config=json.dumps({"class_name": "Subclassed", "config": {}})),
                              ["'Subclassed' model", "Sequential and functional models, and subclasses"]),
        "functional without layers": (dict(model_config=json.dumps({"class_name": "Functional", "config": {}})),
                                      ["does not describe a model gpunn can build", "'layers'"]),
        "weights of another shape": (dict(model_config=_config_with(path, wider_layer)),
                                     ["its weights do not fit its model config", "(4, 5)"]),
        "unknown optimizer": (dict(compile_config=json.dumps({"optimizer": {"class_name": "Yogi", "config": {}},
                                                               "loss": "mse", "metrics": []})),
                              ["its compile config", "Yogi"]),
        "newer format": (dict(format_version="3"),
                         ["newer gpunn", "file format version 3", "reads versions up to 2", "upgrade gpunn"]),
        "unreadable format version": (dict(format_version="two"), ["format version 'two' is not a number"]),
    }
    for case, (changes, fragments) in cases.items():
        bad = rewritten(path, tmp_path / f"{case.replace(' ', '-')}.h5", **changes)
        with expect(NotAModelFileError, "filepath:", str(bad), *fragments):
            load_model(bad)


# ---- files written before the digests ------------------------------------------------------------------------


def save_the_old_way(model, path, weights_only=False):
    """What model.save / save_weights wrote before files carried digests: format version 1."""
    from safetensors.numpy import save_file

    tensors = {f"layers/{i:03d}.{layer.name}/{spec.name}": np.ascontiguousarray(value)
               for i, layer in enumerate(model.layers)
               for spec, value in zip(layer.weight_specs(), layer.get_weights())}
    metadata = {"format": "gpunn.weights" if weights_only else "gpunn.model", "format_version": "1",
                "gpunn_version": "0.1.0"}
    if not weights_only:
        metadata["model_config"] = json.dumps({"class_name": "Sequential", "config": model.get_config()})
        metadata["dropout_counters"] = json.dumps({str(i): layer.counter for i, layer in enumerate(model.layers)
                                                   if isinstance(layer, layers.Dropout)})
        metadata["compile_config"] = json.dumps({
            "optimizer": optimizers.serialize(model.optimizer), "loss": losses.serialize(model._resolved_loss),
            "metrics": [save_module.serialize_metric(m) for m in model.metric_identifiers]})
        metadata["optimizer_iterations"] = str(model.optimizer.iterations)
        for name, value in model.optimizer.slot_buffers().items():
            tensors[f"optimizer/{name}"] = np.asarray(value).copy()
    save_file(tensors, str(path), metadata=metadata)


def test_files_written_before_the_digests_still_load(tmp_path):
    model = small_model()
    path = tmp_path / "old.h5"
    save_the_old_way(model, path)
    restored = load_model(path)
    for a, b in zip(model.get_weights(), restored.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert restored.optimizer.iterations == model.optimizer.iterations == 1
    for name, value in model.optimizer.slots.items():
        np.testing.assert_array_equal(np.asarray(restored.optimizer.slots[name]), np.asarray(value))
    x = np.random.default_rng(1).random((3, 4), dtype=np.float32)
    np.testing.assert_array_equal(restored.predict(x, verbose=0), model.predict(x, verbose=0))

    weights = tmp_path / "old.weights.h5"
    save_the_old_way(model, weights, weights_only=True)
    fresh = small_model()
    fresh.load_weights(weights)
    for a, b in zip(model.get_weights(), fresh.get_weights()):
        np.testing.assert_array_equal(a, b)

    # Saving again writes the current format, with digests (a .h5 name now means HDF5: asked for explicitly).
    restored.save(path, save_format="safetensors")
    assert DIGESTS_KEY in metadata_and_tensors(path)[0]


# ---- a save killed mid-write ---------------------------------------------------------------------------------

SAVE_KILLED_MID_WRITE = r"""
import os, sys, time
import gpunn.models.atomic_write as atomic_write
from gpunn.models import load_model

path, ready = sys.argv[1], sys.argv[2]
model = load_model(path)
model.set_weights([w + 1 for w in model.get_weights()])

def write_half_then_hang(handle, data):
    view = memoryview(data)
    handle.write(view[:len(view) // 2])
    handle.flush()
    os.fsync(handle.fileno())
    with open(ready, "w") as flag:
        flag.write("half written")
    time.sleep(600)

atomic_write._write_all = write_half_then_hang
model.save(path)
"""


def test_a_save_killed_mid_write_keeps_the_previous_file_and_the_next_save_removes_its_debris(tmp_path):
    saves, scratch = tmp_path / "saves", tmp_path / "scratch"
    saves.mkdir(), scratch.mkdir()
    model = gpunn.Sequential([gpunn.Input(shape=(256,)), layers.Dense(512), layers.Dense(10)])
    model.compile(optimizer="adam", loss="mse")
    # one step: the optimizer's slots in the file, as in the one the child writes (a loaded model's optimizer is
    # built at the load), so that half of the child's file is less than the whole of this one
    model.train_on_batch(np.zeros((1, 256)), np.zeros((1, 10)))
    path = saves / "model.h5"
    model.save(path)
    previous = path.read_bytes()
    ready = scratch / "ready"
    with open(scratch / "stderr", "wb") as stderr:
        child = subprocess.Popen([sys.executable, "-c", SAVE_KILLED_MID_WRITE, str(path), str(ready)],
                                 env={**os.environ, "GPUNN_BACKEND": "numpy"}, stdout=subprocess.DEVNULL,
                                 stderr=stderr)
        try:
            deadline = time.monotonic() + 120
            while not ready.exists():
                assert child.poll() is None, f"the save ended early:\n{(scratch / 'stderr').read_text()}"
                assert time.monotonic() < deadline, "the save never got half way"
                time.sleep(0.02)
            child.send_signal(signal.SIGKILL)
        finally:
            child.kill()
            child.wait()
    assert child.returncode == -signal.SIGKILL

    assert path.read_bytes() == previous
    restored = load_model(path)
    for a, b in zip(model.get_weights(), restored.get_weights()):
        np.testing.assert_array_equal(a, b)
    debris = [p for p in saves.iterdir() if p.name != "model.h5"]
    assert len(debris) == 1 and is_temporary(debris[0].name) and f".{child.pid}@" in debris[0].name
    assert 0 < debris[0].stat().st_size < len(previous)

    model.save(saves / "other.h5")  # the next save in that directory, under another name
    assert sorted(p.name for p in saves.iterdir()) == ["model.h5", "other.h5"]


def test_only_temporaries_of_dead_processes_of_this_host_are_removed(tmp_path):
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    try:
        ours = os.path.basename(temporary_path(str(tmp_path / "model.h5")))
        assert is_temporary(ours)

        def named(pid, host_suffix=""):
            name = ours.replace(f".{os.getpid()}@", f".{pid}@").replace("@", f"@{host_suffix}", 1)
            (tmp_path / name).write_bytes(b"partial")
            return name

        dead = named(ended.pid)
        kept = {named(sleeper.pid), named(os.getpid()), named(ended.pid, host_suffix="other-host."),
                ".model.h5.tmp", "model.h5.123@host.gpunn.tmp", "notes.txt"}
        for name in kept - {p.name for p in tmp_path.iterdir()}:
            (tmp_path / name).write_bytes(b"not ours")
        assert remove_stale_temporaries(str(tmp_path)) == [str(tmp_path / dead)]
        assert {p.name for p in tmp_path.iterdir()} == kept
    finally:
        sleeper.kill()
        sleeper.wait()


def test_a_failed_save_leaves_no_temporary(tmp_path, monkeypatch):
    model = small_model()
    import gpunn.models.atomic_write as atomic_write

    def fail(handle, data):
        handle.write(memoryview(data)[:10])
        raise OSError("No space left on device")

    monkeypatch.setattr(atomic_write, "_write_all", fail)
    with pytest.raises(OSError, match="No space left"):
        model.save(tmp_path / "model.h5")
    assert list(tmp_path.iterdir()) == []


# ---- bad paths are refused up front, naming them -------------------------------------------------------------


@pytest.fixture
def no_work(monkeypatch):
    """Fails a test that gathers weights to save: the path checks come first."""
    def started(*args, **kwargs):
        raise AssertionError("the save started working before checking its path")

    monkeypatch.setattr(save_module, "_weight_tensors", started)


def test_load_model_names_a_directory_or_a_missing_file(tmp_path):
    with expect(IsADirectoryError, "filepath:", repr(str(tmp_path)), "is a directory"):
        load_model(tmp_path)
    with expect(FileNotFoundError, "filepath: no such file", "nope.h5"):
        load_model(tmp_path / "nope.h5")
    (tmp_path / "plain.txt").write_text("x")
    with expect(FileNotFoundError, "filepath: no such file", "plain.txt", "is a file, not a directory"):
        load_model(tmp_path / "plain.txt" / "model.h5")
    (tmp_path / "dangling").symlink_to(tmp_path / "gone.h5")
    with expect(FileNotFoundError, "filepath: no such file", "dangling", "symbolic link"):
        load_model(tmp_path / "dangling")
    with expect(TypeError, "filepath: expected a file path"):
        load_model(42)


def test_save_names_a_directory_or_a_file_in_the_way(tmp_path, no_work):
    model = small_model()
    for save in (model.save, model.save_weights):
        with expect(IsADirectoryError, "filepath:", repr(str(tmp_path)), "is a directory"):
            save(tmp_path)
        (tmp_path / "plain.txt").write_text("x")
        target = tmp_path / "plain.txt" / "sub" / "model.h5"
        with expect(NotADirectoryError, "filepath:", str(target), "plain.txt", "is a file, not a directory"):
            save(target)
        (tmp_path / "exists.h5").write_text("precious")
        with expect(FileExistsError, "filepath:", "exists.h5", "overwrite=False"):
            save(tmp_path / "exists.h5", overwrite=False)
        with expect(ValueError, "filepath: expected a file path"):
            save("")
        missing = str(tmp_path / "not_made") + "/"  # a directory's name ('mymodel/'), not made: named so
        with expect(IsADirectoryError, "filepath:", repr(missing), "names a directory", "save needs a file path"):
            save(missing)
        assert not (tmp_path / "not_made").exists()
    assert (tmp_path / "exists.h5").read_text() == "precious"
    assert not (tmp_path / "plain.txt").is_dir()
