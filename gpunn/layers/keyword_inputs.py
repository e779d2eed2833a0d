"""A layer called with its inputs by keyword, as Keras's ``Layer.__call__`` passes keywords on to ``call()``:
``endpoint(logits, targets=targets)``, ``endpoint(logits=logits, targets=None)``, ``dense(inputs=x)``.

gpunn runs a layer of the user's on its inputs in the order of its ``call()``'s arguments (several of them
spread over the arguments, ``user_layer.spreads_inputs``), so the keywords are put in that order here. An
argument left out, or given as None, takes the call's default; one given after it cannot then be placed, and
is refused by name. Other values (numbers, strings) are refused too: a layer's settings go to its constructor.
"""
from __future__ import annotations

import inspect

import numpy as np

NOT_GIVEN = object()  # ``layer(logits=x)``: no positional input


def _is_input(value) -> bool:
    return getattr(value, "_is_symbolic", False) or hasattr(value, "shape") and not np.isscalar(value)


def positional_inputs(layer, inputs, more: tuple, keywords: dict, takes_arguments: bool) -> tuple:
    """(inputs, more) for ``layer(inputs, *more, **keywords)``: the keywords placed among the positional inputs
    in the order of the layer's ``call()`` (``takes_arguments``: whether it is a layer of the user's, whose
    call() names them; a built-in layer takes its one input as ``inputs``)."""
    given = ([] if inputs is NOT_GIVEN else [inputs]) + list(more)
    if not takes_arguments:
        if set(keywords) != {"inputs"} or given:
            raise TypeError(f"layer {layer.name!r} ({type(layer).__name__}) takes its input as `inputs`, then "
                            f"training and mask; got the keyword arguments {sorted(keywords)}")
        return keywords["inputs"], ()
    parameters = [p for name, p in inspect.signature(type(layer).call).parameters.items()
                  if name not in ("self", "training", "mask") and p.kind is p.POSITIONAL_OR_KEYWORD]
    names = [p.name for p in parameters]
    unknown = sorted(set(keywords) - set(names))
    if unknown:
        raise TypeError(f"layer {layer.name!r}: {type(layer).__name__}.call() takes no argument {unknown[0]!r} "
                        f"(it takes {names})")
    if len(given) > len(names):
        raise TypeError(f"layer {layer.name!r}: called with {len(given)} inputs; {type(layer).__name__}.call() "
                        f"takes {names}")
    twice = [name for name in names[:len(given)] if name in keywords]
    if twice:
        raise TypeError(f"layer {layer.name!r}: argument {twice[0]!r} given by position and by keyword")
    # up to the last argument given: the ones after it keep call()'s defaults, whatever they are
    last = max([len(given) - 1] + [names.index(name) for name in keywords])
    values = given + [keywords.get(name, parameters[k].default) for k, name in enumerate(names)
                      if len(given) <= k <= last]
    while values and values[-1] is None:  # None, or a default of None: the call's own default
        values.pop()
    for name, value in zip(names, values):
        if value is inspect.Parameter.empty:
            raise TypeError(f"layer {layer.name!r}: {type(layer).__name__}.call() is missing its argument {name!r}")
        if value is None:
            later = names[names.index(name) + 1:len(values)]
            raise TypeError(f"layer {layer.name!r}: argument {name!r} is None while {later} are given; gpunn runs "
                            f"call() on its inputs in order: give {name!r} too, or leave the later ones out")
        if not _is_input(value):
            raise TypeError(f"layer {layer.name!r}: argument {name!r} of {type(layer).__name__}.call() is "
                            f"{type(value).__name__} {value!r}; gpunn passes tensors (or None) to call(): give a "
                            "setting to the layer's constructor")
    if not values:
        raise TypeError(f"layer {layer.name!r}: called without an input")
    return values[0], tuple(values[1:])
