"""CIFAR-10 and CIFAR-100: gpunn reads Keras's archives and returns what ``keras.datasets.cifar10`` and ``cifar100``
return; batch pickles are read by an unpickler that refuses everything but builtin values and NumPy arrays.

No test downloads: archives with the published layout (``cifar-10-batches-py/data_batch_1``..``5``,
``test_batch``; ``cifar-100-python/train``, ``test``; Python 2 pickles, tar.gz; see ``cifar_files``) are written to
a temporary gpunn cache (``GPUNN_DATA_DIR``) and, under Keras's name for its download, to a temporary ``KERAS_HOME``.
Keras loads them in a subprocess on the jax backend with its own ``get_file`` (told no hash, so that it extracts the
synthetic archive rather than fetch the published one) and saves what it returns; every array must be gpunn's.
"""
import collections
import dataclasses
import inspect
import io
import json
import os
import pickle
import shutil
import sys
import tarfile
import textwrap
import urllib.error

import numpy as np
import pytest
from cifar_files import (CIFAR10_ARCHIVE, CIFAR10_FOLDER, CIFAR10_TRAIN, CIFAR100_ARCHIVE, CIFAR100_FOLDER,
                         batch_dict, cifar10_members, cifar100_members, python2_pickle, write_tar_gz)
from helpers import keras_unavailable_reason, run_keras_script

from gpunn import datasets
from gpunn.datasets import _cache, _cifar, cifar10, cifar100
from gpunn.datasets._restricted_pickle import RefusedGlobalError

MODULES = {"cifar10": cifar10, "cifar100": cifar100}

# (data set, load_data keywords): each label mode, and the arguments Keras refuses.
CASES = [
    ("cifar10", {}),
    ("cifar100", {}),
    ("cifar100", {"label_mode": "fine"}),
    ("cifar100", {"label_mode": "coarse"}),
    ("cifar100", {"label_mode": "medium"}),
    ("cifar100", {"label_mode": None}),
    ("cifar100", {"label_mode": "Fine"}),
    ("cifar10", {"label_mode": "fine"}),
    ("cifar100", {"labels": "coarse"}),
]
CASE_IDS = [f"{name}-{'-'.join(f'{k}={v}' for k, v in kwargs.items()) or 'defaults'}" for name, kwargs in CASES]


# ---------------------------------------------------------------- the same archives in both caches


@pytest.fixture(scope="module")
def archives(tmp_path_factory):
    """Full-size CIFAR-10 training batches (Keras's loader needs 10,000 rows in each), small CIFAR-100 batches."""
    root = tmp_path_factory.mktemp("cifar")
    cifar10_files, cifar10_batches = cifar10_members()
    cifar100_files, cifar100_batches = cifar100_members()
    keras_datasets = root / "keras_home" / "datasets"
    keras_datasets.mkdir(parents=True)
    for name, members, fname in (("cifar10", cifar10_files, CIFAR10_ARCHIVE),
                                 ("cifar100", cifar100_files, CIFAR100_ARCHIVE)):
        (root / "gpunn" / name).mkdir(parents=True)
        write_tar_gz(root / "gpunn" / name / fname, members)
        # Where Keras's get_file keeps its download: "<fname>_archive" for an fname without a dot.
        shutil.copyfile(root / "gpunn" / name / fname,
                        keras_datasets / f"{MODULES[name].ARCHIVE.keras_fname}_archive")
    return {"root": root, "cifar10": cifar10_batches, "cifar100": cifar100_batches}


@pytest.fixture
def in_cache(archives, monkeypatch):
    monkeypatch.setenv("GPUNN_DATA_DIR", str(archives["root"] / "gpunn"))
    monkeypatch.setenv("GPUNN_OFFLINE", "1")  # a test that reached for the network would fail loudly
    return archives["root"] / "gpunn"


