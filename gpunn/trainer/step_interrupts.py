"""Signals that arrive during a training step are handled when the step ends, so that an interrupted ``fit``
leaves the model as its last whole step made it.

A training step updates buffers in place: the moving statistics in the forward pass, the weights, the optimizer's
moments and its device step count, then the host's count. The stop button of a notebook (SIGINT, whose handler
raises KeyboardInterrupt) or a handler of the script's for a timer (SIGALRM) could stop Python between any two of
those, leaving weights one step ahead of the moving statistics or of ``optimizer.iterations``, a state that no
step made; later cells would train, save and evaluate from it without a word. Keras's steps cannot be torn: on
JAX the step is one pure function whose result replaces the state when it returns.

``between_steps()`` (around ``fit`` and ``train_on_batch``) wraps, in the main thread, the Python handler of each
of the signals scripts handle (``_WATCHED``) that has one; ``step()`` (around each step, or each replay of
several recorded steps: a compiled execution of ``steps_per_execution`` steps, as in Keras) makes the wrapped
handlers hold their signals until it ends, then calls them in order. A KeyboardInterrupt then comes from the end
of the step; a second SIGINT (Ctrl-C), while the first waits, is handled at once. Signals without a Python
handler (SIGTERM's default ends the process) are left alone. An exception of the script's own code inside a step
(a loss, a metric, a layer) is another matter: the step runs that code before it changes anything
(``TrainStep._run``), and the steps before it stay done (``TrainStep._steps``).
"""
from __future__ import annotations

import contextlib
import signal
import threading


class _Deferral:
    """The process's one set of wrapped handlers: how many ``between_steps`` blocks and steps are open, the
    handlers wrapped, and the signals held."""

    def __init__(self):
        self.installs = 0
        self.depth = 0
        self.originals: dict = {}
        self.pending: list = []

    def handler(self, signum, frame):
        if self.depth > 0:
            if signum != signal.SIGINT or all(held != signum for held, _ in self.pending):
                self.pending.append((signum, frame))  # (a timer's every tick, held in order)
                return
            # Ctrl-C again while the first waits: handled now (a step that does not end, a collective waiting for
            # a rank that is gone, still stops at the second)
            self.pending = [(held, f) for held, f in self.pending if held != signum]
        original = self.originals.get(signum)
        if callable(original):
            original(signum, frame)

    def deliver(self) -> None:
        held, self.pending = self.pending, []
        for k, (signum, frame) in enumerate(held):
            original = self.originals.get(signum)
            try:
                if callable(original):
                    original(signum, frame)
            except BaseException:
                self.pending = held[k + 1:] + self.pending  # (the others at the next step's end)
                raise


_DEFERRAL = _Deferral()


# The signals a script or notebook gives Python handlers: the stop button, timers, a scheduler's notices.
_WATCHED = tuple(getattr(signal, name) for name in ("SIGINT", "SIGALRM", "SIGVTALRM", "SIGPROF", "SIGTERM", "SIGHUP",
                                                     "SIGUSR1", "SIGUSR2", "SIGXCPU") if hasattr(signal, name))


def _python_handled() -> list:
    found = []
    for signum in _WATCHED:
        try:
            handler = signal.getsignal(signum)
        except (OSError, ValueError):
            continue
        if callable(handler) and handler != _DEFERRAL.handler:
            found.append((signum, handler))
    return found


@contextlib.contextmanager
def between_steps():
    """Hold the signals with Python handlers while a step runs, for the duration of the block (``fit``,
    ``train_on_batch``); nested blocks share one installation. Outside the main thread, where Python runs no
    signal handler, it does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    if _DEFERRAL.installs == 0:
        for signum, handler in _python_handled():
            try:
                signal.signal(signum, _DEFERRAL.handler)
            except (OSError, ValueError):
                continue
            _DEFERRAL.originals[signum] = handler
    _DEFERRAL.installs += 1
    try:
        yield
    finally:
        _DEFERRAL.installs -= 1
        if _DEFERRAL.installs == 0:
            for signum, handler in _DEFERRAL.originals.items():
                if signal.getsignal(signum) == _DEFERRAL.handler:  # (unless the script set another meanwhile)
                    signal.signal(signum, handler)
            _DEFERRAL.originals.clear()
            _DEFERRAL.deliver()  # (a signal held when the block ended by an exception of its own)


@contextlib.contextmanager
def step():
    """A step (or a replay of several): signals arriving inside are handled as it ends. Only the main thread's
    steps hold them (Python runs the handlers there; a step of another thread would hold the main thread's)."""
    if _DEFERRAL.installs == 0 or threading.current_thread() is not threading.main_thread():
        yield
        return
    _DEFERRAL.depth += 1
    try:
        yield
    finally:
        _DEFERRAL.depth -= 1
        if _DEFERRAL.depth == 0 and _DEFERRAL.pending:
            _DEFERRAL.deliver()
