"""Host-side checks and conversion of user data (the per-batch path to the device is trainer/epoch_iterator.py).

Every check runs before any training work and names the argument, what was expected and what came.
"""
from __future__ import annotations

import math
import numbers
import warnings

import numpy as np

from .foreign_data import from_pandas, is_pandas_series, refuse_masked, refuse_sparse
from .user_stacklevel import user_stacklevel


def all_finite(array: np.ndarray) -> bool:
    """Whether every value of a float array is finite, at about the cost of one sum (fit checks all of x at
    every call, so this is on the path of every epoch when fit is called once per epoch).

    A NaN anywhere makes the sum NaN and an inf makes it inf or NaN, so a finite sum proves every value
    finite. A non-finite sum can also come from finite values whose sum overflows (near the dtype's
    largest value): only then is each value tested.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isfinite(np.add.reduce(array, axis=None)):
            return True
    return bool(np.isfinite(array).all())


# The reduced-precision floats of ml_dtypes (a NumPy dtype of kind "V"), which JAX arrays and Keras's bfloat16
# policies hand over
_REDUCED_FLOATS = frozenset({"bfloat16", "float8_e4m3fn", "float8_e5m2", "float8_e4m3b11fnuz", "float8_e4m3fnuz",
                             "float8_e5m2fnuz"})


def as_numeric_array(argument: str, data) -> np.ndarray:
    if data is None:
        raise ValueError(f"{argument}: expected an array of samples, got None")
    refuse_sparse(argument, data)
    refuse_masked(argument, data)
    data = from_pandas(argument, data)
    if hasattr(data, "get") and not isinstance(data, np.ndarray) and hasattr(data, "__cuda_array_interface__"):
        data = data.get()  # a CuPy array handed in by the user
    try:
        array = np.asarray(data)
    except (ValueError, TypeError) as exc:
        hint = ""
        if type(data).__module__.split(".")[0] == "jax" and "Tracer" in type(data).__name__:
            hint = ("; gpunn's models are not differentiated by jax.grad or jax.jit (nor tf.GradientTape or torch's "
                    "backward): train them with model.fit or train_on_batch")
        raise TypeError(f"{argument}: expected numeric array-like data, got {type(data).__name__} ({exc}){hint}") \
            from None
    if array.dtype.name in _REDUCED_FLOATS:  # ml_dtypes' (JAX's): float32 holds every value exactly
        array = array.astype(np.float32)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{argument}: expected numeric data (float, int or bool), got dtype {array.dtype}")
    if array.ndim == 0:
        raise ValueError(f"{argument}: expected an array with a batch dimension, got a scalar")
    if array.shape[0] == 0:
        raise ValueError(f"{argument}: expected at least one sample, got an empty array of shape {array.shape}")
    if array.dtype.kind == "f" and not all_finite(array):
        bad = np.argwhere(~np.isfinite(array))[0]
        raise ValueError(
            f"{argument}: expected finite values, found NaN or inf (first at index {tuple(int(i) for i in bad)})"
        )
    return array


def as_feature_array(argument: str, data) -> np.ndarray:
    """Model inputs: ``as_numeric_array``, with a pandas Series read as one feature (a column), as Keras does."""
    array = as_numeric_array(argument, data)
    return array.reshape(-1, 1) if is_pandas_series(data) else array


def as_model_dtype(argument: str, array: np.ndarray, dtype) -> np.ndarray:
    """``array`` (checked by ``as_numeric_array``: finite) as the model's float dtype, contiguous; values too
    large for it are refused, since the cast would silently make them inf (a float64 1e39 in a float32 model)."""
    with np.errstate(over="ignore"):
        cast = np.ascontiguousarray(array, dtype=dtype)
    if array.dtype.kind in "iu" and cast.dtype.kind == "f" and array.size:
        _check_exact_integers(argument, array, cast)
    # Only a cast can overflow: an array already in the model's dtype was found finite before.
    if cast.dtype != array.dtype and not all_finite(cast):
        index = tuple(int(i) for i in np.argwhere(~np.isfinite(cast))[0])
        raise ValueError(
            f"{argument}: expected values that fit the model's dtype {cast.dtype.name} (largest magnitude "
            f"{np.finfo(cast.dtype).max:g}), got {array[index]!r} at index {index}, which becomes "
            f"{cast[index]!r}; rescale the data or use a wider dtype"
        )
    return cast


def _check_exact_integers(argument: str, array: np.ndarray, cast: np.ndarray) -> None:
    """Integers (ids, counts) become the model's floats; those beyond the float's exact range would become
    other integers without a word (16777217 is 16777216 in float32), so they are refused."""
    dtype = cast.dtype
    exact = 2 ** (np.finfo(dtype).nmant + 1)
    if max(abs(int(array.min())), abs(int(array.max()))) <= exact:
        return  # every integer up to there is a float of the dtype
    # back to the integers' own type, compared there: a float64 comparison would round 2**62 + 1 as float32 does
    # (20,000,000 is a float32; 16,777,217 is not; a float beyond the type's range comes back as another integer)
    with np.errstate(invalid="ignore"):
        changed = cast.astype(array.dtype) != array
    if changed.any():
        index = tuple(int(i) for i in np.argwhere(changed)[0])
        raise ValueError(f"{argument}: integers reach the model as {dtype.name}, exact up to {exact:,}; got "
                         f"{array[index]!r} at index {index}, which would become {cast[index]!r} "
                         "(bring ids into a smaller range, e.g. with their index in a vocabulary)")


def check_inputs(argument: str, x: np.ndarray, input_shape: tuple | None, dtype: str) -> np.ndarray:
    """``x`` as the model's float dtype, after checking its sample shape against the model input. As Keras 3
    does (``Functional._adjust_input_rank``), samples missing a last axis of size 1 get it (a 1-D column of
    values for an input of shape (1,)), and samples with an extra last axis of size 1 lose it."""
    if input_shape is not None and tuple(x.shape[1:]) != tuple(input_shape):
        expected = tuple(input_shape)
        if x.ndim == len(expected) and expected and expected[-1] == 1 and tuple(x.shape[1:]) == expected[:-1]:
            x = x[..., np.newaxis]
        elif x.ndim == len(expected) + 2 and x.shape[-1] == 1 and tuple(x.shape[1:-1]) == expected:
            x = x[..., 0]
    if input_shape is not None and tuple(x.shape[1:]) != tuple(input_shape):
        one_sample = tuple(x.shape) == tuple(input_shape)  # (a single sample, without its batch axis)
        raise ValueError(
            f"{argument}: expected samples of shape {tuple(input_shape)} (the model's input), got samples of "
            f"shape {tuple(x.shape[1:])} (array shape {x.shape})"
            + (f"; for one sample, give it a batch axis: {argument}[None] (shape {(1,) + x.shape})" if one_sample
               else "")
        )
    return as_model_dtype(argument, x, dtype)


def check_same_length(x: np.ndarray, y: np.ndarray, y_argument: str = "y") -> None:
    if len(x) != len(y):
        raise ValueError(f"{y_argument}: expected {len(x)} targets (one per sample of x), got {len(y)}")


def check_targets(argument: str, y: np.ndarray, loss, output_shape: tuple, dtype: str) -> np.ndarray:
    """Targets in the layout the loss wants: int class ids (B,) for sparse losses, else (B, *output_shape); a
    loss written as a function (``takes_sample_weights``) reads them its own way and takes them as given (class
    ids, wider rows), a one-unit output's (B,) seen as (B, 1)."""
    if not output_shape and loss.sparse_labels:
        raise ValueError(f"{argument}: {type(loss).__name__} needs an output with a class axis, got a model "
                         "output of one value per sample, shape (samples,); end the model in Dense(num_classes)")
    output_shape = tuple(output_shape) or (1,)  # one value per sample: trained as a column (trainer/plan.py)
    units = output_shape[-1]
    if getattr(loss, "takes_sample_weights", False) and not loss.sparse_labels:
        if y.ndim == 0:
            raise ValueError(f"{argument}: expected one target per sample, got a scalar")
        if tuple(output_shape) == (1,) and y.ndim == 1:
            y = y.reshape(-1, 1)
        return as_model_dtype(argument, y, dtype)
    if loss.sparse_labels:
        steps = tuple(output_shape[:-1])  # an output per step (samples, steps..., classes): an id per step
        if y.shape[1:] == steps + (1,):
            y = y[..., 0]
        if y.shape[1:] != steps:
            wanted = "(samples,)" if not steps else f"(samples, {', '.join(map(str, steps))})"
            raise ValueError(
                f"{argument}: {type(loss).__name__} expects integer class ids of shape {wanted}, got shape "
                f"{y.shape}; for one-hot targets use 'categorical_crossentropy'"
            )
        if y.dtype.kind == "f" and not np.array_equal(y, np.round(y)):
            raise ValueError(f"{argument}: expected integer class ids, got non-integer values such as {y[y != np.round(y)][0]}")
        low, high = y.min(), y.max()
        if low < 0 or high >= units:
            where = int(np.argmax((y < 0) | (y >= units)))
            raise ValueError(
                f"{argument}: labels must be integers in [0, {units}) for the model's {units} output "
                f"{'unit' if units == 1 else 'units'}; got {y[where]} at index {where} (range {low}..{high})"
                + ("; for 0/1 labels and one output unit, use 'binary_crossentropy'" if units == 1 else "")
            )
        return y.astype(np.int64, copy=False)
    expected = tuple(output_shape)
    if loss.fusable_activation == "softmax" and units == 1:  # Keras's warning (losses.py), and its category
        warnings.warn(f"In loss {getattr(loss, 'name', 'categorical_crossentropy')}, expected y_pred.shape to be "
                      f"(batch_size, num_classes) with num_classes > 1. Received: y_pred.shape={(None,) + expected}. "
                      "Consider using 'binary_crossentropy' if you only have 2 classes.", SyntaxWarning,
                      stacklevel=user_stacklevel())
    if y.shape[1:] != expected:
        if expected and expected[-1] == 1 and y.shape[1:] == expected[:-1]:
            # Keras's squeeze_or_expand_to_same_rank (losses/loss.py): targets one axis short of an output whose
            # last axis is 1, (samples,) for (samples, 1) or (samples, 6) for (samples, 6, 1)
            y = y.reshape(y.shape + (1,))
        elif y.ndim == 1 and loss.fusable_activation == "softmax":
            raise ValueError(
                f"{argument}: {type(loss).__name__} expects one-hot targets of shape (samples, {units}), got class "
                f"ids of shape {y.shape}; use gpunn.utils.to_categorical(y, {units}) or "
                "'sparse_categorical_crossentropy'"
            )
        else:
            raise ValueError(
                f"{argument}: expected targets of shape (samples, {', '.join(map(str, expected))}) to match the "
                f"model's output, got shape {y.shape}"
            )
    if loss.fusable_activation == "sigmoid" and (y.min() < 0 or y.max() > 1):
        # Keras computes -(t log p + (1 - t) log(1 - p)) for any t (a GAN's noisy labels, "Deep Learning with
        # Python"'s labels + 0.05 * noise, go a little past 1); class ids 0..9 are the likelier mistake.
        # (one message whatever the range, so that a loop of train_on_batch warns once)
        warnings.warn(f"{argument}: targets outside [0, 1] given to binary cross-entropy, computed as Keras computes "
                      "them (-(t log p + (1 - t) log(1 - p)), which has no minimum for such a t: the outputs are "
                      "pushed on for as long as training runs); for class ids of several classes, use "
                      "'sparse_categorical_crossentropy'", UserWarning, stacklevel=user_stacklevel())
    return as_model_dtype(argument, y, dtype)


