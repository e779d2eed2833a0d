"""Updates of a layer's non-trained state in a training step (BatchNormalization's moving statistics), made when the
step's own computations are done rather than during its forward pass.

In a model's training step the forward pass is followed by code of the script's (a loss, a metric, a layer of its
own), which may raise; Keras's step is then left undone, statistics included. ``TrainStep`` collects the updates
(``collected()``) and makes them (``commit()``) just before the optimizer's update, so that an exception stops a
step that changed nothing. Outside a training step (``layer(x, training=True)``), and inside a host call of the step
(the layers inside a layer of the script's, which a replay runs again: ``made_at_once``), an update is made at
once.
"""
from __future__ import annotations

import contextlib

_collecting: list | None = None


def make(update, owner=None) -> None:
    """Make ``update`` (a function of no arguments) of ``owner`` (what identifies the state it changes: a layer's
    weights): now, or with the step's other updates."""
    if _collecting is None:
        update()
    else:
        _collecting.append((owner, update))


def settle(owner) -> None:
    """Make now the updates ``owner`` asked for in this step, before it reads its state again (a BatchNormalization
    called in training mode, then with ``training=False``, reads the statistics its first call updated, as in
    Keras)."""
    if _collecting is None:
        return
    mine = [entry for entry in _collecting if entry[0] is owner]
    if mine:
        _collecting[:] = [entry for entry in _collecting if entry[0] is not owner]
        for _, update in mine:
            update()


@contextlib.contextmanager
def collected():
    """Collect the updates made inside the block; the list it gives holds them, for ``commit``."""
    global _collecting
    outer, _collecting = _collecting, []
    try:
        yield _collecting
    finally:
        _collecting = outer


def made_at_once(function, *args):
    """``function(*args)`` with its updates made at once (inside a host call of the step: a replay runs it again,
    with no step around it to collect them)."""
    global _collecting
    outer, _collecting = _collecting, None
    try:
        return function(*args)
    finally:
        _collecting = outer


def commit(updates: list) -> None:
    """Make the collected updates, in the order their layers asked."""
    for _, update in updates:
        update()
    updates.clear()
