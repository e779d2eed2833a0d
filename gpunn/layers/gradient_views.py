"""GradientViews: a layer's gradient views by weight name, and which of them no optimizer reads.

A weight frozen by itself (``layer.kernel.trainable = False``, as Keras sets a flag per variable) in a layer that
trains keeps its value in the model's buffer of weights it does not train; the layer's backward pass still writes
its gradient (a layer computes all of its weights' gradients), into a scratch buffer whose views are listed as
``discarded`` (``models/parameter_store.py``). Penalties, constraints and the optimizer take the others only.
(A layer whose every weight is frozen so still computes their gradients, unlike a layer frozen as a whole, which
has no gradient views: wasted work, not a wrong result.)
"""
from __future__ import annotations


class GradientViews(dict):
    def __init__(self, views=(), discarded=frozenset()):
        super().__init__(views)
        self.discarded = frozenset(discarded)


def views_below(grads, prefix: str) -> GradientViews:
    """The views of ``grads`` (a layer's) of the weights under ``prefix`` ('block/'), named without it: a
    sublayer's."""
    return GradientViews({name[len(prefix):]: view for name, view in grads.items() if name.startswith(prefix)},
                         {name[len(prefix):] for name in getattr(grads, "discarded", ()) if name.startswith(prefix)})


def trained_names(grads) -> set:
    """The names of the weights whose gradients a model applies, of a layer bound with ``grads``."""
    return set(grads) - getattr(grads, "discarded", frozenset())
