"""A layer called inside a tf.data pipeline: ``dataset.map(lambda x, y: (vectorize_layer(x), y))``, as TensorFlow's
text and structured-data tutorials preprocess their data (TextVectorization, StringLookup, IntegerLookup...).

There the call receives a symbolic TensorFlow tensor, which holds no values until the pipeline runs. The layer's
call is then wrapped in ``tf.numpy_function``: the pipeline runs it on each batch's values (a NumPy array), as the
layer runs on its own, and gets a tensor of the dtype Keras's layer would give (int64 indices, float32 rows, strings
for an inverted lookup). A scalar (a ``map`` before ``batch``, one sample at a time) is one sample of one value, as
Keras's preprocessing layers take it. The calls are made one at a time (a lock): tf.data may run its map on several
threads, and a layer's call reuses its scratch buffers.

TensorFlow is looked up, never imported: such a tensor exists only when the user's script imported it.
"""
from __future__ import annotations

import sys
import threading

import numpy as np

_ONE_CALL_AT_A_TIME = threading.Lock()


def _tensorflow():
    return sys.modules.get("tensorflow")


def is_pipeline_tensor(value) -> bool:
    """Whether ``value`` is a symbolic TensorFlow tensor (inside ``tf.data.Dataset.map`` or a ``tf.function``)."""
    tf = _tensorflow()
    return tf is not None and type(value).__module__.startswith("tensorflow.") and tf.is_tensor(value) \
        and not hasattr(value, "numpy")


def is_tf_dataset(data) -> bool:
    """A tf.data.Dataset (an iterable of batches of tensors, which NumPy reads), recognised without importing
    TensorFlow, as Keras's ``is_tf_dataset`` recognises it."""
    return any(parent.__name__ in ("DatasetV2", "DistributedDataset", "DistributedDatasetsFromFunction")
               and "tensorflow.python." in str(parent.__module__) for parent in type(data).__mro__)


def keras_output_dtype(layer) -> str:
    """The dtype of Keras's layer's output: in "int" mode the layer's ``keras_int_dtype`` (int64 indices of the
    lookups and hashing, int32 bins of Discretization), in "one_hot", "multi_hot" and "count" modes a lookup's
    ``keras_counts_dtype`` (int64, its table's values: Hashing's and Discretization's are float32), strings for an
    inverted StringLookup, else float32 (tf_idf's weights, the other layers)."""
    token_dtype = getattr(layer, "token_dtype", None)  # (the lookups': an inverted one outputs tokens)
    if token_dtype is not None and layer.invert:
        return "string" if token_dtype is str else "int64"
    mode = getattr(layer, "output_mode", None)
    if mode == "int" and getattr(layer, "keras_int_dtype", None):
        return layer.keras_int_dtype
    if mode in ("one_hot", "multi_hot", "count") and getattr(layer, "keras_counts_dtype", None):
        return layer.keras_counts_dtype
    return "float32"


def _output_shape(layer, input_shape) -> list:
    """The static shape of the output, where the layer knows it (its samples' dimensions known); ``input_shape``:
    the input's, or the list of the inputs' of a layer taking several (HashedCrossing)."""
    if input_shape and isinstance(input_shape[0], list):
        if any(dim is None for shape in input_shape for dim in shape[1:]) or not all(input_shape):
            return None
        try:
            return [None] + list(layer.output_sample_shape([tuple(shape[1:]) for shape in input_shape]))
        except (ValueError, TypeError):
            return None
    if not input_shape:  # a scalar: one sample of one value
        shape = _output_shape(layer, [1, 1])
        return None if shape is None else [dim for dim in shape[1:] if dim != 1] if len(shape) == 2 else shape[1:]
    if len(input_shape) == 3 and getattr(_first_layer(layer), "training_by_default", False):  # one image
        shape = _output_shape(layer, [1] + list(input_shape))
        return None if shape is None else shape[1:]
    sample = tuple(input_shape[1:])
    if any(dim is None for dim in sample):
        # images of varying sizes: an image layer's output shape may not depend on them (Resizing's does not)
        unknown = [None] * (1 + len(sample))
        if not getattr(_first_layer(layer), "training_by_default", False):
            return unknown
        shape = _static_output(layer, sample)
        return unknown if shape is None else shape
    return _static_output(layer, sample)


