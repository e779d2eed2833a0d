"""Backend choice: NumPy, the 'auto' fallback, a clear error for CuPy without a GPU, scopes, a model keeping
its Ops, and an ``import gpunn`` that is silent and loads neither numba, CuPy nor mpi4py."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest
from helpers import numpy_backend  # noqa: F401

import gpunn
from gpunn import _compat, layers
from gpunn.ops import BackendUnavailableError, NumpyOps, get_ops

REPO = Path(__file__).resolve().parents[1]
no_gpu = pytest.mark.skipif(_compat.has_cupy_gpu(), reason="checks the behaviour on a machine without a GPU")


def run_python(code, *flags, env_changes=None):
    """Run ``code`` in a fresh interpreter (the repo importable, no backend chosen by the environment)."""
    env = dict(os.environ)
    env.pop("GPUNN_BACKEND", None)
    env.pop("NUMBA_ENABLE_CUDASIM", None)  # the real device probe, as a user's process sees it
    env.update(env_changes or {})
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, *flags, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env=env, cwd=REPO, timeout=120)


# ---- numpy ---------------------------------------------------------------------------------------------------


def test_set_backend_numpy():
    ops = gpunn.set_backend("numpy")
    assert isinstance(ops, NumpyOps) and ops.name == "numpy" and ops.xp is np
    assert get_ops() is ops
    assert gpunn.set_backend("NumPy") is ops  # one instance per backend, name case-insensitive
    model = gpunn.Sequential([gpunn.Input(shape=(3,)), layers.Dense(2)])
    assert model.ops is ops
    assert isinstance(model.params, np.ndarray)


# ---- auto and cupy without a GPU -------------------------------------------------------------------------------


@no_gpu
def test_auto_falls_back_to_numpy_with_one_warning():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ops = gpunn.set_backend("auto")
    assert ops.name == "numpy"
    runtime = [w for w in caught if issubclass(w.category, RuntimeWarning)]
    assert len(runtime) == 1 and len(caught) == 1
    message = str(runtime[0].message)
    assert "no usable GPU" in message and "NumPy backend" in message
    assert runtime[0].filename == __file__  # points at the caller's line


@no_gpu
def test_cupy_without_a_gpu_is_a_clear_error():
    before = get_ops()
    with pytest.raises(BackendUnavailableError) as info:
        gpunn.set_backend("cupy")
    message = str(info.value)
    assert "backend 'cupy' needs a working CUDA GPU" in message
    assert "set_backend('numpy')" in message and "\n" not in message
    # Not a driver traceback: no exception chained underneath.
    assert info.value.__cause__ is None and info.value.__context__ is None
    assert isinstance(info.value, RuntimeError)
    assert get_ops() is before  # the failed switch changed nothing
    with pytest.raises(BackendUnavailableError):
        with gpunn.use_backend("cupy"):
            pass
    assert get_ops() is before


@no_gpu
def test_backend_probe_in_a_fresh_process():
    """What a user's script sees: the real CuPy/driver probe (no simulator variable set)."""
    result = run_python("""
        import json, warnings
        import gpunn
        from gpunn.ops import BackendUnavailableError
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            auto = gpunn.set_backend("auto").name
        try:
            gpunn.set_backend("cupy")
            error = None
        except BackendUnavailableError as exc:
            error = [type(exc).__name__, str(exc), exc.__cause__ is None and exc.__context__ is None]
        print(json.dumps({"auto": auto, "warnings": [[w.category.__name__, str(w.message)] for w in caught],
                          "error": error}))
    """)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["auto"] == "numpy"
    assert len(out["warnings"]) == 1 and out["warnings"][0][0] == "RuntimeWarning"
    name, message, unchained = out["error"]
    assert name == "BackendUnavailableError" and unchained
    assert message.startswith("backend 'cupy' needs a working CUDA GPU and numba-cuda, but ")
    assert "Traceback" not in result.stderr


@no_gpu
@pytest.mark.parametrize("value, expect", [("numpy", "numpy"), ("auto", "numpy"), ("cupy", "BackendUnavailableError"),
                                           ("bogus", "ValueError")])
def test_gpunn_backend_environment_variable(value, expect):
    result = run_python("""
        import warnings
        warnings.simplefilter("error")   # the default 'auto' is silent; an explicit choice is not needed
        import gpunn
        try:
            print(gpunn.get_ops().name)
        except Exception as exc:
            print(type(exc).__name__, exc)
    """, env_changes={"GPUNN_BACKEND": value})
    assert result.returncode == 0, result.stderr
    line = result.stdout.strip()
    assert line.split()[0] == expect, line
    if expect == "ValueError":
        assert "backend: expected one of ('auto', 'numpy', 'cupy'), got 'bogus'" in line


