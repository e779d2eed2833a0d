"""``keras.layers.InputSpec`` on a layer of the user's: every call (functional, in a Sequential, on arrays) checks
its inputs against ``self.input_spec``, with Keras's messages (Keras itself, in a subprocess on jax)."""
from __future__ import annotations

import numpy as np
import pytest

import gpunn
from helpers import run_keras

# (InputSpec arguments, the samples' shape): accepted, or refused with Keras's message
CASES = [
    ({"ndim": 2}, (3,)), ({"ndim": 3}, (3,)), ({"min_ndim": 3}, (3,)), ({"max_ndim": 2}, (2, 3)),
    ({"axes": {-1: 4}}, (3,)), ({"axes": {-1: 3}}, (3,)), ({"shape": (None, 3)}, (3,)), ({"shape": (None, 4)}, (3,)),
    ({"shape": (None, 3, 1), "allow_last_axis_squeeze": True}, (3,)), ({"min_ndim": 2, "axes": {1: 5}}, (5, 2)),
    ({"ndim": 2, "name": "features"}, (2, 2)),
]
KERAS_SCRIPT = '''
import json, sys
import keras
results = []
for arguments, shape in json.loads(sys.stdin.read()):
    if "axes" in arguments:
        arguments["axes"] = {int(k): v for k, v in arguments["axes"].items()}

    class Checked(keras.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.input_spec = keras.layers.InputSpec(**arguments)

        def call(self, x):
            return x

    try:
        Checked(name="checked")(keras.Input(shape=tuple(shape)))
        results.append("ok")
    except ValueError as error:
        results.append(str(error))
print(json.dumps(results))
'''


def _checked(arguments):
    class Checked(gpunn.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.input_spec = gpunn.layers.InputSpec(**arguments)

        def call(self, x):
            return x

    return Checked(name="checked")


def _outcome(call):
    try:
        call()
        return "ok"
    except ValueError as error:
        return str(error)


def test_symbolic_calls_are_checked_as_keras_checks_them():
    keras = run_keras(KERAS_SCRIPT, [[arguments, list(shape)] for arguments, shape in CASES])
    ours = [_outcome(lambda: _checked(arguments)(gpunn.Input(shape=shape))) for arguments, shape in CASES]
    assert ours == keras
    assert ours.count("ok") not in (0, len(CASES))  # both outcomes are exercised


def test_a_sequential_and_calls_on_arrays_are_checked_too():
    with pytest.raises(ValueError, match=r"expected axis -1 of input shape to have value 4, but received input with "
                                         r"shape \(None, 3\)"):
        gpunn.Sequential([gpunn.Input((3,)), _checked({"axes": {-1: 4}})])
    layer = _checked({"ndim": 2, "dtype": "float32"})
    assert layer(np.ones((5, 3), "float32")).shape == (5, 3)
    with pytest.raises(ValueError, match=r"expected ndim=2, found ndim=3. Full shape received: \(5, 3, 2\)"):
        layer(np.ones((5, 3, 2), "float32"))
    # as in Keras, float inputs are converted to the layer's dtype (float32) before the check
    assert _checked({"dtype": "float32"})(np.ones((2, 3), "float64")).dtype == np.float32
    with pytest.raises(ValueError, match="expected dtype=float64, found dtype=float32"):
        _checked({"dtype": "float64"})(np.ones((2, 3), "float64"))


def test_a_spec_set_in_build_checks_the_calls_after_it():
    class Fixed(gpunn.layers.Layer):
        def build(self, input_shape):
            self.input_spec = gpunn.layers.InputSpec(axes={-1: input_shape[-1]})

        def call(self, x):
            return x * 2.0

    layer = Fixed(name="fixed")
    np.testing.assert_array_equal(layer(np.ones((2, 3), "float32")), 2.0)
    with pytest.raises(ValueError, match="expected axis -1 of input shape to have value 3"):
        layer(np.ones((2, 4), "float32"))


def test_the_spec_itself_as_keras_s():
    assert gpunn.layers.Dense(3).input_spec is None  # a layer without one, as Keras's property reads
    spec = gpunn.InputSpec(shape=(None, 4), dtype="float32")
    assert spec.ndim == 2 and repr(spec) == "InputSpec(dtype=float32, shape=(None, 4), ndim=2)"
    assert gpunn.layers.InputSpec.from_config(spec.get_config()).get_config() == spec.get_config()
    with pytest.raises(TypeError, match="axes"):
        gpunn.InputSpec(axes={"last": 3})
    with pytest.raises(ValueError, match="Axis 2 is greater than the maximum allowed value: 1"):
        gpunn.InputSpec(ndim=2, axes={2: 3})
