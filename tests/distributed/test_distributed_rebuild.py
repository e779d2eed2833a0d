"""A model rebuilt after it trained data-parallel (pop/add a layer, compile again) must reduce and broadcast its
new flat buffers, not the old ones; an empty shard must not poison BatchNormalization's moving statistics."""
import numpy as np

import gpunn
from gpunn import distributed, layers
from gpunn.distributed.base import Communicator


class RecordingCommunicator(Communicator):
    """Rank 0 of a pretend two-rank job: collectives leave data as it is and record which buffers they got."""

    backend = "recording"
    rank, size, local_rank = 0, 2, 0

    def __init__(self):
        self.reduced, self.broadcast = [], []

    def allreduce_sum_(self, array):
        self.reduced.append(array)

    def broadcast_(self, array, root=0):
        self.broadcast.append(array)

    def allreduce_host(self, values):
        return np.asarray(values) * 2

    def broadcast_object(self, obj, root=0):
        return obj


def test_rebuilt_model_reduces_and_broadcasts_its_new_buffers(rng):
    comm = RecordingCommunicator()
    x, y = rng.standard_normal((16, 5)), rng.integers(0, 3, 16)
    previous = distributed.current()
    distributed.set_current(comm)
    try:
        with gpunn.use_backend("numpy"):
            model = gpunn.Sequential([gpunn.Input(shape=(5,)), layers.Dense(4, activation="relu"),
                                      layers.Dense(3, activation="softmax")])
            model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
            model.fit(x, y, batch_size=8, epochs=1, verbose=0)
            assert any(a is model.grads for a in comm.reduced)
            model.pop()
            model.add(layers.Dense(3, activation="softmax", name="new_head"))
            model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
            comm.reduced.clear()
            comm.broadcast.clear()
            model.fit(x, y, batch_size=8, epochs=1, verbose=0)
        assert comm.reduced and all(a is model.grads for a in comm.reduced)
        assert any(a is model.params for a in comm.broadcast)
    finally:
        distributed.set_current(previous)


def test_an_empty_shard_leaves_batchnorm_statistics_alone():
    with gpunn.use_backend("numpy"):
        bn = layers.BatchNormalization()
        model = gpunn.Sequential([gpunn.Input(shape=(3,)), bn])
        before = [w.copy() for w in bn.get_weights()]
        y, backprop = bn.forward(np.zeros((0, 3), dtype="float32"), training=True)
        dx = backprop(np.zeros((0, 3), dtype="float32"))
    assert y.shape == (0, 3) and dx.shape == (0, 3)
    for a, b in zip(before, bn.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert model.built
