"""Runs the tests' Keras scripts, each in a child forked from one process that imported Keras once.

Importing Keras on its jax backend costs about 7 s of CPU; the tests run some forty Keras scripts, each once.
This process pays the import once per test worker and forks a child per script: the child starts with Keras
imported and nothing else done (JAX's backend is first made in the child, so no thread is forked), runs the
script as ``python -c`` would (a fresh ``__main__`` module, the caller's environment, the task on stdin), and
exits; nothing one script does reaches the next.

Protocol: one JSON request a line on stdin, ``{"script", "argv", "env", "cwd", "timeout", "stdin_file", "stdout",
"stderr"}`` (the last three: paths of the file the child reads as stdin and of those it writes its output to);
one JSON line back per request, ``{"returncode"}``.
"""
import json
import os
import signal
import sys
import time
import traceback
import types

os.environ["KERAS_BACKEND"] = "jax"
import keras  # noqa: E402,F401  (the import every child inherits)


def run_child(request: dict) -> None:
    """In the forked child: the script with its stdin, stdout, stderr and environment; never returns."""
    code = 1
    try:
        for fd, path, flags in ((0, request["stdin_file"], os.O_RDONLY),
                                (1, request["stdout"], os.O_WRONLY | os.O_TRUNC),
                                (2, request["stderr"], os.O_WRONLY | os.O_TRUNC)):
            opened = os.open(path, flags)
            os.dup2(opened, fd)
            os.close(opened)
        sys.stdin = open(0, closefd=False)
        sys.stdout = open(1, "w", closefd=False)
        sys.stderr = open(2, "w", closefd=False)
        os.environ.clear()
        os.environ.update(request["env"])
        os.chdir(request["cwd"])
        sys.argv = request["argv"]
        main = types.ModuleType("__main__")
        sys.modules["__main__"] = main
        exec(compile(request["script"], "<string>", "exec"), main.__dict__)
        code = 0
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    except BaseException:  # noqa: BLE001  (the child reports whatever stopped the script, as python -c does)
        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def wait(pid: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return -signal.SIGKILL
        time.sleep(0.02)


def main() -> None:
    replies = os.fdopen(os.dup(1), "w")
    for line in sys.stdin:
        request = json.loads(line)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            run_child(request)
        replies.write(json.dumps({"returncode": wait(pid, request["timeout"])}) + "\n")
        replies.flush()


if __name__ == "__main__":
    main()
