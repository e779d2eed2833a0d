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
IMG = np.random.RandomState(1).rand(2, 3, 5, 6).astype(np.float32)
COLS = np.random.RandomState(2).rand(2, 18, 9).astype(np.float32)
'''

ACTIVATIONS = ["selu", "celu", "relu6", "hard_sigmoid", "hard_silu", "hard_swish", "hard_tanh", "hard_shrink",
               "soft_shrink", "tanh_shrink", "sparse_plus", "sparse_sigmoid", "squareplus"]

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
    # Python numbers with Python numbers, or beside booleans: int32 / float32
    "ops.add(2, 3)", "ops.multiply(True, 2)", "ops.maximum(B23, 2)", "ops.subtract(B23, 2.5)", "ops.power(2, 3)",
    "ops.mod(2, 3)", "ops.fmax(2, 3)", "ops.gcd(B23, 2)", "ops.lcm(2, 3)", "ops.bitwise_and(2, 3)",
    "ops.left_shift(B23, 2)", "ops.right_shift(2, 1)", "ops.bitwise_not(2)", "ops.outer(I23, 2)", "ops.outer(2, 3)",
    "ops.kron(I23, 2)", "ops.kron(2, 3)", "ops.append(I23, 2)", "ops.append(2, 3)", "ops.inner(2, 3)",
    "ops.dot(2, 3)", "ops.trunc(2)", "ops.cumsum(2)", "ops.prod([1, 2, 3])", "ops.nanprod([1, 2, 3])",
    "ops.clip(2, 0, 3)", "ops.clip(B23, 0, 1)", "ops.where(B23, 2, 3)",
    # Python floats and lists of them: float32
    "ops.ceil(2.5)", "ops.floor(2.5)", "ops.trunc([1.5, 2.0])", "ops.round([1.5, -2.0])", "ops.sign(2.5)",
    "ops.flip(2.5)", "ops.max(2.5)", "ops.amin(2.5)", "ops.prod(2.5)", "ops.cumsum([1.5, 2.0])",
    "ops.cumprod(2.5)", "ops.logsumexp(2.5)", "ops.copy(2.5)", "ops.ravel(2.5)", "ops.squeeze([1.5])",
    "ops.transpose([1.5, 2.0])", "ops.diagflat([1.5, 2.0])", "ops.sort([2.5, 1.0])", "ops.zeros_like(2.5)",
    "ops.ones_like(2)", "ops.full_like(2.5, 3)", "ops.isnan(2.5)", "ops.signbit([1.5, -2.0])",
    # an integer beside a float: the float's type
    "ops.floor_divide(F23, I23)", "ops.floor_divide(I23, 2.5)", "ops.floor_divide(B23, 2.5)",
    "ops.heaviside(F23, I23)", "ops.heaviside(B23, 2)", "ops.nextafter(I23, 2.5)", "ops.nextafter(2, 3)",
    "ops.outer(I23, 2.5)", "ops.vdot(2.5, 3)", "ops.kron(B23, 2.5)",
    # small integers in float functions: computed in float32, as Keras's result_type(x1, x2, float)
    "ops.logaddexp(I8, 2)", "ops.logaddexp(I8, U8)", "ops.logaddexp2(I8, U8)", "ops.arctan2(I8, U8)",
    "ops.arctan2(U8, 2)", "ops.hypot(I8, 2)", "ops.hypot(I8, U8)", "ops.heaviside(I8, U8)", "ops.nextafter(I8, U8)",
    "ops.divide(I8, U8)", "ops.sqrt(U8)",
    # Keras converts both operands of these first: a Python float beside float16 is float32
    "ops.arctan2(F16, 2.5)", "ops.logaddexp(F16, 2.5)", "ops.logaddexp2(F16, 2.5)", "ops.hypot(F16, 2.5)",
    # booleans count in int32
    "ops.square(B23)", "ops.square(B23) * 200", "ops.mod(B23, B23)", "ops.fmod(B23, B23)", "ops.power(B23, B23)",
    "ops.left_shift(B23, B23)", "ops.relu(B23)", "ops.convert_to_tensor(B23) ** 2", "ops.convert_to_tensor(B23) * 2",
    "ops.mean(ops.square(np.array([True, False])) * 100)",
    # what already was Keras's and stays so: integers beside Python integers keep their type and wrap
    "ops.multiply(U8, 2)", "ops.add(U8, 250)", "ops.add(U8, -1)", "ops.subtract(U8, 300)", "ops.divide(U8, -1)",
    "ops.hypot(U8, -1)", "ops.ldexp(I8, U8)", "ops.ldexp(2, I23)", "ops.ldexp(B23, 2)", "ops.ldexp(F16, I8)",
    "ops.threshold(I23, 0, 0.5)", "ops.threshold(U8, 2, 300)", "ops.multiply(I8, 100)", "ops.add(I8, U8)",
    "ops.add(F16, 2.5)", "ops.multiply(I23, 2.5)", "ops.add(F23, I23)", "ops.maximum(I8, 2)", "ops.mod(I8, 2)",
    "ops.convert_to_tensor(U8) + 2", "ops.convert_to_tensor(F16) * 2.5", "ops.outer(I8, 2)", "ops.append(F16, 2.5)",
    # the rest of Keras's types
    "ops.fabs(2)", "ops.fabs(True)", "ops.fabs(I8)", "ops.threshold(I23, 0.5, -1)", "ops.threshold(F23, 0.5, -1)",
    "ops.min(I23, axis=0, initial=-1.5)", "ops.max(I23, initial=10)", "ops.max(F23, axis=1, initial=0.5)",
    "ops.vdot(B23, B23)", "ops.vdot(I8, I8)", "ops.vdot(I8, U8)", "ops.vdot(F23, I23)",
    "ops.conj(2.5)", "ops.conjugate(2)", "ops.real(2)", "ops.imag(2.5)", "ops.isreal(True)", "ops.real([1, 2])",
    "ops.max(Fe03, initial=5)", "ops.min(Fe03, axis=0, initial=-2)",
    "ops.unravel_index(4, (2, 3))", "ops.scan(lambda c, x: (c + x, c), 0, np.arange(3, dtype='int32'))",
    "ops.while_loop(lambda i: i < 5, lambda i: i + 1, 0)", "ops.while_loop(lambda i, s: i < 3, "
    "lambda i, s: (i + 1, s * 1.5), (0, 1.0))", "ops.fori_loop(0, 3, lambda i, x: x + i, 0)",
    # calls that used to raise
    "ops.concatenate([F23, F23], axis=None)", "ops.concatenate([F23, F3], axis=None)", "ops.unstack(Fe03)",
    "ops.unstack(Fe03, axis=1)", "ops.norm(F23, ord=1)", "ops.norm(F23, ord=-1)", "ops.norm(F23, ord=np.inf)",
    "ops.norm(F23, ord=-np.inf)", "ops.norm(SQ, ord='nuc')", "ops.norm(SQ, ord=-2)", "ops.norm(F23, ord=-2)",
    "ops.norm(F3, ord=0)", "ops.norm(F3, ord=-1)", "ops.norm(F3, ord=-0.5)", "ops.norm(F23, ord=0, axis=1)",
    "ops.norm(F23, ord=1, axis=(1, 0), keepdims=True)", "ops.norm(np.stack([SQ, SQ * 2]), ord='nuc', axis=(1, 2))",
    "ops.norm(np.stack([SQ, -SQ]), ord=np.inf, axis=(2, 0))", "ops.norm(I23, ord='nuc')",
    "ops.pad(F23, 1, mode='reflect')", "ops.pad(F23, ((1, 2), (2, 0)), mode='symmetric')",
    "ops.pad(F23, 2, mode='edge')", "ops.pad(F23, 1, mode='maximum')", "ops.pad(I23, (1, 2), mode='minimum')",
    "ops.pad(F23, ((1, 0), (2, 1)), mode='mean')", "ops.pad(F23, 1, mode='median')",
    "ops.pad(F23, 2, mode='linear_ramp')", "ops.pad(F23, ((0, 1), (3, 1)), mode='wrap')",
    "ops.pad(I23, 1, mode='reflect')",
    "ops.correlate(I8[0], U8[0])", "ops.correlate(B23[0], B23[1], mode='full')",
    "ops.normalize(np.float32(0.7))",
    # im2col and col2im
    "ops.unfold(IMG, kernel_size=2)", "ops.unfold(IMG, kernel_size=(2, 3), stride=2, padding=1)",
    "ops.unfold(IMG, 3, dilation=(1, 2), padding=(2, 1), stride=(1, 2))", "ops.nn.unfold(IMG.astype(np.int32), 2)",
    "ops.fold(ops.unfold(IMG, 2), (5, 6), 2)", "ops.fold(COLS, (5, 6), (2, 3), stride=2, padding=1)",
    "ops.nn.fold(COLS[:, :, :4], 4, 3, dilation=2, padding=2, stride=3)",
] + [f"ops.{name}({x})" for name in ACTIVATIONS for x in ("I23", "I8", "B23", "F16", "F23", "2", "[1.5, -2.0]")]


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

def _run(call):
    try:
        return _result(eval(call))
    except Exception as error:  # (reported by the test of that call)
        return ["error", f"{type(error).__name__}: {error}"]

print(json.dumps({call: _run(call) for call in CASES}))
''')


