"""Keras 3's activations beyond the first eight: by name and as functions, in Dense and Activation layers.

The second group (selu, softplus, softsign, hard_sigmoid, exponential, mish) is checked against formulas written
from keras/src/activations/activations.py and its backends' nn.py. The third group (relu6, hard_silu, log_sigmoid,
celu, hard_tanh, soft_shrink, hard_shrink, tanh_shrink, squareplus, sparse_plus, sparse_sigmoid), the row-wise
log_softmax and glu, the function-only threshold and relu's keyword arguments are checked against Keras 3 itself,
run in a subprocess on its jax backend: its values in float32 and float64 on inputs that include the kinks,
huge values, infinities and NaN, and jax's gradients of Keras's functions, kinks included. Then, on the CPU
backend: forward through Dense and Activation layers, backward against finite differences in float64, names
through get_config / serialize and .keras files both ways, a short training run with each, and no allocation
in training steps after the first. The kernels themselves (NumPy twins, CUDA on the simulator, the compiled
CPU loops) are tested in tests/kernels/ (test_bias_act.py, test_keras_activations_cuda.py,
test_keras_activation_twins.py) and tests/test_fused_cpu.py."""
from __future__ import annotations

import numpy as np
import pytest
from helpers import numpy_backend, run_keras  # noqa: F401  (fixture)
from test_gradients import build, check_layer

import gpunn
from gpunn import activations, layers

NEW = ["selu", "softplus", "softsign", "hard_sigmoid", "exponential", "mish"]
THIRD = ["relu6", "hard_silu", "log_sigmoid", "celu", "hard_tanh", "soft_shrink", "hard_shrink", "tanh_shrink",
         "squareplus", "sparse_plus", "sparse_sigmoid"]
ROW_WISE = ["log_softmax", "glu"]
SELU_ALPHA = 1.6732632423543772848170429916717  # keras/src/backend/numpy/nn.py selu
SELU_SCALE = 1.0507009873554804934193349852946
# Where f' jumps (or f itself, for hard_shrink): finite differences stay away. Keras's default parameters.
KINKS = {"selu": (0.0,), "hard_sigmoid": (-3.0, 3.0), "relu6": (0.0, 6.0), "hard_silu": (-3.0, 3.0),
         "hard_tanh": (-1.0, 1.0), "soft_shrink": (-0.5, 0.5), "hard_shrink": (-0.5, 0.5),
         "sparse_plus": (-1.0, 1.0), "sparse_sigmoid": (-1.0, 1.0)}


def keras_formula(name, x):
    """Each element-wise activation as Keras 3 defines it (defaults for its parameters), in float64."""
    x = np.asarray(x, dtype=np.float64)
    if name == "selu":
        return SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * np.expm1(x))
    if name == "softplus":
        return np.logaddexp(x, 0.0)
    if name == "softsign":
        return x / (np.abs(x) + 1.0)
    if name == "hard_sigmoid":  # Keras 3: relu6(x + 3) / 6 (Keras 2 had 0.2 x + 0.5)
        return np.minimum(np.maximum(x + 3.0, 0.0), 6.0) / 6.0
    if name == "exponential":
        return np.exp(x)
    if name == "mish":
        return x * np.tanh(np.logaddexp(x, 0.0))
    if name == "relu6":
        return np.minimum(np.maximum(x, 0.0), 6.0)
    if name == "hard_silu":
        return x * keras_formula("hard_sigmoid", x)
    if name == "log_sigmoid":
        return -np.logaddexp(-x, 0.0)
    if name == "celu":
        return np.maximum(x, 0.0) + np.expm1(np.minimum(x, 0.0))
    if name == "hard_tanh":
        return np.clip(x, -1.0, 1.0)
    if name == "soft_shrink":
        return np.where(x > 0.5, x - 0.5, np.where(x < -0.5, x + 0.5, 0.0))
    if name == "hard_shrink":
        return np.where(np.abs(x) > 0.5, x, 0.0)
    if name == "tanh_shrink":
        return x - np.tanh(x)
    if name == "squareplus":
        return (x + np.sqrt(x * x + 4.0)) / 2.0
    if name == "sparse_plus":
        return np.where(x <= -1.0, 0.0, np.where(x >= 1.0, x, (x + 1.0) ** 2 / 4.0))
    if name == "sparse_sigmoid":
        return 0.5 * np.clip(x + 1.0, 0.0, 2.0)
    if name == "log_softmax":
        shifted = x - x.max(axis=-1, keepdims=True)
        return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    raise KeyError(name)


# ---- Keras 3 itself ------------------------------------------------------------------------------------------

EDGES = [-np.inf, -1e30, -1000.0, -100.0, -60.0, -30.0, -6.0, -3.0000002, -3.0, -2.9999998, -1.5, -1.0000001,
         -1.0, -0.99999994, -0.50000006, -0.5, -0.49999997, -0.1, -1e-7, -1e-30, -0.0, 0.0, 1e-30, 1e-7, 0.1,
         0.49999997, 0.5, 0.50000006, 0.99999994, 1.0, 1.0000001, 1.5, 2.9999998, 3.0, 3.0000002, 5.9999995, 6.0,
         6.0000005, 30.0, 60.0, 100.0, 1000.0, 1e30, np.inf, np.nan]
