"""The local data-set cache: where a set's files live, and fetching a missing file into it.

A set's files live in ``$GPUNN_DATA_DIR/<name>`` when that variable is set, else in
``~/.gpunn/datasets/<name>``. A file found there is used as it is (one you put there yourself is
trusted); a download is checked against its published hash before it takes the file's name.
``GPUNN_OFFLINE=1`` turns downloading off.
"""
from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import urllib.request
from pathlib import Path

__all__ = ["data_dir", "offline", "download", "cached_file"]

# Per-read timeout of a download, seconds: long enough for a slow mirror, short enough that an
# offline machine gets its error quickly.
_TIMEOUT_S = 10.0


def data_dir(name: str, path=None) -> Path:
    """The cache directory of data set ``name``.

    ``path`` if given, else ``$GPUNN_DATA_DIR/<name>`` when that variable is set, else
    ``~/.gpunn/datasets/<name>``.
    """
    if path is not None:
        return Path(path).expanduser()
    root = os.environ.get("GPUNN_DATA_DIR")
    if root:
        return Path(root).expanduser() / name
    return Path.home() / ".gpunn" / "datasets" / name


def offline() -> bool:
    """Whether ``GPUNN_OFFLINE`` turns downloading off."""
    return os.environ.get("GPUNN_OFFLINE", "").strip().lower() not in ("", "0", "false", "no")


def _hash_algorithm(file_hash: str) -> str:
    # Keras's rule for its published hashes: 64 hex digits are a sha256, anything else an md5.
    return "sha256" if len(file_hash) == 64 else "md5"


def _digest(path: Path, algorithm: str) -> str:
    digest = hashlib.new(algorithm, usedforsecurity=False)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download(url: str, dest: Path, file_hash: str | None = None) -> None:
    """Fetch ``url`` to ``dest`` through a temporary file in the same directory.

    os.replace makes the final step atomic, so an interrupted download (or several processes of a
    data-parallel run fetching at once) never leaves a truncated file under the final name.

    Raises:
        OSError (or urllib's errors): the fetch failed, or the file's md5 / sha256 (chosen by the
            length of ``file_hash``) is not ``file_hash``; nothing is left behind either way.
    """
    dest = Path(dest)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=_TIMEOUT_S) as resp:
            for block in iter(lambda: resp.read(1 << 20), b""):
                out.write(block)
        if file_hash is not None:
            algorithm = _hash_algorithm(file_hash)
            if _digest(Path(tmp), algorithm) != file_hash:
                raise OSError(f"{url}: checksum mismatch (expected {algorithm} {file_hash})")
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _missing_message(name: str, target: Path, origin: str, reason: str, keras_copy=None, other_ways=None) -> str:
    keras_copy = keras_copy or f"~/.keras/datasets/{Path(origin).name}"
    other_ways = other_ways or (
        f"pass path=FILE with an absolute FILE, or set GPUNN_DATA_DIR so that DIR/{name}/ holds it")
    return (
        f"{name}: {target.name} not found in {target.parent}, and {reason}\n"
        f"Put this file there:\n    {target}\n"
        f"It is Keras's file, published at:\n    {origin}\n"
        f"(where Keras has fetched it, {keras_copy} is the same file; or {other_ways}).\n"
        "For a data set that needs no download, use gpunn.datasets.digits "
        "(scikit-learn's 8x8 digits, shipped offline)."
    )


def cached_file(name: str, fname, origin: str, file_hash: str, *, keras_copy=None, other_ways=None) -> Path:
    """The local copy of one of data set ``name``'s files, downloaded first when missing.

    Args:
        name: the set's directory name under the cache root (``imdb``, ``reuters``, ...).
        fname: the file's name, relative to that directory (Keras's ``path`` argument); an
            absolute path is used as it is.
        origin: the URL it is downloaded from.
        file_hash: the published md5 or sha256 the download must match.
        keras_copy: where Keras's own cache keeps the same file, for the message when it is missing
            (default ``~/.keras/datasets/<the origin's file name>``).
        other_ways: the other ways to provide it, for that message (default: ``path=FILE`` or
            ``GPUNN_DATA_DIR``).

    Raises:
        FileNotFoundError: the file is missing and could not be downloaded; the message names the
            file to provide and where it is published.
    """
    target = data_dir(name) / Path(fname).expanduser()
    if target.is_file():
        return target
    if offline():
        raise FileNotFoundError(
            _missing_message(name, target, origin, "downloading is off (GPUNN_OFFLINE is set).", keras_copy,
                             other_ways)
        )
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise FileNotFoundError(
            _missing_message(name, target, origin, f"the directory cannot be created ({e}).", keras_copy,
                             other_ways)
        ) from e
    print(f"Downloading {origin}", file=sys.stderr)
    try:
        download(origin, target, file_hash)
    except Exception as e:  # noqa: BLE001 - any failure is reported the same way: what to put where
        raise FileNotFoundError(
            _missing_message(name, target, origin, f"downloading failed:\n    {origin}: {e}", keras_copy,
                             other_ways)
        ) from e
    return target
