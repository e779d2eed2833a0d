"""Weight initializers with Keras's names, defaults and fan computations.

They draw on the host from gpunn's generator (``gpunn.random``) so a seed gives the same weights on every
backend; the model copies them to the device once when it is built.
"""
from __future__ import annotations

import math

import numpy as np

from . import custom_objects, keras_objects
from .custom_objects import custom_object_scope
from . import random as gpunn_random
from ._registry import lookup
from .autodiff.default_float import floatx
from .dtypes import standardize_dtype
from .number_arguments import finite_number, positive_number


def _fans(shape) -> tuple[float, float]:
    if len(shape) == 0:
        return 1.0, 1.0
    if len(shape) == 1:
        return float(shape[0]), float(shape[0])
    receptive = math.prod(shape[:-2]) if len(shape) > 2 else 1
    return float(shape[-2] * receptive), float(shape[-1] * receptive)


def _checked_seed(seed):
    """A random initializer's seed as Keras takes it, checked when the initializer is made: None, an integer or
    a keras.random.SeedGenerator."""
    if seed is None or isinstance(seed, gpunn_random.SeedGenerator) or (
            isinstance(seed, (int, np.integer)) and not isinstance(seed, bool)):
        return seed
    if isinstance(seed, dict) and seed.get("class_name") == "SeedGenerator":  # as Keras's files write one
        return gpunn_random.SeedGenerator(seed=(seed.get("config") or {}).get("seed"))
    raise ValueError("`seed` argument should be an instance of `keras.random.SeedGenerator()` or an integer. "
                     f"Received: seed={seed}")  # Keras's message


