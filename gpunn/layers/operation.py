"""``keras.ops`` functions and array operators on a functional model's symbolic values, as Keras 3 takes them:
``ops.concatenate([x, inputs], axis=-1)``, ``x * 2.0 + 1.0``, ``ops.exp(-y)`` between layers, in a functional model
or in a subclassed model's ``call()``. Each call becomes an ``Operation``: a node of the graph that runs the
``gpunn.ops`` function as a layer of the user's runs its ``call()`` (``user_layer.py``: a host call of the step,
its gradient from ``gpunn/autodiff``).

As in Keras, an operation is no layer of ``model.layers`` but is in ``summary()`` and in configs and files,
written as Keras writes it (``keras_operations.py``): the operation's class and init arguments, and a node whose
``args`` hold the symbolic inputs and the constants (numbers, lists, NumPy arrays) the call was given.
"""
from __future__ import annotations

import functools
import inspect

import numpy as np

from .. import ops as gpunn_ops
from ..autodiff import Tensor
from ..naming import snake_case
from . import model_losses, symbolic, text_inputs, user_layer
from .base import Layer, unique_name
from .keras_operations import OPERATIONS, REQUIRED

KERAS_MODULE_PREFIX = "keras.src.ops."
ROWS_OF = "__rows_of__"  # a node's inputs read for their batch size alone (``BatchSize``)
_SHAPE_PARAMETERS = {"shape", "newshape"}  # where a batch size (None in Keras's configs) may be
_OF_INVERTIBLE_MATRICES = {"inv", "solve", "cholesky", "logdet"}  # (ones are singular)


class _Slot:
    """Where the k-th symbolic input goes among an operation's arguments."""

    def __init__(self, index: int):
        self.index = index

    def __eq__(self, other):
        return isinstance(other, _Slot) and other.index == self.index

    def __repr__(self) -> str:
        return f"<input {self.index}>"


class BatchSize:
    """``ops.shape(x)[0]`` of a symbolic value ``x`` in a subclassed model's ``call()``: the batch size, unknown until
    the model runs (Keras runs such a call() on each batch, knowing it). Given to an operation's shape
    (``ops.zeros([batch_size, n])``, ``ops.reshape(x, [batch_size, -1])``), it makes ``x`` one of the operation's
    inputs, whose row count fills that place when the model runs (``_BatchOf``). It equals None, and shows as None,
    as Keras's symbolic batch size."""
    _is_symbolic = True  # (so that keras.ops calls given it make operations: gpunn/ops/__init__.py)

    def __init__(self, source):
        self.source = source

    def __eq__(self, other):  # (Keras's ops.shape gives None there: ``ops.shape(x) == (None, 6)`` holds)
        return other is None or isinstance(other, BatchSize)

    def __hash__(self):
        return hash(None)

    def __repr__(self) -> str:
        return "None"


class _BatchOf:
    """In an operation's arguments: the row count of its k-th input (a ``BatchSize`` given to it)."""

    def __init__(self, index: int):
        self.index = index

    def __eq__(self, other):
        return isinstance(other, _BatchOf) and other.index == self.index

    def __repr__(self) -> str:
        return f"<rows of input {self.index}>"


def _map(value, leaf):
    """``value`` with ``leaf`` applied to everything but lists and tuples (kept as such)."""
    if isinstance(value, (list, tuple)):
        return type(value)(_map(item, leaf) for item in value)
    return leaf(value)


def _walk(value):
    if isinstance(value, (list, tuple)):
        for item in value:
            yield from _walk(item)
    else:
        yield value


def _bound(name: str, args, kwargs) -> dict:
    """The call's arguments by Keras's parameter names, defaults filled in."""
    kinds = {"p": inspect.Parameter.POSITIONAL_OR_KEYWORD, "k": inspect.Parameter.KEYWORD_ONLY,
             "*": inspect.Parameter.VAR_POSITIONAL}
    parameters = [inspect.Parameter(p, kinds[kind], default=inspect.Parameter.empty if default is REQUIRED or
                                    kind == "*" else default)
                  for p, default, kind in OPERATIONS[name][2]]
    try:
        bound = inspect.Signature(parameters).bind(*args, **kwargs)
    except TypeError as error:
        raise TypeError(f"gpunn.ops.{name}: {error}") from None
    bound.apply_defaults()
    return dict(bound.arguments)  # ``*operands`` as a tuple


