"""Name lookup shared by activations, losses, metrics, optimizers, initializers and layers.

Unknown names fail with the argument's name, the valid choices and the closest match, before any work.
"""
from __future__ import annotations

import difflib
from typing import Any, Mapping


def _edit_distance(a: str, b: str) -> int:
    """Optimal-string-alignment distance: insertions, deletions, substitutions and swaps of neighbours each
    count 1, so a typo like 'adma' is one edit from 'adam' (and three from 'adamax')."""
    previous2, previous = None, list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        row = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            row[j] = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (ca != cb))
            if previous2 is not None and i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                row[j] = min(row[j], previous2[j - 2] + 1)
        previous2, previous = previous, row
    return previous[-1]


def closest_name(name: str, choices) -> str | None:
    """The choice a typo most likely meant: the fewest edits, then the most similar; None when nothing is
    close (difflib's ratio under 0.5)."""
    key = str(name).lower()
    close = difflib.get_close_matches(key, choices, n=5, cutoff=0.5)
    if not close:
        return None
    return min(close, key=lambda choice: (_edit_distance(key, choice), -difflib.SequenceMatcher(None, key,
                                                                                                 choice).ratio()))


class UnknownNameError(ValueError):
    """A name none of the choices has; its parts kept, for a caller to say more (``custom_objects.hint_on_unknown``)."""

    def __init__(self, argument: str, name: Any, choices: list, close: str | None):
        self.argument, self.name, self.choices, self.close = argument, name, choices, close
        hint = f" Did you mean {close!r}?" if close else ""
        super().__init__(f"{argument}: unknown name {name!r}; expected one of {choices}.{hint}")


def unknown_name_error(argument: str, name: Any, choices) -> UnknownNameError:
    choices = sorted(set(choices))
    return UnknownNameError(argument, name, choices, closest_name(str(name), choices))


def lookup(argument: str, name: str, registry: Mapping[str, Any]):
    """``registry[name]`` with case and '-'/'_' spelling tolerated, else a clear ValueError."""
    if not isinstance(name, str):
        raise TypeError(f"{argument}: expected a name (str), got {type(name).__name__} {name!r}")
    key = name.strip().lower().replace("-", "_")
    if key in registry:
        return registry[key]
    raise unknown_name_error(argument, name, registry.keys())
