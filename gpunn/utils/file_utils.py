"""``get_file``: Keras 3's file cache (keras/src/utils/file_utils.py), for the files tutorials fetch by URL.

Same arguments, defaults and places as Keras (``~/.keras/<cache_subdir>``, or ``$KERAS_HOME``), so a file a
Keras script fetched before is found again; an archive is extracted with Keras's path checks (no member may
land outside the extraction folder, links included). Differences: a ``cache_dir`` that does not exist yet is
made (Keras falls back to /tmp/.keras, as for an unwritable one), a download whose hash does not match is removed
rather than left in the cache, and downloads are atomic (a temporary file renamed into place).
"""
from __future__ import annotations

import hashlib
import inspect
import os
import shutil
import tarfile
import tempfile
import urllib.parse
import warnings
import zipfile

__all__ = ["get_file"]


def _keras_home() -> str:
    return os.path.expanduser(os.environ.get("KERAS_HOME") or os.path.join("~", ".keras"))


def _hasher(algorithm: str, file_hash: str | None):
    """Keras's rule: "sha256", or "auto" with a 64-digit hash, is sha256; anything else md5."""
    if algorithm == "sha256" or (algorithm == "auto" and file_hash is not None and len(file_hash) == 64):
        return hashlib.sha256()
    return hashlib.md5(usedforsecurity=False)


def _matches(path: str, file_hash: str, algorithm: str) -> bool:
    hasher = _hasher(algorithm, file_hash)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            hasher.update(block)
    return hasher.hexdigest() == str(file_hash)


# ---- extraction: only members that stay inside the extraction folder (Keras's filters) ------------------


def _inside(base: str, relative: str) -> bool:
    path = os.path.realpath(os.path.join(base, relative))
    try:
        return os.path.commonpath([path, base]) == base
    except ValueError:
        return False


def _safe_link(info: tarfile.TarInfo, base: str) -> bool:
    if info.islnk():  # a hard link's target is relative to the archive's root
        return _inside(base, info.name) and _inside(base, info.linkname)
    if not _inside(base, info.name):
        return False
    destination = os.path.realpath(os.path.join(base, info.name))
    return _inside(base, os.path.join(os.path.dirname(destination), info.linkname))


def _safe_members(members, base: str, name_of, is_link):
    for member in members:
        safe = _safe_link(member, base) if is_link(member) else _inside(base, name_of(member))
        if safe:
            yield member
        else:
            warnings.warn(f"Skipping invalid path during archive extraction: '{name_of(member)}'.", stacklevel=4)


def _extract(archive_path: str, folder: str, archive_format) -> bool:
    """Extract a tar or zip archive into ``folder``; False when the file is none of ``archive_format``."""
    if archive_format is None:
        return False
    formats = ["tar", "zip"] if archive_format == "auto" else (
        [archive_format] if isinstance(archive_format, str) else list(archive_format))
    for kind in formats:
        if kind not in ("tar", "zip"):
            raise ValueError(f"archive_format: expected 'auto', 'tar', 'zip', a list of those or None, got "
                             f"{archive_format!r}")
    base = os.path.realpath(folder)
    for kind in formats:
        if kind == "tar" and tarfile.is_tarfile(archive_path):
            with tarfile.open(archive_path) as archive:
                # "data" refuses special files and absolute or escaping names (Python 3.12; 3.10.12 and 3.11.4)
                options = {"filter": "data"} if "filter" in inspect.signature(archive.extractall).parameters else {}
                _extract_or_clean(folder, lambda: archive.extractall(
                    folder, members=_safe_members(archive, base, lambda m: m.name,
                                                  lambda m: m.issym() or m.islnk()), **options))
            return True
        if kind == "zip" and zipfile.is_zipfile(archive_path):
            with zipfile.ZipFile(archive_path) as archive:
                _extract_or_clean(folder, lambda: archive.extractall(
                    folder, members=_safe_members(archive.infolist(), base, lambda m: m.filename, lambda m: False)))
            return True
    return False


def _extract_or_clean(folder: str, extract) -> None:
    try:
        extract()
    except (tarfile.TarError, zipfile.BadZipFile, RuntimeError, KeyboardInterrupt):
        if os.path.isfile(folder):
            os.remove(folder)
        elif os.path.exists(folder):
            shutil.rmtree(folder)
        raise


# ---- the download ----------------------------------------------------------------------------------------


