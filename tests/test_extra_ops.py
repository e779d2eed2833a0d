"""keras.ops's special functions, NaN-aware reductions, statistics, scatters, segments, normalizations and linear
algebra under gpunn.ops (gpunn/autodiff/extra_functions.py): each function's values against Keras 3's own (a
subprocess on its jax backend, the same inputs), each gradient against finite differences in float64, and Keras's
argument errors and defaults."""
from __future__ import annotations

import numpy as np
import pytest
from test_autodiff import _check

from gpunn import ops
from gpunn.autodiff import Tensor, gradients
from helpers import run_keras

# name: a call on the inputs of SETUP (Keras computes in float32, gpunn in the inputs' float64)
CASES = {
    "erf": "ops.erf(a)", "erfinv": "ops.erfinv(u)",
    "nansum": "ops.nansum(an, axis=1)", "nansum_all": "ops.nansum(an)", "nanmean": "ops.nanmean(an, axis=1)",
    "nanmean_keepdims": "ops.nanmean(an, axis=0, keepdims=True)", "nanmax": "ops.nanmax(an, axis=1)",
    "nanmin": "ops.nanmin(an, axis=0)", "nanprod": "ops.nanprod(an, axis=1)", "nanvar": "ops.nanvar(an, axis=1)",
    "nanstd": "ops.nanstd(an)", "nanvar_axes": "ops.nanvar(an, axis=(0, 1), keepdims=True)",
    "diff": "ops.diff(a)", "diff2": "ops.diff(a, n=2, axis=0)", "ptp": "ops.ptp(a, axis=1)", "ptp_all": "ops.ptp(a)",
    "median": "ops.median(a, axis=1)", "median_even": "ops.median(a, axis=0)", "median_all": "ops.median(a)",
    "median_keepdims": "ops.median(a, axis=0, keepdims=True)",
    "quantile": "ops.quantile(a, [0.1, 0.5, 0.95], axis=1)", "quantile_all": "ops.quantile(a, 0.3)",
    "quantile_keepdims": "ops.quantile(a, [0.25, 0.5], axis=(0, 1), keepdims=True)",
    "quantile_lower": "ops.quantile(a, [0.2, 0.7], axis=0, method='lower')",
    "quantile_higher": "ops.quantile(a, [0.2, 0.7], axis=0, method='higher')",
    "quantile_midpoint": "ops.quantile(a, 0.4, axis=0, method='midpoint')",
    "quantile_nearest": "ops.quantile(a, [0.2, 0.6, 0.9], axis=0, method='nearest')",
    "quantile_nan": "ops.quantile(an, 0.4, axis=1)", "quantile_int": "ops.quantile(counts, 0.3)",
    "percentile": "ops.percentile(a, [10, 90], axis=0)",
    "diag": "ops.diag(m, k=1)", "diag_build": "ops.diag(a[0], k=-1)",
    "logspace": "ops.logspace(0.0, 2.0, 5)", "logspace_base": "ops.logspace(1.0, 3.0, 4, endpoint=False, base=2)",
    "select": "ops.select([a > 0.5, a < -0.5], [a, b], 7.0)",
    "slice": "ops.slice(a, [1, 2], [2, 3])", "slice_clamped": "ops.slice(a, [3, 4], [2, 2])",
    "slice_negative": "ops.slice(a, [-1, -2], [1, 2])", "slice_rest": "ops.slice(a, [1, 2], [-1, 2])",
    "slice_update": "ops.slice_update(a, [1, 3], b[:2, :2])",
    "slice_update_clamped": "ops.slice_update(a, [3, 4], b[:2, :2])",
    "scatter": "ops.scatter(np.array([[0, 1], [2, 3], [0, 1]]), np.array([1.0, 2.0, 3.0]), (3, 4))",
    "scatter_rows": "ops.scatter(np.array([[1], [3]]), a[:2], (4, 5))",
    "scatter_dropped": "ops.scatter(np.array([[0], [7], [-1]]), np.array([1.0, 2.0, 3.0]), (4,))",
    "scatter_update": "ops.scatter_update(a, np.array([[0, 1], [3, 4], [0, 1]]), np.array([5.0, 6.0, 7.0]))",
    "scatter_update_rows": "ops.scatter_update(a, np.array([[2], [0]]), b[:2])",
    "scatter_update_add": "ops.scatter_update(a, np.array([[0, 1], [3, 4], [0, 1]]), b[0, :3], reduction='add')",
    "scatter_update_max": "ops.scatter_update(a, np.array([[0, 1], [3, 4], [0, 1]]), b[0, :3], reduction='max')",
    "scatter_update_min": "ops.scatter_update(a, np.array([[0], [3], [0]]), b[:3], reduction='MIN')",
    "scatter_update_mul": "ops.scatter_update(a, np.array([[0, 1], [3, 4], [0, 1]]), b[0, :3], reduction='mul')",
    "segment_sum": "ops.segment_sum(a, segs, num_segments=4)",
    "segment_max": "ops.segment_max(a, segs, num_segments=4)",
    "segment_sorted": "ops.segment_sum(a[:, 0], np.array([0, 0, 1, 1]), num_segments=2, sorted=True)",
    "segment_dropped": "ops.segment_sum(a[:, 0], np.array([0, -1, 1, 5]), num_segments=2)",
    "digitize": "ops.digitize(a, bins)", "searchsorted": "ops.searchsorted(bins, a)",
    "searchsorted_right": "ops.searchsorted(bins, np.array([0.0, 0.5, 2.0]), side='right')",
    "bincount": "ops.bincount(counts)", "bincount_weights": "ops.bincount(counts, weights=w6)",
    "bincount_minlength": "ops.bincount(counts, minlength=9)",
    "bincount_2d": "ops.bincount(np.array([[0, 3, 3], [1, 3, 0]]))",
    "bincount_empty": "ops.bincount(np.array([], 'int32'))",
    "median_no_slice": "ops.median(np.zeros((3, 0)), axis=0)",
    "quantile_no_slice": "ops.quantile(np.zeros((0, 3)), 0.5, axis=1)",
    "isin": "ops.isin(ids, np.array([2, 4, 7]))", "isin_invert": "ops.isin(ids, np.array([0]), invert=True)",
    "allclose": "ops.allclose(a, a + 1e-9)", "allclose_not": "ops.allclose(a, b)",
    "multi_hot": "ops.multi_hot(np.array([[0, 2], [3, 3]]), 5)", "multi_hot_1d": "ops.multi_hot(ids, num_classes=6)",
    "rms_normalization": "ops.rms_normalization(a)",
    "rms_normalization_scale": "ops.rms_normalization(a, scale=p[0], epsilon=1e-3)",
    "rms_normalization_axes": "ops.rms_normalization(a, axis=[0, 1])",
    "layer_normalization": "ops.layer_normalization(a)",
    "layer_normalization_affine": "ops.layer_normalization(a, gamma=p[0], beta=b[0], epsilon=1e-3)",
    "layer_normalization_axis0": "ops.layer_normalization(a, gamma=p[:, 0], beta=b[:, 0], axis=0)",
    "batch_normalization": "ops.batch_normalization(a, a.mean(axis=0), a.var(axis=0), axis=-1)",
    "batch_normalization_affine": ("ops.batch_normalization(a, b[:, 0], p[:, 0], axis=0, offset=b[:, 1], "
                                   "scale=p[:, 1], epsilon=0.01)"),
    "psnr": "ops.psnr(p, p + 0.1 * a, 2.0)",
    "inv": "ops.inv(m)", "det": "ops.det(m)", "det_batch": "ops.det(np.stack([m, spd]))",
    "slogdet_sign": "ops.slogdet(m - 8 * np.eye(5))[0]", "slogdet": "ops.slogdet(m)[1]",
    "solve": "ops.solve(m, a.T)", "solve_vector": "ops.solve(m, a[0])", "cholesky": "ops.cholesky(spd)",
    "cholesky_upper": "ops.cholesky(spd, upper=True)", "qr_q": "ops.abs(ops.qr(a.T)[0])",
    "qr_r": "ops.abs(ops.qr(a.T)[1])", "qr_complete": "ops.abs(ops.qr(a.T, mode='complete')[0])",
    "svd_s": "ops.svd(a, compute_uv=False)", "svd_u": "ops.abs(ops.svd(a)[0])",
    "svd_vh": "ops.abs(ops.svd(a, full_matrices=False)[2])", "eigh_values": "ops.eigh(spd)[0]",
    "eigh_vectors": "ops.abs(ops.eigh(spd)[1])",
}

