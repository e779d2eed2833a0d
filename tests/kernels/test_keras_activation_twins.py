"""The NumPy twins and the compiled CPU loops of Keras 3's third group of activations (relu6, hard_silu,
log_sigmoid, celu, hard_tanh, soft_shrink, hard_shrink, tanh_shrink, squareplus, sparse_plus, sparse_sigmoid),
with the parameter each takes through ``alpha`` (celu's alpha, the shrinks' threshold, squareplus's b) at
Keras's default and at other values: forward against definitions written from keras/src/backend/jax/nn.py in
float64, backward against finite differences of them, in-place and scratch variants, the gradients chosen at
the kinks, and the compiled loops against the twins on odd shapes and special values. (test_bias_act.py and
test_fused_cpu.py run every activation at alpha = 0.2.)"""
import numpy as np
import pytest
from kernels_testing import FLOATS

from gpunn.activations import DEFAULT_ALPHA
from gpunn.kernels import cpu_fused
from gpunn.kernels.activations import NEEDS_PREACTIVATION
from gpunn.kernels.bias_act import act_backward_bias_grad_numpy, bias_act_forward_numpy

THIRD = ["relu6", "hard_silu", "log_sigmoid", "celu", "hard_tanh", "soft_shrink", "hard_shrink", "tanh_shrink",
         "squareplus", "sparse_plus", "sparse_sigmoid"]
OTHER_PARAMETERS = {"celu": (0.3, 2.5), "soft_shrink": (0.1, 1.5), "hard_shrink": (0.1, 1.5),
                    "squareplus": (0.5, 9.0)}
CASES = [(name, DEFAULT_ALPHA.get(name, 0.2)) for name in THIRD]
CASES += [(name, a) for name, values in OTHER_PARAMETERS.items() for a in values]


def keras_definition(name, z, a):
    """jax.nn's (Keras 3's jax backend) definition in float64, ``a`` the parameter."""
    z = np.asarray(z, np.float64)
    hard_sigmoid = np.minimum(np.maximum(z + 3.0, 0.0), 6.0) / 6.0
    definitions = {
        "relu6": lambda: np.minimum(np.maximum(z, 0.0), 6.0),
        "hard_silu": lambda: z * hard_sigmoid,
        "log_sigmoid": lambda: -np.logaddexp(-z, 0.0),
        "celu": lambda: np.maximum(z, 0.0) + a * np.expm1(np.minimum(z, 0.0) / a),
        "hard_tanh": lambda: np.where(z > 1, 1.0, np.where(z < -1, -1.0, z)),
        "soft_shrink": lambda: np.where(z > a, z - a, np.where(z < -a, z + a, 0.0)),
        "hard_shrink": lambda: np.where(np.abs(z) > a, z, 0.0),
        "tanh_shrink": lambda: z - np.tanh(z),
        "squareplus": lambda: (z + np.sqrt(np.square(z) + a)) / 2,
        "sparse_plus": lambda: np.where(z <= -1.0, 0.0, np.where(z >= 1.0, z, (z + 1.0) ** 2 / 4)),
        "sparse_sigmoid": lambda: 0.5 * np.clip(z + 1.0, 0.0, 2.0),
    }
    return definitions[name]()


def kinks(name, a):
    return {"relu6": (0.0, 6.0), "hard_silu": (-3.0, 3.0), "hard_tanh": (-1.0, 1.0), "soft_shrink": (-a, a),
            "hard_shrink": (-a, a), "sparse_plus": (-1.0, 1.0), "sparse_sigmoid": (-1.0, 1.0)}.get(name, ())


def sample_z(rng, shape, dtype, name, a):
    """Normal values times 3, each at least 0.01 from the activation's kinks (finite differences need that)."""
    z = rng.standard_normal(shape) * 3.0
    for kink in kinks(name, a):
        near = np.abs(z - kink) < 0.01
        z[near] = kink + 0.02
    return z.astype(dtype)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name, a", CASES)
def test_twin_forward_matches_keras_definition(name, a, dtype, rng):
    z = sample_z(rng, (6, 11), dtype, name, a)
    bias = rng.standard_normal(11).astype(dtype)
    out = np.empty_like(z)
    bias_act_forward_numpy(z, bias, name, out, a)
    want = keras_definition(name, z.astype(np.float64), dtype(a))
    rtol = 1e-6 if dtype == np.float32 else 1e-14
    atol = rtol * (1.0 + np.abs(z).max()) if name in ("tanh_shrink", "squareplus") else rtol  # they cancel
    np.testing.assert_allclose(out, want, rtol=rtol, atol=atol)