def check_sample_weight(argument: str, weight, n: int) -> np.ndarray:
    """Per-sample loss weights: n finite, non-negative numbers (Keras's ``sample_weight``)."""
    weight = as_numeric_array(argument, weight)
    if weight.ndim == 2 and weight.shape[1] == 1:
        weight = weight[:, 0]
    if weight.shape != (n,):
        raise ValueError(f"{argument}: expected one weight per sample, shape ({n},), got shape {weight.shape}")
    if (weight < 0).any():
        raise ValueError(f"{argument}: expected non-negative weights, got {weight.min()} at index "
                         f"{int(np.argmin(weight))}")
    return np.ascontiguousarray(weight, dtype=np.float64)


def class_weight_to_sample_weight(class_weight, y: np.ndarray, loss, output_units: int, dtype) -> np.ndarray:
    """Keras's ``class_weight`` ({class id: weight}) as per-sample weights, from each target's class.

    The classes are those of the model's output: ``output_units`` of them, or 0 and 1 for a one-unit output.
    """
    if not isinstance(class_weight, dict) or not class_weight:
        raise TypeError(f"class_weight: expected a dict {{class id: weight}}, got {class_weight!r}")
    classes_count = 2 if output_units == 1 else output_units
    which = ("a one-unit output has classes 0 and 1" if output_units == 1
             else f"the model's output has {output_units} classes")
    table = np.ones(classes_count)  # a class class_weight does not name weighs 1 (Keras's)
    for key, value in class_weight.items():
        # bool is an int to Python, but True/False as a class id is a mistake, not class 1/0. A whole float (0.0,
        # 1.0: scikit-learn's compute_class_weight on float targets, dict(zip(np.unique(y), weights))) is that id,
        # as in Keras; another float, and a class the output does not have (which Keras ignores), are more likely
        # mistakes than meant, so refused here rather than silently matched or dropped
        given = key
        if isinstance(key, (float, np.floating)) and float(key).is_integer():
            key = int(key)
        if isinstance(key, (bool, np.bool_)) or not isinstance(key, (int, np.integer)) or not 0 <= key < classes_count:
            raise ValueError(f"class_weight: keys must be integer class ids in [0, {classes_count}) ({which}), "
                             f"got key {given!r} ({type(given).__name__})")
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise TypeError(f"class_weight: expected a number as the weight of class {key}, got {value!r}")
        with np.errstate(over="ignore"):
            as_model = np.asarray(value, dtype=dtype)
        if not np.isfinite(as_model) or value < 0:
            raise ValueError(f"class_weight: expected a finite, non-negative weight for class {key} (in the model's "
                             f"dtype {np.dtype(dtype).name}), got {value!r}")
        table[int(key)] = float(value)
    y = y.reshape(-1, 1) if y.ndim == 1 else y  # (a loss function of the script's takes targets as given)
    if loss.sparse_labels or (y.shape[1] == 1 and output_units > 1):
        # class ids, as Keras reads targets of one value per sample whatever the loss (a loss function of the
        # script's on integer labels too)
        ids = y.reshape(-1)
        outside = (ids != np.round(ids)) | (ids < 0) | (ids >= classes_count)
        if outside.any():
            where = int(np.argmax(outside))
            raise ValueError(f"class_weight: targets of one value per sample are class ids, and {which}; got "
                             f"{ids[where].item()!r} at index {where}")
        classes = ids.astype(np.int64)
    elif y.shape[1] == 1:  # a binary target
        outside = (y[:, 0] < 0) | (y[:, 0] > 1)
        if outside.any():  # (Keras would round a regression's targets into classes of its own)
            where = int(np.argmax(outside))
            raise ValueError(f"class_weight: the targets of a one-unit output are its classes, 0 and 1 (or "
                             f"probabilities of class 1); got {y[where, 0]!r} at index {where}: targets that are not "
                             "classes have no class to weigh (give sample_weight instead)")
        classes = (y[:, 0] > 0.5).astype(np.int64)
    else:
        classes = y.argmax(axis=1)
    return check_sample_weight("class_weight", table[classes], len(y))