class Initializer:
    def __call__(self, shape, dtype=None) -> np.ndarray:
        if dtype is not None and "seed" in vars(self) and np.dtype(standardize_dtype(dtype)).kind != "f":
            # (a random draw truncated to integers would be mostly zeros: Keras refuses it)
            raise ValueError(f"dtype: {type(self).__name__} draws floating-point values; expected a float dtype, "
                             f"got {dtype!r}")
        return self.sample(tuple(shape), gpunn_random.for_new_draws()).astype(dtype or floatx(), copy=False)

    def sample(self, shape, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def _draws(self, rng: np.random.Generator) -> np.random.Generator:
        """Where a random initializer draws: ``rng`` (gpunn's generator) unseeded, the same values at every call
        for an integer seed, a SeedGenerator's own advancing state (new values at each call), as Keras's."""
        seed = getattr(self, "seed", None)
        return rng if seed is None else gpunn_random.generator_for(seed)

    def get_config(self) -> dict:
        # (a SeedGenerator's state is not a config: written as unseeded)
        return {k: None if isinstance(v, gpunn_random.SeedGenerator) else v
                for k, v in vars(self).items() if not k.startswith("_")}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class Zeros(Initializer):
    def sample(self, shape, rng):
        return np.zeros(shape)


class Ones(Initializer):
    def sample(self, shape, rng):
        return np.ones(shape)


class Constant(Initializer):
    """``value`` everywhere. Keras 3's Constant documents a scalar but computes ``cast(value) * ones(shape)``
    (keras/src/initializers/constant_initializers.py), so an array that broadcasts to the weight's shape works
    there too: so it does here, and any other array is refused naming both shapes. An array value is kept as a
    float64 array and saved in the config as nested lists."""

    def __init__(self, value=0.0):
        if isinstance(value, dict) and value.get("class_name") == "__numpy__":  # an array in Keras's config
            value = np.array(value["config"]["value"], dtype=value["config"].get("dtype"))
        array = np.asarray(value)
        if array.dtype.kind not in "biuf" or np.isnan(array).any():
            raise ValueError(f"value: expected a number or an array of numbers (not NaN), got {value!r}")
        self.value = float(array) if array.ndim == 0 else array.astype(np.float64)

    def sample(self, shape, rng):
        if isinstance(self.value, float):
            return np.full(shape, self.value)
        try:
            fits = np.broadcast_shapes(self.value.shape, shape) == tuple(shape)
        except ValueError:
            fits = False
        if not fits:
            raise ValueError(f"value: a Constant of shape {self.value.shape} cannot fill a weight of shape "
                             f"{tuple(shape)}; give a scalar or an array that broadcasts to {tuple(shape)}")
        return np.array(np.broadcast_to(self.value, shape))

    def get_config(self):
        return {"value": self.value if isinstance(self.value, float) else self.value.tolist()}


class RandomNormal(Initializer):
    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean = finite_number("mean", mean, keep_int=True)
        self.stddev = finite_number("stddev", stddev, 0, keep_int=True)
        self.seed = _checked_seed(seed)

    def sample(self, shape, rng):
        rng = self._draws(rng)
        return rng.normal(self.mean, self.stddev, shape)


class RandomUniform(Initializer):
    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        self.minval = finite_number("minval", minval, keep_int=True)
        self.maxval = finite_number("maxval", maxval, keep_int=True)
        if maxval < minval:
            raise ValueError(f"maxval: expected a number >= minval ({minval!r}), got {maxval!r}")
        self.seed = _checked_seed(seed)

    def sample(self, shape, rng):
        rng = self._draws(rng)
        return rng.uniform(self.minval, self.maxval, shape)


def _truncated_normal(rng, stddev, shape):
    # Keras's truncated normal: redraw values beyond two standard deviations.
    out = rng.normal(0.0, 1.0, shape)
    bad = np.abs(out) > 2.0
    while bad.any():
        out[bad] = rng.normal(0.0, 1.0, int(bad.sum()))
        bad = np.abs(out) > 2.0
    return out * stddev


class TruncatedNormal(Initializer):
    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean = finite_number("mean", mean, keep_int=True)
        self.stddev = finite_number("stddev", stddev, 0, keep_int=True)
        self.seed = _checked_seed(seed)

    def sample(self, shape, rng):
        rng = self._draws(rng)
        return self.mean + _truncated_normal(rng, self.stddev, shape)


class VarianceScaling(Initializer):
    """Keras's VarianceScaling: the family behind the Glorot, He and LeCun initializers."""

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None, input_axes=None,
                 output_axes=None):
        positive_number("scale", scale)
        if mode not in ("fan_in", "fan_out", "fan_avg"):
            raise ValueError(f"mode: expected 'fan_in', 'fan_out' or 'fan_avg', got {mode!r}")
        if isinstance(distribution, str):  # Keras lower-cases it, and takes tf.keras's "normal" as truncated
            distribution = distribution.lower()
            distribution = "truncated_normal" if distribution == "normal" else distribution
        if distribution not in ("truncated_normal", "untruncated_normal", "uniform"):
            raise ValueError(
                f"distribution: expected 'truncated_normal', 'untruncated_normal' or 'uniform', got {distribution!r}"
            )
        self.scale, self.mode, self.distribution, self.seed = scale, mode, distribution, _checked_seed(seed)
        # Keras 3.15's: the kernel axes its fans count (an EinsumDense kernel's), None for the usual last two
        self.input_axes = None if input_axes is None else [int(a) for a in input_axes]
        self.output_axes = None if output_axes is None else [int(a) for a in output_axes]

    def get_config(self) -> dict:
        config = {k: v for k, v in super().get_config().items() if k not in ("input_axes", "output_axes")}
        return {**config, **_axes_config(self)}

    def with_axes(self, input_axes, output_axes):
        """A copy counting its fans over these kernel axes (what EinsumDense gives its initializer)."""
        copy = type(self).__new__(type(self))
        copy.__dict__.update(self.__dict__)
        copy.input_axes, copy.output_axes = list(input_axes), list(output_axes)
        return copy

    def sample(self, shape, rng):
        rng = self._draws(rng)
        if self.input_axes is not None and self.output_axes is not None:
            fan_in = float(math.prod(shape[a] for a in self.input_axes))
            fan_out = float(math.prod(shape[a] for a in self.output_axes))
        else:
            fan_in, fan_out = _fans(shape)
        fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[self.mode]
        variance = self.scale / max(1.0, fan)
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * variance)
            return rng.uniform(-limit, limit, shape)
        if self.distribution == "untruncated_normal":
            return rng.normal(0.0, math.sqrt(variance), shape)
        # 0.879... is the stddev of a unit normal truncated at two standard deviations.
        return _truncated_normal(rng, math.sqrt(variance) / 0.87962566103423978, shape)


def _family(name, scale, mode, distribution):
    def __init__(self, seed=None, input_axes=None, output_axes=None):
        VarianceScaling.__init__(self, scale, mode, distribution, seed, input_axes, output_axes)

    def get_config(self):
        return {"seed": Initializer.get_config(self)["seed"], **_axes_config(self)}

    return type(name, (VarianceScaling,), {"__init__": __init__, "get_config": get_config})


