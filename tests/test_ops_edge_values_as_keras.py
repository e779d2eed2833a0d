"""``keras.ops`` where Keras's own ops tests probe the edges: ``normalize`` over several axes (the flat L2 norm, not
a matrix norm), ``logsumexp`` of infinities, the cross-entropies' shape checks, ``top_k`` with NaN, grouped-query
``dot_product_attention``, ``vectorized_map`` over a dict, and the integer and bool dtypes of operations' results
as a model's outputs."""
from __future__ import annotations

from helpers import numpy_backend, run_script_both_ways  # noqa: F401  (fixture)

SCRIPT = r'''
import json, sys
import numpy as np

def run(keras, folder):
    ops, L = keras.ops, keras.layers
    found = {}

    def value(name, compute):
        try:
            out = compute()
            found[name] = [np.round(np.asarray(o, dtype=float), 5).tolist() for o in out] \
                if isinstance(out, (tuple, list)) else np.round(np.asarray(out, dtype=float), 5).tolist()
        except Exception as error:
            found[name] = type(error).__name__

    r = np.random.RandomState(0)
    m = np.arange(1, 10, dtype="float32").reshape(3, 3)
    x = r.randn(2, 3, 4).astype("float32")
    value("normalize axis None", lambda: ops.normalize(m, axis=None))
    value("normalize two axes", lambda: ops.normalize(x, axis=(1, 2)))
    value("normalize order 1", lambda: ops.normalize(x, axis=1, order=1))
    value("normalize zeros", lambda: ops.normalize(np.zeros((2, 3), "float32")))
    value("normalize order 0", lambda: ops.normalize(m, order=0))
    value("normalize order 1.5", lambda: ops.normalize(m, order=1.5))
    value("logsumexp -inf", lambda: ops.logsumexp(np.array([[-np.inf, -np.inf], [1.0, 2.0]], "float32"), axis=-1))
    value("logsumexp inf", lambda: ops.logsumexp(np.array([np.inf, 0.0], "float32")))
    value("cce shapes", lambda: ops.categorical_crossentropy(np.eye(2, 3, dtype="float32"),
                                                             np.full((2, 1), 0.5, "float32")))
    value("bce shapes", lambda: ops.binary_crossentropy(np.ones((2, 3), "float32"), np.full((2, 1), 0.5, "float32")))
    value("scce shapes", lambda: ops.sparse_categorical_crossentropy(np.array([[1, 0]]),
                                                                     np.full((2, 3), 1 / 3, "float32")))
    value("scce (n, 1) labels", lambda: ops.sparse_categorical_crossentropy(np.array([[1], [0]]),
                                                                            np.full((2, 3), 1 / 3, "float32")))
    value("top_k nan", lambda: ops.top_k(np.array([[1.0, np.nan, 3.0, np.nan]], "float32"), 3))
    q, k, v = r.randn(1, 3, 4, 2).astype("float32"), r.randn(1, 5, 2, 2).astype("float32"), \
        r.randn(1, 5, 2, 2).astype("float32")
    value("grouped-query attention", lambda: ops.dot_product_attention(q, k, v))
    value("grouped-query causal", lambda: ops.dot_product_attention(q, k, v, is_causal=True))
    value("vectorized_map dict", lambda: ops.vectorized_map(lambda d: d["a"] * 2 + d["b"],
                                                            {"a": np.ones((3, 2), "float32"),
                                                             "b": np.arange(6, dtype="float32").reshape(3, 2)}))

    value("median of infinities", lambda: ops.median(np.array([[np.inf], [1.0]], "float32"), axis=1))
    value("quantiles by infinities", lambda: ops.quantile(np.array([-np.inf, 1.0, np.inf, 3.0], "float32"),
                                                          [0.1, 0.5, 0.9]))
    value("quantile between infinities", lambda: ops.quantile(np.array([np.inf, np.inf], "float32"), 0.3))
    value("nanmedian", lambda: ops.nanmedian(np.array([[np.inf, np.nan], [1.0, 2.0]], "float32"), axis=1))
    both_infinite = np.array([[1.0, np.inf, 3.0, -np.inf], [-np.inf, -np.inf, 1.0, 2.0]], "float32")
    value("quantiles at infinite places", lambda: ops.quantile(both_infinite, [0.0, 0.5, 1.0, 0.3], axis=1))
    value("median of an even count", lambda: ops.median(np.array([1.0, np.inf, 2.0, 5.0], "float32")))
    tens = np.arange(11, dtype="float32") * 10
    for method in ("lower", "higher", "midpoint", "linear"):  # ("nearest": Keras's backends disagree on halves)
        value(f"quantiles by {method}", lambda: [ops.quantile(tens, np.float32(q), method=method)
                                                  for q in (0.7, 0.1, 0.25)] + [
            ops.quantile(np.array([0.0, 10.0, 20.0], "float32"), 0.75, method=method),
            ops.nanquantile(np.array([[0.0, 10.0, np.nan, 20.0]], "float32"), [0.25, 0.75], axis=1, method=method)])
    value("top_k of inf and nan", lambda: ops.top_k(np.array([1.0, np.inf, -np.inf, np.nan], "float32"), 2))
    value("binary crossentropy of numbers", lambda: ops.binary_crossentropy(1.0, 0.3))
    value("rot90 of one axis twice named", lambda: ops.rot90(np.ones((2, 3)), axes=(1, -1)))
    value("where of one None", lambda: ops.where(np.array([True, False]), np.array([1.0, 2.0]), None))
    value("rot90 of one axis", lambda: ops.rot90(np.ones((2, 2)), axes=(0, 0)))
    value("reshape to -2", lambda: ops.reshape(np.ones((4, 5)), (-2, 5)))
    value("reshape of two -1", lambda: ops.reshape(np.ones((4, 5)), (-1, -1)))
    value("view of a 0-d array", lambda: [ops.view(np.array(1, "int16"), dtype="float16").shape])
    value("view of a 0-d array resized", lambda: ops.view(np.array(1, "int16"), dtype="int8"))
    value("linspace of a tensor count", lambda: ops.linspace(0, 10, ops.convert_to_tensor(5)))
    value("split of an empty axis", lambda: ops.split(np.ones((0,)), 2))

    inputs = keras.Input((4,))
    hidden = L.Dense(3, kernel_initializer="ones")(inputs)
    model = keras.Model(inputs, [hidden, ops.argmax(hidden, axis=-1), ops.greater(hidden, 0.5),
                                 ops.cast(hidden, "int32")])
    rows = np.array([[1.0, -2.0, 0.5, 0.25], [1.0, 2.0, 0.5, 0.25]], "float32")
    found["symbolic dtypes"] = [str(t.dtype) for t in model.outputs]
    found["predict dtypes"] = [[o.tolist(), str(o.dtype)] for o in model.predict(rows, verbose=0)]
    found["call dtypes"] = [[np.asarray(o).tolist(), str(np.asarray(o).dtype)] for o in model(rows)]
    return found
'''


def test_edge_values_and_result_dtypes_are_keras_s(tmp_path_factory):
    ours, theirs = run_script_both_ways(SCRIPT, tmp_path_factory)
    assert ours == theirs


def test_ndim_of_a_symbolic_value_and_an_operation_refusing_its_inputs(numpy_backend):
    """``ops.ndim`` of a model's symbolic value is its rank; an operation NumPy refuses on the trial batch (``gcd``
    of floats, whose error class takes other arguments) is reported as a TypeError naming it, not a crash of the
    error's own constructor."""
    import pytest

    import gpunn

    x = gpunn.Input((3, 4))
    assert gpunn.ops.ndim(x) == 3
    with pytest.raises(TypeError, match=r"gpunn.ops.gcd on symbolic values of shapes"):
        gpunn.ops.gcd(x, x)
