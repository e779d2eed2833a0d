"""``keras.ops.image``'s functions (``gpunn.ops.image``), differentiable with respect to the images as
``functions.py``'s functions are.

Values are those of Keras's jax backend (``jax.image.resize``, ``jax.scipy.ndimage.map_coordinates`` and the
identity-kernel convolution that extracts patches), computed in the images' float dtype (float64 stays float64;
integer images are computed in float32 and rounded back to their dtype where Keras rounds). Images are one
image (rank 3) or a batch (rank 4), channels last or first (``data_format``, by default
``gpunn.config.image_data_format()``). Transforms and coordinates get no gradient.
"""
from __future__ import annotations

import numpy as np

from . import image_sampling as _sampling
from .array_functions import pad as _pad
from .functions import _make, _value
from .tensor import Tensor
from .tensor import array_module as _array_module

_GRAYSCALE_WEIGHTS = (0.2989, 0.5870, 0.1140)  # tf.image.rgb_to_grayscale's, which Keras uses


# ---- arguments -----------------------------------------------------------------------------------------------------

def _data_format(data_format) -> str:
    if data_format is None:
        from ..config import image_data_format

        return image_data_format()
    data_format = str(data_format).lower()
    if data_format not in ("channels_first", "channels_last"):
        raise ValueError("The `data_format` argument must be one of {'channels_first', 'channels_last'}. "
                         f"Received: data_format={data_format}")
    return data_format


def _array(x):
    xp = _array_module(x)
    return xp, xp.asarray(_value(x, xp))


def _check_rank(shape: tuple, ranks=(3, 4), what="rank 3 (single image) or rank 4 (batch of images)") -> None:
    if len(shape) not in ranks:
        raise ValueError(f"Invalid images rank: expected {what}. Received input with shape: images.shape={shape}")


def _compute_dtype(dtype):
    """The float dtype images of ``dtype`` are computed in (integers and booleans: float32, as JAX promotes)."""
    return dtype if np.issubdtype(dtype, np.floating) else np.dtype("float32")


def _spatial_axes(ndim: int, data_format: str, spatial: int = 2) -> tuple:
    first = ndim - spatial - (1 if data_format == "channels_last" else 0)
    return tuple(range(first, first + spatial))


def _back_to(xp, value, dtype, round_half_even=True):
    """Float results back to integer images' dtype: rounded (half to even as ``ops.round``, or half away from
    zero as JAX's ``map_coordinates``) and saturated; float results stay."""
    if np.issubdtype(dtype, np.floating) or value.dtype == dtype:
        return value
    value = xp.round(value) if round_half_even else xp.sign(value) * xp.floor(xp.abs(value) + 0.5)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        value = xp.clip(value, info.min, info.max)
    return value.astype(dtype)


def _as_float(x, value):
    """``x`` itself when its values are floats (its gradient kept), else its values as float32 (no gradient)."""
    return x if np.issubdtype(value.dtype, np.floating) else Tensor(value.astype(np.float32))


def _window(x, key: tuple):
    """``x[key]`` for a key of slices, whose gradient is put back in place (no scatter: the slices are plain)."""
    xp, value = _array(x)

    def back(g):
        full = xp.zeros(value.shape, dtype=g.dtype)
        full[key] = g
        return full

    return _make(value[key], [x], [back])


# ---- patches -------------------------------------------------------------------------------------------------------

def _pair(value, n: int, name: str) -> tuple:
    values = (value,) * n if isinstance(value, (int, np.integer)) else tuple(value)
    if len(values) != n or not all(isinstance(v, (int, np.integer)) and v > 0 for v in values):
        raise ValueError(f"Invalid `{name}` argument. Expected a positive int or a tuple of {n} positive ints. "
                         f"Received: {name}={value}")
    return tuple(int(v) for v in values)