def outcome(call):
    """What a loader gave: its result, or the error's type and message."""
    try:
        return call()
    except Exception as e:  # noqa: BLE001 - the error itself is what is compared
        return ("raised", type(e).__name__, str(e))


# ---------------------------------------------------------------- Keras itself on the same files

KERAS_SIDE = textwrap.dedent("""
    import inspect, json, os, sys
    import numpy as np
    import keras
    from keras.src.datasets import cifar10, cifar100
    from keras.src.utils import file_utils

    out_dir, cases_file = sys.argv[1:]
    modules = {"cifar10": cifar10, "cifar100": cifar100}
    requests = []

    def recording(name):
        def get_file(**kwargs):
            requests.append({"set": name, **{k: v for k, v in kwargs.items()}})
            # Keras's own get_file and cache; no hash, or it would fetch the published archive over this one.
            path = file_utils.get_file(**dict(kwargs, file_hash=None))
            requests[-1]["returned"] = path
            requests[-1]["extracted"] = sorted(
                os.path.relpath(os.path.join(d, f), path) for d, _, fs in os.walk(path) for f in fs)
            return path
        return get_file

    for name, module in modules.items():
        module.get_file = recording(name)
    results = []
    for index, (name, kwargs) in enumerate(json.load(open(cases_file))):
        try:
            parts = modules[name].load_data(**kwargs)
        except Exception as e:
            results.append(["raised", type(e).__name__, str(e)])
            continue
        files = []
        for part, array in zip(("x_train", "y_train", "x_test", "y_test"), parts[0] + parts[1]):
            files.append(os.path.join(out_dir, f"{index}_{part}.npy"))
            np.save(files[-1], array)
        results.append(["arrays", files])
    json.dump({"results": results, "requests": requests, "image_data_format": keras.config.image_data_format(),
               "keras_home": keras.src.backend.config.keras_home(),
               "signatures": {name: str(inspect.signature(m.load_data)) for name, m in modules.items()}},
              open(os.path.join(out_dir, "keras.json"), "w"))
""")


@pytest.fixture(scope="module")
def keras_side(archives):
    """Keras's results for every case, from one subprocess (so that this process never imports Keras)."""
    reason = keras_unavailable_reason()
    if reason:
        pytest.skip(reason)
    root = archives["root"]
    out_dir = root / "keras_out"
    out_dir.mkdir()
    (root / "cases.json").write_text(json.dumps(CASES))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(KERAS_BACKEND="jax", KERAS_HOME=str(root / "keras_home"))
    run = run_keras_script(KERAS_SIDE, str(out_dir), str(root / "cases.json"), env=env, timeout=600, cwd=root)
    assert run.returncode == 0, run.stderr[-4000:]
    return json.loads((out_dir / "keras.json").read_text())


def keras_result(keras_side, case):
    result = keras_side["results"][case]
    if result[0] == "raised":
        return tuple(result)
    # mmap: the CIFAR-10 training images are 150 MB; they are compared, not copied
    return [np.load(path, mmap_mode="r") for path in result[1]]


def assert_same_result(ours, theirs):
    if isinstance(theirs, tuple):
        assert ours == theirs
        return
    assert not (isinstance(ours, tuple) and ours[0] == "raised"), ours
    (x_train, y_train), (x_test, y_test) = ours
    for part, got, want in zip(("x_train", "y_train", "x_test", "y_test"), (x_train, y_train, x_test, y_test),
                               theirs):
        assert type(got) is np.ndarray, part
        assert (got.dtype, got.shape) == (want.dtype, want.shape), part
        np.testing.assert_array_equal(got, want, err_msg=part)


@pytest.mark.parametrize("case", range(len(CASES)), ids=CASE_IDS)
def test_load_data_returns_what_keras_returns(case, keras_side, in_cache):
    name, kwargs = CASES[case]
    assert_same_result(outcome(lambda: MODULES[name].load_data(**kwargs)), keras_result(keras_side, case))


