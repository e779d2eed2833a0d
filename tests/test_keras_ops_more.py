"""The rest of keras.ops's array functions under gpunn.ops: building arrays (autodiff/array_building.py), NaN-aware
statistics (nan_statistics.py), integers and indices (index_functions.py), control flow (control_flow.py), linear
algebra (linalg_solvers.py), sparsemax, pixel shuffles and einops-style rearrangement. Each function's values
against Keras 3's own (a subprocess on its jax backend, the same inputs), each gradient against finite differences
in float64, and Keras's argument errors."""
from __future__ import annotations

import numpy as np
import pytest
from test_autodiff import _check

from gpunn import ops
from gpunn.autodiff import Tensor, gradients
from helpers import run_keras

# name: a call on the inputs of SETUP (Keras computes in float32, gpunn in the inputs' float64)
CASES = {
    "append": "ops.append(a, b)", "append_axis": "ops.append(a, b, axis=0)",
    "dstack": "ops.dstack([a, b])", "dstack_1d": "ops.dstack([a[0], b[0]])",
    "dsplit": "ops.dsplit(cube, 2)[1]", "meshgrid_xy": "ops.meshgrid(a[0], b[:, 0])[0]",
    "meshgrid_xy_1": "ops.meshgrid(a[0], b[:, 0])[1]", "meshgrid_ij": "ops.meshgrid(a[0], b[:, 0], indexing='ij')[1]",
    "meshgrid_3": "ops.meshgrid(a[0, :2], b[0, :3], a[1, :4])[2]",
    "vander": "ops.vander(a[0])", "vander_n": "ops.vander(a[0], N=3, increasing=True)",
    "kron": "ops.kron(a[:2, :3], b[:3, :2])", "kron_ranks": "ops.kron(a[0, :3], cube[0])",
    "cross3": "ops.cross(v3, w3)", "cross2": "ops.cross(v3[:, :2], w3[:, :2])",
    "cross23": "ops.cross(v3[:, :2], w3)", "cross_axis": "ops.cross(v3.T, w3.T, axis=0)",
    "correlate_valid": "ops.correlate(a[0], b[0, :3])", "correlate_same": "ops.correlate(a[0], b[0, :3], mode='same')",
    "correlate_full": "ops.correlate(a[0], b[0, :2], mode='full')",
    "correlate_swapped": "ops.correlate(a[0, :2], b[0], mode='full')",
    "correlate_swapped_same": "ops.correlate(a[0, :2], b[0], mode='same')",
    "geomspace": "ops.geomspace(1.0, 1000.0, 4)", "geomspace_open": "ops.geomspace(2.0, 32.0, 4, endpoint=False)",
    "bartlett": "ops.bartlett(7)", "blackman": "ops.blackman(6)", "hamming": "ops.hamming(5)",
    "hanning": "ops.hanning(8)", "kaiser": "ops.kaiser(6, 3.5)",
    "extract_sequences": "ops.extract_sequences(a, 3, 2)",
    "nanargmax": "ops.nanargmax(an, axis=1)", "nanargmin": "ops.nanargmin(an, axis=0)",
    "nanargmax_all": "ops.nanargmax(an)",
    "nancumsum": "ops.nancumsum(an, axis=1)", "nancumsum_all": "ops.nancumsum(an)",
    "nancumprod": "ops.nancumprod(an, axis=0)",
    "nanmedian": "ops.nanmedian(an[:3], axis=1)", "nanmedian_all": "ops.nanmedian(an)",
    "nanquantile": "ops.nanquantile(an[:3], [0.1, 0.5, 0.9], axis=1)",
    "nanquantile_keepdims": "ops.nanquantile(an[:3], 0.3, axis=0, keepdims=True)",
    "nanquantile_lower": "ops.nanquantile(an[:3], [0.2, 0.7], axis=1, method='lower')",
    "nanquantile_higher": "ops.nanquantile(an[:3], [0.2, 0.7], axis=1, method='higher')",
    "nanquantile_midpoint": "ops.nanquantile(an[:3], 0.4, axis=1, method='midpoint')",
    "nanquantile_nearest": "ops.nanquantile(an[:3], [0.2, 0.6], axis=1, method='nearest')",
    "nanquantile_all_nan": "ops.nanquantile(an, 0.5, axis=1)",
    "nanpercentile": "ops.nanpercentile(an[:3], [25, 75], axis=1)",
    "corrcoef": "ops.corrcoef(a)", "corrcoef_1d": "ops.corrcoef(a[0])", "corrcoef_one_row": "ops.corrcoef(a[:1])",
    "einsum_broadcast": "ops.einsum('...ij,...jk->...ik', cube, a[:4, :3])",
    "einsum_broadcast_dot": "ops.einsum('...j,...j->...', cube, a[0, :4])",
    "histogram_no_bins": "ops.histogram(a.reshape(-1), bins=0, range=(-1.0, 1.0))[1]",
    "unravel_index_int": "ops.unravel_index(4, (2, 3))[1]",
    "histogram_counts": "ops.histogram(a.reshape(-1), bins=4)[0]",
    "histogram_edges": "ops.histogram(a.reshape(-1), bins=4)[1]",
    "histogram_range": "ops.histogram(a.reshape(-1), bins=3, range=(-1.0, 1.0))[0]",
    "trapezoid": "ops.trapezoid(a)", "trapezoid_dx": "ops.trapezoid(a, dx=0.5, axis=0)",
    "trapezoid_x": "ops.trapezoid(a, x=np.array([0.0, 0.5, 1.5, 2.0, 4.0]))",
    "bitwise_and": "ops.bitwise_and(ints, ints2)", "bitwise_or": "ops.bitwise_or(ints, ints2)",
    "bitwise_xor": "ops.bitwise_xor(ints, ints2)", "bitwise_invert": "ops.bitwise_invert(ints)",
    "bitwise_not": "ops.bitwise_not(ints)", "left_shift": "ops.left_shift(ints, 2)",
    "right_shift": "ops.bitwise_right_shift(ints, ints2 % 3)", "invert_bool": "ops.bitwise_invert(ints > 3)",
    "unravel_index": "ops.unravel_index(np.array([0, 7, 11], 'int32'), (3, 4))[0]",
    "unravel_index_1": "ops.unravel_index(np.array([0, 7, 11], 'int32'), (3, 4))[1]",
    "unique": "ops.unique(ids)", "unique_counts": "ops.unique(ids, return_counts=True)[1]",
    "unique_index": "ops.unique(ids, return_index=True)[1]",
    "unique_inverse": "ops.unique(ids, return_inverse=True)[1]",
    "unique_size": "ops.unique(ids, size=6, fill_value=-1)", "unique_size_cut": "ops.unique(ids, size=2)",
    "unique_axis": "ops.unique(np.array([[1, 2], [0, 5], [1, 2]], 'int32'), axis=0)",
    "view": "ops.view(np.array([1.0, -2.0], 'float32'), 'int32')", "angle": "ops.angle(a)",
    "angle_int": "ops.angle(np.array([-2, 0, 3], 'int32'))",
    "pinv": "ops.pinv(a)", "pinv_square": "ops.pinv(m)", "pinv_rank": "ops.pinv(low_rank)",
    "pinv_batch": "ops.pinv(np.stack([a, b]))",
    "lstsq": "ops.lstsq(a.T, b[0])", "lstsq_matrix": "ops.lstsq(a.T, b.T)",
    "solve_triangular": "ops.solve_triangular(m, a.T)",
    "solve_triangular_lower": "ops.solve_triangular(m, a[0], lower=True)",
    "cholesky_inverse": "ops.cholesky_inverse(np.linalg.cholesky(spd))",
    "cholesky_inverse_upper": "ops.cholesky_inverse(np.linalg.cholesky(spd).T, upper=True)",
    "matrix_rank": "ops.matrix_rank(low_rank)", "matrix_rank_full": "ops.matrix_rank(m)",
    "matrix_rank_tol": "ops.matrix_rank(m, tol=4.0)",
    "lu": "ops.lu_factor(m)[0]", "lu_pivots": "ops.lu_factor(m)[1]", "lu_batch": "ops.lu_factor(np.stack([m, spd]))[0]",
    "logdet": "ops.logdet(spd)", "cdist": "ops.cdist(a, b[:3])", "cdist_batch": "ops.cdist(cube, cube[:, :2])",
    "sparsemax_one_in_support": "ops.sparsemax(30 * a)",
    
    "depth_to_space": "ops.depth_to_space(pixels, 2)",
    "depth_to_space_first": "ops.depth_to_space(pixels, 2, data_format='channels_first')",
    "space_to_depth": "ops.space_to_depth(pixels, 2)",
    "space_to_depth_first": "ops.space_to_depth(pixels.transpose(0, 3, 1, 2), 2, data_format='channels_first')",
    "rearrange": "ops.rearrange(pixels, 'b h w c -> b c h w')",
    "rearrange_merge": "ops.rearrange(pixels, 'b h w c -> (b h) (w c)')",
    "rearrange_split": "ops.rearrange(pixels, 'b (h1 h) (w1 w) c -> (b h1 w1) h w c', h1=2, w1=2)",
    "rearrange_into": "ops.rearrange(pixels, 'b (h h1) (w w1) c -> b h w (c h1 w1)', h1=2, w1=2)",
    "segment_min": "ops.segment_min(a, segs, num_segments=4)",
    "segment_prod": "ops.segment_prod(a, segs, num_segments=4)",
    "saturate_cast": "ops.saturate_cast(300 * a, 'uint8')",
    "saturate_cast_int": "ops.saturate_cast(ints * 100, 'int8')",
    "scan": "ops.scan(lambda c, x: (c + x, c * x), ops.zeros(5), a)[1]",
    "scan_carry": "ops.scan(lambda c, x: (c + x, c * x), ops.zeros(5), a, reverse=True)[0]",
    "scan_length": "ops.scan(lambda c, _: (c * 2.0, c), 1.0, length=4)[1]",
    "associative_scan": "ops.associative_scan(lambda x, y: x + y, a)",
    "associative_scan_reverse": "ops.associative_scan(lambda x, y: x * y, a, reverse=True, axis=1)",
    "map": "ops.map(lambda x: ops.sum(x * x), a)",
    "vectorized_map": "ops.vectorized_map(lambda x: x @ m, a)",
    "vectorize": "ops.vectorize(lambda x, y: x * y + 1.0)(a, b[0])",
    "vectorize_signature": "ops.vectorize(lambda r, w: ops.sum(r * w), signature='(n),(n)->()')(a, b[0])",
    "while_loop": "ops.while_loop(lambda i, x: i < 5, lambda i, x: (i + 1, x * 1.5), (0, a))[1]",
    "while_loop_max": "ops.while_loop(lambda x: ops.sum(x) < 1e9, lambda x: x + 1.0, a, maximum_iterations=3)",
    "fori_loop": "ops.fori_loop(0, 4, lambda i, x: x + i * a, a)",
    "cond": "ops.cond(ops.sum(a) > 0, lambda: a * 2.0, lambda: a - 1.0)",
    "attention": "ops.dot_product_attention(q4, k4, v4)",
    "attention_bias_mask": "ops.dot_product_attention(q4, k4, v4, bias=b4, mask=m4, scale=0.3)",
    "attention_causal": "ops.dot_product_attention(q4, k4[:, :3], v4[:, :3], is_causal=True)",
    "switch": "ops.switch(7, [lambda x: x + 1.0, lambda x: x * 3.0], a)",
}

