"""Sequential: a stack of layers whose weights live in one flat parameter buffer (and one gradient buffer).

Building allocates the buffers on the current backend's device and hands each layer views into them; the
backend (``Ops``) chosen at build time stays with the model.
"""
from __future__ import annotations

import numpy as np

from .. import layers as layers_module
from ..layers.base import Layer, unique_name
from ..layers.input_layer import InputLayer
from ..ops import get_ops
from .summary import format_summary
from ..trainer import Trainer
from . import save as save_module


class NotBuiltError(ValueError):
    """The model has no weights yet."""


class Sequential(Trainer):
    """A linear stack of layers: ``Sequential([Dense(64, activation='relu'), Dense(10)])`` or ``.add(layer)``."""

    def __init__(self, layers=None, name=None, trainable=True):
        self.name = name or unique_name("sequential")
        self.trainable = trainable
        self._input_layer: InputLayer | None = None
        self._layers: list[Layer] = []
        self.built = False
        self.ops = None
        self.params = self.grads = self.states = None
        self._segments: list[tuple[int, int]] = []
        self._init_training_state()
        for layer in layers or []:
            self.add(layer)

    # ---- structure --------------------------------------------------------------------------------
    @property
    def layers(self) -> list[Layer]:
        return list(self._layers)

    def add(self, layer: Layer) -> None:
        if not isinstance(layer, Layer):
            raise TypeError(f"layer: expected a gpunn layer instance, got {type(layer).__name__} {layer!r}")
        if isinstance(layer, InputLayer):
            if self._layers or self._input_layer is not None:
                raise ValueError("layer: an Input/InputLayer can only be the first layer of a Sequential model")
            self._input_layer = layer
        else:
            if any(existing.name == layer.name for existing in self._layers):
                raise ValueError(f"layer: the model already has a layer named {layer.name!r}; names must be unique")
            self._layers.append(layer)
        self._invalidate()
        if self.declared_input_shape is not None and self._layers:
            self.build()  # as in Keras: a model that knows its input shape is built as it is assembled

    def pop(self) -> Layer:
        if not self._layers:
            raise ValueError("pop: the model has no layers")
        layer = self._layers.pop()
        self._invalidate()
        return layer

    def _invalidate(self) -> None:
        if self.built:  # weights of the surviving layers are kept and copied into the new buffers
            saved = [layer.get_weights() if layer.built else None for layer in self._layers]
            self.built = False
            self._pending_weights = saved
        self._optimizer_built = False  # its slots are laid out for the old flat buffer; rebuilt on the next step
        # New flat buffers after a rebuild: the steps (their buffers, reducer, recordings) and the replica
        # sync must see them.
        self.train_function = self.test_function = None
        self._synced_comm = None

    @property
    def declared_input_shape(self) -> tuple | None:
        if self._input_layer is not None:
            return self._input_layer.declared_input_shape
        if self._layers and self._layers[0].declared_input_shape is not None:
            return self._layers[0].declared_input_shape
        return None

    @property
    def input_shape(self):
        self._require_built("input_shape")
        return (None,) + tuple(self._layers[0].input_shape)

    @property
    def output_shape(self):
        self._require_built("output_shape")
        return (None,) + tuple(self._layers[-1].output_shape)

    @property
    def dtype(self) -> str:
        for layer in ([self._input_layer] if self._input_layer else []) + self._layers:
            if layer.dtype is not None:
                return layer.dtype
        return "float32"

    # ---- building ---------------------------------------------------------------------------------
    def build(self, input_shape=None) -> None:
        """Create the weights for inputs of ``input_shape`` (with or without the leading batch dimension)."""
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
            elif input_shape and input_shape[0] is None:
                input_shape = input_shape[1:]
        dtypes = {layer.dtype for layer in self._layers if layer.dtype is not None}
        if len(dtypes) > 1:
            raise ValueError(f"dtype: all layers of a model must share one dtype, got {sorted(dtypes)}")
        shape = tuple(input_shape)
        for layer in self._layers:
            layer.build(shape)
            shape = layer.output_shape
        self._allocate(get_ops())
        self.built = True
        pending = getattr(self, "_pending_weights", None)
        if pending:
            for layer, weights in zip(self._layers, pending):
                if weights is not None:
                    layer.set_weights(weights)
            self._pending_weights = None

    def _allocate(self, ops) -> None:
        """One flat buffer for trainable weights, one for their gradients, one for non-trainable state."""
        self.ops = ops
        dtype = self.dtype
        trainable, frozen = [], []
        for layer in self._layers:
            for spec in layer.weight_specs():
                (trainable if spec.trainable and layer.trainable else frozen).append((layer, spec))
        sizes = [int(np.prod(s.shape)) for _, s in trainable]
        state_sizes = [int(np.prod(s.shape)) for _, s in frozen]
        self.params = ops.zeros(sum(sizes), dtype=dtype)
        self.grads = ops.zeros(sum(sizes), dtype=dtype)
        self.states = ops.zeros(sum(state_sizes), dtype=dtype)
        views: dict[int, tuple[dict, dict]] = {id(layer): ({}, {}) for layer in self._layers}
        self._segments = []
        offset = 0
        for (layer, spec), size in zip(trainable, sizes):
            block = slice(offset, offset + size)
            views[id(layer)][0][spec.name] = self.params[block].reshape(spec.shape)
            views[id(layer)][1][spec.name] = self.grads[block].reshape(spec.shape)
            self._segments.append((offset, offset + size))
            offset += size
        offset = 0
        for (layer, spec), size in zip(frozen, state_sizes):
            views[id(layer)][0][spec.name] = self.states[offset:offset + size].reshape(spec.shape)
            offset += size
        # Initialise in layer order on the host (same generator on every backend), one copy each.
        for layer in self._layers:
            weights, grads = views[id(layer)]
            for spec in layer.weight_specs():
                weights[spec.name][...] = ops.asarray(spec.initializer(spec.shape, dtype))
            layer.bind(ops, weights, grads)

    def _require_built(self, what: str) -> None:
        if not self.built:
            raise NotBuiltError(
                f"{what}: this model has not been built yet. Build it with model.build(input_shape), by "
                "starting it with gpunn.Input(shape=...) / giving the first layer input_shape=..., or by calling "
                "fit() or predict() on data"
            )

    def _ensure_built(self, x_shape: tuple) -> None:
        if not self.built:
            if self.declared_input_shape is None:
                self.build(tuple(x_shape[1:]))
            else:
                self.build()

    # ---- weights ----------------------------------------------------------------------------------
    @property
    def weights(self) -> list:
        return [w for layer in self._layers for w in layer.weights]

    @property
    def trainable_weights(self) -> list:
        return [layer.bound.weights[s.name] for layer in self._layers for s in layer.weight_specs()
                if s.trainable and layer.trainable and self.built]

    def get_weights(self) -> list[np.ndarray]:
        """Host copies in Keras's order and layout (Dense: kernel (inputs, units), then bias)."""
        self._require_built("get_weights")
        return [w for layer in self._layers for w in layer.get_weights()]

    def set_weights(self, weights) -> None:
        self._require_built("set_weights")
        weights = list(weights)
        expected = sum(len(layer.weight_specs()) for layer in self._layers)
        if len(weights) != expected:
            raise ValueError(f"weights: expected a list of {expected} arrays (as get_weights returns), got {len(weights)}")
        i = 0
        for layer in self._layers:
            n = len(layer.weight_specs())
            layer.set_weights(weights[i:i + n])
            i += n

    def count_params(self) -> int:
        self._require_built("count_params")
        return sum(layer.count_params() for layer in self._layers)

    def get_layer(self, name=None, index=None) -> Layer:
        if index is not None:
            return self._layers[index]
        for layer in self._layers:
            if layer.name == name:
                return layer
        raise ValueError(f"name: no layer named {name!r}; the layers are {[l.name for l in self._layers]}")

    def summary(self, print_fn=print, line_length=None) -> None:
        self._require_built("summary")
        print_fn(format_summary(self))

    # ---- files ------------------------------------------------------------------------------------
    def save(self, filepath, overwrite=True, include_optimizer=True) -> None:
        """One file (any name, e.g. 'model.h5'): config, weights and optimizer state; written atomically."""
        save_module.save_model(self, filepath, overwrite=overwrite, include_optimizer=include_optimizer)

    def save_weights(self, filepath, overwrite=True) -> None:
        save_module.save_weights(self, filepath, overwrite=overwrite)

    def load_weights(self, filepath) -> None:
        save_module.load_weights(self, filepath)

    # ---- config -----------------------------------------------------------------------------------
    def get_config(self) -> dict:
        layers = ([layers_module.serialize(self._input_layer)] if self._input_layer else []) + [
            layers_module.serialize(layer) for layer in self._layers]
        config = {"name": self.name, "layers": layers}
        if self.built:
            config["build_input_shape"] = [None] + list(self._layers[0].input_shape)
        return config

    @classmethod
    def from_config(cls, config: dict) -> "Sequential":
        model = cls(name=config.get("name"))
        for layer_config in config["layers"]:
            model.add(layers_module.deserialize(layer_config))
        if config.get("build_input_shape"):
            model.build(tuple(config["build_input_shape"]))
        return model

    def __repr__(self) -> str:
        return f"<Sequential name={self.name!r} layers={len(self._layers)} built={self.built}>"
