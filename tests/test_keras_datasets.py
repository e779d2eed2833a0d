"""Keras's own data sets (boston_housing, california_housing, imdb, reuters): gpunn reads Keras's files and
returns what ``keras.datasets`` returns.

No test downloads: small files with the layout of Keras's (``x``/``y`` arrays; imdb's four and reuters's two
object arrays of lists of ints; the word-index JSON) are written to a temporary cache. Keras itself loads the
same files in a subprocess on the jax backend (its ``get_file`` replaced by one returning the file), and its
results, errors, origin URLs and file hashes must be gpunn's; that comparison skips when keras or jax is not
installed.
"""
import hashlib
import io
import json
import os
import pickle
import textwrap
import zipfile

import numpy as np
import pytest
from helpers import keras_unavailable_reason, run_keras_script

from gpunn import datasets
from gpunn.datasets import _cache, boston_housing, california_housing, imdb, reuters
from gpunn.datasets._ragged_npz import load_ragged_npz

MODULES = {"boston_housing": boston_housing, "california_housing": california_housing, "imdb": imdb,
           "reuters": reuters}
FILES = {"boston_housing": "boston_housing.npz", "california_housing": "california_housing.npz",
         "imdb": "imdb.npz", "reuters": "reuters.npz"}
WORD_INDEX_FILES = {"imdb": "imdb_word_index.json", "reuters": "reuters_word_index.json"}

# (data set, load_data keywords): defaults, then each argument moved, alone and together.
CASES = [
    ("boston_housing", {}),
    ("boston_housing", {"test_split": 0.35, "seed": 7}),
    ("boston_housing", {"test_split": 0}),
    ("boston_housing", {"test_split": 1}),
    ("boston_housing", {"test_split": -0.1}),
    ("california_housing", {}),
    ("california_housing", {"version": "small"}),
    ("california_housing", {"version": "small", "test_split": 0.5, "seed": 1}),
    ("california_housing", {"version": "medium"}),
    ("california_housing", {"test_split": 1.5}),
    ("imdb", {}),
    ("imdb", {"num_words": 20}),
    ("imdb", {"num_words": 25, "skip_top": 5}),
    ("imdb", {"maxlen": 12}),
    ("imdb", {"maxlen": 2}),
    ("imdb", {"seed": 5, "start_char": None}),
    ("imdb", {"num_words": 20, "oov_char": None}),
    ("imdb", {"start_char": None, "index_from": 0}),
    ("imdb", {"num_words": 40, "skip_top": 2, "maxlen": 20, "seed": 0, "start_char": 4, "oov_char": 3,
              "index_from": 10}),
    ("reuters", {}),
    ("reuters", {"num_words": 20, "skip_top": 3}),
    ("reuters", {"maxlen": 10, "test_split": 0.3}),
    ("reuters", {"num_words": 30, "start_char": None, "oov_char": None}),
    ("reuters", {"start_char": None, "index_from": 0, "seed": 3}),
    ("reuters", {"test_split": 0}),
    ("reuters", {"num_words": 35, "skip_top": 1, "maxlen": 15, "test_split": 0.25, "seed": 9, "start_char": 2,
                 "oov_char": 1, "index_from": 5}),
]
CASE_IDS = [f"{name}-{'-'.join(f'{k}={v}' for k, v in kwargs.items()) or 'defaults'}" for name, kwargs in CASES]


# ---------------------------------------------------------------- files with the layout of Keras's


def reviews(rng, count, vocabulary):
    """Ragged lists of plain ints from 1 up, frequent words small, as Keras's files hold them."""
    lengths = rng.integers(1, 30, count)
    return [[int(w) for w in np.minimum(rng.zipf(1.3, n), vocabulary)] for n in lengths]


def object_array(lists):
    array = np.empty(len(lists), dtype=object)
    array[:] = lists
    return array


