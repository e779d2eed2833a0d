"""``keras.ops``'s Fourier transforms under gpunn.ops (gpunn/autodiff/fourier_functions.py): values equal Keras 3's
on its jax backend (one Keras child for every case) in float32 and float64, gradients of both parts of a complex
input equal float64 central differences, bad input is refused as Keras refuses it, and ``fft2`` trains inside a
layer of the user's (keras-io's FNet block)."""
from __future__ import annotations

import numpy as np
import pytest

import gpunn
from gpunn import ops
from gpunn.autodiff import Tensor, gradients
from helpers import assert_gradients_close, numerical_gradient, run_keras

# arrays every case may read, made in the dtype D: gpunn computes in float32 and in float64, Keras's side in
# float32 (where its jax backend takes float64, it computes in float32 all the same)
SETUP = '''
rng = np.random.default_rng(11)
a = rng.normal(size=(2, 3, 5)).astype(D)
b = rng.normal(size=(2, 3, 5)).astype(D)
c = rng.normal(size=(4, 6)).astype(D)
d = rng.normal(size=(4, 6)).astype(D)
v = rng.normal(size=(7,)).astype(D)
w = rng.normal(size=(7,)).astype(D)
odd = rng.normal(size=(3, 7)).astype(D)
even = rng.normal(size=(3, 8)).astype(D)
sig = rng.normal(size=(2, 30)).astype(D)
window = rng.uniform(0.2, 1.0, 7).astype(D)
'''

# name: a call on SETUP's arrays; tuple results are compared part by part. On Keras's side, ``ops`` is keras.ops on
# jax (every such case compiled in one jax.jit: JAX compiles each eager call on its own, a tenth of a second each),
# ``M`` Keras's NumPy backend, whose stft and istft are SciPy's: it takes the cases where JAX's istft departs from
# SciPy's, and some others, which it computes without compiling; on gpunn's, both are gpunn.ops.
CASES = {
    "fft_odd_batched": "ops.fft((a, b))", "fft_even": "ops.fft((c, d))", "fft_1d": "ops.fft((v, w))",
    "fft_list": "ops.fft([c, d])",
    "fft2_odd_batched": "ops.fft2((a, b))", "fft2_even": "ops.fft2((c, d))",
    "ifft2_odd_batched": "ops.ifft2((a, b))", "ifft2_even": "ops.ifft2((c, d))",
    "ifft2_of_fft2": "ops.ifft2(ops.fft2((c, d)))",
    "rfft_odd": "ops.rfft(odd)", "rfft_even": "ops.rfft(even)", "rfft_1d": "ops.rfft(v)",
    "rfft_shorter_even": "ops.rfft(odd, 4)", "rfft_shorter_odd": "ops.rfft(even, 5)",
    "rfft_longer_odd": "ops.rfft(odd, 11)", "rfft_longer_even": "ops.rfft(even, 12)", "rfft_one": "ops.rfft(v, 1)",
    "irfft": "ops.irfft((a, b))", "irfft_even_bins": "ops.irfft((c[:, :4], d[:, :4]))",
    "irfft_longer_odd": "ops.irfft((a, b), 13)", "irfft_longer_even": "ops.irfft((a, b), 12)",
    "irfft_shorter_odd": "ops.irfft((c, d), 5)", "irfft_shorter_even": "ops.irfft((c, d), 4)",
    "irfft_exact_odd": "ops.irfft((a, b), 9)", "irfft_two": "ops.irfft((c, d), 2)",
    "irfft_of_rfft_odd": "ops.irfft(ops.rfft(odd), 7)", "irfft_of_rfft_even": "ops.irfft(ops.rfft(even))",
    "stft": "ops.stft(sig, 8, 3, 8)", "stft_window_values": "ops.stft(sig, 7, 5, 10, window=window)",
    "istft": "ops.istft(ops.stft(sig, 8, 3, 8), 8, 3, 8)",
    "istft_no_window": "ops.istft((a, b), 8, 3, 8, window=None, center=False)",
    "stft_hamming_padded": "M.stft(sig, 6, 4, 9, window='hamming')",
    "stft_no_window": "ops.stft(sig, 8, 4, 8, window=None, center=False)",
    "stft_wide_stride": "M.stft(sig, 5, 9, 6)", "stft_short_signal": "ops.stft(sig[:, :3], 6, 2, 8)",
    "istft_spectrum": "M.istft((c, d), 7, 2, 8, window='hamming')",
    "istft_length": "M.istft((c, d), 8, 3, 10, length=12)",
    "istft_window_values": "ops.istft((c, d), 7, 4, 10, window=window, center=False, length=40)",
    "istft_wide_stride": "M.istft((a, b), 5, 9, 6, center=False)",
    # JAX's istft (so Keras's jax backend) overlaps frames of a stride equal to fft_length by half a frame, and cuts
    # the signal short where the frames are fewer than fft_length / stride; gpunn follows SciPy's
    "istft_few_frames": "M.istft((a, b), 7, 2, 8, window='hamming')",
    "istft_few_frames_no_center": "M.istft((a, b), 8, 2, 8, center=False)",
    "istft_stride_is_fft_length": "M.istft(M.stft(sig, 3, 4, 4, center=False), 3, 4, 4, center=False)",
    "istft_stride_is_fft_length_no_window": "M.istft(M.stft(sig, 4, 4, 4, window=None), 4, 4, 4, window=None)",
}

