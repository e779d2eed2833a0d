"""Symbolic calls, Keras's functional API: ``x = Dense(64)(inputs)`` on ``inputs = keras.Input(shape=...)``
returns a ``SymbolicTensor``, a record of the call (the layer and what it was called on: one value, or the list
a merge layer takes), with the shape Keras's ``KerasTensor`` would have. ``keras.Model(inputs, outputs)``
(``models/functional.py``) follows these records back from the outputs to the inputs.

As in Keras, the call builds the layer for the shape it receives (its weights exist from then on).
"""
from __future__ import annotations

import itertools

import numpy as np

from .. import overrides
from . import several_outputs, text_inputs


def _operator(name: str, reverse: bool = False):
    """The array operator that is ``gpunn.ops.<name>`` on a symbolic value and a number, array or symbolic value."""
    def method(self, other):
        return self._operation(other, name, reverse)

    return method


class SymbolicArithmetic:
    """The array operators on symbolic values (a layer's output, an input), as Keras's KerasTensor takes them (a
    functional model or a subclassed model's call() writes them): ``x + y``, ``x - y``, ``x * y`` between two
    values of one shape are the merge layers Add, Subtract and Multiply; with a number, an array or a value of
    another shape, and the other operators (``/``, ``**``, ``@``, ``-x``, ``abs(x)``, ``x[:, 1:3]``, ``x > 0``...),
    they are the keras.ops operations Keras records (``operation.py``)."""

    _is_symbolic = True  # how gpunn.ops functions tell a model's symbolic value from an array (gpunn/autodiff)
    # NumPy's operators hand over to ours (``np.ones(4) * x`` is ``x.__rmul__``), and its functions refuse
    __array_ufunc__ = None

    def __tf_tensor__(self, dtype=None, name=None):
        # TensorFlow's conversion protocol, which tf.cast / tf.concat / tf.stack call first: refused with Keras's
        # reason (keras_tensor.py) instead of the error TensorFlow's fallbacks would give
        raise TypeError(f"{self!r} is a symbolic value of a model being built (keras.Input and what layers make of "
                        "it): it cannot be used as input to a TensorFlow function (tf.cast, tf.concat, ...), only to "
                        "a gpunn layer or a keras.ops operation (keras.ops.cast, keras.ops.concatenate, ...), which "
                        "the model records")

    sparse = False  # Keras's KerasTensor flags: gpunn's symbolic values are dense
    ragged = False

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def reshape(self, newshape):
        """Keras's ``KerasTensor.reshape``: ``keras.ops.reshape`` of the value, batch axis included."""
        from .. import ops

        return ops.reshape(self, newshape)

    def __array__(self, dtype=None, copy=None):
        # Keras's refusal (keras_tensor.py), where NumPy would make an object array of the symbolic value
        raise ValueError("A KerasTensor is symbolic: it's a placeholder for a shape an a dtype. It doesn't have any "
                         "actual numerical value. You cannot convert it to a NumPy array.")

    def __float__(self):
        self.__array__()

    __int__ = __float__

    def _merged(self, other, kind: str, reverse: bool = False):
        from .symbolic_masks import mask_of

        # (masked values: Keras's ``+`` is ops.add, which drops the masks, where the merge layer would combine them)
        if is_symbolic(other) and sample_shape_of(other) == sample_shape_of(self) and \
                mask_of(self) is None and mask_of(other) is None:
            from . import merging

            return getattr(merging, kind)([other, self] if reverse else [self, other])
        return self._operation(other, kind, reverse)

    def _operation(self, other, name: str, reverse: bool = False):
        from .operation import is_value_tensor

        if not isinstance(other, (int, float, np.generic, np.ndarray, list, tuple)) and not is_symbolic(other) and \
                not is_value_tensor(other):  # (a gpunn.ops result computed beforehand: a constant, as in Keras)
            return NotImplemented
        from .. import ops

        return getattr(ops, name)(*((other, self) if reverse else (self, other)))

    def __add__(self, other):
        return self._merged(other, "add")

    def __radd__(self, other):
        return self._merged(other, "add", reverse=True)

    def __sub__(self, other):
        return self._merged(other, "subtract")

    def __rsub__(self, other):
        return self._merged(other, "subtract", reverse=True)

    def __mul__(self, other):
        return self._merged(other, "multiply")

    def __rmul__(self, other):
        return self._merged(other, "multiply", reverse=True)

    # as Keras's KerasTensor takes them (``!=`` and ``==`` keep Python's meaning: symbolic values are compared and
    # hashed by identity)
    __truediv__, __rtruediv__ = _operator("true_divide"), _operator("true_divide", reverse=True)
    __floordiv__, __rfloordiv__ = _operator("floor_divide"), _operator("floor_divide", reverse=True)
    __mod__, __rmod__ = _operator("mod"), _operator("mod", reverse=True)
    __pow__, __rpow__ = _operator("power"), _operator("power", reverse=True)
    __matmul__, __rmatmul__ = _operator("matmul"), _operator("matmul", reverse=True)
    __lt__, __le__ = _operator("less"), _operator("less_equal")
    __gt__, __ge__ = _operator("greater"), _operator("greater_equal")
    __and__, __rand__ = _operator("logical_and"), _operator("logical_and", reverse=True)
    __or__, __ror__ = _operator("logical_or"), _operator("logical_or", reverse=True)
    __xor__, __rxor__ = _operator("logical_xor"), _operator("logical_xor", reverse=True)

    def __invert__(self):
        from .. import ops

        return ops.logical_not(self)

    def __round__(self, ndigits=None):
        from .. import ops

        return ops.round(self, 0 if ndigits is None else ndigits)

    def __iter__(self):
        # as Keras's KerasTensor: without it, __getitem__ would make ``a, b = x`` split the batch axis
        raise NotImplementedError("Iterating over a symbolic KerasTensor is not supported.")

    def __getitem__(self, key):
        from .. import ops

        return ops.get_item(self, key)

    def __neg__(self):
        from .. import ops

        return ops.negative(self)

    def __abs__(self):
        from .. import ops

        return ops.absolute(self)