# (key, function name, keyword arguments): the functions' parameters, and relu's branches in ReLU.static_call
WITH_ARGUMENTS = [
    ("relu slope", "relu", {"negative_slope": 0.1}), ("relu slope 2", "relu", {"negative_slope": 2.0}),
    ("relu max", "relu", {"max_value": 3.5}), ("relu max 6", "relu", {"max_value": 6.0}),
    ("relu threshold", "relu", {"threshold": 0.5}), ("relu negative threshold", "relu", {"threshold": -0.5}),
    ("relu all", "relu", {"negative_slope": 0.1, "max_value": 4.0, "threshold": 1.0}),
    ("relu slope threshold", "relu", {"negative_slope": 0.25, "threshold": -1.0}),
    ("relu slope max", "relu", {"negative_slope": 0.3, "max_value": 2.0}),
    ("relu slope max 6", "relu", {"negative_slope": 0.1, "max_value": 6.0}),
    ("celu 0.5", "celu", {"alpha": 0.5}), ("celu 2", "celu", {"alpha": 2.0}),
    ("soft_shrink 0.25", "soft_shrink", {"threshold": 0.25}), ("soft_shrink 1", "soft_shrink", {"threshold": 1.0}),
    ("hard_shrink 0.25", "hard_shrink", {"threshold": 0.25}), ("hard_shrink 1.5", "hard_shrink", {"threshold": 1.5}),
    ("squareplus 1", "squareplus", {"b": 1.0}), ("squareplus 9", "squareplus", {"b": 9.0}),
    ("threshold", "threshold", {"threshold": 0.5, "default_value": -1.0}),
    ("threshold negative", "threshold", {"threshold": -2.0, "default_value": 7.0}),
]
ROWS = [[0.5, -1.0, 2.0, 3.5, -0.25, 1.0], [1000.0, 0.0, -1000.0, 20.0, -20.0, 5.0],
        [-3.0, -3.0, -3.0, -3.0, -3.0, -3.0], [60.0, -60.0, 1e-7, 0.0, 2.0, -2.0]]

KERAS_SCRIPT = r'''
import json, sys
import numpy as np
import jax
jax.config.update("jax_enable_x64", True)  # before any array: float64 stays float64 (float32 stays float32)
import jax.numpy as jnp
import keras
from keras.src.activations import ALL_OBJECTS_DICT

task = json.loads(sys.stdin.read())
A = keras.activations
out = {"names": sorted(ALL_OBJECTS_DICT)}
rows_64 = np.array(task["rows"])
for dtype in ("float32", "float64"):
    x = np.array(task["edges"], dtype)
    res = {}
    for name in task["elementwise"]:
        y = np.asarray(getattr(A, name)(x))
        assert y.dtype == x.dtype, (name, y.dtype)
        res[name] = y.tolist()
    for key, name, kwargs in task["with_arguments"]:
        res[key] = np.asarray(getattr(A, name)(x, **kwargs)).tolist()
    rows = rows_64.astype(dtype)
    res["log_softmax"] = np.asarray(A.log_softmax(rows)).tolist()
    res["log_softmax axis 0"] = np.asarray(A.log_softmax(rows, axis=0)).tolist()
    res["glu"] = np.asarray(A.glu(rows)).tolist()
    res["glu axis 0"] = np.asarray(A.glu(rows, axis=0)).tolist()
    out[dtype] = res
# jax's gradients of Keras's functions in float64: f' element by element, and row-wise vector-Jacobian products
x = jnp.array(task["grad_points"], jnp.float64)
grads = {}
for name in task["elementwise"]:
    f = getattr(A, name)
    grads[name] = np.asarray(jax.grad(lambda v: jnp.sum(f(v)))(x)).tolist()
cotangent = jnp.array(task["cotangent"], jnp.float64)
for name, dy in (("log_softmax", cotangent), ("glu", cotangent[:, :rows_64.shape[1] // 2])):
    f = getattr(A, name)
    grads[name] = np.asarray(jax.grad(lambda v: jnp.sum(f(v) * dy))(jnp.array(rows_64))).tolist()
out["grads"] = grads
model = keras.saving.load_model(task["gpunn_file"])
out["gpunn_file_in_keras"] = np.asarray(model.predict(np.array(task["file_x"], "float32"), verbose=0)).tolist()
out["loaded_activations"] = [getattr(layer, "activation").__name__ for layer in model.layers]
keras.utils.set_random_seed(5)
stack = [keras.Input(shape=(6,))] + [keras.layers.Dense(6, activation=name) for name in task["elementwise"]]
stack += [keras.layers.Dense(6, activation="log_softmax"), keras.layers.Activation("glu"),
          keras.layers.Activation("hard_swish")]
theirs = keras.Sequential(stack)
theirs.save(task["keras_file"])
out["keras_prediction"] = np.asarray(theirs.predict(np.array(task["file_x"], "float32"), verbose=0)).tolist()
print(json.dumps(out))
'''


