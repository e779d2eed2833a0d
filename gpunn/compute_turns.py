"""Computations with gpunn's layers take turns across the threads of a process.

A layer computes in buffers of its own, made once per batch size and written again by each call (its workspaces,
``ops/workspace.py``); a training step updates the weights in place; a layer shared by two models computes with
the buffers of the model that ran it last (``models/parameter_store.py``). Two threads computing at once with
the same layers (a web server answering requests from a pool of threads, a training thread beside one that
predicts) would overwrite each other's activations and return wrong outputs without an error. So every
computation takes its turn here: a training step (or a replay of several recorded ones), a test step, a run of
prediction batches, a call of a model or a layer on arrays, a train/test/predict step of the model's own class.
A turn lasts one of those, not a whole ``fit``: callbacks, data loading and progress bars of one thread run while
another computes, and a thread predicting beside a fit waits at most one step.

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
_last_thread: int | None = None  # the thread whose computation came last


class turn:
    """``with turn(ops):`` one computation's turn; ``ops``: the backend it computes on (the one whose device, on a
    GPU, must finish the previous thread's work first)."""

    __slots__ = ("ops",)

    def __init__(self, ops=None):
        self.ops = ops

    def __enter__(self):
        global _depth, _last_thread
        _LOCK.acquire()
        _depth += 1
        if _depth == 1:
            me = threading.get_ident()
            if _last_thread != me:
                try:
                    if _last_thread is not None and self.ops is not None:
                        self.ops.finish_all_streams()
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


def model_calls(model, kind: str) -> threading.RLock:
    """The lock a model's calls of one ``kind`` hold from start to end: "train" (``fit``, ``train_on_batch``),
    "test" (``evaluate``, ``test_on_batch``, the validation inside a fit). Such a call adds each batch to the
    model's running loss and metrics and fills the step's batch buffers, so a second call of that kind on the same
    model (another thread's) waits for the first to end instead of mixing their sums. Predictions have no such
    state: only their turns are taken."""
    locks = model.__dict__.get("_call_locks")
    if locks is None:
        locks = model.__dict__.setdefault("_call_locks", {})  # (setdefault: one dict even if threads race here)
    lock = locks.get(kind)
    if lock is None:
        lock = locks.setdefault(kind, threading.RLock())
    return lock
