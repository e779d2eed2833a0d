"""``keras.ops``'s Fourier transforms (``fft``, ``fft2``, ``ifft2``, ``rfft``, ``irfft``, and the short-time
``stft`` and ``istft``), differentiable as ``functions.py``'s are. gpunn has no complex numbers: as in Keras, a
complex array is a pair (real part, imaginary part) of real arrays, taken and returned as a tuple.

Each transform computes once with ``numpy.fft`` or ``cupy.fft`` in the complex type of the input's precision
(complex64 for float32, complex128 for float64) and returns its parts in the input's float dtype. Where Keras
differs by backend, gpunn keeps float64 as float64 (Keras's jax backend narrows it to float32, as ``dtypes.py``
says), takes integers to ``rfft`` as float32 (jax's result; Keras's NumPy backend casts the spectrum back to the
integers), computes float16 in float32 and returns float16 (jax refuses half precision; ``stft`` refuses it as
Keras does), and gives a pair of float32 and float64 parts the wider type.

Every transform is linear, so its gradient is its adjoint applied to the output's gradient: with ``Y = F X`` and
the gradients (gr, gi) of (Re Y, Im Y), the gradient of (Re X, Im X) is (Re, Im) of ``F^H (gr + i gi)``. Each part
of the result is its own Tensor, whose gradient applies the adjoint to ``gr`` (the real part) or ``i gi`` (the
imaginary part); a loss using both parts runs the adjoint twice.
"""
from __future__ import annotations

import operator

import numpy as np

from .functions import _needs, _tensor, _value
from .tensor import Tensor, array_module

_TUPLE_EXPECTED = "Input `x` should be a tuple of two tensors - real and imaginary."


# ---- plumbing -----------------------------------------------------------------------------------------------------

def _array(x, xp):
    """``x``'s values as an array; Python numbers and lists as Keras converts them (floats in float32)."""
    if _tensor(x) is not None or hasattr(x, "dtype"):
        return xp.asarray(_value(x, xp))
    value = np.asarray(_value(x))
    return xp.asarray(value.astype("float32") if value.dtype.kind == "f" else value)


def _is_float(dtype) -> bool:
    return np.dtype(dtype).kind == "f" or np.dtype(dtype).name == "bfloat16"


def _complex_dtype(dtype):
    """The complex type a transform computes in: complex128 for float64, complex64 for the narrower floats (half
    precision has no complex type, and float32's spectrum is what Keras computes for it)."""
    return np.complex128 if np.dtype(dtype).itemsize >= 8 else np.complex64


def _complex_input(x, rank: int):
    """(xp, complex array, float dtype of the result, the pair's parts) of a pair ``x`` (real, imaginary), checked
    as Keras checks it."""
    if not isinstance(x, (tuple, list)) or len(x) != 2:
        raise ValueError(f"{_TUPLE_EXPECTED} Received: x={x}")
    xp = array_module(*x)
    real, imag = (_array(part, xp) for part in x)
    if real.shape != imag.shape:
        raise ValueError(f"{_TUPLE_EXPECTED} Both the real and imaginary parts should have the same shape. "
                         f"Received: x[0].shape = {tuple(real.shape)}, x[1].shape = {tuple(imag.shape)}")
    if not _is_float(real.dtype) or not _is_float(imag.dtype):
        raise ValueError("At least one tensor in input `x` is not of type float. "
                         f"Received: x[0].dtype = {real.dtype}, x[1].dtype = {imag.dtype}")
    _check_rank(real.shape, rank)
    dtype = np.result_type(real.dtype, imag.dtype)
    value = xp.empty(real.shape, _complex_dtype(dtype))
    value.real, value.imag = real, imag
    return xp, value, dtype, tuple(x)


def _check_rank(shape: tuple, rank: int) -> None:
    if len(shape) < rank:
        raise ValueError(f"Input should have rank >= {rank}. Received: input.shape = {tuple(shape)}")


