"""Losses a subclassed model's ``call()`` gives ``self.add_loss``, computed from its symbolic values, as the VAE of
Keras's guide "Making new layers and models via subclassing" adds its KL divergence::

    kl_loss = -0.5 * ops.mean(z_log_var - ops.square(z_mean) - ops.exp(z_log_var) + 1)
    self.add_loss(kl_loss)

A model's graph holds one row per sample; ``ops.mean`` over every axis gives one number per batch, which is no
value of the graph. Such a reduction (an operation whose result on the trial batches is a scalar) gives a
``BatchReduced``: the operation and its arguments, kept to be computed later, as are operations on it (``-0.5 *
kl``). ``add_loss`` takes it, or a value of the graph (summed, as Keras sums a loss that is not a scalar).

After the trace, ``splice`` puts one ``AddedLosses`` layer on the model's (first) output: it reads that output,
which it passes on unchanged, and the values of the graph the losses are computed from; its call() computes the
losses from them with autodiff and gives them to ``add_loss`` (``user_layer.py``), so the model reports and
differentiates them as it does an endpoint layer's, in fit and evaluate, on one process or several.
"""
from __future__ import annotations

from . import symbolic, user_layer
from .base import Layer, unique_name

_IN_GRAPH = "__input__"
_REDUCED = "__reduced__"


class BatchReduced:
    """A ``keras.ops`` function's result over a whole batch: ``operation`` applied to ``arguments`` (Keras's
    parameter names; ``operation._Slot`` k standing for ``inputs[k]``: a value of the graph or another
    BatchReduced). Only ``add_loss`` and operations giving more BatchReduced take it."""

    _is_symbolic = True  # gpunn.ops functions hand it to operation.symbolic_call
    __array_ufunc__ = None  # np.float32(2) * value: ours
    shape = ()  # one number (ops.shape(value))

    def __init__(self, operation: str, arguments: dict, inputs: list):
        self.operation, self.arguments, self.inputs = operation, arguments, list(inputs)

    def _operation(self, other, name: str, reverse: bool):
        from .. import ops

        function = getattr(ops, name)
        return function(other, self) if reverse else function(self, other)

    # the operators of symbolic values (symbolic.py), each a gpunn.ops call giving another BatchReduced
    __add__, __radd__ = symbolic._operator("add"), symbolic._operator("add", reverse=True)
    __sub__, __rsub__ = symbolic._operator("subtract"), symbolic._operator("subtract", reverse=True)
    __mul__, __rmul__ = symbolic._operator("multiply"), symbolic._operator("multiply", reverse=True)
    __truediv__, __rtruediv__ = symbolic._operator("divide"), symbolic._operator("divide", reverse=True)
    __pow__ = symbolic._operator("power")
    __lt__, __le__ = symbolic._operator("less"), symbolic._operator("less_equal")
    __gt__, __ge__ = symbolic._operator("greater"), symbolic._operator("greater_equal")

    def __bool__(self):  # (``while ops.sum(ops.abs(x)) > 1:`` in a subclassed model's call())
        raise TypeError("the truth value of a value computed over the whole batch is not known when gpunn runs a "
                        "subclassed model's call() on symbolic inputs to learn its graph: an if or while on data "
                        "values cannot be traced; compute it in the call() of a layer of your own (a "
                        "keras.layers.Layer subclass, whose call() runs on each batch)")

    def __neg__(self):
        from .. import ops

        return ops.negative(self)

    def __repr__(self) -> str:
        return f"<BatchReduced {self.operation}: one number per batch, which add_loss takes, not a model's value>"

    def _refuse(self, *args, **kwargs):
        raise ValueError(f"gpunn.ops.{self.operation} reduced a model's values over the whole batch to one number, "
                         "which a subclassed model's self.add_loss takes (and operations on it); a layer or an output "
                         "takes values of one row per sample (reduce over the other axes: axis=-1)")

    __array__ = __getitem__ = _refuse  # as a layer's input (an array), or sliced