SETUP = '''
rng = np.random.default_rng(7)
a = rng.normal(size=(4, 5))
b = rng.normal(size=(4, 5))
cube = rng.normal(size=(3, 2, 4))
v3 = rng.normal(size=(4, 3))
w3 = rng.normal(size=(4, 3))
m = rng.normal(size=(5, 5)) + 4 * np.eye(5)
spd = m @ m.T + np.eye(5)
low_rank = rng.normal(size=(5, 2)) @ rng.normal(size=(2, 4))
an = np.where(rng.uniform(size=(4, 5)) < 0.3, np.nan, a)
an[0, 1] = np.nan
an[3] = np.nan
ints = np.array([[5, 3, 12], [0, 7, 1]], 'int32')
ints2 = np.array([[6, 1, 10], [4, 7, 2]], 'int32')
ids = np.array([4, 0, 2, 2, 0, 9], 'int32')
segs = np.array([0, 2, 0, 1])
pixels = rng.normal(size=(2, 4, 6, 8))
q4, k4, v4 = rng.normal(size=(2, 3, 2, 4)), rng.normal(size=(2, 5, 2, 4)), rng.normal(size=(2, 5, 2, 4))
b4, m4 = rng.normal(size=(2, 2, 3, 5)), rng.uniform(size=(2, 2, 3, 5)) > 0.3
'''

