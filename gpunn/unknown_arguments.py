"""The error for a keyword argument a class does not take (``Dense(3, init="uniform")``, ``SGD(lr=0.1)``).

It is a ``TypeError``, as Python raises for an unknown keyword, and a ``ValueError``, as Keras raises it
("Unrecognized keyword arguments passed to Dense", "Argument(s) not recognized"), so that a script's
``except ValueError`` written against Keras catches it too."""
from __future__ import annotations


class UnknownArgumentError(TypeError, ValueError):
    pass


# Keras 1's names, which standalone Keras 2.0-2.3 still took with a warning and scripts of those years still write
KERAS_1_NAMES = {
    "init": "kernel_initializer", "output_dim": "units", "W_regularizer": "kernel_regularizer",
    "b_regularizer": "bias_regularizer", "W_constraint": "kernel_constraint", "b_constraint": "bias_constraint",
    "bias": "use_bias", "beta_init": "beta_initializer", "gamma_init": "gamma_initializer",
    "nb_epoch": "epochs", "samples_per_epoch": "steps_per_epoch (batches, not samples)",
    "nb_val_samples": "validation_steps (batches, not samples)",
}


def unknown_arguments_message(owner: str, names) -> str:
    """``owner: unexpected keyword argument(s) [...]``, naming Keras 2's name of each of Keras 1's."""
    names = sorted(names)
    renamed = [f"{name} is {KERAS_1_NAMES[name]}" for name in names if name in KERAS_1_NAMES]
    hint = f" (Keras 1's names; in Keras 2 and 3: {', '.join(renamed)})" if renamed else ""
    return f"{owner}: unexpected keyword argument(s) {names}{hint}"


def refuse_unknown(owner: str, kwargs: dict) -> None:
    """Raise, naming ``owner`` and the arguments, when ``kwargs`` holds any."""
    if kwargs:
        raise UnknownArgumentError(unknown_arguments_message(owner, kwargs))