def extract_patches(images, size, strides=None, dilation_rate=1, padding="valid", data_format=None):
    """The patches of ``size`` (an int, (rows, cols), or (depth, rows, cols) for volumes) that Keras's identity
    convolution extracts: of shape (batch, patch rows, patch cols, rows * cols * channels), each patch flattened
    row by row, then column, then channel (channels first: the flattened patch on axis 1). ``strides`` defaults
    to ``size``; ``padding="same"`` pads zeros as a convolution does (more after than before)."""
    if not isinstance(size, (int, np.integer)):
        if not isinstance(size, (tuple, list)):
            raise TypeError("Invalid `size` argument. Expected an int or a tuple. "
                            f"Received: size={size} of type {type(size).__name__}")
        if len(size) not in (2, 3):
            raise ValueError("Invalid `size` argument. Expected a tuple of length 2 or 3. "
                             f"Received: size={size} with length {len(size)}")
    spatial = 2 if isinstance(size, (int, np.integer)) else len(size)
    return _patches(images, size, strides, dilation_rate, padding, data_format, spatial)


def extract_patches_3d(volumes, size, strides=None, dilation_rate=1, padding="valid", data_format=None):
    """``extract_patches`` of (depth, rows, cols) patches from a volume (rank 4) or a batch of them (rank 5)."""
    return _patches(volumes, size, strides, dilation_rate, padding, data_format, 3)