def write_keras_files(root):
    """One file per set under ``root/<name>/`` (the layout of ``$GPUNN_DATA_DIR``), plus the word indices."""
    rng = np.random.default_rng(0)
    arrays = {
        "boston_housing": {"x": rng.normal(size=(37, 13)), "y": rng.uniform(5, 50, 37)},
        # more rows than the 600 of version="small", and float32 features: the file's dtypes are kept
        "california_housing": {"x": rng.normal(size=(650, 8)).astype(np.float32),
                               "y": rng.uniform(1e4, 5e5, 650)},
        "imdb": {"x_train": object_array(reviews(rng, 40, 60)), "y_train": rng.integers(0, 2, 40),
                 "x_test": object_array(reviews(rng, 30, 60)), "y_test": rng.integers(0, 2, 30)},
        "reuters": {"x": object_array(reviews(rng, 50, 45)), "y": rng.integers(0, 46, 50).astype(np.int32)},
    }
    for name, members in arrays.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        np.savez(root / name / FILES[name], **members)
    for name, fname in WORD_INDEX_FILES.items():
        words = {f"{name}_word{i}": i for i in range(1, 61)}
        (root / name / fname).write_text(json.dumps(words))
    return arrays


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    root = tmp_path_factory.mktemp("datasets")
    write_keras_files(root)
    return root


@pytest.fixture
def in_cache(cache, monkeypatch):
    monkeypatch.setenv("GPUNN_DATA_DIR", str(cache))
    monkeypatch.setenv("GPUNN_OFFLINE", "1")  # a test that reached for the network would fail loudly
    return cache


def outcome(call):
    """What a loader gave: its result, or the error's type and message."""
    try:
        return call()
    except Exception as e:  # noqa: BLE001 - the error itself is what is compared
        return ("raised", type(e).__name__, str(e))


# ---------------------------------------------------------------- Keras itself on the same files

KERAS_SIDE = textwrap.dedent("""
    import json, os, pickle, sys
    os.environ["KERAS_BACKEND"] = "jax"
    import keras  # noqa: F401  (keras.src.datasets needs the package set up)
    from keras.src.datasets import boston_housing, california_housing, imdb, reuters

    root, = sys.argv[1:]
    modules = {"boston_housing": boston_housing, "california_housing": california_housing, "imdb": imdb,
               "reuters": reuters}
    requests = []

    def serving(name):
        def get_file(fname=None, origin=None, file_hash=None, **kwargs):
            requests.append({"set": name, "fname": fname, "origin": origin, "file_hash": file_hash})
            return os.path.join(root, name, fname)
        return get_file

    def outcome(call):
        try:
            return call()
        except Exception as e:
            return ("raised", type(e).__name__, str(e))

    for name, module in modules.items():
        module.get_file = serving(name)
    cases = json.load(open(os.path.join(root, "cases.json")))
    out = {
        "load_data": [outcome(lambda: modules[name].load_data(**kwargs)) for name, kwargs in cases],
        "word_index": {name: modules[name].get_word_index() for name in ("imdb", "reuters")},
        "label_names": reuters.get_label_names(),
        "requests": requests,
    }
    with open(os.path.join(root, "keras.pickle"), "wb") as f:
        pickle.dump(out, f)
""")


@pytest.fixture(scope="module")
def keras_side(cache):
    """Keras's results for every case, from one subprocess (so that this process never imports Keras)."""
    reason = keras_unavailable_reason()
    if reason:
        pytest.skip(reason)
    (cache / "cases.json").write_text(json.dumps(CASES))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["KERAS_BACKEND"] = "jax"
    run = run_keras_script(KERAS_SIDE, str(cache), env=env, timeout=600, cwd=cache)
    assert run.returncode == 0, run.stderr[-4000:]
    # A pickle this test's own subprocess just wrote: it keeps the arrays and their items' types exactly.
    with open(cache / "keras.pickle", "rb") as f:
        return pickle.load(f)


def item_types(array):
    """The type of every sequence of an object array and of every index in it."""
    return [(type(seq).__name__, [type(w).__name__ for w in seq]) for seq in array]


