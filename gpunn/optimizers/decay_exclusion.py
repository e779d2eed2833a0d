"""Keras's ``optimizer.exclude_from_weight_decay(var_list=None, var_names=None)``: the weights that take no
decoupled weight decay (keras/src/optimizers/base_optimizer.py ``exclude_from_weight_decay`` and
``_use_weight_decay``): those in ``var_list``, and those whose name (Keras's ``variable.name``, the last part of
its path: 'kernel', 'bias', 'gamma') a regular expression of ``var_names`` finds (fine-tuning recipes exclude
biases and normalization scales). Keras's docstring asks for it before the optimizer is built; its check reads
an attribute Keras never sets, so a later call passes there and changes nothing (its compiled step keeps what it
traced). Here a later call takes effect from the next step (a loaded model's optimizer is built at the load).

The fused update kernels decay every weight of the flat buffer by one factor. Where some weights are excluded,
the kernels are given a decay of 0 and the decay is applied before them, as Keras applies it before its update
step: w -= w * mask * weight_decay * lr, ``mask`` 0 over the excluded weights' segments; the weight decay stays a
device value (``decay_cell``), so a change of it never re-records a step.
"""
from __future__ import annotations

import re

import numpy as np


def configure(optimizer, var_list=None, var_names=None) -> None:
    if var_names is not None and (isinstance(var_names, str) or not all(isinstance(n, str) for n in var_names)):
        raise ValueError(f"var_names: expected a list of strings (regular expressions), got {var_names!r}")
    paths = set()
    for variable in var_list or ():
        path = getattr(variable, "path", None)
        if not isinstance(path, str):
            raise ValueError(f"var_list: expected the model's variables (layer.kernel, model.weights...), got "
                             f"{variable!r}")
        paths.add(path)
    pattern = re.compile("|".join(sorted(set(var_names)))) if var_names else None
    optimizer._decay_exclusions = (paths, pattern)
    if optimizer.state is not None:
        optimizer.refresh_decay_mask()


def excluded(exclusions, path: str) -> bool:
    paths, pattern = exclusions
    return path in paths or (pattern is not None and pattern.search(path.rsplit("/", 1)[-1]) is not None)


def mask(optimizer, ops, dtype, size: int, segments, descriptions):
    """The flat 0/1 mask of the decayed parameters (0 over excluded weights), or None when no trained weight is
    excluded (the kernels decay them all, as without exclusions)."""
    exclusions = getattr(optimizer, "_decay_exclusions", None)
    if exclusions is None or descriptions is None or getattr(optimizer, "decays_each_weight_itself", False):
        return None
    flags = [excluded(exclusions, str(path)) for path, _ in descriptions]
    if not any(flags):
        return None
    host = np.ones(size, dtype=dtype)
    for (start, stop), spared in zip(segments, flags):
        if spared:
            host[start:stop] = 0
    return ops.asarray(host)


def apply(optimizer, params, rate_and_decay) -> None:
    """w -= w * mask * weight_decay * lr over the flat buffer (``rate_and_decay``: the state's learning rate and
    the ``decay_cell``, device scalars)."""
    ops, ws, dtype = optimizer.ops, optimizer._workspace, params.dtype
    scratch = ws.buffer("weight_decay.scratch", params.shape, dtype)
    rate, decay = (ws.buffer(f"weight_decay.{name}", (1,), dtype) for name in ("rate", "decay"))
    ops.cast_into(rate_and_decay[0], rate)
    ops.cast_into(rate_and_decay[1], decay)
    ops.multiply(params, optimizer._decay_mask, scratch)
    ops.multiply(scratch, decay, scratch)
    ops.multiply(scratch, rate, scratch)
    ops.subtract(params, scratch, params)
