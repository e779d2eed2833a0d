"""ProgbarLogger: the progress bar (verbose=1) or Keras's lines (verbose=2)."""
from __future__ import annotations

import sys
import time
from tqdm import tqdm

from ..io_utils import is_interactive_logging_enabled, print_msg
from ..utils.progbar import format_time_per_unit, summary_line
from ._common import _is_chief, _format_value
from .base import Callback


class ProgbarLogger(Callback):
    """Prints progress and metrics to stdout, following ``params['verbose']``.

    - ``verbose=1``: a tqdm progress bar per epoch (``Epoch 3/10``, steps as the unit) with the
      running metrics (``loss=0.1234 accuracy=0.9876``); at the end of the epoch the bar shows
      the total time, the time per step and all epoch metrics, ``val_`` ones included.
    - ``verbose=2``: Keras's lines, ``Epoch 3/10`` as an epoch begins (when there are several), and as it ends
      ``469/469 - 1s - 2ms/step - accuracy: 0.9876 - loss: 0.1234 - val_accuracy: ...``; ``evaluate`` and
      ``predict`` write the second kind once.
    - ``verbose=0``: nothing.
    - With interactive logging off (``keras.config.disable_interactive_logging()``), ``verbose=1`` writes what
      ``verbose=2`` does, each line a record of the ``gpunn`` logger (``io_utils.py``).

    Batch metrics are read only when the bar is redrawn (at most every ``refresh_interval``
    seconds), never with ``verbose=2``, because on a GPU each read waits for the device.
    Validation inside ``fit`` shows no bar of its own; ``evaluate`` and ``predict`` do.
    Silent on non-chief ranks (``model.is_chief`` False).
    """

    #: Minimum seconds between two redraws of the bar (and so between two reads of batch logs).
    refresh_interval = 0.1
    # The clock, as an attribute so tests can drive time.
    _clock = staticmethod(time.monotonic)

    def __init__(self):
        super().__init__()
        self.verbose = 1
        self.epochs = 1
        self.target = None
        self.seen = 0
        self._bar = None
        self._active = False
        self._head = ""
        self._start = 0.0
        self._last_draw = 0.0
        self._in_fit = False

    def set_params(self, params):
        super().set_params(params)
        verbose = params.get("verbose", 1)
        self.verbose = 1 if verbose == "auto" else int(verbose)
        self.epochs = params.get("epochs") or 1
        self.target = params.get("steps")

    def on_train_begin(self, logs=None):
        self._in_fit = True

    def on_train_end(self, logs=None):
        self._close()
        self._in_fit = False

    def on_epoch_begin(self, epoch, logs=None):
        self._begin(f"Epoch {epoch + 1}/{self.epochs}")
        if self._active and self._bar is None and self.epochs > 1:  # Keras's line, before the epoch's work
            print_msg(self._head)

    def on_train_batch_end(self, batch, logs=None):
        self._update(batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        if self.target is None:
            # The first epoch taught us its length: later epochs get a real bar.
            self.target = self.seen or None
        self._finish(logs)

    def on_test_begin(self, logs=None):
        if not self._in_fit:
            self._begin("")

    def on_test_batch_end(self, batch, logs=None):
        if not self._in_fit:
            self._update(batch, logs)

    def on_test_end(self, logs=None):
        if not self._in_fit:
            self._finish(logs)

    def on_predict_begin(self, logs=None):
        self._begin("")

    def on_predict_batch_end(self, batch, logs=None):
        self._update(batch, None)  # prediction batches carry outputs, not metrics

    def on_predict_end(self, logs=None):
        self._finish(None)

    # -- drawing

    def _begin(self, head):
        self._close()
        if not self.verbose or not _is_chief(self.model):
            return
        self._active = True
        self._head = head
        self.seen = 0
        self._start = self._last_draw = self._clock()
        if self.verbose == 1 and is_interactive_logging_enabled():  # else a line at the end, as verbose=2
            self._bar = tqdm(
                total=self.target,
                desc=head or None,
                unit="step",
                file=sys.stdout,
                leave=True,
                dynamic_ncols=True,
            )

    def _update(self, batch, logs):
        if not self._active:
            return
        # With steps_per_execution, Keras numbers the epoch's last execution past the epoch's end.
        self.seen = batch + 1 if self.target is None else min(batch + 1, self.target)
        if self._bar is None:
            return
        now = self._clock()
        if now - self._last_draw < self.refresh_interval:
            return
        self._last_draw = now
        self._bar.n = self.seen
        self._bar.set_postfix_str(self._inline(logs), refresh=False)
        self._bar.refresh()

    def _finish(self, logs):
        if not self._active:
            return
        self._active = False
        elapsed = self._clock() - self._start
        per_step = elapsed / max(self.seen, 1)
        bar, self._bar = self._bar, None
        if bar is not None:
            bar.n = self.seen
            if bar.total is None:
                bar.total = self.seen
            bar.set_postfix_str(self._inline(logs), refresh=False)
            # Literal text inside a tqdm format string: braces must be doubled.
            timing_text = f"{elapsed:.0f}s{format_time_per_unit(per_step)}".replace("{", "{{").replace("}", "}}")
            bar.bar_format = "{l_bar}{bar}| {n_fmt}/{total_fmt} [" + timing_text + "{postfix}]"
            bar.close()
            return
        target = self.target or self.seen
        if target > 0:  # Keras writes no line for a loop that ran no batch
            print_msg(summary_line(self.seen, target, elapsed, per_step, list((logs or {}).items())))

    def _close(self):
        """Drop a bar left open by an interrupted epoch."""
        self._active = False
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    @staticmethod
    def _inline(logs) -> str:
        if not logs:
            return ""
        return " ".join(f"{key}={_format_value(value)}" for key, value in logs.items())


# --------------------------------------------------------------------------- monitoring callbacks