def _fft_length(fft_length):
    """``fft_length`` as an int, checked (None stays None: the length comes from the input)."""
    if fft_length is None:
        return None
    if isinstance(fft_length, bool):
        raise TypeError(f"`fft_length` must be an integer. Received: fft_length={fft_length}")
    length = operator.index(fft_length)  # a TypeError for 2.0, as jax raises
    if length <= 0:
        raise ValueError(f"`fft_length` must be a positive integer. Received: fft_length={fft_length}")
    return length


def _fit(xp, a, length: int):
    """``a`` cropped or zero-padded to ``length`` along its last axis (how a transform of ``length`` points reads a
    longer or shorter input)."""
    have = a.shape[-1]
    if have >= length:
        return a[..., :length]
    padded = xp.zeros(a.shape[:-1] + (length,), a.dtype)
    padded[..., :have] = a
    return padded


def _transform(xp, name: str, a, axes: tuple, norm: str = "backward"):
    """``xp.fft.<name>`` of the complex ``a`` over ``axes``, and zeros where an axis has no points (NumPy refuses
    an empty transform; the transform of nothing is empty)."""
    if any(a.shape[axis] == 0 for axis in axes):
        return xp.zeros(a.shape, a.dtype)
    if len(axes) == 1:
        return getattr(xp.fft, name)(a, axis=axes[0], norm=norm)
    return getattr(xp.fft, name)(a, axes=axes, norm=norm)


def _rfft_adjoint(xp, g, n: int, have: int):
    """The gradient of a real input of ``have`` points for the gradient ``g`` of its one-sided spectrum of ``n``
    points: ``g`` zero-padded to all ``n`` bins, through the unnormalized inverse transform, real part, back to
    ``have`` points."""
    return _fit(xp, _transform(xp, "ifft", _fit(xp, g, n), (-1,), norm="forward").real, have)


