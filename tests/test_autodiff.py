"""gpunn.ops (keras.ops) and gpunn.backend (tf.keras's K) functions: each one's gradient against finite
differences in float64, and what refuses to lose a gradient silently."""
from __future__ import annotations

import numpy as np
import pytest

import gpunn
from gpunn import backend as K
from gpunn import ops
from gpunn.autodiff import Tensor, gradients


def _check(function, *shapes, positive=False, rtol=1e-6, atol=1e-8, seed=0):
    """d sum(r * function(x...)) / d x, by the record, against central differences, for each argument."""
    rng = np.random.default_rng(seed)
    values = [rng.uniform(0.3, 2.0, shape) if positive else rng.normal(size=shape) for shape in shapes]
    inputs = [Tensor(v.copy(), requires_grad=True) for v in values]
    out = function(*inputs)
    weights = rng.normal(size=out.shape)
    analytic = gradients(out, inputs, weights)
    for k, value in enumerate(values):
        numeric = np.zeros_like(value)
        flat = value.reshape(-1)
        for i in range(flat.size):
            saved = flat[i]
            flat[i] = saved + 1e-6
            up = (weights * function(*[Tensor(v) for v in values]).value).sum()
            flat[i] = saved - 1e-6
            down = (weights * function(*[Tensor(v) for v in values]).value).sum()
            flat[i] = saved
            numeric.reshape(-1)[i] = (up - down) / 2e-6
        np.testing.assert_allclose(analytic[k], numeric, rtol=rtol, atol=atol,
                                   err_msg=f"{getattr(function, '__name__', function)} argument {k}")


UNARY = [ops.square, ops.exp, ops.expm1, ops.tanh, ops.sin, ops.cos, ops.sigmoid, ops.softplus, ops.softsign,
         ops.silu, ops.negative, ops.absolute, ops.relu, ops.elu, ops.leaky_relu, ops.log_sigmoid, ops.sinh, ops.cosh,
         lambda x: ops.softmax(x, axis=-1), lambda x: ops.log_softmax(x, axis=0), lambda x: ops.logsumexp(x, axis=1),
         lambda x: ops.mean(x, axis=1), lambda x: ops.sum(x, axis=0, keepdims=True), ops.mean, ops.sum,
         lambda x: ops.max(x, axis=1), lambda x: ops.min(x, axis=0, keepdims=True), ops.std,
         lambda x: ops.var(x, axis=-1), lambda x: ops.norm(x, axis=1), lambda x: ops.cumsum(x, axis=1),
         lambda x: ops.reshape(x, (-1,)), lambda x: ops.transpose(x), lambda x: ops.expand_dims(x, 1),
         lambda x: ops.squeeze(ops.expand_dims(x, 0), 0), lambda x: x[1:, ::2], lambda x: x[[0, 0, 2], 1],
         lambda x: ops.tile(x, (2, 1)), lambda x: ops.broadcast_to(x[:1], (4, 5)), lambda x: ops.clip(x, -0.5, 0.7),
         lambda x: ops.cast(x, "float64"), lambda x: ops.where(x > 0, x * 2.0, -x), lambda x: x ** 3,
         lambda x: 2.0 / (ops.square(x) + 1.0), lambda x: x.T @ x]
POSITIVE = [ops.sqrt, ops.log, ops.log1p, ops.log2, ops.log10, ops.reciprocal, ops.rsqrt, lambda x: x ** 0.5,
            lambda x: ops.prod(x, axis=1), lambda x: K.sqrt(x), lambda x: K.l2_normalize(x, axis=1)]
BINARY = [ops.add, ops.subtract, ops.multiply, ops.divide, ops.maximum, ops.minimum, ops.matmul,
          lambda a, b: ops.concatenate([a, b], axis=0), lambda a, b: ops.stack([a, b], axis=1),
          lambda a, b: ops.where(a > b, a, b)]


@pytest.mark.parametrize("function", UNARY, ids=lambda f: getattr(f, "__name__", "lambda"))
def test_each_function_s_gradient_matches_finite_differences(function):
    _check(function, (4, 5))