def assert_same_result(ours, theirs):
    if theirs[0] == "raised":
        assert ours == theirs
        return
    assert not (isinstance(ours, tuple) and ours[0] == "raised"), ours
    (ours_train, ours_test), (theirs_train, theirs_test) = ours, theirs
    for part, got, want in zip(("x_train", "y_train", "x_test", "y_test"), ours_train + ours_test,
                               theirs_train + theirs_test):
        assert type(got) is np.ndarray, part
        assert (got.dtype, got.shape) == (want.dtype, want.shape), part
        if want.dtype == object:
            assert got.tolist() == want.tolist(), part
            assert item_types(got) == item_types(want), part
        else:
            np.testing.assert_array_equal(got, want, err_msg=part)


@pytest.mark.parametrize("case", range(len(CASES)), ids=CASE_IDS)
def test_load_data_returns_what_keras_returns(case, keras_side, in_cache):
    name, kwargs = CASES[case]
    assert_same_result(outcome(lambda: MODULES[name].load_data(**kwargs)), keras_side["load_data"][case])


def test_the_cases_cover_both_kinds_of_array_and_keep_rows(keras_side):
    """The comparison is not vacuous: ragged object arrays of lists, float rows, and errors all occur."""
    results = keras_side["load_data"]
    imdb_default = results[CASES.index(("imdb", {}))]
    assert imdb_default[0][0].dtype == object and imdb_default[0][0].ndim == 1 and len(imdb_default[0][0]) == 40
    assert isinstance(imdb_default[0][0][0], list)
    california_small = results[CASES.index(("california_housing", {"version": "small"}))]
    assert len(california_small[0][0]) + len(california_small[1][0]) == 600
    assert sum(1 for r in results if r[0] == "raised") == 5


def test_urls_and_hashes_are_keras_own(keras_side):
    for request in keras_side["requests"]:
        module = MODULES[request["set"]]
        if request["fname"] == WORD_INDEX_FILES.get(request["set"]):
            assert (request["origin"], request["file_hash"]) == (module.WORD_INDEX_ORIGIN, module.WORD_INDEX_HASH)
        else:
            assert request["fname"] == FILES[request["set"]]
            assert (request["origin"], request["file_hash"]) == (module.ORIGIN, module.FILE_HASH)
    assert {r["set"] for r in keras_side["requests"]} == set(MODULES)


def test_word_index_and_label_names_are_keras_own(keras_side, in_cache):
    assert imdb.get_word_index() == keras_side["word_index"]["imdb"]
    assert reuters.get_word_index() == keras_side["word_index"]["reuters"]
    assert reuters.get_label_names() == keras_side["label_names"]
    assert len(reuters.get_label_names()) == 46


# ---------------------------------------------------------------- the cache and downloads


def test_signatures_match_keras_defaults():
    import inspect

    def defaults(function):
        return {p.name: p.default for p in inspect.signature(function).parameters.values()
                if p.kind is not p.VAR_KEYWORD}

    assert defaults(imdb.load_data) == {"path": "imdb.npz", "num_words": None, "skip_top": 0, "maxlen": None,
                                        "seed": 113, "start_char": 1, "oov_char": 2, "index_from": 3}
    assert "kwargs" in inspect.signature(imdb.load_data).parameters
    assert defaults(reuters.load_data) == {"path": "reuters.npz", "num_words": None, "skip_top": 0,
                                           "maxlen": None, "test_split": 0.2, "seed": 113, "start_char": 1,
                                           "oov_char": 2, "index_from": 3}
    assert defaults(boston_housing.load_data) == {"path": "boston_housing.npz", "test_split": 0.2, "seed": 113}
    assert defaults(california_housing.load_data) == {"version": "large", "path": "california_housing.npz",
                                                      "test_split": 0.2, "seed": 113}
    assert defaults(imdb.get_word_index) == {"path": "imdb_word_index.json"}
    assert defaults(reuters.get_word_index) == {"path": "reuters_word_index.json"}