_calls_made = itertools.count()


class SymbolicTensor(SymbolicArithmetic):
    """The output of ``layer`` called on ``parents`` (InputLayers or other SymbolicTensors: one, or those of a
    merge layer's list), of sample shape ``sample_shape``."""

    def __init__(self, layer, parents, sample_shape: tuple, training=None):
        self.layer = layer
        self.parents = tuple(parents)
        self._sample_shape = tuple(sample_shape)
        # A mode fixed in the call (``layer(x, training=False)``), which the model's own mode does not change
        self.training = training
        # When the call was made (Keras numbers a layer's calls, its "nodes", in the order they were made), or
        # the node index a model rebuilt from a config gives it
        self.sequence = next(_calls_made)
        self.node_index = None
        # The axes of any length (keras.Input(shape=(None, ...))) this value keeps: gpunn builds them at a
        # provisional length, Keras shows None there
        self.variable_axes = _variable_axes(self.parents, self._sample_shape, layer)

    @property
    def parent(self):
        """The one value a layer of one input was called on."""
        return self.parents[0]

    @property
    def shape(self) -> tuple:
        note_shape_read()
        return (None,) + tuple(None if axis in self.variable_axes else dim
                               for axis, dim in enumerate(self._sample_shape))

    @property
    def dtype(self) -> str:
        """float32, or Keras's integer or bool dtype of an operation's result (``ops.argmax``, a comparison)."""
        return getattr(self.layer, "keras_result_dtype", None) or "float32"

    @property
    def _keras_mask(self):
        """Keras's: the padding mask this value carries (``symbolic_masks.py``); no such attribute without one."""
        from .symbolic_masks import mask_of

        mask = mask_of(self)
        if mask is None:
            raise AttributeError(f"'{type(self).__name__}' object has no attribute '_keras_mask' (the value carries "
                                 "no padding mask)")
        return mask

    def __repr__(self) -> str:
        return f"<SymbolicTensor shape={self.shape} from layer {self.layer.name!r}>"

    def __bool__(self):
        raise TypeError("the truth value of a symbolic value is not known: a functional model (or a subclassed "
                        "model's call(), run on symbolic inputs) cannot branch on a layer's output")



