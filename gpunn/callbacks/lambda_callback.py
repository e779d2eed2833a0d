"""LambdaCallback: a callback built from plain functions."""
from __future__ import annotations

from ._common import _bad_arg
from .base import Callback


_HOOK_NAMES = (
    "on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end",
    "on_batch_begin", "on_batch_end", "on_train_batch_begin", "on_train_batch_end",
    "on_test_begin", "on_test_end", "on_test_batch_begin", "on_test_batch_end",
    "on_predict_begin", "on_predict_end", "on_predict_batch_begin", "on_predict_batch_end",
)


class LambdaCallback(Callback):
    """A callback built from plain functions, one per hook.

    Epoch hooks are called as ``f(epoch, logs)``, batch hooks as ``f(batch, logs)``, and
    begin/end hooks as ``f(logs)``. Any other hook (``on_test_end=...``, ``on_batch_end=...``)
    can be passed by keyword.

    Example:
        >>> LambdaCallback(on_epoch_end=lambda epoch, logs: print(epoch, logs["loss"]))
    """

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_train_begin=None, on_train_end=None,
                 on_train_batch_begin=None, on_train_batch_end=None, **kwargs):
        super().__init__()
        others = {name: value for name, value in kwargs.items() if name not in _HOOK_NAMES}
        misspelt = sorted(name for name in others if name.startswith("on_"))
        if misspelt:  # a hook name Keras would keep as a plain attribute and never call
            raise ValueError(f"LambdaCallback: unknown hook {misspelt[0]!r}; expected one of {', '.join(_HOOK_NAMES)}")
        self.__dict__.update(others)  # as Keras: other keywords (name=...) become attributes
        hooks = dict(
            on_epoch_begin=on_epoch_begin, on_epoch_end=on_epoch_end,
            on_train_begin=on_train_begin, on_train_end=on_train_end,
            on_train_batch_begin=on_train_batch_begin, on_train_batch_end=on_train_batch_end,
            **{name: value for name, value in kwargs.items() if name in _HOOK_NAMES},
        )
        for name, fn in hooks.items():
            if fn is None:
                continue
            if not callable(fn):
                raise _bad_arg("LambdaCallback", name, "a callable or None", fn)
            setattr(self, name, fn)
