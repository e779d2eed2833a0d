"""Batch-end ``logs``: a dict whose values are read from the device only when a callback looks at them.

Keras hands each batch hook a plain dict, and callbacks test for one (``isinstance(logs, dict)``, as Keras's own
TensorBoard callback does) before they record anything; so these logs are a dict, empty underneath until the
first look fills them. Every dict method that reads or changes them fills them first; the names alone (``in``,
``len``, iteration) are answered without a device read while nothing has been read. Code that reads a dict's
storage directly (the C JSON encoder, ``dict.items(logs)``) sees it empty until then, so the logs a callback of
the script's batch hooks receive are filled before the hooks run (``read_by_the_script``); gpunn's own callbacks
(the progress bar) look only when they draw.
"""
from __future__ import annotations

import copy
import threading

from .. import overrides


class LazyLogs(dict):
    def __init__(self, read_values, names):
        """``read_values()``: the batch's values by name (one device read); ``names``: the names it will give."""
        super().__init__()
        self._read_values = read_values
        self._names = names
        self._resolved = False
        self._filling = threading.Lock()  # (a callback may hand the logs to a thread of its own)

    def _resolve(self) -> "LazyLogs":
        if not self._resolved:
            with self._filling:
                if not self._resolved:
                    values = self._read_values()
                    # Keras's order (logs_order.py)
                    dict.update(self, ((name, values[name]) for name in sorted(values)))
                    self._resolved = True
        return self

    def __iter__(self):
        return dict.__iter__(self) if self._resolved else iter(sorted(set(self._names)))

    def __len__(self):
        return dict.__len__(self) if self._resolved else len(set(self._names))

    def __contains__(self, key):
        return dict.__contains__(self, key) if self._resolved else key in self._names

    def __copy__(self):
        return dict(self._resolve())

    def __deepcopy__(self, memo):
        return copy.deepcopy(dict(self._resolve()), memo)

    def __reduce__(self):  # pickled as the plain dict it stands for
        return dict, (dict(self._resolve()),)

    def __reduce_ex__(self, protocol):
        return self.__reduce__()


def _filled_first(name):
    method = getattr(dict, name)

    def filled(self, *args, **kwargs):
        return method(self._resolve(), *args, **kwargs)

    filled.__name__ = name
    filled.__doc__ = method.__doc__
    return filled


for _name in ("__getitem__", "__setitem__", "__delitem__", "__repr__", "__eq__", "__ne__", "__or__", "__ror__",
              "__ior__", "__reversed__", "get", "keys", "values", "items", "copy", "pop", "popitem", "setdefault",
              "update", "clear"):
    setattr(LazyLogs, _name, _filled_first(_name))
del _name


def read_by_the_script(hook) -> bool:
    """Whether a callback of the script's (or of another library) defines the batch hook ``hook`` of a
    CallbackList calls (``on_train_batch_end``, or tf.keras 2's ``on_batch_end`` for it; a LambdaCallback given
    one): its logs are filled before the hooks run, as a plain dict would be."""
    owner = getattr(hook, "__self__", None)
    callbacks = getattr(owner, "callbacks", None)
    if callbacks is None:
        return True
    # asked at every batch: answered once per hook and list of callbacks (a step replayed as a CUDA graph leaves
    # the host little else to do)
    known = owner.__dict__.setdefault("_reads_batch_logs", {})
    key = (hook.__name__, tuple(map(id, callbacks)))
    if key not in known:
        names = (hook.__name__, "on_batch_end") if hook.__name__ == "on_train_batch_end" else (hook.__name__,)
        known[key] = any(overrides.user_definition(type(callback), name) is not None
                         or callable(getattr(callback, "__dict__", {}).get(name))
                         for callback in callbacks for name in names)
    return known[key]
