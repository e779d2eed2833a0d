"""A layer called more than once inside one call() of the user's (``self.dense(self.dense(x))``, one tower for
two inputs): the same weights each time, as in Keras.

A layer computes into its own workspace and its backprop overwrites its gradients, so only its first call in a
call() can be the layer itself. Each later call runs on a twin (``shared_call.SharedCall``: the layer's weights,
buffers and gradients of its own), made once per (layer, call number) and kept by the outer layer, so that a
step allocates nothing after its first. Once the outer call's backward pass is done, the gradients of the twins
whose backprop ran are added into the layer's, which its first call wrote (or left at zero).
"""
from __future__ import annotations



class Repeat:
    """One later call of ``layer`` in a call(): its ``twin``, and whether the twin's backprop ran this step."""

    def __init__(self, layer, twin):
        self.layer, self.twin, self.ran = layer, twin, False


def twin(outer, layer, number: int):
    """The SharedCall running the ``number``-th (1, 2, ...) later call of ``layer`` inside ``outer``'s call()."""
    from .shared_call import SharedCall  # (it imports base, which imports the module that imports this one)

    twins = outer.__dict__.setdefault("_repeated_call_twins", {})
    key = (id(layer), number)
    found = twins.get(key)
    if found is None or found.layer is not layer:
        found = twins[key] = SharedCall(layer)
    return found


def add_gradients(repeats: list, ops) -> None:
    """Add the gradients of the later calls whose backprop ran into their layer's."""
    for repeat in repeats:
        if repeat.ran:
            for name, grad in repeat.twin.bound.grads.items():
                ops.add(repeat.layer.bound.grads[name], grad, repeat.layer.bound.grads[name])
        repeat.ran = False