def _irfft_adjoint(xp, g, n: int, bins: int, dtype):
    """The complex gradient of ``bins`` spectrum bins for the gradient ``g`` of the real signal of ``n`` points
    that ``irfft`` makes of them."""
    if n == 0:
        return xp.zeros(g.shape[:-1] + (bins,), dtype)
    spectrum = xp.fft.rfft(g, axis=-1, norm="forward").astype(dtype, copy=False)
    spectrum[..., 1:(n + 1) // 2] *= 2  # the interior bins, each also standing for its mirror image
    spectrum[..., 0] = spectrum[..., 0].real
    if n % 2 == 0:
        spectrum[..., -1] = spectrum[..., -1].real
    return _fit(xp, spectrum, bins)


def _part(value, inputs: tuple, adjoint, imaginary: bool) -> Tensor:
    """A Tensor of ``value``, one part of a transform's result, differentiable with respect to ``inputs`` (the
    real and imaginary parts of the transform's input, or its one real input). ``adjoint(G)`` is the complex
    gradient of the input for a complex gradient ``G`` of the result; the gradient ``g`` of this part is ``i g``
    of the result when the part is the imaginary one."""
    kept = [k for k, x in enumerate(inputs) if _needs(x) and _is_float(_tensor(x).dtype)]
    if not kept:
        return Tensor(value)

    def backward(grad):
        complex_grad = grad * 1j if imaginary else grad
        gradient = adjoint(complex_grad.astype(_complex_dtype(grad.dtype), copy=False))
        return tuple((gradient.imag if k else gradient.real).astype(_tensor(inputs[k]).dtype) for k in kept)

    return Tensor(value, tuple(_tensor(inputs[k]) for k in kept), backward)


def _complex_result(out, dtype, inputs: tuple, adjoint) -> tuple:
    """(real part, imaginary part) of the complex ``out`` as Tensors in ``dtype``."""
    return (_part(out.real.astype(dtype), inputs, adjoint, imaginary=False),
            _part(out.imag.astype(dtype), inputs, adjoint, imaginary=True))


# ---- the transforms -----------------------------------------------------------------------------------------------

def fft(x):
    """The discrete Fourier transform along the last axis of ``x`` = (real, imaginary); returns (real,
    imaginary). Its adjoint is the unnormalized inverse transform."""
    xp, value, dtype, inputs = _complex_input(x, 1)
    out = _transform(xp, "fft", value, (-1,))
    return _complex_result(out, dtype, inputs, lambda g: _transform(xp, "ifft", g, (-1,), norm="forward"))


def fft2(x):
    """The 2-D discrete Fourier transform over the last two axes of ``x`` = (real, imaginary); returns (real,
    imaginary). Its adjoint is the unnormalized inverse transform."""
    xp, value, dtype, inputs = _complex_input(x, 2)
    out = _transform(xp, "fft2", value, (-2, -1))
    return _complex_result(out, dtype, inputs, lambda g: _transform(xp, "ifft2", g, (-2, -1), norm="forward"))


def ifft2(x):
    """The 2-D inverse discrete Fourier transform (divided by the number of points, as NumPy's) over the last two
    axes of ``x`` = (real, imaginary); returns (real, imaginary). Its adjoint is the forward transform divided by
    the number of points."""
    xp, value, dtype, inputs = _complex_input(x, 2)
    out = _transform(xp, "ifft2", value, (-2, -1))
    return _complex_result(out, dtype, inputs, lambda g: _transform(xp, "fft2", g, (-2, -1), norm="forward"))


def rfft(x, fft_length=None):
    """The one-sided spectrum (``fft_length // 2 + 1`` bins) of the real ``x`` along its last axis, cropped or
    zero-padded to ``fft_length`` points first (default: its length); returns (real, imaginary).

    The adjoint of keeping the first bins of the full transform is zero-padding the gradient back to all bins,
    then the unnormalized inverse transform, whose real part is the gradient of the real input (of which only
    the first ``fft_length`` points were read)."""
    length = _fft_length(fft_length)
    xp = array_module(x)
    value = _array(x, xp)
    _check_rank(value.shape, 1)
    dtype = value.dtype if _is_float(value.dtype) else np.dtype("float32")
    have = value.shape[-1]
    n = have if length is None else length
    if n == 0:
        raise ValueError(f"Input should have its last dimension of size >= 1, or an `fft_length`. "
                         f"Received: input.shape = {tuple(value.shape)}")
    computed_in = np.float64 if dtype.itemsize >= 8 else np.float32  # the real type of _complex_dtype(dtype)
    out = xp.fft.rfft(_fit(xp, value, n).astype(computed_in, copy=False), axis=-1)

    return _complex_result(out, dtype, (x,), lambda g: _rfft_adjoint(xp, g, n, have))


def irfft(x, fft_length=None):
    """The real signal of ``fft_length`` points (default ``2 * (bins - 1)``) whose one-sided spectrum is ``x`` =
    (real, imaginary) along the last axis, cropped or zero-padded to ``fft_length // 2 + 1`` bins first. As
    NumPy's and JAX's, it reads the full spectrum as Hermitian: the imaginary parts of the zero-frequency bin and
    (for an even length) of the last bin are ignored.

    Each interior bin stands for itself and its mirror image, so it enters the signal twice: the gradient of a
    bin is the forward one-sided transform of the signal's gradient, divided by the number of points, doubled for
    the interior bins, and with no imaginary part for the bins whose imaginary part is ignored."""
    length = _fft_length(fft_length)
    xp, value, dtype, inputs = _complex_input(x, 1)
    bins = value.shape[-1]
    n = max(2 * (bins - 1), 0) if length is None else length
    half = n // 2 + 1
    if n == 0:
        out = xp.zeros(value.shape[:-1] + (0,), dtype)
    else:
        out = xp.fft.irfft(_fit(xp, value, half), n=n, axis=-1).astype(dtype)

    return _part(out, inputs, lambda g: _irfft_adjoint(xp, g.real, n, bins, value.dtype), imaginary=False)


# ---- short-time transforms ----------------------------------------------------------------------------------------

_COSINE_WINDOWS = {"hann": 0.5, "hamming": 0.54}  # a - (1 - a) cos(2 pi k / N): SciPy's get_window, periodic


def _check_stride(sequence_stride) -> None:
    if not isinstance(sequence_stride, int) or sequence_stride <= 0:
        raise ValueError(f"`sequence_stride` must be a positive integer. Received: sequence_stride={sequence_stride}")


def _check_lengths(sequence_length: int, fft_length: int) -> None:
    if fft_length < sequence_length:
        raise ValueError("`fft_length` must equal or larger than `sequence_length`. "
                         f"Received: sequence_length={sequence_length}, fft_length={fft_length}")


def _frame_window(xp, window, sequence_length: int, fft_length: int, dtype):
    """The window applied to each frame of ``fft_length`` points, as Keras makes it: ``window`` (a name or values,
    of ``sequence_length`` points, computed in float64 and rounded to ``dtype``) centred between zeros, or ones
    over the whole frame for None. A window given as values is a constant: it gets no gradient."""
    if window is None:
        return xp.ones(fft_length, dtype)
    if isinstance(window, str):
        if window not in _COSINE_WINDOWS:
            raise ValueError('If a string is passed to `window`, it must be one of `"hann"`, `"hamming"`. '
                             f"Received: window={window}")
        a = _COSINE_WINDOWS[window]
        values = (np.ones(1) if sequence_length == 1
                  else a - (1 - a) * np.cos(2 * np.pi * np.arange(sequence_length) / sequence_length))
    else:
        values = _value(window)
        values = values.get() if hasattr(values, "get") else np.asarray(values)
    if values.ndim != 1 or values.shape[-1] != sequence_length:
        raise ValueError(f"The shape of `window` must be equal to [sequence_length]. Received: window shape="
                         f"{tuple(values.shape)}")
    left = (fft_length - sequence_length) // 2
    padded = np.zeros(fft_length, dtype)
    padded[left:left + sequence_length] = values.astype(dtype)
    return xp.asarray(padded)


def _scatter_add(xp, values, index, length: int):
    """Sums of ``values`` (..., frames, points) into ``length`` positions along a last axis, ``index`` (frames,
    points) giving each one's position: the adjoint of gathering frames, and overlap-add."""
    batch = values.shape[:-2]
    rows = int(np.prod(batch, dtype=np.int64))
    keys = (xp.arange(rows)[:, None] * length + xp.asarray(index).reshape(1, -1)).reshape(-1)
    sums = xp.bincount(keys, weights=values.reshape(-1), minlength=rows * length)
    return sums.reshape(batch + (length,)).astype(values.dtype, copy=False)


def stft(x, sequence_length, sequence_stride, fft_length, window="hann", center=True):
    """The short-time Fourier transform along the last axis of the real ``x``: (real, imaginary), of shape
    (..., frames, ``fft_length // 2 + 1``), the one-sided spectra of windowed frames of ``fft_length`` points every
    ``sequence_stride`` points; with ``center``, ``x`` is first extended by ``fft_length // 2`` points on each side
    by reflection.

    Keras computes it with SciPy's (or JAX's) ``stft``, scaled back by the window's sum: the plain transform of each
    windowed frame. The gradient of ``x`` sends each frame's gradient back through the transform's adjoint and the
    window onto the points the frame read."""
    _check_stride(sequence_stride)
    xp = array_module(x)
    value = _array(x, xp)
    if value.dtype not in (np.float32, np.float64):
        raise TypeError(f"Invalid input type. Expected `float32` or `float64`. Received: input type={value.dtype}")
    _check_lengths(sequence_length, fft_length)
    _check_rank(value.shape, 1)
    win = _frame_window(xp, window, sequence_length, fft_length, value.dtype)
    length = value.shape[-1]
    positions = np.arange(length)
    if center:  # which point of x each point of the extended signal is
        positions = np.pad(positions, fft_length // 2, mode="reflect")
    if positions.size < fft_length:
        raise ValueError("window is longer than input signal")
    frames = 1 + (positions.size - fft_length) // sequence_stride
    index = positions[np.arange(frames)[:, None] * sequence_stride + np.arange(fft_length)]
    out = xp.fft.rfft(xp.take(value, xp.asarray(index), axis=-1) * win, axis=-1)

    def adjoint(g):
        return _scatter_add(xp, _rfft_adjoint(xp, g, fft_length, fft_length) * win, index, length)

    return _complex_result(out, value.dtype, (x,), adjoint)


def istft(x, sequence_length, sequence_stride, fft_length, length=None, window="hann", center=True):
    """The inverse short-time Fourier transform of ``x`` = (real, imaginary), of shape (..., frames, bins), as
    Keras computes it with SciPy's ``istft``: each frame's real signal of ``fft_length`` points (``irfft``),
    windowed, overlap-added every ``sequence_stride`` points and divided by the overlap-added squared window (where
    that exceeds 1e-10); for no window, scaled by ``fft_length / sequence_stride`` instead. The result is then cut
    to ``length`` points from ``fft_length // 2`` on (with ``center``) or from 0, or without ``length``, trimmed
    of ``fft_length // 2`` points at each end with ``center`` (none at all where ``fft_length`` is 1, as
    Keras's slice ``[0:-0]`` is empty).

    Where JAX's ``istft`` (so Keras's jax backend) departs from SciPy's, gpunn computes SciPy's (Keras's NumPy
    backend's): for ``sequence_stride == fft_length`` JAX overlaps the frames by half of ``fft_length`` instead of
    not at all, and for fewer frames than ``fft_length / sequence_stride`` its overlap-add cuts the signal short.
    Every step is linear in ``x``, and the gradient runs them backwards."""
    _check_stride(sequence_stride)
    xp, value, dtype, inputs = _complex_input(x, 2)
    _check_lengths(sequence_length, fft_length)
    win = _frame_window(xp, window, sequence_length, fft_length, dtype)
    frames, bins = value.shape[-2:]
    full = fft_length + sequence_stride * (frames - 1)
    index = np.arange(frames)[:, None] * sequence_stride + np.arange(fft_length)
    if window is None:  # SciPy scales by the window's sum (here fft_length), Keras divides by the stride
        scale = fft_length / sequence_stride
    else:  # SciPy multiplies by the window's sum, and Keras divides by it again
        total = float(win.sum())
        scale = total / total if total else float("nan")
    overlap = _scatter_add(xp, xp.broadcast_to(win * win, (frames, fft_length)), index, full)
    divisor = xp.where(overlap > 1e-10, overlap, 1.0).astype(dtype) / dtype.type(scale)
    start = fft_length // 2 if center else 0
    if length is not None:
        end = start + length
    else:
        end = -(fft_length // 2) if center else full
    kept = np.arange(full)[start:end]  # Keras's slice, Python's rules: a too long length gives what there is
    signal = xp.fft.irfft(_fit(xp, value, fft_length // 2 + 1), n=fft_length, axis=-1).astype(dtype) * win
    out = xp.take(_scatter_add(xp, signal, index, full) / divisor, xp.asarray(kept), axis=-1)

    def adjoint(g):
        spread = xp.zeros(g.shape[:-1] + (full,), dtype)
        spread[..., xp.asarray(kept)] = g.real
        frames_grad = xp.take(spread / divisor, xp.asarray(index), axis=-1) * win
        return _irfft_adjoint(xp, frames_grad, fft_length, bins, value.dtype)

    return _part(out, inputs, adjoint, imaginary=False)
