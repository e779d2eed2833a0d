"""A ``keras.Model`` subclass holding weights of its own: ``self.pi = self.add_weight(...)`` (or a
``keras.Variable`` set as an attribute) in ``__init__`` or ``build``, used in its ``call()`` beside the layers it
holds, as keras-io's "Deep Neural Decision Forests" writes its trees (a Model is a Layer in Keras).

gpunn learns a subclassed model's graph from the layers its ``call()`` calls (``subclassed.py``), and a weight of
the model's own has no layer there. Such a model's ``call()`` is run instead as one layer of the user's
(``layers/user_layer.py``): a ``ModelBody`` named as the model, owning the model's weights (made when the model
first asks for one) and, as sublayers, the layers the model holds, at the attributes the model holds them in. The
model's graph is then its inputs, that one layer, its outputs: it trains, predicts, evaluates and nests in other
models as any model whose layer computes in its ``call()``; ``model.weights`` lists its own weights first, then its
layers', as Keras's do. Its ``.keras`` file names its class, as Keras's does (``subclassed_config.py``); a graph
config (``to_json``, ``clone_model`` given a ``clone_function``) is refused by name.
"""
from __future__ import annotations

import inspect

from ..layers import user_layer, variable_paths
from ..layers.base import Layer

BODY = "_own_weights_body"  # the attribute of the model holding its ModelBody


class ModelBody(Layer):
    """The ``call()`` of a model holding weights of its own, run as one layer of the user's."""

    computes_in_call = True  # user_layer.runs_call: its computation is its call(), run as a user's layer's is
    takes_several_inputs = True  # (base.Layer.__call__: a list or dict of them, as a layer of the user's takes)

    def __init__(self, model):
        # the model's dtype where it was given one (Keras: its own weights and call() compute in it)
        dtype = model.__dict__.get("_model_dtype")
        super().__init__(name=model.name, dtype=None if dtype == "float32" else dtype)
        self.__dict__["_model"] = model  # (not a sublayer: the model's layers are, at the model's attributes)

    @property
    def keras_class_name(self) -> str:
        """The class Keras's files name it by: the model's (``keras_variables.keras_layer_paths``)."""
        return type(self.__dict__["_model"]).__name__

    def build(self, input_shape):
        user_layer.build_user_layer(self, input_shape)

    def forward(self, x, training):
        return user_layer.forward(self, x, training)

    def call(self, inputs, training=None):
        model = self.__dict__["_model"]
        takes_training = self.__dict__.get("_call_takes_training")
        if takes_training is None:  # (once: a step runs this)
            takes_training = self.__dict__["_call_takes_training"] = "training" in inspect.signature(
                model.call).parameters
        return model.call(inputs, training=training) if takes_training else model.call(inputs)

    def get_config(self):
        model = self.__dict__["_model"]
        raise TypeError(f"{type(model).__name__}: a keras.Model subclass holding weights of its own (add_weight, "
                        "keras.Variable) runs its call() as one layer, which has no graph config (to_json, a "
                        "clone_function or input_tensors given to clone_model); model.save() writes its class's "
                        "file, as Keras's, which load_model reads given the class, and clone_model(model) makes "
                        "the class again")


def body(model) -> ModelBody:
    """The ModelBody of ``model``, made when the model first asks for a weight of its own."""
    found = vars(model).get(BODY)
    if found is None:
        found = ModelBody(model)
        with variable_paths.outside(model.name):  # (made in the model's build(), under its name: as the model's)
            variable_paths.fix_prefix(found)
        object.__setattr__(model, BODY, found)
    return found


def body_of(model) -> ModelBody | None:
    return vars(model).get(BODY)


def trace(model, inputs, internal: frozenset):
    """The model's outputs on the symbolic ``inputs``: its body called on them, after the layers the model holds
    became the body's sublayers (at the model's attribute names, in the order the model set them)."""
    found = body_of(model)
    taken = vars(found)
    for name, value in vars(model).items():
        if name in internal or name == BODY or not isinstance(value, (Layer, list, tuple, dict)) and not (
                hasattr(value, "_layers")):
            continue
        if name in taken and taken[name] is not value:
            raise ValueError(f"{type(model).__name__}.{name}: a model holding weights of its own runs its call() "
                             f"as one layer, whose attribute {name!r} this is already; name the attribute otherwise")
        taken[name] = value
    from .keras_attribute_paths import keras_layers
    from .subclassed import TRACKING_ORDER

    # Keras's model.layers, which its weights files walk as one more attribute: a layer held at an attribute
    # sorting after 'layers' ('out') is saved at 'layers/dense_1' (keras_attribute_paths.py), as the body's
    # sublayer held twice is at the first of its attributes in that order (sublayers.children)
    if "layers" not in taken:
        taken["layers"] = keras_layers(model)
    taken["_tracked"] = dict(vars(model).get(TRACKING_ORDER, {}))
    with variable_paths.outside(model.name):  # the body builds the model's layers under its name, the model's
        return found(inputs)