KERAS_SIDE = ("import json\nimport warnings\nimport numpy as np\nimport keras\nfrom keras import ops\n" + SETUP +
              f"CASES = {CASES!r}\n" + '''
warnings.simplefilter("ignore")
out = {name: np.asarray(eval(call)).astype("float64").tolist() for name, call in CASES.items()}
print(json.dumps(out))
''')


@pytest.fixture(scope="module")
def keras_values():
    return run_keras(KERAS_SIDE, {})


def _mine(name):
    import gpunn

    namespace = {"ops": ops, "np": np, "keras": gpunn}
    exec(SETUP, namespace)
    mine = eval(CASES[name], namespace)
    return np.asarray(getattr(mine, "value", mine)).astype("float64")


@pytest.mark.parametrize("name", list(CASES))
def test_values_are_keras_s(keras_values, name):
    mine, expected = _mine(name), np.asarray(keras_values[name])
    assert mine.shape == expected.shape, name
    np.testing.assert_allclose(mine, expected, rtol=2e-5, atol=2e-5, err_msg=name)


def test_argpartition_partitions_as_keras_s():
    """Keras leaves the order within each side to the backend: the partition itself is what must hold."""
    x = np.random.default_rng(1).normal(size=(3, 7))
    for kth in (0, 3, 6):
        idx = ops.argpartition(x, kth, axis=1).value
        assert idx.dtype == np.int32
        parted = np.take_along_axis(x, idx, axis=1)
        np.testing.assert_array_equal(np.sort(idx, axis=1), np.tile(np.arange(7), (3, 1)))
        np.testing.assert_array_equal(parted[:, kth], np.sort(x, axis=1)[:, kth])
        pivot = parted[:, kth:kth + 1]
        assert np.all(parted[:, :kth] <= pivot) and np.all(parted[:, kth + 1:] >= pivot)
    flat = ops.argpartition(x, 2, axis=None).value
    assert flat.shape == (21,) and x.reshape(-1)[flat[2]] == np.sort(x.reshape(-1))[2]