class NotAnIntegerError(TypeError, ValueError):
    """A count (epochs, batch_size, steps) given as another type (``epochs=np.mean(best_epochs)``): Keras raises a
    TypeError there (``range`` refuses it), gpunn's checks raise ValueError for other bad counts; either catches it."""


def check_positive_int(argument: str, value, allow_none=False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise NotAnIntegerError(f"{argument}: expected a positive integer, got {value!r}")
    if value <= 0:
        raise ValueError(f"{argument}: expected a positive integer, got {value!r}")
    return int(value)


def check_epochs(epochs) -> int:
    """``fit``'s ``epochs``: a non-negative integer (0 trains nothing, as in Keras)."""
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)):
        raise NotAnIntegerError(f"epochs: expected a non-negative integer, got {epochs!r}")
    if epochs < 0:
        raise ValueError(f"epochs: expected a non-negative integer, got {epochs!r}")
    return int(epochs)


def check_steps(argument: str, value):
    """A number of steps (``steps_per_epoch``, ``validation_steps``, ``steps``): a positive integer, or None for
    a whole pass over the data. 0 is taken as None, with a warning, as Keras 3 takes it (``steps_per_epoch or
    ...``): ``len(x) // batch_size`` computed for data smaller than one batch."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value == 0:
        warnings.warn(f"{argument}=0 is taken as not given (a whole pass over the data), as Keras 3 takes it",
                      UserWarning, stacklevel=user_stacklevel())
        return None
    return check_positive_int(argument, value, allow_none=True)


def whole_number(value):
    """``value`` as an int where it is a float holding a whole number (``np.ceil(n / batch)`` given as
    ``steps_per_epoch``, which tf.keras 2 took), else as it came (the checks that follow name what is wrong)."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return int(value)
    return value


