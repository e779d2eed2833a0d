"""``gpunn train``'s throughput clock: stopped after the device sync, the compiling first batch left out."""
from __future__ import annotations

import pytest

from gpunn.commands import train


class _Recorder:
    """Stands in for the model's Ops and for the clock, logging the order of syncs and clock reads."""

    def __init__(self):
        self.events = []
        self.now = 0.0

    def synchronize(self):
        self.events.append("sync")

    def perf_counter(self):
        self.events.append("clock")
        self.now += 1.0
        return self.now


@pytest.fixture
def timed(monkeypatch):
    recorder = _Recorder()
    monkeypatch.setattr(train.time, "perf_counter", recorder.perf_counter)
    timer = train._TrainTimer(samples_per_epoch=250, batch_size=100)  # batches of 100, 100, 50

    class _Model:
        ops = recorder

    timer.callback.set_model(_Model())
    timer.callback.set_params({"steps": 3, "epochs": 2})
    return timer, recorder


def _run_epochs(callback, epochs=2, steps=3):
    for epoch in range(epochs):
        callback.on_epoch_begin(epoch)
        for batch in range(steps):
            callback.on_train_batch_end(batch)
        callback.on_epoch_end(epoch)


def test_clock_is_read_only_after_a_device_sync(timed):
    timer, recorder = timed
    _run_epochs(timer.callback)
    assert recorder.events, "the timer never read the clock"
    for i, event in enumerate(recorder.events):
        if event == "clock":
            assert recorder.events[i - 1] == "sync", recorder.events


def test_first_batch_is_left_out_and_partial_batches_counted(timed):
    timer, recorder = timed
    _run_epochs(timer.callback)
    assert timer.samples == 2 * 250 - 100  # both epochs but the first batch; the 50-row batches counted
    # clocks: after batch 0 (start), end of epoch 0, start of epoch 1, end of epoch 1
    assert recorder.events == ["sync", "clock", "sync", "clock", "sync", "clock", "sync", "clock"]
    assert timer.seconds == (2.0 - 1.0) + (4.0 - 3.0)
    assert timer.samples_per_second() == pytest.approx(400 / 2.0)


def test_one_batch_in_all_reports_nothing():
    timer = train._TrainTimer(samples_per_epoch=10, batch_size=32)
    assert timer.samples_per_second() is None


def test_steps_per_execution_counts_every_batch_of_an_execution(timed):
    """With steps_per_execution=2 the callbacks see batches 1 and 3 (Keras numbers the last execution past
    the epoch's 3 steps): the first execution (2 batches) is left out, then every batch counts once."""
    timer, recorder = timed
    for epoch in range(2):
        timer.callback.on_epoch_begin(epoch)
        for end in (1, 3):
            timer.callback.on_train_batch_end(end)
        timer.callback.on_epoch_end(epoch)
    assert timer.samples == 2 * 250 - 200
    assert recorder.events == ["sync", "clock", "sync", "clock", "sync", "clock", "sync", "clock"]
