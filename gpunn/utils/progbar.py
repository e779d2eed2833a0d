"""``keras.utils.Progbar`` (keras/src/utils/progbar.py): the progress bar a script draws for loops of its own, with
Keras's text, widths, averaging and timing. ``fit``, ``evaluate`` and ``predict`` draw theirs with
``callbacks.ProgbarLogger``. Output goes through ``io_utils.print_msg`` (the ``gpunn`` logger when interactive
logging is off), as Keras's goes through its own."""
from __future__ import annotations

import math
import os
import sys
import time
from numbers import Number

import numpy as np

from ..autodiff.functions import convert_to_numpy
from ..io_utils import print_msg


class Progbar:
    """Displays a progress bar: ``target`` steps (None: unknown), ``width`` characters, ``verbose`` 0 (silent),
    1 (the bar, redrawn at most every ``interval`` seconds) or 2 (one line at the end); values are averaged over
    the steps unless named in ``stateful_metrics`` (or, given ``stateless_metrics``, only those are)."""

    def __init__(self, target, width=20, verbose=1, interval=0.05, stateful_metrics=None, stateless_metrics=None,
                 unit_name="step"):
        if stateful_metrics is not None and stateless_metrics is not None:
            raise ValueError("Only one of `stateful_metrics` or `stateless_metrics` can be provided. "
                             "`stateful_metrics` is used to make metrics stateless by default (with an exclusion "
                             "list), while `stateless_metrics` is used to make metrics stateful by default (with an "
                             "exclusion list).")
        self.target, self.width, self.verbose = target, width, verbose
        self.interval, self.unit_name = interval, unit_name
        if stateful_metrics is not None:
            self.stateful_metrics, self.stateless_metrics = set(stateful_metrics), None
        elif stateless_metrics is not None:
            self.stateful_metrics, self.stateless_metrics = None, set(stateless_metrics)
        else:
            self.stateful_metrics, self.stateless_metrics = set(), None
        self._dynamic_display = ((hasattr(sys.stdout, "isatty") and sys.stdout.isatty())
                                 or "ipykernel" in sys.modules or "posix" in sys.modules
                                 or "PYCHARM_HOSTED" in os.environ)
        self._seen_so_far = 0
        self._values: dict = {}
        self._values_order: list = []
        self._start = time.time()
        self._last_update = 0
        self._time_at_epoch_start = self._start
        self._time_after_first_step = None
        self._prev_total_width = 0

    def update(self, current, values=None, finalize=None):
        """Step ``current`` done; ``values``: [(name, value of the last step)]; ``finalize``: whether this is the
        last update (default: ``current >= target``)."""
        if finalize is None:
            finalize = False if self.target is None else current >= self.target
        for k, v in values or []:
            if not isinstance(v, Number):
                v = convert_to_numpy(v)  # a Tensor or a device array: its value on the host
            if k not in self._values_order:
                self._values_order.append(k)
            stateless = k not in self.stateful_metrics if self.stateful_metrics is not None else \
                k in self.stateless_metrics
            if stateless:
                if finalize:
                    self._values[k] = [v, 1]
                else:
                    value_base = max(current - self._seen_so_far, 1)
                    if k not in self._values:
                        self._values[k] = [v * value_base, value_base]
                    else:
                        self._values[k][0] += v * value_base
                        self._values[k][1] += value_base
            else:
                self._values[k] = [v, 1]
        self._seen_so_far = current
        now = time.time()
        time_per_unit = self._estimate_step_duration(current, now)
        if self.verbose == 1:
            if now - self._last_update < self.interval and not finalize:
                return
            self._draw(current, now, time_per_unit, finalize)
        elif self.verbose == 2 and finalize and self.target is not None and self.target > 0:
            values = [(k, self._average(k)) for k in self._values_order]
            print_msg(summary_line(current, self.target, now - self._start, time_per_unit, values,
                                   self.unit_name) + "\n", line_break=False)
        self._last_update = now

    def _draw(self, current, now, time_per_unit, finalize) -> None:
        message = "\b" * self._prev_total_width + "\r" if self._dynamic_display else "\n"
        special_char_len = 0
        if self.target is not None and self.target > 0:
            numdigits = int(math.log10(self.target)) + 1
            bar = f"\x1b[1m{f'%{numdigits}d/%d' % (current, self.target)}\x1b[0m "
            special_char_len += 8
            prog_width = int(self.width * float(current) / self.target)
            if prog_width > 0:
                bar += f"\33[32m{'━' * prog_width}\x1b[0m"
                special_char_len += 9
            bar += f"\33[37m{'━' * (self.width - prog_width)}\x1b[0m"
            special_char_len += 9
        else:
            bar = "%7d/Unknown" % current
        message += bar
        if self.target is not None and self.target > 0 and not finalize:
            eta = time_per_unit * (self.target - current)
            if eta > 3600:
                eta_format = "%d:%02d:%02d" % (eta // 3600, (eta % 3600) // 60, eta % 60)
            elif eta > 60:
                eta_format = "%d:%02d" % (eta // 60, eta % 60)
            else:
                eta_format = "%ds" % eta
            info = f" \x1b[1m{eta_format}\x1b[0m"
        else:
            info = f" \x1b[1m{now - self._start:.0f}s\x1b[0m"  # the time since the start
        special_char_len += 8
        info += self._format_time(time_per_unit, self.unit_name)
        for k in self._values_order:
            avg = self._average(k)
            info += f" - {k}: {avg:.4f}" if abs(avg) > 1e-3 else f" - {k}: {avg:.4e}"
        message += info
        total_width = len(bar) + len(info) - special_char_len
        if self._prev_total_width > total_width:
            message += " " * (self._prev_total_width - total_width)
        if finalize:
            message += "\n"
        print_msg(message, line_break=False)
        self._prev_total_width = total_width

    def _average(self, k):
        values, count = self._values[k]
        if not isinstance(values, float):
            values = np.mean(values)
        return values / max(1, count)

    def add(self, n, values=None):
        self.update(self._seen_so_far + n, values)

    @staticmethod
    def _format_time(time_per_unit, unit_name) -> str:
        return format_time_per_unit(time_per_unit, unit_name)

    def _estimate_step_duration(self, current, now):
        """A step's duration, leaving out the first step once there are others (it is not representative)."""
        if not current:
            return 0
        if self._time_after_first_step is not None and current > 1:
            time_per_unit = (now - self._time_after_first_step) / (current - 1)
        else:
            time_per_unit = (now - self._start) / current
        if current == 1:
            self._time_after_first_step = now
        return time_per_unit


def format_time_per_unit(time_per_unit, unit_name="step") -> str:
    """Keras's time per step, with its leading space: `` 3ms/step``, `` 410us/step``, `` 2s/step``."""
    if time_per_unit >= 1 or time_per_unit == 0:
        return f" {time_per_unit:.0f}s/{unit_name}"
    if time_per_unit >= 1e-3:
        return f" {time_per_unit * 1000.0:.0f}ms/{unit_name}"
    return f" {time_per_unit * 1000000.0:.0f}us/{unit_name}"


def summary_line(current, target, elapsed, time_per_unit, values, unit_name="step") -> str:
    """The line ``verbose=2`` prints when a loop ends, as Keras's Progbar writes it:
    ``7/7 - 0s - 410us/step - accuracy: 0.4950 - loss: 0.6821``. ``values``: (name, value) pairs, a value with
    several entries shown as their mean. Keras compares the value itself with 1e-3 here (not its magnitude, as
    the bar does), so a negative value is written in scientific notation; so is it here."""
    numdigits = int(math.log10(target)) + 1
    info = f"%{numdigits}d/%d" % (current, target) + f" - {elapsed:.0f}s"
    info += f" -{format_time_per_unit(time_per_unit, unit_name)}"
    for k, value in values:
        avg = value if isinstance(value, float) else float(np.mean(value))
        info += f" - {k}: {avg:.4f}" if avg > 1e-3 else f" - {k}: {avg:.4e}"
    return info