SETUP = '''
rng = np.random.default_rng(5)
a = rng.normal(size=(4, 5))
b = rng.normal(size=(4, 5))
u = rng.uniform(-0.95, 0.95, size=(4, 5))
p = rng.uniform(0.3, 2.0, size=(4, 5))
m = rng.normal(size=(5, 5)) + 4 * np.eye(5)
spd = m @ m.T + np.eye(5)
an = np.where(rng.uniform(size=(4, 5)) < 0.3, np.nan, a)
an[3] = np.nan
ids = np.array([4, 0, 2, 2])
segs = np.array([0, 2, 0, 1])
counts = np.array([1, 3, 3, 0, 5, 1])
w6 = rng.uniform(size=6)
bins = np.array([-1.0, 0.0, 0.5, 1.5])
'''

KERAS_SIDE = ("import json\nimport warnings\nimport numpy as np\nimport keras\nfrom keras import ops\n" + SETUP +
              f"CASES = {CASES!r}\n" + '''
warnings.simplefilter("ignore")
out = {name: np.asarray(eval(call)).astype("float64").tolist() for name, call in CASES.items()}
print(json.dumps(out))
''')

NAN_AT = np.array([[True, False, False, True, False], [False, False, True, False, False],
                   [False, True, False, False, False], [False, False, False, False, True]])