def _static_output(layer, sample: tuple):
    """[None] + the layer's (or a Sequential's) output sample shape for samples of shape ``sample``, or None."""
    try:
        if getattr(layer, "token_dtype", None) is not None and layer.invert:
            return [None] + list(sample)
        if getattr(layer, "_sources", None) is not None:  # a model of branches: its shape is known when it runs
            return None
        for each in getattr(layer, "_layers", [layer]):  # a Sequential's layers, one after the other
            if type(each).__name__ != "InputLayer":
                sample = tuple(each.output_sample_shape(sample))
        return [None] + list(sample)
    except (ValueError, TypeError, AttributeError, IndexError):
        return None


def _first_layer(layer):
    """A model's first layer (but its InputLayer), or the layer itself."""
    return next((each for each in getattr(layer, "_layers", [layer]) if type(each).__name__ != "InputLayer"), None)


def call_in_pipeline(layer, inputs, training=None):
    """``layer(inputs)`` for a symbolic TensorFlow tensor, or a list or tuple of them for a layer taking several
    (HashedCrossing): see the module docstring. ``training``, where given, is passed on (an augmentation layer or
    model mapped over a dataset: ``ds.map(lambda x, y: (augment(x, training=True), y))``)."""
    tf = _tensorflow()
    dtype = keras_output_dtype(layer)
    several = isinstance(inputs, (list, tuple))

    def run(*arrays):
        values = arrays[0]
        scalar = np.ndim(values) == 0
        mode = {} if training is None else {"training": training}
        if getattr(_first_layer(layer), "training_by_default", False) and np.asarray(values).dtype.kind in "ui":
            values = np.asarray(values, dtype=np.float32)  # (Keras's image layers give float32 in tf.data)
        with _ONE_CALL_AT_A_TIME:
            if several:
                out = layer(tuple(np.reshape(a, (1, 1)) if scalar else a for a in arrays), **mode)
            else:
                out = layer(np.reshape(values, (1, 1)) if scalar else values, **mode)
            out = np.asarray(out.get() if hasattr(out, "get") and not isinstance(out, np.ndarray) else out)
        if scalar:  # (the one sample's output, without its axes of one value)
            out = out[0].reshape(()) if out[0].size == 1 and out.shape[1:] == (1,) else out[0]
        if dtype == "string":
            return out.astype(object)
        return np.array(out, dtype=dtype)

    result = tf.numpy_function(run, list(inputs) if several else [inputs],
                               tf.string if dtype == "string" else tf.as_dtype(dtype), stateful=False)
    shape = _output_shape(layer, [value.shape.as_list() for value in inputs] if several else inputs.shape.as_list())
    if shape is not None:
        result.set_shape(shape)
    return result


def call_on_dict_in_pipeline(run, inputs: dict, outputs: list):
    """``run`` (a dict of NumPy arrays -> a list of arrays) on a dict of symbolic TensorFlow tensors, as one
    ``tf.numpy_function`` of the pipeline: the list of tensors it gives, of the dtypes and static shapes of
    ``outputs`` (a list of (dtype, shape or None)). A layer taking a dict of features (FeatureSpace) is called
    so."""
    tf = _tensorflow()
    keys = list(inputs)

    def run_on_arrays(*arrays):
        with _ONE_CALL_AT_A_TIME:
            results = run(dict(zip(keys, arrays)))
        return [result.astype(object) if dtype == "string" else np.asarray(result, dtype=dtype)
                for result, (dtype, _) in zip(results, outputs)]

    tensors = tf.numpy_function(run_on_arrays, [inputs[key] for key in keys],
                                [tf.string if dtype == "string" else tf.as_dtype(dtype) for dtype, _ in outputs],
                                stateful=False)
    for tensor, (_, shape) in zip(tensors, outputs):
        if shape is not None:
            tensor.set_shape(shape)
    return list(tensors)