@pytest.mark.parametrize("name, a", CASES)
def test_twin_backward_matches_finite_differences(name, a, rng):
    z = sample_z(rng, (5, 9), np.float64, name, a)
    y = bias_act_forward_numpy(z, None, name, np.empty_like(z), a)
    dy = rng.standard_normal(z.shape)
    dz, dbias = np.empty_like(z), np.empty(9)
    act_backward_bias_grad_numpy(dy, y, z, name, dz, dbias, a)
    h = 1e-6
    derivative = (keras_definition(name, z + h, a) - keras_definition(name, z - h, a)) / (2 * h)
    np.testing.assert_allclose(dz, dy * derivative, rtol=1e-7, atol=1e-8)
    np.testing.assert_allclose(dbias, (dy * derivative).sum(axis=0), rtol=1e-7, atol=1e-7)


@pytest.mark.parametrize("name, a", CASES)
def test_twin_in_place_and_scratch_variants_agree(name, a, rng):
    z0 = sample_z(rng, (4, 7), np.float64, name, a)
    bias = rng.standard_normal(7)
    z = z0.copy()
    y = bias_act_forward_numpy(z, bias, name, np.empty_like(z), a)
    if name not in NEEDS_PREACTIVATION:  # out may alias z
        z_alias = z0.copy()
        bias_act_forward_numpy(z_alias, bias, name, z_alias, a)
        np.testing.assert_array_equal(z_alias, y)
    dy = rng.standard_normal(z.shape)
    dz = act_backward_bias_grad_numpy(dy, y, z, name, np.empty_like(z), None, a)
    dy_alias = dy.copy()  # dz_out may alias dy
    act_backward_bias_grad_numpy(dy_alias, y, z, name, dy_alias, None, a)
    np.testing.assert_array_equal(dy_alias, dz)
    with_scratch = act_backward_bias_grad_numpy(dy, y, z, name, np.empty_like(z), None, a, scratch=np.empty_like(z))
    np.testing.assert_array_equal(with_scratch, dz)


def test_twin_gradients_at_the_kinks_and_for_nan():
    """The values the module docstring of activations.py gives at the kinks (TF's, and jax's but for
    sparse_sigmoid), and NaN's path: the shrinks give y = 0 and f' = 0 for it, as Keras's where does."""
    cases = {
        "relu6": ([0.0, 6.0, 3.0, np.nan], [0.0, 0.0, 1.0, 0.0]),
        "hard_silu": ([-3.0, 3.0, 0.0], [0.0, 1.0, 0.5]),
        "hard_tanh": ([-1.0, 1.0, -1.5, 1.5, np.nan], [1.0, 1.0, 0.0, 0.0, 1.0]),
        "soft_shrink": ([-0.5, 0.5, 0.75, np.nan], [0.0, 0.0, 1.0, 0.0]),
        "hard_shrink": ([-0.5, 0.5, -0.75, np.nan], [0.0, 0.0, 1.0, 0.0]),
        "sparse_plus": ([-1.0, 1.0, 0.0], [0.0, 1.0, 0.5]),
        "sparse_sigmoid": ([-1.0, 1.0, 0.0, np.nan], [0.0, 0.0, 0.5, 0.0]),
        "celu": ([0.0, -np.inf], [1.0, 0.0]),
        "log_sigmoid": ([0.0, -np.inf, np.inf], [0.5, 1.0, 0.0]),
        "squareplus": ([0.0, -1e20, np.inf], [0.5, 0.0, 1.0]),  # y = 0 at -1e20: x^2 + 4 rounds to x^2
    }
    for name, (z, want) in cases.items():
        z = np.array([z])
        a = DEFAULT_ALPHA.get(name, 0.2)
        with np.errstate(invalid="ignore"):
            y = bias_act_forward_numpy(z.copy(), None, name, np.empty_like(z), a)
            dz = act_backward_bias_grad_numpy(np.ones_like(z), y, z, name, np.empty_like(z), None, a)
        np.testing.assert_array_equal(dz[0], want, err_msg=name)
        if name.endswith("shrink"):
            assert y[0, -1] == 0.0


# ---------------------------------------------------------------- the compiled CPU loops against the twins

