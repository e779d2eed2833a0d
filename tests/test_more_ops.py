"""More of keras.ops under gpunn.ops (gpunn/autodiff/elementwise_functions.py and array_functions.py): each
function's values against Keras 3's own (a subprocess on its jax backend, the same inputs), and each gradient
against finite differences in float64."""
from __future__ import annotations

import numpy as np
import pytest
from test_autodiff import _check

from gpunn import ops
from helpers import run_keras

# name: (a call on the inputs a (4, 5), b (4, 5), u (4, 5) in (-0.9, 0.9), p (4, 5) positive, m (5, 5), ids (4,))
CASES = {
    "tan": "ops.tan(u)", "arcsin": "ops.arcsin(u)", "arccos": "ops.arccos(u)", "arctan": "ops.arctan(a)",
    "arcsinh": "ops.arcsinh(a)", "arccosh": "ops.arccosh(p + 1.0)", "arctanh": "ops.arctanh(u)",
    "arctan2": "ops.arctan2(a, b)", "hypot": "ops.hypot(a, b)", "deg2rad": "ops.deg2rad(a)",
    "rad2deg": "ops.rad2deg(a)", "exp2": "ops.exp2(a)", "cbrt": "ops.cbrt(p)", "logaddexp": "ops.logaddexp(a, b)",
    "mod": "ops.mod(a, p)", "fabs": "ops.fabs(a)", "trunc": "ops.trunc(a * 3)",
    "floor_divide": "ops.floor_divide(a, p)",
    "nan_to_num": "ops.nan_to_num(np.where(a > 0, a, -np.inf).astype('float32'))",
    "isclose": "ops.isclose(a, a + 1e-9)",
    "gelu": "ops.gelu(a)", "gelu_exact": "ops.gelu(a, approximate=False)", "selu": "ops.selu(a)",
    "celu": "ops.celu(a, alpha=0.5)", "relu6": "ops.relu6(a * 4)", "hard_sigmoid": "ops.hard_sigmoid(a * 3)",
    "hard_silu": "ops.hard_silu(a * 3)", "hard_tanh": "ops.hard_tanh(a)", "hard_shrink": "ops.hard_shrink(a)",
    "soft_shrink": "ops.soft_shrink(a, threshold=0.3)", "tanh_shrink": "ops.tanh_shrink(a)",
    "sparse_plus": "ops.sparse_plus(a)", "sparse_sigmoid": "ops.sparse_sigmoid(a)", "squareplus": "ops.squareplus(a)",
    "glu": "ops.glu(a[:, :4])", "threshold": "ops.threshold(a, 0.1, -2.0)",
    "flip": "ops.flip(a, axis=1)", "fliplr": "ops.fliplr(a)", "flipud": "ops.flipud(a)",
    "roll": "ops.roll(a, 2, axis=1)", "roll_flat": "ops.roll(a, -3)", "swapaxes": "ops.swapaxes(a, 0, 1)",
    "moveaxis": "ops.moveaxis(ops.reshape(a, (2, 2, 5)), 0, -1)", "tril": "ops.tril(m, -1)", "triu": "ops.triu(m, 1)",
    "diagonal": "ops.diagonal(m, offset=1)", "trace": "ops.trace(m)", "repeat": "ops.repeat(a, 2, axis=0)",
    "repeat_flat": "ops.repeat(a[:2, :2], 3)", "pad": "ops.pad(a, ((1, 0), (0, 2)))",
    "take": "ops.take(a, ids, axis=1)", "take_flat": "ops.take(a, ids)",
    "take_along_axis": "ops.take_along_axis(a, ops.reshape(ids, (4, 1)), axis=1)", "sort": "ops.sort(a, axis=1)",
    "argsort": "ops.argsort(a, axis=0)", "top_k_values": "ops.top_k(a, 2)[0]", "top_k_indices": "ops.top_k(a, 2)[1]",
    "in_top_k": "ops.in_top_k(ids, a, 2)", "split": "ops.concatenate(ops.split(a, [1, 3], axis=1)[1:], axis=1)",
    "array_split": "ops.array_split(a, 3, axis=1)[2]", "unstack": "ops.unstack(a, axis=1)[3]",
    "hstack": "ops.hstack([a, b])", "vstack": "ops.vstack([a, b])",
    "einsum": "ops.einsum('ij,jk->ik', a, m)", "einsum_sum": "ops.einsum('ij->j', a)",
    "einsum_outer": "ops.einsum('i,j->ij', a[0], b[1])", "outer": "ops.outer(a[0], b[1])",
    "tensordot": "ops.tensordot(a, m, axes=1)", "tensordot_axes": "ops.tensordot(a, b, axes=([0], [0]))",
    "moments_mean": "ops.moments(a, axes=[0])[0]", "moments_var": "ops.moments(a, axes=[1], keepdims=True)[1]",
    "normalize": "ops.normalize(a, axis=1)", "average": "ops.average(a, axis=1, weights=p[0])",
    "cumprod": "ops.cumprod(p, axis=1)", "count_nonzero": "ops.count_nonzero(a > 0, axis=0)",
    "eye": "ops.eye(3, 4, k=1)", "identity": "ops.identity(3)", "full": "ops.full((2, 3), 1.5)",
    "linspace": "ops.linspace(0.0, 1.0, 7)", "copy": "ops.copy(a)",
    "erfc": "ops.erfc(a * 2)", "i0": "ops.i0(a)", "sinc": "ops.sinc(a)", "sinc_at_0": "ops.sinc(np.round(a))",
    "logaddexp2": "ops.logaddexp2(a, b)",
    # fmod of multiples of 1/16, exact in float32 (Keras computes in float32 on jax)
    "fmod": "ops.fmod(np.round(a * 48) / 16, np.round(p * 16) / 16)",
    "fmod_negative": "ops.fmod(np.round(a * 48) / 16, -np.round(p * 16) / 16)",
    "fmax": "ops.fmax(a, np.where(b > 0.5, np.nan, b))", "fmin": "ops.fmin(np.where(a > 0.5, np.nan, a), b)",
    "ldexp": "ops.ldexp(a, np.arange(20).reshape(4, 5) % 4 - 1)", "heaviside": "ops.heaviside(np.round(a), 0.5)",
    "nextafter": "ops.nextafter(a, b)", "gcd": "ops.gcd(np.array([4, 6, 9, 0]), np.array([6, 4, 3, 5]))",
    "lcm": "ops.lcm(np.array([4, 6, 9, 0]), np.array([6, 4, 3, 5]))",
    "real": "ops.real(a)", "imag": "ops.imag(a)", "conj": "ops.conj(a)", "conjugate": "ops.conjugate(a)",
    "isreal": "ops.isreal(a)", "array": "ops.array(a)", "empty": "np.asarray(ops.empty((2, 3)).shape)",
    "empty_like": "np.asarray(ops.empty_like(a).shape)", "tri": "ops.tri(3, 4, 1)", "inner": "ops.inner(a, b)",
    "inner_vectors": "ops.inner(a[0], b[1])", "vdot": "ops.vdot(a, b)", "diagflat": "ops.diagflat(a[:2], 1)",
    "rot90": "ops.rot90(a)", "rot90_2": "ops.rot90(a, 2)", "rot90_3": "ops.rot90(a, k=3)",
    "rot90_axes": "ops.rot90(ops.reshape(a, (2, 2, 5)), 1, axes=(1, 2))", "hsplit": "ops.hsplit(a[:, :4], 2)[1]",
    "vsplit": "ops.vsplit(a, 2)[0]",
}

