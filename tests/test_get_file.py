"""gpunn.utils.get_file: Keras 3's file cache, with file:// URLs standing in for the network (urllib fetches both
the same way): where files and extractions go (compared with Keras's own get_file), hashes, archives whose
members would land outside their folder, and argument errors."""
from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import os
import tarfile
import zipfile

import pytest

from gpunn.utils import get_file
from helpers import run_keras_script


def _url(path) -> str:
    return "file://" + os.fspath(path)


@pytest.fixture
def source(tmp_path):
    """A CSV file, a .tar.gz and a .zip of a small folder, served as file:// URLs."""
    folder = tmp_path / "served"
    folder.mkdir()
    (folder / "data.csv").write_text("a,b\n1,2\n")
    with tarfile.open(folder / "bundle.tar.gz", "w:gz") as archive:
        for name, text in (("bundle/x.txt", "x"), ("bundle/sub/y.txt", "y")):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    with zipfile.ZipFile(folder / "bundle.zip", "w") as archive:
        archive.writestr("bundle/x.txt", "x")
        archive.writestr("bundle/sub/y.txt", "y")
    return folder


def _tree(folder) -> list[str]:
    return sorted(os.path.relpath(os.path.join(root, f), folder) for root, _, files in os.walk(folder) for f in files)


def test_a_file_is_fetched_once_into_the_cache(source, tmp_path, capsys):
    cache = tmp_path / "cache"
    path = get_file("data.csv", _url(source / "data.csv"), cache_dir=cache)
    assert path == os.path.join(cache, "datasets", "data.csv") and open(path).read() == "a,b\n1,2\n"
    assert "Downloading data from" in capsys.readouterr().out
    (source / "data.csv").write_text("changed\n")
    assert open(get_file("data.csv", _url(source / "data.csv"), cache_dir=cache)).read() == "a,b\n1,2\n"
    assert capsys.readouterr().out == ""  # found in the cache: not fetched again
    forced = get_file("data.csv", _url(source / "data.csv"), cache_dir=cache, force_download=True)
    assert open(forced).read() == "changed\n"
    named = get_file(origin=_url(source / "data.csv"), cache_dir=cache, cache_subdir="other")
    assert named == os.path.join(cache, "other", "data.csv")  # the name taken from the URL
    assert not [f for f in os.listdir(os.path.join(cache, "datasets")) if f.endswith(".part")]


def test_hashes_are_checked_and_a_bad_download_is_not_kept(source, tmp_path, capsys):
    cache, origin = tmp_path / "cache", _url(source / "data.csv")
    data = (source / "data.csv").read_bytes()
    sha256, md5 = hashlib.sha256(data).hexdigest(), hashlib.md5(data).hexdigest()
    assert get_file("a.csv", origin, file_hash=sha256, cache_dir=cache)
    assert get_file("b.csv", origin, md5_hash=md5, cache_dir=cache)
    assert get_file("c.csv", origin, file_hash=md5, hash_algorithm="md5", cache_dir=cache)
    with pytest.raises(ValueError, match="Incomplete or corrupted file detected. The auto file hash does not match"):
        get_file("d.csv", origin, file_hash="0" * 64, cache_dir=cache)
    assert not os.path.exists(os.path.join(cache, "datasets", "d.csv"))
    stale = os.path.join(cache, "datasets", "a.csv")
    with open(stale, "w") as handle:
        handle.write("truncated")
    capsys.readouterr()
    assert open(get_file("a.csv", origin, file_hash=sha256, cache_dir=cache)).read() == data.decode()
    assert "hash does not match the original value" in capsys.readouterr().out  # fetched again
    with pytest.raises(ValueError, match="hash_algorithm: expected"):
        get_file("e.csv", origin, file_hash=sha256, hash_algorithm="sha1", cache_dir=cache)


