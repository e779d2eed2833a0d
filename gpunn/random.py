"""gpunn's own random state: weight initialisation, shuffling and dropout seeds all draw from it; and
``keras.random``'s functions (``normal``, ``uniform``, ``dropout``..., ``SeedGenerator``) for the functions users
write, drawing from it (their values are NumPy's, not Keras's backends').

``gpunn.utils.set_random_seed(s)`` resets it (and Python's and NumPy's global generators), so the same seed
gives the same run bit for bit on the CPU.
"""
from __future__ import annotations

import random as _py_random
import threading

import numpy as np

from .autodiff import Tensor
from .autodiff import functions
from .autodiff.default_float import floatx
from .unknown_arguments import refuse_unknown

# Made at its first use, seeded from Python's ``random``, where Keras draws the seeds of unseeded initializers and
# layers (keras/src/random/seed_generator.py ``make_default_seed``): ``random.seed(1)`` at a script's top repeats a
# run here as there, before or after ``import gpunn``; and made again when a script reseeds Python's ``random``
# later (``random.seed(42)`` before each model of a loop), as Keras's next seed then repeats (``for_new_draws``).
_generator = None
_python_state_seen = None  # Python's random state as gpunn's generator left it (made, or seeded with it)
_seedings = 0  # set_random_seed and clear_session calls: a model's shuffling restarts after one (shuffle_orders.py)
_made_once = threading.Lock()


def generator() -> np.random.Generator:
    if _generator is None:
        with _made_once:
            if _generator is None:
                _seed_from_python_random()
    return _generator


def for_new_draws() -> np.random.Generator:
    """gpunn's generator for a new weight's or layer's draws, made again from Python's ``random`` where that
    moved since the generator was made (``random.seed(42)`` again), as Keras draws each unseeded initializer's
    seed from it. (Shuffling keeps drawing from ``generator()``: Keras does not repeat it by ``random.seed``.)"""
    if _generator is not None and _py_random.getstate() != _python_state_seen:
        with _made_once:
            _seed_from_python_random()
    return generator()


def _seed_from_python_random() -> None:
    global _generator, _python_state_seen
    _generator = np.random.default_rng(_py_random.randint(1, int(1e9)))
    _python_state_seen = _py_random.getstate()


def set_random_seed(seed: int) -> None:
    """Seed gpunn, Python's ``random`` and NumPy's global generator, as ``keras.utils.set_random_seed`` does."""
    global _generator, _python_state_seen, _seedings
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed: expected a non-negative integer, got {seed!r}")
    _py_random.seed(int(seed))
    np.random.seed(int(seed) % 2**32)
    _generator = np.random.default_rng(int(seed))
    _python_state_seen = _py_random.getstate()
    _seedings += 1


def reseed_from_python_random() -> None:
    """A new generator seeded from Python's ``random``, as Keras makes its global seed generator after
    ``clear_session()`` (keras/src/random/seed_generator.py ``make_default_seed``)."""
    global _seedings
    with _made_once:
        _seed_from_python_random()
        _seedings += 1


def seedings() -> int:
    """How many times gpunn was seeded (``set_random_seed``, ``clear_session``): a new weight's draws reseeding
    from Python's ``random`` do not count, so that a model's shuffling goes on across them."""
    return _seedings


def saved_state() -> tuple:
    """gpunn's random state, for ``restored`` (draws that must leave the streams where they were)."""
    generator()
    return _generator, _generator.bit_generator.state, _python_state_seen


def restored(saved: tuple) -> None:
    global _generator, _python_state_seen
    _generator, state, _python_state_seen = saved
    _generator.bit_generator.state = state


def new_seed() -> int:
    """A 32-bit seed for a component (a dropout layer's counter-based RNG), drawn from gpunn's generator."""
    return int(for_new_draws().integers(0, 2**31 - 1))


# ---- keras.random: random tensors for the functions users write (a layer's call(), a loss) --------------------

class SeedGenerator:
    """Keras's ``keras.random.SeedGenerator(seed=None)``: a random state of its own that advances at each draw
    (a layer of the user's makes one in ``__init__`` and passes it as ``seed=``). Unseeded, it is seeded from
    gpunn's generator, so ``set_random_seed`` repeats it."""

    def __init__(self, seed=None, name=None, **kwargs):
        # (Keras's backend argument picks where its state lives; gpunn's is a NumPy generator)
        refuse_unknown("SeedGenerator", kwargs)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
            raise ValueError(f"seed: expected an integer or None, got {seed!r}")
        self.name = name or "seed_generator"
        self._generator = np.random.default_rng(new_seed() if seed is None else int(seed))

    def next(self, ordered=True) -> np.random.Generator:
        """The generator the draws come from (``ordered``: Keras's ordering of JAX's effects, nothing here)."""
        return self._generator


def generator_for(seed) -> np.random.Generator:
    """Keras's seed argument: None draws from gpunn's generator (advancing it), a SeedGenerator from its own, an
    integer gives the same values at every call (a stateless draw)."""
    if seed is None:
        return generator()
    if isinstance(seed, SeedGenerator):
        return seed.next()
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed: expected None, an integer or a SeedGenerator, got {seed!r}")
    return np.random.default_rng(int(seed))