def _file_model():
    """A float32 model with each third-group activation in a Dense layer, log_softmax in one and glu as a layer."""
    gpunn.utils.set_random_seed(5)
    stack = [gpunn.Input(shape=(6,))]
    stack += [layers.Dense(6, activation=name) for name in THIRD + ["log_softmax"]]
    stack += [layers.Activation("glu"), layers.Activation("hard_swish")]
    return gpunn.Sequential(stack)


@pytest.fixture(scope="module")
def keras_results(tmp_path_factory):
    """Keras 3's values, gradients and reading of a gpunn .keras file (one subprocess for the module)."""
    model = _file_model()
    path = tmp_path_factory.mktemp("activations") / "third_group.keras"
    model.save(path)
    x = np.random.default_rng(7).standard_normal((5, 6)).astype("float32")
    cotangent_shape = (len(ROWS), len(ROWS[0]))
    task = {"edges": EDGES, "elementwise": THIRD, "with_arguments": WITH_ARGUMENTS, "rows": ROWS,
            "grad_points": [v for v in EDGES if np.isfinite(v)],
            "cotangent": np.random.default_rng(3).standard_normal(cotangent_shape).tolist(),
            "gpunn_file": str(path), "file_x": x.tolist(), "keras_file": str(path.with_name("theirs.keras"))}
    result = run_keras(KERAS_SCRIPT, task)
    result["model"], result["file_x"], result["cotangent"] = model, x, np.array(task["cotangent"])
    result["keras_file"] = task["keras_file"]
    return result


