"""Shared test utilities: central-difference gradients, gradient comparison, the CPU backend, small data.

Test modules import what they need (``from helpers import ...``); the ``numpy_backend`` fixture is imported
into a module to run all its tests on the NumPy backend, whatever machine they run on.
"""
from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import types

import numpy as np
import pytest

import gpunn


def numerical_gradient(f, x, eps=1e-6):
    """d f(x) / d x by central differences, element by element.

    ``x`` is perturbed in place and restored after each element, so it may be a view into a model's flat
    parameter buffer: ``f`` then reads the perturbed value through the model. ``f(x)`` returns a scalar.
    """
    grad = np.zeros(x.shape, dtype=np.float64)
    for index in np.ndindex(*x.shape):
        original = x[index].copy()
        x[index] = original + eps
        plus = float(f(x))
        x[index] = original - eps
        minus = float(f(x))
        x[index] = original
        grad[index] = (plus - minus) / (2.0 * eps)
    return grad


def assert_gradients_close(analytic, numeric, rtol=1e-6, atol=1e-9, what="gradient"):
    """Element-wise ``|a - n| <= atol + rtol * |n|``, plus a relative error of the whole array below ``rtol``."""
    analytic = np.asarray(analytic, dtype=np.float64)
    numeric = np.asarray(numeric, dtype=np.float64)
    assert analytic.shape == numeric.shape, f"{what}: shape {analytic.shape} != {numeric.shape}"
    assert np.abs(numeric).max() > 0 or np.abs(analytic).max() == 0, f"{what}: degenerate check (all zero)"
    scale = np.linalg.norm(analytic) + np.linalg.norm(numeric)
    relative = np.linalg.norm(analytic - numeric) / max(scale, 1e-30)
    assert relative < rtol, f"{what}: relative error {relative:.3e} (analytic {analytic}, numeric {numeric})"
    np.testing.assert_allclose(analytic, numeric, rtol=max(rtol, 1e-5), atol=atol, err_msg=what)


def assert_gradients_with_fixed_draws(model, random_layers, x, y, fixed) -> None:
    """A model's parameter gradients (one ``train_on_batch`` step of a compiled mse model) equal central
    differences of its training-mode output, with the image layers' uniform draws ``random_layers`` make fixed to
    values taken in turn from ``fixed`` (the same at every call)."""
    for layer in random_layers:
        layer.uniform = lambda shape, minval, maxval: gpunn.autodiff.Tensor(
            minval + np.resize(fixed, shape) * (maxval - minval))

    def objective(_):
        return ((gpunn.ops.convert_to_numpy(model(x, training=True)) - y) ** 2).mean()

    numeric = numerical_gradient(objective, model.params)
    model.train_on_batch(x, y)
    assert_gradients_close(np.array(model.grads), numeric, what="d loss / d params through augmentation layers")


@pytest.fixture(autouse=True)
def numpy_backend():
    """Run the test on the NumPy backend (the CPU reference), restoring the previous choice afterwards."""
    with gpunn.use_backend("numpy") as ops:
        yield ops


@functools.lru_cache(maxsize=None)
def _digits():
    return gpunn.datasets.digits.load_data()


def digits(flat=True):
    """The offline digits split, copies: x float32 in [0, 1] (flattened to 64 features unless flat=False)."""
    (x_train, y_train), (x_test, y_test) = _digits()
    if flat:
        x_train, x_test = x_train.reshape(len(x_train), -1), x_test.reshape(len(x_test), -1)
    return (x_train.copy(), y_train.copy()), (x_test.copy(), y_test.copy())


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def mlp(hidden=(16,), inputs=64, classes=10, activation="relu", output="softmax", dtype=None, **dense_kwargs):
    """A small Sequential classifier with a declared input shape."""
    layers = [gpunn.Input(shape=(inputs,), dtype=dtype)]
    layers += [gpunn.layers.Dense(units, activation=activation, dtype=dtype, **dense_kwargs) for units in hidden]
    layers.append(gpunn.layers.Dense(classes, activation=output, dtype=dtype))
    return gpunn.Sequential(layers)


