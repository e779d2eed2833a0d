"""More of ``keras.ops``'s array functions, differentiable as ``functions.py``'s are: flips, rolls, triangles,
gathers, padding, splits, sorting, outer and Einstein products, and constants (``eye``, ``full``, ``linspace``).
Each gradient sends the output's gradient back to where each value came from (checked against finite differences
in the tests)."""
from __future__ import annotations

import numpy as np

from . import functions as f
from .default_float import floatx
from .functions import _make, _value, array_module
from .tensor import Tensor


def _array(x, xp):
    return f._array_of(x, xp)  # (Python numbers in Keras's types: int32, float32)


def _moved(x, forward, back):
    """A function that moves values (``forward``), whose gradient moves them back (``back(xp, grad, value)``)."""
    xp = array_module(x)
    value = _array(x, xp)
    return _make(forward(xp, value), [x], [lambda g: back(xp, g, value)])


# ---- rearranging -----------------------------------------------------------------------------------------------------

def flip(x, axis=None):
    return _moved(x, lambda xp, v: xp.flip(v, axis=axis), lambda xp, g, v: xp.flip(g, axis=axis))


def fliplr(x):
    return flip(x, axis=1)


def flipud(x):
    return flip(x, axis=0)


def roll(x, shift, axis=None):
    def back(xp, g, v):
        negated = tuple(-s for s in shift) if isinstance(shift, (list, tuple)) else -shift
        return xp.roll(g, negated, axis=axis)

    return _moved(x, lambda xp, v: xp.roll(v, shift, axis=axis), back)


def swapaxes(x, axis1, axis2):
    return _moved(x, lambda xp, v: xp.swapaxes(v, axis1, axis2), lambda xp, g, v: xp.swapaxes(g, axis1, axis2))


def moveaxis(x, source, destination):
    return _moved(x, lambda xp, v: xp.moveaxis(v, source, destination),
                  lambda xp, g, v: xp.moveaxis(g, destination, source))


def tril(x, k=0):
    return _moved(x, lambda xp, v: xp.tril(v, k), lambda xp, g, v: xp.tril(g, k))


def triu(x, k=0):
    return _moved(x, lambda xp, v: xp.triu(v, k), lambda xp, g, v: xp.triu(g, k))


def diagonal(x, offset=0, axis1=0, axis2=1):
    def back(xp, g, v):
        full = xp.zeros(v.shape, dtype=g.dtype)
        view = xp.diagonal(full, offset=offset, axis1=axis1, axis2=axis2)
        index = np.indices(view.shape)
        rows = index[-1] + max(-offset, 0)
        cols = index[-1] + max(offset, 0)
        moved = xp.moveaxis(full, (axis1, axis2), (-2, -1))
        moved[(*index[:-1], rows, cols)] = g
        return xp.moveaxis(moved, (-2, -1), (axis1, axis2))

    return _moved(x, lambda xp, v: xp.diagonal(v, offset=offset, axis1=axis1, axis2=axis2).copy(), back)


def trace(x, offset=0, axis1=0, axis2=1):
    return f.sum(diagonal(x, offset=offset, axis1=axis1, axis2=axis2), axis=-1)


def repeat(x, repeats, axis=None):
    def back(xp, g, v):
        if axis is None:  # NumPy repeats the flattened array
            return _sum_segments(xp, g, np.broadcast_to(np.asarray(repeats), (v.size,)), 0).reshape(v.shape)
        return _sum_segments(xp, g, np.broadcast_to(np.asarray(repeats), (v.shape[axis],)), axis)

    return _moved(x, lambda xp, v: xp.repeat(v, repeats, axis=axis), back)


def _sum_segments(xp, g, counts, axis):
    """The sums of consecutive segments of ``g`` along ``axis``, of the given lengths."""
    bounds = np.cumsum(counts)[:-1]
    parts = xp.split(g, bounds, axis=axis)
    return xp.concatenate([part.sum(axis=axis, keepdims=True) for part in parts], axis=axis)


# the pad modes whose values are copies of x's: differentiated by adding each copy's gradient back to its source
_COPYING_PAD_MODES = ("reflect", "symmetric", "edge", "wrap")
# the pad modes that compute their border (statistics of x, ramps): padded, without a gradient
_COMPUTING_PAD_MODES = ("maximum", "minimum", "mean", "median", "linear_ramp")