def _with_nans(x):
    return ops.where(np.array([[True, False, False, True, False], [False, False, True, False, False],
                               [False, True, False, False, False]]), np.nan, x)


# gradients: (function of float64 Tensors, input shapes)
GRADIENTS = {
    "append": (lambda x, y: ops.append(x, y), [(2, 3), (4,)]),
    "dstack": (lambda x, y: ops.dstack([x, y]), [(2, 3), (2, 3, 2)]),
    "dsplit": (lambda x: ops.dsplit(x, [1])[1], [(2, 2, 3)]),
    "meshgrid": (lambda x, y: ops.meshgrid(x, y)[0] * ops.meshgrid(x, y)[1], [(3,), (4,)]),
    "vander": (lambda x: ops.vander(x, N=4), [(3,)]),
    "kron": (lambda x, y: ops.kron(x, y), [(2, 3), (3, 2)]),
    "cross": (lambda x, y: ops.cross(x, y), [(4, 3), (4, 3)]),
    "cross2": (lambda x, y: ops.cross(x, y), [(4, 2), (4, 3)]),
    "correlate": (lambda x, y: ops.correlate(x, y, mode="same"), [(6,), (3,)]),
    "correlate_swapped": (lambda x, y: ops.correlate(x, y, mode="full"), [(2,), (4,)]),
    "extract_sequences": (lambda x: ops.extract_sequences(x, 3, 2), [(2, 7)]),
    "nancumsum": (lambda x: ops.nancumsum(_with_nans(x), axis=1), [(3, 5)]),
    "nancumprod": (lambda x: ops.nancumprod(_with_nans(x), axis=0), [(3, 5)]),
    "nanquantile": (lambda x: ops.nanquantile(_with_nans(x), [0.2, 0.5], axis=1), [(3, 5)]),
    "nanmedian": (lambda x: ops.nanmedian(_with_nans(x), axis=0), [(3, 5)]),
    "corrcoef": (lambda x: ops.corrcoef(x), [(3, 6)]),
    "trapezoid": (lambda y, x: ops.trapezoid(y, x=ops.cumsum(ops.exp(x))), [(3, 5), (5,)]),
    "pinv": (lambda x: ops.pinv(x), [(4, 3)]), "pinv_wide": (lambda x: ops.pinv(x), [(2, 5)]),
    "pinv_batch": (lambda x: ops.pinv(x), [(2, 3, 3)]),
    "lstsq": (lambda x, y: ops.lstsq(x, y), [(5, 3), (5, 2)]),
    "solve_triangular": (lambda x, y: ops.solve_triangular(x + 4 * np.eye(4), y, lower=True), [(4, 4), (4, 2)]),
    "cholesky_inverse": (lambda x: ops.cholesky_inverse(ops.tril(x) + 3 * np.eye(3)), [(3, 3)]),
    "logdet": (lambda x: ops.logdet(x @ ops.transpose(x) + np.eye(3)), [(3, 3)]),
    "cdist": (lambda x, y: ops.cdist(x, y), [(3, 4), (2, 4)]),
    "sparsemax": (lambda x: ops.sparsemax(3 * x), [(4, 5)]),
    "depth_to_space": (lambda x: ops.depth_to_space(x, 2), [(1, 2, 3, 8)]),
    "space_to_depth": (lambda x: ops.space_to_depth(x, 2, data_format="channels_first"), [(1, 3, 4, 2)]),
    "rearrange": (lambda x: ops.rearrange(x, "b (h h1) w -> b h (w h1)", h1=2), [(2, 4, 3)]),
    "segment_min": (lambda x: ops.segment_min(x, np.array([0, 2, 0, 1]), num_segments=3), [(4, 5)]),
    "segment_prod": (lambda x: ops.segment_prod(x, np.array([0, 2, 0, 1, 0]), num_segments=3), [(5, 4)]),
    "scan": (lambda x: ops.scan(lambda c, r: (c * r + 1.0, c), ops.ones(3, "float64"), x)[1], [(4, 3)]),
    "associative_scan": (lambda x: ops.associative_scan(lambda p, q: p * q, x, axis=1), [(2, 4)]),
    "vectorize": (lambda x, y: ops.vectorize(lambda r, w: ops.sum(r * w), signature="(n),(n)->()")(x, y),
                  [(3, 4), (4,)]),
    "einsum_broadcast": (lambda x, y: ops.einsum("...ij,...jk->...ik", x, y), [(2, 3, 4), (4, 2)]),
    "attention": (lambda q, k, v, b: ops.dot_product_attention(q, k, v, bias=b, is_causal=True),
                  [(1, 3, 2, 4), (1, 3, 2, 4), (1, 3, 2, 4), (1, 2, 3, 3)]),
    "while_loop": (lambda x: ops.while_loop(lambda i, v: i < 3, lambda i, v: (i + 1, ops.sin(v) * v), (0, x))[1],
                   [(2, 3)]),
}