def assert_same_state(model_a, model_b):
    """Two models in the same state, bit for bit: weights, optimizer slots and step count."""
    for wa, wb in zip(model_a.get_weights(), model_b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    for name in model_a.optimizer.slots:
        np.testing.assert_array_equal(np.asarray(model_a.optimizer.slots[name]),
                                      np.asarray(model_b.optimizer.slots[name]))
    assert model_a.optimizer.step_count == model_b.optimizer.step_count


def assert_same_training(a, b):
    """Two (model, history) results trained the same, bit for bit: weights, optimizer slots, step count, logs."""
    (model_a, history_a), (model_b, history_b) = a, b
    assert_same_state(model_a, model_b)
    assert history_a == history_b


def keras_unavailable_reason() -> str | None:
    """Why Keras 3 cannot run beside the tests (keras or jax missing), or None: the tests that compare with
    Keras itself skip with this reason."""
    import importlib.util

    for module in ("keras", "jax"):
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            return f"{module} is not installed (pip install keras jax): Keras's side is not checked"
    return None


def run_keras(script: str, task) -> object:
    """Run ``script`` under Keras 3 (jax backend), ``task`` as JSON on its stdin; its last line of output, parsed
    as JSON. Skips the calling test when Keras cannot run here."""
    import json

    reason = keras_unavailable_reason()
    if reason:
        pytest.skip(reason)
    run = run_keras_script(script, stdin=json.dumps(task))
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


FOLDER_MAIN = r'''
import keras
task = json.loads(sys.stdin.read())
print(json.dumps(run(keras, task["folder"])))
'''


READ_MAIN = r'''
import keras
print(json.dumps(read(keras, json.loads(sys.stdin.read())["folder"])))
'''


def read_in_keras(script: str, folder) -> object:
    """``script`` imports json and sys and defines ``read(module, folder)``, which reads what a run left in
    ``folder`` (files gpunn wrote, say): its JSON-ready result under Keras 3 (one child process)."""
    return run_keras(script + READ_MAIN, {"folder": str(folder)})


def run_script_both_ways(script: str, tmp_path_factory) -> tuple:
    """``script`` imports json and sys and defines ``run(module, folder)``, which returns JSON-ready results:
    run under Keras 3 (one child process) and under gpunn on NumPy from a fresh session (layer names counted
    anew, as in Keras's process), each with a folder of its own; (gpunn's results, Keras's), JSON round-tripped
    alike."""
    import json

    import gpunn

    theirs = run_keras(script + FOLDER_MAIN, {"folder": str(tmp_path_factory.mktemp("keras"))})
    namespace: dict = {}
    exec(compile(script, "both_ways_script.py", "exec"), namespace)
    gpunn.backend.clear_session()
    with gpunn.use_backend("numpy"):
        ours = json.loads(json.dumps(namespace["run"](gpunn, str(tmp_path_factory.mktemp("gpunn")))))
    return ours, theirs


def run_case_both_ways(case_source: str, cases: list, extra_compile=None) -> tuple[list, list]:
    """The differential tests' runner: ``case_source`` defines ``run(module, case, extra_compile=None)``, which
    builds, trains and reads one case with ``module`` (keras or gpunn) and returns JSON-ready results. Every case
    runs under Keras 3 (one child process) and under gpunn on NumPy (``extra_compile(case)``, if given, adds
    compile arguments there); returns (gpunn's results, Keras's), JSON round-tripped alike."""
    import json

    import gpunn

    theirs = run_keras(case_source + KERAS_CASE_MAIN, cases)
    namespace: dict = {}
    exec(compile(case_source, "differential_case.py", "exec"), namespace)
    with gpunn.use_backend("numpy"):
        ours = [json.loads(json.dumps(namespace["run"](gpunn, case, extra_compile and extra_compile(case))))
                for case in cases]
    return ours, theirs


KERAS_CASE_MAIN = r'''
import json, sys
import keras
print(json.dumps([run(keras, case) for case in json.loads(sys.stdin.read())]))
'''


def assert_each_close_to_keras(ours: dict, theirs: dict, rtol=2e-6, atol=1e-6) -> None:
    """The same keys in both results, and each value close to Keras's (float32 rounding), named when not."""
    assert set(ours) == set(theirs)
    for key in ours:
        np.testing.assert_allclose(ours[key], theirs[key], rtol=rtol, atol=atol, err_msg=key)


def assert_close_to_keras(ours, theirs, where: str, rtol=3e-3, atol=3e-4) -> None:
    """Lists or numbers from a differential case, equal in shape and close in value (Keras computes in float32
    on jax, with other roundings); ``where`` names the case in the message."""
    ours, theirs = np.asarray(ours, dtype=float), np.asarray(theirs, dtype=float)
    assert ours.shape == theirs.shape and np.allclose(ours, theirs, rtol=rtol, atol=atol), \
        f"{ours.tolist()} vs Keras's {theirs.tolist()}; {where}"


# What Keras and JAX read when they are imported: a script run with other values of these needs its own interpreter.
_IMPORT_TIME_VARIABLES = ("KERAS_", "JAX_", "XLA_", "PYTHONPATH")


def run_keras_script(script: str, *args: str, env: dict | None = None, cwd=None, stdin: str = "",
                     timeout: float = 600):
    """``python -c script *args`` (a ``subprocess.CompletedProcess``, text output) with ``env`` (default: this
    process's, with KERAS_BACKEND=jax).

    The script runs in a child forked from a process that has imported Keras on jax (``keras_server.py``, one per
    test process), which saves each script the import, about 7 s. A fresh interpreter runs it instead where
    ``os.fork`` is missing, or where ``env`` sets what Keras or JAX read at import time otherwise."""
    import os
    import subprocess
    import sys
    import tempfile

    env = {**os.environ, "KERAS_BACKEND": "jax"} if env is None else dict(env)
    argv = [sys.executable, "-c", script, *map(str, args)]
    if not hasattr(os, "fork") or _import_time(env) != _import_time(_KerasServer.environment()):
        return subprocess.run(argv, input=stdin, capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout)
    with tempfile.TemporaryDirectory() as work:
        paths = {name: os.path.join(work, name) for name in ("stdin_file", "stdout", "stderr")}
        for name, text in (("stdin_file", stdin), ("stdout", ""), ("stderr", "")):
            with open(paths[name], "w") as file:
                file.write(text)
        returncode = _keras_server().run({"script": script, "argv": ["-c", *map(str, args)], "env": env,
                                          "cwd": str(cwd or os.getcwd()), "timeout": timeout, **paths})
        with open(paths["stdout"]) as out, open(paths["stderr"]) as err:
            return subprocess.CompletedProcess(argv, returncode, out.read(), err.read())


def _import_time(env: dict) -> dict:
    return {name: value for name, value in env.items() if name.startswith(_IMPORT_TIME_VARIABLES)}


class _KerasServer:
    """The ``keras_server.py`` process of this test process, started at its first script."""

    def __init__(self):
        import subprocess
        import sys
        from pathlib import Path

        self.process = subprocess.Popen([sys.executable, str(Path(__file__).with_name("keras_server.py"))],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                        env=self.environment())

    @staticmethod
    def environment() -> dict:
        import os

        return {**os.environ, "KERAS_BACKEND": "jax"}

    def run(self, request: dict) -> int:
        import json

        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        reply = self.process.stdout.readline()
        if not reply:
            raise RuntimeError(f"the Keras script server ended (exit status {self.process.wait()}); its error is "
                               "above in the captured stderr")
        return json.loads(reply)["returncode"]

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=60)
        self.process.stdout.close()