def pad(x, pad_width, mode="constant", constant_values=None):
    differentiable = ("constant",) + _COPYING_PAD_MODES
    if mode not in differentiable + _COMPUTING_PAD_MODES:
        raise ValueError(f"pad: mode {mode!r} is not supported here; gpunn pads with mode "
                         f"{', '.join(repr(m) for m in differentiable + _COMPUTING_PAD_MODES)}")
    if mode in _COMPUTING_PAD_MODES and f._needs(x):
        raise ValueError(f"pad: mode {mode!r} has no gradient here, and this value needs one; the modes "
                         f"{', '.join(repr(m) for m in differentiable)} are differentiable")
    if mode != "constant" and constant_values not in (None, 0):
        raise ValueError("`constant_values` can only be set when `mode` is 'constant'")  # Keras's message
    widths = np.broadcast_to(np.asarray(pad_width, dtype=np.int64).reshape(-1, 2) if np.ndim(pad_width) else
                             np.asarray([[pad_width, pad_width]]), (len(f._shape(x)), 2))
    widths = [tuple(int(n) for n in w) for w in widths.tolist()]
    if mode in _COMPUTING_PAD_MODES:
        xp = array_module(x)
        return Tensor(xp.pad(_array(x, xp), widths, mode=mode))
    if mode != "constant":
        return _pad_copying(x, widths, mode)

    def forward(xp, v):
        return xp.pad(v, widths, mode="constant", constant_values=0 if constant_values is None else constant_values)

    def back(xp, g, v):
        return g[tuple(slice(lo, lo + n) for (lo, _), n in zip(widths, v.shape))]

    return _moved(x, forward, back)


def _pad_copying(x, widths, mode):
    """NumPy's pad in ``mode``, which fills the border with copies of x's values: the same pad of x's flat
    positions says where each output value came from, and the gradient adds up at those sources."""
    def forward(xp, v):
        return xp.pad(v, widths, mode=mode)

    def back(xp, g, v):
        sources = np.pad(np.arange(v.size, dtype=np.int64).reshape(v.shape), widths, mode=mode).reshape(-1)
        full = xp.zeros(v.size, dtype=g.dtype)
        _scatter_add(xp, full, (xp.asarray(sources),), g.reshape(-1))
        return full.reshape(v.shape)

    return _moved(x, forward, back)


# ---- gathering -----------------------------------------------------------------------------------------------------

def take(x, indices, axis=None):
    xp = array_module(x)
    value = _array(x, xp)
    ids = xp.asarray(_value(indices, xp)).astype(np.int64)
    source = value.reshape(-1) if axis is None else value
    out = xp.take(source, ids, axis=0 if axis is None else axis)

    def back(g):
        if axis is None:
            full = xp.zeros(source.shape, dtype=g.dtype)
            _scatter_add(xp, full, (ids.reshape(-1),), g.reshape(-1))
            return full.reshape(value.shape)
        moved_g = xp.moveaxis(g, tuple(range(axis % value.ndim, axis % value.ndim + ids.ndim)),
                              tuple(range(ids.ndim)))
        full = xp.zeros(xp.moveaxis(value, axis, 0).shape, dtype=g.dtype)
        _scatter_add(xp, full, (ids.reshape(-1),), moved_g.reshape((-1,) + full.shape[1:]))
        return xp.moveaxis(full, 0, axis)

    return _make(out, [x], [back])


def take_along_axis(x, indices, axis=None):
    xp = array_module(x)
    value = _array(x, xp)
    ids = xp.asarray(_value(indices, xp)).astype(np.int64)
    out = xp.take_along_axis(value if axis is not None else value.reshape(-1), ids, axis=-1 if axis is None else axis)

    def back(g):
        if axis is None:
            full = xp.zeros(value.size, dtype=g.dtype)
            _scatter_add(xp, full, (ids.reshape(-1),), g.reshape(-1))
            return full.reshape(value.shape)
        full = xp.zeros(value.shape, dtype=g.dtype)
        index = list(np.indices(ids.shape, sparse=True))
        index[axis % value.ndim] = ids
        _scatter_add(xp, full, tuple(xp.asarray(i) for i in index), g)
        return full

    return _make(out, [x], [back])


def _scatter_add(xp, target, index, values) -> None:
    if xp is np:
        np.add.at(target, index, values)
    else:  # CuPy
        import cupyx

        cupyx.scatter_add(target, index, values)


def sort(x, axis=-1):
    xp = array_module(x)
    order = xp.argsort(_array(x, xp), axis=axis)
    return take_along_axis(x, order, axis=axis)