_TUPLE = r"Input `x` should be a tuple of two tensors - real and imaginary\."
_SHAPES = _TUPLE + r" Both the real and imaginary parts should have the same shape\. Received: x\[0\]\.shape = \(3, 4\)"
_FLOAT = r"At least one tensor in input `x` is not of type float\."
_RANK = r"Input should have rank >= {}\. Received: input\.shape = {}"

# name: (call on BAD_SETUP's arrays, Keras's exception type, gpunn's message: Keras's words, from its ops' shape
# checks where its backend passes on JAX's message)
BAD = {
    "fft_not_a_tuple": ("ops.fft(f)", ValueError, _TUPLE),
    "fft_three_parts": ("ops.fft((f, f, f))", ValueError, _TUPLE),
    "fft_shapes": ("ops.fft((f, f[:2]))", ValueError, _SHAPES),
    "fft2_shapes": ("ops.fft2((f, f.T))", ValueError, _SHAPES),
    "ifft2_not_a_tuple": ("ops.ifft2(f)", ValueError, _TUPLE),
    "irfft_shapes": ("ops.irfft((f, f[:, :2]))", ValueError, _SHAPES),
    "fft_integers": ("ops.fft((i, i))", ValueError, _FLOAT),
    "fft2_one_integer_part": ("ops.fft2((f, i))", ValueError, _FLOAT),
    "irfft_integers": ("ops.irfft((i, f))", ValueError, _FLOAT),
    "fft_rank0": ("ops.fft((s, s))", ValueError, _RANK.format(1, r"\(\)")),
    "fft2_rank1": ("ops.fft2((f[0], f[0]))", ValueError, _RANK.format(2, r"\(4,\)")),
    "ifft2_rank1": ("ops.ifft2((f[0], f[0]))", ValueError, _RANK.format(2, r"\(4,\)")),
    "rfft_rank0": ("ops.rfft(s)", ValueError, _RANK.format(1, r"\(\)")),
    "irfft_rank0": ("ops.irfft((s, s))", ValueError, _RANK.format(1, r"\(\)")),
    "rfft_zero_length": ("ops.rfft(f, 0)", ValueError, r"`fft_length` must be a positive integer"),
    "irfft_negative_length": ("ops.irfft((f, f), -1)", ValueError, r"`fft_length` must be a positive integer"),
    "rfft_float_length": ("ops.rfft(f, 2.0)", TypeError, r"float"),
    "stft_integers": ("ops.stft(i, 4, 2, 4)", TypeError,
                      r"Invalid input type\. Expected `float32` or `float64`\. Received: input type=int32"),
    "stft_float16": ("ops.stft(f.astype('float16'), 4, 2, 4)", TypeError, r"Received: input type=float16"),
    "stft_stride": ("ops.stft(f, 4, 0, 4)", ValueError,
                    r"`sequence_stride` must be a positive integer\. Received: sequence_stride=0"),
    "istft_stride": ("ops.istft((f, f), 4, 2.0, 4)", ValueError, r"`sequence_stride` must be a positive integer"),
    "stft_fft_length": ("ops.stft(f, 4, 2, 3)", ValueError,
                        r"`fft_length` must equal or larger than `sequence_length`\. Received: sequence_length=4, "
                        r"fft_length=3"),
    "stft_window_name": ("ops.stft(f, 4, 2, 4, window='blackman')", ValueError,
                         r'it must be one of `"hann"`, `"hamming"`\. Received: window=blackman'),
    "stft_window_shape": ("ops.stft(f, 4, 2, 4, window=np.ones(3, 'float32'))", ValueError,
                          r"The shape of `window` must be equal to \[sequence_length\]\. "
                          r"Received: window shape=\(3,\)"),
    "istft_window_shape": ("ops.istft((f, f), 4, 2, 4, window=np.ones(3, 'float32'))", ValueError,
                           r"The shape of `window` must be equal to \[sequence_length\]"),
    "stft_short_signal": ("ops.stft(f, 8, 2, 8, center=False)", ValueError, r"window is longer than input signal"),
    "istft_rank1": ("ops.istft((f[0], f[0]), 4, 2, 4)", ValueError, _RANK.format(2, r"\(4,\)")),
}

