"""Layer: the shape every gpunn layer has.

A layer declares its weights (``weight_specs``), receives views into the model's flat buffers (``bind``),
and runs ``forward(x, training) -> (y, backprop)`` where ``backprop(dy, need_dx) -> dx`` writes the
weight gradients into the gradient views (overwriting, not accumulating: each weight is used once a step).
"""
from __future__ import annotations

import functools
import inspect
import warnings
from dataclasses import dataclass, field, replace
from typing import Any, Callable

import numpy as np

from .. import (activations, auto_config, compute_turns, constraints, dtype_policies, initializers, keras_objects,
               overrides, regularizers, step_calls)
from ..naming import snake_case, uniquify
from ..autodiff import Tensor
from ..autodiff.default_float import floatx
from ..autodiff.tensor import DETACHMENTS
from ..ops.workspace import Workspace, Workspaces
from . import (activity_losses, keyword_inputs, sublayers, symbolic, tf_pipeline, training_override,
               user_layer, user_masks, variable_paths)
from .calling import (bind_standalone, call_layer, call_on_several, compute_dtype, differentiated_call,
                      differentiated_call_on_several)
from .gradient_views import trained_names
from .variable import Variable
from .variable_lists import KerasVariableLists
from ..unknown_arguments import refuse_unknown
from ..tree import found_in

Backprop = Callable[..., Any]
def unique_name(prefix: str) -> str:
    return uniquify(prefix)


@dataclass
class WeightSpec:
    name: str
    shape: tuple[int, ...]
    initializer: initializers.Initializer
    regularizer: regularizers.Regularizer | None = None
    constraint: constraints.Constraint | None = None
    trainable: bool = True


@dataclass
class Bound:
    """The arrays a layer works with once a model has allocated its flat buffers.

    ``grads`` holds views only for the weights that model trains; ``trainable`` is the layer's ``trainable`` flag
    as that model last compiled it (BatchNormalization reads it to pick its mode, as Keras reads the flag when
    it traces the training step); ``owner`` is whoever handed out the views (a model's parameter store), so
    that a model can tell that a layer it shares with another model was bound to that model's buffers since."""

    weights: dict[str, Any] = field(default_factory=dict)
    grads: dict[str, Any] = field(default_factory=dict)
    trainable: bool = True
    owner: Any = None