def argsort(x, axis=-1):
    xp = array_module(x)
    return Tensor(xp.argsort(_array(x, xp), axis=axis).astype("int32"))


def top_k(x, k, sorted=True):  # noqa: A002 (Keras's argument name)
    """The ``k`` largest values along the last axis and their indices (Keras's ``ops.top_k``), the values
    differentiable; ties keep the earlier index first, as TensorFlow does."""
    xp = array_module(x)
    value = _array(x, xp)
    if not 0 <= int(k) <= value.shape[-1]:
        raise ValueError(f"top_k: k={k} for a last axis of {value.shape[-1]} values")
    def stable_order(keys):
        return xp.argsort(keys, axis=-1, kind="stable") if xp is np else xp.argsort(keys, axis=-1)

    # NaN the largest, above +inf, as JAX's top_k (Keras's backend) ranks it: by value, then the NaNs moved first
    order = stable_order(xp.where(xp.isnan(value), -xp.inf, -value))
    order = xp.take_along_axis(order, stable_order(~xp.isnan(xp.take_along_axis(value, order, axis=-1))), axis=-1)
    indices = order[..., :k]
    return take_along_axis(x, indices, axis=-1), Tensor(indices.astype("int32"))


def in_top_k(targets, predictions, k):
    """Whether each row's target class is among its ``k`` largest predictions."""
    xp = array_module(predictions)
    scores = _array(predictions, xp)
    ids = xp.asarray(_value(targets, xp)).astype(np.int64).reshape(-1)
    inside = (ids >= 0) & (ids < scores.shape[-1])  # a target out of the classes' range is in no top k (Keras)
    target_scores = scores[xp.arange(len(ids)), xp.where(inside, ids, 0)]
    return Tensor(((scores > target_scores[:, None]).sum(axis=-1) < k) & inside)


def split(x, indices_or_sections, axis=0):
    size = f._shape(x)[axis]
    if isinstance(indices_or_sections, (int, np.integer)):
        indices_or_sections = int(indices_or_sections)
        if size % indices_or_sections:
            raise ValueError(f"split: {size} values along axis {axis} do not split into {indices_or_sections} equal "
                             "parts")
        step = size // indices_or_sections
        # (an empty axis: as many empty parts)
        bounds = [0] * (indices_or_sections - 1) if step == 0 else list(range(0, size, step))[1:]
    else:
        bounds = [int(b) for b in indices_or_sections]
    edges = [0] + bounds + [size]
    axis = axis % len(f._shape(x))
    return [f.get_item(x, tuple(slice(None) for _ in range(axis)) + (slice(lo, hi),))
            for lo, hi in zip(edges[:-1], edges[1:])]


def array_split(x, indices_or_sections, axis=0):
    size = f._shape(x)[axis]
    if isinstance(indices_or_sections, (int, np.integer)):
        indices_or_sections = int(indices_or_sections)
        sizes = [size // indices_or_sections + (1 if k < size % indices_or_sections else 0)
                 for k in range(indices_or_sections)]
        indices_or_sections = list(np.cumsum(sizes)[:-1])
    return split(x, indices_or_sections, axis=axis)


def unstack(x, num=None, axis=0):
    if f._shape(x)[axis] == 0:  # nothing along the axis: no parts (Keras's)
        return []
    parts = split(x, f._shape(x)[axis], axis=axis)
    return [f.squeeze(part, axis=axis) for part in parts]


def hstack(xs):
    return f.concatenate(xs, axis=1 if len(f._shape(xs[0])) > 1 else 0)


def vstack(xs):
    return f.concatenate([x if len(f._shape(x)) > 1 else f.reshape(x, (1, -1)) for x in xs], axis=0)


# ---- products ------------------------------------------------------------------------------------------------------

def _keras_einsum(subscripts, *operands):
    """``keras.ops.einsum``: ``einsum`` with Keras's int8 rule (``functions.int8_accumulated``)."""
    return einsum(subscripts, *f.int8_accumulated(*operands))