def test_the_comparison_is_not_vacuous(keras_side, archives):
    """Keras ran on the synthetic archives, in its default channels_last layout, with full-size CIFAR-10 batches;
    the fine and coarse labels differ; and Keras's images are the batches' rows, each plane a colour channel."""
    assert keras_side["image_data_format"] == "channels_last"
    assert keras_side["keras_home"] == str(archives["root"] / "keras_home")
    x_train, y_train, x_test, y_test = keras_result(keras_side, CASES.index(("cifar10", {})))
    assert (x_train.shape, y_train.shape, x_test.shape, y_test.shape) == ((50000, 32, 32, 3), (50000, 1),
                                                                          (37, 32, 32, 3), (37, 1))
    assert x_train.dtype == y_train.dtype == y_test.dtype == np.uint8
    row = archives["cifar10"]["data_batch_2"][b"data"][5]
    np.testing.assert_array_equal(x_train[10005], row.reshape(3, 32, 32).transpose(1, 2, 0))
    assert y_train[10005, 0] == archives["cifar10"]["data_batch_2"][b"labels"][5]
    fine = keras_result(keras_side, CASES.index(("cifar100", {"label_mode": "fine"})))
    coarse = keras_result(keras_side, CASES.index(("cifar100", {"label_mode": "coarse"})))
    assert fine[1].dtype == coarse[1].dtype == np.int64 and fine[1].shape == (120, 1)
    assert fine[1].max() > 19 and coarse[1].max() <= 19
    assert sum(1 for r in keras_side["results"] if r[0] == "raised") == 5


def test_urls_hashes_and_file_names_are_keras_s(keras_side):
    requests = keras_side["requests"]
    assert {r["set"] for r in requests} == set(MODULES)
    for request in requests:
        module = MODULES[request["set"]]
        archive = module.ARCHIVE
        assert (request["fname"], request["origin"], request["file_hash"], request["extract"]) == (
            archive.keras_fname, archive.origin, archive.file_hash, True)
        assert archive.origin.endswith("/" + archive.fname)
        assert (archive.origin, archive.file_hash) == (module.ORIGIN, module.FILE_HASH)
        # Keras reads <extraction>/<folder>/<batch>: the same folder and batch names gpunn extracts and reads.
        assert {f"{archive.folder}/{batch}" for batch in archive.batches} <= set(request["extracted"])
        assert request["returned"].endswith(os.path.join("datasets", archive.keras_fname))


def test_signatures_are_keras_s(keras_side):
    for name, module in MODULES.items():
        assert str(inspect.signature(module.load_data)) == keras_side["signatures"][name]
    assert str(inspect.signature(cifar100.load_data)) == "(label_mode='fine')"


# ---------------------------------------------------------------- the cache: extracted once, read after


def small_cifar10(directory, seed=0):
    """A small CIFAR-10 archive (gpunn reads batches of any size) in ``directory/cifar10/``; its batches."""
    members, batches = cifar10_members(train_rows=6, test_rows=4, seed=seed)
    (directory / "cifar10").mkdir(parents=True, exist_ok=True)
    write_tar_gz(directory / "cifar10" / CIFAR10_ARCHIVE, members)
    return batches