def _axes_config(initializer) -> dict:
    """Keras 3.15's ``input_axes`` / ``output_axes``, written where they are set (Keras reads their absence as
    None)."""
    if initializer.input_axes is None and initializer.output_axes is None:
        return {}
    return {"input_axes": initializer.input_axes, "output_axes": initializer.output_axes}


GlorotUniform = _family("GlorotUniform", 1.0, "fan_avg", "uniform")
GlorotNormal = _family("GlorotNormal", 1.0, "fan_avg", "truncated_normal")
HeUniform = _family("HeUniform", 2.0, "fan_in", "uniform")
HeNormal = _family("HeNormal", 2.0, "fan_in", "truncated_normal")
LecunUniform = _family("LecunUniform", 1.0, "fan_in", "uniform")
LecunNormal = _family("LecunNormal", 1.0, "fan_in", "truncated_normal")

class Orthogonal(Initializer):
    """Keras's Orthogonal: the Q of a QR factorisation of a normal draw, its columns' signs fixed by R's
    diagonal, shaped (rows = the product of all but the last dimension, columns = the last), times ``gain``."""

    def __init__(self, gain=1.0, seed=None):
        self.gain, self.seed = finite_number("gain", gain, keep_int=True), _checked_seed(seed)

    def sample(self, shape, rng):
        if len(shape) < 2:
            raise ValueError("The tensor to initialize must be at least two-dimensional. "
                             f"Received: shape={shape} of rank {len(shape)}.")
        rng = self._draws(rng)
        rows, cols = math.prod(shape[:-1]), shape[-1]
        q, r = np.linalg.qr(rng.normal(0.0, 1.0, (max(rows, cols), min(rows, cols))))
        q *= np.sign(np.diag(r))
        if rows < cols:
            q = q.T
        return self.gain * q.reshape(shape)


class Identity(Initializer):
    """Keras's Identity: ``gain`` times the (possibly rectangular) identity matrix; 2-D weights only."""

    def __init__(self, gain=1.0):
        self.gain = finite_number("gain", gain, keep_int=True)

    def sample(self, shape, rng):
        if len(shape) != 2:
            raise ValueError("Identity matrix initializer can only be used for 2D matrices. "
                             f"Received: shape={shape} of rank {len(shape)}.")
        return self.gain * np.eye(*shape)


_BY_NAME = {
    "zeros": Zeros, "ones": Ones, "constant": Constant, "random_normal": RandomNormal,
    "random_uniform": RandomUniform, "truncated_normal": TruncatedNormal, "variance_scaling": VarianceScaling,
    "glorot_uniform": GlorotUniform, "glorot_normal": GlorotNormal, "he_uniform": HeUniform,
    "he_normal": HeNormal, "lecun_uniform": LecunUniform, "lecun_normal": LecunNormal, "orthogonal": Orthogonal,
    "identity": Identity,
    # Keras 3's aliases (keras/src/initializers/__init__.py ALL_OBJECTS_DICT), with the classes' defaults
    "normal": RandomNormal, "uniform": RandomUniform, "one": Ones, "zero": Zeros,
}
_BY_CLASS = {cls.__name__: cls for cls in _BY_NAME.values()}
_BY_CLASS.update(OrthogonalInitializer=Orthogonal, IdentityInitializer=Identity)  # Keras's compatibility names

# Keras exports every class under its snake_case name too (keras.initializers.he_normal is HeNormal), and
# these two under older names.
zeros, ones, constant, random_normal, random_uniform = Zeros, Ones, Constant, RandomNormal, RandomUniform
truncated_normal, variance_scaling, orthogonal, identity = TruncatedNormal, VarianceScaling, Orthogonal, Identity
glorot_uniform, glorot_normal, he_uniform, he_normal = GlorotUniform, GlorotNormal, HeUniform, HeNormal
lecun_uniform, lecun_normal = LecunUniform, LecunNormal
OrthogonalInitializer, IdentityInitializer = Orthogonal, Identity
_DEFAULT = "glorot_uniform"  # what Keras 3's Layer.add_weight uses for a float weight given no initializer