def check_trainable(value) -> bool:
    """``trainable`` as a bool; anything else is refused (``bool('no')`` is True, which would freeze nothing)."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"trainable: expected True or False, got {value!r} (of type {type(value).__name__})")
    return bool(value)


def normalize_shape(argument: str, shape) -> tuple[int, ...]:
    if isinstance(shape, (int, np.integer)):
        shape = (int(shape),)
    try:
        dims = tuple(shape)
    except TypeError:
        raise TypeError(f"{argument}: expected a tuple of positive ints, got {shape!r}") from None
    for dim in dims:  # (int(2.5) would make a width of 2 without a word; Keras refuses other types too)
        if dim is not None and (isinstance(dim, bool) or not isinstance(dim, (int, np.integer))):
            raise ValueError(f"{argument}: expected a tuple of positive ints (or None), got {shape!r}: "
                             f"{dim!r} is a {type(dim).__name__}")  # (Keras's error type)
    shape = tuple(None if s is None else int(s) for s in dims)
    if any(s is not None and s <= 0 for s in shape):
        raise ValueError(f"{argument}: expected positive dimensions, got {shape!r}")
    return shape


def _warn_softmax_over_one_value(layer) -> None:
    """Keras's warning (keras/src/ops/nn.py ``softmax``) for a softmax activation over an axis of size 1, whose
    output is always 1 (``Dense(1, activation="softmax")``)."""
    activation = getattr(getattr(layer, "activation", None), "name", None)
    shape = layer.output_shape
    if activation == "softmax" and shape and not isinstance(shape[0], (tuple, list)) and shape[-1] == 1:
        warnings.warn(f"You are using a softmax over axis -1 of a tensor of shape {(None,) + tuple(shape)}. This "
                      "axis has size 1. The softmax operation will always return the value 1, which is likely not "
                      "what you intended. Did you mean to use a sigmoid instead?", stacklevel=3)


def weight_property(name: str, doc: str = ""):
    """A layer attribute (``dense.kernel``) giving the weight ``name`` as a Variable, as Keras's layers set
    ``self.kernel = self.add_weight(...)``; None when the built layer has no such weight (Keras's
    ``bias = None`` without ``use_bias``). Before the layer is built it raises AttributeError, as in Keras."""

    def get(self):
        if not self.built:
            raise AttributeError(f"{name}: layer {self.name!r} is not built yet, so it has no weights; add it to a "
                                 "built model or call it on data first")
        if not any(spec.name == name for spec in self.weight_specs()):
            return None
        return self.variable(name)

    return property(get, doc=doc or f"The weight {name!r} as a Variable (None when the layer has none).")


# gpunn's own attributes of a layer holding lists and dicts, never layers: not noted by ``Layer.__setattr__``
_UNTRACKED = frozenset({"_tracked", "_traced_weights", "_added_specs", "_variables", "_penalized",
                        "_regularized", "_constrained", "declared_input_shape", "input_shape", "output_shape",
                        "_added_now", "_repeats_now", "_repeated_call_twins", "_last_losses",
                        "_shared_from", "_frozen_variables"})


_NOT_GIVEN = object()


def _forgot_super_init(layer) -> RuntimeError:
    """Keras's error for a layer of the user's whose ``__init__`` did not call ``super().__init__()``."""
    return RuntimeError(f"In layer '{type(layer).__name__}', you forgot to call `super().__init__()` as the first "
                        "statement in the `__init__()` method. Go add it!")


def _takes_keras_shapes(build):
    """A built-in layer's ``build`` taking Keras's shapes, batch axis first (``layer.build((None, 4))``, as a
    user's build() passes them on to its sublayers), as well as gpunn's sample shapes."""
    if getattr(build, "takes_keras_shapes", False):
        return build

    # (Keras's Embedding and TextVectorization take ``build()`` alone: their ``input_shape=None`` stays None)
    parameters = list(inspect.signature(build).parameters.values())
    if len(parameters) < 2:
        return build
    shape_parameter = parameters[1]
    optional = shape_parameter.default is None

    @functools.wraps(build)
    def taking_keras_shapes(self, input_shape=_NOT_GIVEN, *args, **kwargs):
        if input_shape is _NOT_GIVEN or (input_shape is None and optional):
            if not optional:
                raise TypeError(f"{type(self).__name__}.build() missing 1 required positional argument: "
                                f"{shape_parameter.name!r}")
            return build(self, None, *args, **kwargs)
        return build(self, user_layer.sample_shape(input_shape), *args, **kwargs)

    taking_keras_shapes.takes_keras_shapes = True
    return taking_keras_shapes


def _nearest_gpunn_class(cls) -> type:
    """The first of gpunn's classes a class derives from: Layer for a layer of the user's written from scratch,
    which Keras's auto-config describes (a built-in layer has a get_config of its own in Keras)."""
    return next(klass for klass in cls.__mro__ if klass.__module__.split(".")[0] == "gpunn")


def keras_build_shape(layer):
    """The input shape of a built layer as Keras records it (its ``build_config``): batch axis None; for a layer
    of several inputs, the list of their shapes (a dict when it was called on one)."""
    shape = layer.input_shape
    if _several_shapes(shape):
        return user_layer.as_called(layer, [[None] + list(s) for s in shape])
    return [None] + list(shape)


def _overrides_compute_output_shape(cls) -> bool:
    """Whether a class outside gpunn gives the layer a ``compute_output_shape`` of its own (Keras's, batch first)."""
    own = getattr(cls, "compute_output_shape", None)
    return own is not None and own is not Layer.compute_output_shape and \
        (getattr(own, "__module__", None) or "").split(".")[0] != "gpunn"


def _several_shapes(shape) -> bool:
    """Whether a layer's ``input_shape`` holds the shapes of several inputs (a list of them, or a tuple of them
    for the merge layers), not one shape."""
    return isinstance(shape, list) or (isinstance(shape, tuple) and bool(shape)
                                       and all(isinstance(s, (tuple, list)) for s in shape))


class Layer(KerasVariableLists):
    # Masks (``masking.py``): Keras's flag for layers that pass the mask of their input on to their output, and
    # gpunn's for layers that compute with it (``mask_source`` is then the layer making it, set by the model).
    supports_masking = False
    mask_source = None

    @property
    def uses_mask(self) -> bool:
        """Whether the layer computes with the mask of its input: gpunn's that do say so; a layer of the user's
        does when its call() takes ``mask`` (``user_masks.py``)."""
        return user_masks.call_takes_mask(self)
    # Keras's: what the layer's inputs must be, set by a layer of the user's (``input_spec.py``); gpunn's own
    # layers check their inputs themselves.
    input_spec = None
    # Counts every ``bind`` of every layer: a model whose count has not moved since it last looked knows, without
    # visiting its layers, that none of them was bound to another model's buffers.
    bindings_made = 0

    def __new__(cls, *args, **kwargs):
        layer = super().__new__(cls)
        if cls.__module__.split(".")[0] != "gpunn":  # a class of the user's: Keras's auto-config (auto_config.py)
            auto_config.take_arguments(layer, args, kwargs)
        return layer

    def __setattr__(self, name, value):
        if name == "built" and value:
            variable_paths.fix_prefix(self)
            if not self.__dict__.get("built"):
                self._fix_weight_terms()
        if name in _UNTRACKED:
            object.__setattr__(self, name, value)
            return
        keras_objects.refuse_foreign_variable(self, name, value)
        if "name" not in self.__dict__ and isinstance(value, Variable) and \
                type(self).__module__.split(".")[0] != "gpunn":
            # (a weight needs the layer Layer.__init__ makes; a layer set before super().__init__() is kept, as
            # Keras keeps it, and the check waits for the call)
            raise _forgot_super_init(self)
        if name == "activation" and not user_layer.is_user_layer_class(type(self)):
            # a built-in layer's activation set anew (Keras's Grad-CAM example: ``layer.activation = None`` to
            # read the logits): what its call reads, as Keras's layers call whatever the attribute holds
            value = activations.get(value)
        if isinstance(value, Variable) and getattr(value._layer, "standalone_variable", False):
            # keras.Variable(...) set as an attribute: Keras tracks it as a weight; here it becomes one
            from ..standalone_variables import as_layer_weight

            value = as_layer_weight(self, name, value)
        if not (isinstance(value, (Layer, list, tuple, dict)) or sublayers.is_model(value)):
            object.__setattr__(self, name, value)
            return
        # Keras tracks a layer when it is assigned, or appended to a list the layer holds: the order of the layers
        # a layer of the user's holds (sublayers.py)
        if user_layer.is_user_layer_class(type(self)):
            value = sublayers.tracked(value, self)
        object.__setattr__(self, name, value)
        sublayers.note(self, value)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if training_override.is_training_override_class(cls):
            training_override.adapt(cls)
        if user_layer.is_user_layer_class(cls):  # Keras's way: build() and call() of the user's (user_layer.py)
            user_layer.adapt(cls)
        # A built-in layer computes with its own kernels: a __call__ of the user's over it would be skipped in a
        # model, and is refused when the layer is made (Layer.__init__); a call() is read (training_override.py)
        base = overrides.nearest_gpunn_class(cls)
        over_builtin = base is not Layer and not user_layer.is_user_layer_class(cls)
        cls._builtin_under_call = base if over_builtin and overrides.user_definition(cls, "__call__") else None
        if "build" in cls.__dict__ and not user_layer.is_user_layer_class(cls):
            cls.build = _takes_keras_shapes(cls.__dict__["build"])

    def add_metric(self, *args, **kwargs):
        """Removed in Keras 3, which says so (its message)."""
        raise NotImplementedError(
            "Layer `add_metric()` method is deprecated. Add your metric in `Model.compile(metrics=[...])`, or create "
            "metric trackers in init() or build() when subclassing the layer or model, then call "
            "`metric.update_state()` whenever necessary. (gpunn counts such a tracker on the layer's own calls, "
            "not when a model runs the layer: to log a value the model computes, make it an output of the model "
            "and give that output a metric.)")

    @property
    def input(self):
        """The symbolic input(s) of the layer's first call (Keras's ``layer.input``)."""
        return symbolic.first_call(self, "input")

    @property
    def output(self):
        """The symbolic output of the layer's first call (Keras's ``layer.output``): what a feature extractor,
        ``keras.Model(model.inputs, layer.output)``, ends at."""
        return symbolic.first_call(self, "output")

    def __init__(self, name=None, dtype=None, trainable=True, input_shape=None, input_dim=None,
                 activity_regularizer=None, autocast=True, **kwargs):
        base = getattr(type(self), "_builtin_under_call", None)
        if base is not None:
            owner = overrides.user_definition(type(self), "__call__")
            raise overrides.OverrideNotSupportedError(
                f"{owner.__name__}.__call__: gpunn does not run a __call__() of your own over its built-in "
                f"{base.__name__} (it computes with {base.__name__}'s own kernels, and a model would skip yours); "
                f"subclass gpunn.layers.Layer (keras.layers.Layer) instead, holding a {base.__name__} made in "
                "__init__ and calling it in call(), or making the weights with add_weight()")
        batch_input_shape = kwargs.pop("batch_input_shape", None)  # tf.keras 2's (Keras 3 refuses it)
        if batch_input_shape is not None and input_shape is None and input_dim is None:
            if not isinstance(batch_input_shape, (tuple, list)) or len(batch_input_shape) < 2:
                raise ValueError(f"batch_input_shape: expected (batch size or None, *sample shape), got "
                                 f"{batch_input_shape!r}")
            input_shape = tuple(batch_input_shape)[1:]  # (a fixed batch size changes nothing in gpunn)
        refuse_unknown(type(self).__name__, kwargs)
        if name is not None and (not isinstance(name, str) or "/" in name):  # Keras's rule: '/' separates paths
            raise ValueError(f"name: must be a string and cannot contain character `/`. Received: name={name!r}")
        self.name = name or unique_name(snake_case(type(self).__name__))
        from_config = isinstance(dtype, dict)  # (a config's serialized policy, which Keras writes for every layer)
        dtype = dtype_policies.dtype_name(dtype)  # a DTypePolicy's name (Keras: dtype=keras.DTypePolicy(...))
        default = dtype_policies.global_policy_name() if self.follows_global_policy else floatx()
        if from_config and dtype == default:
            dtype = None  # a config's default policy: the layer follows its model's dtype, as one given none
        if dtype is None:  # set_floatx / set_dtype_policy: Keras's layers take it (its InputLayer floatx only)
            dtype = None if default == "float32" else default
        try:
            known = None if dtype is None else np.dtype(dtype)
        except TypeError:
            known = None
        if dtype is not None and (known is None or known.kind != "f"):
            raise ValueError(f"dtype: expected a floating dtype such as 'float32' or 'float64', got {dtype!r}")
        self.dtype = None if known is None else known.name
        self.trainable = trainable
        # Keras's autocast casts float inputs to a mixed-precision policy's compute dtype; gpunn computes in the
        # layer's own dtype (no mixed precision), where it changes nothing, so it is kept for Keras's attribute
        self.autocast = bool(autocast)
        # Keras's: regularizer(output) / batch size added to the loss in training and evaluation
        # (trainer/activity.py)
        self.activity_regularizer = regularizers.get(activity_regularizer)
        if input_dim is not None:
            input_shape = (input_dim,)
        self.declared_input_shape = None if input_shape is None else normalize_shape("input_shape", input_shape)
        self.input_shape: tuple | None = None  # without the batch dimension
        self.output_shape: tuple | None = None
        self.built = False
        self.ops = None
        self.bound = Bound()
        self._workspaces = None
        self._variables: dict = {}  # weight name -> its Variable, made on first use (see ``variable``)

    @property
    def declared_dtype(self) -> str | None:
        """The float dtype the layer was given, None where it follows the model's (an InputLayer's ``dtype`` says
        Keras's ``floatx()`` then)."""
        return self.__dict__.get("_declared_dtype")

    @property
    def dtype(self) -> str:
        """Keras's ``layer.dtype`` (its variables' dtype): the dtype the layer was given, else its weights' (those
        of the model it computes in), else float32, Keras's default."""
        if self.declared_dtype is not None:
            return self.declared_dtype
        bound = self.__dict__.get("bound")
        for weight in bound.weights.values() if bound is not None else ():
            return np.dtype(weight.dtype).name
        return "float32"

    @dtype.setter
    def dtype(self, value) -> None:
        self.__dict__["_declared_dtype"] = value

    @property
    def dtype_policy(self):
        """Keras's ``layer.dtype_policy``: a DTypePolicy of the layer's dtype (float32 unless it was given one)."""
        return dtype_policies.DTypePolicy(self.dtype)

    @dtype_policy.setter
    def dtype_policy(self, policy) -> None:
        """Keras's setter: the layer computes in the policy's dtype from now on (float32 or float64; a layer whose
        weights are made keeps theirs, so it is refused another)."""
        name = dtype_policies.checked_policy_name("dtype_policy", dtype_policies.get(policy).name)
        bound = self.__dict__.get("bound")
        held = {np.dtype(w.dtype).name for w in bound.weights.values()} if bound is not None else set()
        if held and held != {name}:
            raise ValueError(f"dtype_policy: layer {self.name!r} holds {held.pop()} weights; a policy of {name!r} "
                             "is set before they are made (before the layer is built or fitted)")
        self.dtype = name

    @property
    def compute_dtype(self) -> str:
        return self.dtype_policy.compute_dtype

    @property
    def variable_dtype(self) -> str:
        return self.dtype_policy.variable_dtype

    @property
    def trainable(self) -> bool:
        """Whether a model trains this layer's weights. As in Keras, a change takes effect for a model at its next
        ``compile()`` (the model keeps the flags of its last compile until then, and warns in ``fit``)."""
        return self._trainable

    @trainable.setter
    def trainable(self, value) -> None:
        self._trainable = check_trainable(value)
        # As Keras, which sets the flag of each of the layer's variables: one frozen on its own trains again
        # with its layer
        self.__dict__.pop("_frozen_variables", None)
        sublayers.set_trainable(self, self._trainable)  # as Keras: a layer's flag goes down to its sublayers

    @property
    def has_weights(self) -> bool:
        return bool(self.weight_specs())

    # ---- construction -----------------------------------------------------------------------------
    def build(self, input_shape: tuple) -> None:
        if user_layer.is_user_layer_class(type(self)):
            user_layer.build_user_layer(self, input_shape)
            return
        self.input_shape = tuple(user_layer.sample_shape(input_shape))
        self.output_shape = self.output_sample_shape(self.input_shape)
        _warn_softmax_over_one_value(self)
        self.built = True

    def output_sample_shape(self, sample_shape):
        """The shape of an output sample for input samples of ``sample_shape`` (no batch axis; a list of them for
        a layer of several inputs): gpunn's layers compute with sample shapes. A layer class of the user's that
        defines Keras's ``compute_output_shape`` is asked through it."""
        if _overrides_compute_output_shape(type(self)) and not self.__dict__.get("_asking_its_class"):
            batch_shape = ([(None,) + tuple(s) for s in sample_shape] if _several_shapes(sample_shape)
                           else (None,) + tuple(sample_shape))
            # (its compute_output_shape may call super()'s, which comes back here: then the built-in's answer)
            self.__dict__["_asking_its_class"] = True
            try:
                return tuple(self.compute_output_shape(batch_shape))[1:]
            finally:
                self.__dict__.pop("_asking_its_class", None)
        return sample_shape

    def compute_output_shape(self, input_shape):
        """Keras's: the output shape for inputs of ``input_shape``, batch axis first (a list of shapes for a layer
        of several inputs), the batch size kept: ``Flatten().compute_output_shape((None, 4, 3)) == (None, 12)``.
        A layer of the user's written from Layer has none unless it defines it, as in Keras."""
        if _nearest_gpunn_class(type(self)) is Layer and type(self).__module__.split(".")[0] != "gpunn":
            raise NotImplementedError(f"Layer {type(self).__name__} does not have a `compute_output_shape` method "
                                      "implemented. Should implement `def compute_output_shape(self, input_shape)`.")
        shapes = list(input_shape) if _several_shapes(input_shape) else [input_shape]
        if any(not isinstance(shape, (tuple, list)) or len(shape) < 1 for shape in shapes):
            raise ValueError(f"input_shape: layer {self.name!r} ({type(self).__name__}) expects a shape with its "
                             f"batch axis first, such as (None, 8) (a list of them for several inputs), got "
                             f"{input_shape!r}")
        samples = [tuple(shape[1:]) for shape in shapes]
        found = self.output_sample_shape(samples if _several_shapes(input_shape) else samples[0])
        return (shapes[0][0],) + tuple(found)

    def get_build_config(self) -> dict | None:
        """Keras's: ``{"input_shape": shape}`` the layer was built for, batch axis None (the shapes of its inputs
        for a layer of several), None before it is built; ``build_from_config`` builds a layer from it."""
        if not self.built or self.input_shape is None:
            return None
        shape = keras_build_shape(self)
        if isinstance(shape, dict):
            return {"input_shape": {key: tuple(s) for key, s in shape.items()}}
        return {"input_shape": [tuple(s) for s in shape] if _several_shapes(self.input_shape) else tuple(shape)}

    def build_from_config(self, config) -> None:
        """Keras's: build the layer for ``config["input_shape"]`` (``get_build_config()``'s), or with the shapes of
        ``config["shapes_dict"]`` as build()'s keyword arguments (a Keras layer's build of several)."""
        if not config:
            return
        if "input_shape" in config:
            self.build(config["input_shape"])
        elif "shapes_dict" in config:
            self.build(list(config["shapes_dict"].values()))  # (spread over its build()'s arguments, in order)
        else:
            raise ValueError(f"build_from_config: expected get_build_config()'s dict, {{'input_shape': shape}}, got "
                             f"{config!r}")

    def weight_specs(self) -> list[WeightSpec]:
        if user_layer.runs_call(self):
            # those add_weight made, then those of the layers it holds (sublayers.py)
            return sublayers.flat_specs(self)
        return list(self.__dict__.get("_added_specs", []))

    follows_global_policy = True  # (made without a dtype: the global policy's; Keras's InputLayer: floatx)

    def _fix_weight_terms(self) -> None:
        """Keep each weight's regularizer and constraint as they are when the layer is built: Keras's variables
        take theirs at ``add_weight``, so a ``kernel_regularizer`` set on a built layer changes its config (a
        model made again from it has it: ``model_from_json(model.to_json())``), not what it trains with."""
        object.__setattr__(self, "_terms_at_build",
                           {spec.name: (spec.regularizer, spec.constraint) for spec in self.weight_specs()})

    def trained_weight_specs(self) -> list[WeightSpec]:
        """``weight_specs()`` with the regularizers and constraints of when the layer was built, those training
        applies (``_fix_weight_terms``)."""
        specs = self.weight_specs()
        fixed = self.__dict__.get("_terms_at_build")
        if not fixed:
            return specs
        return [replace(spec, regularizer=fixed[spec.name][0], constraint=fixed[spec.name][1])
                if spec.name in fixed else spec for spec in specs]

    def add_weight(self, *args, shape=None, initializer=None, dtype=None, trainable=True, autocast=True,
                   regularizer=None, constraint=None, aggregation="none", overwrite_with_gradient=False, name=None):
        """A weight of a layer of the user's (Keras's ``Layer.add_weight``), in ``__init__`` or ``build``: gpunn
        keeps it in the model's flat buffers like any layer's and returns its Variable, which ``call`` computes
        with. ``initializer``: None gives Glorot-uniform, as Keras gives a float weight. As Keras 3, it takes
        ``shape``, ``initializer`` and ``dtype`` by position too (Keras 2's order), the rest by keyword."""
        shape, initializer, dtype = _positional_weight_arguments(args, shape, initializer, dtype)
        if dtype is not None and np.dtype(dtype).kind != "f":
            raise ValueError(f"dtype: a weight of layer {self.name!r} is a floating-point array (gpunn keeps "
                             f"weights in the model's float buffers), got {dtype!r}")
        if overwrite_with_gradient:
            raise ValueError("overwrite_with_gradient: not supported; gpunn's optimizers update every weight")
        if aggregation not in ("none", "mean", "sum", "only_first_replica"):
            raise ValueError(f"aggregation: expected 'none', 'mean', 'sum' or 'only_first_replica', got "
                             f"{aggregation!r}")
        # autocast and aggregation change nothing here: gpunn has no mixed precision, and data-parallel ranks
        # average every weight's gradient and keep identical weights
        variable_paths.fix_prefix(self)
        specs = self.__dict__.setdefault("_added_specs", [])
        if name is None:  # (the first name not taken: a keras.Variable's may be)
            taken = {spec.name for spec in specs}
            name = next(f"variable_{k}" if k else "variable" for k in range(len(specs) + 1)
                        if (f"variable_{k}" if k else "variable") not in taken)
        if any(spec.name == name for spec in specs):
            raise ValueError(f"name: layer {self.name!r} already has a weight {name!r}")
        if not isinstance(name, str) or "/" in name:  # '/' separates the weights of sublayers (sublayers.py)
            raise ValueError(f"name: expected a string without '/' (as Keras's), got {name!r}")
        shape = normalize_shape("shape", () if shape is None else shape) if shape != () else ()
        if None in shape:  # (an axis of any length, which a build() may be given: Keras's refusal)
            raise ValueError(f"Shapes used to initialize variables must be fully-defined (no `None` dimensions). "
                             f"Received: shape={shape} for variable path='{self.name}/{name}'")
        specs.append(WeightSpec(name, shape,
                                initializers.get(initializer), regularizers.get(regularizer),
                                constraints.get(constraint), bool(trainable)))
        return self.variable(name)

    def add_variable(self, shape, initializer, dtype=None, trainable=True, autocast=True, regularizer=None,
                     constraint=None, name=None):
        """Keras's alias of ``add_weight``."""
        return self.add_weight(shape=shape, initializer=initializer, dtype=dtype, trainable=trainable,
                               autocast=autocast, regularizer=regularizer, constraint=constraint, name=name)

    def add_loss(self, loss) -> None:
        """Keras's ``add_loss`` in a ``call()`` of the user's: a scalar (or values summed) that the model adds to
        its loss in training and evaluation, differentiated with the layer (the guide's
        ActivityRegularizationLayer: ``self.add_loss(self.rate * ops.mean(inputs))``)."""
        user_layer.add_loss(self, loss)

    @property
    def losses(self) -> list:
        """As in Keras: the losses the last call gave ``add_loss`` (this layer's and those inside it), then each
        weight penalty, as host scalars."""
        return self._called_losses() + self._penalty_values()

    def _called_losses(self) -> list:
        """What the last call added: each layer's (this one's, then those inside it) add_loss terms, then its
        activity regularizer's (``activity_losses.py``)."""
        return [loss for _, owner in sublayers.owners(self)
                for loss in [*map(user_layer.host_scalar, owner.__dict__.get("_last_losses", [])),
                             *activity_losses.recorded(owner)]]

    def _penalty_values(self) -> list:
        if not (self.built and self.ops is not None):
            return []
        return [np.asarray(self.ops.to_numpy(regularizer_value)) for regularizer_value in self._weight_penalties()]

    def _weight_penalties(self) -> list:
        """The penalty of each trainable weight (Keras: of ``trainable_weights``), computed now."""
        trained = {spec.name for spec, counted in self._trained_kind() if counted}
        out = []
        with compute_turns.turn(self.ops):  # (the regularization workspace is a training step's too)
            for spec in self.trained_weight_specs():
                if spec.regularizer is not None and spec.name in trained and spec.name in self.bound.weights:
                    weight = self.bound.weights[spec.name]
                    term = self.ops.zeros((), weight.dtype)
                    spec.regularizer.penalty(self.ops, self.workspace("regularization"), weight, term)
                    out.append(term)
        return out

    def output_mask_source(self, source):
        """The layer making the mask of this layer's output, for an input whose mask ``source`` makes (None: no
        mask): passed on where the layer supports masking, else dropped with Keras's warning; a layer of the
        user's with a ``compute_mask`` of its own is asked (``user_masks.py``)."""
        return user_masks.output_mask_source(self, source)

    def compute_mask(self, inputs, previous_mask=None):
        """Keras's: the mask of the output for ``inputs`` carrying ``previous_mask``, passed on where the layer
        supports masking (Embedding and Masking make theirs)."""
        return previous_mask if self.supports_masking else None

    def mask_for(self, rows: int):
        """The mask this layer makes for its output, for batches of ``rows`` (a layer of the user's whose
        ``compute_mask`` makes one: ``user_masks.py``)."""
        return self.workspace(rows).buffer("mask", (rows,) + tuple(self._mask_shape), compute_dtype(self))

    def check_input_values(self, argument: str, x) -> None:
        """For the first layer of a model: refuse host data ``x`` (before its conversion to the model's dtype)
        whose values the layer cannot take, naming ``argument``. Any finite number is fine here."""

    def bind(self, ops, weights: dict, grads: dict, trainable: bool = True, owner=None) -> None:
        """Compute with these views from now on (see ``Bound``). Binding again on the same backend keeps the
        layer's workspaces: a layer shared by two models runs on the same scratch buffers for both."""
        if self._workspaces is None or self.ops is not ops:
            self._workspaces = Workspaces(ops)
        self.ops = ops
        self.bound = Bound(weights, grads, bool(trainable), owner)
        Layer.bindings_made += 1
        sublayers.bind_children(self, ops, weights, grads, trainable, owner)
        # Looked up once here, not on every training step. As in Keras (``Layer._get_regularization_losses``, of
        # ``trainable_weights``), the weights the model trains add their penalties to its loss, and get the
        # penalty's gradient: those with a gradient view.
        all_specs = self.trained_weight_specs()
        specs = [s for s in all_specs if s.regularizer is not None]
        trained = trained_names(grads)
        self._penalized = [(s.regularizer, weights[s.name]) for s in specs if s.name in trained]
        self._regularized = [(s.regularizer, weights[s.name], grads[s.name]) for s in specs if s.name in trained]
        # As Keras, which constrains the variables its optimizer trains: those with a gradient it applies.
        self._constrained = [(s.constraint, weights[s.name]) for s in all_specs
                             if s.constraint is not None and s.name in trained]
        for spec in all_specs:
            if spec.constraint is not None:
                # Each layer names the argument after its weight: kernel_constraint, gamma_constraint...
                spec.constraint.check_shape(f"{spec.name}_constraint of layer {self.name!r}", spec.shape)

    # ---- computation ------------------------------------------------------------------------------
    def forward(self, x, training: bool) -> tuple[Any, Backprop]:
        """(y, backprop): y written into this layer's workspace for x's batch size (see ``workspace``)."""
        if user_layer.is_user_layer_class(type(self)):
            return user_layer.forward(self, x, training)
        raise NotImplementedError

    def call(self, inputs, training=None, **kwargs):
        """A built-in layer's ``call()``: what a subclass's ``super().call(inputs, training=True)`` reaches
        (``training_override.py``); on the layer itself, ``layer(inputs)``."""
        return training_override.super_call(self, inputs, training=training, **kwargs)

    def workspace(self, rows: int) -> Workspace:
        """This layer's buffers for batches of ``rows`` samples, made on the first step of that size."""
        if step_calls.open_now() and isinstance(rows, int):  # (a forward pass inside a step's loss: step_calls.py)
            step_calls.refuse_own_layer(self)
            step_calls.note_forward(self)
        return self._workspaces(rows)

    def regularization_penalty(self, out) -> None:
        """Write the sum of this layer's weight penalties into the 0-d buffer ``out`` (0 when it has none)."""
        ops = self.ops
        ops.fill(0, out)
        if not self._penalized:
            return
        ws = self.workspace("regularization")
        for regularizer, weight in self._penalized:
            term = ws.buffer(f"penalty.{weight.dtype}", (), weight.dtype)
            regularizer.penalty(ops, ws, weight, term)
            if term.dtype != out.dtype:  # a mixed-dtype add would allocate a casting buffer; a copy does not
                term = ops.copy_into(term, ws.buffer(f"penalty.{out.dtype}", (), out.dtype))
            ops.add(out, term, out)

    def add_regularization_gradients(self) -> None:
        """Add each weight penalty's gradient to its gradient view. The model calls this after backward (and
        after the sum over ranks: the penalty depends on the weights alone, so each rank adds it once)."""
        if not self._regularized:
            return
        ws = self.workspace("regularization")
        for regularizer, weight, grad in self._regularized:
            regularizer.add_gradient(self.ops, ws, weight, grad)

    def apply_constraints(self) -> None:
        """Project each trained weight onto its constraint, in place. The model calls this after the optimizer's
        update, as Keras's optimizer does after applying gradients."""
        if not self._constrained:
            return
        ws = self.workspace("constraints")
        for constraint, weight in self._constrained:
            constraint.apply(self.ops, ws, weight)

    # ---- Keras-facing -----------------------------------------------------------------------------
    def variable(self, name: str) -> Variable:
        """The weight ``name`` as a Keras Variable (always the same object for a name): it reads and writes the
        weight wherever the layer computes with it at that moment (see ``variable.py``)."""
        found = self._variables.get(name)
        if found is None:
            found = sublayers.variable_of(self, name) if "/" in name else None
            found = self._variables[name] = Variable(self, name) if found is None else found
        return found

    @property
    def metrics(self) -> list:
        """Keras's ``Layer.metrics``: the Metric objects the layer holds as attributes (in lists, tuples and dicts
        too), then those of the layers it holds, each once (a built-in layer holds none)."""
        from ..metrics.base import Metric

        def held(layer, seen) -> list:  # (its own first, then its layers', as Keras lists them)
            values = found_in(list(vars(layer).values()), lambda v: isinstance(v, (Metric, Layer)))
            found = [value for value in values if isinstance(value, Metric)]
            for value in values:
                if isinstance(value, Layer) and id(value) not in seen:
                    seen.add(id(value))
                    found += held(value, seen)
            return found

        return list({id(metric): metric for metric in held(self, {id(self)})}.values())

    @property
    def weights(self) -> list:
        """As in Keras: the layer's Variables, in the order of ``get_weights`` (``np.asarray(w)`` reads one)."""
        return [self.variable(s.name) for s in self.weight_specs()] if self._holds_weights() else []

    def _holds_weights(self) -> bool:
        """Built, or holding weights that ``add_weight`` made before any build (in ``__init__``, as Keras's
        subclassing guide makes them): Keras makes those at once, so they are read and set before any call."""
        return self.built or bool(self.__dict__.get("_added_specs"))

    def _trained_kind(self) -> list[tuple[Any, bool]]:
        """(spec, whether Keras counts it trainable now): the trainable kind, of a layer (this one, or the one
        inside it that made the weight) whose flag is True, while this layer's is True."""
        if user_layer.runs_call(self):
            pairs = sublayers.flat_specs_and_owners(self)
        else:
            pairs = [(spec, self) for spec in self.weight_specs()]
        return [(spec, spec.trainable and owner.trainable and self.trainable
                 and not sublayers.frozen_on_its_own(owner, spec.name)) for spec, owner in pairs]

    @property
    def trainable_weights(self) -> list:
        """As in Keras: the trainable-kind weights while ``trainable`` is True, else none."""
        if not self._holds_weights():
            return []
        return [self.variable(spec.name) for spec, trained in self._trained_kind() if trained]

    @property
    def non_trainable_weights(self) -> list:
        """As in Keras: every weight of a frozen layer, else those that are never trained (moving statistics)."""
        if not self._holds_weights():
            return []
        return [self.variable(spec.name) for spec, trained in self._trained_kind() if not trained]

    def _standalone_weights(self) -> None:
        """A layer built by ``layer.build(shape)`` alone has weights, as Keras's ``build`` makes them: drawn from
        their initializers when first read (a model binds them to its buffers, keeping their values)."""
        if self._holds_weights() and self.bound.owner is None and any(
                s.name not in self.bound.weights for s in self.weight_specs()):
            from ..ops import get_ops

            bind_standalone(self, get_ops(), compute_dtype(self))

    def get_weights(self) -> list[np.ndarray]:
        if not self._holds_weights():
            return []
        traced = getattr(self, "_traced_weights", None) or {}
        if any(getattr(weight, "requires_grad", False) for weight in traced.values()):
            DETACHMENTS.count += 1  # (values off the gradient, read in a call() being differentiated: user_layer.py)
        self._standalone_weights()
        with compute_turns.turn(self.ops):  # (not halfway through another thread's training step)
            # (where each lives now: a layer it holds may have run in another model since: sublayers.held_weights)
            views = sublayers.held_weights(self)
            return [views[s.name][0].to_numpy(views[s.name][1]).copy() for s in self.weight_specs()]

    def set_weights(self, weights) -> None:
        if not self._holds_weights():
            raise ValueError(f"weights: layer {self.name!r} is not built yet, so its weights have no shapes; build it "
                             "(add it to a built model, or call it on data) first")
        specs = self.weight_specs()
        if len(weights) != len(specs):
            raise ValueError(f"weights: layer {self.name!r} expects {len(specs)} arrays, got {len(weights)}")
        weights = [np.asarray(value) for value in weights]
        for spec, value in zip(specs, weights):
            if value.shape != spec.shape:
                raise ValueError(
                    f"weights: layer {self.name!r} weight {spec.name!r} expects shape {spec.shape}, got {value.shape}"
                )
        if any(spec.name not in self.bound.weights for spec in specs):  # built on its own, never called
            from ..ops import get_ops

            bind_standalone(self, get_ops(), compute_dtype(self))
        with compute_turns.turn(self.ops):
            views = sublayers.held_weights(self)  # (where each lives now, as get_weights reads them)
            for spec, value in zip(specs, weights):
                ops, array = views[spec.name]
                array[...] = ops.asarray(value, dtype=array.dtype)

    def count_params(self) -> int:
        return sum(int(np.prod(s.shape)) for s in self.weight_specs())

    def __call__(self, inputs=keyword_inputs.NOT_GIVEN, *more, training=None, mask=None, **keywords):
        """``layer(x)``: the layer's output for the array ``x`` (NumPy, or CuPy on the GPU backend), as a new
        backend array (NumPy on the CPU). As in Keras, a layer not built yet is built for x's samples and gets
        its weights; ``training=True`` runs it as in training (Dropout drops, BatchNormalization updates its
        moving statistics). See ``calling.py``. A layer of the user's whose ``call()`` takes several inputs
        (``layer(targets, logits)``) is called on them as on a list; for others, ``more`` is Keras's positional
        ``training`` and ``mask``. Inputs given by keyword (``layer(logits, targets=None)``) are put in the order
        of call()'s arguments (``keyword_inputs.py``)."""
        if "name" not in self.__dict__:  # (Layer.__init__ never ran)
            raise _forgot_super_init(self)
        if tf_pipeline.is_pipeline_tensor(inputs):  # inside tf.data's map (tf_pipeline.py)
            return tf_pipeline.call_in_pipeline(self, inputs, training)
        if keywords or inputs is keyword_inputs.NOT_GIVEN:
            inputs, more = keyword_inputs.positional_inputs(self, inputs, more, keywords,
                                                            user_layer.is_user_layer_class(type(self)))
            if more:  # inputs, never training and mask
                self._spread_call = True
        if more:
            inputs, training, mask = self._positional(inputs, more, training, mask)
        if symbolic.is_symbolic(inputs):  # the functional API: x = Dense(64)(inputs)
            return symbolic.call_symbolic(self, inputs, training, mask)
        if isinstance(inputs, Tensor) and not user_layer.tracing():  # a gpunn.ops result, outside any call()
            if step_calls.differentiated_here([inputs]):  # y_pred in a loss: differentiated through
                return differentiated_call(self, inputs, training, mask)
            inputs = inputs.value
        if isinstance(inputs, Tensor):  # inside a call() of the user's: a sublayer (sublayers.py)
            return user_layer.call_sublayer(self, inputs, training, mask)
        takes_several = user_layer.is_user_layer_class(type(self)) or getattr(type(self), "takes_several_inputs", False)
        _refuse_nested_inputs(self, inputs)
        if isinstance(inputs, dict) and inputs and takes_several and all(
                symbolic.is_symbolic(value) for value in inputs.values()):
            # A layer of the user's called on a dict (Keras's structured-data tutorials: ``Classifier()(inputs)``):
            # called on the list of its values, its call() given them as the dict again (user_layer.py)
            self.__dict__["_input_keys"] = [str(key) for key in inputs]
            return symbolic.call_symbolic(self, list(inputs.values()), training, mask)
        if isinstance(inputs, dict) and inputs and user_layer.is_user_layer_class(type(self)) and \
                not user_layer.tracing() and not any(symbolic.is_symbolic(value) for value in inputs.values()):
            # the same on a dict of arrays, as Keras's eager call takes it: its call() given the dict again (in the
            # order of its keys at the first call, which the layer was built for)
            keys = self.__dict__.get("_input_keys")
            if keys is None or len(keys) != len(inputs) or any(key not in inputs for key in keys):
                keys = self.__dict__["_input_keys"] = list(inputs)  # (its keys as given: 0, "a"...)
            self.__dict__["_given_key_order"] = list(inputs)  # its call() gets the dict in the order given
            try:
                return call_on_several(self, [inputs[key] for key in keys], training)
            finally:
                del self.__dict__["_given_key_order"]
        several = isinstance(inputs, (list, tuple))
        if several and step_calls.differentiated_here(inputs):
            return differentiated_call_on_several(self, list(inputs), training)  # [y_pred, y_true] in a loss
        # (a Lambda takes several inputs as a layer of the user's does: ``Lambda(sampling)([z_mean, z_log_var])``)
        if several and (takes_several or type(self).__name__ == "Lambda"):
            if user_layer.tracing() and all(isinstance(value, Tensor) for value in inputs):
                return user_layer.call_sublayer(self, list(inputs), training)
            if inputs and all(symbolic.is_symbolic(value) for value in inputs):  # layer([a, b]) in a graph
                return symbolic.call_symbolic(self, list(inputs), training, mask)
            return call_on_several(self, inputs, training)
        if user_layer.tracing() and isinstance(inputs, (list, tuple, dict)):
            raise TypeError(f"layer {self.name!r} takes several inputs inside a layer's call(), which gpunn does not "
                            "run; combine them there with gpunn.ops (x + y, gpunn.ops.concatenate([x, y], axis=-1))")
        return call_layer(self, inputs, training, mask)

    def _positional(self, inputs, more: tuple, training, mask):
        if user_layer.is_user_layer_class(type(self)) and (
                user_layer.spreads_inputs(self) or all(symbolic.is_symbolic(value) for value in more)):
            self._spread_call = True  # (``call(self, logits, targets=None)`` called ``layer(logits, targets)``)
            return [inputs, *more], training, mask
        names = getattr(type(self), "positional_call_arguments", ("training", "mask"))
        given = dict(zip(names, more))
        if len(more) > len(names) or training is not None and "training" in given or \
                mask is not None and "mask" in given:
            raise TypeError(f"layer {self.name!r}: called with {1 + len(more)} positional arguments; its call() "
                            f"takes the inputs, then {' and '.join(names)}")
        return inputs, given.get("training", training), given.get("mask", mask)

    def get_config(self) -> dict:
        config = {"name": self.name, "trainable": self.trainable}
        if type(self).get_config is Layer.get_config and auto_config.AUTO_CONFIG in self.__dict__ and \
                _nearest_gpunn_class(type(self)) is Layer:
            # a class of the user's without a get_config: the arguments it was made with (Keras's auto-config)
            named = auto_config.named_arguments(self)
            if named is None:
                raise auto_config.not_serializable(self)
            config = {**named, "trainable": self.trainable}
        # Keras's: the layer's policy, serialized (``from_config`` takes the default one back as no dtype given)
        config["dtype"] = dtype_policies.serialize(dtype_policies.DTypePolicy(self.dtype))
        if self.declared_input_shape is not None:
            config["input_shape"] = list(self.declared_input_shape)
        if self.activity_regularizer is not None:  # as Keras's Layer.get_config writes it
            config["activity_regularizer"] = regularizers.serialize(self.activity_regularizer)
        return config

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r}>"