def assert_keras_close(got, want, x, dtype, ulps=8):
    """Equal NaN positions; elsewhere within ``ulps`` of the value or of the input (the scale an ulp of x - tanh(x)
    or of x + sqrt(x^2 + b) is lost at), results below the smallest normal taken as 0 (XLA flushes them)."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    x = np.broadcast_to(np.asarray(x, np.float64), want.shape)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    finite = np.isfinite(want)
    np.testing.assert_array_equal(got[~finite & ~np.isnan(want)], want[~finite & ~np.isnan(want)])
    info = np.finfo(dtype)
    bound = ulps * info.eps * (np.abs(want) + np.where(np.isfinite(x), np.abs(x), 0.0)) + info.tiny
    with np.errstate(invalid="ignore"):  # inf - inf where both are inf, checked above
        error = np.abs(got - want)
    bad = finite & ~(error <= bound)
    assert not bad.any(), f"x {x[bad]}: got {got[bad]}, Keras {want[bad]}"


def test_every_keras_activation_name_is_known(keras_results):
    """Keras's names (its ALL_OBJECTS_DICT, aliases included) are gpunn's (sparsemax's values are those of its
    definition, which Keras 3.15 misses for supports of two or more: tests/test_keras_ops_more.py)."""
    theirs = set(keras_results["names"])
    ours = {name for name in theirs if _resolves(name)}
    assert ours == theirs
    assert "hard_swish" in theirs and "swish" in theirs and "sparsemax" in theirs


def _resolves(name):
    try:
        activations.get(name)
    except TypeError:  # threshold: a function only
        return callable(getattr(activations, name))
    return True


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", THIRD)
def test_values_equal_keras(keras_results, name, dtype):
    x = np.array(EDGES, dtype)
    with np.errstate(all="ignore"):
        got = getattr(activations, name)(x)
    assert got.dtype == np.dtype(dtype)
    assert_keras_close(got, keras_results[dtype][name], x, dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("key, name, kwargs", WITH_ARGUMENTS, ids=[case[0] for case in WITH_ARGUMENTS])
def test_keyword_arguments_equal_keras(keras_results, key, name, kwargs, dtype):
    x = np.array(EDGES, dtype)
    with np.errstate(all="ignore"):
        got = getattr(activations, name)(x, **kwargs)
    assert got.dtype == np.dtype(dtype)
    assert_keras_close(got, keras_results[dtype][key], x, dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_row_wise_functions_equal_keras(keras_results, dtype):
    rows = np.array(ROWS, dtype)
    theirs = keras_results[dtype]
    assert_keras_close(activations.log_softmax(rows), theirs["log_softmax"], rows, dtype)
    assert_keras_close(activations.log_softmax(rows, axis=0), theirs["log_softmax axis 0"], rows, dtype)
    assert_keras_close(activations.glu(rows), theirs["glu"], rows[:, :3], dtype)  # the scale of a in a * sigmoid(b)
    assert_keras_close(activations.glu(rows, axis=0), theirs["glu axis 0"], rows[:2], dtype)
    with pytest.raises(ValueError, match="divisible by 2"):
        activations.glu(np.ones((2, 5)))


def _activation_layer_grad(name, x, dy):
    """dx of an Activation(name) layer in float64 on the CPU backend, for the upstream gradient dy."""
    layer = build(layers.Activation(name, dtype="float64"), input_shape=x.shape[1:])
    _, backprop = layer.forward(np.array(x, np.float64), True)
    return np.array(backprop(np.array(dy, np.float64), True))


@pytest.mark.parametrize("name", THIRD)
def test_gradients_equal_jax_autodiff_of_keras_kinks_included(keras_results, name, numpy_backend):
    """f' everywhere, at the kinks too, is jax's: relu6 0 at 0 and 6, hard_silu 0 at -3 and 1 at 3, hard_tanh 1 at
    +-1, the shrinks 0 at +-0.5 (as TF's gradients). sparse_sigmoid is the one where TF and jax differ at the
    kinks: gpunn takes TF's 0 at -1 and 1 (its where), jax's clip splits the tie and gives 1/4."""
    x = np.array([v for v in EDGES if np.isfinite(v)])
    got = _activation_layer_grad(name, x[None, :], np.ones((1, x.size)))[0]
    theirs = np.array(keras_results["grads"][name])
    if name == "sparse_sigmoid":
        kinks = np.abs(x) == 1.0
        np.testing.assert_array_equal(theirs[kinks], 0.25)
        np.testing.assert_array_equal(got[kinks], 0.0)
        got, theirs, x = got[~kinks], theirs[~kinks], x[~kinks]
    # squareplus far below zero: both compute from a cancelled x + sqrt(x^2 + b) or 1 + x / sqrt(x^2 + b)
    rtol = 1e-8 if name == "squareplus" else 1e-12
    np.testing.assert_allclose(got, theirs, rtol=rtol, atol=1e-15, err_msg=f"x = {x}")


@pytest.mark.parametrize("name", ROW_WISE)
def test_row_wise_gradients_equal_jax(keras_results, name, numpy_backend):
    rows, cotangent = np.array(ROWS), keras_results["cotangent"]
    dy = cotangent[:, :3] if name == "glu" else cotangent
    got = _activation_layer_grad(name, rows, dy)
    np.testing.assert_allclose(got, keras_results["grads"][name], rtol=1e-12, atol=1e-13)


def test_a_gpunn_keras_file_with_the_new_activations_loads_in_keras(keras_results):
    model, x = keras_results["model"], keras_results["file_x"]
    np.testing.assert_allclose(keras_results["gpunn_file_in_keras"], model.predict(x, verbose=0), rtol=2e-5,
                               atol=2e-6)
    assert keras_results["loaded_activations"] == THIRD + ["log_softmax", "glu", "hard_silu"]


def test_a_keras_file_with_the_new_activations_loads_in_gpunn(keras_results):
    loaded = gpunn.models.load_model(keras_results["keras_file"])
    names = [layer.activation.name for layer in loaded.layers]
    assert names == THIRD + ["log_softmax", "glu", "hard_silu"]
    np.testing.assert_allclose(loaded.predict(keras_results["file_x"], verbose=0), keras_results["keras_prediction"],
                               rtol=2e-5, atol=2e-6)


# ---- names, functions, configs ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NEW + THIRD)
def test_names_and_functions_resolve_to_the_fused_activation(name):
    function = getattr(activations, name)
    for identifier in (name, name.upper(), function):
        spec = activations.get(identifier)
        assert spec.name == name and spec.elementwise
    assert activations.serialize(activations.get(name)) == name
    assert layers.Dense(3, activation=function).get_config()["activation"] == name
    assert layers.Activation(name).get_config()["activation"] == name
    restored = layers.Dense.from_config(layers.Dense(3, activation=name).get_config())
    assert restored.activation == activations.get(name)
    restored = layers.Activation.from_config(layers.Activation(function).get_config())
    assert restored.activation == activations.get(name)


@pytest.mark.parametrize("name", ROW_WISE)
def test_row_wise_names_resolve_and_round_trip(name):
    spec = activations.get(name)
    assert spec.name == name and not spec.elementwise
    assert activations.get(getattr(activations, name)) == spec
    assert layers.Activation.from_config(layers.Activation(name).get_config()).activation == spec
    assert layers.Dense.from_config(layers.Dense(4, activation=name).get_config()).activation == spec


def test_names_get_keras_default_parameters_and_aliases_serialize_as_keras_does():
    defaults = {"celu": 1.0, "soft_shrink": 0.5, "hard_shrink": 0.5, "squareplus": 4.0}
    for name, value in defaults.items():
        assert activations.get(name).alpha == value
    assert activations.get("hard_swish") == activations.get(activations.hard_swish) == activations.get("hard_silu")
    assert activations.hard_swish is activations.hard_silu and activations.swish is activations.silu
    assert layers.Activation("hard_swish").get_config()["activation"] == "hard_silu"


def test_threshold_is_a_function_only_as_in_keras():
    """Keras's threshold(x, threshold, default_value) has no defaults: its name fails in a layer (Keras raises
    this TypeError when the layer is called; gpunn when it is made)."""
    np.testing.assert_array_equal(activations.threshold(np.array([-1.0, 0.5, 0.75, np.nan]), 0.5, -9.0),
                                  [-9.0, -9.0, 0.75, -9.0])
    for make in (lambda: activations.get("threshold"), lambda: layers.Dense(3, activation="threshold"),
                 lambda: layers.Activation(activations.threshold)):
        with pytest.raises(TypeError, match="missing 2 required positional arguments"):
            make()


def test_function_parameters_are_checked():
    for call in (lambda: activations.celu(np.ones(2), alpha=0.0), lambda: activations.celu(np.ones(2), alpha=-1.0),
                 lambda: activations.soft_shrink(np.ones(2), threshold="0.5"),
                 lambda: activations.squareplus(np.ones(2), b=np.nan),
                 lambda: activations.relu(np.ones(2), max_value="6")):
        with pytest.raises(ValueError):
            call()


def test_unknown_activation_suggests_the_closest_name():
    with pytest.raises(ValueError, match=r"activation: unknown name 'hard_sigmod'.*Did you mean 'hard_sigmoid'\?"):
        activations.get("hard_sigmod")
    with pytest.raises(ValueError, match=r"Did you mean 'soft_shrink'\?"):
        activations.get("soft_shrnik")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", NEW + THIRD)
def test_functions_follow_keras_formulas(name, dtype):
    x = np.linspace(-6.0, 6.0, 49).astype(dtype).reshape(7, 7)
    x[0, :4] = [-3.0, 3.0, 0.0, -0.0]  # hard_sigmoid's and selu's corners
    x[1, :4] = [-1.0, 1.0, 0.5, -0.5]  # hard_tanh's, the shrinks', sparse_plus's and sparse_sigmoid's
    got = getattr(activations, name)(x)
    assert got.dtype == dtype and got.shape == x.shape
    rtol = 4e-7 if dtype == np.float32 else 1e-15
    atol = rtol * (np.abs(x).max() + 1.0) if name == "tanh_shrink" else rtol  # x - tanh(x) cancels: ulps of x
    np.testing.assert_allclose(got, keras_formula(name, x.astype(np.float64)), rtol=rtol, atol=atol)


def test_keras3_hard_sigmoid_and_selu_values():
    """Keras 3's hard_sigmoid docstring: 0 at and below -3, 1 at and above 3, x / 6 + 0.5 between."""
    np.testing.assert_array_equal(activations.hard_sigmoid(np.array([-4.0, -3.0, 0.0, 1.5, 3.0, 4.0])),
                                  [0.0, 0.0, 0.5, 0.75, 1.0, 1.0])
    np.testing.assert_allclose(activations.selu(np.array([1.0, -1.0, -50.0])),
                               [SELU_SCALE, SELU_SCALE * SELU_ALPHA * np.expm1(-1.0), -SELU_SCALE * SELU_ALPHA],
                               rtol=1e-15)
    assert activations.softplus(np.array([0.0]))[0] == pytest.approx(np.log(2.0), rel=1e-15)
    assert activations.mish(np.array([0.0]))[0] == 0.0