def _constant(value, where: str):
    if isinstance(value, (int, float, bool, str, type(None), np.generic, slice, type(Ellipsis))):
        return value.item() if isinstance(value, np.generic) else value
    if isinstance(value, np.ndarray):
        return np.array(value)  # a copy: the model keeps the value it was given
    if is_value_tensor(value):  # a gpunn.ops result computed beforehand (ops.ones(...)): a constant, as in Keras
        return np.array(value.numpy())
    raise TypeError(f"{where}: an operation on a model's symbolic values takes numbers, strings, lists and NumPy "
                    f"arrays besides them, got {type(value).__name__}; compute it inside a layer of your own")


def is_value_tensor(value) -> bool:
    """A gpunn Tensor holding a value (no gradient to carry): ``ops.array(...)``, ``ops.ones(...)`` on the host."""
    from ..autodiff.tensor import Tensor

    return isinstance(value, Tensor) and not value.requires_grad and isinstance(value.value, np.ndarray)


class BatchReduction(ValueError):
    """An operation whose result over a batch is one number (``ops.mean(x)``): a loss for ``add_loss``
    (``model_losses.py``), no value of the graph."""


class Operation(Layer):
    """One ``keras.ops`` call in a model's graph: the function ``operation`` applied to ``arguments`` (by Keras's
    parameter names; the symbolic inputs as slots, filled with the arrays the layer is called on)."""

    def __init__(self, operation: str, arguments: dict, name=None, **kwargs):
        if operation not in OPERATIONS:
            raise ValueError(f"operation: gpunn has no symbolic keras.ops.{operation}")
        super().__init__(name=name or unique_name(snake_case(OPERATIONS[operation][1])), **kwargs)
        self.operation = operation
        self.arguments = dict(arguments)
        if operation == "get_item" and isinstance(self.arguments.get("key"), list):
            self.arguments["key"] = tuple(self.arguments["key"])  # x[:, 0:3]'s key, which configs hold as a list
        self.slots = len({v.index for value in self.arguments.values() for v in _walk(value)
                          if isinstance(v, (_Slot, _BatchOf))})
        self.takes_inputs_list = self.slots > 1  # how a model hands it its inputs (wiring.py), before it is built

    # Keras's operations take no mask and make none: an operation on a masked value gives an unmasked one, with
    # no warning (a layer that does not support masking warns)
    drops_masks = True

    def output_mask_source(self, source):
        return None

    @property
    def keras_class(self) -> str:
        return OPERATIONS[self.operation][1]

    @property
    def keras_module(self) -> str:
        return KERAS_MODULE_PREFIX + OPERATIONS[self.operation][0]

    def __call__(self, inputs, training=None, mask=None):
        if isinstance(inputs, (list, tuple)) and inputs and all(map(symbolic.is_symbolic, inputs)):
            return symbolic.call_symbolic(self, list(inputs), training, mask)  # a model rebuilt from its config
        return super().__call__(inputs, training, mask)

    def call(self, inputs):
        values = inputs if self.slots > 1 else [inputs]
        def fill(v):
            if isinstance(v, _Slot):
                return values[v.index]
            return values[v.index].shape[0] if isinstance(v, _BatchOf) else v

        arguments = {key: _map(value, fill) for key, value in self.arguments.items()}
        with np.errstate(all="ignore"):  # log(0) in nan_to_num(log(x)), as Keras's backends, says nothing
            result = _apply(self.operation, arguments)
        if isinstance(result, (tuple, list)):
            raise ValueError(f"gpunn.ops.{self.operation} returns {len(result)} values; on a model's symbolic values "
                             "gpunn takes operations of one result (compute it in a layer of your own, returning "
                             "one tensor per layer)")
        rows = values[0].shape[0]
        if not result.shape:
            raise BatchReduction(f"gpunn.ops.{self.operation} on a model's symbolic values reduces the batch to one "
                                 "number")
        if result.shape[0] != rows:
            raise ValueError(f"gpunn.ops.{self.operation} on a model's symbolic values returned shape "
                             f"{tuple(result.shape)} for a batch of {rows} samples: a model computes one row per "
                             "sample, so an operation between its layers keeps the batch axis first (reduce over "
                             "the other axes: axis=-1)")
        return result

    def build(self, input_shape):
        user_layer.build_user_layer(self, input_shape)  # its output shape, from a call on 2 rows
        # and once more on 3, which call() checks keep their row count: on 2 rows alone, a reduction over the
        # batch axis of (2, 2) samples would pass for one over the features
        with np.errstate(all="ignore"):
            result = self.call(self.trial_inputs(3, input_shape if self.slots > 1 else tuple(input_shape),
                                                 self.dtype or "float32"))
        # Keras's dtype of an integer or bool result (argmax, a comparison, a cast to int): the model computes in
        # floats and gives this output in that dtype (``Sequential._in_keras_output_dtypes``)
        kind = np.dtype(result.dtype).kind
        self.keras_result_dtype = np.dtype(result.dtype).name if kind in "biu" else None

    def output_sample_shape(self, sample_shape):
        """The shape of an output sample for inputs of ``sample_shape`` (a list of them for several), from a call
        on a trial batch of 2: what the operation computes decides it."""
        several = self.slots > 1
        with np.errstate(all="ignore"):
            result = self.call(self.trial_inputs(2, list(sample_shape) if several else tuple(sample_shape),
                                                 self.dtype))
        return tuple(result.shape[1:])

    def trial_inputs(self, rows: int, sample, dtype):
        """What the output's shape is learnt from: ones (indices of ``take`` among them); for the functions of
        invertible matrices, plus the identity over the last two axes (I + 1 1^T is positive definite)."""
        if isinstance(sample, list):
            return [self.trial_inputs(rows, s, dtype) for s in sample]
        values = np.ones((rows,) + tuple(sample), dtype=dtype)
        if self.operation in _OF_INVERTIBLE_MATRICES and len(sample) >= 2 and sample[-1] == sample[-2]:
            values += np.eye(sample[-1], dtype=dtype)
        return Tensor(values)

    def forward(self, x, training):
        if text_inputs.is_strings_view(self):  # (a reshape of strings: the numbers made of them pass as they are)
            return x, (lambda dy, need_dx=True: dy if need_dx else None)
        return user_layer.forward(self, x, training)

    # ---- configs ------------------------------------------------------------------------------------------
    def keras_config(self) -> dict:
        """The operation's config as Keras writes it: its name and the arguments its class is made with."""
        def keras_value(v):  # (a batch size: Keras's None)
            return None if isinstance(v, _BatchOf) else v

        return {"name": self.name, **{key: _serializable(_map(self.arguments[parameter], keras_value))
                                      for key, parameter in OPERATIONS[self.operation][3]}}

    def keras_node(self, tensors: list) -> dict:
        """The node of its call as Keras writes it: ``args`` and ``kwargs`` with ``tensors`` (Keras tensor dicts,
        one per slot) in the slots' places."""
        def fill(value):  # tuples as lists, as in Keras's configs
            if isinstance(value, (list, tuple)):
                return [fill(item) for item in value]
            if isinstance(value, _BatchOf):
                return None  # (Keras's symbolic batch size)
            return tensors[value.index] if isinstance(value, _Slot) else _serializable(value)

        _, _, _, _, call, call_keywords = OPERATIONS[self.operation]
        args = []
        for p in call:  # ``*operands``: each its own argument
            args += fill(self.arguments[p[1:]]) if p.startswith("*") else [fill(self.arguments[p])]
        kwargs = {key: fill(self.arguments[p]) for key, p in call_keywords}
        markers = [v for value in self.arguments.values() for v in _walk(value)]
        batch_only = sorted({v.index for v in markers if isinstance(v, _BatchOf)}
                            - {v.index for v in markers if isinstance(v, _Slot)})
        if batch_only:  # (an input read for its batch size alone: gpunn's, which Keras's graphs cannot hold)
            kwargs[ROWS_OF] = [tensors[k] for k in batch_only]
        return {"args": args, "kwargs": kwargs}

    def get_config(self) -> dict:
        return {"name": self.name, "trainable": self.trainable, "operation": self.operation,
                "arguments": {key: _map(value, _to_config) for key, value in self.arguments.items()}}

    @classmethod
    def from_config(cls, config: dict):
        config = dict(config)
        arguments = {key: _map(value, _from_config) for key, value in config.pop("arguments").items()}
        return cls(config.pop("operation"), arguments, **config)


