"""Weight initializers with Keras's names, defaults and fan computations.

They draw on the host from gpunn's generator (``gpunn.random``) so a seed gives the same weights on every
backend; the model copies them to the device once when it is built.
"""
from __future__ import annotations

import math

import numpy as np

from . import random as gpunn_random
from ._registry import lookup


def _fans(shape) -> tuple[float, float]:
    if len(shape) == 0:
        return 1.0, 1.0
    if len(shape) == 1:
        return float(shape[0]), float(shape[0])
    receptive = math.prod(shape[:-2]) if len(shape) > 2 else 1
    return float(shape[-2] * receptive), float(shape[-1] * receptive)


class Initializer:
    def __call__(self, shape, dtype="float32") -> np.ndarray:
        return self.sample(tuple(shape), gpunn_random.generator()).astype(dtype, copy=False)

    def sample(self, shape, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def get_config(self) -> dict:
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}

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
    def __init__(self, value=0.0):
        self.value = float(value)

    def sample(self, shape, rng):
        return np.full(shape, self.value)


class RandomNormal(Initializer):
    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean, self.stddev, self.seed = mean, stddev, seed

    def sample(self, shape, rng):
        rng = rng if self.seed is None else np.random.default_rng(self.seed)
        return rng.normal(self.mean, self.stddev, shape)


class RandomUniform(Initializer):
    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        self.minval, self.maxval, self.seed = minval, maxval, seed

    def sample(self, shape, rng):
        rng = rng if self.seed is None else np.random.default_rng(self.seed)
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
        self.mean, self.stddev, self.seed = mean, stddev, seed

    def sample(self, shape, rng):
        rng = rng if self.seed is None else np.random.default_rng(self.seed)
        return self.mean + _truncated_normal(rng, self.stddev, shape)


class VarianceScaling(Initializer):
    """Keras's VarianceScaling: the family behind the Glorot, He and LeCun initializers."""

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None):
        if scale <= 0:
            raise ValueError(f"scale: expected a positive number, got {scale!r}")
        if mode not in ("fan_in", "fan_out", "fan_avg"):
            raise ValueError(f"mode: expected 'fan_in', 'fan_out' or 'fan_avg', got {mode!r}")
        if distribution not in ("truncated_normal", "untruncated_normal", "uniform"):
            raise ValueError(
                f"distribution: expected 'truncated_normal', 'untruncated_normal' or 'uniform', got {distribution!r}"
            )
        self.scale, self.mode, self.distribution, self.seed = scale, mode, distribution, seed

    def sample(self, shape, rng):
        rng = rng if self.seed is None else np.random.default_rng(self.seed)
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
    def __init__(self, seed=None):
        VarianceScaling.__init__(self, scale, mode, distribution, seed)

    def get_config(self):
        return {"seed": self.seed}

    return type(name, (VarianceScaling,), {"__init__": __init__, "get_config": get_config})


GlorotUniform = _family("GlorotUniform", 1.0, "fan_avg", "uniform")
GlorotNormal = _family("GlorotNormal", 1.0, "fan_avg", "truncated_normal")
HeUniform = _family("HeUniform", 2.0, "fan_in", "uniform")
HeNormal = _family("HeNormal", 2.0, "fan_in", "truncated_normal")
LecunUniform = _family("LecunUniform", 1.0, "fan_in", "uniform")
LecunNormal = _family("LecunNormal", 1.0, "fan_in", "truncated_normal")

_BY_NAME = {
    "zeros": Zeros, "ones": Ones, "constant": Constant, "random_normal": RandomNormal,
    "random_uniform": RandomUniform, "truncated_normal": TruncatedNormal, "variance_scaling": VarianceScaling,
    "glorot_uniform": GlorotUniform, "glorot_normal": GlorotNormal, "he_uniform": HeUniform,
    "he_normal": HeNormal, "lecun_uniform": LecunUniform, "lecun_normal": LecunNormal,
}
_BY_CLASS = {cls.__name__: cls for cls in _BY_NAME.values()}


def get(identifier) -> Initializer:
    if isinstance(identifier, Initializer):
        return identifier
    if isinstance(identifier, dict):  # a serialized initializer
        cls = lookup("initializer", identifier["class_name"], {k.lower(): v for k, v in _BY_CLASS.items()})
        return cls.from_config(identifier.get("config", {}))
    if isinstance(identifier, type) and issubclass(identifier, Initializer):
        return identifier()
    return lookup("initializer", identifier, _BY_NAME)()


def serialize(init: Initializer) -> dict:
    return {"class_name": type(init).__name__, "config": init.get_config()}
