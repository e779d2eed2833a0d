"""Batch-end ``logs``: a dict whose values are read from the device only when a callback looks at them.

Keras hands each batch hook a plain dict, and callbacks test for one (``isinstance(logs, dict)``, as Keras's own
TensorBoard callback does) before they record anything; so these logs are a dict, empty underneath until the
first look fills them. Every dict method that reads or changes them fills them first; the names alone (``in``,
``len``, iteration) are answered without a device read while nothing has been read.
"""
from __future__ import annotations

import copy


class LazyLogs(dict):
    def __init__(self, read_values, names):
        """``read_values()``: the batch's values by name (one device read); ``names``: the names it will give."""
        super().__init__()
        self._read_values = read_values
        self._names = names
        self._resolved = False

    def _resolve(self) -> "LazyLogs":
        if not self._resolved:
            self._resolved = True
            values = self._read_values()
            dict.update(self, ((name, values[name]) for name in sorted(values)))  # Keras's order (logs_order.py)
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