@functools.lru_cache(maxsize=None)
def _convention(name: str) -> tuple[bool, tuple]:
    """How gpunn.ops's ``name`` takes Keras's arguments (read once, not at every step): (whether it takes
    ``*args``, Keras's (parameter, default) pairs it does not name)."""
    try:
        signature = inspect.signature(gpunn_ops._unwrapped[name]).parameters
    except (TypeError, ValueError):
        signature = {}
    if any(p.kind is p.VAR_POSITIONAL for p in signature.values()):
        return True, ()
    return False, tuple((p, default) for p, default, _ in OPERATIONS[name][2] if p not in signature)


def _apply(name: str, arguments: dict):
    """gpunn.ops's ``name`` called with Keras's arguments: by keyword where it names its parameters, in Keras's
    order where it takes ``*args``; an argument it lacks is refused unless it has Keras's default."""
    function = gpunn_ops._unwrapped[name]
    takes_args, lacking = _convention(name)
    if takes_args:
        positional = []
        for parameter, _, kind in OPERATIONS[name][2]:
            value = arguments[parameter]
            positional += list(value) if kind == "*" else [value]
        return function(*positional)
    for parameter, default in lacking:
        value = arguments.pop(parameter)
        if value is not default and value != default:
            raise ValueError(f"gpunn.ops.{name}: takes no {parameter}={value!r} (Keras's {parameter!r}); leave it "
                             f"at {default!r}")
    return function(**arguments)


