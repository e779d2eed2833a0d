"""The focal cross-entropies on the GPU (the CuPy backend): every argument combination of
test_keras_focal_losses.py computes what the NumPy backend computes, within float32 tolerance (CUDA's log and exp
are not NumPy's to the ulp), a recorded step replays the eager one bit for bit, and a training step takes no
memory from CuPy's pool after the first. Needs a GPU."""
from __future__ import annotations

import numpy as np
import pytest
from test_keras_focal_losses import CASE_IDS, CASES, CLASSES, CONFIGS, GRAD_SCALE, keras_inputs

import gpunn
from gpunn import _compat, layers, losses
from gpunn.ops.recording import Recording
from gpunn.ops.workspace import Workspace

pytestmark = pytest.mark.gpu


def _assert_close(got, want, rtol):
    """Equal within ``rtol`` of the largest finite value, and non-finite in the same places with the same sign."""
    finite = np.isfinite(want)
    np.testing.assert_array_equal(got[~finite], want[~finite])
    np.testing.assert_allclose(got[finite], want[finite], rtol=rtol, atol=rtol * np.abs(want[finite]).max())


@pytest.mark.parametrize("kind, index", CASES, ids=CASE_IDS)
def test_the_gpu_step_computes_the_cpu_numbers_and_replays_bit_for_bit(kind, index):
    cp = _compat.cupy()
    loss = CLASSES[kind](**CONFIGS[kind][index])
    p, t, _ = keras_inputs(kind, loss.from_logits, "float32")
    with gpunn.use_backend("numpy") as cpu:
        want = loss.compute(cpu, Workspace(cpu), p, t, GRAD_SCALE, loss.from_logits)
    with gpunn.use_backend("cupy") as ops:
        output, y = cp.asarray(p), cp.asarray(t)
        ws = Workspace(ops)
        eager = [cp.asnumpy(a) for a in loss.compute(ops, ws, output, y, GRAD_SCALE, loss.from_logits)]
        with Recording(ops) as tape:
            recorded = loss.compute(ops, ws, output, y, GRAD_SCALE, loss.from_logits)
        new_p, new_t, _ = keras_inputs(kind, loss.from_logits, "float32", seed=1)
        output[...], y[...] = cp.asarray(new_p), cp.asarray(new_t)
        tape.replay()
        again = loss.compute(ops, Workspace(ops), output.copy(), y.copy(), GRAD_SCALE, loss.from_logits)
        for got, expected in zip(recorded, again):
            np.testing.assert_array_equal(cp.asnumpy(got), cp.asnumpy(expected))
    for got, expected in zip(eager, want):
        _assert_close(got, np.asarray(expected), rtol=1e-5)


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "replay"])
@pytest.mark.parametrize("loss, activation", [
    (losses.BinaryFocalCrossentropy(apply_class_balancing=True, gamma=1.5, label_smoothing=0.1), "sigmoid"),
    (losses.CategoricalFocalCrossentropy(alpha=[0.2, 0.3, 0.1, 0.4], gamma=2.0, from_logits=True), "linear"),
], ids=["binary", "categorical_logits"])
def test_a_gpu_step_takes_no_memory_after_the_first(loss, activation, jit):
    cp = _compat.cupy()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 12)).astype("float32")
    y = np.eye(4, dtype="float32")[rng.integers(0, 4, 64)]
    with gpunn.use_backend("cupy"):
        gpunn.utils.set_random_seed(1)
        model = gpunn.Sequential([gpunn.Input(shape=(12,)), layers.Dense(16, activation="relu"),
                                  layers.Dense(4, activation=activation)])
        model.compile(optimizer="adam", loss=loss, metrics=["accuracy"], jit_compile=jit)
        x, y = model._prepare(x, y)
        step = model.make_train_function().prepare(sparse_labels=False)
        iterator = gpunn.trainer.EpochIterator(model.ops, step.comm, [x, y], 16, shuffle=True,
                                               rng=np.random.default_rng(0))
        batches = list(iterator.batches())

        def run(batch):
            slot = step.slot(batch.rows, batch.global_rows, y.shape[1:], y.dtype, None)
            iterator.fill(batch, slot)
            step(slot)

        run(batches[0])
        cp.cuda.get_current_stream().synchronize()
        requests = []

        class Counting(cp.cuda.MemoryHook):
            name = "gpunn_focal_counting"

            def malloc_preprocess(self, **kwargs):
                requests.append(kwargs.get("size"))

        with Counting():
            for batch in batches[1:]:
                run(batch)
            cp.cuda.get_current_stream().synchronize()
    assert requests == [], f"{len(requests)} pool requests, sizes {requests[:10]}"