@functools.lru_cache(maxsize=None)
def _keras_server() -> _KerasServer:
    import atexit

    server = _KerasServer()
    atexit.register(server.close)
    return server


def bench_module(name: str):
    """``bench/<name>.py`` imported as a module, for a module-scoped fixture to yield (a generator: bench/ is not a
    package, and its scripts import their siblings, so bench/ is on ``sys.path`` while the fixture lives)."""
    import importlib.util
    import sys
    from pathlib import Path

    bench = Path(__file__).resolve().parents[1] / "bench"
    sys.path.insert(0, str(bench))
    try:
        spec = importlib.util.spec_from_file_location(name, bench / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.path.remove(str(bench))


class Repeat:
    """An iterable giving a generator function's batches again for every epoch (``fit`` on a stream)."""

    def __init__(self, make):
        self.make = make

    def __iter__(self):
        return self.make()


# ---- Keras with TensorFlow (its lookup and hashing layers need it; it is not installed beside the tests) ----------

def run_keras_with_tensorflow_script(script: str, task, backend: str = "jax", gpunn_path: bool = False) -> dict:
    """``script`` (reading ``task`` as JSON on stdin, printing its result as JSON last) run by the interpreter
    GPUNN_KERAS_TF_PYTHON names, one with Keras 3.15 and TensorFlow; skips where none is named (the tests then
    check against results recorded with such an interpreter). ``gpunn_path``: the script imports this checkout's
    gpunn (the interpreter then needs gpunn's dependencies too)."""
    python = os.environ.get("GPUNN_KERAS_TF_PYTHON")
    if not python:
        pytest.skip("GPUNN_KERAS_TF_PYTHON names no interpreter with Keras 3.15 and TensorFlow: checked against the "
                    "recorded results only")
    return run_with_python(python, script, task, backend, gpunn_path)


def run_with_python(python: str, script: str, task, backend: str = "jax", gpunn_path: bool = False) -> dict:
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    if gpunn_path:
        env["PYTHONPATH"] = os.pathsep.join([os.path.dirname(os.path.dirname(os.path.abspath(__file__)))] + (
            [env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    run = subprocess.run([python, "-c", script], input=json.dumps(task), capture_output=True, text=True,
                         env=env, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


def assert_config_as_kerass(ours: dict, theirs: dict, vocabulary: list, what: str) -> None:
    """A lookup layer's config (StringLookup, TextVectorization) as Keras's: gpunn's also holds a learned
    vocabulary (and its IDF weights), which Keras's file keeps in its assets instead."""
    learned = ("vocabulary", "idf_weights", "has_input_vocabulary") if "has_input_vocabulary" in ours else ()
    assert {k: v for k, v in ours.items() if k not in learned} == \
        {k: v for k, v in theirs.items() if k not in learned}, f"config of {what}"
    if learned:
        assert ours["vocabulary"] == vocabulary and theirs["vocabulary"] is None, f"vocabulary of {what}"


class SymbolicTensor:
    """A stand-in for TensorFlow's symbolic tensor (inside ``dataset.map``): a shape, and for a numpy_function's
    result, how to compute it (``run``: its function on values for its arguments; ``output``: which of the
    function's outputs it is, where the function has several)."""

    def __init__(self, shape, function=None, argument=None, dtype=None, output=None):
        self.shape = types.SimpleNamespace(as_list=lambda: list(shape))
        self.function, self.argument, self.dtype, self.static_shape = function, argument, dtype, None
        self.output = output

    def set_shape(self, shape):
        self.static_shape = shape

    def run(self, *values):
        result = self.function(*values)
        return result if self.output is None else result[self.output]


SymbolicTensor.__module__ = "tensorflow.python.framework.ops"


def install_fake_tensorflow(monkeypatch):
    """A stand-in ``tensorflow`` module in sys.modules: what gpunn's tf.data support looks up
    (``gpunn/layers/tf_pipeline.py``), its ``numpy_function`` returning SymbolicTensors."""
    module = types.ModuleType("tensorflow")
    module.is_tensor = lambda value: isinstance(value, SymbolicTensor)
    module.string = "string"
    module.as_dtype = lambda name: name

    def numpy_function(function, arguments, dtype, stateful=True):
        if isinstance(dtype, list):
            return [SymbolicTensor([], function, arguments, each, output=k) for k, each in enumerate(dtype)]
        return SymbolicTensor([], function, arguments, dtype)

    module.numpy_function = numpy_function
    monkeypatch.setitem(sys.modules, "tensorflow", module)
    return module


def assert_trains_as_flat_and_loads(nested, flat, x, y, path, batch_size: int) -> None:
    """A model whose layers came in a model called inside it trains as the same layers called in turn, bit for bit,
    and its file (at ``path``) loads again to the same predictions."""
    histories = [model.fit(x, y, epochs=2, batch_size=batch_size, shuffle=False, verbose=0).history
                 for model in (nested, flat)]
    assert histories[0] == histories[1]
    nested.save(path)
    np.testing.assert_allclose(gpunn.models.load_model(path).predict(x, verbose=0), nested.predict(x, verbose=0),
                               rtol=1e-6)


def eager_and_replayed(case_source: str, case: dict) -> tuple:
    """(the eager run, the replayed run) of a differential case (``run_case_both_ways``'s source) on gpunn's NumPy
    backend: the second compiled with ``jit_compile=True``, whose results must equal the first's bit for bit."""
    import gpunn

    namespace: dict = {}
    exec(compile(case_source, "differential_case.py", "exec"), namespace)
    with gpunn.use_backend("numpy"):
        return namespace["run"](gpunn, case), namespace["run"](gpunn, case, {"jit_compile": True})