def small_cifar100(directory):
    members, batches = cifar100_members(train_rows=9, test_rows=5)
    (directory / "cifar100").mkdir(parents=True, exist_ok=True)
    write_tar_gz(directory / "cifar100" / CIFAR100_ARCHIVE, members)
    return batches


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("GPUNN_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("GPUNN_OFFLINE", "1")
    monkeypatch.setattr(_cache.urllib.request, "urlopen", _no_network)
    return tmp_path


def _no_network(*args, **kwargs):
    raise AssertionError("no download may be attempted")


def test_small_batches_are_stacked_in_order(cache_dir):
    batches = small_cifar10(cache_dir, seed=3)
    (x_train, y_train), (x_test, y_test) = cifar10.load_data()
    assert x_train.shape == (30, 32, 32, 3) and x_test.shape == (4, 32, 32, 3)
    # one C-ordered, writable copy each (the unpickled rows may be read-only views of the file's bytes)
    assert all(a.flags.c_contiguous and a.flags.writeable for a in (x_train, y_train, x_test, y_test))
    want = np.concatenate([batches[name][b"data"] for name in CIFAR10_TRAIN]).reshape(30, 3, 32, 32)
    np.testing.assert_array_equal(x_train, want.transpose(0, 2, 3, 1))
    assert y_train[:, 0].tolist() == sum((batches[name][b"labels"] for name in CIFAR10_TRAIN), [])
    assert y_test[:, 0].tolist() == batches["test_batch"][b"labels"]
    assert y_train.dtype == y_test.dtype == np.uint8


def test_second_load_reads_the_extracted_files_only(cache_dir, monkeypatch):
    small_cifar10(cache_dir)
    first = cifar10.load_data()
    folder = cache_dir / "cifar10" / CIFAR10_FOLDER
    # Only the batches load_data reads come out of the archive (not batches.meta), and no staging folder stays.
    assert sorted(p.name for p in folder.iterdir()) == sorted(CIFAR10_TRAIN + ("test_batch",))
    assert sorted(p.name for p in (cache_dir / "cifar10").iterdir()) == sorted([CIFAR10_ARCHIVE, CIFAR10_FOLDER])
    stamps = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}

    def no_extraction(*args, **kwargs):
        raise AssertionError("the archive may not be opened again")

    monkeypatch.setattr(_cifar.tarfile, "open", no_extraction)
    (cache_dir / "cifar10" / CIFAR10_ARCHIVE).unlink()
    second = cifar10.load_data()
    for got, want in zip(second[0] + second[1], first[0] + first[1]):
        np.testing.assert_array_equal(got, want)
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == stamps


def test_a_missing_batch_is_extracted_again(cache_dir):
    small_cifar100(cache_dir)
    (x_train, _), _ = cifar100.load_data()
    (cache_dir / "cifar100" / CIFAR100_FOLDER / "test").unlink()
    (x_again, _), (x_test, _) = cifar100.load_data()
    np.testing.assert_array_equal(x_again, x_train)
    assert x_test.shape == (5, 32, 32, 3)


def test_an_extracted_folder_put_there_by_hand_is_read(cache_dir):
    """Keras's extracted folder (``~/.keras/datasets/cifar-100-python-target/cifar-100-python``), copied in."""
    folder = cache_dir / "cifar100" / CIFAR100_FOLDER
    folder.mkdir(parents=True)
    _, batches = cifar100_members(train_rows=7, test_rows=3)
    for name, batch in batches.items():
        (folder / name).write_bytes(python2_pickle(batch))
    (_, y_train), (_, y_test) = cifar100.load_data(label_mode="coarse")
    assert y_train[:, 0].tolist() == batches["train"][b"coarse_labels"]
    assert y_test[:, 0].tolist() == batches["test"][b"coarse_labels"]


def test_load_by_name(cache_dir):
    small_cifar100(cache_dir)
    (x_train, y_train), _ = datasets.load("CIFAR100", label_mode="coarse")
    assert x_train.shape == (9, 32, 32, 3) and y_train.max() <= 19
    assert datasets.cifar10 is cifar10 and datasets.cifar100 is cifar100
    assert {"cifar10", "cifar100"} <= set(datasets.NAMES) and {"cifar10", "cifar100"} <= set(datasets.__all__)
    with pytest.raises(ValueError, match="Did you mean 'cifar10'?"):
        datasets.load("cifar_10")


# ---------------------------------------------------------------- missing files and downloads