def test_keras3_docstring_values_of_the_third_group():
    """The definitions in Keras's docstrings, at their corners (activations.py)."""
    x = np.array([-4.0, -3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0, 7.0])
    np.testing.assert_array_equal(activations.relu6(x), [0, 0, 0, 0, 0, 0.5, 1, 3, 6])
    np.testing.assert_array_equal(activations.hard_silu(x), [0, 0, -1 / 3, -0.5 * 2.5 / 6, 0, 0.5 * 3.5 / 6, 4 / 6,
                                                            3, 7])
    np.testing.assert_array_equal(activations.hard_tanh(x), [-1, -1, -1, -0.5, 0, 0.5, 1, 1, 1])
    np.testing.assert_array_equal(activations.soft_shrink(x), [-3.5, -2.5, -0.5, 0, 0, 0, 0.5, 2.5, 6.5])
    np.testing.assert_array_equal(activations.hard_shrink(x), [-4, -3, -1, 0, 0, 0, 1, 3, 7])
    np.testing.assert_array_equal(activations.sparse_plus(x), [0, 0, 0, 0.0625, 0.25, 0.5625, 1, 3, 7])
    np.testing.assert_array_equal(activations.sparse_sigmoid(x), [0, 0, 0, 0.25, 0.5, 0.75, 1, 1, 1])
    np.testing.assert_array_equal(activations.squareplus(np.array([0.0]), b=4), [1.0])
    np.testing.assert_array_equal(activations.relu([-10, -5, 0.0, 5, 10], max_value=5.0), [0, 0, 0, 5, 5])
    np.testing.assert_array_equal(activations.relu([-10, -5, 0.0, 5, 10], negative_slope=0.5),
                                  [-5, -2.5, 0, 5, 10])
    np.testing.assert_array_equal(activations.relu([-10, -5, 0.0, 5, 10], threshold=5.0), [0, 0, 0, 0, 10])