@pytest.mark.parametrize("name", list(GRADIENTS))
def test_gradients_match_finite_differences(name):
    function, shapes = GRADIENTS[name]
    _check(function, *shapes, rtol=1e-5, atol=1e-7)


def _projection_onto_the_simplex(row):
    """The sparsemax of one row by bisection on tau (sum(max(row - tau, 0)) = 1): its definition, computed
    independently of the sort."""
    low, high = row.min() - 1.0, row.max()
    for _ in range(200):
        tau = (low + high) / 2
        low, high = (tau, high) if np.maximum(row - tau, 0).sum() > 1 else (low, tau)
    return np.maximum(row - (low + high) / 2, 0)


def test_sparsemax_is_the_projection_onto_the_simplex():
    """The definition Keras documents (and its code computes since keras-team/keras#23469; Keras 3.15's threshold
    is wrong for a support of two or more, so only a support of one is compared with it above)."""
    import gpunn

    x = np.random.default_rng(4).normal(size=(6, 7))
    for axis in (-1, 0):
        out = ops.sparsemax(x, axis=axis).value
        expected = np.apply_along_axis(_projection_onto_the_simplex, axis, x)
        np.testing.assert_allclose(out, expected, atol=1e-12)
        np.testing.assert_allclose(out.sum(axis=axis), 1.0)
    assert (ops.sparsemax(x).value > 0).sum(axis=1).max() > 1  # supports of several values were exercised
    np.testing.assert_allclose(ops.sparsemax(np.array([[0.0, 0.5, 1.0]])).value, [[0.0, 0.25, 0.75]])
    rows = np.apply_along_axis(_projection_onto_the_simplex, 1, x)
    np.testing.assert_allclose(gpunn.activations.sparsemax(x.astype("float32")), rows, atol=1e-6)
    assert gpunn.activations.get("sparsemax").__name__ == "sparsemax"
    assert gpunn.activations.serialize(gpunn.activations.get("sparsemax")) == "sparsemax"