def keras_batch_size(batch_size, steps, samples: int) -> int:
    """The batch size of arrays, as Keras's ArrayDataAdapter takes it: the one given; else, with ``steps``, the
    samples spread over that many batches (``ceil(samples / steps)``: ``fit(x, y, steps_per_epoch=2)`` takes the
    data in two halves, ``predict(x, steps=1)`` in one batch); else 32."""
    if batch_size is not None:
        return batch_size
    return max(1, math.ceil(samples / steps)) if steps else 32


def split_validation(arrays: list[np.ndarray], validation_split: float):
    """Keras 3's rows: training rows [:split_at], validation rows [split_at:] with
    ``split_at = floor(n * (1 - validation_split))``, taken before any shuffling."""
    if isinstance(validation_split, bool) or not isinstance(validation_split, numbers.Real) or not (
            0.0 <= validation_split < 1.0):
        raise ValueError(f"validation_split: expected a number in [0, 1), got {validation_split!r}")
    if not validation_split:
        return list(arrays), None
    n = len(arrays[0])
    split_at = training_rows(n, validation_split)
    if split_at == 0 or split_at == n:
        raise ValueError(
            f"validation_split: {validation_split} of {n} samples leaves an empty training or validation set"
        )
    return [a[:split_at] for a in arrays], [a[split_at:] for a in arrays]


def training_rows(n: int, validation_split: float) -> int:
    """How many of ``n`` samples ``validation_split`` leaves for training: Keras's formula exactly (not
    n - floor(n * split), which differs whenever n * split is not a whole number)."""
    return int(math.floor(n * (1.0 - validation_split)))