@pytest.mark.parametrize("archive", ["bundle.tar.gz", "bundle.zip"])
def test_archives_are_extracted_where_keras_puts_them(source, tmp_path, archive):
    cache, origin = tmp_path / "cache", _url(source / archive)
    datasets = os.path.join(cache, "datasets")
    named = get_file(archive, origin, extract=True, cache_dir=cache)
    assert named == os.path.join(datasets, "bundle_extracted")  # a name with a dot: <stem>_extracted
    assert _tree(named) == ["bundle/sub/y.txt", "bundle/x.txt"]
    assert os.path.isfile(os.path.join(datasets, archive))
    plain = get_file("flowers", origin, extract=True, cache_dir=cache)  # no dot: the folder takes the name
    assert plain == os.path.join(datasets, "flowers") and os.path.isfile(os.path.join(datasets, "flowers_archive"))
    if archive.endswith(".tar.gz"):
        assert get_file("old", origin, untar=True, cache_dir=cache) == os.path.join(datasets, "old")


def test_members_that_would_land_outside_the_folder_are_skipped(tmp_path):
    served = tmp_path / "evil.tar"
    with tarfile.open(served, "w") as archive:
        for name in ("ok.txt", "../escaped.txt"):
            info = tarfile.TarInfo(name)
            info.size = 2
            archive.addfile(info, io.BytesIO(b"hi"))
        link = tarfile.TarInfo("link")
        link.type, link.linkname = tarfile.SYMTYPE, "../../outside"
        archive.addfile(link)
    with pytest.warns(UserWarning, match="Skipping invalid path during archive extraction"):
        folder = get_file("evil.tar", _url(served), extract=True, cache_dir=tmp_path / "cache")
    assert _tree(folder) == ["ok.txt"]
    assert not (tmp_path / "cache" / "datasets" / "escaped.txt").exists()


def test_a_file_that_is_no_archive_warns(source, tmp_path):
    with pytest.warns(UserWarning, match="Could not extract archive"):
        get_file("data.csv", _url(source / "data.csv"), extract=True, cache_dir=tmp_path / "cache")


@pytest.mark.parametrize("kwargs, error", [
    ({"fname": "x.csv"}, 'Please specify the "origin" argument'),
    ({"fname": "sub/x.csv", "origin": "file:///nowhere/x.csv"}, "Paths are no longer accepted as the `fname`"),
    ({"origin": "file:///"}, "Can't parse the file name from the origin provided"),
])
def test_argument_errors_are_keras_s(tmp_path, kwargs, error):
    with pytest.raises(ValueError, match=error):
        get_file(cache_dir=tmp_path, **kwargs)


def test_a_missing_origin_is_a_fetch_failure_and_leaves_nothing(tmp_path):
    with pytest.raises(Exception, match="URL fetch failure on file://"):
        get_file("gone.csv", _url(tmp_path / "gone.csv"), cache_dir=tmp_path / "cache")
    assert os.listdir(tmp_path / "cache" / "datasets") == []


KERAS_SIDE = """
import json, os, sys
import keras
cache, calls = sys.argv[1], json.loads(sys.argv[2])
out = []
for kwargs in calls:
    path = keras.utils.get_file(cache_dir=cache, **kwargs)
    files = sorted(os.path.relpath(os.path.join(r, f), path) for r, _, fs in os.walk(path) for f in fs) \\
        if os.path.isdir(path) else None
    out.append([os.path.relpath(path, cache), files])
print(json.dumps(out))
"""


def test_paths_and_extractions_equal_keras_s(source, tmp_path):
    if importlib.util.find_spec("keras") is None or importlib.util.find_spec("jax") is None:
        pytest.skip("keras and jax are in the test extra: Keras's get_file is the reference")
    calls = [{"fname": "data.csv", "origin": _url(source / "data.csv")},
             {"origin": _url(source / "data.csv"), "cache_subdir": "sub"},
             {"fname": "bundle.tar.gz", "origin": _url(source / "bundle.tar.gz"), "extract": True},
             {"fname": "flowers", "origin": _url(source / "bundle.zip"), "extract": True},
             {"origin": _url(source / "bundle.zip"), "extract": True}]
    (tmp_path / "keras").mkdir()  # Keras would use /tmp/.keras for a cache_dir that does not exist yet
    run = run_keras_script(KERAS_SIDE, str(tmp_path / "keras"), json.dumps(calls), timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    theirs = json.loads(run.stdout.strip().splitlines()[-1])
    ours = []
    for kwargs in calls:
        path = get_file(cache_dir=tmp_path / "gpunn", **kwargs)
        ours.append([os.path.relpath(path, tmp_path / "gpunn"), _tree(path) if os.path.isdir(path) else None])
    assert ours == theirs