def _patches(images, size, strides, dilation_rate, padding, data_format, spatial: int):
    size = _pair(size, spatial, "size")
    strides = _pair(strides or size, spatial, "strides")
    dilation = _pair(dilation_rate, spatial, "dilation_rate")
    padding = str(padding).lower()
    if padding not in ("valid", "same"):
        raise ValueError(f"Invalid `padding` argument. Expected 'valid' or 'same'. Received: padding={padding}")
    data_format = _data_format(data_format)
    xp, value = _array(images)
    if spatial == 2:
        _check_rank(value.shape)
    else:
        _check_rank(value.shape, (4, 5), "rank 4 (single volume) or rank 5 (batch of volumes)")
    batched = value.ndim == spatial + 2
    first = data_format == "channels_first"

    def to_last(v):  # (batch, *spatial, channels)
        v = v if batched else v[None]
        return xp.moveaxis(v, 1, -1) if first else v

    def from_last(v):
        v = xp.moveaxis(v, -1, 1) if first else v
        return v if batched else v[0]

    source = to_last(value)
    lengths = source.shape[1:-1]
    spans = [(k - 1) * d + 1 for k, d in zip(size, dilation)]
    if padding == "same":  # TensorFlow's / XLA's SAME: ceil(length / stride) outputs, the odd pad after
        outs = [-(-n // s) for n, s in zip(lengths, strides)]
        totals = [max((o - 1) * s + span - n, 0) for o, s, span, n in zip(outs, strides, spans, lengths)]
        before = [t // 2 for t in totals]
        source = xp.pad(source, [(0, 0)] + [(b, t - b) for b, t in zip(before, totals)] + [(0, 0)])
    else:
        outs = [max((n - span) // s + 1, 0) for n, s, span in zip(lengths, strides, spans)]
        before = [0] * spatial
    index = []
    for d, (o, s, k, r) in enumerate(zip(outs, strides, size, dilation)):
        grid = (np.arange(o) * s)[:, None] + (np.arange(k) * r)[None, :]
        shape = [1] * (2 * spatial)
        shape[d], shape[spatial + d] = o, k
        index.append(xp.asarray(grid.reshape(shape)))
    gathered = source[(slice(None), *index)]  # (batch, *outs, *size, channels)
    channels = source.shape[-1]
    out = from_last(gathered.reshape(gathered.shape[:1 + spatial] + (int(np.prod(size)) * channels,)))
    padded_shape = source.shape

    def back(g):
        g = to_last(g).reshape((g.shape[0] if batched else 1, *outs, *size, channels))
        full = xp.zeros(padded_shape, dtype=g.dtype)
        if all(outs):
            for offsets in np.ndindex(*size):  # one strided slice per position in the patch, patches overlapping or not
                key = tuple(slice(k * r, k * r + (o - 1) * s + 1, s)
                            for k, r, o, s in zip(offsets, dilation, outs, strides))
                full[(slice(None), *key)] += g[(slice(None),) * (1 + spatial) + offsets]
        full = full[(slice(None), *(slice(b, b + n) for b, n in zip(before, lengths)))]
        return from_last(full)

    return _make(out, [images], [back])


# ---- resizing ------------------------------------------------------------------------------------------------------

def resize(images, size, interpolation="bilinear", antialias=False, crop_to_aspect_ratio=False,
           pad_to_aspect_ratio=False, fill_mode="constant", fill_value=0.0, data_format=None):
    """Images resized to ``size`` (height, width), as ``jax.image.resize`` resizes them: "bilinear", "nearest",
    "bicubic" (Keys, a = -0.5), "lanczos3", "lanczos5", or "area" (TensorFlow's, which Keras's jax backend
    refuses); ``antialias`` widens the kernel when downscaling. ``crop_to_aspect_ratio`` first crops the
    centred largest window of the target's aspect ratio, ``pad_to_aspect_ratio`` first pads both sides of the
    short axis with ``fill_value``. Integer images come back rounded to their dtype, as in Keras."""
    if len(size) != 2:
        raise ValueError(f"Expected `size` to be a tuple of 2 integers. Received: size={size}")
    if size[0] <= 0 or size[1] <= 0:
        raise ValueError(f"`size` must have positive height and width. Received: size={size}")
    xp, value = _array(images)
    _check_rank(value.shape)
    if pad_to_aspect_ratio and crop_to_aspect_ratio:
        raise ValueError("Only one of `pad_to_aspect_ratio` & `crop_to_aspect_ratio` can be `True`.")
    if interpolation not in _sampling.RESIZE_INTERPOLATIONS:
        raise ValueError("Invalid value for argument `interpolation`. Expected of one "
                         f"{_sampling.RESIZE_INTERPOLATIONS}. Received: interpolation={interpolation}")
    if fill_mode != "constant":
        raise ValueError(f"Invalid value for argument `fill_mode`. Only `'constant'` is supported. Received: "
                         f"fill_mode={fill_mode}")
    data_format = _data_format(data_format)
    rows_axis, cols_axis = _spatial_axes(value.ndim, data_format)
    height, width = value.shape[rows_axis], value.shape[cols_axis]
    target_height, target_width = int(size[0]), int(size[1])
    x = images if interpolation == "nearest" else _as_float(images, value)
    if crop_to_aspect_ratio:  # Keras's arithmetic, in Python floats
        crop_height = max(min(height, int(float(width * target_height) / target_width)), 1)
        crop_width = max(min(width, int(float(height * target_width) / target_height)), 1)
        top, left = int(float(height - crop_height) / 2), int(float(width - crop_width) / 2)
        key = [slice(None)] * value.ndim
        key[rows_axis], key[cols_axis] = slice(top, top + crop_height), slice(left, left + crop_width)
        x = _window(x, tuple(key))
    elif pad_to_aspect_ratio:
        top = int(float(max(height, int(float(width * target_height) / target_width)) - height) / 2)
        left = int(float(max(width, int(float(height * target_width) / target_height)) - width) / 2)
        widths = [(0, 0)] * value.ndim
        if top > 0:  # as Keras: one axis only, the same on both sides
            widths[rows_axis] = (top, top)
        elif left > 0:
            widths[cols_axis] = (left, left)
        if top > 0 or left > 0:
            x = _pad(x, widths, constant_values=fill_value)
    return _resample(x, (rows_axis, cols_axis), (target_height, target_width), interpolation, bool(antialias),
                     value.dtype)


def _resample(x, axes: tuple, lengths: tuple, method: str, antialias: bool, dtype):
    xp, value = _array(x)
    steps = [(axis, value.shape[axis], n) for axis, n in zip(axes, lengths) if value.shape[axis] != n]
    out = value
    if method == "nearest":  # a copy of the pixels (any dtype)
        for axis, m, n in steps:
            out = xp.take(out, xp.asarray(_sampling.nearest_indices(m, n)), axis=axis)
    else:
        matrices = [xp.asarray(_sampling.resize_matrix(m, n, method, antialias).astype(value.dtype))
                    for _, m, n in steps]
        for (axis, _, _), matrix in zip(steps, matrices):
            out = _sampling.along_axis(xp, matrix, out, axis)
        out = _back_to(xp, out, dtype)

    def back(g):
        for axis, m, n in reversed(steps):
            matrix = xp.asarray(_sampling.resize_matrix(m, n, method, antialias).T.astype(g.dtype))
            g = _sampling.along_axis(xp, matrix, g, axis)
        return g

    return _make(out if out is not value else out.copy(), [x], [back])


# ---- sampling at points --------------------------------------------------------------------------------------------

def _check_fill_mode(fill_mode, expected="of one") -> None:
    if fill_mode not in _sampling.FILL_MODES:
        raise ValueError(f"Invalid value for argument `fill_mode`. Expected {expected} {set(_sampling.FILL_MODES)}. "
                         f"Received: fill_mode={fill_mode}")


def affine_transform(images, transform, interpolation="bilinear", fill_mode="constant", fill_value=0,
                     data_format=None):
    """Images resampled at transformed points: a transform ``[a0, a1, a2, b0, b1, b2, c0, c1]`` (shape (8,), or
    (batch, 8): one per image, each applied to its own image at once) maps each output pixel (x, y) to the input
    point ((a0 x + a1 y + a2) / k, (b0 x + b1 y + b2) / k), k = c0 x + c1 y + 1 (TensorFlow's projective
    transform; c0 = c1 = 0, an affine transform, gives Keras-jax's values), read by "nearest" or "bilinear"
    interpolation; points outside are filled by ``fill_mode`` ("constant": ``fill_value``; "nearest", "wrap",
    "mirror", "reflect"). One transform applies to every image of a batch (Keras's jax backend refuses that).
    Differentiable with respect to the images; the transform gets no gradient (augmentation draws it)."""
    orders = {"nearest": 0, "bilinear": 1}
    if interpolation not in orders:
        raise ValueError(f"Invalid value for argument `interpolation`. Expected of one {set(orders)}. Received: "
                         f"interpolation={interpolation}")
    _check_fill_mode(fill_mode)
    data_format = _data_format(data_format)
    xp, value = _array(images)
    _check_rank(value.shape)
    matrix = xp.asarray(_value(transform, xp))
    if matrix.ndim not in (1, 2):
        raise ValueError("Invalid transform rank: expected rank 1 (single transform) or rank 2 (batch of "
                         f"transforms). Received input with shape: transform.shape={tuple(matrix.shape)}")
    batched, first = value.ndim == 4, data_format == "channels_first"
    source = value if batched else value[None]
    source = xp.moveaxis(source, 1, -1) if first else source  # (batch, height, width, channels)
    batch, height, width, channels = source.shape
    given = tuple(matrix.shape)
    matrix = matrix.reshape(-1, given[-1])
    if given[-1] != 8 or matrix.shape[0] not in (1, batch):
        raise ValueError(f"Invalid transform shape: expected (8,) or ({batch}, 8), one transform per image. "
                         f"Received: transform.shape={given}")
    dtype = _compute_dtype(value.dtype)
    params = [column[:, None, None] for column in matrix.astype(dtype).T]
    a0, a1, a2, b0, b1, b2, c0, c1 = params
    rows, cols = xp.arange(height, dtype=dtype)[:, None], xp.arange(width, dtype=dtype)[None, :]
    along_y = rows * b1 + cols * b0 + b2
    along_x = rows * a1 + cols * a0 + a2
    if bool((matrix[:, 6:] != 0).any()):
        scale = cols * c0 + rows * c1 + 1
        along_y, along_x = along_y / scale, along_x / scale
    shape = (batch, height, width)
    base = xp.arange(batch, dtype=np.int64)[:, None, None] * (height * width)
    fill = np.asarray(fill_value).astype(value.dtype).astype(dtype)  # in the images' dtype first, as JAX
    out, backward = _sampling.sample(xp, source.reshape(-1, channels).astype(dtype, copy=False), (height, width),
                                     [xp.broadcast_to(along_y, shape), xp.broadcast_to(along_x, shape)],
                                     orders[interpolation], fill_mode, fill, base)
    out = _back_to(xp, out, value.dtype, round_half_even=False)

    def layout(v):
        v = xp.moveaxis(v, -1, 1) if first else v
        return v if batched else v[0]

    def back(g):
        g = g if batched else g[None]
        g = xp.moveaxis(g, 1, -1) if first else g
        return layout(backward(xp.ascontiguousarray(g)).reshape(source.shape))

    return _make(layout(out), [images], [back])


def map_coordinates(inputs, coordinates, order, fill_mode="constant", fill_value=0):
    """``inputs`` (any rank) read at ``coordinates`` (shape (inputs' rank, ...): the index along each axis of
    each point), by nearest (``order=0``) or linear (``order=1``) interpolation, points outside filled by
    ``fill_mode`` as in ``affine_transform`` (JAX's modes, not SciPy's). Differentiable with respect to
    ``inputs``; the coordinates get no gradient."""
    xp, value = _array(inputs)
    points = xp.asarray(_value(coordinates, xp))
    if points.ndim == 0 or points.shape[0] != value.ndim:
        raise ValueError("First dim of `coordinates` must be the same as the rank of `inputs`. Received inputs with "
                         f"shape: {tuple(value.shape)} and coordinate leading dim of "
                         f"{points.shape[0] if points.ndim else None}")
    if points.ndim < 2:
        raise ValueError(f"Invalid coordinates rank: expected at least rank 2. Received input with shape: "
                         f"{tuple(points.shape)}")
    _check_fill_mode(fill_mode, "one of")
    if order not in range(2):
        raise ValueError(f"Invalid value for argument `order`. Expected one of {[0, 1]}. Received: order={order}")
    dtype = _compute_dtype(value.dtype)
    fill = np.asarray(fill_value).astype(value.dtype).astype(dtype)
    out, backward = _sampling.sample(xp, value.reshape(-1, 1).astype(dtype, copy=False), tuple(value.shape),
                                     list(points.astype(dtype)), int(order), fill_mode, fill)
    out = _back_to(xp, out[..., 0], value.dtype, round_half_even=False)
    return _make(out, [inputs], [lambda g: backward(g[..., None]).reshape(value.shape)])


# ---- cropping, padding, colour -------------------------------------------------------------------------------------

def _two_of(first, second, target, names: tuple) -> None:
    if [first, second, target].count(None) != 1:
        raise ValueError(f"Must specify exactly two of {', '.join(names)}. Received: {names[0]}={first}, "
                         f"{names[1]}={second}, {names[2]}={target}")


def _non_negative(**values) -> None:
    for name, number in values.items():
        if number is not None and number < 0:
            raise ValueError(f"{name} must be >= 0. Received: {name}={number}")


def _edges(images, data_format, arguments: dict, kind: str):
    """The images' values, their (height, width) axes and sizes, with Keras's checks of the arguments."""
    xp, value = _array(images)
    data_format = _data_format(data_format)
    _check_rank(value.shape)
    _two_of(arguments[f"top_{kind}"], arguments[f"bottom_{kind}"], arguments["target_height"],
            (f"top_{kind}", f"bottom_{kind}", "target_height"))
    _two_of(arguments[f"left_{kind}"], arguments[f"right_{kind}"], arguments["target_width"],
            (f"left_{kind}", f"right_{kind}", "target_width"))
    _non_negative(**arguments)
    axes = _spatial_axes(value.ndim, data_format)
    return value, axes, value.shape[axes[0]], value.shape[axes[1]]


def pad_images(images, top_padding=None, left_padding=None, bottom_padding=None, right_padding=None,
               target_height=None, target_width=None, data_format=None):
    """Images padded with zeros: two of (top, bottom, target height) and two of (left, right, target width)."""
    value, axes, height, width = _edges(images, data_format, dict(
        top_padding=top_padding, bottom_padding=bottom_padding, target_height=target_height,
        left_padding=left_padding, right_padding=right_padding, target_width=target_width), "padding")
    top = target_height - bottom_padding - height if top_padding is None else top_padding
    bottom = target_height - top - height if bottom_padding is None else bottom_padding
    left = target_width - right_padding - width if left_padding is None else left_padding
    right = target_width - left - width if right_padding is None else right_padding
    _non_negative(top_padding=top, left_padding=left, right_padding=right, bottom_padding=bottom)
    widths = [(0, 0)] * value.ndim
    widths[axes[0]], widths[axes[1]] = (int(top), int(bottom)), (int(left), int(right))
    return _pad(images, widths)


def crop_images(images, top_cropping=None, left_cropping=None, bottom_cropping=None, right_cropping=None,
                target_height=None, target_width=None, data_format=None):
    """Images cropped: two of (top, bottom, target height) and two of (left, right, target width). A crop
    reaching past the image is refused (``bottom_cropping`` or ``right_cropping`` below 0), where Keras's jax
    backend would move the window back inside."""
    value, axes, height, width = _edges(images, data_format, dict(
        top_cropping=top_cropping, bottom_cropping=bottom_cropping, target_height=target_height,
        left_cropping=left_cropping, right_cropping=right_cropping, target_width=target_width), "cropping")
    top = height - target_height - bottom_cropping if top_cropping is None else top_cropping
    target_height = height - bottom_cropping - top if target_height is None else target_height
    left = width - target_width - right_cropping if left_cropping is None else left_cropping
    target_width = width - right_cropping - left if target_width is None else target_width
    _non_negative(top_cropping=top, target_height=target_height, left_cropping=left, target_width=target_width,
                  bottom_cropping=height - top - target_height, right_cropping=width - left - target_width)
    key = [slice(None)] * value.ndim
    key[axes[0]], key[axes[1]] = slice(int(top), int(top + target_height)), slice(int(left), int(left + target_width))
    return _window(images, tuple(key))


def rgb_to_grayscale(images, data_format=None):
    """Luma of RGB images (tf.image's weights 0.2989, 0.5870, 0.1140), one channel; integer images come back
    truncated to their dtype, as in Keras; one-channel images come back as they are."""
    xp, value = _array(images)
    data_format = _data_format(data_format)
    _check_rank(value.shape)
    axis = -1 if data_format == "channels_last" else -3
    if value.shape[axis] not in (1, 3):
        raise ValueError("Invalid channel size: expected 3 (RGB) or 1 (Grayscale). Received input with shape: "
                         f"images.shape={tuple(value.shape)}")
    if value.shape[axis] == 1:
        return _make(value, [images], [lambda g: g])
    dtype = _compute_dtype(value.dtype)
    weights = xp.asarray(np.asarray(_GRAYSCALE_WEIGHTS, dtype=dtype))
    out = xp.expand_dims(xp.tensordot(value.astype(dtype, copy=False), weights, axes=([axis], [0])), axis)
    shape = [1] * value.ndim
    shape[axis] = 3
    return _make(out.astype(value.dtype, copy=False), [images], [lambda g: g * weights.reshape(shape)])