@pytest.mark.skipif(not _compat.has_cupy_gpu(), reason="needs a CUDA GPU")
def test_auto_picks_cupy_on_a_gpu():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert gpunn.set_backend("auto").name == "cupy"


# ---- scopes and models keeping their Ops -------------------------------------------------------------------


class CountingOps(NumpyOps):
    """A stand-in second backend: the NumPy arithmetic, counting the matmuls it is asked for."""

    name = "cupy"
    device_description = "stand-in GPU"

    def __init__(self):
        super().__init__()
        self.matmuls = 0

    def matmul(self, a, b, out=None):
        self.matmuls += 1
        return super().matmul(a, b, out=out)


@pytest.fixture
def second_backend(monkeypatch):
    fake = CountingOps()
    monkeypatch.setattr(_compat, "has_cupy_gpu", lambda: True)
    monkeypatch.setitem(gpunn.ops._instances, "cupy", fake)
    return fake


def test_use_backend_restores_the_previous_backend(second_backend):
    numpy_ops = gpunn.set_backend("numpy")
    with gpunn.use_backend("cupy") as ops:
        assert ops is second_backend and get_ops() is second_backend
        with gpunn.use_backend("numpy"):
            assert get_ops() is numpy_ops
        assert get_ops() is second_backend
    assert get_ops() is numpy_ops
    with pytest.raises(KeyError):
        with gpunn.use_backend("cupy"):
            raise KeyError("boom")
    assert get_ops() is numpy_ops  # restored after an exception too


def test_a_model_keeps_the_ops_it_was_built_with(second_backend, rng):
    gpunn.set_backend("numpy")
    with gpunn.use_backend("cupy"):
        on_second = gpunn.Sequential([gpunn.Input(shape=(4,)), layers.Dense(3, activation="softmax")])
        unbuilt = gpunn.Sequential([layers.Dense(3, activation="softmax")])
    on_numpy = gpunn.Sequential([gpunn.Input(shape=(4,)), layers.Dense(3, activation="softmax")])
    assert on_second.ops is second_backend
    assert on_numpy.ops is get_ops() and on_numpy.ops is not second_backend
    x, y = rng.standard_normal((8, 4)), rng.integers(0, 3, 8)
    for model in (on_second, on_numpy):
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    count = second_backend.matmuls
    on_numpy.fit(x, y, epochs=1, verbose=0)
    on_numpy.predict(x, verbose=0)
    assert second_backend.matmuls == count  # the NumPy-built model never touches the other backend
    on_second.fit(x, y, epochs=1, verbose=0)  # outside the scope: still on the backend it was built with
    on_second.predict(x, verbose=0)
    assert second_backend.matmuls > count
    assert on_second.optimizer.ops is second_backend
    # A model built later (from data) uses the backend current at that time.
    unbuilt.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    unbuilt.fit(x, y, epochs=1, verbose=0)
    assert unbuilt.ops is get_ops()


def test_summary_names_the_backend():
    model = gpunn.Sequential([gpunn.Input(shape=(4,)), layers.Dense(3)])
    lines = []
    model.summary(print_fn=lines.append)
    assert repr(model.ops) in lines[-1] or repr(model.ops) in "\n".join(lines)


# ---- import ------------------------------------------------------------------------------------------------


def test_import_is_silent_and_light():
    result = run_python("""
        import sys
        import gpunn
        import gpunn.models, gpunn.layers, gpunn.optimizers, gpunn.callbacks, gpunn.datasets, gpunn.distributed
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("numba", "cupy", "mpi4py", "cupyx"))
        print("HEAVY", heavy)
    """, "-W", "error")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout.strip() == "HEAVY []"


def test_first_use_on_numpy_stays_light():
    """Building and training on the NumPy backend needs none of them either (Numba's CPU compiler, which
    runs the optimizer update, is fine; its CUDA target is not)."""
    result = run_python("""
        import sys
        import numpy as np
        import gpunn
        gpunn.set_backend("numpy")
        m = gpunn.Sequential([gpunn.Input(shape=(3,)), gpunn.layers.Dense(2, activation="softmax")])
        m.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        m.fit(np.ones((4, 3)), np.array([0, 1, 0, 1]), epochs=1, verbose=0)
        print("HEAVY", sorted(m for m in sys.modules
                              if m.split(".")[0] in ("cupy", "mpi4py") or m.startswith("numba.cuda")))
    """, "-W", "error")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "HEAVY []"