BAD_SETUP = '''
f = np.ones((3, 4), "float32")
i = np.ones((3, 4), "int32")
s = np.array(1.0, "float32")
'''

KERAS_SIDE = ("import json\nimport jax\nimport numpy as np\nimport keras\nfrom keras import ops\n"
              "from keras.src.backend.numpy import math as numpy_backend\n" + f"CASES = {CASES!r}\nSETUP = {SETUP!r}\n"
              f"BAD = {({name: call for name, (call, _, _) in BAD.items()})!r}\nBAD_SETUP = {BAD_SETUP!r}\n" + '''

def listed(result):
    if isinstance(result, (tuple, list)):
        return [listed(part) for part in result]
    return {"values": np.asarray(result).astype("float64").tolist(), "shape": list(np.shape(result))}


def on_jax(arrays):
    namespace = {"np": np, "ops": ops, **arrays}
    return {name: eval(call, namespace) for name, call in CASES.items() if not call.startswith("M.")}


namespace = {"np": np, "D": "float32"}
exec(SETUP, namespace)
arrays = {name: value for name, value in namespace.items() if isinstance(value, np.ndarray)}
results = jax.jit(on_jax)(arrays)
namespace = {"np": np, "M": numpy_backend, **arrays}
results.update({name: eval(call, namespace) for name, call in CASES.items() if call.startswith("M.")})
out = {"values": {name: listed(result) for name, result in results.items()}, "errors": {}}
namespace = {"np": np, "ops": ops}
exec(BAD_SETUP, namespace)
for name, call in BAD.items():
    try:
        eval(call, namespace)
        out["errors"][name] = None
    except Exception as error:
        out["errors"][name] = type(error).__name__
print(json.dumps(out))
''')


@pytest.fixture(scope="module")
def keras_results():
    return run_keras(KERAS_SIDE, {})


def _compare(mine, theirs, dtype, where):
    if isinstance(theirs, list):
        assert isinstance(mine, tuple) and len(mine) == len(theirs), where
        for k, (m, t) in enumerate(zip(mine, theirs)):
            _compare(m, t, dtype, f"{where}[{k}]")
        return
    assert isinstance(mine, Tensor), where
    assert mine.dtype == dtype, f"{where}: {mine.dtype}"  # float64 stays float64 (Keras's jax backend narrows it)
    assert list(mine.shape) == theirs["shape"], where
    expected = np.asarray(theirs["values"]).reshape(theirs["shape"])
    scale = max(1.0, float(np.abs(expected).max(initial=0.0)))
    np.testing.assert_allclose(mine.numpy().astype("float64"), expected, rtol=2e-5, atol=2e-5 * scale, err_msg=where)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", list(CASES))
def test_values_are_keras_s(keras_results, name, dtype):
    namespace = {"np": np, "ops": ops, "D": dtype, "M": ops}
    exec(SETUP, namespace)
    _compare(eval(CASES[name], namespace), keras_results["values"][name], np.dtype(dtype), f"{name} ({dtype})")


def test_integers_half_precision_and_mixed_parts():
    """Where Keras's backends differ or refuse: integers to rfft give float32 (jax's result), float16 is computed
    in float32 and given back in float16 (jax refuses it), a float32 and a float64 part give float64."""
    spectrum = ops.rfft(np.arange(6))
    assert spectrum[0].dtype == spectrum[1].dtype == np.float32
    np.testing.assert_allclose(spectrum[0].numpy(), np.fft.rfft(np.arange(6)).real, atol=1e-5)
    half = np.linspace(-1.0, 1.0, 8).reshape(2, 4)
    real, imag = ops.fft2((half.astype("float16"), half[::-1].astype("float16")))
    expected = np.fft.fft2(half + 1j * half[::-1])
    assert real.dtype == imag.dtype == ops.rfft(half.astype("float16"))[0].dtype == np.float16
    np.testing.assert_allclose(real.numpy(), expected.real, atol=1e-2)
    np.testing.assert_allclose(imag.numpy(), expected.imag, atol=1e-2)
    pair = (np.ones((2, 4), "float32"), np.zeros((2, 4), "float64"))
    assert ops.fft(pair)[0].dtype == ops.irfft(pair).dtype == np.float64


