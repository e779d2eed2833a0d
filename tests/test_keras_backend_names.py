"""Keras 3's ``keras.backend`` namespace (keras/api/backend/__init__.py): every name exists in ``gpunn.backend``,
and the dtype helpers and ``get_uid`` answer as Keras's own do (Keras itself, in a subprocess on jax); Keras 3's
top-level base classes (``keras.Layer``...)."""
from __future__ import annotations

import numpy as np
import pytest

import gpunn
from gpunn import backend as K
from helpers import run_keras

# keras/api/backend/__init__.py of Keras 3
KERAS_BACKEND_NAMES = ("result_type", "clear_session", "is_keras_tensor", "is_float_dtype", "is_int_dtype",
                       "standardize_dtype", "backend", "epsilon", "floatx", "image_data_format", "set_epsilon",
                       "set_floatx", "set_image_data_format", "get_uid")

# (arguments) for result_type; "int" / "float" / "bool" stand for Python's types. 64-bit operands and results are
# left out: Keras's jax backend narrows them to 32 bits, gpunn keeps them (test below).
PROMOTIONS = [("int32", "float32"), ("int8", "int"), ("bfloat16", "float"), ("uint8", "int8"), ("uint16", "int16"),
              ("float16", "bfloat16"), ("int", "float"), ("bool", "int"), ("bool", "bool"), ("int16", "float16"),
              ("float32",), ("int",), ("float",), ("bool", "float16"), ("uint8", "float"),
              ("int32", "int32", "float"), ("complex64", "float32"), (None, "int32"), ()]
STANDARDIZED = ["float32", "int", "float", "bool", "int8", "uint16", "bfloat16", None, "complex64", "string"]
KERAS_SCRIPT = '''
import json, sys
import numpy as np
from keras import backend
task = json.loads(sys.stdin.read())
python = {"int": int, "float": float, "bool": bool}
def arg(a):
    return python.get(a, a)
print(json.dumps({
    "promotions": [backend.result_type(*[arg(a) for a in args]) for args in task["promotions"]],
    "standardized": [backend.standardize_dtype(arg(d) if d in ("int", "float") else d) for d in task["standardized"]],
    "floats": [backend.is_float_dtype(d) for d in task["kinds"]],
    "ints": [backend.is_int_dtype(d) for d in task["kinds"]],
    "uids": [backend.get_uid("dense"), backend.get_uid("dense"), backend.get_uid()],
}))
'''
KINDS = ["float32", "bfloat16", "int8", "uint64", "bool", "float16", "complex64"]


def _python(name):
    return {"int": int, "float": float, "bool": bool}.get(name, name)


def test_every_name_of_keras_backend_exists():
    missing = [name for name in KERAS_BACKEND_NAMES if not callable(getattr(K, name, None))]
    assert missing == []


def test_dtype_helpers_and_uids_answer_as_keras():
    keras = run_keras(KERAS_SCRIPT, {"promotions": PROMOTIONS, "standardized": STANDARDIZED, "kinds": KINDS})
    ours = [K.result_type(*[_python(a) for a in args]) for args in PROMOTIONS]
    assert ours == keras["promotions"]
    assert [K.standardize_dtype(_python(d) if d in ("int", "float") else d) for d in STANDARDIZED] == \
        keras["standardized"]
    assert [K.is_float_dtype(d) for d in KINDS] == keras["floats"]
    assert [K.is_int_dtype(d) for d in KINDS] == keras["ints"]
    K.clear_session()
    assert [K.get_uid("dense"), K.get_uid("dense"), K.get_uid()] == keras["uids"] == [1, 2, 1]


def test_result_type_keeps_64_bits_as_gpunn_computes_them():
    assert K.result_type("float64", "float32") == "float64"
    assert K.result_type("int64", "float32") == "float32"  # ints meet floats at the float's width, as in Keras
    assert K.result_type("float64", float) == "float64"
    assert K.result_type("uint32", "int32") == "int64"  # Keras's jax backend: int32
    with pytest.raises(ValueError, match="float8"):
        K.result_type("float8_e4m3fn", "float32")
    with pytest.raises(ValueError, match="'string' is not a valid dtype for Keras type promotion"):
        K.result_type("float32", "string")


def test_standardize_dtype_takes_numpy_dtypes_and_refuses_others_by_name():
    assert K.standardize_dtype(np.float32) == "float32" and K.standardize_dtype(np.dtype("int64")) == "int64"
    with pytest.raises(ValueError, match="Invalid dtype: float128|Invalid dtype: longdouble"):
        K.standardize_dtype("float128")
    with pytest.raises(ValueError, match="Invalid dtype"):
        K.standardize_dtype([1])


def test_get_uid_counts_with_generated_names_and_clear_session_resets_both():
    K.clear_session()
    assert K.get_uid("dense") == 1
    assert gpunn.layers.Dense(2).name == "dense_1"  # Keras: the uid table is shared
    assert gpunn.metrics.Precision().name == "precision"
    K.clear_session()
    assert gpunn.layers.Dense(2).name == "dense" and K.get_uid("dense") == 2


def test_backend_names_the_backend_and_keras_tensors_are_told_apart():
    with gpunn.use_backend("numpy"):
        assert K.backend() == gpunn.config.backend() == "numpy"
    assert K.image_data_format() == "channels_last"
    assert K.is_keras_tensor(gpunn.Input(shape=(3,))) and not K.is_keras_tensor(np.ones(3))


def test_keras_3s_top_level_base_classes_are_gpunns():
    """``class Scale(keras.Layer)``, ``keras.Loss``...: Keras 3 exports its base classes at the top level."""
    for name, module in (("Layer", gpunn.layers), ("Loss", gpunn.losses), ("Metric", gpunn.metrics),
                         ("Optimizer", gpunn.optimizers), ("Regularizer", gpunn.regularizers),
                         ("Initializer", gpunn.initializers)):
        assert getattr(gpunn, name) is getattr(module, name), name
        assert name in gpunn.__all__

    class Scale(gpunn.Layer):
        def build(self, input_shape):
            self.scale = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="scale")

        def call(self, inputs):
            return inputs * self.scale

    model = gpunn.Sequential([gpunn.Input((3,)), Scale(name="scale")])
    np.testing.assert_array_equal(model.predict(np.full((2, 3), 2.0, "float32"), verbose=0), 2.0)
