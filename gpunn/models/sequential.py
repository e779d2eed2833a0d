"""Sequential: a stack of layers whose weights live in one flat parameter buffer (and one gradient buffer).

Building allocates the buffers on the current backend's device and hands each layer views into them
(``parameter_store.py``); the backend (``Ops``) chosen at build time stays with the model.

Keras semantics kept here:

- ``trainable``: which weights go into the trained buffer follows the flags of the last ``compile()`` (Keras:
  "Trainable variables are determined at `compile()` time"); a change re-packs the buffers, keeping every value,
  when the next training step is made. ``model.trainable = x`` sets every layer's flag, as Keras's setter does.
- Layers that already hold weights keep them in a new model (``Sequential(base.layers[:-1] + [Dense(2)])``),
  and layers shared by two models share their weights: see ``parameter_store.py``.
- A Sequential given as a layer (``Sequential([model, Softmax()])``, Keras's first tutorial) adds its layers, the
  same objects in order, so they share their weights with it; the outer model predicts and trains them as its
  own. Unlike Keras, ``layers`` then lists those layers, not the inner model (and ``pop`` removes its last one).
- ``model(x)`` / ``model(x, training=True)``: the outputs for x as a backend array, as Keras's eager call.
"""
from __future__ import annotations

import contextlib
import warnings
import weakref

import numpy as np

from .. import compute_turns, overrides, step_calls
from ..custom_objects import custom_object_scope
from ..io_utils import print_msg
from ..layers import (activity_losses, masking, sublayers, symbolic, text_inputs, user_layer, user_masks,
                      variable_paths, wiring)
from ..layers.base import Layer, check_trainable, unique_name
from ..layers.input_layer import InputLayer
from ..layers.input_spec import check_layer_inputs
from ..layers.shared_call import is_shared_call
from ..layers.variable_lists import KerasVariableLists
from ..unknown_arguments import refuse_unknown
from ..ops import get_ops
from .model_entries import entries, owners
from .parameter_store import ParameterStore
from .summary import format_summary
from ..trainer import Trainer
from ..trainer import trainable_state
from . import build_config, keras_config
from . import save as save_module


class NotBuiltError(ValueError, AttributeError):
    """The model has no weights yet. An AttributeError too, as Keras's for ``input_shape`` / ``output`` of a model
    not built: ``hasattr(model, "input_shape")`` is False then."""