def _variable_axes(parents, sample_shape, layer=None) -> tuple:
    """The axes of ``sample_shape`` that follow an input's length (of an ``Input(shape=(None, ...))``), from the
    parents' (several: those of any). A built-in layer of one input is asked: the output axes that change when
    those input axes are longer (a Flatten's one axis does, a pooling's do not). Otherwise kept where the layer
    leaves the axis as it is: the same shape out (an activation, a Dropout), or the leading axes kept while it
    works on the last one or adds axes after it (a Dense, an Embedding, a Concatenate); any other change of shape
    ends them."""
    axes: set = set()
    before = None
    for parent in parents:
        variable = getattr(parent, "variable_axes", ())
        if variable:
            axes.update(variable)
            if before is None:
                before = tuple(parent._sample_shape if isinstance(parent, SymbolicTensor) else parent.output_shape)
    if not axes:
        return ()
    after = tuple(sample_shape)
    # (a gpunn layer is asked first even where the shape is unchanged: a transpose of (length 2, 2 features) keeps
    # the shape and moves the axis)
    if layer is not None and overrides.is_gpunn_class(type(layer)):
        # twice as long: a Reshape((-1, 2)) that takes the built length takes this one too (one more might not);
        # a layer or operation of several inputs gets each of them so (a Concatenate along the unknown axis)
        def longer(parent) -> tuple:
            shape = tuple(parent._sample_shape if isinstance(parent, SymbolicTensor) else parent.output_shape)
            variable = getattr(parent, "variable_axes", ())
            return tuple(dim * 2 if axis in variable else dim for axis, dim in enumerate(shape))

        try:
            moved = tuple(layer.output_sample_shape(longer(parents[0]) if len(parents) == 1
                                                    else [longer(parent) for parent in parents]))
        except Exception:  # (a Reshape to a fixed shape takes one length only)
            return ()
        if len(moved) == len(after):
            return tuple(axis for axis, (dim, other) in enumerate(zip(after, moved)) if dim != other)
    if after == before:
        return tuple(sorted(axes))
    if len(after) < len(before):
        return ()
    return tuple(axis for axis in sorted(axes) if axis < len(after) and after[axis] == before[axis] and (
        axis < len(before) - 1 or len(after) > len(before)))


_shape_reads = [0]


def note_shape_read(depth: int | None = 2) -> None:
    """Count a read of a symbolic value's shape by the user's code (the frame ``depth`` up, when it is not gpunn's
    own; None: a read made for the user, ``ops.shape``), which a subclassed model's trace fixes at the traced
    shape (``shape_variants.py`` asks ``shape_reads``)."""
    import sys

    if depth is None or sys._getframe(depth).f_globals.get("__name__", "").split(".")[0] != "gpunn":
        _shape_reads[0] += 1


def shape_reads() -> int:
    """How many times the user's code has read a symbolic value's shape (``ops.shape`` too), so far."""
    return _shape_reads[0]


def is_symbolic(value) -> bool:
    from .input_layer import InputLayer

    return isinstance(value, (SymbolicTensor, InputLayer))


def sample_shape_of(value) -> tuple:
    """The sample shape (no batch axis) a symbolic value carries."""
    if isinstance(value, SymbolicTensor):
        return value._sample_shape
    return tuple(value.declared_input_shape)


def _fixed_training(layer, training):
    """A call's ``training``: None (the model's mode) or a fixed True / False, as Keras takes it."""
    if training is None or isinstance(training, (bool, np.bool_)):
        return None if training is None else bool(training)
    raise ValueError(f"training: layer {layer.name!r} takes training=None (the mode fit, evaluate and predict run "
                     f"in), True or False, got {training!r}")