def test_extreme_inputs():
    x = np.array([-1000.0, -50.0, 50.0, 1000.0])
    np.testing.assert_allclose(activations.softplus(x), [0.0, np.exp(-50.0), 50.0, 1000.0], rtol=1e-15, atol=0)
    np.testing.assert_allclose(activations.softsign(x), x / (np.abs(x) + 1.0), rtol=1e-15)
    np.testing.assert_allclose(activations.mish(x), [0.0, -50.0 * np.exp(-50.0), 50.0, 1000.0], rtol=1e-14, atol=1e-300)
    with np.errstate(over="ignore"):
        assert np.isinf(activations.exponential(np.array([1000.0], np.float32))).all()  # as exp, as in Keras
    np.testing.assert_allclose(activations.log_sigmoid(x), [-1000.0, -50.0 - np.exp(-50.0), -np.exp(-50.0), -0.0],
                               rtol=1e-15, atol=0)
    np.testing.assert_allclose(activations.celu(x), [-1.0, np.expm1(-50.0), 50.0, 1000.0], rtol=1e-15)
    np.testing.assert_allclose(activations.squareplus(x, b=4), keras_formula("squareplus", x), rtol=1e-12)
    # NaN: Keras's where expressions give 0 for the shrinks, the others propagate it
    nan = np.array([np.nan])
    assert activations.soft_shrink(nan)[0] == 0.0 and activations.hard_shrink(nan)[0] == 0.0
    for name in ("relu6", "hard_silu", "log_sigmoid", "celu", "hard_tanh", "tanh_shrink", "squareplus",
                 "sparse_plus", "sparse_sigmoid"):
        assert np.isnan(getattr(activations, name)(nan)).all(), name


# ---- in layers: forward and backward --------------------------------------------------------------------------


def _inputs_off_kinks(layer, name, rng, shape=(5, 7)):
    """Inputs whose pre-activations stay 1e-3 away from the activation's kinks."""
    kinks = np.array(KINKS.get(name, (np.inf,)))
    for _ in range(100):
        x = rng.standard_normal(shape) * 2.0
        w = layer.bound.weights
        z = x @ w["kernel"] + w.get("bias", 0.0) if "kernel" in w else x
        if np.abs(z[..., None] - kinks).min() > 1e-3:
            return x
    raise AssertionError("could not draw inputs away from the kinks")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", NEW + THIRD + ["log_softmax"])
def test_dense_and_activation_layers_compute_the_formula(name, dtype, rng):
    gpunn.utils.set_random_seed(3)
    model = gpunn.Sequential([gpunn.Input(shape=(6,), dtype=dtype), layers.Dense(5, activation=name),
                              layers.Dense(4), layers.Activation(name)])
    w = [np.asarray(v, np.float64) for v in model.get_weights()]
    model.set_weights([w[0], np.linspace(-0.5, 0.5, 5), w[2], np.linspace(-1.0, 1.0, 4)])
    x = rng.standard_normal((9, 6)).astype(dtype)
    got = model.predict(x, verbose=0)
    assert got.dtype == np.dtype(dtype)
    hidden = keras_formula(name, x.astype(np.float64) @ w[0] + np.linspace(-0.5, 0.5, 5))
    want = keras_formula(name, hidden @ w[2] + np.linspace(-1.0, 1.0, 4))
    rtol = 2e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_glu_layer_halves_the_last_axis(dtype, rng):
    model = gpunn.Sequential([gpunn.Input(shape=(3, 8), dtype=dtype), layers.Dense(6), layers.Activation("glu")])
    assert model.layers[-1].output_shape == (3, 3)
    x = rng.standard_normal((4, 3, 8)).astype(dtype)
    got = model.predict(x, verbose=0)
    kernel, bias = (np.asarray(v, np.float64) for v in model.get_weights())
    z = x.astype(np.float64) @ kernel + bias
    want = z[..., :3] / (1.0 + np.exp(-z[..., 3:]))
    assert got.shape == (4, 3, 3) and got.dtype == np.dtype(dtype)
    np.testing.assert_allclose(got, want, rtol=2e-5 if dtype == "float32" else 1e-12, atol=1e-6)
    with pytest.raises(ValueError, match="divisible by 2"):
        gpunn.Sequential([gpunn.Input(shape=(5,)), layers.Activation("glu")])


def test_dense_refuses_glu_which_would_halve_its_units(rng):
    model = gpunn.Sequential([gpunn.Input(shape=(4,)), layers.Dense(6, activation="glu")])
    with pytest.raises(ValueError, match=r"Dense\(2 \* units\) followed by Activation\('glu'\)"):
        model.predict(rng.standard_normal((2, 4)).astype("float32"), verbose=0)