@pytest.fixture(scope="module")
def keras_results():
    return run_keras(KERAS_SIDE, {})


def _mine(call):
    namespace = {"ops": ops, "np": np}
    exec(SETUP, namespace)
    return eval(call, namespace)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # (the zeros of the divisors)
@pytest.mark.parametrize("call", CASES)
def test_result_is_keras_s(keras_results, call):
    assert keras_results[call][0] != "error", keras_results[call][1]
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
        # (half precision: gpunn computes in float32 and rounds once, Keras rounds some steps too)
        tolerance = 2e-3 if dtype == "float16" else 1e-5
        np.testing.assert_allclose(values, keras_values, rtol=tolerance, atol=tolerance, err_msg=call)


def test_float64_stays_float64():
    f64 = np.array([[0.5, -1.0, 2.0]])
    i8 = np.array([[1, 2, 3]], np.int8)
    for result in (ops.logsumexp(f64), ops.norm(f64), ops.erf(np.float64(0.3)), ops.cast(f64, "float64"),
                   ops.add(f64, 2.5), ops.arctan2(f64, 2), ops.logaddexp(f64, i8), ops.logaddexp2(2.5, f64),
                   ops.floor_divide(f64, 2), ops.heaviside(f64, i8), ops.outer(f64, 2), ops.append(f64, 2.5),
                   ops.kron(i8, f64), ops.vdot(f64, i8), ops.relu6(f64), ops.selu(f64), ops.hard_tanh(f64),
                   ops.max(f64, initial=3), ops.threshold(f64, 0.5, -1), ops.fabs(f64), ops.flip(np.float64(2.5))):
        assert result.dtype == np.float64