class FunctionInitializer(Initializer):
    """A function ``f(shape, dtype=None)`` given as an initializer (Keras takes one, and an array of the weight's
    values, as ``initializers.get`` does): the values it returns, as an array of the weight's shape."""

    def __init__(self, function):
        self.function = function

    @property
    def __name__(self) -> str:  # as Keras keeps the function itself, scripts read its name
        return getattr(self.function, "__name__", type(self.function).__name__)

    def sample(self, shape, rng):
        from .autodiff.functions import convert_to_numpy

        values = np.asarray(convert_to_numpy(self.function(tuple(shape), dtype="float32")), dtype=np.float64)
        if values.shape != tuple(shape):
            raise ValueError(f"initializer: the function {getattr(self.function, '__name__', self.function)!r} "
                             f"returned values of shape {values.shape} for a weight of shape {tuple(shape)}")
        return values

    def get_config(self) -> dict:
        raise TypeError("a FunctionInitializer is written as its function (serialize)")

    def __call__(self, shape, dtype=None):
        return self.sample(shape, None).astype(dtype or floatx())


def _values_function(values):
    """An array given as an initializer: a function giving those values for a weight of their shape."""
    values = np.asarray(values)

    def initialize_fn(shape, dtype=None):
        if tuple(shape) != values.shape:
            raise ValueError(f"initializer: an array of shape {values.shape} initializes weights of that shape, "
                             f"got a weight of shape {tuple(shape)}")
        return values.astype(dtype or floatx())

    return initialize_fn


def get(identifier) -> Initializer:
    """An Initializer from a name (Keras's, its aliases, or a class name such as ``"RandomNormal"``), a config
    dict, a class or an instance.

    None gives GlorotUniform: Keras's ``initializers.get(None)`` returns None, and its layers then create the
    weight with ``add_weight(initializer=None)``, which picks ``"glorot_uniform"`` for a float weight
    (keras/src/layers/layer.py ``add_weight``) — so ``Dense(kernel_initializer=None)`` and
    ``Dense(bias_initializer=None)`` both start from Glorot-uniform values in Keras 3, as they do here."""
    if identifier is None:
        return _BY_NAME[_DEFAULT]()
    if isinstance(identifier, Initializer):
        return identifier
    if keras_objects.is_keras_object(identifier):  # (Keras's own: tf.initializers.zeros())
        return keras_objects.as_gpunn(identifier, "initializer")
    if isinstance(identifier, str) and identifier in _BY_CLASS:
        return _BY_CLASS[identifier]()
    if isinstance(identifier, dict) and identifier.get("class_name") == "function":  # a function of the user's
        return FunctionInitializer(custom_objects.function_of_entry(identifier, "initializer"))
    if isinstance(identifier, dict):  # a serialized initializer
        cls = custom_objects.resolve(identifier, "initializer", {k.lower(): v for k, v in _BY_CLASS.items()},
                                     Initializer)
        return cls.from_config(identifier.get("config", {}))
    if isinstance(identifier, type) and issubclass(identifier, Initializer):
        return identifier()
    if hasattr(identifier, "shape") and hasattr(identifier, "dtype") or isinstance(identifier, np.generic):
        return FunctionInitializer(_values_function(np.asarray(getattr(identifier, "value", identifier))))
    if callable(identifier) and not isinstance(identifier, type):  # f(shape, dtype=None)
        return FunctionInitializer(identifier)
    if isinstance(identifier, str) and identifier not in _BY_NAME:
        custom = custom_objects.lookup(identifier)  # a function of the user's, by its registered name (a file's)
        if custom is not None and not isinstance(custom, (type, str)):
            return get(custom)
    return lookup("initializer", identifier, _BY_NAME)()


def serialize(initializer: Initializer) -> dict:
    if isinstance(initializer, FunctionInitializer):
        return custom_objects.function_entry(initializer.function)
    return custom_objects.class_entry(initializer, initializer.get_config())


def deserialize(config, custom_objects=None) -> Initializer:
    """An Initializer from ``serialize``'s dict, or a name (Keras's ``initializers.deserialize``); the user's
    classes and functions taken from ``custom_objects`` too."""
    if not isinstance(config, (str, dict)) or isinstance(config, dict) and "class_name" not in config:
        raise ValueError(f"config: expected a dict with 'class_name' and 'config', or a name, got {config!r}")
    with custom_object_scope(custom_objects):
        return get(config)


def __dir__():
    from .api_listing import public_names  # (Keras's listing: api_listing.py)

    return public_names(globals())