SETUP = '''
rng = np.random.default_rng(11)
a = rng.normal(size=(4, 5)).astype("float64")
b = rng.normal(size=(4, 5)).astype("float64")
u = rng.uniform(-0.9, 0.9, size=(4, 5))
p = rng.uniform(0.3, 2.0, size=(4, 5))
m = rng.normal(size=(5, 5))
ids = np.array([4, 0, 2, 2])
'''

KERAS_SIDE = ("import json\nimport numpy as np\nimport keras\nfrom keras import ops\n" + SETUP +
              f"CASES = {CASES!r}\n" + '''
out = {name: np.asarray(eval(call)).astype("float64").tolist() for name, call in CASES.items()}
print(json.dumps(out))
''')

# gradients: (function of one or two float64 arrays, input shapes, positive inputs)
GRADIENTS = {
    "tan": (lambda x: ops.tan(0.5 * ops.tanh(x)), [(4, 5)]),
    "arcsin": (lambda x: ops.arcsin(0.9 * ops.tanh(x)), [(4, 5)]),
    "arccos": (lambda x: ops.arccos(0.9 * ops.tanh(x)), [(4, 5)]), "arctan": (ops.arctan, [(4, 5)]),
    "arcsinh": (ops.arcsinh, [(4, 5)]), "arccosh": (lambda x: ops.arccosh(ops.square(x) + 1.5), [(4, 5)]),
    "arctanh": (lambda x: ops.arctanh(0.9 * ops.tanh(x)), [(4, 5)]), "arctan2": (ops.arctan2, [(4, 5), (4, 5)]),
    "hypot": (ops.hypot, [(4, 5), (4, 5)]), "exp2": (ops.exp2, [(4, 5)]),
    "cbrt": (lambda x: ops.cbrt(ops.square(x) + 0.5), [(4, 5)]), "logaddexp": (ops.logaddexp, [(4, 5), (4, 5)]),
    "mod": (lambda x, y: ops.mod(x, ops.square(y) + 2.0), [(4, 5), (4, 5)]), "deg2rad": (ops.deg2rad, [(4, 5)]),
    "nan_to_num": (ops.nan_to_num, [(4, 5)]), "gelu": (ops.gelu, [(4, 5)]),
    "gelu_exact": (lambda x: ops.gelu(x, approximate=False), [(4, 5)]), "selu": (ops.selu, [(4, 5)]),
    "glu": (ops.glu, [(4, 6)]), "threshold": (lambda x: ops.threshold(x, 0.05, -2.0), [(4, 5)]),
    "flip": (lambda x: ops.flip(x, axis=1), [(4, 5)]), "roll": (lambda x: ops.roll(x, (1, -2), axis=(0, 1)), [(4, 5)]),
    "roll_flat": (lambda x: ops.roll(x, 3), [(4, 5)]), "swapaxes": (lambda x: ops.swapaxes(x, 0, 1), [(4, 5)]),
    "moveaxis": (lambda x: ops.moveaxis(x, 0, -1), [(2, 3, 4)]), "tril": (lambda x: ops.tril(x, -1), [(5, 5)]),
    "triu": (ops.triu, [(4, 5)]), "diagonal": (lambda x: ops.diagonal(x, offset=-1), [(5, 4)]),
    "diagonal_3d": (lambda x: ops.diagonal(x, offset=1, axis1=1, axis2=2), [(2, 4, 4)]),
    "trace": (ops.trace, [(4, 4)]),
    "repeat": (lambda x: ops.repeat(x, [1, 2, 0, 3], axis=0), [(4, 5)]),
    "repeat_flat": (lambda x: ops.repeat(x, 2), [(2, 3)]), "pad": (lambda x: ops.pad(x, ((1, 2), (0, 1))), [(4, 5)]),
    "take": (lambda x: ops.take(x, np.array([[4, 0], [4, 1]]), axis=1), [(3, 5)]),
    "take_flat": (lambda x: ops.take(x, np.array([5, 5, 0])), [(3, 4)]),
    "take_along_axis": (lambda x: ops.take_along_axis(x, np.array([[0, 0], [2, 1], [1, 1]]), axis=1), [(3, 4)]),
    "sort": (lambda x: ops.sort(x, axis=0), [(4, 5)]), "top_k": (lambda x: ops.top_k(x, 3)[0], [(4, 5)]),
    "split": (lambda x: ops.split(x, 2, axis=1)[1], [(4, 6)]), "unstack": (lambda x: ops.unstack(x)[2], [(4, 5)]),
    "hstack": (lambda x, y: ops.hstack([x, y]), [(4, 5), (4, 2)]),
    "vstack": (lambda x, y: ops.vstack([x, y]), [(5,), (2, 5)]),
    "einsum": (lambda x, y: ops.einsum("ij,jk->ik", x, y), [(4, 5), (5, 3)]),
    "einsum_trace_like": (lambda x, y: ops.einsum("ij,ik->j", x, y), [(4, 5), (4, 3)]),
    "einsum_reduced": (lambda x, y: ops.einsum("ij,k->ik", x, y), [(4, 5), (3,)]),
    "outer": (ops.outer, [(4,), (3,)]),
    "tensordot": (lambda x, y: ops.tensordot(x, y, axes=([0], [1])), [(4, 5), (3, 4)]),
    "moments": (lambda x: ops.add(*ops.moments(x, axes=[1])), [(4, 5)]),
    "normalize": (lambda x: ops.normalize(x, axis=0), [(4, 5)]),
    "average": (lambda x, w: ops.average(x, axis=1, weights=ops.square(w) + 0.5), [(4, 5), (5,)]),
    "cumprod": (lambda x: ops.cumprod(ops.square(x) + 0.5, axis=1), [(4, 5)]), "copy": (ops.copy, [(4, 5)]),
    "erfc": (ops.erfc, [(4, 5)]), "i0": (ops.i0, [(4, 5)]), "sinc": (ops.sinc, [(4, 5)]),
    "logaddexp2": (ops.logaddexp2, [(4, 5), (4, 5)]),
    "fmod": (lambda x, y: ops.fmod(x * 3, ops.square(y) + 2.0), [(4, 5), (4, 5)]),
    "fmax": (ops.fmax, [(4, 5), (4, 5)]), "fmin": (ops.fmin, [(4, 5), (4, 5)]),
    "ldexp": (lambda x: ops.ldexp(x, np.array([[1, -2, 0, 3, 2]])), [(4, 5)]),
    "real": (ops.real, [(4, 5)]), "inner": (ops.inner, [(4, 5), (3, 5)]), "vdot": (ops.vdot, [(4, 5), (4, 5)]),
    "diagflat": (lambda x: ops.diagflat(x, -1), [(2, 3)]),
    "rot90": (lambda x: ops.rot90(x, 3, axes=(1, 0)), [(4, 5)]), "hsplit": (lambda x: ops.hsplit(x, 2)[0], [(4, 6)]),
}