def test_stop_gradient_of_a_python_float_is_float32():
    # (Keras's jax backend returns the number itself, typed float32)
    assert ops.stop_gradient(2.5).dtype == np.float32 and float(ops.stop_gradient(2.5)) == 2.5


def test_activations_return_tensors():
    for name in ACTIVATIONS:
        assert isinstance(getattr(ops, name)(np.array([[-2, 0, 3]], np.int32)), Tensor), name
        assert isinstance(getattr(ops, name)(np.array([[-2.0, 0.5, 3.0]], np.float16)), Tensor), name


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_gradients(name):
    # away from the kinks (at -3, -1, +-0.5, 0, 1, 3, 6)
    _check(lambda x: getattr(ops, name)(x * 0.2 + 0.3), (2, 3), seed=3)
    _check(lambda x: getattr(ops, name)(x * 0.2 - 0.7), (2, 3), seed=4)


def test_gradients_of_the_promoted_functions():
    _check(lambda x: ops.arctan2(x, 2.5), (2, 3))
    _check(lambda x: ops.arctan2(1.5, x), (2, 3))
    _check(lambda x, y: ops.logaddexp(x, y), (2, 3), (3,))
    _check(lambda x: ops.logaddexp2(x, 0.5), (2, 3))
    _check(lambda x: ops.hypot(x, 2.0), (2, 3))
    _check(lambda x: ops.outer(x, 2.5), (3,))
    _check(lambda x: ops.outer(1.5, x), (2, 2))
    _check(lambda x, y: ops.outer(x, y), (3,), (2,))
    _check(lambda x: ops.append(x, 2.5), (2, 3))
    _check(lambda x: ops.append(x, np.array([1, 2], np.int8)), (2,))
    _check(lambda x: ops.kron(x, np.array([[1, 2]], np.int32)), (2, 2))
    _check(lambda x, y: ops.kron(x, y), (2, 1), (1, 3))
    _check(lambda x, y: ops.vdot(x, y), (2, 3), (2, 3))
    _check(lambda x: ops.vdot(x, np.array([1, -2, 3], np.int32)), (3,))
    _check(lambda x: ops.threshold(x, 0.1, -1), (2, 3))
    _check(lambda x: ops.max(x, axis=1, initial=0.1), (3, 4))
    _check(lambda x: ops.min(x, initial=-0.2), (3, 4))
    _check(lambda x: ops.clip(x, -0.5, 0.5), (2, 3))
    _check(lambda x: ops.multiply(x, 3) + ops.power(x, 2), (2, 3))
    _check(lambda x: ops.fabs(x), (2, 3))