def _positional_weight_arguments(args: tuple, shape, initializer, dtype) -> tuple:
    """``add_weight(shape, initializer, dtype)`` by position, checked as Keras 3 checks it (its messages)."""
    if len(args) > 3:
        raise TypeError(f"add_weight() takes at most 3 positional arguments but {len(args)} were given.")
    if args and isinstance(args[0], str):
        raise ValueError(f"`name` must be passed as a keyword argument. Received: add_weight('{args[0]}', ...). "
                         f"Use: add_weight(shape=..., name='{args[0]}').")
    given = [shape, initializer, dtype]
    for k, (label, value) in enumerate(zip(("shape", "initializer", "dtype"), args)):
        if given[k] is not None:
            raise ValueError(f"`{label}` was passed both positionally and as a keyword argument.")
        given[k] = value
    return tuple(given)


def _refuse_nested_inputs(layer, inputs) -> None:
    """A dict or list of inputs holding another (``layer({"foo": a, "bar": {"baz": b}})``): Keras hands the
    structure to call() as it is; gpunn's layers take one level of several inputs, and says so by name rather than
    failing on the inner structure as an array."""
    if not isinstance(inputs, (dict, list, tuple)):
        return
    def holds_arrays(value) -> bool:  # (a list of lists of numbers is one array's data, layer([[1.0, 2.0]]))
        if isinstance(value, dict):
            return True
        return isinstance(value, (list, tuple)) and any(
            hasattr(item, "shape") or holds_arrays(item) for item in value)

    items = inputs.items() if isinstance(inputs, dict) else enumerate(inputs)
    for key, value in items:
        if isinstance(value, (dict, list, tuple)) and holds_arrays(value):
            raise ValueError(f"inputs: layer {layer.name!r} is given a nested structure (item {key!r} is a "
                             f"{type(value).__name__}); gpunn's layers take one array, or one flat list or dict "
                             "of them: flatten it ({'foo': a, 'baz': b})")
