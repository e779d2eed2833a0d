"""Weight penalties added to the loss: ``l1``, ``l2``, ``l1_l2`` (Keras's defaults: 0.01).

Penalties and their gradients are written through Ops primitives into the caller's buffers, with scratch
and 0-d constants from a workspace: after the first call they allocate nothing.
"""
from __future__ import annotations

from ._registry import lookup


class Regularizer:
    """penalty(W) = l1 * sum|W| + l2 * sum(W^2); its gradient is added to the weight's gradient in place."""

    def __init__(self, l1=0.0, l2=0.0):
        for arg, value in (("l1", l1), ("l2", l2)):
            if not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"{arg}: expected a non-negative number, got {value!r}")
        self.l1, self.l2 = float(l1), float(l2)

    def penalty(self, ops, ws, weight, out) -> None:
        """out (0-d, the weight's dtype) = l1 * sum|W| + l2 * sum(W^2)."""
        if not (self.l1 or self.l2):
            ops.fill(0, out)
            return
        scratch = _scratch(ws, weight)
        if self.l1:
            _scaled_sum(ops, ops.abs(weight, scratch), _constant(ws, self.l1, weight.dtype), out)
        if self.l2:
            squares = ops.multiply(weight, weight, scratch)
            if not self.l1:
                _scaled_sum(ops, squares, _constant(ws, self.l2, weight.dtype), out)
                return
            term = ws.buffer(f"regularizer.l2_term.{weight.dtype}", (), weight.dtype)
            _scaled_sum(ops, squares, _constant(ws, self.l2, weight.dtype), term)
            ops.add(out, term, out)

    def add_gradient(self, ops, ws, weight, grad) -> None:
        """grad += l1 * sign(W) + 2 * l2 * W."""
        scratch = _scratch(ws, weight)
        if self.l1:
            ops.sign(weight, scratch)
            ops.multiply(scratch, _constant(ws, self.l1, weight.dtype), scratch)
            ops.add(grad, scratch, grad)
        if self.l2:
            ops.multiply(weight, _constant(ws, 2.0 * self.l2, weight.dtype), scratch)
            ops.add(grad, scratch, grad)

    def get_config(self) -> dict:
        return {"l1": self.l1, "l2": self.l2}


def _scratch(ws, weight):
    """A buffer shaped like ``weight``; keyed by shape and dtype, so the weights of a layer sharing ``ws`` reuse
    one buffer per shape instead of remaking it."""
    shape = "x".join(map(str, weight.shape))
    return ws.buffer(f"regularizer.scratch.{weight.dtype}.{shape}", weight.shape, weight.dtype)


def _constant(ws, value: float, dtype):
    """A 0-d constant keyed by its value and dtype: regularizers with different factors sharing ``ws`` each
    keep their own (a constant rewritten between calls would break a recorded step)."""
    return ws.constant(f"regularizer.{dtype}.{value!r}", value, dtype)


def _scaled_sum(ops, values, factor, out):
    """out = sum(values) * factor."""
    ops.sum(values, None, out)
    return ops.multiply(out, factor, out)


class L1(Regularizer):
    def __init__(self, l1=0.01):
        super().__init__(l1=l1)

    def get_config(self):
        return {"l1": self.l1}


class L2(Regularizer):
    def __init__(self, l2=0.01):
        super().__init__(l2=l2)

    def get_config(self):
        return {"l2": self.l2}


class L1L2(Regularizer):
    def __init__(self, l1=0.0, l2=0.0):
        super().__init__(l1=l1, l2=l2)


def l1(l1=0.01):
    return L1(l1)


def l2(l2=0.01):
    return L2(l2)


def l1_l2(l1=0.01, l2=0.01):
    return L1L2(l1, l2)


_BY_NAME = {"l1": L1, "l2": L2, "l1_l2": lambda: L1L2(0.01, 0.01), "l1l2": L1L2}
_BY_CLASS = {"L1": L1, "L2": L2, "L1L2": L1L2, "Regularizer": Regularizer}


def get(identifier) -> Regularizer | None:
    if identifier is None or isinstance(identifier, Regularizer):
        return identifier
    if isinstance(identifier, dict):
        cls = lookup("regularizer", identifier["class_name"], {k.lower(): v for k, v in _BY_CLASS.items()})
        return cls(**identifier.get("config", {}))
    return lookup("regularizer", identifier, _BY_NAME)()


def serialize(reg: Regularizer | None):
    return None if reg is None else {"class_name": type(reg).__name__, "config": reg.get_config()}