@pytest.mark.parametrize("function", POSITIVE, ids=lambda f: getattr(f, "__name__", "lambda"))
def test_functions_of_positive_numbers_match_finite_differences(function):
    _check(function, (4, 5), positive=True)


@pytest.mark.parametrize("function", BINARY, ids=lambda f: getattr(f, "__name__", "lambda"))
def test_two_argument_functions_match_finite_differences(function):
    second = (5, 3) if function is ops.matmul else (4, 5)
    _check(function, (4, 5), second)


def test_broadcasting_sums_the_gradient_back_to_each_shape():
    _check(ops.multiply, (4, 1), (3,))
    _check(lambda a, b: ops.power(a, b), (4, 3), (3,), positive=True)
    _check(ops.subtract, (2, 4, 3), (4, 1))


def test_losses_written_with_keras_ops_and_k_match_finite_differences():
    rng = np.random.default_rng(1)
    target = rng.uniform(0.05, 0.95, (6, 3))
    one_hot = np.eye(3)[rng.integers(0, 3, 6)]
    _check(lambda p: ops.binary_crossentropy(Tensor(target), ops.sigmoid(p)), (6, 3))
    _check(lambda p: ops.binary_crossentropy(Tensor(target), p, from_logits=True), (6, 3))
    _check(lambda p: ops.categorical_crossentropy(Tensor(one_hot), ops.softmax(p)), (6, 3))
    _check(lambda p: ops.categorical_crossentropy(Tensor(one_hot), p, from_logits=True), (6, 3))
    _check(lambda p: ops.sparse_categorical_crossentropy(Tensor(np.array([0, 2, 1, 1, 0, 2])), p, from_logits=True),
           (6, 3))
    _check(lambda p: K.binary_crossentropy(Tensor(target), K.sigmoid(p)), (6, 3))
    _check(lambda p: K.sqrt(K.mean(K.square(p - Tensor(target)), axis=-1)), (6, 3))


def test_ties_and_kinks_take_tensorflow_s_gradients():
    x = Tensor(np.array([1.0, 2.0, 2.0, 0.0]), requires_grad=True)
    (grad,) = gradients(ops.max(x), [x], np.ones(()))
    np.testing.assert_array_equal(grad, [0, 0.5, 0.5, 0])  # shared between the tied maxima
    (grad,) = gradients(ops.maximum(x, 2.0), [x], np.ones(4))
    np.testing.assert_array_equal(grad, [0, 1, 1, 0])  # a tie goes to the first argument
    (grad,) = gradients(ops.abs(x) + ops.relu(x), [x], np.ones(4))
    np.testing.assert_array_equal(grad, [2, 2, 2, 0])  # 0 at 0
    (grad,) = gradients(ops.clip(x, 0.0, 2.0), [x], np.ones(4))
    np.testing.assert_array_equal(grad, [1, 1, 1, 1])  # on the bounds: passed
    (grad,) = gradients(ops.round(x) * 1.0 + x, [x], np.ones(4))
    np.testing.assert_array_equal(grad, [1, 1, 1, 1])  # round has none
    (grad,) = gradients(ops.stop_gradient(x) * x, [x], np.ones(4))
    np.testing.assert_array_equal(grad, x.value)  # the stopped factor is a constant


def test_python_numbers_keep_a_float32_tensor_float32():
    x = Tensor(np.ones(3, np.float32), requires_grad=True)
    for result in (x * 2.0, 1.0 - x, x / 3, ops.maximum(x, 0.5), K.clip(x, 0, 1), x ** 2, K.epsilon() + x):
        assert result.dtype == np.float32
    assert ops.mean(Tensor(np.array([1, 2]))).dtype.kind == "f"