def _shape(shape) -> tuple:
    """A shape as Keras's random functions take it: a tuple or list, or one int for a 1-D draw."""
    shape = (int(shape),) if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool) else tuple(shape)
    if any(d is None or getattr(d, "_is_symbolic", False) for d in shape):
        # ops.shape(x) of a subclassed model's call(), which gpunn runs once to learn its graph of layers
        raise ValueError(
            f"shape: keras.random draws of shape {shape}, of an unknown size (the batch size of a subclassed model's "
            "call(), which gpunn runs once on symbolic inputs to learn its graph of layers, so a draw there would be "
            "made once, not at each step): use keras.layers.Dropout or GaussianNoise there, or draw in the call() of "
            "a layer of your own (a keras.layers.Layer subclass, whose call() runs at each step)")
    return shape


def _tensor(values, dtype):
    return Tensor(np.asarray(values, dtype=dtype or floatx()))


def normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    return _tensor(generator_for(seed).normal(mean, stddev, size=_shape(shape)), _float_dtype(dtype))


def uniform(shape, minval=0.0, maxval=1.0, dtype=None, seed=None):
    return _tensor(generator_for(seed).uniform(minval, maxval, size=_shape(shape)), _float_dtype(dtype))


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    """Normal values redrawn until within two standard deviations of the mean, as Keras's."""
    rng = generator_for(seed)
    values = rng.normal(0.0, 1.0, size=_shape(shape))
    outside = np.abs(values) > 2
    while outside.any():
        values[outside] = rng.normal(0.0, 1.0, size=int(outside.sum()))
        outside = np.abs(values) > 2
    return _tensor(mean + stddev * values, _float_dtype(dtype))


def randint(shape, minval, maxval, dtype="int32", seed=None):
    if dtype is None or not np.issubdtype(np.dtype(dtype), np.integer):
        raise ValueError(f"dtype: randint draws integers, expected an integer type, got {dtype!r}")
    return _tensor(generator_for(seed).integers(minval, maxval, size=_shape(shape)), dtype)


def categorical(logits, num_samples, dtype="int32", seed=None):
    """(batch, num_samples) class ids, each row's drawn independently from the categorical distribution whose
    unnormalised log-probabilities are that row of ``logits`` (batch, classes)."""
    logits = np.asarray(functions.convert_to_numpy(logits), dtype=np.float64)
    if logits.ndim != 2:
        raise ValueError(f"`logits` should be a 2-D tensor with shape [batch_size, num_classes]. Received: "
                         f"logits of shape {logits.shape}")
    rng = generator_for(seed)
    probabilities = np.exp(logits - logits.max(axis=1, keepdims=True))
    cumulative = np.cumsum(probabilities / probabilities.sum(axis=1, keepdims=True), axis=1)
    draws = rng.uniform(size=(logits.shape[0], int(num_samples)))
    ids = np.stack([np.searchsorted(row, u, side="right") for row, u in zip(cumulative, draws)]) if len(logits) \
        else np.zeros((0, int(num_samples)), np.int64)
    return _tensor(np.minimum(ids, logits.shape[1] - 1), dtype)  # a draw at 1.0 after rounding: the last class


def gamma(shape, alpha, dtype=None, seed=None):
    """Gamma(alpha, 1) values."""
    return _tensor(generator_for(seed).gamma(alpha, 1.0, size=_shape(shape)), _float_dtype(dtype))


def binomial(shape, counts, probabilities, dtype=None, seed=None):
    """Binomial values: successes in ``counts`` trials of probability ``probabilities`` (broadcast together),
    as floats, as Keras returns them."""
    counts, probabilities = (np.asarray(functions.convert_to_numpy(v)) for v in (counts, probabilities))
    return _tensor(generator_for(seed).binomial(counts.astype(np.int64), probabilities, size=_shape(shape)),
                   _float_dtype(dtype))


def beta(shape, alpha, beta, dtype=None, seed=None):
    """Beta(alpha, beta) values."""
    alpha, beta = (np.asarray(functions.convert_to_numpy(v), dtype=np.float64) for v in (alpha, beta))
    return _tensor(generator_for(seed).beta(alpha, beta, size=_shape(shape)), _float_dtype(dtype))


def _float_dtype(dtype):
    """Keras's rule for the continuous draws: a float dtype, floatx by default."""

    if dtype is None:
        return floatx()
    if not np.issubdtype(np.dtype(dtype), np.floating):
        raise ValueError(f"dtype: expected a floating-point type, got {dtype!r}")
    return dtype


def dropout(inputs, rate, noise_shape=None, seed=None):
    """``inputs`` with elements zeroed with probability ``rate`` and the rest scaled by 1 / (1 - rate)."""
    if not 0 <= rate <= 1:
        raise ValueError(f"rate: expected a number in [0, 1], got {rate!r}")
    if rate == 1:  # everything dropped, as Keras gives it (no scale of 1 / 0)
        return functions.multiply(inputs, _tensor(0.0, str(functions.convert_to_tensor(inputs).dtype)))
    shape = functions.shape(inputs) if noise_shape is None else tuple(
        n if n is not None else m for n, m in zip(noise_shape, functions.shape(inputs)))
    keep = generator_for(seed).uniform(size=_shape(shape)) >= rate  # (_shape: a symbolic batch refused by name)
    return functions.multiply(inputs, _tensor(keep / (1.0 - rate), str(functions.convert_to_tensor(inputs).dtype)))


def shuffle(x, axis=0, seed=None):
    """``x`` with its slices along ``axis`` in a random order."""
    order = generator_for(seed).permutation(functions.shape(x)[axis])
    moved = functions.transpose(x, _swap(axis, len(functions.shape(x)))) if axis else x
    shuffled = functions.get_item(moved, order)
    return functions.transpose(shuffled, _swap(axis, len(functions.shape(x)))) if axis else shuffled


def _swap(axis: int, rank: int) -> list:
    order = list(range(rank))
    order[0], order[axis] = order[axis], order[0]
    return order