compiled = cpu_fused()
needs_numba = pytest.mark.skipif(compiled is None, reason="Numba is not installed: the NumPy twins run")
SPECIAL = [0.0, -0.0, 1e-30, -1e-30, 0.1, -0.1, 0.3, -0.3, 0.5, -0.5, 1.0, -1.0, 1.5, -1.5, 2.5, -2.5, 3.0, -3.0,
           6.0, -6.0, 10.0, -10.0, 30.0, -30.0, 95.0, -95.0, 800.0, -800.0, 1e30, -1e30, np.inf, -np.inf, np.nan]


def assert_ulps(got, want, x, ulps=4):
    """Within ``ulps`` of each value or of its input (cancelling formulas lose ulps of x), NaN where NaN."""
    eps = np.finfo(want.dtype).eps
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    scale = np.abs(want.astype(np.float64)) + np.where(np.isfinite(x), np.abs(x), 0.0)
    with np.errstate(invalid="ignore"):
        bad = ~np.isnan(want) & ~((got == want) | (np.abs(got - want.astype(np.float64)) <= ulps * eps * scale))
    assert not bad.any(), f"x {x[bad]}: got {got[bad]}, twin {want[bad]}"


@needs_numba
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape", [(7, 5), (1, 3), (33, 17)], ids=["7x5", "1x3", "33x17"])
@pytest.mark.parametrize("name, a", CASES)
def test_compiled_loops_match_the_twins(name, a, shape, dtype):
    rng = np.random.default_rng(sum(shape))
    z = (rng.standard_normal(shape) * 3).astype(dtype)
    bias = rng.standard_normal(shape[1]).astype(dtype)
    z_want, z_got = z.copy(), z.copy()
    want = bias_act_forward_numpy(z_want, bias, name, np.empty_like(z), a)
    got = compiled.bias_act_forward(z_got, bias, name, np.empty_like(z), a)
    np.testing.assert_array_equal(z_got, z_want)
    assert_ulps(got, want, z_want)
    dy = rng.standard_normal(shape).astype(dtype)
    db_want, db_got = np.empty(shape[1], dtype), np.empty(shape[1], dtype)
    dz_want = act_backward_bias_grad_numpy(dy, want, z_want, name, np.empty_like(dy), db_want, a)
    dz_got = compiled.act_backward_bias_grad(dy, want, z_want, name, np.empty_like(dy), db_got, a)
    assert_ulps(dz_got, dz_want, z_want)
    np.testing.assert_allclose(db_got, db_want, rtol=1e-5 if dtype == np.float32 else 1e-12,
                               atol=1e-5 if dtype == np.float32 else 1e-12)


@needs_numba
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name, a", CASES)
def test_compiled_special_values_follow_the_twin(name, a, dtype):
    z = np.array([SPECIAL], dtype)
    with np.errstate(all="ignore"):
        want = bias_act_forward_numpy(z.copy(), None, name, np.empty_like(z), a)
        got = compiled.bias_act_forward(z.copy(), None, name, np.empty_like(z), a)
        assert_ulps(got, want, z)
        dz_want = act_backward_bias_grad_numpy(np.ones_like(z), want, z, name, np.empty_like(z), None, a)
        dz_got = compiled.act_backward_bias_grad(np.ones_like(z), want, z, name, np.empty_like(z), None, a)
    assert_ulps(dz_got, dz_want, z)


@needs_numba
@pytest.mark.parametrize("name", [name for name in THIRD if name not in NEEDS_PREACTIVATION])
def test_compiled_in_place_forward_and_backward(name):
    """out = z and dz = dy, as Dense runs the activations whose gradient reads y only."""
    rng = np.random.default_rng(11)
    a = DEFAULT_ALPHA.get(name, 0.2)
    z = (rng.standard_normal((9, 13)) * 3).astype(np.float32)
    want = bias_act_forward_numpy(z.copy(), None, name, np.empty_like(z), a)
    got = z.copy()
    assert compiled.bias_act_forward(got, None, name, got, a) is got
    assert_ulps(got, want, z)
    dy = rng.standard_normal(z.shape).astype(np.float32)
    dz_want = act_backward_bias_grad_numpy(dy, want, None, name, np.empty_like(dy), None, a)
    dz_got = dy.copy()
    compiled.act_backward_bias_grad(dz_got, want, None, name, dz_got, None, a)
    assert_ulps(dz_got, dz_want, z)