class Sequential(Trainer, KerasVariableLists):
    """A linear stack of layers: ``Sequential([Dense(64, activation='relu'), Dense(10)])`` or ``.add(layer)``."""

    def __init__(self, layers=None, trainable=True, name=None):
        if isinstance(trainable, str) and name is None:  # tf.keras 2's order, Sequential(layers, "name")
            trainable, name = True, trainable
        if not getattr(self, "is_functional", False) and overrides.user_definition(type(self), "call"):
            overrides.refuse(type(self), "call", "a Sequential model",
                             "a Sequential runs its layers in order; to compute something else, subclass "
                             "keras.Model (gpunn.Model), make the layers in __init__ and wire them in call()")
        self.name = name or unique_name("sequential")
        # As in Keras, the constructor's flag is the model's own (the layers keep theirs; none is trained while
        # the model's is False); the setter sets every layer's.
        self._trainable = check_trainable(trainable)
        self._input_layer: InputLayer | None = None
        self._layers: list[Layer] = []
        # The calls the layers run as, in order, when a layer is called more than once (layers/shared_call.py);
        # None: each layer once, the calls are ``_layers``. ``_sources``, ``_modes`` and ``_output_indices``
        # index the calls.
        self._call_list: list | None = None
        self._call_nodes: tuple | None = None  # each call's node index (Keras's numbering of a layer's calls)
        # How the layers connect (layers/wiring.py): None for a chain, else per layer the indices it reads
        self._sources: tuple | None = None
        # Per layer, the ``training`` its functional call fixed (None: the model's mode); None when none did
        self._modes: tuple | None = None
        # A functional model of several inputs: how they are packed into the one array it runs on
        self._packed = None
        # A functional model of several outputs: the indices of the layers making them (None: the last layer),
        # and the keys naming them when they were given as a dict
        self._output_indices: tuple | None = None
        self._output_keys: list | None = None
        self._built_input_shape: tuple | None = None
        self.built = False
        self.ops = None
        self._store: ParameterStore | None = None
        self._config_dtype: str | None = None  # a dtype get_config recorded, see ``dtype``
        # (layer, the layer making its mask) for each layer using a mask, and the source of the output's mask
        self._mask_links: list = []
        self._output_mask_source = None
        self._init_training_state()
        for layer in layers or []:
            self.add(layer)

    def __reduce__(self):
        # pickle, joblib and copy.deepcopy take the model as its .keras file's bytes, as Keras's models do
        from .pickling import reduce_model

        return reduce_model(self)

    # ---- structure --------------------------------------------------------------------------------
    @property
    def trainable(self) -> bool:
        """Setting it sets the model's flag and every layer's, as Keras's ``Layer.trainable`` setter does. Takes
        effect at the next ``compile()``, like any change of ``trainable``."""
        return self._trainable

    @trainable.setter
    def trainable(self, value) -> None:
        self._trainable = check_trainable(value)
        for layer in self._layers:
            layer.trainable = self._trainable
        # and the InputLayers, which Keras's setter reaches too (its model.layers shows them so; they hold nothing)
        for source in self.__dict__.get("_input_layers", ()) or ():
            source.trainable = self._trainable
        # A model added as a layer, or called in a functional model, is one of Keras's sublayers: its flag follows
        for model in self.__dict__.get("_held_models", ()):
            model.trainable = self._trainable

    def __getattr__(self, name: str):
        # (only for names the model lacks: a torch loop's model.zero_grad() gets what to do instead)
        from ..foreign_loops import missing_model_attribute

        return missing_model_attribute(self, name, getattr(super(), "__getattr__", None))

    @property
    def layers(self) -> list[Layer]:
        """The model's layers in order, as Keras lists them: a Sequential added as a layer is one entry
        (``model_entries.py``; its layers run in its place, ``_graph_layers``); a layer its chain calls again is
        listed again, as in Keras."""
        if self._call_list is not None and not getattr(self, "is_functional", False):
            return entries(self, [call.layer if is_shared_call(call) else call for call in self._call_list])
        return entries(self, self._layers)

    @property
    def _graph_layers(self) -> list:
        """The layers as the model runs and saves them (those of a model added as a layer in its place; a
        functional model's InputLayers included; for a subclassed model those of its traced graph, where
        ``layers`` is Keras's list of what it holds)."""
        return list(self._layers)

    def add(self, layer: Layer, rebuild: bool = True) -> None:
        """Keras's: ``layer`` after the others; a model that knows its input shape is built again, unless
        ``rebuild=False`` (then at its first use)."""
        before = list(self._layers)
        if isinstance(layer, Sequential):
            if getattr(layer, "_awaits_trace", False):
                self._trace_added_model(layer)
            self._add_model(layer)
            self._tell_holders(before)
            return
        if not isinstance(layer, Layer):  # (Keras's ValueError)
            raise ValueError(f"Only instances of `keras.Layer` can be added to a Sequential model. Received: {layer!r} "
                             f"(of type {type(layer)})")
        if isinstance(layer, InputLayer):
            if self._layers or self._input_layer is not None:
                raise ValueError("layer: an Input/InputLayer can only be the first layer of a Sequential model")
            self._input_layer = layer
        elif any(existing is layer for existing in self._layers):
            self._call_again(layer)
        else:
            if any(existing.name == layer.name for existing in self._layers):
                raise ValueError(f"layer: the model already has another layer named {layer.name!r}; names must be "
                                 "unique")
            if self._call_list is not None:  # (after a layer called again: the chain goes on through its calls)
                self._call_list.append(layer)
                self._call_nodes = self._call_nodes + (0,)
            self._layers.append(layer)
            self._hold(layer)
        self._invalidate()
        if rebuild and self.declared_input_shape is not None and self._layers:
            Sequential.build(self)  # as in Keras: a model that knows its input shape is built as it is assembled
        self._tell_holders(before)

    def _call_again(self, layer: Layer) -> None:
        """The same layer added again (a residual block four times, "Hands-On Machine Learning" chapter 12): as in
        Keras, the chain calls it again, with the same weights (a shared call, ``shared_call.py``)."""
        from ..layers.shared_call import SharedCall

        if getattr(self, "is_functional", False):
            raise ValueError(f"layer: {layer.name!r} is a layer of this model already; call it again on a tensor "
                             "instead")
        calls = list(self._calls)
        node = sum((call.layer if is_shared_call(call) else call) is layer for call in calls)
        self._call_list = calls + [SharedCall(layer)]
        self._call_nodes = tuple(self._nodes) + (node,)

    def _refuse_repeated_calls(self, what: str) -> None:
        """Keras's config of a Sequential lists each layer once, so its file of a chain calling a layer again is one
        it cannot load: refused by name rather than written."""
        if self._call_list is not None and not getattr(self, "is_functional", False):
            raise ValueError(f"{what}: model {self.name!r} calls a layer more than once in its chain, which a "
                             "Sequential's config cannot say (Keras's lists each layer once); save_weights() keeps its "
                             "weights, or build it as a functional model calling the layer again")

    def _tell_holders(self, before: list) -> None:
        """This model's layers changed (``add``, ``pop``) after it was added to other Sequentials: their runs of
        its layers follow, as a Keras Sequential holding it calls it with its layers of now."""
        for ref in self.__dict__.get("_holders", ()):
            holder = ref()
            if holder is not None and self in holder.__dict__.get("_held_models", ()):
                holder._follow_held_model(self, before)

    def _follow_held_model(self, model: "Sequential", before: list) -> None:
        ids = {id(layer) for layer in before}
        places = [i for i, layer in enumerate(self._layers) if id(layer) in ids]
        if getattr(self, "is_functional", False):
            # a functional model's graph was made from the layers the model had when it was called (Keras's
            # call runs its layers of now): it keeps running those, as layers of its own, and says so
            self._held_models = [held for held in self._held_models if held is not model]
            warnings.warn(f"model {model.name!r} changed after model {self.name!r} called it as a layer; "
                          f"{self.name!r} keeps running the layers {model.name!r} had then (Keras would run its "
                          "layers of now): call it again in a new functional model", stacklevel=4)
            return
        if not places:
            return
        mine = list(self._layers)
        self._layers[places[0]:places[-1] + 1] = list(model._layers)
        for layer in model._layers:
            self._hold(layer)
        self._invalidate()
        if self.declared_input_shape is not None and self._layers:
            try:
                Sequential.build(self)
            except ValueError:
                pass  # layers that no longer fit: left unbuilt, the error comes at its next use, as in Keras
        self._tell_holders(mine)

    def _trace_added_model(self, model) -> None:
        """A subclassed model not yet called learns its layers from its call() on what this model's chain makes
        (Keras builds it at the Sequential's first call; gpunn adds its layers in its place, so it needs them now)."""
        shape = self.declared_input_shape
        if shape is not None and self._layers:
            if not self.built:
                Sequential.build(self)
            shape = self.output_shape[1:]
        if shape is None:
            raise ValueError(
                f"layer: the model {model.name!r} ({type(model).__name__}, a subclass of keras.Model) learns its "
                "layers from its call() on the first data it sees, and this Sequential does not know its input "
                "shape yet: start the Sequential with keras.Input(shape=...), call the model once on data before "
                "adding it (model(x[:1])), or make the class a subclass of keras.layers.Layer")
        with variable_paths.scope(self.name):  # (Keras builds it in the Sequential's: 'sequential/my_dense/w')
            model.build((None,) + tuple(shape))

    def _add_model(self, model: "Sequential") -> None:
        """A Sequential used as a layer: its layers join this model's in order, the very objects, so that they
        share their weights with it (``parameter_store.py``: whichever model runs them computes with its own
        buffers after copying their current values in). Its input shape, when declared, becomes this model's when
        it comes first."""
        if model is self:
            raise ValueError("layer: a model cannot be added to itself")
        if model._sources is not None or model._modes is not None:
            what = "is a graph, not a chain of layers" if model._sources is not None else \
                "fixes the training mode of some of its layers"
            raise ValueError(f"layer: the model {model.name!r} {what}; a Sequential model takes plain chains only. "
                             "Call it in a functional model instead: outputs = head(model(inputs)); "
                             "keras.Model(inputs, outputs)")
        if model._call_list is not None:
            raise ValueError(f"layer: the model {model.name!r} calls a layer more than once; a Sequential takes the "
                             "layers of a plain chain only. Call it in a functional model instead: "
                             "outputs = head(model(inputs)); keras.Model(inputs, outputs)")
        inner = model._layers
        if not inner:
            raise ValueError(f"layer: the model {model.name!r} has no layers to add")
        clashes = sorted({layer.name for layer in inner} & {layer.name for layer in self._layers})
        if clashes:
            raise ValueError(f"layer: the model already has layers named {clashes}; the layers of {model.name!r} "
                             "would repeat them (names must be unique)")
        if not self._layers and self._input_layer is None and model._input_layer is not None:
            source = model._input_layer
            self._input_layer = InputLayer(shape=source.declared_input_shape,
                                           dtype=source.input_dtype or source.declared_dtype)
        self._layers.extend(inner)
        if self._call_list is not None:  # (this chain calls a layer again: it goes on through the new ones)
            self._call_list.extend(inner)
            self._call_nodes = self._call_nodes + (0,) * len(inner)
        self.__dict__.setdefault("_held_models", []).append(model)
        model.__dict__.setdefault("_holders", []).append(weakref.ref(self))
        for layer in inner:
            self._hold(layer)
        self._invalidate()
        if self.declared_input_shape is not None:
            Sequential.build(self)

    def _hold(self, layer) -> None:
        """Let the layer find the Sequentials it joined, whose graph gives it a ``layer.output`` (``first_call``:
        the newest that still holds it and is built)."""
        holders = layer.__dict__.setdefault("_sequential_holders", [])
        holders[:] = [ref for ref in holders if ref() is not None and ref() is not self] + [weakref.ref(self)]

    def _symbolic_graph(self) -> tuple:
        """(input, output) of the model's layers called in turn on a symbolic input (the model's Input, or one
        of its built shape): Keras's Sequential builds such a functional graph, which gives ``model.inputs``,
        ``model.outputs`` and each layer's ``input`` / ``output``. Made once per structure."""
        graph = self.__dict__.get("_graph")
        if graph is None:
            if not self.built:
                raise AttributeError(f"Sequential model '{self.name}' has no defined inputs yet.")
            source = self._input_layer if self._input_layer is not None else self._implied_input_layer()
            value, owner, entered = source, owners(self.__dict__.get("_held_models", ())), {}
            for layer in self._layers:
                held = owner.get(id(layer))
                entered.setdefault(id(held), value)
                value = layer(value)
                if held is not None and layer is held._graph_layers[-1]:  # a held model's first call: this run
                    held.__dict__.setdefault("_first_call", (entered[id(held)], value))
            graph = self.__dict__["_graph"] = (source, value)
        return graph

    def _keras_ordered_layers(self) -> list:
        """Its layers in Keras's order (a model calling it lists them in its place)."""
        return list(self._layers)

    def _implied_input_layer(self) -> InputLayer:
        """The InputLayer of the graph of a model given no Input: the same one each time the graph is made again
        for a layer added (while the input's shape and dtype stay), so that the layers' first calls, made as the
        model was assembled, come from the model's own input: ``keras.Model(model.input, model.layers[0].output)``
        of a model whose first layer took ``input_shape=`` (tf.keras 2's feature extractor) is then a graph."""
        shape = tuple(self.input_shape[1:])
        dtype = "string" if text_inputs.first_reader(self) else self._declared_dtype()
        key, known = self.__dict__.get("_implied_input", (None, None))
        if known is None or key != (shape, dtype):
            known = InputLayer(shape=shape, name=self._implied_input_name(), dtype=dtype)
            self.__dict__["_implied_input"] = ((shape, dtype), known)
        return known

    def _implied_input_name(self) -> str:
        """The name of the InputLayer that Keras's ``Sequential.build`` makes when the model was given no Input:
        taken from the session's counter once (``input_layer``, ``input_layer_1``, ...), so that the files of two
        such models name their inputs apart, as Keras's do (a stacking ensemble takes both models' inputs)."""
        name = self.__dict__.get("_implied_input_layer_name")
        if name is None:
            name = self.__dict__["_implied_input_layer_name"] = unique_name("input_layer")
        return name

    @property
    def inputs(self) -> list:
        return [self._symbolic_graph()[0]]

    @property
    def outputs(self) -> list:
        return [self._symbolic_graph()[1]]

    @property
    def input(self):
        """The symbolic input of the model's first call as a layer (Keras's ``Operation.input``: held by another
        Sequential, or called in a functional model), else of its own graph (tf.keras gives it; Keras 3 raises)."""
        first = self.__dict__.get("_first_call")
        return first[0] if first is not None else self._symbolic_graph()[0]

    @property
    def output(self):
        """As ``input``: a feature extractor ``keras.Model(outer.inputs, outer.layers[0].output)`` reads the held
        model's output in the outer model's graph, as in Keras."""
        first = self.__dict__.get("_first_call")
        return first[1] if first is not None else self._symbolic_graph()[1]

    def _connect(self, layers: list, sources, modes=None, output_indices=None, nodes=None) -> None:
        """Take ``layers`` connected as ``sources`` says (``wiring.py``; None: a chain), each run in the mode
        ``modes`` fixes (None: the model's), whose outputs are those of the layers at ``output_indices`` (None: the
        last layer's alone), then build when the input shape is known."""
        names = [layer.name for layer in layers if not is_shared_call(layer)]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"layer: the model would have several layers named {repeated}; names must be unique")
        unique = [layer for layer in layers if not is_shared_call(layer)]
        self._layers, self._sources, self._modes = unique, sources, modes
        self._call_list = None if len(unique) == len(layers) else list(layers)
        self._call_nodes = None if self._call_list is None else tuple(nodes)
        self._output_indices = None if output_indices is None else tuple(output_indices)
        self._invalidate()
        if self.declared_input_shape is not None and self._layers:
            Sequential.build(self)

    def __call__(self, inputs, training=None, mask=None, *more, **keywords):
        """``model(x)``: the model's outputs for all of ``x`` at once, as a new backend array (NumPy on the CPU,
        CuPy on the GPU: Keras returns a backend tensor), with ``training=False`` by default as in Keras.
        ``training=True`` runs the layers as in training (Dropout drops, BatchNormalization uses the batch's
        statistics and updates its moving ones) without touching the weights otherwise. A CuPy ``x`` given to a
        model on the GPU stays there; host data is checked as ``predict`` checks it."""
        if hasattr(training, "shape") or isinstance(training, (list, tuple)):  # model(a, b), as call(self, a, b)
            more = (training,) + more
        if keywords and not more:
            from . import subclassed

            if subclassed.runs_call_with_keywords(self, inputs, keywords):
                with compute_turns.turn(self.ops or get_ops()):
                    return subclassed.call_with_keywords(self, inputs, training, mask, keywords)
        if more or keywords:
            given = ([f"{len(more) + 1} positional inputs"] if more else []) + (
                [f"the keyword argument(s) {sorted(keywords)}"] if keywords else [])
            raise TypeError(
                f"model {self.name!r} ({type(self).__name__}) was called with {' and '.join(given)}: gpunn's models "
                "take their inputs, training and mask, and a subclassed model called on data the arguments its "
                "call() names (Keras passes other arguments on to call(); in a functional model or a layer's call(), "
                "gpunn runs the graph of layers call() gave with its defaults); give several inputs as a list or "
                "dict, and keep other values as attributes of the model")
        from ..autodiff import Tensor
        from ..layers import symbolic, tf_pipeline, user_layer

        if tf_pipeline.is_pipeline_tensor(inputs):  # in tf.data's map (an augmentation model): its layers on the host
            return tf_pipeline.call_in_pipeline(self, inputs, training)
        values = inputs.values() if isinstance(inputs, dict) else inputs if isinstance(inputs, (list, tuple)) else [
            inputs]
        if user_layer.tracing() and any(isinstance(value, Tensor) for value in values):
            if not sublayers.is_held_model(self):
                raise TypeError(f"model {self.name!r} is called inside a layer's call(); gpunn runs the layers and "
                                "the Sequential and functional models a layer of the user's holds, not a subclassed "
                                "model: hold its layers in the layer instead (a list of them)")
            # a model the layer holds (sublayers.is_held_model): its layers, as the model calls them (built under
            # its name, as Keras's paths have them: 'mixer/sequential/dense/kernel')
            with variable_paths.scope(self.name):
                return self._called_in_a_layer(inputs, training)
        if any(symbolic.is_symbolic(value) for value in values):  # a model called in a functional model
            return symbolic.call_symbolic_model(self, inputs, training, mask)
        if step_calls.differentiated_here(values):
            if mask is not None:
                raise ValueError("mask: gpunn models take no mask; leave mask=None")
            return self._differentiated_call(inputs, training)  # on y_pred, in a loss or a compute_loss
        with compute_turns.turn(self.ops or get_ops()):  # (the layers' workspaces: compute_turns.py)
            return self._call_on_arrays(inputs, training, mask)

    def _differentiated_call(self, inputs, training):
        """``model(y_pred)`` in a loss function or a model's own compute_loss (a frozen feature model of a
        perceptual loss): a chain of built-in layers, each called on the Tensor as a layer is there
        (``calling.differentiated_call``), so that the loss's gradient goes back through them to y_pred, as Keras
        differentiates it. Its weights are not trained by it (nor are they in Keras, but for a model the trained
        model tracks, refused by name)."""
        from ..autodiff import Tensor
        from ..layers.calling import differentiated_call
        from ..layers.input_layer import InputLayer

        chain = self._sources is None and self._packed is None and self._output_indices is None and \
            self._output_keys is None and isinstance(inputs, Tensor)
        if not chain:
            raise ValueError(f"model {self.name!r} was called on a value a loss is differentiated by (y_pred): gpunn "
                             "differentiates there a model that is a chain of layers (a Sequential) of one input and "
                             "one output; call such a model, or its layers one by one")
        self._ensure_built((None,) + tuple(inputs.shape[1:]))
        y = inputs
        for layer in self._calls:
            if not isinstance(layer, InputLayer):
                y = differentiated_call(layer, y, training)
        return y

    def _call_on_arrays(self, inputs, training, mask):
        """``model(x)`` of arrays (host data, or backend arrays on this model's device), in its compute turn."""
        from ..data import as_feature_array, check_inputs
        from ..layers.calling import call_result, check_training, flags_of_now, to_backend, writable
        from . import shape_variants

        if self._takes_one_image(inputs):  # (Keras's image layers take one image as well as a batch)
            return self(inputs[None] if hasattr(inputs, "shape") else np.asarray(inputs)[None], training, mask)[0]
        self._trace_for(inputs, "inputs")
        variant = shape_variants.variant_for(self, inputs, "inputs")  # samples of another shape (shape_variants.py)
        if variant is not None:
            result = variant(inputs, training=training)
            shape_variants.after_call(self, variant, check_training(training))
            return result
        if self._packed is not None:  # several inputs: one array of their features side by side
            ops = self.ops or get_ops()
            values = self._packed.per_input("inputs", inputs, warn=False)  # (packing warns of unused keys)
            if not ops.on_host and all(isinstance(v, ops.xp.ndarray) for v in values):
                self._ensure_built(None)
                inputs = self._packed.pack_device("inputs", values, self.dtype)
            else:
                inputs = self._pack_inputs("inputs", inputs)

        if mask is not None:
            raise ValueError("mask: gpunn models take no mask; leave mask=None")
        # (the layers' own default modes: wiring.modes_of_a_plain_call; not for a subclassed model's traced graph,
        # whose calls given ``training=training`` get Keras's None, which no augmentation takes as training)
        plain_call = training is None and "_internal_attributes" not in vars(self)
        training = check_training(training)
        if not self._layers:
            raise ValueError("inputs: the model has no layers")
        ops = self.ops or get_ops()
        on_device = not ops.on_host and isinstance(inputs, ops.xp.ndarray)
        if not on_device:
            inputs = as_feature_array("inputs", self._pack_inputs("inputs", inputs) if self._packed is None else inputs)
        if inputs.ndim == 0:
            raise ValueError("inputs: expected an array with a batch dimension, got a scalar")
        self._ensure_built(tuple(inputs.shape))
        expected = self._built_input_shape
        if on_device:
            if tuple(inputs.shape[1:]) != expected:
                raise ValueError(f"inputs: expected samples of shape {expected} (the model's input), got samples of "
                                 f"shape {tuple(inputs.shape[1:])} (array shape {tuple(inputs.shape)})")
            y = to_backend(self.ops, "inputs", inputs, self.dtype)
        else:
            self._check_input_values("inputs", inputs)
            y = self.ops.asarray(writable(check_inputs("inputs", inputs, expected, self.dtype)))
        regularized = frozenset(i for i, layer in enumerate(self._calls) if layer.activity_regularizer is not None)
        outputs = {}
        modes = wiring.modes_of_a_plain_call(self._calls, self._modes) if plain_call else self._modes
        with flags_of_now(self._layers):
            y, _ = wiring.forward(self._calls, self._sources, self._split_inputs(y), training, modes=modes,
                                  output_indices=self._output_indices, outputs=outputs, keep=regularized)
        for i, layer in enumerate(self._calls):  # what the call added: ``model.losses`` lists it (Keras's order)
            user_layer.keep_added_losses(layer)
            activity_losses.add(layer, outputs.get(i))
        if self._output_indices is None and self._output_keys is None and getattr(self, "_one_output_in", None) is None:
            # (the last layer's workspace is written again next call)
            result = self._in_keras_output_dtypes([call_result(self.ops, self.ops.copy(y))])[0]
            if self._output_mask_source is not None and hasattr(result, "numpy"):  # (Keras's output's mask)
                result._keras_mask = self.ops.to_numpy(self._output_mask_source.mask_for(y.shape[0])) != 0
            return result
        if self._output_indices is None:
            y = [y]  # one output in a dict: the dict, as Keras returns it
        return self._structure_outputs([call_result(self.ops, self.ops.copy(value)) for value in y])

    def _takes_one_image(self, inputs) -> bool:
        """Whether ``inputs`` is one image for a Sequential starting with an image preprocessing layer (an
        augmentation model mapped over a dataset of single images: ``ds.map(lambda x, y: (augment(x), y))``)."""
        first = next((layer for layer in self._layers if not isinstance(layer, InputLayer)), None)
        shape = getattr(inputs, "shape", None)
        return getattr(first, "training_by_default", False) and shape is not None and len(shape) == 3 and (
            self._built_input_shape is None or len(self._built_input_shape) == 3)

    def _check_input_values(self, argument: str, x, k: int | None = None) -> None:
        """Host inputs ``x`` refused, naming ``argument``, where a layer reading them cannot take their values.
        ``k``: the model's input they are; None: what the model runs on (for several inputs, the packed array,
        whose inputs were checked one by one as they were packed)."""
        if k is None and self._packed is not None:
            return
        source = wiring.input_source(k or 0)
        for i, layer in enumerate(self._calls):
            if (i == 0 and self._sources is None) or (self._sources is not None and source in self._sources[i]):
                layer.check_input_values(argument, x)

    def _pack_inputs(self, argument: str, x):
        """For a model of several inputs, the one array it runs on, from what was passed for them (checked input
        by input: values, shapes, dtype); any other model's ``x`` as it is."""
        readers = text_inputs.readers(self)
        if self._packed is None:
            x = self._single_input(x)
            if not readers:
                return x
            if not self.built and self.declared_input_shape is None:  # a Sequential started by a layer reading text
                # built for its strings' shape (Keras: () for a vector)
                Sequential.build(self, (None,) + tuple(np.shape(x)[1:]))
            return text_inputs.encode(self, 0, argument, x)
        from ..data import as_feature_array, check_inputs

        def convert(k, name, value):
            array = as_feature_array(name, text_inputs.encode(self, k, name, value) if k in readers else value)
            self._check_input_values(name, array, k)
            return check_inputs(name, array, self._packed.shapes[k], self.dtype)

        return self._packed.pack(argument, x, self.dtype, convert)

    def _single_input(self, x):
        """A functional model of one input takes it alone, or, as Keras does, in a list or tuple of one array or
        a dict holding it by the input's name (other keys left unused; a nested Python list stays data); a
        Sequential of a named Input takes the dict too. Several arrays are refused by name."""
        if isinstance(x, (list, tuple)) and len(x) > 1 and all(len(getattr(part, "shape", ())) >= 2 for part in x):
            # (arrays of samples each, as a model of several inputs takes them; a list of rows stays data)
            raise ValueError(f"x: the model has one input; got a {type(x).__name__} of {len(x)} arrays of samples "
                             f"(shapes {[tuple(part.shape) for part in x]})")
        if isinstance(x, (list, tuple)) and len(x) == 1 and len(getattr(x[0], "shape", ())) >= 2:
            return x[0]  # (a list of one array of samples, as Keras takes it; a list of one row stays data)
        if not getattr(self, "is_functional", False) and not (isinstance(x, dict) and self._input_layer is not None):
            return x
        if isinstance(x, (list, tuple)) and len(x) == 1 and hasattr(x[0], "shape"):
            return x[0]
        if isinstance(x, dict):
            structure = getattr(self, "_input_structure", None)
            names = {self._input_layer.name} | ({str(key) for key in structure} if isinstance(structure, dict)
                                                else set())
            found = [key for key in x if key in names]
            if len(found) != 1:
                raise ValueError(f"x: the model's one input is {sorted(names)}; got a dict with keys "
                                 f"{sorted(str(key) for key in x)}")
            if len(x) > 1:  # Keras takes the input's key and leaves the others (a table's unused columns)
                warnings.warn(f"x: the dict holds keys that name none of the model's inputs, which are left unused: "
                              f"{sorted(str(key) for key in x if key != found[0])} (the input: {found[0]!r})",
                              UserWarning, stacklevel=2)
            return x[found[0]]
        return x

    def _split_inputs(self, x):
        """The packed batch ``x`` as the list of the model's inputs (a model of one input: ``x`` itself)."""
        return x if self._packed is None else self._packed.split(x)

    def pop(self, rebuild=True) -> Layer:
        """Remove and return the last entry of ``model.layers`` (a model added as a layer goes whole); as Keras's,
        the model is built again when its input shape is known, unless ``rebuild=False``."""
        if not isinstance(rebuild, (bool, np.bool_)):
            raise ValueError(f"rebuild: expected True or False, got {rebuild!r}")
        if not self._layers:
            raise ValueError("pop: the model has no layers")
        if self._call_list is not None and not getattr(self, "is_functional", False):
            raise ValueError(f"pop: model {self.name!r} calls a layer more than once in its chain; make a new model")
        entry = self.layers[-1]
        count = 1
        if entry is not self._layers[-1]:  # a held model: all its layers
            inside = owners([entry])
            count = sum(id(layer) in inside for layer in self._layers)
        before, built_shape = list(self._layers), self._built_input_shape if self.built else None
        for _ in range(count):
            self._pop_layer()
        held = self.__dict__.get("_held_models", [])
        if entry in held:
            held.remove(entry)
        if rebuild and self._layers and self.declared_input_shape is not None:
            Sequential.build(self)
        elif rebuild and self._layers and built_shape is not None:  # built by build() or by data: again so
            Sequential.build(self, (None,) + tuple(built_shape))
        self._tell_holders(before)
        return entry

    def _pop_layer(self) -> Layer:
        if self._sources is not None and any(len(self._layers) - 1 in reads for reads in self._sources):
            raise ValueError("pop: the last layer's output is read by other layers as well; only the last layer of a "
                             "chain can be removed")
        layer = self._layers.pop()
        layer.__dict__["_sequential_holders"] = [ref for ref in layer.__dict__.get("_sequential_holders", [])
                                                 if ref() is not self]
        if self._modes is not None:
            self._modes = self._modes[:-1]
        if self._sources is not None:
            self._sources = self._sources[:-1]
            if wiring.is_chain(self._sources):
                self._sources = None
        self._invalidate()
        return layer

    def _invalidate(self) -> None:
        # The layers keep their weights where they are; the next build copies them into new buffers.
        self.built = False
        self.__dict__.pop("_graph", None)
        self._store = None
        self._drop_steps()

    def _drop_steps(self) -> None:
        """After new flat buffers: the optimizer's slots, the steps (their buffers, reducer, recordings) and the
        replica sync were made for the old ones."""
        self._optimizer_built = False
        self.train_function = self.test_function = None
        self._synced_comm = None

    @property
    def declared_input_shape(self) -> tuple | None:
        if self._packed is not None:
            return (self._packed.width,)
        # (the shape of the numbers the model runs on: for a string input, what the layer reading it makes of
        # the strings, text_inputs.py)
        if self._input_layer is not None:
            if text_inputs.is_text_input(self._input_layer):
                return text_inputs.encoded_shapes(self)[0]
            return self._input_layer.declared_input_shape
        if self._layers and self._layers[0].declared_input_shape is not None:
            return self._layers[0].declared_input_shape
        if self.__dict__.get("_text_sample_shape") is not None and text_inputs.first_reader(self) is not None:
            return text_inputs.first_reader(self).encoded_shape(self._text_sample_shape)
        return None

    def _strings_sample_shape(self) -> tuple | None:
        """For a model whose one input is strings, their sample shape (Keras's input shape), else None."""
        if self._packed is not None:
            return None
        if self._input_layer is not None:
            return tuple(self._input_layer.declared_input_shape) if text_inputs.is_text_input(self._input_layer) \
                else None
        return self.__dict__.get("_text_sample_shape") if text_inputs.first_reader(self) is not None else None

    @property
    def input_shape(self):
        """The batch size its Input declares (None unless given) + the input's sample shape, None on its axes of
        any length; for several inputs, the list of them, as Keras gives it."""
        self._require_built("input_shape")
        if self._packed is not None:
            return [(layer.batch_size,) + layer._sample_shape_with_variable_axes() for layer in self._input_layers]
        strings = self._strings_sample_shape()  # (() for one string per sample, as Keras's (None,))
        if strings is not None:
            return (None,) + strings
        source = self._input_layer
        if source is not None and getattr(source, "variable_axes", ()):
            return (source.batch_size,) + source._sample_shape_with_variable_axes()
        return (self._input_batch_size(),) + self._built_input_shape

    def _input_batch_size(self):
        """The batch size the model's Inputs declare, where they agree on one (Keras's static batch), else None."""
        sources = self._input_layers if self._packed is not None else [self._input_layer]
        sizes = {getattr(source, "batch_size", None) for source in sources}
        return sizes.pop() if len(sizes) == 1 else None

    @property
    def output_shape(self):
        """The inputs' batch size (None unless their Inputs declare one) + the output's sample shape; for several
        outputs, the list of them, as Keras gives it."""
        self._require_built("output_shape")
        batch = self._input_batch_size()
        shapes = [(batch,) + shape for shape in self._output_shapes()]
        return shapes[0] if self._output_indices is None else shapes  # as Keras: a list, for outputs in a dict too

    def compute_output_shape(self, input_shape):
        """Keras's: the output shape for inputs of ``input_shape`` (batch axis first; a list or dict of them for
        several inputs), the batch size kept. A gpunn model takes the sample shape it was built for: the shape
        given is checked against it; a model not built, or one whose inputs have axes of any length, is refused
        by name rather than built or guessed through."""
        structure = getattr(self, "_input_structure", None)
        if isinstance(input_shape, dict) and isinstance(structure, dict) and set(input_shape) == set(structure):
            # by key, in the order of the model's inputs
            shapes = [input_shape[key] for layer in self._input_layers for key, value in structure.items()
                      if value is layer]
        else:
            shapes = list(input_shape.values()) if isinstance(input_shape, dict) else list(input_shape) \
                if isinstance(input_shape, (list, tuple)) and input_shape and \
                isinstance(input_shape[0], (list, tuple)) else [input_shape]
        if any(not isinstance(shape, (list, tuple)) or len(shape) < 1 for shape in shapes):
            raise ValueError(f"input_shape: expected a shape with its batch axis first, such as (None, 8), or a "
                             f"list of them; got {input_shape!r}")
        if not self.built:
            raise ValueError(f"compute_output_shape: model {self.name!r} is not built; build it "
                             "(model.build(input_shape)) or call it on data first")
        inputs = self._input_layers if getattr(self, "is_functional", False) else [self._input_layer]
        if any(getattr(layer, "variable_axes", ()) for layer in inputs if layer is not None):
            raise ValueError(f"compute_output_shape: model {self.name!r} takes inputs with axes of any length, "
                             "whose outputs' lengths gpunn learns from data; call the model on an array of the "
                             "shape instead")
        expected = [tuple(shape[1:]) for shape in (self.input_shape if isinstance(self.input_shape, list)
                                                    else [self.input_shape])]
        given = [tuple(shape[1:]) for shape in shapes]
        if len(given) != len(expected) or any(
                len(g) != len(e) or any(a is not None and a != b for a, b in zip(g, e))
                for g, e in zip(given, expected)):
            shown = [(None,) + e for e in expected]
            raise ValueError(f"input_shape: model {self.name!r} takes inputs of shape "
                             f"{shown if len(shown) > 1 else shown[0]}, got {input_shape!r}")
        batch = shapes[0][0]
        found = [(batch,) + tuple(shape) for shape in self._output_shapes()]
        keys = getattr(self, "_output_keys", None)
        if keys:  # outputs given as a dict: their shapes by key, as Keras gives them
            return dict(zip(keys, found))
        return found[0] if self._output_indices is None else found

    @property
    def output_names(self) -> list[str]:
        """As Keras's: the names of the layers making the outputs (``dict(zip(model.output_names, ...))``); a
        subclassed model's several outputs are ``output_1``, ``output_2``... as tf.keras 2 named them (its logs
        are named as Keras 3's, after the losses and metrics: ``trainer/plan.py``)."""
        labels = getattr(self, "_output_labels", None)
        if labels:
            return list(labels)
        return [self._calls[i].name for i in self._output_layer_indices()] if self._layers else []

    def _trace_for(self, x, argument: str = "x") -> None:
        """Before the model runs on data ``x``: learn what the data decides (``_take_sample_shape``)."""
        super()._trace_for(x, argument)
        if not argument.startswith("validation"):  # (the training data's length decides; validation follows it)
            self._take_sample_shape(x)

    def _take_sample_shape(self, x) -> None:
        """A model whose input has axes of any length (``Input(shape=(None,))``) was built with provisional lengths
        there: until it has trained, it is built again for the data it meets (its weights keep their shapes and
        values; a layer whose weights would change, a Flatten before a Dense, says so). Once trained it keeps its
        length, and calls, predict and evaluate on other lengths run on a copy of it (``shape_variants.py``)."""
        from . import shape_variants

        layer = self._input_layer
        axes = getattr(layer, "variable_axes", ()) if layer is not None and self._packed is None else ()
        if not axes or not self.built or getattr(self, "_optimizer_built", False):
            return
        shape, built = shape_variants._sample_shape(x), tuple(self._built_input_shape)
        if shape is None or shape == built or len(shape) != len(built) or any(
                dim != was for k, (dim, was) in enumerate(zip(shape, built)) if k not in axes):
            return  # (another rank or fixed axis: the usual checks say what is wrong)
        # the input's length is now the data's (a Sequential's graph is made again from its Input)
        previous = (layer.declared_input_shape, layer.output_shape)
        layer.declared_input_shape = layer.output_shape = tuple(shape)
        self.__dict__.pop("_graph", None)
        try:
            Sequential.build(self, (None,) + shape)
        except ValueError as exc:
            layer.declared_input_shape, layer.output_shape = previous
            raise ValueError(f"inputs: the model's input has axes of any length ({layer.shape}); for samples of shape "
                             f"{shape} its layers would need other weights, so their weights depend on that length "
                             f"(Keras refuses such a model when it is made): {exc}") from None

    def _called_in_a_layer(self, inputs, training):
        """The model's layers called on Tensors, as it calls them (the sources and the training modes its graph
        fixes), inside the call() of a layer of the user's that holds it: its output, or the list of its several."""
        structure = getattr(self, "_input_structure", None)
        if isinstance(inputs, dict):  # by the inputs' keys (or names), in the model's order of them
            by_layer = {id(value): key for key, value in structure.items()} if isinstance(structure, dict) else {}
            keys = [by_layer.get(id(layer), layer.name) for layer in self._input_layers]
            missing = [key for key in keys if key not in inputs]
            if missing:
                raise ValueError(f"inputs: the model {self.name!r} takes the keys {keys}; got {sorted(inputs)}")
            xs = [inputs[key] for key in keys]
        else:
            xs = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        values = {wiring.input_source(k): x for k, x in enumerate(xs)}
        x = xs[0]
        for i, call in enumerate(self._calls):
            if self._sources is not None:
                x = wiring.layer_inputs(call, values, self._sources[i])
            mode = training if self._modes is None or self._modes[i] is None else self._modes[i]
            x = values[i] = wiring.layer_of(call)(x, training=mode)
        return self._structure_outputs([values[i] for i in self._output_layer_indices()])

    def _output_layer_indices(self) -> tuple:
        """The indices of the layers making the model's outputs, in Keras's order of the outputs."""
        return (len(self._calls) - 1,) if self._output_indices is None else self._output_indices

    def _output_shapes(self) -> list:
        """The sample shape of each output."""
        return [tuple(self._calls[i].output_shape) for i in self._output_layer_indices()]

    @property
    def _nodes(self) -> tuple:
        """Each call's node index: 0 for every call of a model whose layers are called once."""
        return self._call_nodes or (0,) * len(self._calls)

    @property
    def _calls(self) -> list:
        """The layers as the model runs them, in order: each layer, then again for each later call of it."""
        return self._layers if self._call_list is None else self._call_list

    @property
    def _several_outputs(self) -> bool:
        """Whether the model has several outputs (each with its loss, targets and logs)."""
        return self._output_indices is not None

    def _structure_outputs(self, values: list):
        """Per-output ``values`` as the model gives its outputs: the value alone for one output, else a list in
        the outputs' order, or a dict by their keys when they were given as a dict, one output too (as Keras's
        ``predict``)."""
        values = self._in_keras_output_dtypes(values)
        if self._output_keys is not None:
            return dict(zip(self._output_keys, values))
        if self._output_indices is None:
            one_in = getattr(self, "_one_output_in", None)  # a subclass's call() returning (output,) or [output]
            return values[0] if one_in is None else one_in([values[0]])
        return tuple(values) if getattr(self, "_outputs_as_tuple", False) else list(values)

    def _in_keras_output_dtypes(self, values: list) -> list:
        """Outputs that Keras gives in an integer or bool dtype (an operation's: ``ops.argmax`` as the output),
        computed in the model's floats, cast to it."""
        if not self.built:
            return values
        layers = [wiring.layer_of(self._calls[i]) for i in self._output_layer_indices()]
        dtypes = [getattr(layer, "keras_result_dtype", None) for layer in layers]
        if not any(dtypes) or len(dtypes) != len(values):
            return values
        return [value if dtype is None or getattr(value, "dtype", None) is None else value.astype(dtype)
                for value, dtype in zip(values, dtypes)]

    @property
    def dtype(self) -> str:
        """The first dtype a layer declares; else that of the weights reused layers hold (a layer keeps its
        weights' precision, as a Keras layer keeps its variables'; ``get_config`` records it); else float32."""
        declared = self._declared_dtype()
        if declared is not None:
            return declared
        for layer in self._layers:
            for weight in layer.bound.weights.values():
                return np.dtype(weight.dtype).name
        return self._config_dtype or "float32"

    def _declared_dtype(self) -> str | None:
        for layer in ([self._input_layer] if self._input_layer else []) + self._layers:
            if layer.declared_dtype is not None:
                return layer.declared_dtype
        return None

    # ---- building ---------------------------------------------------------------------------------
    def build(self, input_shape=None) -> None:
        """Create the weights for inputs of ``input_shape``, batch axis first as in Keras: ``build((None, 784))``, or
        ``build(x_train.shape)`` (any batch size). A shape of one axis, or the declared input's sample shape, is
        taken as a sample's (gpunn's shorthand, ``build((784,))``)."""
        if not self._layers:
            raise ValueError("build: the model has no layers; add layers before building, fitting or predicting")
        declared = self.declared_input_shape
        if input_shape is None:
            if declared is None:
                raise NotBuiltError(
                    "build: the input shape is unknown; pass build(input_shape), start with "
                    "gpunn.Input(shape=...), give the first layer input_shape=..., or call fit/predict on data"
                )
            input_shape = declared
        else:
            input_shape = tuple(input_shape)
            if declared is not None and input_shape[1:] == tuple(declared):
                input_shape = input_shape[1:]
            elif (input_shape and input_shape[0] is None) or (
                    len(input_shape) >= 2 and not isinstance(input_shape[0], (tuple, list, dict))
                    and (declared is None or input_shape != tuple(declared))):
                input_shape = input_shape[1:]
            if self._input_layer is None and text_inputs.first_reader(self) is not None and declared is None:
                # A Sequential started by a layer reading text, built for its strings' shape: it runs on what
                # that layer makes of them
                self._text_sample_shape = input_shape
                input_shape = text_inputs.first_reader(self).encoded_shape(input_shape)
        dtypes = {layer.declared_dtype for layer in self._layers if layer.declared_dtype is not None}
        if len(dtypes) > 1:
            raise ValueError(f"dtype: all layers of a model must share one dtype, got {sorted(dtypes)}")
        dtype = self.dtype
        for layer in self._layers:  # a shared layer would lose precision in a narrower model's buffers
            held = {np.dtype(w.dtype).name for w in layer.bound.weights.values()} - {dtype}
            if held:
                raise ValueError(
                    f"dtype: layer {layer.name!r} holds {held.pop()} weights and this model computes in {dtype}; "
                    f"build the model in the weights' dtype (e.g. gpunn.Input(shape=..., dtype=...))"
                )
        input_shapes = [tuple(input_shape)] if self._packed is None else self._packed.shapes
        # (a layer reading strings is built for their shape, not for the numbers it makes of them)
        input_shapes = text_inputs.strings_shapes(self, input_shapes, self.__dict__.get("_text_sample_shape"))
        if self._packed is not None:
            input_shape = self._packed_build_shape(input_shape)
        # Keras's Sequential builds its layers under its name (their paths: 'sequential/dense/kernel'); a functional
        # model's were built as they were called on its inputs
        with contextlib.nullcontext() if getattr(self, "is_functional", False) else variable_paths.scope(self.name):
            _fix_held_models_prefixes(self)
            wiring.build_shapes(self._calls, self._sources, input_shapes,
                                text_inputs.build_readers_for_strings(self, _build_layer))
        text_inputs.place_columns(self)  # (and checks where the string inputs go)
        self._built_input_shape = tuple(input_shape)
        self._mask_links, self._output_mask_source = masking.link(self._calls, self._sources, self._output_indices)
        masking.attach(self._mask_links)
        self._pack(get_ops())
        self.built = True
        if not getattr(self, "is_functional", False):
            # As Keras's Sequential makes its functional graph when it is built: each layer's first call is then
            # this model's (layer.input / layer.output), even when the model is not kept
            self.__dict__.pop("_graph", None)
            self._symbolic_graph()
        for held in self.__dict__.get("_held_models", ()):  # as Keras builds a model added as a layer with it
            first = held._layers[0] if held._layers else None
            if not held.built and first is not None and isinstance(first.input_shape, tuple):
                held.build((None,) + first.input_shape)

    def _packed_build_shape(self, input_shape) -> tuple:
        """What ``build(input_shape)`` means for a model of several inputs: their shapes (with or without the
        batch axis) or the packed width; anything else is refused."""
        packed = self._packed
        shapes = list(input_shape) if isinstance(input_shape, (list, tuple)) else None
        if shapes and all(isinstance(shape, (list, tuple)) for shape in shapes) and len(shapes) == len(packed.shapes):
            given = [tuple(shape[1:]) if len(shape) == len(expected) + 1 else tuple(shape)
                     for shape, expected in zip(shapes, packed.shapes)]
            if given == packed.shapes:
                return (packed.width,)
        elif tuple(input_shape) == (packed.width,):
            return (packed.width,)
        raise ValueError(f"input_shape: the model's inputs {packed.names} have shapes "
                         f"{[(None,) + shape for shape in packed.shapes]}; got {input_shape!r}")

    def _pack(self, ops) -> None:
        """New flat buffers for the layers (their current values kept, new layers initialised), laid out for the
        trainable flags in effect (those of the last compile)."""
        self.ops = ops
        if self._packed is not None:
            self._packed.bind(ops)
        with compute_turns.turn(ops):  # (binding shared layers to new buffers: not inside another thread's step)
            self._store = ParameterStore(ops, self._layers, self.dtype, trainable_state.in_effect(self))
            self._input_gradients = user_layer.input_gradient_flags(self._calls, self._sources)
            user_layer.set_input_gradients(self._input_gradients)
        self._drop_steps()

    def _pack_for_training(self) -> None:
        """Before a training step is made: re-pack when the trainable flags in effect changed since the buffers
        were laid out (a compile() after ``layer.trainable = ...``), keeping every weight's value."""
        self._require_built("make_train_function")
        self._claim_layers()
        trainable_state.record_added_layers(self)
        self._pack_for_trainable_flags()
        if self._store.params.size == 0 and any(layer.weight_specs() for layer in self._layers):
            # Keras's warning, and why it may come as a surprise: tf.keras 2 trained the layers a compile() saw
            # trainable (the GAN recipe's discriminator, frozen after its compile to build the combined model)
            warnings.warn("The model does not have any trainable weights. (As in Keras 3, the trainable flags in "
                          "effect when training starts count, not those compile() saw: a model frozen after its "
                          "compile, as the GAN recipe's discriminator is, does not train while frozen; tf.keras 2 "
                          "trained it.)", stacklevel=4)

    def _pack_for_trainable_flags(self) -> None:
        """Re-pack when the trainable flags in effect changed since the buffers were laid out: the layers are
        bound to them with the weights they train, whose penalties are the ones added to the loss (also in
        ``evaluate``, before any training: a layer frozen after build adds none, as in Keras)."""
        if self._store is not None and self._store.trainable_state != trainable_state.in_effect(self):
            self._pack(self.ops)

    def _claim_layers(self) -> None:
        """Bind back the layers that a model sharing them bound to its buffers since this one last ran (in a turn:
        not while another thread computes with them)."""
        if self._store is not None:
            with compute_turns.turn(self.ops):
                self._store.claim()
                masking.attach(self._mask_links)
                user_layer.set_input_gradients(self.__dict__.get("_input_gradients", ()))

    @property
    def params(self):
        """The flat buffer of the trained weights (None before building)."""
        self._claim_layers()
        return None if self._store is None else self._store.params

    @property
    def grads(self):
        return None if self._store is None else self._store.grads

    @property
    def states(self):
        """The flat buffer of the weights that are not trained (frozen layers, moving statistics)."""
        self._claim_layers()
        return None if self._store is None else self._store.states

    @property
    def _segments(self) -> list[tuple[int, int]]:
        return [] if self._store is None else self._store.segments

    def _require_built(self, what: str) -> None:
        if not self.built:
            raise NotBuiltError(
                f"{what}: this model has not been built yet. Build it with model.build(input_shape), by "
                "starting it with gpunn.Input(shape=...) / giving the first layer input_shape=..., or by calling "
                "fit() or predict() on data"
            )

    def _ensure_built(self, x_shape: tuple) -> None:
        """Built, and computing with this model's own buffers (every fit/evaluate/predict comes here first)."""
        if not self.built:
            if self.declared_input_shape is None:
                Sequential.build(self, (None,) + tuple(x_shape[1:]))
            else:
                Sequential.build(self)
        self._claim_layers()

    # ---- weights ----------------------------------------------------------------------------------
    @property
    def weights(self) -> list:
        return [w for layer in self._weight_order() for w in layer.weights]

    def _weight_order(self) -> list:
        """The layers in the order Keras lists their weights (``weights``, ``get_weights``...): the model's."""
        return self._layers

    @property
    def trainable_weights(self) -> list:
        """As in Keras: none while the model's ``trainable`` is False, else each layer's trainable weights, as
        gpunn's layer lists them (a ``trainable_weights`` property of the user's on a layer is not consulted, as
        Keras's model reads its variables' flags). Like ``layer.trainable``, these follow the flags of now;
        training follows those of the last compile."""
        if not self.trainable:
            return []
        return [w for layer in self._layers_with_weights() for w in _gpunn_property(layer, "trainable_weights")]

    @property
    def non_trainable_weights(self) -> list:
        if not self.trainable:
            return self.weights
        return [w for layer in self._layers_with_weights() for w in _gpunn_property(layer, "non_trainable_weights")]

    def _layers_with_weights(self) -> list:
        """The layers whose weights the model lists, in Keras's order: all of them once the model is built; before,
        those built already (an adapted Normalization first in a Sequential: Keras lists its statistics)."""
        order = self._weight_order()
        return order if self.built else [layer for layer in order if layer.built]

    def get_weights(self) -> list[np.ndarray]:
        """Host copies in Keras's order and layout (Dense: kernel (inputs, units), then bias); before the model
        is built, those of its layers built already, as Keras's. Read in one turn: the weights of whole training
        steps, when another thread trains the model meanwhile."""
        with compute_turns.turn(self.ops):
            return [w for layer in self._layers_with_weights() for w in layer.get_weights()]

    def set_weights(self, weights) -> None:
        weights = list(weights)
        expected = sum(len(layer.weight_specs()) for layer in self._layers_with_weights())
        if len(weights) != expected:
            built = "" if self.built else " (the model is not built yet: only its layers built already take them)"
            raise ValueError(f"weights: expected a list of {expected} arrays (as get_weights returns), got "
                             f"{len(weights)}{built}")
        i = 0
        with compute_turns.turn(self.ops):  # (between, not inside, another thread's computations)
            for layer in self._layers_with_weights():
                n = len(layer.weight_specs())
                layer.set_weights(weights[i:i + n])
                i += n

    @property
    def losses(self) -> list:
        """As Keras's ``model.losses``, host scalars: what the last call added (each layer's add_loss terms and
        activity penalties), then the penalties of the weights the layers train (in one compute turn: of the
        weights of one step, beside a training thread)."""
        with compute_turns.turn(self.ops):
            return ([loss for layer in self._layers for loss in layer._called_losses()]
                    + [loss for layer in self._layers for loss in layer._penalty_values()])

    def count_params(self) -> int:
        self._require_built("count_params")
        return sum(layer.count_params() for layer in self._weight_order())

    def get_layer(self, name=None, index=None) -> Layer:
        """By ``index`` into ``model.layers``, or by name: an entry of ``model.layers`` (a model held as a layer
        among them), else a layer of such a model."""
        if index is not None and name is not None:  # Keras's messages
            raise ValueError(f"Provide only a layer name or a layer index. Received: index={index}, name={name}.")
        if index is not None:
            if len(self.layers) <= index:
                raise ValueError(f"Was asked to retrieve layer at index {index} but model only has "
                                 f"{len(self.layers)} layers.")
            return self.layers[index]
        if name is None:
            raise ValueError("Provide either a layer name or layer index at `get_layer`.")
        for layer in self.layers + self._graph_layers:
            if layer.name == name:
                return layer
        raise ValueError(f"No such layer: {name}. Existing layers are: {[layer.name for layer in self.layers]}.")

    def _modes_in_fit(self, warn: bool = True):
        """Per layer, the training mode fit runs it in (None: training): the modes its calls fixed. Configs and
        clones keep these (a subclassed model's, loaded or cloned as a functional one, runs as it ran)."""
        return self._modes

    def summary(self, line_length=None, positions=None, print_fn=None, expand_nested=False, show_trainable=False,
                layer_range=None) -> None:
        """Keras 3's table (``summary.py``), printed (by rank 0 alone in a data-parallel run, as progress is), or
        handed whole to ``print_fn`` as Keras does; a model not built yet shows its layers as Keras does ("?",
        "0 (unbuilt)")."""
        text = format_summary(self, line_length=line_length, positions=positions, expand_nested=expand_nested,
                              show_trainable=show_trainable, layer_range=layer_range)
        if print_fn is None:
            if self.is_chief:
                print_msg(text, line_break=False)
        else:
            print_fn(text)

    # ---- files ------------------------------------------------------------------------------------
    def export(self, filepath, format="tf_saved_model", verbose=None, input_signature=None, **kwargs):
        """Keras's ``export``: a TensorFlow SavedModel (or ONNX, OpenVINO) for serving, written by Keras 3 from
        the model's ``.keras`` file (``export.py``)."""
        from .export import export_model

        return export_model(self, filepath, format=format, verbose=verbose, input_signature=input_signature,
                            **kwargs)

    def save(self, filepath, overwrite=True, zipped=None, **kwargs) -> None:
        """One file: config, weights and optimizer state, written atomically. The name chooses the format as in
        Keras: '.keras' Keras 3's, '.h5' / '.hdf5' tf.keras's, else gpunn's safetensors (or ``save_format``:
        'keras', 'h5', 'safetensors'); see the README's "Model files". ``zipped=False``: Keras 3's unzipped
        model, a directory. tf.keras 2's ``include_optimizer`` and ``save_format`` are taken by keyword."""
        refuse_unknown("save", {key: value for key, value in kwargs.items()
                                if key not in ("include_optimizer", "save_format")})
        save_module.save_model(self, filepath, overwrite, zipped, **kwargs)

    def save_weights(self, filepath, overwrite=True, max_shard_size=None, *, save_format=None) -> None:
        """Keras 3's arguments (``max_shard_size``: gpunn writes one file, None), and tf.keras 2's ``save_format``
        by keyword."""
        if max_shard_size is not None:
            raise ValueError(f"max_shard_size: gpunn writes the weights as one file (Keras's shards of "
                             f"'.weights.json' are not written); leave it None, got {max_shard_size!r}")
        save_module.save_weights(self, filepath, overwrite=overwrite, save_format=save_format)

    def load_weights(self, filepath, skip_mismatch=False, by_name=False, objects_to_skip=None) -> None:
        """Keras's: ``by_name=True`` (tf.keras HDF5 files only, as in Keras) loads each layer of the file into the
        model's layers of the same name, and leaves the others; ``objects_to_skip``: layers (and the optimizer)
        that keep what they hold."""
        save_module.load_weights(self, filepath, skip_mismatch, by_name, objects_to_skip)

    # ---- config -----------------------------------------------------------------------------------
    def get_config(self) -> dict:
        """Keras 3's layout: ``{"name", "trainable", "dtype", "layers": [{"module", "class_name", "config",
        "registered_name", ...}], "build_input_shape"}`` (see ``keras_config.py``)."""
        return keras_config.sequential_config(self)

    def get_build_config(self) -> dict | None:
        """Keras's: ``{"input_shape": shape}`` the model was built for (batch axis None; None for a functional
        model, which its graph builds), None before it is built (``build_config.py``)."""
        return build_config.of_model(self)

    def build_from_config(self, config) -> None:
        """Keras's: build the model for the shape ``get_build_config()`` gave (nothing when it is built)."""
        build_config.build_model(self, config)

    @classmethod
    def from_config(cls, config: dict, custom_objects=None) -> "Sequential":
        """A model from ``get_config()``'s output: Keras 3's layout, tf.keras 2's, or the one gpunn's model files
        held before (layers without a ``"module"`` key), as Keras tells them apart. ``custom_objects``: see
        ``keras_config.check_custom_objects``."""
        keras_config.check_custom_objects(custom_objects)
        with custom_object_scope(custom_objects):  # the user's classes and functions the config names
            return keras_config.sequential_from_config(cls, config)

    def add_loss(self, loss) -> None:
        """tf.keras 2's ``model.add_loss(K.mean(h))`` on a model's symbolic values: refused with gpunn's way (a
        subclassed model's ``call()`` takes ``self.add_loss`` as a layer's does: ``functional.py`` Model)."""
        raise ValueError(f"{type(self).__name__}.add_loss: gpunn takes no loss added to a Sequential or functional "
                         "model from outside its layers; compute it in a layer of your own whose call() does "
                         "self.add_loss(value) and returns its input, placed in the model's graph where the value "
                         "is known (it is then added to the loss in fit and evaluate)")

    def add_metric(self, value, name=None, **kwargs):
        """tf.keras 2's ``model.add_metric(...)``, gone from Keras 3: refused with gpunn's way."""
        raise NotImplementedError(f"{type(self).__name__}.add_metric: tf.keras 2's add_metric is gone from Keras 3; "
                                  "to log a value the model computes, make it an output of the model and give that "
                                  "output a metric in compile(metrics=...)")

    def to_yaml(self, **kwargs):
        """tf.keras 2's: removed there too (TensorFlow 2.6), with this message."""
        raise RuntimeError("Method `model.to_yaml()` has been removed due to security risk of arbitrary code "
                           "execution. Please use `model.to_json()` instead.")

    def to_json(self, **kwargs) -> str:
        """The model's config as Keras 3 writes it (``keras.models.model_from_json`` and
        ``gpunn.models.model_from_json`` read it); ``kwargs`` go to ``json.dumps``. The architecture only: no
        weights, no compile state."""
        return keras_config.model_to_json(self, **kwargs)

    def stateless_call(self, *args, **kwargs):
        """Keras's, for JAX's stateless custom training loops: refused by name."""
        raise NotImplementedError(f"{type(self).__name__}.stateless_call: gpunn has no custom training loops (a "
                                  "jax.grad of a stateless call included); train with model.fit, and call the model "
                                  "as model(x) or model.predict(x)")

    def get_compile_config(self) -> dict:
        """Keras's ``get_compile_config``: how the model was compiled, as Keras's ``.keras`` files hold it (the
        optimizer, losses and metrics serialized), or {} when it was not compiled."""
        from .keras_file_config import keras_compile_config

        return keras_compile_config(self, native=True) if self.compiled else {}

    def compile_from_config(self, config: dict) -> None:
        """Keras's ``compile_from_config``: ``compile`` with what ``get_compile_config`` gave (Keras's or
        gpunn's). As in Keras, a model whose class has a ``compile`` of its own is not compiled here: a warning
        says so."""
        from .compile_config import compile_from_config
        from .keras_file_config import compile_config_from_keras

        if type(self).compile is not Trainer.compile:
            warnings.warn("`compile()` was not called as part of model loading because the model's `compile()` "
                          "method is custom. All subclassed Models that have `compile()` overridden should also "
                          "override `get_compile_config()` and `compile_from_config(config)`. Alternatively, you "
                          "can call `compile()` manually after loading.", stacklevel=2)
            return
        compile_from_config(self, compile_config_from_keras(config, legacy=False,
                                                            outputs=len(self._output_layer_indices())))

    def __repr__(self) -> str:
        return f"<Sequential name={self.name!r} layers={len(self._layers)} built={self.built}>"