def _with_nans(x):
    return ops.where(NAN_AT, np.nan, x)


def _shifted(x, k):
    return x + k * np.eye(x.shape[-1])


# gradients: (function of float64 Tensors, input shapes)
GRADIENTS = {
    "erf": (ops.erf, [(4, 5)]), "erfinv": (lambda x: ops.erfinv(0.9 * ops.tanh(x)), [(4, 5)]),
    "nansum": (lambda x: ops.nansum(_with_nans(x), axis=1), [(4, 5)]),
    "nanmean": (lambda x: ops.nanmean(_with_nans(x), axis=0, keepdims=True), [(4, 5)]),
    "nanmax": (lambda x: ops.nanmax(_with_nans(x), axis=1), [(4, 5)]),
    "nanmin": (lambda x: ops.nanmin(_with_nans(x)), [(4, 5)]),
    "nanprod": (lambda x: ops.nanprod(_with_nans(x), axis=1), [(4, 5)]),
    "nanvar": (lambda x: ops.nanvar(_with_nans(x), axis=1), [(4, 5)]),
    "nanstd": (lambda x: ops.nanstd(_with_nans(x), axis=0), [(4, 5)]),
    "diff": (lambda x: ops.diff(x, n=2, axis=0), [(4, 5)]), "ptp": (lambda x: ops.ptp(x, axis=1), [(4, 5)]),
    "median": (lambda x: ops.median(x, axis=0), [(4, 5)]),
    "quantile": (lambda x: ops.quantile(x, [0.1, 0.5, 0.95], axis=1), [(4, 5)]),
    "quantile_keepdims": (lambda x: ops.quantile(x, 0.3, axis=(0, 1), keepdims=True), [(3, 4)]),
    "quantile_midpoint": (lambda x: ops.quantile(x, [0.3, 0.6], method="midpoint"), [(7,)]),
    "quantile_nearest": (lambda x: ops.quantile(x, 0.6, axis=0, method="nearest"), [(6, 2)]),
    "percentile": (lambda x: ops.percentile(x, 35.0, axis=1), [(4, 5)]),
    "diag": (lambda x: ops.diag(x, k=1), [(4, 5)]), "diag_build": (lambda x: ops.diag(x, k=-2), [(3,)]),
    "select": (lambda x, y: ops.select([x > 0.5, x < -0.5], [x, y], 2.0), [(4, 5), (4, 5)]),
    "slice": (lambda x: ops.slice(x, [1, 2], [2, 3]), [(4, 5)]),
    "slice_update": (lambda x, y: ops.slice_update(x, [1, 3], y), [(4, 5), (2, 2)]),
    "scatter": (lambda v: ops.scatter(np.array([[0, 1], [2, 3], [0, 1]]), v, (3, 4)), [(3,)]),
    "scatter_rows": (lambda v: ops.scatter(np.array([[1], [3], [1]]), v, (4, 5)), [(3, 5)]),
    "scatter_update": (lambda x, v: ops.scatter_update(x, np.array([[0, 1], [3, 4], [0, 1]]), v), [(4, 5), (3,)]),
    "scatter_update_rows": (lambda x, v: ops.scatter_update(x, np.array([[2], [0]]), v), [(4, 5), (2, 5)]),
    "scatter_update_add": (lambda x, v: ops.scatter_update(x, np.array([[0, 1], [3, 4], [0, 1]]), v,
                                                           reduction="add"), [(4, 5), (3,)]),
    "scatter_update_max": (lambda x, v: ops.scatter_update(x, np.array([[0, 1], [3, 4], [0, 1]]), v,
                                                           reduction="max"), [(4, 5), (3,)]),
    "scatter_update_min": (lambda x, v: ops.scatter_update(x, np.array([[0], [3], [0]]), v, reduction="min"),
                           [(4, 5), (3, 5)]),
    "scatter_update_mul": (lambda x, v: ops.scatter_update(x, np.array([[0, 1], [3, 4], [0, 1]]), v,
                                                           reduction="mul"), [(4, 5), (3,)]),
    "segment_sum": (lambda x: ops.segment_sum(x, np.array([0, 2, 0, 1]), num_segments=4), [(4, 5)]),
    "segment_max": (lambda x: ops.segment_max(x, np.array([0, 2, 0, -1, 1]), num_segments=3), [(5, 4)]),
    "bincount": (lambda w: ops.bincount(np.array([1, 3, 3, 0, 5, 1]), weights=w), [(6,)]),
    "rms_normalization": (lambda x, s: ops.rms_normalization(x, scale=s), [(4, 5), (5,)]),
    "layer_normalization": (lambda x, g, b: ops.layer_normalization(x, gamma=g, beta=b), [(4, 5), (5,), (5,)]),
    "layer_normalization_axis0": (lambda x, g: ops.layer_normalization(x, gamma=g, axis=0), [(4, 5), (4,)]),
    "batch_normalization": (lambda x, mu, v, o, s: ops.batch_normalization(x, mu, ops.square(v) + 0.5, axis=1,
                                                                           offset=o, scale=s),
                            [(4, 5), (5,), (5,), (5,), (5,)]),
    "psnr": (lambda x, y: ops.psnr(x, y, 2.0), [(4, 5), (4, 5)]),
    "inv": (lambda x: ops.inv(_shifted(x, 4)), [(4, 4)]), "det": (lambda x: ops.det(_shifted(x, 3)), [(4, 4)]),
    "det_batch": (lambda x: ops.det(_shifted(x, 3)), [(2, 3, 3)]),
    "slogdet": (lambda x: ops.slogdet(_shifted(x, 4))[1], [(4, 4)]),
    "solve": (lambda x, y: ops.solve(_shifted(x, 4), y), [(4, 4), (4, 3)]),
    "solve_vector": (lambda x, y: ops.solve(_shifted(x, 4), y), [(4, 4), (4,)]),
    "solve_batch": (lambda x, y: ops.solve(_shifted(x, 4), y), [(2, 4, 4), (4,)]),
    "cholesky": (lambda x: ops.cholesky(_shifted(x @ ops.transpose(x), 1)), [(4, 4)]),
    "cholesky_upper": (lambda x: ops.cholesky(_shifted(x @ ops.transpose(x), 1), upper=True), [(3, 3)]),
    "cholesky_unsymmetric": (lambda x: ops.cholesky(_shifted(x, 8)), [(4, 4)]),
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
    expected = np.asarray(keras_values[name])
    assert mine.shape == expected.shape, name
    np.testing.assert_allclose(mine, expected, rtol=1e-5, atol=1e-5, err_msg=name)


@pytest.mark.parametrize("name", list(GRADIENTS))
def test_gradients_match_finite_differences(name):
    function, shapes = GRADIENTS[name]
    _check(function, *shapes, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name", ["nansum", "nanmean", "nanmax", "nanmin", "nanprod", "nanvar", "nanstd"])
def test_nan_reductions_give_no_gradient_to_nans(name):
    value = np.where(NAN_AT, np.nan, np.random.default_rng(2).normal(size=(4, 5)))
    x = Tensor(value, requires_grad=True)
    out = getattr(ops, name)(x, axis=1)
    grad = gradients(out, [x], np.ones(out.shape))[0]
    assert np.all(np.isfinite(grad)) and np.all(grad[NAN_AT] == 0), name
    if name in ("nanmax", "nanmin"):  # one value of each row chosen
        np.testing.assert_array_equal((grad != 0).sum(axis=1), 1)
    else:
        assert np.all(grad[~NAN_AT] != 0), name


def test_functions_without_a_gradient_give_none():
    x = Tensor(np.random.default_rng(3).normal(size=(4, 3)), requires_grad=True)
    outputs = [*ops.qr(x), *ops.svd(x), ops.svd(x, compute_uv=False), *ops.eigh(x[:3]), ops.slogdet(x[:3])[0],
               ops.digitize(x, np.array([0.0])), ops.searchsorted(np.array([0.0, 1.0]), x), ops.isin(x, [0.0]),
               ops.allclose(x, x), ops.bincount(np.array([0, 1]))]
    for out in outputs:
        assert not out.requires_grad and gradients(out, [x], np.ones(out.shape))[0] is None


def test_keras_s_defaults_and_dtypes():
    assert ops.erf(np.float32([0.5])).dtype == np.float32 and ops.erf(np.array([1, 2])).dtype == np.float32
    assert ops.nanmean(np.array([1, 2])).dtype == np.float32 and ops.nansum(np.int8([1, 2])).dtype == np.int32
    assert ops.median(np.array([1, 2, 4])).dtype == np.float32 and ops.logspace(0, 1, 3).dtype == np.float32
    assert ops.digitize(np.array([0.5]), np.array([0.0, 1.0])).dtype == np.int32
    assert ops.bincount(np.array([0, 2])).value.tolist() == [1, 0, 1] and ops.bincount(np.array([0])).dtype == np.int32
    assert ops.multi_hot(np.array([1]), num_tokens=3).value.tolist() == [0.0, 1.0, 0.0]
    assert ops.diff(np.array([1.0, 4.0]), n=0).value.tolist() == [1.0, 4.0]
    # "nearest" rounds a position halfway between two values to the even one, as NumPy and TensorFlow do
    assert float(ops.quantile(np.array([1.0, 2.0, 3.0, 4.0]), 0.5, method="nearest")) == 3.0
    np.testing.assert_allclose(ops.segment_sum(np.array([1.0, 2.0, 3.0]), np.array([0, 2, 2])).value, [1, 0, 5])
    # epsilon: Keras's backend epsilon for the layer and RMS normalizations, 1e-3 for batch_normalization
    np.testing.assert_allclose(ops.rms_normalization(np.full((1, 2), 1e-3)).value, 1e-3 / np.sqrt(1e-6 + 1e-7))
    np.testing.assert_allclose(ops.batch_normalization(np.ones((1, 2)), np.zeros(2), np.zeros(2), axis=-1).value,
                               1 / np.sqrt(1e-3), rtol=1e-6)
    assert ops.rms_normalization(np.float32(2.0)).shape == (1,)  # a scalar is normalized as a vector of one
    assert ops.layer_normalization(np.float16([[1, 2]])).dtype == np.float16
    assert bool(ops.allclose(np.ones(2), np.ones(2) + 1e-9)) and not bool(ops.allclose(np.ones(2), np.zeros(2)))
    with pytest.warns(UserWarning, match="rms_scaling=True"):
        ops.layer_normalization(np.ones((2, 3)), rms_scaling=True)


def test_keras_s_argument_errors():
    with pytest.raises(ValueError, match="num_classes"):
        ops.multi_hot(np.array([1]))
    with pytest.raises(ValueError, match="must be lists"):
        ops.select(np.array([True]), [np.ones(1)])
    with pytest.raises(ValueError, match="must not be empty"):
        ops.select([], [])
    with pytest.raises(ValueError, match="Invalid reduction"):
        ops.scatter_update(np.zeros(3), [[0]], np.ones(1), reduction="mean")
    with pytest.raises(ValueError, match="mode"):
        ops.qr(np.eye(2), mode="r")
    with pytest.raises(ValueError, match="square"):
        ops.inv(np.ones((2, 3)))
    with pytest.raises(ValueError, match="rank >= 2"):
        ops.det(np.ones(3))
    with pytest.raises(ValueError, match="Cholesky decomposition failed"):
        ops.cholesky(-np.eye(2))
    with pytest.raises(ValueError, match="1-D sorted"):
        ops.searchsorted(np.ones((2, 2)), np.ones(2))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        ops.quantile(np.ones(3), 1.5)
    with pytest.raises(ValueError, match="method"):
        ops.quantile(np.ones(3), 0.5, method="cubic")
    with pytest.raises(ValueError, match="must match for PSNR"):
        ops.psnr(np.ones(2), np.ones(3), 1.0)
    with pytest.raises(ValueError, match="1-D vector"):
        ops.segment_max(np.ones((2, 2)), np.zeros((2, 2), "int32"), num_segments=1)
    with pytest.raises(ValueError, match="same leading dimension"):
        ops.segment_sum(np.ones(3), np.zeros(2, "int32"), num_segments=1)
    with pytest.raises(ValueError, match="1-D or 2-D"):
        ops.diag(np.ones((2, 2, 2)))
    with pytest.raises(ValueError, match="Incompatible shapes"):
        ops.solve(np.eye(3), np.ones(2))
