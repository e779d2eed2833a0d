"""What data-parallel ranks must agree on before a fit, evaluate or predict: a JSON-able description.

Sections, in the order a difference is looked for (``agreement.py`` names the first that differs):

- ``call``: which method runs (a rank in ``fit`` while another is in ``predict`` would wait forever);
- ``model``: every layer's config, output shape and parameter count, the input shape and the dtype. Names
  and initializers are left out: rank 0's weights are broadcast, so how the others initialise does not
  matter, and names are labels. A Dropout's ``seed`` is left out too: each rank draws its own masks
  (``trainer/replicas.py`` offsets it per rank);
- ``compile``: the optimizer's class and hyperparameters, the loss, the metrics, ``jit_compile``,
  ``steps_per_execution``;
- ``data``: what the caller passes (sample counts, batch size, epochs, ...): see the trainer; with
  ``sampled_values``, a checksum of some rows of each array, so that data drawn without a seed, or sample or
  class weights set on one rank, stop the ranks, naming the array, instead of training on a mixture of them.
"""
from __future__ import annotations

import zlib

import numpy as np

# Layer config keys that may differ between ranks without the ranks computing differently.
_PER_RANK_KEYS = ("name", "seed")


def run_summary(call: str, model, data: dict, compiled: bool = True, optimizer: bool = True) -> dict:
    """The description of ``call`` (``"fit"``, ``"evaluate"``, ``"predict"``) on ``model`` with ``data``."""
    summary = {"call": call, "model": model_summary(model)}
    if compiled:
        summary["compile"] = compile_summary(model, optimizer)
    summary["data"] = dict(data)
    return summary


SAMPLED_ROWS = 64


def sampled_values(comm, arrays: dict) -> dict | None:
    """With several ranks, per named array (None ones left out), a checksum of up to ``SAMPLED_ROWS`` of its rows
    spread evenly over it (the same rows on every rank: their lengths agree first), as hex: cheap next to
    training, and two ranks holding different values in those rows differ in it. None in one process."""
    if comm.size == 1:
        return None
    found = {}
    for name, array in arrays.items():
        if array is not None:
            rows = np.unique(np.linspace(0, len(array) - 1, min(len(array), SAMPLED_ROWS)).astype(np.int64))
            found[name] = f"{zlib.crc32(np.ascontiguousarray(np.asarray(array)[rows]).tobytes()):08x}"
    return found


def model_summary(model) -> dict:
    layers = []
    for layer in model._graph_layers:
        config = {key: value for key, value in _config(layer).items()
                  if key not in _PER_RANK_KEYS and not key.endswith("initializer")}
        layers.append({"class": type(layer).__name__, **config, "output_shape": str(tuple(layer.output_shape)),
                       "parameters": layer.count_params()})
    return {"input_shape": str(model.input_shape), "dtype": str(model.dtype), "layers": layers,
            "connections": str(model._sources), "modes": str(model._modes), "parameters": int(model.params.size)}


def _config(layer) -> dict:
    """The layer's config, or its name where it has none (a layer of the user's made with arguments that are not
    plain values and without a get_config: its class and shapes are compared all the same)."""
    try:
        return layer.get_config()
    except NotImplementedError:
        return {"name": layer.name}


def compile_summary(model, optimizer: bool = True) -> dict:
    summary = {}
    if optimizer:
        config = {key: value for key, value in model.optimizer.get_config().items() if key != "name"}
        summary["optimizer"] = {"class": type(model.optimizer).__name__, **config}
    def loss(spec) -> dict | None:
        return None if spec.loss is None else {"class": type(spec.loss).__name__, **spec.loss.get_config()}

    def metrics(spec) -> list:
        return [m if isinstance(m, str) else {"class": type(m).__name__, **m.get_config()} if hasattr(m, "get_config")
                else getattr(m, "__name__", str(m)) for m in spec.metrics] + [
            {"weighted": m if isinstance(m, str) else getattr(m, "name", str(m))} for m in spec.weighted_metrics]

    specs = model._output_specs  # per output, in the outputs' order (their names are not compared)
    several = len(specs) > 1
    summary["loss"] = [loss(spec) for spec in specs] if several else loss(specs[0])
    summary["loss_weights"] = [None if spec.weight is None else float(spec.weight) for spec in specs]
    summary["metrics"] = [metrics(spec) for spec in specs] if several else metrics(specs[0])
    summary["jit_compile"] = bool(model.jit_compile)
    summary["steps_per_execution"] = int(getattr(model, "steps_per_execution", 1))
    return summary