@pytest.fixture(scope="module")
def keras_values():
    return run_keras(KERAS_SIDE, {})


@pytest.mark.parametrize("name", list(CASES))
def test_values_are_keras_s(keras_values, name):
    namespace = {"ops": ops, "np": np}
    exec(SETUP, namespace)
    mine = eval(CASES[name], namespace)
    mine = np.asarray(getattr(mine, "value", mine)).astype("float64")
    np.testing.assert_allclose(mine, np.asarray(keras_values[name]), rtol=1e-6, atol=1e-7, err_msg=name)


@pytest.mark.parametrize("name", list(GRADIENTS))
def test_gradients_match_finite_differences(name):
    function, shapes = GRADIENTS[name]
    _check(function, *shapes, rtol=1e-5, atol=1e-7)


def test_functions_without_a_gradient_say_so_by_giving_none():
    from gpunn.autodiff import Tensor, gradients

    x = Tensor(np.array([1.5, -2.5]), requires_grad=True)
    assert not ops.trunc(x).requires_grad and not ops.floor_divide(x, 2.0).requires_grad
    values, indices = ops.top_k(x, 1)
    assert indices.value.tolist() == [0] and gradients(values, [x], np.ones(1))[0].tolist() == [1.0, 0.0]
    with pytest.raises(ValueError, match="explicit subscripts"):
        ops.einsum("ij,jk", np.ones((2, 2)), np.ones((2, 2)))
    with pytest.raises(ValueError, match="mode 'maximum'"):
        ops.pad(x, 1, mode="maximum")  # (reflect, symmetric, edge and wrap pad)


def test_keras_s_defaults_and_refusals():
    assert ops.full((2,), 1).value.dtype == np.float32  # floatx unless a dtype is given, as Keras
    assert ops.identity(3, "int32").value.dtype == np.int32
    np.testing.assert_array_equal(ops.normalize(np.zeros((1, 3))).value, 0.0)  # Keras's epsilon keeps 0 at 0
    assert len(ops.split(np.ones((4, 2)), np.int64(2))) == 2
    with pytest.raises(ValueError, match="top_k: k=6"):
        ops.top_k(np.ones((2, 5)), 6)
    with pytest.raises(ValueError, match="repeated within one operand"):
        ops.einsum("ii->", np.eye(2))