def test_a_gradient_is_never_dropped_without_a_word():
    x = Tensor(np.ones((2, 3)), requires_grad=True)
    with pytest.raises(TypeError, match="would drop its gradient"):
        np.asarray(x)
    with pytest.raises(TypeError, match="numpy.median has no gradient in gpunn"):
        np.median(x)
    assert float(np.mean(x * 2.0).value) == 2.0  # NumPy's functions gpunn knows are differentiated
    (grad,) = gradients(np.sum(np.square(x)), [x], np.ones(()))
    np.testing.assert_array_equal(grad, 2 * np.ones((2, 3)))
    assert np.asarray(Tensor(np.ones(2))).shape == (2,)  # no gradient needed: converts
    reduced = ops.mean(gpunn.Input(shape=(3,)))  # one number per batch: for add_loss only (test_model_losses.py)
    with pytest.raises(TypeError, match="gpunn.ops.mean reduced a model.s values over the whole batch"):
        gpunn.layers.Dense(2)(reduced)  # an operation of the model's graph (test_symbolic_ops.py) keeps rows


def test_the_functions_keras_names_are_here():
    for name in ("mean", "sum", "square", "sqrt", "abs", "log", "exp", "maximum", "clip", "where", "cast",
                 "argmax", "equal", "softmax", "sigmoid", "relu", "matmul", "reshape", "stop_gradient", "one_hot",
                 "binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy", "logsumexp",
                 "convert_to_tensor", "divide_no_nan"):
        assert callable(getattr(gpunn.ops, name)), name
    for name in ("mean", "sum", "round", "clip", "epsilon", "floatx", "sqrt", "square", "abs", "cast", "flatten",
                 "binary_crossentropy", "switch", "get_value"):
        assert callable(getattr(gpunn.backend, name)), name
    assert K.epsilon() == 1e-7 and K.floatx() == "float32"
    with pytest.raises(ValueError, match="set_floatx: gpunn computes in float32 or float64"):
        K.set_floatx("bfloat16")
    np.testing.assert_array_equal(ops.one_hot(np.array([2, 0]), 3).numpy(), [[0, 0, 1], [1, 0, 0]])
    assert ops.divide_no_nan(Tensor(np.array([1.0, 2.0])), Tensor(np.array([0.0, 4.0]))).numpy().tolist() == [0, 0.5]


def test_keras_s_optional_arguments_are_used_or_refused():
    np.testing.assert_array_equal(ops.max(np.array([1.0, 2.0]), initial=5.0).numpy(), 5.0)
    np.testing.assert_array_equal(ops.min(np.array([1.0, 2.0]), initial=0.5).numpy(), 0.5)
    assert ops.prod(np.array([2, 3]), dtype="float64").dtype == np.float64
    assert ops.cumsum(np.array([1, 2]), dtype="float32").dtype == np.float32
    with pytest.raises(ValueError, match="sparse, ragged"):
        ops.convert_to_tensor(np.ones(2), sparse=True)
    with pytest.raises(TypeError, match="SeedGenerator: unexpected keyword"):
        gpunn.random.SeedGenerator(1, backend="jax")


def test_host_products_go_through_the_ops_matmul_where_gpunn_uses_mkl(monkeypatch):
    """A user's layer multiplying with NumPy's BLAS between MKL's matmuls woke a second thread pool whose
    spinning workers fought MKL's (bench/results/user_layer_step.md): its products, and their gradients, go
    through the same MKL call as the CPU ops'."""
    from gpunn.ops import mkl_gemm

    gemm = mkl_gemm.make()
    if gemm is None:
        pytest.skip("MKL is not used here (GPUNN_CPU_BLAS, or not installed): NumPy's BLAS is the only pool")
    calls = []
    original = type(gemm).matmul

    def counted(self, a, b, out):
        done = original(self, a, b, out)
        calls.append(done)
        return done

    monkeypatch.setattr(type(gemm), "matmul", counted)
    rng = np.random.default_rng(0)
    a = Tensor(rng.normal(size=(128, 512)).astype(np.float32), requires_grad=True)
    b = Tensor(rng.normal(size=(512, 256)).astype(np.float32), requires_grad=True)
    product = ops.matmul(a, b)
    grad_a, grad_b = gradients(ops.sum(product), [a, b], np.ones((), np.float32))
    assert calls.count(True) == 3  # the product and both gradients (a broadcast gradient copied first)
    np.testing.assert_allclose(product.value, a.value @ b.value, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(grad_a, np.ones((128, 256), np.float32) @ b.value.T, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(grad_b, a.value.T @ np.ones((128, 256), np.float32), rtol=1e-4, atol=1e-3)
