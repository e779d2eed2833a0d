"""Weight penalties added to the loss: ``l1``, ``l2``, ``l1_l2`` (Keras's defaults: 0.01)."""
from __future__ import annotations

from ._registry import lookup


class Regularizer:
    """penalty(W) = l1 * sum|W| + l2 * sum(W^2); its gradient is added to the weight's gradient in place."""

    def __init__(self, l1=0.0, l2=0.0):
        for arg, value in (("l1", l1), ("l2", l2)):
            if not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"{arg}: expected a non-negative number, got {value!r}")
        self.l1, self.l2 = float(l1), float(l2)

    def penalty(self, xp, weight):
        total = 0.0
        if self.l1:
            total = total + self.l1 * xp.abs(weight).sum()
        if self.l2:
            total = total + self.l2 * (weight * weight).sum()
        return total

    def add_gradient(self, xp, weight, grad) -> None:
        if self.l1:
            grad += self.l1 * xp.sign(weight)
        if self.l2:
            grad += (2.0 * self.l2) * weight

    def get_config(self) -> dict:
        return {"l1": self.l1, "l2": self.l2}


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