def test_a_dense_layer_with_sparsemax_trains_and_saves(tmp_path):
    """``Dense(k, activation="sparsemax")``: its outputs are distributions, its gradient that of the function,
    and the name is what its file keeps."""
    import gpunn

    gpunn.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(64, 5)).astype("float32")
    y = (x[:, :3] > 0).astype("float32")
    y /= np.maximum(y.sum(axis=1, keepdims=True), 1)
    model = gpunn.Sequential([gpunn.Input((5,)), gpunn.layers.Dense(3, activation="sparsemax")])
    model.compile(optimizer="adam", loss="mse")
    history = model.fit(x, y, epochs=5, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    out = model.predict(x, verbose=0)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)
    assert model.layers[0].get_config()["activation"] == "sparsemax"
    model.save(tmp_path / "m.keras")
    np.testing.assert_allclose(gpunn.models.load_model(tmp_path / "m.keras").predict(x, verbose=0), out, rtol=1e-6)


def test_segment_product_gradient_with_zeros():
    """A segment holding one 0 sends its gradient to that 0 alone (the product of the others); two 0s, none."""
    x = Tensor(np.array([2.0, 0.0, 3.0, 0.0, 0.0, 5.0]), requires_grad=True)
    out = ops.segment_prod(x, np.array([0, 0, 0, 1, 1, 2]), num_segments=3)
    np.testing.assert_array_equal(out.value, [0.0, 0.0, 5.0])
    grad = gradients(out, [x], np.ones(3))[0]
    np.testing.assert_array_equal(grad, [0.0, 6.0, 0.0, 0.0, 0.0, 1.0])


