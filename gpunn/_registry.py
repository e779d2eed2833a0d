"""Name lookup shared by activations, losses, metrics, optimizers, initializers and layers.

Unknown names fail with the argument's name, the valid choices and the closest match, before any work.
"""
from __future__ import annotations

import difflib
from typing import Any, Mapping


def unknown_name_error(argument: str, name: Any, choices) -> ValueError:
    choices = sorted(set(choices))
    close = difflib.get_close_matches(str(name).lower(), choices, n=1, cutoff=0.5)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return ValueError(f"{argument}: unknown name {name!r}; expected one of {choices}.{hint}")


def lookup(argument: str, name: str, registry: Mapping[str, Any]):
    """``registry[name]`` with case and '-'/'_' spelling tolerated, else a clear ValueError."""
    if not isinstance(name, str):
        raise TypeError(f"{argument}: expected a name (str), got {type(name).__name__} {name!r}")
    key = name.strip().lower().replace("-", "_")
    if key in registry:
        return registry[key]
    raise unknown_name_error(argument, name, registry.keys())