def test_empty_and_one_point_lengths_are_keras_s():
    """The shapes Keras's jax backend gives for transforms of no points."""
    empty = np.zeros((3, 0), "float32")
    assert [p.shape for p in ops.fft((empty, empty))] == [(3, 0), (3, 0)]
    assert ops.irfft((empty[:, :0], empty[:, :0])).shape == (3, 0)
    assert ops.irfft((np.ones((3, 1), "float32"),) * 2).shape == (3, 0)  # 2 * (1 - 1) points
    np.testing.assert_array_equal(ops.rfft(empty, 4)[0].numpy(), np.zeros((3, 3)))
    x = np.arange(5.0, dtype="float32")
    assert ops.istft(ops.stft(x, 1, 1, 1), 1, 1, 1).shape == (0,)  # Keras's x[..., 0:-0]


def test_parts_may_be_layer_weights():
    with gpunn.use_backend("numpy"):
        layer = gpunn.layers.Dense(6)
        layer.build((None, 4))
    kernel = layer.kernel
    real, imag = ops.fft2((kernel, np.zeros((4, 6), "float32")))
    expected = np.fft.fft2(ops.convert_to_numpy(kernel))
    np.testing.assert_allclose(real.numpy(), expected.real, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(imag.numpy(), expected.imag, rtol=1e-5, atol=1e-5)


# ---- gradients -----------------------------------------------------------------------------------------------------

# name: (function of float64 Tensors, input shapes); the loss weighs every output part with random weights
GRADIENTS = {
    "fft": (lambda x, y: ops.fft((x, y)), [(2, 5), (2, 5)]),
    "fft_even": (lambda x, y: ops.fft((x, y)), [(4,), (4,)]),
    "fft2": (lambda x, y: ops.fft2((x, y)), [(2, 3, 4), (2, 3, 4)]),
    "ifft2": (lambda x, y: ops.ifft2((x, y)), [(3, 5), (3, 5)]),
    "ifft2_batched": (lambda x, y: ops.ifft2((x, y)), [(2, 2, 3), (2, 2, 3)]),
    "rfft_odd": (lambda x: ops.rfft(x), [(2, 5)]), "rfft_even": (lambda x: ops.rfft(x), [(2, 6)]),
    "rfft_shorter": (lambda x: ops.rfft(x, 4), [(2, 7)]), "rfft_longer": (lambda x: ops.rfft(x, 9), [(2, 5)]),
    "irfft": (lambda x, y: ops.irfft((x, y)), [(2, 5), (2, 5)]),
    "irfft_odd": (lambda x, y: ops.irfft((x, y), 9), [(2, 5), (2, 5)]),
    "irfft_shorter": (lambda x, y: ops.irfft((x, y), 4), [(2, 5), (2, 5)]),
    "irfft_shorter_odd": (lambda x, y: ops.irfft((x, y), 5), [(2, 5), (2, 5)]),
    "irfft_longer": (lambda x, y: ops.irfft((x, y), 12), [(3, 4), (3, 4)]),
    "irfft_longer_odd": (lambda x, y: ops.irfft((x, y), 11), [(3, 4), (3, 4)]),
    "same_tensor_twice": (lambda x: ops.fft2((x, x)), [(3, 4)]),
    "stft": (lambda x: ops.stft(x, 6, 3, 8), [(2, 13)]),
    "stft_no_window": (lambda x: ops.stft(x, 5, 4, 7, window=None, center=False), [(2, 13)]),
    "stft_short_signal": (lambda x: ops.stft(x, 6, 2, 8), [(3,)]),
    "istft": (lambda x, y: ops.istft((x, y), 6, 3, 8), [(2, 5, 5), (2, 5, 5)]),
    "istft_hamming_length": (lambda x, y: ops.istft((x, y), 5, 2, 7, window="hamming", length=9), [(4, 4), (4, 4)]),
    "istft_no_window": (lambda x, y: ops.istft((x, y), 4, 3, 4, window=None, center=False), [(4, 3), (4, 3)]),
}


def _weighted(outputs, weights):
    """sum(weights * outputs), part by part, as a float."""
    parts = outputs if isinstance(outputs, tuple) else (outputs,)
    return sum(float((w * np.asarray(p.value)).sum()) for p, w in zip(parts, weights))


@pytest.mark.parametrize("name", list(GRADIENTS))
def test_gradients_match_finite_differences(name):
    function, shapes = GRADIENTS[name]
    rng = np.random.default_rng(3)
    values = [rng.normal(size=shape) for shape in shapes]
    inputs = [Tensor(v.copy(), requires_grad=True) for v in values]
    outputs = function(*inputs)
    parts = outputs if isinstance(outputs, tuple) else (outputs,)
    weights = [rng.normal(size=p.shape) for p in parts]
    loss = parts[0] * weights[0]
    loss = ops.sum(loss) if len(parts) == 1 else ops.sum(loss) + ops.sum(parts[1] * weights[1])
    analytic = gradients(loss, inputs, np.ones(()))
    for k, value in enumerate(values):
        numeric = numerical_gradient(lambda _: _weighted(function(*[Tensor(v) for v in values]), weights), value)
        assert_gradients_close(analytic[k], numeric, rtol=1e-6, atol=1e-8, what=f"{name} argument {k}")


@pytest.mark.parametrize("part", [0, 1])
def test_one_part_differentiated_beside_a_plain_array(part):
    rng = np.random.default_rng(4)
    values = [rng.normal(size=(3, 4)), rng.normal(size=(3, 4))]
    weights = [rng.normal(size=(3, 4)), rng.normal(size=(3, 4))]
    x = Tensor(values[part].copy(), requires_grad=True)

    def pair(given):
        return tuple(given if k == part else values[k] for k in range(2))

    real, imag = ops.fft2(pair(x))
    (analytic,) = gradients(ops.sum(real * weights[0]) + ops.sum(imag * weights[1]), [x], np.ones(()))
    numeric = numerical_gradient(lambda _: _weighted(ops.fft2(pair(values[part])), weights), values[part])
    assert_gradients_close(analytic, numeric, what=f"part {part}")


def test_float32_gradients_are_float32():
    x = Tensor(np.ones((2, 4), "float32"), requires_grad=True)
    y = Tensor(np.ones((2, 4), "float64"), requires_grad=True)
    real, imag = ops.fft((x, y))
    grads = gradients(ops.sum(real) + ops.sum(imag), [x, y], np.ones((), "float64"))
    assert [g.dtype for g in grads] == [np.float32, np.float64]


# ---- bad input -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(BAD))
def test_bad_input_is_refused_as_keras_refuses_it(keras_results, name):
    call, error, message = BAD[name]
    assert keras_results["errors"][name] == error.__name__, f"Keras raises {keras_results['errors'][name]}"
    namespace = {"np": np, "ops": ops}
    exec(BAD_SETUP, namespace)
    with pytest.raises(error, match=message):
        eval(call, namespace)


# ---- in a model ----------------------------------------------------------------------------------------------------

class FNetLike(gpunn.layers.Layer):
    """keras-io's FNet block: the real part of the 2-D Fourier transform of its input, added to the input."""

    def call(self, x):
        return ops.fft2((x, ops.zeros_like(x)))[0] + x


def test_fnet_like_layer_trains_in_a_functional_model():
    with gpunn.use_backend("numpy"):
        _train_fnet_like_model()


def _train_fnet_like_model():
    gpunn.utils.set_random_seed(3)
    inputs = gpunn.Input((8, 6))
    x = gpunn.layers.Dense(6)(inputs)
    x = FNetLike()(x)
    x = gpunn.layers.GlobalAveragePooling1D()(x)
    model = gpunn.Model(inputs, gpunn.layers.Dense(3, activation="softmax")(x))
    assert model.output_shape == (None, 3)
    model.compile(optimizer=gpunn.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(6)
    x = rng.normal(size=(48, 8, 6)).astype("float32")
    y = (x[:, :, 0].mean(axis=1) > 0).astype("int64") + (x[:, :, 1].mean(axis=1) > 0.2)
    losses = model.fit(x, y, batch_size=8, epochs=2, verbose=0).history["loss"]
    assert all(np.isfinite(losses)) and losses[1] < losses[0]
    assert model.predict(x[:3], verbose=0).shape == (3, 3)
