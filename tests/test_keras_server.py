"""The tests' Keras scripts run as ``python -c`` runs them, though forked from one process (tests/keras_server.py):
arguments, stdin, working directory, environment and exit status are the script's own, and nothing one script
does reaches the next."""
from __future__ import annotations

import os

import pytest

from helpers import keras_unavailable_reason, run_keras_script

pytestmark = pytest.mark.skipif(keras_unavailable_reason() is not None, reason=str(keras_unavailable_reason()))

SCRIPT = """
import json, os, sys
import keras
seen = {"argv": sys.argv[1:], "stdin": sys.stdin.read(), "cwd": os.getcwd(), "marker": os.environ.get("MARKER"),
        "main": __name__, "left": getattr(sys.modules["__main__"], "LEFT_BEHIND", None),
        "env_left": os.environ.get("LEFT_IN_ENV"), "backend": keras.backend.backend()}
LEFT_BEHIND = 1
os.environ["LEFT_IN_ENV"] = "1"
print("noise")
print(json.dumps(seen))
"""


def test_a_script_sees_its_own_arguments_stdin_directory_and_environment_and_nothing_of_the_last(tmp_path):
    import json

    env = {**os.environ, "KERAS_BACKEND": "jax", "MARKER": "m"}
    for _ in range(2):
        run = run_keras_script(SCRIPT, "a", 2, env=env, cwd=tmp_path, stdin="in")
        assert run.returncode == 0, run.stderr
        seen = json.loads(run.stdout.splitlines()[-1])
        assert run.stdout.splitlines()[0] == "noise"
        assert seen == {"argv": ["a", "2"], "stdin": "in", "cwd": str(tmp_path), "marker": "m", "main": "__main__",
                        "left": None, "env_left": None, "backend": "jax"}


def test_exit_status_and_traceback_come_back():
    run = run_keras_script("import sys; sys.exit(3)")
    assert run.returncode == 3
    run = run_keras_script("raise ValueError('the reason')")
    assert run.returncode == 1 and "ValueError: the reason" in run.stderr


def test_a_script_past_its_time_is_killed():
    run = run_keras_script("import time; time.sleep(60)", timeout=0.5)
    assert run.returncode < 0