def einsum(subscripts, *operands):
    """Einstein summation over explicit subscripts (``"ij,jk->ik"``, ``"...b,bc->...c"``); each operand's gradient
    is the einsum of the output's gradient with the other operands, back to that operand's subscripts."""
    if "->" not in subscripts:
        raise ValueError(f"einsum: gpunn takes explicit subscripts ('ij,jk->ik'), got {subscripts!r}")
    if "..." in subscripts:
        operands = _ellipses_broadcast(subscripts.replace(" ", ""), operands)
    xp = array_module(*operands)
    values = [_array(x, xp) for x in operands]
    if "..." in subscripts:
        subscripts = _without_ellipses(subscripts.replace(" ", ""), values)
    inputs, output = subscripts.replace(" ", "").split("->")
    terms = inputs.split(",")
    if any(len(set(term)) != len(term) for term in terms + [output]):
        raise ValueError(f"einsum: an index repeated within one operand (a diagonal, {subscripts!r}) is not "
                         "differentiable here; take ops.diagonal first")
    out = f._as_keras_float(xp.einsum(subscripts, *values), *operands)

    def rule(k):
        def back(g):
            others = [t for j, t in enumerate(terms) if j != k]
            sizes = {c: n for t, v in zip(terms, values) for c, n in zip(t, v.shape)}
            target = terms[k]
            missing = [c for c in target if c not in output and c not in "".join(others)]
            grad = xp.einsum(",".join([output] + others) + "->" + "".join(c for c in target if c not in missing),
                             g, *[v for j, v in enumerate(values) if j != k])
            if missing:  # an index summed away in this operand alone: its gradient is broadcast back over it
                grad = _broadcast_into(xp, grad, "".join(c for c in target if c not in missing), target, sizes)
            return grad

        return back

    return _make(out, list(operands), [rule(k) for k in range(len(operands))])


def _ellipses_broadcast(subscripts: str, operands) -> list:
    """The operands with the axes ``...`` stands for broadcast to one shape (right-aligned, as NumPy broadcasts
    them), differentiably: each operand's gradient is summed back over what it was broadcast along."""
    terms = subscripts.split("->")[0].split(",")
    shapes = []
    for term, x in zip(terms, operands):
        shape = f._shape(x)
        if "..." in term:
            start = term.index("...")
            shapes.append(shape[start:len(shape) - (len(term) - 3 - start)])
    target = np.broadcast_shapes(*shapes) if shapes else ()
    out = []
    for term, x in zip(terms, operands):
        shape = f._shape(x)
        if "..." not in term:
            out.append(x)
            continue
        start = term.index("...")
        end = len(shape) - (len(term) - 3 - start)
        if tuple(shape[start:end]) == tuple(target):
            out.append(x)
            continue
        lifted = shape[:start] + (1,) * (len(target) - (end - start)) + shape[start:]
        out.append(f.broadcast_to(f.reshape(x, lifted), shape[:start] + tuple(target) + shape[end:]))
    return out


