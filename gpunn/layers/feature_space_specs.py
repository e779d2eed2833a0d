"""What a FeatureSpace is told of each feature and each cross (Keras 3: ``Feature`` and ``Cross`` in
``keras/src/layers/preprocessing/feature_space.py``), with their configs in Keras's layout, so that a FeatureSpace's
config (and its ``.keras`` file) reads the same in Keras and in gpunn.
"""
from __future__ import annotations

from .identity import Identity

KERAS_MODULE = "keras.src.layers.preprocessing.feature_space"  # where Keras's Feature, Cross and TFDIdentity live


def entry(obj, config: dict) -> dict:
    """``obj`` as Keras's ``serialize_keras_object`` writes these classes (their registered name is their class
    name)."""
    name = type(obj).keras_class
    return {"module": KERAS_MODULE, "class_name": name, "config": config, "registered_name": name}


def from_entry(cls, value):
    """``value`` as an instance of ``cls``: itself, or made from its config (Keras's layout or the bare config)."""
    if isinstance(value, cls):
        return value
    if isinstance(value, dict):
        config = value.get("config", value) if "class_name" in value else value
        if "class_name" in value and value["class_name"] != cls.keras_class:
            raise ValueError(f"expected a serialized {cls.keras_class}, got class_name {value['class_name']!r}")
        return cls.from_config(config)
    raise TypeError(f"expected a {cls.keras_class} or its config, got {type(value).__name__} {value!r}")


class FeatureIdentity(Identity):
    """A float feature taken as it is (``FeatureSpace.float()``): Keras's ``TFDIdentity``, under its name in
    files."""
    keras_class = "TFDIdentity"

    def keras_entry(self) -> dict:
        return {"module": KERAS_MODULE, "class_name": "TFDIdentity",
                "config": {"name": self.name, "trainable": True, "dtype": _dtype_policy("float32")},
                "registered_name": "TFDIdentity"}


def _dtype_policy(name: str) -> dict:
    return {"module": "keras", "class_name": "DTypePolicy", "config": {"name": name}, "registered_name": None}


class Cross:
    """Features crossed together (``FeatureSpace.cross``): the combination of their values hashed into
    ``crossing_dim`` bins, output as the bin ("int") or its one-hot row ("one_hot")."""
    keras_class = "Cross"

    def __init__(self, feature_names, crossing_dim, output_mode="one_hot"):
        if output_mode not in {"int", "one_hot"}:
            raise ValueError("output_mode: expected one of {'int', 'one_hot'} for a cross, got "
                             f"output_mode={output_mode!r}")
        if isinstance(feature_names, str) or not all(isinstance(name, str) for name in feature_names):
            raise ValueError(f"feature_names: expected a tuple of feature names, got {feature_names!r}")
        self.feature_names = tuple(feature_names)
        if len(self.feature_names) < 2:
            raise ValueError(f"feature_names: a cross combines two features or more, got {self.feature_names}")
        if isinstance(crossing_dim, bool) or not isinstance(crossing_dim, int) or crossing_dim < 1:
            raise ValueError(f"crossing_dim: expected an int >= 1 (the number of hash bins), got {crossing_dim!r}")
        self.crossing_dim = crossing_dim
        self.output_mode = output_mode

    @property
    def name(self) -> str:
        return "_X_".join(self.feature_names)

    def get_config(self) -> dict:
        return {"feature_names": self.feature_names, "crossing_dim": self.crossing_dim,
                "output_mode": self.output_mode}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def __repr__(self) -> str:
        return f"<Cross {self.name!r} crossing_dim={self.crossing_dim} output_mode={self.output_mode!r}>"


class Feature:
    """One feature: the dtype of its input, the preprocessing layer turning it into numbers, and how the output
    is encoded: "int" (the index as it is), "one_hot" (its one-hot row) or "float" (the values as they are)."""
    keras_class = "Feature"

    def __init__(self, dtype, preprocessor, output_mode):
        from . import deserialize
        from .base import Layer

        if output_mode not in {"int", "one_hot", "float"}:
            raise ValueError("output_mode: expected one of {'int', 'one_hot', 'float'} for a feature, got "
                             f"output_mode={output_mode!r}")
        if dtype not in ("string", "str") and not _is_number_dtype(dtype):
            raise ValueError(f"dtype: expected the dtype of the feature's input ('float32', 'int32', 'string'...), "
                             f"got {dtype!r}")
        self.dtype = "string" if dtype == "str" else str(dtype)
        if isinstance(preprocessor, dict):
            preprocessor = FeatureIdentity.from_config(preprocessor["config"]) \
                if preprocessor.get("class_name") == "TFDIdentity" else deserialize(preprocessor)
        if not isinstance(preprocessor, Layer):
            raise TypeError(f"preprocessor: expected a preprocessing layer (IntegerLookup, Normalization...), got "
                            f"{type(preprocessor).__name__} {preprocessor!r}")
        self.preprocessor = preprocessor
        self.output_mode = output_mode

    def get_config(self) -> dict:
        from ..serialization import serialize_keras_object

        layer = self.preprocessor
        preprocessor = layer.keras_entry() if isinstance(layer, FeatureIdentity) else serialize_keras_object(layer)
        preprocessor["build_config"] = build_config(layer)
        return {"dtype": self.dtype, "preprocessor": preprocessor, "output_mode": self.output_mode}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def __repr__(self) -> str:
        return f"<Feature dtype={self.dtype!r} preprocessor={self.preprocessor!r} output_mode={self.output_mode!r}>"


def build_config(layer) -> dict:
    """Keras's build config of a FeatureSpace's preprocessing layer: the shape it is built for, (None, 1) (one
    value per sample); the lookups, which Keras builds without a shape, have none."""
    from .integer_lookup import IntegerLookup  # (StringLookup's base too)

    return {} if isinstance(layer, IntegerLookup) else {"input_shape": [None, 1]}


def _is_number_dtype(dtype) -> bool:
    import numpy as np

    try:
        return np.dtype(dtype).kind in "biuf"
    except TypeError:
        return False
