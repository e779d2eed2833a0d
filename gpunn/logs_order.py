"""The order of the names in training logs, as Keras 3 gives them.

Keras sorts the logs it hands to callbacks and the dicts ``evaluate`` / ``train_on_batch`` / ``test_on_batch``
return (``keras/src/utils/python_utils.py`` ``pythonify_logs`` iterates ``sorted(logs.items())``), so
``accuracy`` comes before ``loss`` and the ``val_`` names come last. The progress lines, ``History.history``'s
keys and a ``DataFrame`` made of them follow that order. The lists ``evaluate`` returns keep
``metrics_names``' order (the loss first), as Keras's do.
"""
from __future__ import annotations


def in_keras_order(logs):
    """``logs`` as a new dict with its names sorted; anything that is not a dict (None, a lazy mapping that
    sorts its own names) is returned as it is."""
    if type(logs) is dict:
        return dict(sorted(logs.items()))
    return logs
