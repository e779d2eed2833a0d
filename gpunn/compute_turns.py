"""Computations with gpunn's layers take turns across the threads of a process.

A layer computes in buffers of its own, made once per batch size and written again by each call (its workspaces,
``ops/workspace.py``); a training step updates the weights in place; a layer shared by two models computes with
the buffers of the model that ran it last (``models/parameter_store.py``). Two threads computing at once with
the same layers (a web server answering requests from a pool of threads, a training thread beside one that
predicts) would overwrite each other's activations and return wrong outputs without an error. So every
computation takes its turn here: a training step (or a replay of several recorded ones), a whole ``predict`` or
``evaluate`` of arrays (its batches see the same weights; a batch at a time where a callback of the script's runs
between them, since it may wait for another thread), a batch of a generator's, a call of a model or a layer
on arrays, a predict step of the model's own class, reading or writing weights, a save, the making of a model's
buffers. A turn lasts one of those, not a whole ``fit``: callbacks, data loading and progress bars of a fitting
thread run while another computes, and a thread predicting beside a fit waits for about a step (a replay of
``steps_per_execution`` recorded steps is one turn).

The lock is re-entrant: a layer's ``call()`` of the script's, or a step of the model's own, that calls a model
inside its turn takes it again. BLAS and the optimizer's parallel loops already use every core for one
computation, so taking turns costs little throughput on the CPU.

On CuPy each thread launches on its own current stream. When the turn passes to another thread the device first
finishes the work queued before it (one device sync at each change of thread, none while a thread computes
alone), so no stream reads a buffer another stream is still writing.
"""
from __future__ import annotations

import threading

_LOCK = threading.RLock()
_depth = 0  # how many turns the holding thread has entered (changed only while holding the lock)
_last_thread = None  # the token of the thread whose computation came last
_THREAD = threading.local()


def _token() -> object:
    """This thread's token: an object of its own (a thread's ident is reused by the next thread started)."""
    token = getattr(_THREAD, "token", None)
    if token is None:
        token = _THREAD.token = object()
    return token


class turn:
    """``with turn(ops):`` one computation's turn; ``ops``: the backend it computes on (the one whose device, on a
    GPU, must finish the previous thread's work first; None: the default backend's)."""

    __slots__ = ("ops",)

    def __init__(self, ops):
        self.ops = ops

    def __enter__(self):
        global _depth, _last_thread
        _LOCK.acquire()
        _depth += 1
        if _depth == 1:
            me = _token()
            if _last_thread is not me:
                try:
                    if _last_thread is not None:
                        _ops_of(self.ops).finish_all_streams()
                except BaseException:
                    _depth -= 1
                    _LOCK.release()
                    raise
                _last_thread = me
        return self

    def __exit__(self, *exc_info) -> bool:
        global _depth
        _depth -= 1
        _LOCK.release()
        return False


def _ops_of(ops):
    if ops is not None:
        return ops
    from .ops import get_ops  # (gpunn.ops imports this module's users; only a change of thread comes here)

    return get_ops()


def model_calls(model, kind: str) -> threading.RLock:
    """The lock a model's calls of one ``kind`` hold from start to end: "train" (``fit``, ``train_on_batch``),
    "test" (an evaluation: ``evaluate``, ``test_on_batch``, a fit's validation, without its ``on_test_begin`` and
    ``on_test_end``). Such a call adds each batch to the model's running loss and metrics and fills the step's
    batch buffers, so a second call of that kind on the same model (another thread's) waits for the first to end
    instead of mixing their sums. Predictions have no such state."""
    locks = model.__dict__.get("_call_locks")
    if locks is None:
        locks = model.__dict__.setdefault("_call_locks", {})  # (setdefault: one dict even if threads race here)
    lock = locks.get(kind)
    if lock is None:
        lock = locks.setdefault(kind, threading.RLock())
    return lock
