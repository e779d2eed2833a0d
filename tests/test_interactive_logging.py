"""``keras.config.disable_interactive_logging()`` (also ``keras.utils``'s): progress, ``evaluate``'s line and
``summary()`` go to the ``gpunn`` logger instead of stdout, one record per epoch and no progress bar."""
from __future__ import annotations

import logging

import numpy as np
import pytest

import gpunn


@pytest.fixture
def not_interactive():
    gpunn.config.disable_interactive_logging()
    try:
        yield
    finally:
        gpunn.config.enable_interactive_logging()


def _model():
    gpunn.utils.set_random_seed(0)
    model = gpunn.Sequential([gpunn.Input((3,)), gpunn.layers.Dense(2, activation="softmax", name="out")])
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _data():
    x = np.linspace(-1, 1, 30, dtype="float32").reshape(10, 3)
    return x, (x[:, 0] > 0).astype("int64")


def test_the_switch_is_in_config_and_utils_and_on_by_default():
    assert gpunn.config.is_interactive_logging_enabled() and gpunn.utils.is_interactive_logging_enabled()
    gpunn.utils.disable_interactive_logging()
    assert not gpunn.config.is_interactive_logging_enabled()
    gpunn.config.enable_interactive_logging()
    assert gpunn.utils.is_interactive_logging_enabled()


@pytest.mark.parametrize("verbose", [1, 2])
def test_off_every_message_is_a_record_of_the_gpunn_logger(not_interactive, verbose, capsys, caplog):
    model = _model()
    with caplog.at_level(logging.INFO, logger="gpunn"):
        model.fit(*_data(), batch_size=4, epochs=3, verbose=verbose)
        model.evaluate(*_data(), verbose=1)
        model.summary()
    out = capsys.readouterr()
    assert out.out == "" and "Epoch" not in out.err  # no bar, nothing printed
    messages = [r.getMessage() for r in caplog.records if r.name == "gpunn"]
    # Keras's verbose=2 lines: each epoch's number, then its batches, times and logs; then evaluate's line
    progress = [m for m in messages if m.startswith("Epoch ") or " - loss: " in m]
    assert [m.split(" - ")[0] for m in progress] == ["Epoch 1/3", "3/3", "Epoch 2/3", "3/3", "Epoch 3/3", "3/3", "1/1"]
    assert all(" - accuracy: " in m for m in progress if not m.startswith("Epoch"))
    assert any("Total params" in m for m in messages)  # the summary


def test_on_the_messages_go_to_stdout(capsys, caplog):
    model = _model()
    with caplog.at_level(logging.INFO, logger="gpunn"):
        model.fit(*_data(), batch_size=4, epochs=2, verbose=2)
        model.summary()
    out = capsys.readouterr().out
    assert "Epoch 1/2" in out and "Epoch 2/2" in out and "Total params" in out
    assert not [r for r in caplog.records if r.name == "gpunn"]
