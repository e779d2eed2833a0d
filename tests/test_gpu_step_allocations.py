"""On the GPU, a training step after the first of its batch size takes no memory from CuPy's pool (the
counterpart of tests/test_step_allocations.py, counted with a CuPy memory hook). Needs a GPU."""
from __future__ import annotations

import numpy as np
import pytest

import gpunn
from gpunn import _compat, layers

pytestmark = pytest.mark.gpu


def _pool_requests(cp):
    class Counting(cp.cuda.MemoryHook):
        name = "gpunn_counting"

        def __init__(self):
            self.requests = []

        def malloc_preprocess(self, **kwargs):
            self.requests.append(kwargs.get("size"))

    return Counting()


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "replay"])
@pytest.mark.parametrize("optimizer", ["sgd", "rmsprop", "adagrad", "adam", "adamw", "ftrl", "lamb"])
def test_a_gpu_step_takes_no_memory_after_the_first(optimizer, jit):
    cp = _compat.cupy()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 12)).astype("float32")
    y = rng.integers(0, 4, 64)
    with gpunn.use_backend("cupy"):
        gpunn.utils.set_random_seed(1)
        model = gpunn.Sequential([gpunn.Input(shape=(12,)), layers.Dense(16, activation="relu"), layers.Dropout(0.2),
                                  layers.BatchNormalization(), layers.Dense(16, activation="gelu"),
                                  layers.LayerNormalization(), layers.Dense(4, activation="softmax")])
        model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                      jit_compile=jit)
        x, y = model._prepare(x, y)
        step = model.make_train_function().prepare(sparse_labels=True)
        iterator = gpunn.trainer.EpochIterator(model.ops, step.comm, [x, y], 16, shuffle=True,
                                               rng=np.random.default_rng(0))
        batches = list(iterator.batches())

        def run(batch):
            slot = step.slot(batch.rows, batch.global_rows, y.shape[1:], y.dtype, None)
            iterator.fill(batch, slot)
            step(slot)

        run(batches[0])
        cp.cuda.get_current_stream().synchronize()
        hook = _pool_requests(cp)
        with hook:
            for batch in batches[1:]:
                run(batch)
            cp.cuda.get_current_stream().synchronize()
    assert hook.requests == [], f"{len(hook.requests)} pool requests, sizes {hook.requests[:10]}"