def test_erf_of_0d_and_its_gradient():
    assert ops.erf(np.float32(0.7)).shape == () and ops.erfinv(0.5).shape == ()
    _check(lambda x: ops.erf(x), ())
    _check(lambda x: ops.erf(x), (2, 3))


def test_gradients_of_float_functions_unchanged_on_floats():
    _check(lambda x: ops.logsumexp(x, axis=1), (2, 3))
    _check(lambda x: ops.norm(x), (2, 3))
    _check(lambda q, k, v: ops.dot_product_attention(q, k, v, scale=np.float64(0.4)), (1, 2, 1, 3), (1, 2, 1, 3),
           (1, 2, 1, 3))


def test_gradients_of_the_norms_and_pads_that_used_to_raise():
    for order in (1, -1, np.inf, -np.inf, "nuc", 2, -2, "fro"):
        _check(lambda x: ops.norm(x, ord=order), (3, 4))
        _check(lambda x: ops.norm(x, ord=order, axis=(2, 0), keepdims=True), (3, 2, 4))
    for order in (3, 0.5, -1, -2.5):
        _check(lambda x: ops.norm(x, ord=order, axis=1), (2, 5), rtol=1e-5)
    for mode in ("reflect", "symmetric", "edge", "wrap"):
        _check(lambda x: ops.pad(x, ((1, 2), (3, 1)), mode=mode), (3, 4))
        _check(lambda x: ops.pad(x, 2, mode=mode), (3,))
    _check(lambda x, y: ops.concatenate([x, y], axis=None), (2, 3), (4,))


def test_gradients_of_unfold_and_fold():
    _check(lambda x: ops.unfold(x, (2, 3), stride=2, padding=1), (1, 2, 4, 5))
    _check(lambda x: ops.unfold(x, 2, dilation=2, stride=(1, 2)), (2, 1, 5, 5))
    _check(lambda x: ops.fold(x, (4, 5), 2, padding=1), (1, 8, 30))
    _check(lambda x: ops.fold(x, 4, 2, stride=2), (2, 4, 4))


def test_pads_refused_by_name():
    with pytest.raises(ValueError, match="mode 'maximum' has no gradient"):
        ops.pad(Tensor(np.zeros((2, 2)), requires_grad=True), 1, mode="maximum")
    with pytest.raises(ValueError, match="mode 'empty'"):
        ops.pad(np.zeros((2, 2)), 1, mode="empty")
    with pytest.raises(ValueError, match="constant_values"):
        ops.pad(np.zeros((2, 2)), 1, mode="reflect", constant_values=3)


def test_the_count_of_non_zeros_has_no_gradient_to_give():
    from gpunn.autodiff import gradients

    x = Tensor(np.array([0.0, 1.5, -2.0]), requires_grad=True)
    assert ops.norm(x, ord=0).value == 2.0 and not ops.norm(x, ord=0).requires_grad
    assert gradients(ops.norm(x, ord=0) + ops.sum(x), [x], np.array(1.0))[0].tolist() == [1.0, 1.0, 1.0]