@pytest.mark.parametrize("use_bias", [True, False], ids=["bias", "no_bias"])
@pytest.mark.parametrize("name", NEW + THIRD + ["log_softmax"])
def test_dense_gradients_match_finite_differences(name, use_bias, rng, numpy_backend):
    layer = build(layers.Dense(3, activation=name, use_bias=use_bias, dtype="float64"))
    if use_bias:
        layer.bound.weights["bias"][...] = rng.uniform(-0.5, 0.5, 3)
    _, grads = check_layer(layer, _inputs_off_kinks(layer, name, rng), rng)
    assert set(grads) == ({"kernel", "bias"} if use_bias else {"kernel"})


@pytest.mark.parametrize("name", NEW + THIRD + ROW_WISE)
def test_activation_layer_gradients_match_finite_differences(name, rng, numpy_backend):
    width = 8 if name == "glu" else 7  # glu halves an even width
    layer = build(layers.Activation(name, dtype="float64"), input_shape=(width,))
    dx, grads = check_layer(layer, _inputs_off_kinks(layer, name, rng, shape=(5, width)), rng)
    assert grads == {}


def test_gradients_at_the_kinks_follow_tensorflow(numpy_backend):
    """Where f' jumps, the one-sided value TF's gradient kernels give: SeluGrad takes the scale at 0 (y < 0
    picks the other branch), Relu6Grad passes nothing at x + 3 = 0 or 6."""
    layer = build(layers.Activation("selu", dtype="float64"))
    _, backprop = layer.forward(np.array([[0.0, -1e-300]]), True)
    np.testing.assert_allclose(backprop(np.ones((1, 2)), True), [[SELU_SCALE, SELU_SCALE * SELU_ALPHA]],
                               rtol=1e-15)
    layer = build(layers.Activation("hard_sigmoid", dtype="float64"))
    _, backprop = layer.forward(np.array([[-3.0, 3.0, 0.0, 2.999]]), True)
    np.testing.assert_array_equal(backprop(np.ones((1, 4)), True), [[0.0, 0.0, 1 / 6, 1 / 6]])


def test_relu_layer_with_max_value_6_runs_the_fused_relu6(numpy_backend):
    """ReLU(max_value=6) is Keras's relu6 op (ReLU.static_call takes it): the fused step, with the same values and
    gradients (0 at 0 and 6) as the layer's general path."""
    fused, general = layers.ReLU(max_value=6.0), layers.ReLU(max_value=6.0, threshold=1e-300)
    assert fused.fused_spec() == activations.ActivationSpec("relu6", 0.0) and general.fused_spec() is None
    x = np.array([[-1.0, 0.0, 0.5, 5.5, 6.0, 7.0]])
    results = []
    for layer in (build(fused, (6,)), build(general, (6,))):
        y, backprop = layer.forward(x.copy(), True)
        results.append((np.array(y), np.array(backprop(np.ones_like(x), True))))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])
    np.testing.assert_array_equal(results[0][1], [[0, 0, 1, 1, 0, 0]])


@pytest.mark.parametrize("name", NEW + THIRD + ["log_softmax"])
def test_a_model_trains_with_each_activation(name, numpy_backend):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 4)).astype("float32")
    y = (x[:, :1] - 0.5 * x[:, 1:2]).astype("float32")
    gpunn.utils.set_random_seed(1)
    model = gpunn.Sequential([gpunn.Input(shape=(4,)), layers.Dense(16, activation=name),
                              layers.Dense(8), layers.Activation(name), layers.Dense(1)])
    model.compile(optimizer=gpunn.optimizers.Adam(0.01), loss="mse", jit_compile=True)
    history = model.fit(x, y, batch_size=16, epochs=8, verbose=0).history["loss"]
    assert np.isfinite(history).all() and history[-1] < 0.7 * history[0], history


def test_a_model_trains_with_glu(numpy_backend):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 4)).astype("float32")
    y = (x[:, :1] - 0.5 * x[:, 1:2]).astype("float32")
    gpunn.utils.set_random_seed(1)
    model = gpunn.Sequential([gpunn.Input(shape=(4,)), layers.Dense(16), layers.Activation("glu"), layers.Dense(1)])
    model.compile(optimizer=gpunn.optimizers.Adam(0.01), loss="mse", jit_compile=True)
    history = model.fit(x, y, batch_size=16, epochs=8, verbose=0).history["loss"]
    assert np.isfinite(history).all() and history[-1] < 0.7 * history[0], history


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "replay"])
def test_training_steps_with_the_new_activations_allocate_nothing_after_the_first(jit, numpy_backend):
    """Every third-group activation in Dense and Activation layers, log_softmax and glu: after the first step of a
    batch size, a training step makes no NumPy array (the fused steps and the row-wise ops write into buffers)."""
    from test_step_allocations import assert_later_steps_allocate_nothing

    gpunn.utils.set_random_seed(2)
    stack = [gpunn.Input(shape=(5,))]
    for name in THIRD:
        stack += [layers.Dense(6, activation=name), layers.Activation(name)]
    stack += [layers.Dense(8, activation="log_softmax"), layers.Activation("log_softmax"), layers.Activation("glu"),
              layers.Dense(1)]
    model = gpunn.Sequential(stack)
    model.compile(optimizer="adam", loss="mse", jit_compile=jit)
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((40, 5)).astype("float32"), rng.standard_normal((40, 1)).astype("float32")
    assert_later_steps_allocate_nothing(model, x, y)


