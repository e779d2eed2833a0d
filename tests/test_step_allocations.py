"""After the first step of a given batch size, a training step allocates no NumPy array, temporaries
included: every layer, loss, metric and optimizer writes into buffers made on that first step."""
from __future__ import annotations

import numpy as np
import pytest

import gpunn

from allocations import count_step_allocations, describe
from helpers import numpy_backend  # noqa: F401  (fixture)
from test_train_step import OPTIMIZERS, _data, _model


# ---- no allocation after the first step of a size ----------------------------------------------------------

STACKS_AND_LOSSES = [
    ("dense", "sparse_categorical_crossentropy", "softmax"),
    ("dropout", "categorical_crossentropy", "softmax"),
    ("batchnorm", "binary_crossentropy", "sigmoid"),
    ("layernorm", "mean_squared_error", "linear"),
    ("regularized", "mean_absolute_error", "tanh"),
    ("noise", "sparse_categorical_crossentropy", "softmax"),
    ("activations", "categorical_crossentropy", "softmax"),
    ("preprocessing", "mean_squared_error", "linear"),
]


def _fit_steps(model, x, y, batch_size):
    step = model.make_train_function().prepare(model._sparse_labels(y))
    iterator = gpunn.trainer.EpochIterator(model.ops, step.comm, [x, y], batch_size, shuffle=True,
                                           rng=np.random.default_rng(0))
    batches = list(iterator.batches())

    def one(batch):
        slot = step.slot(batch.rows, batch.global_rows, y.shape[1:], y.dtype, None)
        iterator.fill(batch, slot)
        step(slot)

    return batches, one


def assert_later_steps_allocate_nothing(model, x, y, batch_size=8):
    """The first step of each size makes its buffers (and records, with jit); the steps after it allocate none."""
    x, y = model._prepare(x, y)
    batches, one = _fit_steps(model, x, y, batch_size)
    one(batches[0])
    with count_step_allocations() as events:
        for batch in batches[1:]:
            one(batch)
    assert events == [], describe(events)


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "replay"])
@pytest.mark.parametrize("optimizer", ["sgd-nesterov", "rmsprop-centered", "adagrad", "adam-amsgrad", "adamw",
                                       "adam-clipnorm", "sgd-global-clipnorm", "rmsprop-clipvalue", "nadam",
                                       "adamax", "adadelta", "lion", "ftrl", "lamb", "schedulefreeadamw"])
@pytest.mark.parametrize("stack, loss, out", STACKS_AND_LOSSES, ids=[s[0] for s in STACKS_AND_LOSSES])
def test_a_step_allocates_nothing_after_the_first(numpy_backend, stack, loss, out, optimizer, jit):
    x, labels = _data(n=40, classes=3)
    y = {"sparse_categorical_crossentropy": labels,
         "categorical_crossentropy": gpunn.utils.to_categorical(labels, 3).astype("float32"),
         "binary_crossentropy": gpunn.utils.to_categorical(labels, 3).astype("float32")}.get(
        loss, np.random.default_rng(1).standard_normal((40, 3)).astype("float32"))
    model = _model(stack, out_activation=out)
    model.compile(optimizer=OPTIMIZERS[optimizer](), loss=loss, metrics=["accuracy"], jit_compile=jit)
    assert_later_steps_allocate_nothing(model, x, y)