def call_symbolic(layer, inputs, training=None, mask=None) -> SymbolicTensor:
    """``layer(inputs)`` on a symbolic input: the layer built for its shape, the call recorded. A fixed
    ``training`` holds in fit, evaluate and predict alike (``base_model(inputs, training=False)`` keeps its
    BatchNormalization in inference mode while it is fine-tuned), as in Keras."""
    training = _fixed_training(layer, training)
    if mask is not None:
        raise ValueError("mask: gpunn layers take no mask; leave mask=None")
    from ..models.sequential import _build_layer

    text_inputs.check_call(layer, inputs)
    text_inputs.note_strings(layer, inputs)
    if isinstance(inputs, list):  # a merge layer's inputs
        for i, value in enumerate(inputs):
            if not is_symbolic(value):
                raise ValueError(f"inputs[{i}]: layer {layer.name!r} is called on symbolic inputs (of keras.Input); "
                                 f"all its inputs must be, got {type(value).__name__}")
        shape = [sample_shape_of(value) for value in inputs]
        parents = inputs
    else:
        shape, parents = sample_shape_of(inputs), [inputs]
    # a layer of the user's gets None for the axes of any length in its build()'s shape, as Keras gives it (in
    # every build, the model's and those for other lengths too: user_layer._run_build)
    layer.__dict__["_unknown_build_axes"] = () if isinstance(inputs, list) else \
        tuple(getattr(inputs, "variable_axes", ()) or ())
    if not layer.built or _shapes(layer.input_shape) != _shapes(shape):
        _build_layer(layer, shape)
    if not isinstance(inputs, list):  # (a Sequential's layers were built before their graph is made)
        _refuse_weights_on_any_length(layer, shape, tuple(getattr(inputs, "variable_axes", ()) or ()))
    output = SymbolicTensor(layer, parents, layer.output_shape, training)
    text_inputs.mark_view(layer, inputs, output)
    if several_outputs.unpacks(layer):  # a layer of the user's returning several tensors: each a slice of its output
        output = several_outputs.unpack_symbolic(layer, output)
    # Keras's layer.input / layer.output: the tensors of the layer's first call ("node 0")
    layer.__dict__.setdefault("_first_call", (inputs, output))
    return output


def refuse_other_weights(layer, shape) -> None:
    """A built layer called on samples its weights do not fit (a Dense built for 2 features, then called on 3)
    is refused, as Keras's input spec refuses it; it was not rebuilt under the graphs it is in. A layer whose
    weights keep their shapes (none, or a table) takes the new shape."""
    from . import user_layer
    from .calling import _rebuilds_with_same_weights
    from .shared_call import is_shared_call

    if is_shared_call(layer) or not layer.has_weights or user_layer.is_user_layer_class(type(layer)):
        return
    if _rebuilds_with_same_weights(layer, shape):
        return
    built = layer.input_shape
    if "_first_call" in layer.__dict__:  # called in a graph already: this call would share it
        raise ValueError(f"layer: {layer.name!r} is called on inputs of shape {(None,) + _shapes(shape)} after "
                         f"inputs of shape {(None,) + _shapes(built)}; gpunn's shared layers take one input shape "
                         "(its weights are made for the first); call a new layer on these inputs")
    raise ValueError(f"Input 0 of layer {layer.name!r} is incompatible with the layer: it is built for samples of "
                     f"shape {_shapes(built)} (its weights are made for them), got samples of shape "
                     f"{_shapes(shape)}; call a new layer on these inputs")


def _refuse_weights_on_any_length(layer, shape: tuple, axes: tuple) -> None:
    """A built-in layer whose weights would follow an axis of any length (``Dense`` on ``Input(shape=(None,))``):
    refused, as Keras refuses it ("Shapes used to initialize variables must be fully-defined"), where gpunn would
    make them for the provisional length the graph is built at. Found by building it for another length."""
    if not axes or not overrides.is_gpunn_class(type(layer)) or not layer.weight_specs():
        return  # (a layer of the user's builds by its own code, which is not run again here)
    from .calling import _rebuilds_with_same_weights

    longer = tuple(dim + 1 if axis in axes else dim for axis, dim in enumerate(shape))
    if _rebuilds_with_same_weights(layer, longer):
        layer.build(shape)
        return
    shown = tuple(None if axis in axes else dim for axis, dim in enumerate(shape))
    raise ValueError(f"layer {layer.name!r} ({type(layer).__name__}) is called on samples of shape {shown}, whose "
                     "axes of any length (None) its weights' shapes would follow; give those axes a length, or "
                     "reduce them first (a pooling, an Embedding's ids), as Keras requires fully-defined weight "
                     "shapes")


def first_call(layer, what: str):
    """The input (``what`` 'input') or output of the layer's first call on symbolic values, as Keras's
    ``Operation.input`` / ``output`` (``_get_node_attribute_at_index(0, ...)``): a Sequential holding a layer not
    yet called makes its graph of symbolic values first, as Keras's Sequential does when it is built (the newest
    built one holding it, when it joined several)."""
    for holder in reversed(layer.__dict__.get("_sequential_holders", [])):
        if "_first_call" in layer.__dict__:
            break
        model = holder()
        if model is not None and model.built and any(held is layer for held in model._layers):
            model._symbolic_graph()
    if "_first_call" not in layer.__dict__:
        raise AttributeError(f"The layer {layer.name} has never been called and thus has no defined {what}.")
    inputs, output = layer.__dict__["_first_call"]
    return inputs if what == "input" else output