def test_custom_gradient_replaces_the_recorded_one():
    """Keras's own example (log1pexp): the value of the function, the gradient of the function's grad_fn, in
    either of the signatures Keras documents."""
    @ops.custom_gradient
    def log1pexp(x):
        e = ops.exp(x)

        def grad(*args, upstream=None):
            if upstream is None:
                (upstream,) = args
            return ops.multiply(upstream, 1.0 - 1.0 / ops.add(1, e))

        return ops.log(1 + e), grad

    @ops.custom_gradient
    def doubled_gradient(x, y):
        return x * y, lambda g: (2 * g * y, 2 * g * x)

    x = Tensor(np.array([-1.0, 0.5, 100.0]), requires_grad=True)
    out = log1pexp(x)
    np.testing.assert_allclose(out.value, np.log1p(np.exp([-1.0, 0.5, 100.0])))
    np.testing.assert_allclose(gradients(out, [x], np.ones(3))[0], 1 / (1 + np.exp(-x.value)))
    y = Tensor(np.array([3.0, 4.0, 5.0]), requires_grad=True)
    gx, gy = gradients(doubled_gradient(x, y), [x, y], np.ones(3))
    np.testing.assert_allclose(gx, 2 * y.value)
    np.testing.assert_allclose(gy, 2 * x.value)


def test_dtypes_are_keras_s():
    assert ops.bartlett(4).dtype == np.float32 and ops.kaiser(4, 1.0).dtype == np.float32
    assert ops.geomspace(1.0, 8.0, 4).dtype == np.float32
    assert ops.nanargmax(np.array([np.nan, 1.0])).dtype == np.int32
    assert int(ops.nanargmax(np.array([np.nan, np.nan]))) == -1
    assert ops.histogram(np.array([1.0, 2.0], "float32"))[0].dtype == np.float32  # (JAX's counts: floats)
    assert ops.matrix_rank(np.eye(3)).dtype == np.int32 and ops.lu_factor(np.eye(2))[1].dtype == np.int32
    assert ops.unique(np.array([3, 1, 3]), return_counts=True)[1].dtype == np.int32
    assert ops.angle(np.array([1, -1])).dtype == np.float32
    assert ops.dtype(np.zeros(2, "float16")) == "float16" and ops.dtype(ops.zeros((2,))) == "float32"
    assert ops.bitwise_and(np.int8([3]), np.int8([1])).dtype == np.int8
    assert ops.saturate_cast(np.array([-5.0, 300.0]), "uint8").value.tolist() == [0, 255]
    assert ops.switch(-3, [lambda: 1, lambda: 2]) == 1  # the index clipped into the branches, as JAX does
    assert ops.nn.sparsemax is ops.sparsemax and ops.linalg.pinv is ops.pinv and ops.numpy.kron is ops.kron