@pytest.mark.parametrize("name", list(MODULES))
def test_offline_missing_archive_says_what_to_put_where(name, cache_dir):
    archive = MODULES[name].ARCHIVE
    with pytest.raises(FileNotFoundError) as info:
        MODULES[name].load_data()
    message = str(info.value)
    assert str(cache_dir / name / archive.fname) in message
    assert archive.origin in message and "GPUNN_OFFLINE" in message
    # Keras's copies of the same archive and of its extracted folder, and that folder's place here.
    assert f"~/.keras/datasets/{archive.keras_fname}_archive" in message
    assert f"~/.keras/datasets/{archive.keras_fname}/{archive.folder}/" in message
    assert str(cache_dir / name / archive.folder) in message
    assert "path=FILE" not in message  # Keras's CIFAR loaders take no path, nor do gpunn's
    assert list(cache_dir.iterdir()) == []  # offline: nothing created either


def test_label_mode_is_checked_before_any_file(cache_dir):
    with pytest.raises(ValueError, match=r"`label_mode` must be one of `\"fine\"`, `\"coarse\"`. "
                                         r"Received: label_mode=medium\."):
        cifar100.load_data(label_mode="medium")
    with pytest.raises(TypeError, match="unexpected keyword argument 'path'"):
        cifar10.load_data(path="cifar.tar.gz")
    with pytest.raises(TypeError, match="positional argument"):
        cifar100.load_data("fine", 2)
    assert list(cache_dir.iterdir()) == []


def serve(monkeypatch, payload):
    """Answer every download with ``payload``; returns the list of URLs asked for."""
    requested = []

    def fake_urlopen(url, timeout=None):
        assert timeout is not None and timeout <= 30  # a short timeout, never a hang
        requested.append(url)
        return io.BytesIO(payload)

    monkeypatch.setattr(_cache.urllib.request, "urlopen", fake_urlopen)
    return requested