def _shapes(shape):
    """A sample shape, or a merge layer's list of them, comparable with ``==``."""
    if shape and isinstance(shape[0], (tuple, list)):
        return tuple(tuple(s) for s in shape)
    return tuple(shape)


class ModelCall(SymbolicTensor):
    """A Sequential model called on a symbolic input: its layers join the functional model in its place, the
    very objects (sharing their weights with it), as they join a Sequential it is added to."""


def _call_model_of_several_inputs(model, inputs, training) -> SymbolicTensor:
    """A functional model of several inputs called on symbolic values (the TF csv tutorial's
    ``preprocessing_head(inputs)``): a list or tuple in the order of its inputs, or a dict by their names; its
    layers join the calling model, reading those values in place of its inputs."""
    names = model._packed.names
    if getattr(model, "_output_indices", None) is not None:
        raise ValueError(f"model {model.name!r}: has several outputs (or its output in a list or dict); gpunn calls "
                         "models of one output inside another model")
    if isinstance(inputs, dict):
        missing = [name for name in names if name not in inputs]
        if missing:
            raise ValueError(f"inputs: model {model.name!r} takes the inputs {names}; the dict it is called on has "
                             f"no {missing}")
        values = [inputs[name] for name in names]
    elif isinstance(inputs, (list, tuple)) and len(inputs) == len(names):
        values = list(inputs)
    else:
        got = f"a {type(inputs).__name__} of {len(inputs)}" if isinstance(inputs, (list, tuple)) else \
            type(inputs).__name__
        raise ValueError(f"inputs: model {model.name!r} has {len(names)} inputs {names}; call it on a list of "
                         f"{len(names)} symbolic values in that order, or a dict by input name, got {got}")
    for name, value, input_layer in zip(names, values, model._input_layers):
        if not is_symbolic(value):
            raise ValueError(f"inputs[{name!r}]: model {model.name!r} is called on symbolic values (what keras.Input "
                             f"or a layer returns), got {type(value).__name__}")
        expected, got = tuple(input_layer.declared_input_shape), sample_shape_of(value)
        if expected != got:
            raise ValueError(f"inputs[{name!r}]: model {model.name!r} takes samples of shape {expected} there, got "
                             f"{got}")
        text_inputs.check_model_input(model, input_layer, value)
    return ModelCall(model, values, model.output_shape[1:], training)


def call_symbolic_model(model, inputs, training=None, mask=None) -> SymbolicTensor:
    """A model called on a symbolic input; a fixed ``training`` holds for each of its layers whose own call
    fixed none."""
    training = _fixed_training(model, training)
    if mask is not None:
        raise ValueError("mask: gpunn models take no mask; leave mask=None")
    if getattr(model, "_awaits_trace", False):  # a subclassed model first called in a graph: its graph from these
        from ..models import subclassed

        model._trace(subclassed.inputs_like("inputs", inputs))
    if getattr(model, "_packed", None) is not None:
        return _call_model_of_several_inputs(model, inputs, training)
    if getattr(model, "_output_indices", None) is not None:
        raise ValueError(f"model {model.name!r}: has several outputs (or its output in a list or dict); gpunn calls "
                         "models of one output inside another model")
    if isinstance(inputs, dict) and len(inputs) == 1:
        inputs = next(iter(inputs.values()))
    if isinstance(inputs, (list, tuple)) and len(inputs) == 1:
        inputs = inputs[0]
    if not is_symbolic(inputs):
        raise ValueError(f"inputs: model {model.name!r} has one input; it is called on one symbolic value (what "
                         f"keras.Input or a layer returns), got {type(inputs).__name__}")
    text_inputs.check_call(model, inputs)
    shape = sample_shape_of(inputs)
    if not model.built or tuple(model.input_shape[1:]) != shape:
        model.build((None,) + shape)
    output = ModelCall(model, [inputs], model.output_shape[1:], training)
    model.__dict__.setdefault("_first_call", (inputs, output))  # a Sequential's input / output (Keras's node 0)
    return output