def _without_ellipses(subscripts: str, values) -> str:
    """``subscripts`` with each ``...`` spelled out in letters the subscripts do not use, the axes it stands for
    being the same in every operand that has it (right-aligned, as NumPy reads them)."""
    inputs, output = subscripts.split("->")
    terms = inputs.split(",")
    spans = [v.ndim - (len(t) - 3) for t, v in zip(terms, values) if "..." in t]
    shapes = {tuple(v.shape[t.index("..."):t.index("...") + v.ndim - (len(t) - 3)])
              for t, v in zip(terms, values) if "..." in t}
    if len(shapes) > 1:
        raise ValueError(f"einsum: the axes '...' stands for differ between operands ({sorted(shapes)}); gpunn takes "
                         "them equal (broadcast the operands first)")
    free = [c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz" if c not in subscripts]
    letters = "".join(free[:max(spans)])
    return ",".join(t.replace("...", letters) for t in terms) + "->" + output.replace("...", letters)


def _broadcast_into(xp, grad, kept: str, target: str, sizes: dict):
    shape = [sizes[c] if c in kept else 1 for c in target]
    order = [kept.index(c) for c in target if c in kept]
    return xp.broadcast_to(xp.transpose(grad, order).reshape(shape), [sizes[c] for c in target])


def outer(x1, x2):
    # a Python number stays one (weak in Keras's promotion: outer(int8_array, 2) is int8), as a column or a row of 1
    if f._only_python_numbers(x2) and not isinstance(x2, (list, tuple)):
        return f.multiply(f.reshape(x1, (-1, 1)), x2 if not f._only_python_numbers(x1) else f._array_of(x2, np))
    if f._only_python_numbers(x1) and not isinstance(x1, (list, tuple)):
        return f.multiply(x1, f.reshape(x2, (1, -1)))
    return f.multiply(f.reshape(x1, (-1, 1)), f.reshape(x2, (1, -1)))


def tensordot(x1, x2, axes=2):
    letters = "abcdefghijklmnopqrstuvwxyz"
    n1, n2 = len(f._shape(x1)), len(f._shape(x2))
    if isinstance(axes, int):
        a1, a2 = list(range(n1 - axes, n1)), list(range(axes))
    else:
        a1, a2 = ([axes[0]] if isinstance(axes[0], int) else list(axes[0])), \
            ([axes[1]] if isinstance(axes[1], int) else list(axes[1]))
        a1, a2 = [a % n1 for a in a1], [a % n2 for a in a2]
    first = letters[:n1]
    second = [letters[n1 + k] for k in range(n2)]
    for i, j in zip(a1, a2):
        second[j] = first[i]
    second = "".join(second)
    output = "".join(c for k, c in enumerate(first) if k not in a1) + "".join(
        c for k, c in enumerate(second) if k not in a2)
    return einsum(f"{first},{second}->{output}", x1, x2)


# ---- statistics ----------------------------------------------------------------------------------------------------

def moments(x, axes, keepdims=False, synchronized=False):
    """(mean, variance) over ``axes``, as ``keras.ops.moments``."""
    if synchronized:
        raise NotImplementedError("moments: synchronized=True (across devices) is not supported; gpunn computes on "
                                  "one device's batch (data-parallel ranks hold their own)")
    mean = f.mean(x, axis=axes, keepdims=True)
    variance = f.mean(f.square(f.subtract(x, mean)), axis=axes, keepdims=keepdims)
    return (mean if keepdims else f.squeeze(mean, axis=axes)), variance


def normalize(x, axis=-1, order=2, epsilon=None):
    """``x`` divided by its ``order``-norm along ``axis`` (Keras's ``ops.normalize``; a 0-d ``x`` as Keras's
    backends give it, of shape (1,))."""
    if not isinstance(order, int) or not order >= 1:  # (Keras's check, bool and NumPy ints as it takes them)
        raise ValueError(f"Argument `order` must be an int >= 1. Received: order={order}")
    if len(f._shape(x)) == 0:
        x = f.reshape(x, (1,))
    epsilon = f.epsilon() if epsilon is None else epsilon
    if order == 2:
        # Keras's L2 case: the flat sum of squares over ``axis`` (all axes for None, a tuple's together), where
        # ``norm`` would take a matrix norm over two axes
        with np.errstate(divide="ignore"):  # (a zero row: its inverse norm is capped at 1 / epsilon)
            inverse = f.rsqrt(f.sum(f.square(x), axis=axis, keepdims=True))
        return f.multiply(x, f.minimum(inverse, 1.0 / epsilon))
    norm = f.norm(x, ord=order, axis=axis, keepdims=True)
    return f.divide(x, f.maximum(norm, epsilon))  # Keras's lower bound


def average(x, axis=None, weights=None):
    if weights is None:
        return f.mean(x, axis=axis)
    if axis is not None and len(f._shape(weights)) == 1 and len(f._shape(x)) > 1:
        shape = [1] * len(f._shape(x))
        shape[axis] = -1
        weights = f.reshape(weights, shape)
    return f.divide(f.sum(f.multiply(x, weights), axis=axis), f.sum(f.broadcast_to(weights, f._shape(x)), axis=axis))


def cumprod(x, axis=None, dtype=None):
    """The running product, differentiable where no value is 0 (as a product of the running values)."""
    xp = array_module(x)
    value = _array(x, xp)
    source = value.reshape(-1) if axis is None else value
    out = xp.cumprod(source, axis=0 if axis is None else axis, dtype=dtype or f._keras_running_dtype(value.dtype))

    def back(g):
        step = 0 if axis is None else axis
        total = xp.flip(xp.cumsum(xp.flip(g * out, axis=step), axis=step), axis=step)
        return (total / source).reshape(value.shape)

    return _make(out, [x], [back])


def count_nonzero(x, axis=None):
    xp = array_module(x)
    return Tensor(xp.asarray(xp.count_nonzero(_array(x, xp), axis=axis)).astype("int32"))


# ---- constants -----------------------------------------------------------------------------------------------------

def eye(N, M=None, k=0, dtype=None):  # noqa: N803 (Keras's argument names)
    return Tensor(np.eye(N, M, k, dtype=dtype or floatx()))


def identity(n, dtype=None):
    return eye(n, dtype=dtype)


def full(shape, fill_value, dtype=None):
    return Tensor(np.full(shape, fill_value, dtype=dtype or floatx()))  # Keras: floatx unless a dtype is given


def linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0):
    num = int(f.convert_to_numpy(num))  # (a 0-d tensor too, as Keras takes it)
    values = np.linspace(start, stop, num=num, endpoint=endpoint, retstep=retstep, dtype=dtype or floatx(),
                         axis=axis)
    return (Tensor(values[0]), values[1]) if retstep else Tensor(values)