# ---- what activations.get returns, and activations of a model's symbolic values ------------------------------


def test_get_returns_a_callable_as_keras_does_its_parameter_included(rng):
    """Keras's ``activations.get`` returns the function, which layers of the user's keep and call."""
    x = rng.standard_normal((3, 5)).astype(np.float32)
    for name in ("relu", "sigmoid", "leaky_relu", "celu", "soft_shrink", "squareplus", "softmax", "log_softmax"):
        got = activations.get(name)
        assert got.__name__ == name
        np.testing.assert_array_equal(got(x), getattr(activations, name)(x), err_msg=name)
        assert activations.serialize(getattr(activations, name)) == activations.serialize(got) == name
    np.testing.assert_allclose(activations.get("leaky_relu")(x), np.where(x > 0, x, 0.2 * x), rtol=1e-6)
    with pytest.raises(ValueError, match="activation: expected one of gpunn.activations' functions"):
        activations.serialize(np.tanh)


def test_a_stored_activation_called_in_a_layer_of_the_user_s_trains(rng, numpy_backend):
    class Scaled(layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dense = layers.Dense(3)
            self.act = activations.get("tanh")

        def call(self, inputs):
            return self.act(self.dense(inputs)) * 2.0

    x = rng.standard_normal((8, 4)).astype(np.float32)
    inputs = gpunn.Input((4,))
    model = gpunn.Model(inputs, Scaled()(inputs))
    kernel, bias = model.get_weights()
    np.testing.assert_allclose(model.predict(x, verbose=0), np.tanh(x @ kernel + bias) * 2.0, rtol=1e-5, atol=1e-6)
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, np.zeros((8, 3), np.float32), verbose=0)
    assert not np.array_equal(model.get_weights()[0], kernel)


SYMBOLIC_ACTIVATIONS = r'''
def outputs(keras, h):
    activations, ops = keras.activations, keras.ops
    return [activations.sigmoid(h) * 5, activations.relu(h), activations.softmax(h), activations.leaky_relu(h, 0.1),
            activations.gelu(h), activations.exponential(h), activations.linear(h), activations.celu(h, 2.0),
            activations.threshold(h, 0.5, -1.0), activations.log_softmax(h), activations.relu(h, max_value=6.0),
            activations.elu(h) + activations.get("tanh")(h)]
'''

KERAS_SYMBOLIC_ACTIVATIONS = SYMBOLIC_ACTIVATIONS + r'''
import json, sys
import numpy as np
import keras
task = json.loads(sys.stdin.read())
x = np.array(task["x"], dtype="float32")
inputs = keras.Input((4,))
model = keras.Model(inputs, outputs(keras, keras.layers.Dense(4, kernel_initializer="identity")(inputs)))
loaded = keras.models.load_model(task["file"])
print(json.dumps({"predict": [a.tolist() for a in model.predict(x, verbose=0)],
                  "gpunn_file": [a.tolist() for a in loaded.predict(x, verbose=0)]}))
'''


def test_activations_of_symbolic_values_are_keras_s_operations(tmp_path):
    """Keras's activations are keras.ops calls, so on a functional model's values they are operations of its
    graph: the same values, and a .keras file Keras reads."""
    namespace: dict = {}
    exec(SYMBOLIC_ACTIVATIONS, namespace)
    x = np.linspace(-2, 2, 12, dtype=np.float32).reshape(3, 4)
    inputs = gpunn.Input((4,))
    model = gpunn.Model(inputs, namespace["outputs"](gpunn, layers.Dense(4, kernel_initializer="identity")(inputs)))
    model.save(tmp_path / "activations.keras")
    keras_side = run_keras(KERAS_SYMBOLIC_ACTIVATIONS, {"x": x.tolist(), "file": str(tmp_path / "activations.keras")})
    for ours, theirs, from_file in zip(model.predict(x, verbose=0), keras_side["predict"], keras_side["gpunn_file"]):
        np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(from_file, theirs, rtol=1e-6, atol=1e-6)


def test_relu_with_arguments_on_symbolic_values_is_a_graph_of_operations():
    """(trained against Keras in test_relu_arguments_in_models.py)"""
    inputs = gpunn.Input((4,))
    model = gpunn.Model(inputs, activations.relu(inputs, threshold=0.5, max_value=1.0))
    x = np.array([[-1.0, 0.5, 0.75, 2.0]], "float32")
    np.testing.assert_array_equal(model.predict(x, verbose=0), [[0.0, 0.0, 0.75, 1.0]])


def test_no_activation_is_linear_as_keras_s_get_none():
    import gpunn

    linear = gpunn.activations.linear
    assert gpunn.activations.get(None) == linear and gpunn.activations.get(None) in {linear}
    assert gpunn.layers.Dense(2, activation=None).activation == linear
    assert gpunn.layers.Activation(None).activation == linear