def is_batch_reduced(value) -> bool:
    return isinstance(value, BatchReduced)


def leaves(losses: list) -> list:
    """The values of the graph the losses are computed from, each once, in the order first met."""
    found: list = []
    seen: set = set()

    def visit(value):
        if isinstance(value, BatchReduced):
            for item in value.inputs:
                visit(item)
        elif id(value) not in seen:
            seen.add(id(value))
            found.append(value)

    for loss in losses:
        visit(loss)
    return found


def _as_config(value, position: dict):
    """A loss as the AddedLosses config holds it: a value of the graph as the index of the layer's input that
    reads it, a BatchReduced as its operation and arguments (its inputs' slots written as those indices)."""
    from .operation import _map, _Slot, _to_config

    if not isinstance(value, BatchReduced):
        return {"class_name": _IN_GRAPH, "config": {"index": position[id(value)]}}

    def entry(item):
        if isinstance(item, _Slot):
            return _as_config(value.inputs[item.index], position)
        return _to_config(item)

    return {"class_name": _REDUCED, "config": {
        "operation": value.operation,
        "arguments": {key: _map(argument, entry) for key, argument in value.arguments.items()}}}


def _evaluate(entry, values: list):
    """A loss of the config on the layer's inputs (Tensors): its operations run on them, with autodiff."""
    from .operation import _apply, _from_config, _map

    if isinstance(entry, dict) and entry.get("class_name") == _IN_GRAPH:
        return values[int(entry["config"]["index"])]
    if not (isinstance(entry, dict) and entry.get("class_name") == _REDUCED):
        return _from_config(entry)
    config = entry["config"]

    def argument(item):
        if isinstance(item, dict) and item.get("class_name") in (_IN_GRAPH, _REDUCED):
            return _evaluate(item, values)
        return _from_config(item)

    return _apply(config["operation"], {key: _map(value, argument) for key, value in config["arguments"].items()})


class AddedLosses(Layer):
    """Passes its first input on and gives ``add_loss`` the model's losses, computed from its other inputs."""

    computes_in_call = True  # user_layer.runs_call: its call() runs as a user's layer's, its losses kept likewise

    def __init__(self, losses: list, name=None, **kwargs):
        super().__init__(name=name or unique_name("added_losses"), **kwargs)
        self.losses_config = list(losses)
        self.takes_inputs_list = True  # the model's output, then the values the losses read (wiring.py)

    def __call__(self, inputs, training=None, mask=None):
        if isinstance(inputs, (list, tuple)) and inputs and all(map(symbolic.is_symbolic, inputs)):
            return symbolic.call_symbolic(self, list(inputs), training, mask)  # a model rebuilt from its config
        return super().__call__(inputs, training, mask)

    def call(self, inputs):
        for loss in self.losses_config:
            user_layer.add_loss(self, _evaluate(loss, inputs[1:]))
        return inputs[0]

    def build(self, input_shape):
        user_layer.build_user_layer(self, input_shape)

    def forward(self, x, training):
        return user_layer.forward(self, x, training)

    def get_config(self) -> dict:
        return {**super().get_config(), "losses": self.losses_config}

    @classmethod
    def from_config(cls, config: dict):
        config = dict(config)
        return cls(config.pop("losses"), **config)


def splice(outputs, losses: list):
    """``outputs`` of a trace, the first one read through an AddedLosses layer computing ``losses`` (values of
    the graph, or BatchReduced)."""
    key = next(iter(outputs)) if isinstance(outputs, dict) else 0
    first = outputs[key] if isinstance(outputs, (dict, list, tuple)) else outputs
    read = leaves(losses)
    position = {id(value): k for k, value in enumerate(read)}
    layer = AddedLosses([_as_config(loss, position) for loss in losses])
    passed = symbolic.call_symbolic(layer, [first] + read)
    if isinstance(outputs, dict):
        return {**outputs, key: passed}
    if isinstance(outputs, (list, tuple)):
        return type(outputs)([passed] + list(outputs[1:]))
    return passed