def _fix_held_models_prefixes(model) -> None:
    """The layers of a Sequential added to ``model`` (not built yet) are built under its name too, as Keras
    builds that model inside this one (``outer/inner/dense/kernel``)."""
    for held in model.__dict__.get("_held_models", ()):
        with variable_paths.scope(held.name):
            _fix_held_models_prefixes(held)
            for layer in held._layers:
                if not layer.built:  # (a layer whose weights were made already has its prefix: fix_prefix keeps it)
                    variable_paths.fix_prefix(layer)


def _build_layer(layer: Layer, shape: tuple) -> None:
    """``layer.build(shape)``, refused when the layer holds weights made for other inputs: as in Keras, a built
    layer keeps its weights and takes only inputs that fit them. A later call of a shared layer builds nothing:
    it takes the inputs the layer was built for."""
    if is_shared_call(layer):
        # (a layer of the user's taking call(inputs, mask=None) may be shared: it gets no mask then)
        if (layer.uses_mask and not user_masks.call_takes_mask(layer.layer)) or (
                layer.supports_masking and getattr(layer.layer, "mask_zero", False)):
            raise ValueError(f"layer: {layer.name!r} is called more than once and works with masks; gpunn's shared "
                             "layers take no masks")
        if _shape_key(shape) != _shape_key(layer.input_shape):
            raise ValueError(f"layer: {layer.name!r} is called on inputs of shape {(None,) + tuple(shape)} after "
                             f"inputs of shape {(None,) + tuple(layer.input_shape)}; gpunn's shared layers take one "
                             "input shape")
        return
    held = layer.bound.weights
    if layer.built and not held and _shape_key(shape) != _shape_key(layer.input_shape):
        # (a layer bound to weights is checked against them below, or as a shared layer)
        symbolic.refuse_other_weights(layer, shape)
    before = (layer.input_shape, layer.output_shape)
    check_layer_inputs(layer, shape)  # a layer's own input_spec, before its build and after (build may set it)
    layer.build(shape)
    check_layer_inputs(layer, shape)
    for spec in layer.weight_specs():
        if spec.name in held and tuple(held[spec.name].shape) != tuple(spec.shape):
            layer.input_shape, layer.output_shape = before
            raise ValueError(
                f"layer: {layer.name!r} holds weights for inputs of shape {(None,) + tuple(before[0])}; it cannot "
                f"take inputs of shape {(None,) + tuple(shape)} (its weight {spec.name!r} is "
                f"{tuple(held[spec.name].shape)}, these inputs need {tuple(spec.shape)}). Use a new layer instead"
            )


def _shape_key(shape):
    """A sample shape, or a merge layer's list of them, comparable with ``==``."""
    return tuple(tuple(item) if isinstance(item, (list, tuple)) else item for item in shape)


def _gpunn_property(layer, name: str):
    """``layer.<name>`` as gpunn's class defines it, past an override of the user's (the mixture density network
    recipe's ``trainable_weights`` listing some of a layer's weights)."""
    owner = next(klass for klass in type(layer).__mro__ if name in vars(klass) and overrides.is_gpunn_class(klass))
    return vars(owner)[name].fget(layer)