def _serializable(value):
    """A constant as Keras's configs hold it (serialization_lib.py: a NumPy array as ``__numpy__``, a slice as
    ``__slice__``, ``...`` as ``__ellipsis__``)."""
    if isinstance(value, np.ndarray):
        return {"class_name": "__numpy__", "config": {"value": value.tolist(), "dtype": str(value.dtype)}}
    if isinstance(value, slice):
        return {"class_name": "__slice__", "config": {"start": value.start, "stop": value.stop, "step": value.step}}
    if value is Ellipsis:
        return {"class_name": "__ellipsis__", "config": {}}
    return list(value) if isinstance(value, tuple) else value


def _to_config(value):
    if isinstance(value, _Slot):
        return {"class_name": "__input__", "config": {"index": value.index}}
    if isinstance(value, _BatchOf):
        return {"class_name": "__rows_of_input__", "config": {"index": value.index}}
    return _serializable(value)


def _from_config(value):
    if isinstance(value, dict) and value.get("class_name") == "__input__":
        return _Slot(int(value["config"]["index"]))
    if isinstance(value, dict) and value.get("class_name") == "__rows_of_input__":
        return _BatchOf(int(value["config"]["index"]))
    if isinstance(value, dict) and value.get("class_name") == "__numpy__":
        return np.asarray(value["config"]["value"], dtype=value["config"].get("dtype"))
    if isinstance(value, dict) and value.get("class_name") == "__slice__":
        return slice(value["config"].get("start"), value["config"].get("stop"), value["config"].get("step"))
    if isinstance(value, dict) and value.get("class_name") == "__ellipsis__":
        return Ellipsis
    return value


def symbolic_call(name: str, args, kwargs):
    """``gpunn.ops.<name>(*args, **kwargs)`` on symbolic values: an Operation called on them."""
    if name == "shape" and len(args) == 1 and not kwargs:
        # as Keras's ops.shape, the batch size unknown: a BatchSize, which an operation's shape takes
        symbolic.note_shape_read(None)  # (the user's ops.shape: its sample dimensions are the traced ones)
        return (BatchSize(args[0]),) + tuple(args[0].shape[1:])
    if name == "ndim" and len(args) == 1 and not kwargs:
        return len(args[0].shape)  # (known while the model is built: the rank, batch axis included)
    if name == "size" and len(args) == 1 and not kwargs:
        raise TypeError("gpunn.ops.size on a model's symbolic value: its number of values depends on the batch "
                        "size, unknown while the model is built; use math.prod(x.shape[1:]) for a sample's")
    if name in ("zeros", "ones"):  # of a shape holding a batch size: Keras's Full, of that value
        arguments = inspect.signature(gpunn_ops._unwrapped[name]).bind(*args, **kwargs).arguments
        return symbolic_call("full", (arguments["shape"], 0.0 if name == "zeros" else 1.0),
                             {"dtype": arguments.get("dtype")})
    if name not in OPERATIONS:
        raise TypeError(f"gpunn.ops.{name} does not run on a model's symbolic values (in a functional model, or a "
                        "subclassed model's call()); compute it in a layer of your own, or a Lambda layer")
    arguments = _bound(name, args, kwargs)
    inputs: list = []

    def slot(value):
        if isinstance(value, BatchSize):
            known = [k for k, given in enumerate(inputs) if given is value.source]
            if not known:
                inputs.append(value.source)
            return _BatchOf(known[0] if known else len(inputs) - 1)
        if symbolic.is_symbolic(value) or model_losses.is_batch_reduced(value):
            inputs.append(value)
            return _Slot(len(inputs) - 1)
        return _constant(value, f"gpunn.ops.{name}")

    arguments = {key: _map(value, slot) for key, value in arguments.items()}
    if not inputs:
        raise TypeError(f"gpunn.ops.{name}: no symbolic value among its arguments")
    reduced = [value for value in inputs if model_losses.is_batch_reduced(value)]
    if reduced:
        if len(reduced) < len(inputs):
            raise ValueError(f"gpunn.ops.{name}: combines a value reduced over the whole batch (one number per batch, "
                             "such as ops.mean(x)) with the model's values of one row per sample; gpunn takes such a "
                             "number in add_loss (and operations on it) only")
        return model_losses.BatchReduced(name, arguments, inputs)
    layer = Operation(name, arguments)
    try:
        return symbolic.call_symbolic(layer, inputs if len(inputs) > 1 else inputs[0])
    except BatchReduction:  # ops.mean(x) over every axis: a loss for add_loss, computed from x later
        return model_losses.BatchReduced(name, arguments, inputs)
    except (ValueError, TypeError) as error:
        if str(error).startswith(f"gpunn.ops.{name}"):
            raise
        shapes = ", ".join(str(value.shape) for value in inputs)
        message = (f"gpunn.ops.{name} on symbolic values of shapes {shapes} (run on a trial batch of 2 samples to "
                   f"learn its output's shape): {error}")
        try:
            again = type(error)(message)
        except TypeError:  # (an error class of other arguments, NumPy's _UFuncNoLoopError: its nearest builtin)
            again = (ValueError if isinstance(error, ValueError) else TypeError)(message)
        raise again from None