def test_keras_s_argument_errors():
    with pytest.raises(TypeError, match="`bins` must be of type `int`"):
        ops.histogram(np.ones(3), bins=2.0)
    with pytest.raises(ValueError, match="non-negative"):
        ops.histogram(np.ones(3), bins=-1)
    with pytest.raises(ValueError, match="tuple of two elements"):
        ops.histogram(np.ones(3), range=[0, 1])
    with pytest.raises(ValueError, match="greater than the first"):
        ops.histogram(np.ones(3), range=(1, 0))
    with pytest.raises(ValueError, match="1-dimensional"):
        ops.vander(np.ones((2, 2)))
    with pytest.raises(TypeError, match="`N` must be of type `int`"):
        ops.vander(np.ones(2), N=2.0)
    with pytest.raises(ValueError, match="rank >= 2"):
        ops.pinv(np.ones(3))
    with pytest.raises(ValueError, match="rank >= 2"):
        ops.cdist(np.ones(3), np.ones((2, 3)))
    with pytest.raises(ValueError, match="must match"):
        ops.cdist(np.ones((2, 3)), np.ones((2, 4)))
    with pytest.raises(ValueError, match="dimension must be 2 or 3"):
        ops.cross(np.ones(4), np.ones(4))
    with pytest.raises(ValueError, match="3 or more dimensions"):
        ops.dsplit(np.ones((2, 2)), 2)
    with pytest.raises(ValueError, match="must be 1D"):
        ops.meshgrid(np.ones((2, 2)), np.ones(2))
    with pytest.raises(ValueError, match="indexing"):
        ops.meshgrid(np.ones(2), indexing="xx")
    with pytest.raises(ValueError, match="`xs` to scan over"):
        ops.scan(lambda c, x: (c, x), 0.0)
    with pytest.raises(TypeError, match="callable"):
        ops.scan(3, 0.0, length=2)
    with pytest.raises(TypeError, match="integers or booleans"):
        ops.bitwise_and(np.ones(2), np.ones(2))
    with pytest.raises(ValueError, match="sequence_stride"):
        ops.extract_sequences(np.ones(5), 2, 0)
    with pytest.raises(ValueError, match="multiple of block_size"):
        ops.depth_to_space(np.ones((1, 2, 2, 3)), 2)
    with pytest.raises(ValueError, match="all but one"):
        ops.rearrange(np.ones((4, 6)), "(a b) c -> a b c")


def test_saturate_cast_saturates_where_the_bounds_round_out_of_range():
    """float32 holds no int32 maximum (its nearest is 2**31): values beyond still give 2147483647, as TensorFlow's
    and XLA's saturating casts (Keras's on jax) give."""
    out = ops.saturate_cast(np.array([-3e10, 3e9, 2147483647.0, 1e6], "float32"), "int32")
    np.testing.assert_array_equal(out.value, [-2147483648, 2147483647, 2147483647, 1000000])
    out = ops.saturate_cast(np.array([1e20, -1e20], "float32"), "int64")
    np.testing.assert_array_equal(out.value, [np.iinfo(np.int64).max, np.iinfo(np.int64).min])


def test_vectorized_map_stacks_each_part_of_a_structure():
    x = np.arange(12.0).reshape(3, 2, 2)
    pair = ops.vectorized_map(lambda r: (r[0], r[1] * 2), x)
    assert isinstance(pair, tuple) and [p.shape for p in pair] == [(3, 2), (3, 2)]
    np.testing.assert_array_equal(pair[1].value, x[:, 1] * 2)
    named = ops.vectorized_map(lambda r: {"a": ops.sum(r), "b": r[0]}, x)
    assert set(named) == {"a", "b"} and named["a"].shape == (3,)


def test_mean_with_sample_weight_of_zero_weights_is_zero_on_tensors():
    from gpunn import losses

    loss = losses.MeanSquaredError(reduction="mean_with_sample_weight")
    y = Tensor(np.ones((3, 2)), requires_grad=True)
    assert float(loss(np.zeros((3, 2)), y, sample_weight=np.zeros(3)).value) == 0.0


def test_int8_products_accumulate_in_int32_as_keras():
    """Keras's matmul and einsum of int8 operands give int32 (its backends' preferred_element_type), which a
    quantized matmul (Deep Learning with Python's chapter 18) relies on: int8 arithmetic would wrap around."""
    from gpunn import ops

    a = ops.cast(ops.array([[100, 100]]), "int8")
    b = ops.cast(ops.array([[100], [100]]), "int8")
    for result in (ops.matmul(a, b), ops.einsum("ij,jk->ik", a, b)):
        assert result.dtype == "int32" and np.asarray(result).tolist() == [[20000]]
    mixed = ops.matmul(a, ops.cast(b, "int16"))  # not int8 alone: NumPy's promotion, as Keras's
    assert mixed.dtype == "int16" and np.asarray(mixed).tolist() == [[20000]]
    for kept in (ops.dot(a, b), ops.tensordot(a, b, axes=1), a @ b):  # Keras keeps int8 there (and wraps)
        assert kept.dtype == "int8"
