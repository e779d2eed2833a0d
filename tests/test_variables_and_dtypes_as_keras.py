"""What Keras's own variable, dtype-policy and KerasTensor tests promise, through the public API: a Variable's
arithmetic in Keras's result dtypes, its attributes, logical operators and argument checks; a layer's ``dtype``,
``dtype_policy`` (and its setter) and the policy in its config; the global policy's checks; symbolic values that
refuse to become arrays."""
from __future__ import annotations

from helpers import numpy_backend, run_script_both_ways  # noqa: F401  (fixture)

SCRIPT = r'''
import json, sys
import numpy as np

def run(keras, folder):
    found = {}

    def note(name, compute):
        try:
            out = compute()
            found[name] = out if isinstance(out, (str, bool, int, type(None), list, dict)) else repr(out)
        except Exception as error:
            found[name] = type(error).__name__

    def dtype_of(value):
        return str(np.asarray(value).dtype)

    f32 = keras.Variable(np.ones(2, "float32"))
    i32 = keras.Variable(np.ones(2, "int32"), trainable=False)
    i8 = keras.Variable(np.full(2, 4, "int8"), trainable=False)
    note("f32 + i32", lambda: dtype_of(f32 + i32))
    note("f32 * int32 array", lambda: dtype_of(f32 * np.array([1, 2], "int32")))
    note("int32 array * f32", lambda: dtype_of(np.array([1, 2], "int32") * f32))
    note("i8 / i8", lambda: dtype_of(i8 / i8))
    note("f32 ** 2", lambda: [dtype_of(f32 ** 2), np.asarray(f32 ** 2).tolist()])
    note("python ints", lambda: [keras.Variable([[1, 1], [1, 1]]).dtype, keras.Variable(3).dtype])
    note("dtype is a string", lambda: isinstance(f32.dtype, str) and f32.dtype)
    note("attributes", lambda: [f32.constraint, f32.regularizer, f32.aggregation, f32.synchronization,
                                f32.overwrite_with_gradient])
    flags = keras.Variable(np.array([True, False]), dtype="bool", trainable=False)
    note("logical", lambda: [np.asarray(op).tolist() for op in
                             (~flags, flags & flags, flags | np.array([False, False]), flags ^ flags)])
    note("round", lambda: np.asarray(round(keras.Variable(np.array([1.1, 3.6], "float32")))).tolist())
    note("no initializer", lambda: keras.Variable())
    note("name not a string", lambda: keras.Variable(np.zeros(2), name=12345))
    note("bad synchronization", lambda: keras.Variable(np.zeros(2), synchronization="bogus"))
    note("bad dtype", lambda: keras.Variable(np.zeros(2), dtype="floatXX"))

    dense = keras.layers.Dense(2)
    note("layer dtype", lambda: [dense.dtype, dense.compute_dtype, dense.variable_dtype])
    note("config dtype", lambda: dense.get_config()["dtype"])
    note("float64 config dtype", lambda: keras.layers.Dense(2, dtype="float64").get_config()["dtype"])
    note("from its config", lambda: keras.layers.Dense.from_config(dense.get_config()).dtype)
    def set_policy():
        layer = keras.layers.Dense(2)
        layer.dtype_policy = "float64"
        return [layer.dtype, layer.compute_dtype]  # (Keras on JAX computes float64 in float32: not compared)
    note("dtype_policy setter", set_policy)
    note("set_dtype_policy(None)", lambda: keras.config.set_dtype_policy(None))
    note("policy of an int", lambda: keras.dtype_policies.get(123))
    note("policy of None", lambda: keras.dtype_policies.get(None).name)

    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(4)(inputs)
    for name, value in (("input", inputs), ("layer output", hidden)):
        note(name + " as array", lambda: np.array(value))
        note(name + " as float", lambda: float(value))
        note(name + " ndim", lambda: value.ndim)
        note(name + " reshape", lambda: list(value.reshape((-1, 2, 2)).shape))
        note(name + " sparse, ragged", lambda: [value.sparse, value.ragged])
    return found
'''


def test_variables_dtypes_and_symbolic_values_are_keras_s(tmp_path_factory):
    ours, theirs = run_script_both_ways(SCRIPT, tmp_path_factory)
    assert ours == theirs


def test_a_policy_set_on_a_layer_makes_its_weights_and_is_refused_once_they_are_made(numpy_backend):
    import numpy as np
    import pytest

    from gpunn import layers

    layer = layers.Dense(2)
    layer.dtype_policy = "float64"
    out = layer(np.ones((1, 3)))
    assert np.asarray(out).dtype == np.float64 and layer.kernel.dtype == "float64"
    built = layers.Dense(2)
    built(np.ones((1, 3), np.float32))
    with pytest.raises(ValueError, match="dtype_policy: layer .* holds float32 weights"):
        built.dtype_policy = "float64"
    with pytest.raises(ValueError, match="half precision"):
        layers.Dense(2).dtype_policy = "mixed_float16"