def test_absolute_path_is_used_as_is(cache, monkeypatch, tmp_path):
    monkeypatch.setenv("GPUNN_DATA_DIR", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("GPUNN_OFFLINE", "1")
    (x_train, _), (x_test, _) = reuters.load_data(path=cache / "reuters" / "reuters.npz")
    assert len(x_train) == 40 and len(x_test) == 10


def _no_network(*args, **kwargs):
    raise AssertionError("no download may be attempted")


@pytest.mark.parametrize("name", list(MODULES))
def test_offline_missing_file_names_directory_file_and_origin(name, tmp_path, monkeypatch):
    monkeypatch.setenv("GPUNN_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("GPUNN_OFFLINE", "1")
    monkeypatch.setattr(_cache.urllib.request, "urlopen", _no_network)
    with pytest.raises(FileNotFoundError) as info:
        MODULES[name].load_data()
    message = str(info.value)
    assert str(tmp_path / name / FILES[name]) in message
    assert MODULES[name].ORIGIN in message
    assert "GPUNN_OFFLINE" in message and "gpunn.datasets.digits" in message
    assert list(tmp_path.iterdir()) == []  # offline: nothing created either


def test_offline_missing_word_index(tmp_path, monkeypatch):
    monkeypatch.setenv("GPUNN_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("GPUNN_OFFLINE", "1")
    with pytest.raises(FileNotFoundError, match="imdb_word_index.json") as info:
        imdb.get_word_index()
    assert imdb.WORD_INDEX_ORIGIN in str(info.value)


def serve(monkeypatch, payload):
    """Answer every download with ``payload``; returns the list of URLs asked for."""
    requested = []

    def fake_urlopen(url, timeout=None):
        assert timeout is not None and timeout <= 30  # a short timeout, never a hang
        requested.append(url)
        return io.BytesIO(payload)

    monkeypatch.setattr(_cache.urllib.request, "urlopen", fake_urlopen)
    return requested


@pytest.mark.parametrize("name", list(MODULES))
def test_download_is_checked_against_the_published_hash(name, cache, tmp_path, monkeypatch):
    monkeypatch.setenv("GPUNN_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("GPUNN_OFFLINE", raising=False)
    module = MODULES[name]
    good = (cache / name / FILES[name]).read_bytes()

    # A file that is not the published one never takes the file's name.
    requested = serve(monkeypatch, good)
    with pytest.raises(FileNotFoundError, match="checksum mismatch") as info:
        module.load_data()
    assert f"sha256 {module.FILE_HASH}" in str(info.value)
    assert requested == [module.ORIGIN]
    assert list((tmp_path / name).iterdir()) == []

    # The same bytes pass once they are what is published; the next load reads the cached file.
    monkeypatch.setattr(module, "FILE_HASH", hashlib.sha256(good).hexdigest())
    (x_train, _), (x_test, _) = module.load_data()
    assert (tmp_path / name / FILES[name]).read_bytes() == good
    assert requested == [module.ORIGIN] * 2
    monkeypatch.setattr(_cache.urllib.request, "urlopen", _no_network)
    (x_again, _), _ = module.load_data()
    assert len(x_again) == len(x_train)


def test_word_index_download_is_md5_checked(cache, tmp_path, monkeypatch):
    monkeypatch.setenv("GPUNN_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("GPUNN_OFFLINE", raising=False)
    good = (cache / "reuters" / "reuters_word_index.json").read_bytes()
    requested = serve(monkeypatch, b"<html>moved</html>")
    with pytest.raises(FileNotFoundError, match=f"checksum mismatch \\(expected md5 {reuters.WORD_INDEX_HASH}"):
        reuters.get_word_index()
    assert requested == [reuters.WORD_INDEX_ORIGIN]
    serve(monkeypatch, good)
    monkeypatch.setattr(reuters, "WORD_INDEX_HASH", hashlib.md5(good).hexdigest())
    assert reuters.get_word_index() == json.loads(good)


def test_failed_download_says_what_to_put_where(tmp_path, monkeypatch):
    monkeypatch.setenv("GPUNN_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("GPUNN_OFFLINE", raising=False)

    def unreachable(url, timeout=None):
        raise OSError("Name or service not known")

    monkeypatch.setattr(_cache.urllib.request, "urlopen", unreachable)
    with pytest.raises(FileNotFoundError, match="downloading failed") as info:
        imdb.load_data()
    assert "Name or service not known" in str(info.value)
    assert str(tmp_path / "imdb" / "imdb.npz") in str(info.value)
    assert list((tmp_path / "imdb").iterdir()) == []  # no partial file left behind


# ---------------------------------------------------------------- reading the ragged files


def test_ragged_npz_refuses_anything_but_arrays(tmp_path):
    """A pickle naming any other class is refused before it is called (``allow_pickle=True`` would run it)."""
    from fractions import Fraction

    path = tmp_path / "tampered.npz"
    np.savez(path, x=np.array([Fraction(1, 2)], dtype=object), y=np.arange(1))
    with pytest.raises(pickle.UnpicklingError, match="fractions.Fraction"):
        load_ragged_npz(path)


def test_ragged_npz_reads_files_pickled_under_numpy_1(tmp_path):
    """Keras's files predate NumPy 2: their pickles name ``numpy.core.multiarray``, which must still load."""
    pickled = pickle.dumps(np.array([[1, 2], [3]], dtype=object), protocol=3)
    member = io.BytesIO()
    np.lib.format.write_array_header_1_0(member, {"descr": "|O", "fortran_order": False, "shape": (2,)})
    member.write(pickled.replace(b"numpy._core.multiarray", b"numpy.core.multiarray"))
    path = tmp_path / "numpy1.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("x.npy", member.getvalue())
    assert load_ragged_npz(path)["x"].tolist() == [[1, 2], [3]]


def test_ragged_npz_reads_objects_and_numbers(cache):
    arrays = load_ragged_npz(cache / "reuters" / "reuters.npz")
    assert sorted(arrays) == ["x", "y"]
    assert arrays["x"].dtype == object and isinstance(arrays["x"][0], list)
    assert arrays["y"].dtype == np.int32


# ---------------------------------------------------------------- behaviour seen without Keras


def test_imdb_without_keras_shapes_and_indices(in_cache):
    (x_train, y_train), (x_test, y_test) = imdb.load_data(num_words=20)
    assert x_train.dtype == object and x_train.shape == (40,) and x_test.shape == (30,)
    assert y_train.shape == (40,) and y_test.shape == (30,)
    assert all(x[0] == 1 for x in x_train)  # start_char
    assert max(max(x) for x in np.concatenate([x_train, x_test])) < 20


def test_imdb_unknown_keywords_are_ignored_with_a_warning(in_cache):
    with pytest.warns(UserWarning, match="nb_words"):
        (x_train, _), _ = imdb.load_data(nb_words=10)
    assert len(x_train) == 40


def test_load_by_name(in_cache):
    (x_train, _), (x_test, _) = datasets.load("imdb", num_words=100)
    assert x_train.dtype == object and len(x_train) == 40 and len(x_test) == 30
    (x, _), _ = datasets.load("California-Housing", version="small")
    assert x.shape == (480, 8)
    assert datasets.imdb is imdb and datasets.reuters is reuters
    assert datasets.boston_housing is boston_housing and datasets.california_housing is california_housing


def test_registry_error_lists_the_keras_sets():
    with pytest.raises(ValueError) as info:
        datasets.load("imbd")
    message = str(info.value)
    for name in ("boston_housing", "california_housing", "imdb", "reuters", "cifar10", "cifar100"):
        assert repr(name) in message
    assert "Did you mean 'imdb'?" in message