def _download(origin: str, target: str) -> None:
    """``origin`` to ``target`` through a temporary file beside it, renamed into place when complete."""
    import urllib.error
    import urllib.request

    print(f"Downloading data from {origin}")
    fd, partial = tempfile.mkstemp(dir=os.path.dirname(target), prefix=f".{os.path.basename(target)}.",
                                   suffix=".part")
    try:
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(origin) as response:
                shutil.copyfileobj(response, out, 1 << 20)
        except urllib.error.HTTPError as e:
            raise Exception(f"URL fetch failure on {origin}: {e.code} -- {e.msg}") from e
        except urllib.error.URLError as e:
            raise Exception(f"URL fetch failure on {origin}: {e.errno} -- {e.reason}") from e
        os.replace(partial, target)
    finally:
        if os.path.exists(partial):
            os.remove(partial)


def get_file(fname=None, origin=None, untar=False, md5_hash=None, file_hash=None, cache_subdir="datasets",
             hash_algorithm="auto", extract=False, archive_format="auto", cache_dir=None, force_download=False):
    """The local path of the file at URL ``origin``, downloaded into ``cache_dir/cache_subdir`` (default
    ``~/.keras/datasets``) unless it is there already, checked against ``file_hash`` (md5 or sha256), and, with
    ``extract``, the folder its tar or zip archive was extracted into (Keras 3's names for both). See
    ``keras.utils.get_file``."""
    if origin is None:
        raise ValueError('Please specify the "origin" argument (URL of the file to download).')
    if hash_algorithm not in ("auto", "sha256", "md5"):
        raise ValueError(f"hash_algorithm: expected 'auto', 'sha256' or 'md5', got {hash_algorithm!r}")
    if md5_hash is not None and file_hash is None:
        file_hash, hash_algorithm = md5_hash, "md5"
    base = os.path.expanduser(os.fspath(cache_dir)) if cache_dir is not None else _keras_home()
    try:  # Keras would fall back to /tmp/.keras for a cache_dir that does not exist yet; it is made instead
        os.makedirs(base, exist_ok=True)
    except OSError:
        pass
    if not os.access(base, os.W_OK):  # Keras: an unwritable cache falls back to /tmp/.keras
        base = os.path.join("/tmp" if os.path.isdir("/tmp") else tempfile.gettempdir(), ".keras")
    datadir = os.path.join(base, cache_subdir)
    os.makedirs(datadir, exist_ok=True)

    provided = fname is not None and os.fspath(fname) != ""
    fname = os.fspath(fname) if fname is not None else None
    if not fname:
        fname = os.path.basename(urllib.parse.urlsplit(origin).path)
        if not fname or fname in (os.curdir, os.pardir) or os.path.splitdrive(fname)[0]:
            raise ValueError(f"Can't parse the file name from the origin provided: '{origin}'. "
                             "Please specify the `fname` argument.")
    elif os.sep in fname or (os.altsep and os.altsep in fname):
        raise ValueError("Paths are no longer accepted as the `fname` argument. To specify the file's parent "
                         f"directory, use the `cache_dir` argument. Received: fname={fname}")

    # Where the download and the extraction go: Keras's names.
    if extract or untar:
        if provided and "." in fname:
            target = os.path.join(datadir, fname)
            folder = os.path.join(datadir, f"{fname[:fname.find('.')]}_extracted")
        else:
            folder = os.path.join(datadir, fname)
            target = os.path.join(datadir, f"{fname}_archive")
    else:
        target = os.path.join(datadir, fname)

    download = force_download or not os.path.exists(target)
    if not download and file_hash is not None and not _matches(target, file_hash, hash_algorithm):
        print(f"A local file was found, but it seems to be incomplete or outdated because the {hash_algorithm} "
              f"file hash does not match the original value of {file_hash} so we will re-download the data.")
        download = True
    if download:
        _download(origin, target)
        if file_hash is not None and not _matches(target, file_hash, hash_algorithm):
            os.remove(target)  # never left in the cache, where a later call would take it
            raise ValueError(f"Incomplete or corrupted file detected. The {hash_algorithm} file hash does not match "
                             f"the provided value of {file_hash}.")

    if extract or untar:
        if not _extract(target, folder, "tar" if untar else archive_format):
            warnings.warn("Could not extract archive.", stacklevel=2)
        return folder
    return target
