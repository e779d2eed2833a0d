"""Errors raised by data-parallel runs, and the collective timeout setting they share."""
from __future__ import annotations

import os

TIMEOUT_ENV = "GPUNN_COLLECTIVE_TIMEOUT"
DEFAULT_TIMEOUT_S = 300.0


class CollectiveTimeoutError(TimeoutError):
    """A collective did not complete in time: a peer rank is stuck, gone, or running a different program."""


class RanksDisagreeError(RuntimeError):
    """Ranks are about to run different things (model, compile configuration or data schedule); raised on
    every rank before the first step, naming the first difference and which ranks hold which value."""


class PeerFailedError(RuntimeError):
    """Another rank's exception left a run (``fit``, ``evaluate``...) while this rank waited for it in a
    collective (``failure_notices``)."""


class RanksOutOfStepError(RuntimeError):
    """After an exception left a run on some ranks and not at the same point on the others, the ranks no longer
    make the same collectives (``failure_notices``)."""


def collective_timeout(value: float | None = None) -> float | None:
    """Seconds a rank waits for one collective before giving up; None means wait forever.

    ``value`` wins when given; else ``$GPUNN_COLLECTIVE_TIMEOUT``; else 300 s. Zero or a negative number
    disables the limit.
    """
    if value is None:
        text = os.environ.get(TIMEOUT_ENV, "").strip()
        if not text:
            return DEFAULT_TIMEOUT_S
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"{TIMEOUT_ENV}: expected a number of seconds, got {text!r}") from None
    value = float(value)
    return value if value > 0 else None
