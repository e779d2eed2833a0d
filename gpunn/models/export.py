"""``model.export(filepath, format="tf_saved_model")`` (Keras 3's ``Model.export``): the model for serving, in the
formats Keras writes: a TensorFlow SavedModel (``tf.saved_model.load(path).serve(x)``, TF Serving), ONNX or
OpenVINO. gpunn hands the model to Keras as its ``.keras`` file (which Keras loads as its own model, same layers
and weights) and Keras exports it, with Keras's arguments. Needs Keras 3, and the format's library (TensorFlow for
a SavedModel); without them the error says so.
"""
from __future__ import annotations

import os
import tempfile

from .. import _compat


def export_model(model, filepath, format="tf_saved_model", verbose=None, input_signature=None, **kwargs):
    model._require_built("export")
    keras = _compat.keras()
    if keras is None:
        raise ImportError("export: gpunn exports a model through Keras 3, which cannot be imported here (pip install "
                          "keras, and tensorflow for format='tf_saved_model'); model.save('model.keras') writes the "
                          "file Keras exports from")
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "model.keras")
        model.save(path, include_optimizer=False)
        theirs = keras.saving.load_model(path, compile=False)
    if input_signature is None and format in ("onnx", "openvino"):  # (these read the signature of a model called)
        _call_once(keras, theirs)
    return theirs.export(filepath, format=format, verbose=verbose, input_signature=input_signature, **kwargs)


def _call_once(keras, model) -> None:
    """Call Keras's copy of the model on one sample of zeros per input, as the model was called before it was
    saved (Keras's ``export`` refuses a model never called: "The model provided has never called")."""
    import numpy as np

    def zeros(tensor):
        shape = [1 if d is None else d for d in tensor.shape]
        if str(tensor.dtype) == "string":  # (a TextVectorization's input: empty strings)
            return np.full(shape, "", dtype=object)
        return np.zeros(shape, dtype=tensor.dtype)

    try:
        inputs = model.input  # (a functional model's, as it takes them: a dict of named inputs too)
    except AttributeError:  # (a Sequential never called has none: its Input's tensor)
        inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    model(keras.tree.map_structure(zeros, inputs))
