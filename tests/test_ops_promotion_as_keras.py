"""gpunn.ops's result types, shapes and values against Keras 3's own (one subprocess on its jax backend for the
whole table): integer and boolean inputs of the float functions, Python numbers and lists, the small-integer
pairs Keras computes in float32, 0-d inputs, and calls that used to raise. Gradients of what changed against
finite differences in float64."""
from __future__ import annotations

import numpy as np
import pytest
from test_autodiff import _check

from gpunn import ops
from gpunn.autodiff import Tensor
from helpers import run_keras

SETUP = '''
F23 = np.array([[-0.33, 0.88, -2.0], [-0.79, -1.41, -1.63]], np.float32)
F3 = np.array([-1.5, 0.5, 2.0], np.float32)
F64 = F23.astype(np.float64)
F16 = F23.astype(np.float16)
I23 = np.array([[-3, 0, 2], [5, -1, 7]], np.int32)
I8 = np.array([[-3, 0, 2], [5, -1, 7]], np.int8)
U8 = np.array([[3, 0, 2], [250, 1, 7]], np.uint8)
B23 = np.array([[True, False, True], [False, False, True]])
SQ = np.array([[4., 1., 0.5], [1., 3., 0.2], [0.5, 0.2, 2.]], np.float32)
Q = np.random.RandomState(0).rand(2, 3, 2, 4).astype(np.float32)
Fe03 = np.zeros((0, 3), np.float32)
'''

# calls whose dtype, shape and values must be Keras's
CASES = [
    # integers and booleans computed in float, not in their own type
    "ops.logsumexp(U8)", "ops.logsumexp(np.array([250, 3], np.uint8))", "ops.logsumexp(B23)",
    "ops.logsumexp(np.array([200, 100], np.int16))", "ops.logsumexp(I23, axis=1)",
    "ops.norm(U8)", "ops.norm(np.array([200, 100], np.int16))", "ops.norm(I23, ord=1, axis=0)", "ops.norm(B23)",
    # float32 stays float32, 0-d stays 0-d, None is floatx
    "ops.dot_product_attention(Q, Q, Q)", "ops.dot_product_attention(Q, Q, Q, scale=np.float64(0.3))",
    "ops.erf(np.float32(0.7))", "ops.erf(2.5)", "ops.erfinv(np.float32(0.5))",
    "ops.cast(F23, None)", "ops.cast(I23, None)", "ops.saturate_cast(F23, None)",
]


def _result(r):
    if isinstance(r, (list, tuple)):
        return ["list", [_result(x) for x in r]]
    a = np.asarray(r)
    return [str(a.dtype), list(a.shape), a.astype("float64").ravel().tolist()]


KERAS_SIDE = ("import json\nimport warnings\nimport numpy as np\nfrom keras import ops\n" + SETUP +
              f"CASES = {CASES!r}\n" + '''
warnings.simplefilter("ignore")

def _result(r):
    if isinstance(r, (list, tuple)):
        return ["list", [_result(x) for x in r]]
    a = np.asarray(ops.convert_to_numpy(r))
    return [str(a.dtype), list(a.shape), a.astype("float64").ravel().tolist()]

print(json.dumps({call: _result(eval(call)) for call in CASES}))
''')


@pytest.fixture(scope="module")
def keras_results():
    return run_keras(KERAS_SIDE, {})


def _mine(call):
    namespace = {"ops": ops, "np": np}
    exec(SETUP, namespace)
    return eval(call, namespace)


@pytest.mark.parametrize("call", CASES)
def test_result_is_keras_s(keras_results, call):
    mine = _mine(call)
    assert isinstance(mine, (Tensor, list, tuple)), type(mine)
    got, expected = _result(mine), keras_results[call]
    if expected[0] == "list":
        assert got[0] == "list" and len(got[1]) == len(expected[1]), call
        pairs = list(zip(got[1], expected[1]))
    else:
        pairs = [(got, expected)]
    for (dtype, shape, values), (keras_dtype, keras_shape, keras_values) in pairs:
        assert (dtype, shape) == (keras_dtype, keras_shape), call
        np.testing.assert_allclose(values, keras_values, rtol=1e-5, atol=1e-6, err_msg=call)


def test_float64_stays_float64():
    f64 = np.array([[0.5, -1.0, 2.0]])
    for result in (ops.logsumexp(f64), ops.norm(f64), ops.erf(np.float64(0.3)), ops.cast(f64, "float64")):
        assert result.dtype == np.float64


def test_erf_of_0d_and_its_gradient():
    assert ops.erf(np.float32(0.7)).shape == () and ops.erfinv(0.5).shape == ()
    _check(lambda x: ops.erf(x), ())
    _check(lambda x: ops.erf(x), (2, 3))


def test_gradients_of_float_functions_unchanged_on_floats():
    _check(lambda x: ops.logsumexp(x, axis=1), (2, 3))
    _check(lambda x: ops.norm(x), (2, 3))
    _check(lambda q, k, v: ops.dot_product_attention(q, k, v, scale=np.float64(0.4)), (1, 2, 1, 3), (1, 2, 1, 3),
           (1, 2, 1, 3))
