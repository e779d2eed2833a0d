"""Replace a file atomically and leave no debris, even when the writer is killed.

The bytes go to a temporary file in the target's directory, which is then renamed over the target: readers see
the previous file or the new one, never a mix, and a failed write leaves the previous file untouched.

A process killed outright (SIGKILL, out-of-memory killer, power loss) cannot delete its temporary file. So each
temporary is named after the process writing it, ``.<name>.<pid>@<host>.<random>.gpunn.tmp``, and every write
first deletes the temporaries in its directory whose process is dead. It leaves alone those of live processes
(still writing), of this process (another thread may be writing) and of other hosts (a shared network
directory, where a pid says nothing about the process). Only POSIX systems can tell whether a pid is alive
without side effects; elsewhere nothing is deleted.
"""
from __future__ import annotations

import os
import re
import secrets
import socket

TEMP_SUFFIX = ".gpunn.tmp"
_TEMP_NAME = re.compile(r"\.(?P<stem>.+)\.(?P<pid>\d+)@(?P<host>[^@/]+)\.[0-9a-f]{8}" + re.escape(TEMP_SUFFIX))
# Writes go out in slices: no single huge write call, and a slow disk is interruptible between them.
_CHUNK_BYTES = 64 << 20


def _host() -> str:
    # Hostnames hold letters, digits, '-' and '.'; anything else is replaced so the name parses back.
    return re.sub(r"[^A-Za-z0-9.-]", "_", socket.gethostname())[:64] or "localhost"


def temporary_path(filepath: str) -> str:
    directory, name = os.path.split(os.path.abspath(filepath))
    # The name is shortened so that the temporary's name stays within the usual 255-byte limit.
    return os.path.join(directory, f".{name[:100]}.{os.getpid()}@{_host()}.{secrets.token_hex(4)}{TEMP_SUFFIX}")


def is_temporary(name: str) -> bool:
    """Whether ``name`` (a file name, no directory) is a temporary written by ``atomic_write_bytes``."""
    return _TEMP_NAME.fullmatch(name) is not None


def _process_is_alive(pid: int) -> bool:
    if pid == os.getpid() or os.name != "posix":
        return True  # never touch our own; elsewhere os.kill(pid, 0) would terminate the process
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # e.g. another user's live process: not ours to judge
    return True


def remove_stale_temporaries(directory: str) -> list[str]:
    """Delete the temporaries in ``directory`` left by dead processes of this host; their paths."""
    host = _host()
    removed = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    for entry in entries:
        match = _TEMP_NAME.fullmatch(entry.name)
        if match is None or match["host"] != host or _process_is_alive(int(match["pid"])):
            continue
        try:
            os.unlink(entry.path)
            removed.append(entry.path)
        except FileNotFoundError:
            pass  # another writer cleaned it first
    return removed


def _write_all(handle, data) -> None:
    view = memoryview(data)
    for start in range(0, len(view), _CHUNK_BYTES):
        handle.write(view[start:start + _CHUNK_BYTES])


def _fsync_directory(directory: str) -> None:
    # Makes the rename itself durable; not every platform or file system can open a directory for this.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(filepath, data, overwrite: bool = True) -> None:
    """Replace ``filepath`` by ``data`` atomically, creating missing directories."""
    filepath = os.fspath(filepath)
    if not overwrite and os.path.exists(filepath):
        raise FileExistsError(f"filepath: {filepath!r} exists and overwrite=False")
    directory = os.path.dirname(os.path.abspath(filepath))
    os.makedirs(directory, exist_ok=True)
    remove_stale_temporaries(directory)
    tmp = temporary_path(filepath)
    # 0o666 less the umask: a saved file gets the permissions any new file would.
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    except OSError as exc:  # named by the file asked for, not by the temporary beside it
        raise type(exc)(exc.errno, f"filepath: cannot write in {directory!r} ({exc.strerror})",
                        filepath) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            _write_all(handle, data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, filepath)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    _fsync_directory(directory)