def copy(x):
    return _moved(x, lambda xp, v: v.copy(), lambda xp, g, v: g)


# ---- sliding blocks of images (im2col and col2im) ------------------------------------------------------------------

def _pair(value, name: str) -> tuple:
    pair = (value, value) if isinstance(value, (int, np.integer)) else tuple(value)
    if len(pair) != 2:
        raise ValueError(f"{name}: takes an int or a tuple of two ints, got {value!r}")
    return tuple(int(v) for v in pair)


def _block_sources(channels, height, width, kernel_size, dilation, padding, stride):
    """For each value of ``unfold``'s (C * kH * kW, L) blocks of a (C, H, W) image: its flat position in the image,
    or C * H * W (a zero appended to the image) where the block reaches into the padding; and (nH, nW)."""
    (kh, kw), (dh, dw) = _pair(kernel_size, "kernel_size"), _pair(dilation, "dilation")
    (ph, pw), (sh, sw) = _pair(padding, "padding"), _pair(stride, "stride")
    nh = (height + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    nw = (width + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    if nh <= 0 or nw <= 0:
        raise ValueError(f"the {kh}x{kw} kernel (dilation {(dh, dw)}) does not fit the {height}x{width} image "
                         f"padded by {(ph, pw)}")
    rows = (np.arange(kh) * dh)[:, None, None, None] + (np.arange(nh) * sh)[None, None, :, None] - ph
    cols = (np.arange(kw) * dw)[None, :, None, None] + (np.arange(nw) * sw)[None, None, None, :] - pw
    inside = (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)
    spatial = rows * width + cols  # (kH, kW, nH, nW)
    channel = np.arange(channels, dtype=np.int64)[:, None, None, None, None] * (height * width)
    sources = np.where(inside[None], channel + spatial[None], channels * height * width)
    return sources.reshape(channels * kh * kw, nh * nw), (nh, nw)


def unfold(x, kernel_size, dilation=1, padding=0, stride=1):
    """Keras's ``ops.unfold`` (im2col, PyTorch's): the sliding ``kernel_size`` blocks of a channels-first
    (N, C, H, W) batch, zero-padded by ``padding``, as (N, C * kH * kW, L) columns; differentiable (its gradient
    adds each block's values back, ``fold``)."""
    shape = f._shape(x)
    if len(shape) != 4:
        raise ValueError(f"Input must be a 4D tensor. Received: input.shape={shape}")  # Keras's message
    n, c, h, w = shape
    sources, _ = _block_sources(c, h, w, kernel_size, dilation, padding, stride)
    xp = array_module(x)
    flat = f.reshape(x, (n, c * h * w))
    zero = Tensor(xp.zeros((n, 1), dtype=_array(x, xp).dtype))
    return take(f.concatenate([flat, zero], axis=1), xp.asarray(sources), axis=1)


def fold(x, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """Keras's ``ops.fold`` (col2im, PyTorch's): (N, C * kH * kW, L) blocks summed into a channels-first
    (N, C, oH, oW) batch where ``unfold`` took them from (overlaps add up; the padding is dropped);
    differentiable (its gradient is ``unfold``'s values)."""
    shape = f._shape(x)
    if len(shape) != 3:
        raise ValueError(f"Input must be a 3D tensor. Received: input.shape={shape}")
    n, ckk, length = shape
    oh, ow = _pair(output_size, "output_size")
    kh, kw = _pair(kernel_size, "kernel_size")
    if ckk % (kh * kw):
        raise ValueError(f"fold: the {ckk} rows of the blocks are not a multiple of the kernel's {kh * kw} values")
    c = ckk // (kh * kw)
    sources, (nh, nw) = _block_sources(c, oh, ow, kernel_size, dilation, padding, stride)
    if length != nh * nw:
        raise ValueError(f"fold: {length} blocks given, where the {oh}x{ow} output has {nh * nw} ({nh}x{nw})")
    from .extra_functions import segment_sum  # (extra_functions imports this module)

    rows = f.reshape(f.transpose(x, (1, 2, 0)), (ckk * length, n))  # a row per block value, a column per image
    summed = segment_sum(rows, sources.reshape(-1), num_segments=c * oh * ow + 1)
    return f.reshape(f.transpose(summed[:-1], (1, 0)), (n, c, oh, ow))
