"""CUDA-graph training on the GPU: with jit_compile=True the recorded step is captured as a graph and replayed;
it must train as the eager step does (to float32 rounding) for every optimizer, dropout, batch norm, a
learning-rate schedule and a rate changed mid-training; N steps per graph equal one; a step that cannot be
captured falls back with one warning; rebuilding or recompiling captures again; gpunn's own cuBLAS calls give
CuPy's matmul. Needs a GPU (the CPU proves the same control flow in tests/test_steps_per_execution.py)."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import gpunn
from gpunn import _compat, callbacks, layers, optimizers
from gpunn.ops import cuda_graphs
from gpunn.ops.recording import primitive
from gpunn.optimizers import schedules
from gpunn.trainer.train_step import GraphFallbackWarning

pytestmark = pytest.mark.gpu

OPTIMIZERS = {
    "sgd-momentum": lambda: optimizers.SGD(0.05, momentum=0.9, nesterov=True),
    "rmsprop": lambda: optimizers.RMSprop(0.01, momentum=0.5, centered=True),
    "adagrad": lambda: optimizers.Adagrad(0.05),
    "adam": lambda: optimizers.Adam(0.01, clipnorm=0.5),
    "adamw-schedule": lambda: optimizers.AdamW(schedules.ExponentialDecay(0.02, decay_steps=5, decay_rate=0.8),
                                              weight_decay=0.02),
    "nadam": lambda: optimizers.Nadam(0.01, weight_decay=0.01),
    "adamax-polynomial": lambda: optimizers.Adamax(schedules.PolynomialDecay(0.02, decay_steps=7, cycle=True)),
    "adadelta": lambda: optimizers.Adadelta(1.0),
    "lion-restarts": lambda: optimizers.Lion(schedules.CosineDecayRestarts(0.003, 9, m_mul=0.8),
                                             weight_decay=0.1),
    "ftrl-schedule": lambda: optimizers.Ftrl(schedules.ExponentialDecay(0.2, decay_steps=5, decay_rate=0.8),
                                             l1_regularization_strength=0.001, l2_regularization_strength=0.01,
                                             beta=0.5),
    "lamb-clipnorm": lambda: optimizers.Lamb(0.01, weight_decay=0.01, clipnorm=1.0),
    "schedule-free-warmup": lambda: optimizers.ScheduleFreeAdamW(0.01, warmup_steps=9, weight_decay=0.01),
    # tf.keras 2's decay: the rate before the division is read from the device (a callback changes it there)
    "legacy-sgd-decay": lambda: optimizers.legacy.SGD(0.05, momentum=0.9, decay=0.01),
    # weight decay applied through a mask before the update, the kernels' own decay 0
    "adamw-excluding-biases": lambda: _excluding(optimizers.AdamW(0.01, weight_decay=0.1), ["bias", "gamma", "beta"]),
}


def _excluding(optimizer, names):
    optimizer.exclude_from_weight_decay(var_names=names)
    return optimizer


def _data(n=50 * 16 + 7):
    rng = np.random.default_rng(0)
    return rng.standard_normal((n, 12)).astype("float32"), rng.integers(0, 4, n)


def _train(jit, optimizer="adam", steps_per_execution=1, epochs=1, callbacks_=None):
    x, y = _data()
    with gpunn.use_backend("cupy"):
        gpunn.utils.set_random_seed(1)
        model = gpunn.Sequential([gpunn.Input(shape=(12,)), layers.Dense(32, activation="relu"), layers.Dropout(0.2),
                                  layers.Dense(32), layers.BatchNormalization(), layers.Activation("gelu"),
                                  layers.Dense(4, activation="softmax")])
        model.compile(optimizer=OPTIMIZERS[optimizer](), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"], jit_compile=jit, steps_per_execution=steps_per_execution)
        with warnings.catch_warnings():
            warnings.simplefilter("error", GraphFallbackWarning)  # a silent fallback would hide a broken capture
            history = model.fit(x, y, batch_size=16, epochs=epochs, verbose=0, callbacks=callbacks_)
        return model, history.history


def _assert_close(a, b, rtol=2e-5, atol=2e-6):
    (model_a, history_a), (model_b, history_b) = a, b
    for wa, wb in zip(model_a.get_weights(), model_b.get_weights()):
        np.testing.assert_allclose(wa, wb, rtol=rtol, atol=atol)
    assert model_a.optimizer.iterations == model_b.optimizer.iterations
    for key in history_a:
        np.testing.assert_allclose(history_a[key], history_b[key], rtol=1e-4)


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
def test_graph_replay_equals_eager_over_50_steps(optimizer):
    # 807 rows in batches of 16: 50 full batches (replayed from the graph) and a partial one of 7
    _assert_close(_train(False, optimizer), _train(True, optimizer))


@pytest.mark.parametrize("optimizer, first_rate", [("adam", 0.01), ("legacy-sgd-decay", 0.05)])
def test_a_rate_changed_mid_training_reaches_the_graph(optimizer, first_rate):
    def with_plateau():
        return [callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=0, min_delta=10.0)]

    eager = _train(False, optimizer, epochs=3, callbacks_=with_plateau())
    graph = _train(True, optimizer, epochs=3, callbacks_=with_plateau())
    assert float(graph[0].optimizer.learning_rate) < first_rate  # the callback did lower it
    _assert_close(eager, graph)


def test_eight_steps_per_graph_equal_one():
    _assert_close(_train(True, steps_per_execution=1), _train(True, steps_per_execution=8), rtol=1e-6, atol=1e-7)


def test_recompiling_or_rebuilding_captures_again(monkeypatch):
    captured = []
    original = cuda_graphs.capture

    def counting(ops, calls):
        captured.append(len(calls))
        return original(ops, calls)

    monkeypatch.setattr(cuda_graphs, "capture", counting)
    model, _ = _train(True)
    first = len(captured)
    assert first > 0
    x, y = _data()
    with gpunn.use_backend("cupy"):
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", jit_compile=True)
        model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    assert len(captured) > first


def test_a_step_that_syncs_inside_the_capture_falls_back_with_one_warning(monkeypatch):
    from gpunn.ops.cupy_ops import CupyOps

    original = CupyOps.advance_cursor

    @primitive
    def advance_and_read(self, cursor, amount):
        original.unrecorded(self, cursor, amount)
        self.to_float(cursor[0])  # a host read: illegal while capturing

    monkeypatch.setattr(CupyOps, "advance_cursor", advance_and_read)
    x, y = _data()
    with gpunn.use_backend("cupy"):
        gpunn.utils.set_random_seed(1)
        model = gpunn.Sequential([gpunn.Input(shape=(12,)), layers.Dense(8, activation="relu"),
                                  layers.Dense(4, activation="softmax")])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", jit_compile=True)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model.fit(x, y, batch_size=16, epochs=2, verbose=0)
    fallbacks = [w for w in caught if issubclass(w.category, GraphFallbackWarning)]
    assert len(fallbacks) == 1 and "could not be captured" in str(fallbacks[0].message)
    assert np.isfinite(model.evaluate(x, y, verbose=0))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_gpunn_cublas_matmul_matches_numpy_for_every_layout(dtype):
    cp = _compat.cupy()
    with gpunn.use_backend("cupy") as ops:
        assert ops._matmul_engine() is not None, "cuBLAS could not be opened with ctypes: steps cannot be captured"
        rng = np.random.default_rng(2)
        a = rng.standard_normal((33, 17)).astype(dtype)
        b = rng.standard_normal((17, 9)).astype(dtype)
        for left in (cp.asarray(a), cp.asarray(np.ascontiguousarray(a.T)).T):
            for right in (cp.asarray(b), cp.asarray(np.ascontiguousarray(b.T)).T):
                out = cp.empty((33, 9), dtype)
                ops.matmul(left, right, out=out)
                np.testing.assert_allclose(cp.asnumpy(out), a @ b, rtol=1e-5 if dtype == "float32" else 1e-12,
                                           atol=1e-5 if dtype == "float32" else 1e-12)
