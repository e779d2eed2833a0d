"""A torch DataLoader given to fit, evaluate and predict, as Keras's torch data adapter takes it: its batches in
its order, and ``params["steps"]`` (the progress bar's length) ``len(loader)`` when its dataset has a length,
None for an IterableDataset. torch is not a dependency: skipped without it."""
from __future__ import annotations

import numpy as np
import pytest
from helpers import numpy_backend  # noqa: F401  (fixture)

import gpunn

torch = pytest.importorskip("torch", reason="the torch data loader needs torch")
from torch.utils.data import DataLoader, IterableDataset, TensorDataset  # noqa: E402


class _Steps(gpunn.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.steps = self.params["steps"]


def _data():
    x = np.linspace(-1, 1, 84, dtype="float32").reshape(21, 4)
    return x, x.sum(axis=1, keepdims=True) * 0.5


def _model():
    model = gpunn.Sequential([gpunn.Input((4,)), gpunn.layers.Dense(1, kernel_initializer="ones")])
    model.compile(gpunn.optimizers.SGD(0.1), "mse")
    return model


def test_a_data_loader_trains_as_its_arrays_in_its_batches(numpy_backend):
    x, y = _data()
    loader = DataLoader(TensorDataset(torch.from_numpy(x), torch.from_numpy(y)), batch_size=8)
    steps = _Steps()
    from_loader = _model()
    with pytest.warns(UserWarning, match="provided as a torch DataLoader. The DataLoader is expected to already be"):
        history = from_loader.fit(loader, epochs=2, verbose=0, callbacks=[steps])  # (shuffle=True: Keras's warning)
    from_arrays = _model()
    expected = from_arrays.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    assert steps.steps == len(loader) == 3 and history.params["steps"] == 3
    np.testing.assert_allclose(history.history["loss"], expected.history["loss"], rtol=1e-6)
    for ours, theirs in zip(from_loader.get_weights(), from_arrays.get_weights()):
        np.testing.assert_allclose(ours, theirs, rtol=1e-6)
    np.testing.assert_allclose(from_loader.evaluate(loader, verbose=0), from_arrays.evaluate(x, y, verbose=0),
                               rtol=1e-6)


def test_an_iterable_dataset_has_no_known_number_of_steps(numpy_backend):
    x, y = _data()

    class Rows(IterableDataset):
        def __iter__(self):
            return iter(zip(torch.from_numpy(x), torch.from_numpy(y)))

    steps = _Steps()
    history = _model().fit(DataLoader(Rows(), batch_size=8), epochs=1, shuffle=False, verbose=0, callbacks=[steps])
    assert steps.steps is None and len(history.history["loss"]) == 1
