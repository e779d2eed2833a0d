"""Synthetic, learnable data of any size: for benchmarks and for tests that must not download.

Everything is drawn with ``numpy.random.default_rng(seed)``, so a seed always gives the same data.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = ["make_classification", "make_regression", "load_data"]


def _check_positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name}: expected a positive integer, got {value!r}")
    return int(value)


def _check_noise(value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value >= 0:
        raise ValueError(f"noise: expected a number >= 0, got {value!r}")
    return float(value)


def _float_dtype(dtype):
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise ValueError(f"dtype: expected a floating-point dtype, got {dtype}")
    return dtype


def _standard_normal(rng, shape, dtype):
    # default_rng draws float32 directly (half the memory traffic of float64 then a cast), which
    # keeps a 60000x784 set well under a second.
    if dtype in (np.float32, np.float64):
        return rng.standard_normal(shape, dtype=dtype)
    return rng.standard_normal(shape, dtype=np.float32).astype(dtype)


def make_classification(n_samples, n_features, n_classes=10, seed=0, dtype="float32", noise=1.0,
                        class_sep=6.0):
    """Gaussian classes: each class is a random centre plus isotropic Gaussian noise.

    Centres are drawn so that two classes lie about ``class_sep`` apart whatever ``n_features`` is;
    every feature then gets noise of standard deviation ``noise``. The difficulty therefore depends
    only on ``class_sep / noise``: with the defaults the best possible accuracy is about 98-99%,
    and a linear model already does far better than chance. The label distribution is uniform.

    Args:
        n_samples: number of samples.
        n_features: number of features.
        n_classes: number of classes (labels are ``0 .. n_classes - 1``).
        seed: random seed.
        dtype: floating-point dtype of ``x``.
        noise: per-feature noise standard deviation; larger is harder.
        class_sep: typical distance between two class centres; larger is easier.

    Returns:
        ``(x, y)``: ``x`` of shape ``(n_samples, n_features)`` and ``dtype``; ``y`` int64 labels of
        shape ``(n_samples,)``.
    """
    n_samples = _check_positive_int("n_samples", n_samples)
    n_features = _check_positive_int("n_features", n_features)
    n_classes = _check_positive_int("n_classes", n_classes)
    noise = _check_noise(noise)
    dtype = _float_dtype(dtype)
    rng = np.random.default_rng(seed)
    # Centre coordinates of variance class_sep**2 / (2 * n_features): the expected squared distance
    # between two centres is then class_sep**2 for any number of features.
    scale = class_sep / math.sqrt(2 * n_features)
    centres = _standard_normal(rng, (n_classes, n_features), dtype) * dtype.type(scale)
    y = rng.integers(0, n_classes, size=n_samples)
    x = _standard_normal(rng, (n_samples, n_features), dtype)
    x *= dtype.type(noise)
    x += centres[y]
    return x, y


def make_regression(n_samples, n_features, n_outputs=1, seed=0, dtype="float32", noise=0.1):
    """Targets from a fixed random teacher network: ``y = tanh(x W1) W2 + 0.5 x w + noise``.

    ``x`` is standard normal; the teacher has 32 tanh units and a linear skip term, scaled so each
    target has a standard deviation of order 1. A linear model explains only part of the variance
    (R^2 near 0.8); an MLP, given enough samples, approaches the noise floor.

    Args:
        n_samples: number of samples.
        n_features: number of features.
        n_outputs: number of targets.
        seed: random seed.
        dtype: floating-point dtype of ``x`` and ``y``.
        noise: standard deviation of Gaussian noise added to the targets.

    Returns:
        ``(x, y)``: ``x`` of shape ``(n_samples, n_features)``, ``y`` of shape
        ``(n_samples, n_outputs)`` (2-D even for one output, matching a ``Dense(n_outputs)`` head).
    """
    n_samples = _check_positive_int("n_samples", n_samples)
    n_features = _check_positive_int("n_features", n_features)
    n_outputs = _check_positive_int("n_outputs", n_outputs)
    noise = _check_noise(noise)
    dtype = _float_dtype(dtype)
    rng = np.random.default_rng(seed)
    hidden = 32
    w1 = rng.standard_normal((n_features, hidden)) * (1.5 / math.sqrt(n_features))
    w2 = rng.standard_normal((hidden, n_outputs)) / math.sqrt(hidden * 0.5)
    skip = rng.standard_normal((n_features, n_outputs)) * (0.5 / math.sqrt(n_features))
    x = _standard_normal(rng, (n_samples, n_features), dtype)
    # The teacher runs in float64 so the targets do not depend on dtype beyond the final cast.
    x64 = x.astype(np.float64)
    y = np.tanh(x64 @ w1) @ w2 + x64 @ skip + noise * rng.standard_normal((n_samples, n_outputs))
    return x, y.astype(dtype)


def load_data(n_samples=60000, n_features=784, n_classes=10, test_split=0.2, seed=0,
              dtype="float32", noise=1.0):
    """A Keras-style train/test split of :func:`make_classification` data.

    Shaped like a flattened MNIST by default, for benchmarks: ``n_samples`` is the total, of which
    ``round(test_split * n_samples)`` go to the test set.

    Args:
        n_samples: total number of samples (train plus test).
        n_features: number of features.
        n_classes: number of classes.
        test_split: fraction of samples held out for testing, in [0, 1).
        seed: random seed.
        dtype: floating-point dtype of ``x``.
        noise: per-feature noise standard deviation (see :func:`make_classification`).

    Returns:
        ``((x_train, y_train), (x_test, y_test))``: ``x`` of shape ``(num_samples, n_features)``,
        ``y`` uint8 labels when ``n_classes <= 256`` (as the image data sets), else int64.
    """
    if isinstance(test_split, bool) or not isinstance(test_split, numbers.Real) or not 0 <= test_split < 1:
        raise ValueError(f"test_split: expected a fraction in [0, 1), got {test_split!r}")
    x, y = make_classification(n_samples, n_features, n_classes=n_classes, seed=seed, dtype=dtype,
                               noise=noise)
    if n_classes <= 256:
        y = y.astype(np.uint8)
    # Samples are i.i.d., so a plain cut is already a random split.
    n_test = int(round(test_split * n_samples))
    n_train = n_samples - n_test
    return (x[:n_train], y[:n_train]), (x[n_train:], y[n_train:])