def from_keras(entry: dict, node: dict) -> dict:
    """gpunn's serialized Operation for a Keras config's operation entry (``{"module": "keras.src.ops...",
    "class_name": "Mean", "config": {...}}``) and its one call node (``{"args", "kwargs"}``), the Keras tensors
    among the arguments becoming slots, in the order of the node's tensors."""
    class_name, config = entry.get("class_name"), dict(entry.get("config") or {})
    module = entry.get("module")  # none in a legacy (HDF5) config
    names = [n for n, spec in OPERATIONS.items()
             if spec[1] == class_name and (module is None or KERAS_MODULE_PREFIX + spec[0] == module)]
    if not names:
        raise ValueError(f"operation {config.get('name', class_name)!r} ({module or 'keras.ops'}.{class_name}): gpunn "
                         "has no such keras.ops function")
    name = names[0]
    _, _, parameters, init, call, call_keywords = OPERATIONS[name]
    arguments = {p: default for p, default, _ in parameters}
    for key, parameter in init:
        if key in config:
            arguments[parameter] = config[key]
    count = [0]

    def slot(value):
        if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
            count[0] += 1
            return {"class_name": "__input__", "config": {"index": count[0] - 1}}
        return value

    args, kwargs = node.get("args") or [], node.get("kwargs") or {}
    for k, parameter in enumerate(call):
        if parameter.startswith("*"):  # the rest of the arguments
            arguments[parameter[1:]] = [_map(value, slot) for value in args[k:]]
            break
        if k < len(args):
            arguments[parameter] = _map(args[k], slot)
    for key, parameter in call_keywords:
        if key in kwargs:
            arguments[parameter] = _map(kwargs[key], slot)
    for value in kwargs.get(ROWS_OF) or ():
        slot(value)
    for parameter in _SHAPE_PARAMETERS & set(arguments):  # a batch size (None): the rows of the inputs, all alike
        if isinstance(arguments[parameter], (list, tuple)) and count[0]:
            arguments[parameter] = [{"class_name": "__rows_of_input__", "config": {"index": 0}} if value is None
                                    else value for value in arguments[parameter]]
    missing = [p for p, value in arguments.items() if value is REQUIRED]
    if missing:
        raise ValueError(f"operation {config.get('name', class_name)!r} ({class_name}): its config lacks {missing}")
    return {"class_name": "Operation", "config": {"name": config.get("name"), "operation": name,
                                                  "arguments": arguments}}


def keras_tensors_of(node: dict) -> list:
    """The Keras tensor dicts among a Keras operation node's arguments, in order."""
    values = list(node.get("args") or []) + list((node.get("kwargs") or {}).values())
    return [v for v in _walk(values) if isinstance(v, dict) and v.get("class_name") == "__keras_tensor__"]


def is_keras_operation(entry: dict) -> bool:
    """Whether a Keras config's layer entry is an operation (``keras.ops`` on symbolic values): by its module, or
    in a legacy (HDF5) config, which names none, by its class and config: an operation's holds its name and its
    class's arguments only, a layer's also its ``trainable`` and ``dtype`` (Reshape and Softmax are both)."""
    module = entry.get("module")
    if module is not None:
        return str(module).startswith(KERAS_MODULE_PREFIX)
    config = entry.get("config") or {}
    return str(entry.get("class_name")) in _CLASSES and "trainable" not in config and "dtype" not in config


_CLASSES = {spec[1] for spec in OPERATIONS.values()}


def is_operation(layer) -> bool:
    return isinstance(layer, Operation)


gpunn_ops.set_symbolic_call(symbolic_call)