def test_download_is_checked_against_the_published_hash(tmp_path, monkeypatch):
    import hashlib

    small_cifar10(tmp_path / "source")
    good = (tmp_path / "source" / "cifar10" / CIFAR10_ARCHIVE).read_bytes()
    monkeypatch.setenv("GPUNN_DATA_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("GPUNN_OFFLINE", raising=False)

    # Not the published archive: it never takes the archive's name, and nothing is extracted.
    requested = serve(monkeypatch, good)
    with pytest.raises(FileNotFoundError, match=f"checksum mismatch \\(expected sha256 {cifar10.FILE_HASH}"):
        cifar10.load_data()
    assert requested == [cifar10.ORIGIN]
    assert list((tmp_path / "cache" / "cifar10").iterdir()) == []

    # The same bytes pass once they are what is published; later loads need no network.
    monkeypatch.setattr(cifar10, "ARCHIVE", dataclasses.replace(cifar10.ARCHIVE,
                                                                file_hash=hashlib.sha256(good).hexdigest()))
    (x_train, _), _ = cifar10.load_data()
    assert (tmp_path / "cache" / "cifar10" / CIFAR10_ARCHIVE).read_bytes() == good
    monkeypatch.setattr(_cache.urllib.request, "urlopen", _no_network)
    (x_again, _), _ = cifar10.load_data()
    np.testing.assert_array_equal(x_again, x_train)


def test_unreachable_network_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("GPUNN_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("GPUNN_OFFLINE", raising=False)

    def unreachable(url, timeout=None):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(_cache.urllib.request, "urlopen", unreachable)
    with pytest.raises(FileNotFoundError, match="downloading failed") as info:
        cifar100.load_data()
    assert "Name or service not known" in str(info.value) and cifar100.ORIGIN in str(info.value)
    assert list((tmp_path / "cifar100").iterdir()) == []  # no partial file left behind


# ---------------------------------------------------------------- damaged archives


def _damaged(good: bytes, how: str) -> bytes:
    if how == "truncated":
        return good[: len(good) // 2]
    if how == "bit flipped":  # inside a batch's bytes: only gzip's checksum of the whole finds it
        middle = len(good) // 2
        return good[:middle] + bytes([good[middle] ^ 0x10]) + good[middle + 1:]
    if how == "html page":
        return b"<html><body>302 Found</body></html>"
    return b""


@pytest.mark.parametrize("how", ["truncated", "bit flipped", "html page", "empty"])
def test_a_damaged_archive_is_reported_and_nothing_extracted(how, cache_dir):
    small_cifar10(cache_dir)
    archive_path = cache_dir / "cifar10" / CIFAR10_ARCHIVE
    good = archive_path.read_bytes()
    archive_path.write_bytes(_damaged(good, how))
    with pytest.raises(ValueError, match="damaged or not a tar archive") as info:
        cifar10.load_data()
    message = str(info.value)
    assert str(archive_path) in message and "delete it" in message and cifar10.ORIGIN in message
    assert sorted(p.name for p in (cache_dir / "cifar10").iterdir()) == [CIFAR10_ARCHIVE]  # no partial files
    archive_path.write_bytes(good)  # the published archive put back: it loads
    (x_train, _), _ = cifar10.load_data()
    assert len(x_train) == 30


def test_an_archive_without_the_batches_is_reported(cache_dir):
    members, _ = cifar10_members(train_rows=2, test_rows=2)
    del members[f"{CIFAR10_FOLDER}/test_batch"]
    (cache_dir / "cifar10").mkdir()
    write_tar_gz(cache_dir / "cifar10" / CIFAR10_ARCHIVE, members)
    with pytest.raises(ValueError, match=f"the archive lacks {CIFAR10_FOLDER}/test_batch"):
        cifar10.load_data()
    assert not (cache_dir / "cifar10" / CIFAR10_FOLDER).exists()


def test_a_batch_that_is_a_link_is_refused(cache_dir, tmp_path_factory):
    """A member under a batch's name that links elsewhere is never followed (nor anything else extracted)."""
    outside = tmp_path_factory.mktemp("outside") / "secret"
    outside.write_bytes(b"not to be read")
    members, _ = cifar10_members(train_rows=2, test_rows=2)
    (cache_dir / "cifar10").mkdir()
    path = cache_dir / "cifar10" / CIFAR10_ARCHIVE
    write_tar_gz(path, members)
    with tarfile.open(path, "r:gz") as archive:
        kept = [(m, archive.extractfile(m).read() if m.isfile() else None) for m in archive.getmembers()
                if m.name != f"{CIFAR10_FOLDER}/data_batch_3"]
    link = tarfile.TarInfo(f"{CIFAR10_FOLDER}/data_batch_3")
    link.type, link.linkname = tarfile.SYMTYPE, str(outside)
    with tarfile.open(path, "w:gz") as archive:
        for member, data in kept:
            archive.addfile(member, io.BytesIO(data) if data is not None else None)
        archive.addfile(link)
    with pytest.raises(ValueError, match="data_batch_3 is not a regular file"):
        cifar10.load_data()
    assert sorted(p.name for p in (cache_dir / "cifar10").iterdir()) == [CIFAR10_ARCHIVE]


# ---------------------------------------------------------------- the batches' pickles


def put_batch(cache_dir, name: str, payload: bytes):
    """An extracted CIFAR-10 folder whose batch ``name`` holds ``payload`` (the others valid)."""
    folder = cache_dir / "cifar10" / CIFAR10_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for batch in CIFAR10_TRAIN + ("test_batch",):
        (folder / batch).write_bytes(python2_pickle(batch_dict(rng, 3, ["labels"], [10])))
    (folder / name).write_bytes(payload)
    return folder / name


class _WritesAFile:
    """Pickles as a call of ``builtins.exec`` that would create a file: what a tampered batch could hold."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return exec, (f"open({str(self.marker)!r}, 'w').write('ran')",)


def _malicious_payloads(marker):
    rng = np.random.default_rng(1)
    with_exec = batch_dict(rng, 3, ["labels"], [10])
    with_exec[b"labels"] = _WritesAFile(marker)
    # A global from a module that does not exist: refused before any import is tried (else ModuleNotFoundError).
    unknown_module = (b"\x80\x02}q\x00(U\x04dataq\x01cgpunn_no_such_module\nPayload\nq\x02)\x81q\x03"
                      b"U\x06labelsq\x04]q\x05u.")
    return {
        # Python 2's name of the builtins module, as a Python 2 pickle spells it
        "__builtin__.exec": python2_pickle(with_exec),
        "collections.OrderedDict": python2_pickle(collections.OrderedDict(batch_dict(rng, 3, ["labels"], [10]))),
        "gpunn_no_such_module.Payload": unknown_module,
    }


@pytest.mark.parametrize("refused", ["__builtin__.exec", "collections.OrderedDict", "gpunn_no_such_module.Payload"])
def test_a_pickle_naming_any_other_global_is_refused_unrun(refused, cache_dir, tmp_path_factory):
    marker = tmp_path_factory.mktemp("marker") / "ran"
    path = put_batch(cache_dir, "data_batch_4", _malicious_payloads(marker)[refused])
    with pytest.raises(RefusedGlobalError) as info:
        cifar10.load_data()
    message = str(info.value)
    assert f"refusing to load {refused}" in message and str(path) in message
    assert "only NumPy arrays are expected" in message
    assert isinstance(info.value, pickle.UnpicklingError) and isinstance(info.value, ValueError)  # as Keras raises
    assert not marker.exists()
    assert "gpunn_no_such_module" not in sys.modules


def test_the_malicious_payload_would_run_if_unpickled_freely(tmp_path):
    """The refused pickle is a real threat, not a dud: the standard unpickler runs it."""
    marker = tmp_path / "ran"
    pickle.loads(_malicious_payloads(marker)["__builtin__.exec"], encoding="bytes")
    assert marker.read_text() == "ran"


@pytest.mark.parametrize("payload, fragment", [
    (b"\x00garbage, not a pickle", "not a readable CIFAR batch"),
    (b"", "not a readable CIFAR batch (EOFError"),
    (python2_pickle(batch_dict(np.random.default_rng(0), 3, ["labels"], [10]))[:-40], "not a readable CIFAR batch"),
    (python2_pickle([1, 2, 3]), "expected a pickled dict (a CIFAR batch), got list"),
    (python2_pickle({b"data": np.zeros((3, 3072), np.uint8)}),
     "no 'labels' entry in this CIFAR batch (it holds: data)"),
    (python2_pickle({b"data": np.zeros((3, 3000), np.uint8), b"labels": [1, 2, 3]}),
     "'data' must be a uint8 array of 3072-byte image rows, got uint8 array of shape (3, 3000)"),
    (python2_pickle({b"data": np.zeros((3, 3072), np.float32), b"labels": [1, 2, 3]}), "got float32 array"),
    (python2_pickle({b"data": b"\x00" * 3072, b"labels": [1]}), "got bytes"),
    (python2_pickle({b"data": np.zeros((3, 3072), np.uint8), b"labels": [1, 2]}),
     "'labels' must be 3 integer labels, one per image, got int64 of shape (2,)"),
    (python2_pickle({b"data": np.zeros((2, 3072), np.uint8), b"labels": [b"cat", b"dog"]}),
     "'labels' must be 2 integer labels"),
    (python2_pickle({b"data": np.zeros((2, 3072), np.uint8), b"labels": [3, 300]}), "labels must be 0-255"),
])
def test_a_damaged_batch_is_reported_with_its_file(payload, fragment, cache_dir):
    path = put_batch(cache_dir, "test_batch", payload)
    with pytest.raises(ValueError) as info:
        cifar10.load_data()
    assert str(path) in str(info.value)
    assert fragment in str(info.value)
    assert not isinstance(info.value, RefusedGlobalError)
