"""``fit(shuffle="batch")`` on arrays, as Keras's array adapter does it: the rows of each batch are shuffled among
themselves and the batches keep their order, so with a mean loss it trains exactly as ``shuffle=False`` (a shuffle
of every row would give other batches)."""
from __future__ import annotations

import numpy as np
from helpers import numpy_backend  # noqa: F401  (fixture)

from gpunn.trainer.epoch_iterator import EpochIterator


def test_each_batch_keeps_its_rows_in_its_place(numpy_backend):
    from gpunn.distributed import current
    from gpunn.ops import get_ops

    rows, batch_size = 10, 4
    iterator = EpochIterator(get_ops(), current(), [np.arange(rows, dtype=np.float32)[:, None]], batch_size,
                             shuffle="batch", rng=np.random.default_rng(0))
    for _ in range(3):
        list(iterator.batches())
        order = iterator._order_host
        assert sorted(order.tolist()) == list(range(rows))
        for start in range(0, rows, batch_size):
            assert sorted(order[start:start + batch_size].tolist()) == list(range(start, min(start + batch_size,
                                                                                             rows)))


def test_shuffled_batches_train_as_unshuffled_ones_under_a_mean_loss(numpy_backend):
    import gpunn

    rng = np.random.RandomState(0)
    x, y = rng.rand(10, 3).astype(np.float32), rng.rand(10, 1).astype(np.float32)
    start = [rng.uniform(-0.5, 0.5, (3, 1)).astype(np.float32), np.zeros(1, np.float32)]
    histories = {}
    for shuffle in (False, "batch", True):
        model = gpunn.Sequential([gpunn.Input((3,)), gpunn.layers.Dense(1)])
        model.set_weights(start)
        model.compile(optimizer=gpunn.optimizers.SGD(0.5), loss="mse")
        histories[shuffle] = model.fit(x, y, batch_size=4, epochs=3, shuffle=shuffle, verbose=0).history["loss"]
    np.testing.assert_allclose(histories["batch"], histories[False], rtol=1e-5)  # (sums of rows in another order)
    assert not np.allclose(histories[True], histories[False], rtol=1e-3)
