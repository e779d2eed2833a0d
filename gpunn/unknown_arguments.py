"""The error for a keyword argument a class does not take (``Dense(3, init="uniform")``, ``SGD(lr=0.1)``).

It is a ``TypeError``, as Python raises for an unknown keyword, and a ``ValueError``, as Keras raises it
("Unrecognized keyword arguments passed to Dense", "Argument(s) not recognized"), so that a script's
``except ValueError`` written against Keras catches it too."""
from __future__ import annotations


class UnknownArgumentError(TypeError, ValueError):
    pass


def refuse_unknown(owner: str, kwargs: dict) -> None:
    """Raise, naming ``owner`` and the arguments, when ``kwargs`` holds any."""
    if kwargs:
        raise UnknownArgumentError(f"{owner}: unexpected keyword argument(s) {sorted(kwargs)}")
