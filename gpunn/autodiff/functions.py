"""``keras.ops``'s functions for the functions users write (custom losses, metric functions), each with its
gradient (``tensor.py``), on NumPy or CuPy arrays alike.

Arguments may be Tensors, arrays or Python numbers; results are Tensors. Python numbers stay "weak" as in Keras
(``x * 2.0`` keeps a float32 ``x`` float32). Gradients follow TensorFlow's conventions where they differ from
JAX's at a tie or a kink: ``maximum`` / ``minimum`` give a tie's gradient to the first argument, ``abs`` and
``relu`` have gradient 0 at 0, ``clip`` passes the gradient where the value is inside the bounds or on them,
``max`` / ``min`` share it equally between tied elements, and ``round``, ``floor``, ``sign`` and comparisons
have none.
"""
from __future__ import annotations

import builtins
import functools

import numpy as np

from ..fuzz_factor import epsilon  # noqa: F401  (Keras's backend epsilon; keras.config.set_epsilon sets it)
from .default_float import floatx
from .tensor import DETACHMENTS, Tensor, array_module


# ---- plumbing -----------------------------------------------------------------------------------------------------

def _tensor(x):
    """``x`` as a Tensor when it is one, or a weight of a layer (``layers/variable.py``: the Tensor its layer's
    call is being differentiated with, else a constant); None for anything else."""
    if isinstance(x, Tensor):
        return x
    as_tensor = getattr(x, "_autodiff_tensor", None)
    return as_tensor() if as_tensor is not None else None


def _value(x, xp=np):
    """The array (or Python number) behind ``x``."""
    tensor = _tensor(x)
    if tensor is not None:
        value = tensor.value
        # a host array (a keras.random draw) next to device arrays goes to the device
        return xp.asarray(value) if xp is not np and isinstance(value, np.ndarray) else value
    if xp is not np and isinstance(x, np.ndarray):
        return xp.asarray(x)
    if isinstance(x, (list, tuple)):  # (a list of Python numbers in Keras's types: int32, floatx)
        return _python_numbers_as_keras(x, xp.asarray([_value(item, xp) for item in x]))
    if getattr(x, "_is_symbolic", False):
        raise TypeError("gpunn.ops functions compute on arrays; on a symbolic model tensor, use a layer instead")
    return x


def _needs(x) -> bool:
    tensor = _tensor(x)
    return tensor is not None and tensor.requires_grad


def _shape(x) -> tuple:
    tensor = _tensor(x)
    return tuple(np.shape(tensor.value if tensor is not None else x))


def _unbroadcast(xp, grad, shape: tuple):
    """``grad`` summed back to ``shape`` (the inverse of broadcasting an operand of that shape)."""
    if tuple(grad.shape) == tuple(shape):
        return grad
    extra = grad.ndim - len(shape)
    if extra > 0:
        grad = grad.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return grad.reshape(shape)


def _make(out, inputs: list, rules: list) -> Tensor:
    """A Tensor of ``out`` computed from ``inputs``; ``rules[i](grad)`` is d/d inputs[i] of sum(grad * out),
    already of inputs[i]'s shape. Inputs that need no gradient are left out of the record."""
    kept = [(_tensor(x), rule) for x, rule in zip(inputs, rules) if _needs(x)]
    if not kept:
        return Tensor(out)
    return Tensor(out, tuple(x for x, _ in kept), lambda grad: tuple(rule(grad) for _, rule in kept))


def _as_keras_float(out, *operands):
    """NumPy's float result of ``operands`` in Keras's type (``keras/src/backend/common/dtypes.py``'s lattice):
    a float operand's width wins over an integer's (float32 + int32 is float32, where NumPy makes float64), and a
    float made from integers or booleans alone is floatx (``ops.sqrt`` of int32, or of uint8, where NumPy makes
    float16). Python numbers are weak, as in Keras; a float64 operand keeps float64."""
    if getattr(out, "dtype", None) is None or out.dtype.kind != "f":
        return out
    widths = []
    for operand in operands:
        tensor = _tensor(operand)
        dtype = getattr(tensor.value if tensor is not None else operand, "dtype", None)
        if dtype is not None and np.dtype(dtype).kind == "f":
            widths.append(np.dtype(dtype))
    if np.dtype("float64") in widths:
        return out
    wanted = np.dtype(builtins.max(widths, key=lambda d: d.itemsize) if widths else floatx())
    return out if out.dtype == wanted else out.astype(wanted)


def _array_of(x, xp):
    """``x`` as an array of ``xp``: Python numbers (and lists of them) in Keras's types, int32 or float32, as
    Keras converts them (``ops.exp(1.0)`` is float32)."""
    value = xp.asarray(_value(x, xp))
    return _python_numbers_as_keras(x, value) if _only_python_numbers(x) else value


def _unary(x, forward, derivative=None):
    """f(x) element by element; ``derivative(xp, x, out)`` is f'(x) (None: no gradient)."""
    xp = array_module(x)
    value = _array_of(x, xp)
    out = forward(xp, value)
    if value.dtype.kind in "biu" and getattr(out, "dtype", np.dtype("int64")).kind == "f":  # (no gradient to keep)
        if out.dtype.itemsize < np.dtype(floatx()).itemsize:  # NumPy's float16 of small integers: in floatx
            out = forward(xp, value.astype(floatx()))
        out = _as_keras_float(out, x)
    out = _booleans_counted_in_int32(out, [value])
    if derivative is None:
        return Tensor(out)
    return _make(out, [x], [lambda g: (g * derivative(xp, value, out)).astype(g.dtype, copy=False)])


def _booleans_counted_in_int32(out, values):
    """Keras's integer result of booleans alone (``square``, ``mod``, ``power``, the shifts...) is int32, where
    NumPy's is int8 (or int64, with a Python int)."""
    if _kind(out) in ("i", "u") and out.dtype != np.int32 and builtins.all(_kind(v) == "b" for v in values):
        return out.astype("int32")
    return out


def _kind(value):
    """NumPy's kind letter of an array's dtype, or of a Python number ("b", "i", "f"); None for anything else."""
    dtype = getattr(value, "dtype", None)
    if dtype is not None:
        return np.dtype(dtype).kind
    return "b" if isinstance(value, bool) else "i" if isinstance(value, int) else "f" if isinstance(
        value, float) else None


def _operands(xp, operands, strong=False):
    """The values of ``operands`` for NumPy to combine as Keras (JAX) combines them. Python numbers stay weak
    beside arrays of a numeric type (``uint8_array + 1`` is uint8; out of its range, see ``_wrapped``), but
    become Keras's int32 / floatx where there is no such array (``2 + 3`` is int32, as is ``bool_array + 2``,
    where NumPy makes int64); ``strong``: they are arrays of those types anyway (Keras's ``arctan2``,
    ``logaddexp``... convert both operands first: ``arctan2(float16_array, 2.5)`` is float32)."""
    values = [_value(x, xp) for x in operands]
    python = [_only_python_numbers(x) and not isinstance(x, (list, tuple)) for x in operands]
    numeric = [v for v, p in zip(values, python) if not p and _kind(v) not in (None, "b")]
    if strong or not numeric:
        return [_array_of(x, xp) if p else v for x, v, p in zip(operands, values, python)]
    return values


def _wrapped(xp, operands, values):
    """``values`` with each Python integer outside the range of the integer arrays' one type wrapped into it, as
    JAX casts a weak integer (``uint8_array + -1`` is ``uint8_array + 255``), where NumPy refuses it."""
    kinds = {np.dtype(v.dtype) for x, v in zip(operands, values) if not _only_python_numbers(x) and _kind(v)}
    if len(kinds) != 1 or next(iter(kinds)).kind not in "iu":
        return values
    dtype = next(iter(kinds))
    info = np.iinfo(dtype)
    return [xp.asarray(np.asarray(x).astype(dtype)) if isinstance(x, int) and not isinstance(x, bool)
            and not info.min <= x <= info.max else v for x, v in zip(operands, values)]


def _combined(xp, operands, forward, strong=False):
    """``forward(xp, *values)`` of ``operands`` in Keras's result type (``_operands``; ``_as_keras_float``), and
    the values it was computed from. A float made from integers alone is computed in floatx (NumPy would compute
    ``arctan2(int8, uint8)`` in float16 and lose digits Keras keeps)."""
    values = _operands(xp, operands, strong)
    try:
        out = forward(xp, *values)
    except OverflowError:  # a Python integer outside an integer array's range (NumPy's refusal): wrapped
        values = _wrapped(xp, operands, values)
        out = forward(xp, *values)
    if _kind(out) == "f" and out.dtype.itemsize < np.dtype(floatx()).itemsize and not builtins.any(
            _kind(v) == "f" for v in values):
        values = [v.astype(floatx()) if hasattr(v, "astype") and _kind(v) in ("b", "i", "u") else v
                  for v in values]
        out = forward(xp, *values)
    out = _as_keras_float(out, *values)
    return _booleans_counted_in_int32(out, values), values


def _in_result_type(*operands) -> list:
    """``operands`` as Tensors of their Keras result type (``_combined``'s: Python numbers weak), for the functions
    that lay their values out together (``append``, ``kron``). A float's cast keeps its gradient."""
    xp = array_module(*operands)
    samples = [x if _only_python_numbers(x) and not isinstance(x, (list, tuple))
               else xp.zeros((), dtype=_array_of(x, xp).dtype) for x in operands]
    dtype = _combined(xp, samples, lambda xp, *values: functools.reduce(xp.add, values))[0].dtype
    out = []
    for x in operands:
        tensor = _tensor(x)
        if tensor is None:
            tensor = Tensor(xp.asarray(_array_of(x, xp)).astype(dtype))
        out.append(tensor if tensor.value.dtype == dtype else cast(tensor, dtype))
    return out


def _binary(a, b, forward, grad_a=None, grad_b=None, strong=False):
    """f(a, b) with broadcasting; ``grad_a(xp, g, va, vb, out)`` is the gradient for a before un-broadcasting.
    ``strong``: Python numbers count as arrays (``_operands``)."""
    xp = array_module(a, b)
    out, (va, vb) = _combined(xp, [a, b], forward, strong)
    if not isinstance(out, xp.ndarray):
        out = xp.asarray(out)
    rules = [None if grad_a is None else lambda g: _unbroadcast(xp, grad_a(xp, g, va, vb, out), _shape(a)),
             None if grad_b is None else lambda g: _unbroadcast(xp, grad_b(xp, g, va, vb, out), _shape(b))]
    inputs = [x if rule is not None else None for x, rule in zip((a, b), rules)]
    return _make(out, inputs, rules)


def _axis_tuple(axis, ndim: int):
    if axis is None:
        return tuple(range(ndim))
    axes = axis if isinstance(axis, (list, tuple)) else (axis,)
    return tuple(sorted(int(a) % ndim for a in axes)) if ndim else ()


def _expand_reduced(xp, grad, shape: tuple, axis, keepdims: bool):
    """A gradient of a reduction, of the reduced shape, put back on ``shape`` (broadcast along the axes)."""
    if not keepdims:
        for a in _axis_tuple(axis, len(shape)):
            grad = xp.expand_dims(grad, a)
    return xp.broadcast_to(grad, shape)


# ---- arithmetic ---------------------------------------------------------------------------------------------------

def add(x1, x2):
    return _binary(x1, x2, lambda xp, a, b: xp.add(a, b), lambda xp, g, a, b, o: g, lambda xp, g, a, b, o: g)


def subtract(x1, x2):
    return _binary(x1, x2, lambda xp, a, b: xp.subtract(a, b), lambda xp, g, a, b, o: g,
                   lambda xp, g, a, b, o: -g)


def multiply(x1, x2):
    return _binary(x1, x2, lambda xp, a, b: xp.multiply(a, b), lambda xp, g, a, b, o: g * b,
                   lambda xp, g, a, b, o: g * a)


def divide(x1, x2):
    return _binary(x1, x2, lambda xp, a, b: xp.true_divide(a, b), lambda xp, g, a, b, o: g / b,
                   lambda xp, g, a, b, o: -g * o / b)


true_divide = divide


def divide_no_nan(x1, x2):
    """x1 / x2, 0 where x2 is 0 (and no gradient there)."""
    def forward(xp, a, b):
        safe = xp.where(xp.asarray(b) == 0, 1, b)
        return xp.where(xp.asarray(b) == 0, 0, xp.true_divide(a, safe))

    def grad_a(xp, g, a, b, o):
        return xp.where(xp.asarray(b) == 0, 0, g / xp.where(xp.asarray(b) == 0, 1, b))

    def grad_b(xp, g, a, b, o):
        return xp.where(xp.asarray(b) == 0, 0, -g * o / xp.where(xp.asarray(b) == 0, 1, b))

    return _binary(x1, x2, forward, grad_a, grad_b)


def negative(x):
    return _unary(x, lambda xp, v: xp.negative(v), lambda xp, v, o: -1)


def power(x1, x2):
    def grad_exponent(xp, g, a, b, o):
        base = xp.asarray(a)
        return g * o * xp.log(xp.where(base > 0, base, 1))  # d/db a^b = a^b log a (0 where a <= 0, as TF)

    return _binary(x1, x2, lambda xp, a, b: xp.power(a, b),
                   lambda xp, g, a, b, o: g * b * xp.power(a, b - 1), grad_exponent)


def square(x):
    return _unary(x, lambda xp, v: xp.square(v), lambda xp, v, o: 2 * v)


def sqrt(x):
    return _unary(x, lambda xp, v: xp.sqrt(v), lambda xp, v, o: 0.5 / o)


def rsqrt(x):
    return _unary(x, lambda xp, v: 1 / xp.sqrt(v), lambda xp, v, o: -0.5 * o / v)


def absolute(x):
    return _unary(x, lambda xp, v: xp.abs(v), lambda xp, v, o: xp.sign(v))


abs = absolute  # noqa: A001 (Keras's name)


def exp(x):
    return _unary(x, lambda xp, v: xp.exp(v), lambda xp, v, o: o)


def expm1(x):
    return _unary(x, lambda xp, v: xp.expm1(v), lambda xp, v, o: o + 1)


def log(x):
    return _unary(x, lambda xp, v: xp.log(v), lambda xp, v, o: 1 / v)


def log1p(x):
    return _unary(x, lambda xp, v: xp.log1p(v), lambda xp, v, o: 1 / (1 + v))


def log2(x):
    return _unary(x, lambda xp, v: xp.log2(v), lambda xp, v, o: 1 / (v * np.log(2.0)))


def log10(x):
    return _unary(x, lambda xp, v: xp.log10(v), lambda xp, v, o: 1 / (v * np.log(10.0)))


def reciprocal(x):
    return _unary(x, lambda xp, v: 1 / v, lambda xp, v, o: -o * o)


def sin(x):
    return _unary(x, lambda xp, v: xp.sin(v), lambda xp, v, o: xp.cos(v))


def cos(x):
    return _unary(x, lambda xp, v: xp.cos(v), lambda xp, v, o: -xp.sin(v))


def tanh(x):
    return _unary(x, lambda xp, v: xp.tanh(v), lambda xp, v, o: 1 - o * o)


def cosh(x):
    return _unary(x, lambda xp, v: xp.cosh(v), lambda xp, v, o: xp.sinh(v))


def sinh(x):
    return _unary(x, lambda xp, v: xp.sinh(v), lambda xp, v, o: xp.cosh(v))


def maximum(x1, x2):
    return _binary(x1, x2, lambda xp, a, b: xp.maximum(a, b), lambda xp, g, a, b, o: g * (xp.asarray(a) >= b),
                   lambda xp, g, a, b, o: g * (xp.asarray(a) < b))


def minimum(x1, x2):
    return _binary(x1, x2, lambda xp, a, b: xp.minimum(a, b), lambda xp, g, a, b, o: g * (xp.asarray(a) <= b),
                   lambda xp, g, a, b, o: g * (xp.asarray(a) > b))


def clip(x, x_min, x_max):
    xp = array_module(x, x_min, x_max)
    value, low, high = _array_of(x, xp), _value(x_min, xp), _value(x_max, xp)
    if value.dtype == bool:  # Keras clips booleans as int32
        value = value.astype("int32")
    out = _as_keras_float(xp.clip(value, low, high), x, x_min, x_max)
    # (a bound left out, None, as NumPy's clip and the Tensor method take it, holds nothing back)
    inside = (value >= (-xp.inf if low is None else low)) & (value <= (xp.inf if high is None else high))
    return _make(out, [x], [lambda g: g * inside])


def where(condition, x1=None, x2=None):
    if x1 is None and x2 is None:
        return nonzero(condition)
    if x1 is None or x2 is None:
        raise ValueError("`x1` and `x2` either both should be `None` or both should have non-None value.")
    xp = array_module(condition, x1, x2)
    mask = xp.asarray(_value(condition, xp)).astype(bool)
    out = xp.where(mask, _value(x1, xp), _value(x2, xp))
    if builtins.all(isinstance(x, (bool, int, float)) for x in (x1, x2)):  # Keras's types for Python numbers
        out = _python_numbers_as_keras([x1, x2], out)
    out = _as_keras_float(out, x1, x2)
    return _make(out, [x1, x2], [lambda g: _unbroadcast(xp, xp.where(mask, g, 0), _shape(x1)),
                                 lambda g: _unbroadcast(xp, xp.where(mask, 0, g), _shape(x2))])


def nonzero(x):
    xp = array_module(x)
    return tuple(Tensor(i.astype("int32")) for i in xp.nonzero(_value(x, xp)))


# ---- without a gradient ---------------------------------------------------------------------------------------

_BINARY = {"equal", "not_equal", "greater", "greater_equal", "less", "less_equal", "logical_and", "logical_or",
           "logical_xor", "floor_divide", "heaviside", "nextafter", "gcd", "lcm"}


def _no_gradient(function, strong=False):
    """NumPy's or CuPy's ``function`` of the arrays, in Keras's result type (``_combined``), as a Tensor without a
    gradient; its arguments named as Keras names them (``x1, x2`` of a binary function, else ``x``)."""
    def compute(*args):
        xp = array_module(*args)
        forward = getattr(xp, function)
        return Tensor(xp.asarray(_combined(xp, list(args), lambda xp, *values: forward(*values), strong)[0]))

    if function in _BINARY:
        def op(x1, x2):
            return compute(x1, x2)
    else:
        def op(x):
            return compute(x)
    op.__name__ = op.__qualname__ = function
    return op


sign = _no_gradient("sign")


def _float_rounding(function):
    """floor or ceil, of integers too, as a float (Keras's), without a gradient."""
    def op(x):
        xp = array_module(x)
        value = _array_of(x, xp)
        return Tensor(getattr(xp, function)(value.astype(floatx()) if value.dtype.kind in "biu" else value))
    op.__name__ = function
    return op


floor = _float_rounding("floor")
ceil = _float_rounding("ceil")
isnan = _no_gradient("isnan")
isinf = _no_gradient("isinf")
isfinite = _no_gradient("isfinite")
logical_not = _no_gradient("logical_not")


def round(x, decimals=0):  # noqa: A001 (Keras's name)
    xp = array_module(x)
    return Tensor(xp.round(_array_of(x, xp), decimals))


equal = _no_gradient("equal")
not_equal = _no_gradient("not_equal")
greater = _no_gradient("greater")
greater_equal = _no_gradient("greater_equal")
less = _no_gradient("less")
less_equal = _no_gradient("less_equal")
logical_and = _no_gradient("logical_and")
logical_or = _no_gradient("logical_or")
logical_xor = _no_gradient("logical_xor")


# Positions are int32, as Keras's ops give them
def argmax(x, axis=None, keepdims=False):
    xp = array_module(x)
    return Tensor(xp.argmax(_value(x, xp), axis=axis, keepdims=keepdims).astype("int32"))


def argmin(x, axis=None, keepdims=False):
    xp = array_module(x)
    return Tensor(xp.argmin(_value(x, xp), axis=axis, keepdims=keepdims).astype("int32"))


def all(x, axis=None, keepdims=False):  # noqa: A001 (Keras's name)
    xp = array_module(x)
    return Tensor(xp.all(_value(x, xp), axis=axis, keepdims=keepdims))


def any(x, axis=None, keepdims=False):  # noqa: A001 (Keras's name)
    xp = array_module(x)
    return Tensor(xp.any(_value(x, xp), axis=axis, keepdims=keepdims))


def one_hot(x, num_classes, axis=-1, dtype=None, sparse=False):
    if sparse:
        raise ValueError("sparse: gpunn's arrays are dense; leave sparse=False")
    xp = array_module(x)
    ids = _array_of(x, xp).astype(np.int64)
    out = (ids[..., None] == xp.arange(num_classes)).astype(dtype or floatx())
    return Tensor(xp.moveaxis(out, -1, axis) if axis != -1 else out)


def stop_gradient(variable):
    return Tensor(_array_of(variable, array_module(variable)))  # (a Python number in Keras's type)


# ---- reductions ---------------------------------------------------------------------------------------------------

def _axis_argument(axis):
    return tuple(axis) if isinstance(axis, list) else axis


def sum(x, axis=None, keepdims=False):  # noqa: A001 (Keras's name)
    xp = array_module(x)
    axis = _axis_argument(axis)
    value = _array_of(x, xp)
    out = xp.sum(value, axis=axis, keepdims=keepdims, dtype=_keras_sum_dtype(value.dtype))
    return _make(out, [x], [lambda g: _expand_reduced(xp, g, value.shape, axis, keepdims)])


def _keras_sum_dtype(dtype):
    """A sum's type in Keras (JAX's rule): small integers and booleans sum in 32 bits, other types in their own
    (NumPy widens every integer to 64 bits)."""
    dtype = np.dtype(dtype)
    if dtype.kind in "bi":
        return np.dtype("int32") if dtype.itemsize < 4 or dtype.kind == "b" else dtype
    if dtype.kind == "u":
        return np.dtype("uint32") if dtype.itemsize < 4 else dtype
    return None


def _keras_running_dtype(dtype):
    """A running sum's or product's type in Keras: booleans count in int32, numbers keep their type (NumPy widens
    every integer to 64 bits)."""
    dtype = np.dtype(dtype)
    return np.dtype("int32") if dtype.kind == "b" else dtype if dtype.kind in "iu" else None


def mean(x, axis=None, keepdims=False):
    xp = array_module(x)
    axis = _axis_argument(axis)
    value = _array_of(x, xp)
    if value.dtype.kind in "iub":  # Keras's mean of integers is a float
        value = value.astype("float32")
    out = xp.mean(value, axis=axis, keepdims=keepdims)
    count = builtins.max(1, int(np.prod([value.shape[a] for a in _axis_tuple(axis, value.ndim)])))
    return _make(out, [x], [lambda g: _expand_reduced(xp, g, value.shape, axis, keepdims) / count])


def _chooser(x, axis, keepdims, function):
    xp = array_module(x)
    axis = _axis_argument(axis)
    value = _array_of(x, xp)
    out = getattr(xp, function)(value, axis=axis, keepdims=keepdims)

    def rule(g):
        chosen = value == _expand_reduced(xp, out, value.shape, axis, keepdims)
        ties = xp.sum(chosen, axis=axis, keepdims=True)
        return _expand_reduced(xp, g, value.shape, axis, keepdims) * chosen / ties

    return _make(out, [x], [rule])


def max(x, axis=None, keepdims=False, initial=None):  # noqa: A001 (Keras's name)
    return _with_initial(x, axis, keepdims, "max", initial, maximum)


def min(x, axis=None, keepdims=False, initial=None):  # noqa: A001 (Keras's name)
    return _with_initial(x, axis, keepdims, "min", initial, minimum)


def _with_initial(x, axis, keepdims, function, initial, combine):
    """Keras's ``initial``: the reduction also takes this value into account, cast to x's type first (as JAX casts
    it: ``max(int32_array, initial=-1.5)`` is int32), and is the result where there is nothing to reduce."""
    if initial is None:
        return _chooser(x, axis, keepdims, function)
    xp = array_module(x)
    value = _array_of(x, xp)
    initial = xp.asarray(_value(initial, xp)).astype(value.dtype)
    if value.size == 0:  # (no element to carry a gradient)
        return Tensor(getattr(xp, function)(value, axis=_axis_argument(axis), keepdims=keepdims, initial=initial))
    return combine(_chooser(x, axis, keepdims, function), initial)


amax, amin = max, min


def prod(x, axis=None, keepdims=False, dtype=None):
    if dtype is not None:
        return prod(cast(x, dtype), axis=axis, keepdims=keepdims)
    xp = array_module(x)
    axis = _axis_argument(axis)
    value = _array_of(x, xp)
    out = xp.prod(value, axis=axis, keepdims=keepdims, dtype=_keras_sum_dtype(value.dtype))

    def rule(g):
        # d prod / d x_i = the product of the other factors (exact where factors are 0, unlike prod / x_i): the
        # reduced axes moved last and flattened, the products before and after each factor multiplied
        axes = _axis_tuple(axis, value.ndim)
        rest = [a for a in range(value.ndim) if a not in axes]
        moved = xp.transpose(value, rest + list(axes))
        flat = moved.reshape(moved.shape[:len(rest)] + (-1,))
        ones = xp.ones(flat.shape[:-1] + (1,), dtype=flat.dtype)
        before = xp.cumprod(xp.concatenate([ones, flat[..., :-1]], axis=-1), axis=-1)
        after = xp.flip(xp.cumprod(xp.concatenate([ones, xp.flip(flat, -1)[..., :-1]], axis=-1), axis=-1), -1)
        others = (before * after).reshape(moved.shape)
        others = xp.transpose(others, np.argsort(rest + list(axes)))
        return _expand_reduced(xp, g, value.shape, axis, keepdims) * others

    return _make(out, [x], [rule])


def var(x, axis=None, keepdims=False):
    centred = subtract(x, mean(x, axis=axis, keepdims=True))
    return mean(square(centred), axis=axis, keepdims=keepdims)


def std(x, axis=None, keepdims=False):
    return sqrt(var(x, axis=axis, keepdims=keepdims))


def _in_float(x):
    """``x`` as Keras's ``norm`` and ``logsumexp`` take it (``result_type(x.dtype, "float32")``): integers and
    booleans cast to floatx before any arithmetic (in their own type, ``x - max(x)`` or ``x * x`` would wrap),
    Python numbers in Keras's types, floats as they are."""
    if _tensor(x) is None:
        x = Tensor(_array_of(x, array_module(x)))
    return cast(x, floatx()) if _value(x).dtype.kind in "biu" else x


def logsumexp(x, axis=None, keepdims=False):
    x = _in_float(x)
    top = stop_gradient(max(x, axis=axis, keepdims=True))
    top = where(isfinite(top), top, 0.0)  # (an infinite maximum: inf - inf would give NaN; SciPy's guard)
    with np.errstate(divide="ignore"):  # (log(0): -inf for a row of -inf, as SciPy's gives it)
        total = log(sum(exp(subtract(x, top)), axis=axis, keepdims=True))
    out = add(total, top)
    return out if keepdims else squeeze(out, axis=axis)


def norm(x, ord=None, axis=None, keepdims=False):
    """Keras's ``ops.norm`` (NumPy's ``linalg.norm``): a vector norm (1-D, or an int axis: ord None/2, inf, -inf, 0
    (the count of non-zeros) or a number p, negative too), or a matrix norm (2-D with axis None, or two axes: 'fro'
    / None, 'nuc' (the sum of the singular values), 1 / -1 (the largest / smallest column sum of |x|), inf / -inf
    (the same of the rows), 2 / -2 (the largest / smallest singular value)). Gradients are those of the formulas
    (the singular values' are u v^T: defined where they are distinct and not 0); at ties of the 1 and inf norms the
    maximum's gradient is shared, as ``max``'s."""
    x = _in_float(x)
    rank = len(_shape(x))
    matrix = (axis is None and rank == 2) or (isinstance(axis, (list, tuple)) and len(axis) == 2)
    if matrix:
        return _matrix_norm(x, ord, (0, 1) if axis is None else tuple(int(a) % rank for a in axis), keepdims)
    if axis is None and rank != 1:
        if ord not in (None, 2):
            raise ValueError(f"ord: the norm of a {rank}-D array over all its axes takes None or 2, got {ord!r}")
        return sqrt(sum(square(x), keepdims=keepdims))
    if isinstance(ord, str) or isinstance(ord, bool) or not (ord is None or isinstance(ord, (int, float))):
        raise ValueError(f"Invalid norm order '{ord}' for vectors")  # NumPy's message
    if ord in (None, 2):
        return sqrt(sum(square(x), axis=axis, keepdims=keepdims))
    if ord == 1:
        return sum(absolute(x), axis=axis, keepdims=keepdims)
    if ord == np.inf:
        return max(absolute(x), axis=axis, keepdims=keepdims)
    if ord == -np.inf:
        return min(absolute(x), axis=axis, keepdims=keepdims)
    if ord == 0:  # the count of non-zeros, in x's float type (piecewise constant: gradient 0)
        return sum(cast(not_equal(x, 0), str(_value(x).dtype)), axis=axis, keepdims=keepdims)
    return power(sum(power(absolute(x), ord), axis=axis, keepdims=keepdims), 1.0 / ord)


def _matrix_norm(x, ord, axes, keepdims):
    rows, columns = axes
    if rows == columns:
        raise ValueError("Duplicate axes given.")  # NumPy's message
    if ord in (None, "fro"):
        out = sqrt(sum(square(x), axis=axes, keepdims=True))
    elif ord in (2, -2, "nuc"):
        out = _singular_norm(x, axes, {2: "largest", -2: "smallest", "nuc": "sum"}[ord])
    elif ord in (1, -1, np.inf, -np.inf):
        # 1: the largest column sum (summed over the rows); inf: the largest row sum; negative: the smallest
        summed, chosen = (rows, columns) if ord in (1, -1) else (columns, rows)
        extreme = max if ord in (1, np.inf) else min
        out = extreme(sum(absolute(x), axis=summed, keepdims=True), axis=chosen, keepdims=True)
    else:
        raise ValueError(f"Invalid norm order '{ord}' for matrices")  # NumPy's message
    return out if keepdims else squeeze(out, axis=axes)


def _singular_norm(x, axes, which):
    """The largest or smallest singular value over the two ``axes``, or their sum (the nuclear norm), with the
    axes kept (of size 1); the gradient of a singular value is u v^T, of their sum U V^T."""
    xp = array_module(x)
    value = _array_of(x, xp)
    moved = xp.moveaxis(value, axes, (-2, -1))
    u, singular, vt = xp.linalg.svd(moved, full_matrices=False)
    if which == "sum":
        out, pick = singular.sum(axis=-1), slice(None)
    else:
        k = 0 if which == "largest" else singular.shape[-1] - 1  # (NumPy's svd sorts them, largest first)
        out, pick = singular[..., k], slice(k, k + 1)
    out = xp.moveaxis(out[..., None, None], (-2, -1), axes)

    def rule(g):
        g = xp.moveaxis(g, axes, (-2, -1))
        return xp.moveaxis(g * (u[..., :, pick] @ vt[..., pick, :]), (-2, -1), axes)

    return _make(out.astype(value.dtype, copy=False), [x], [rule])


def cumsum(x, axis=None, dtype=None):
    if dtype is not None:
        return cumsum(cast(x, dtype), axis=axis)
    xp = array_module(x)
    value = _array_of(x, xp)
    if axis is None:
        return cumsum(reshape(x, (-1,)), axis=0)
    out = xp.cumsum(value, axis=axis, dtype=_keras_running_dtype(value.dtype))
    return _make(out, [x], [lambda g: xp.flip(xp.cumsum(xp.flip(g, axis), axis=axis), axis)])


# ---- shapes -------------------------------------------------------------------------------------------------------

def _reshaping(x, forward, back):
    xp = array_module(x)
    value = _array_of(x, xp)
    out = forward(xp, value)
    return _make(out, [x], [lambda g: back(xp, g, value)])


def reshape(x, newshape):
    dims = [newshape] if isinstance(newshape, (int, np.integer)) else \
        [d for d in newshape if isinstance(d, (int, np.integer))] if isinstance(newshape, (tuple, list)) else []
    if builtins.any(d < -1 for d in dims) or builtins.sum(d == -1 for d in dims) > 1:  # Keras's checks
        raise ValueError("Each dimension in `newshape` must be a non-negative integer, or `-1` for a single unknown "
                         f"dimension, with at most one -1. Received: newshape={newshape}.")
    return _reshaping(x, lambda xp, v: xp.reshape(v, newshape), lambda xp, g, v: g.reshape(v.shape))


def ravel(x):
    return reshape(x, (-1,))


def expand_dims(x, axis):
    return _reshaping(x, lambda xp, v: xp.expand_dims(v, axis), lambda xp, g, v: g.reshape(v.shape))


def squeeze(x, axis=None):
    axis = _axis_argument(axis)
    return _reshaping(x, lambda xp, v: xp.squeeze(v, axis=axis), lambda xp, g, v: g.reshape(v.shape))


def transpose(x, axes=None):
    def back(xp, g, v):
        order = tuple(reversed(range(v.ndim))) if axes is None else tuple(int(a) % v.ndim for a in axes)
        return xp.transpose(g, np.argsort(order))

    return _reshaping(x, lambda xp, v: xp.transpose(v, axes), back)


def broadcast_to(x, shape):
    return _reshaping(x, lambda xp, v: xp.broadcast_to(v, shape), lambda xp, g, v: _unbroadcast(xp, g, v.shape))


def get_item(x, key):
    xp = array_module(x)
    value = _array_of(x, xp)
    key = tuple(_value(k, xp) for k in key) if isinstance(key, tuple) else _value(key, xp)
    out = value[key]

    def rule(g):
        full = xp.zeros(value.shape, dtype=g.dtype)
        if hasattr(xp, "add") and hasattr(xp.add, "at"):
            xp.add.at(full, key, g)  # repeated indices add up
        else:  # CuPy
            import cupyx

            cupyx.scatter_add(full, key, g)
        return full

    return _make(out, [x], [rule])


def concatenate(xs, axis=0):
    if axis is None:  # NumPy's and Keras's: the arrays flattened, then joined
        return concatenate([reshape(x, (-1,)) for x in xs], axis=0)
    xp = array_module(*xs)
    values = [_array_of(x, xp) for x in xs]
    out = _as_keras_float(xp.concatenate(values, axis=axis), *xs)
    bounds = np.cumsum([v.shape[axis] for v in values])[:-1]
    rules = [lambda g, k=k: xp.split(g, bounds, axis=axis)[k] for k in range(len(values))]
    return _make(out, list(xs), rules)


def stack(x, axis=0):
    return concatenate([expand_dims(item, axis) for item in x], axis=axis)


def tile(x, repeats):
    xp = array_module(x)
    value = _array_of(x, xp)
    out = xp.tile(value, repeats)
    reps = (1,) * (out.ndim - len(np.atleast_1d(repeats))) + tuple(np.atleast_1d(repeats))
    shape = (1,) * (out.ndim - value.ndim) + value.shape

    def rule(g):
        split = g.reshape([n for r, s in zip(reps, shape) for n in (r, s)])
        return split.sum(axis=tuple(range(0, 2 * len(shape), 2))).reshape(value.shape)

    return _make(out, [x], [rule])


# ---- products -----------------------------------------------------------------------------------------------------

def _product(xp, a, b):
    """``a @ b``; on the host, 2-D, as gpunn's CPU ops multiply: through MKL's thread pool where gpunn uses MKL
    (``ops/mkl_gemm.py``). NumPy's product would wake OpenBLAS's pool, whose spinning workers and MKL's then fight
    for the cores: a layer of the user's multiplying between the model's Dense layers ran ten times slower."""
    if xp is np and a.ndim == 2 and b.ndim == 2:
        from ..ops import mkl_gemm  # here, not above: gpunn.ops imports this module

        gemm = mkl_gemm.make()
        if gemm is not None and a.shape[0] * a.shape[1] * b.shape[1] >= mkl_gemm.SMALL_PRODUCT:
            out = np.empty((a.shape[0], b.shape[1]), dtype=np.result_type(a, b))
            # A layout MKL cannot take (a broadcast gradient) is copied first, as NumPy would copy it
            if gemm.matmul(a, b, out) or gemm.matmul(np.ascontiguousarray(a), np.ascontiguousarray(b), out):
                return out
    return xp.matmul(a, b)


def int8_accumulated(*operands) -> tuple:
    """Keras's rule for ``ops.matmul`` and ``ops.einsum`` (only those: its dot, tensordot and ``@`` keep int8) of
    int8 operands only: an int32 result, as its backends accumulate int8 products (a quantized layer's matmul),
    where int8 arithmetic would wrap around. The operands, cast to int32 where the rule applies."""
    if operands and {str(getattr(x, "dtype", "")) for x in operands} == {"int8"}:  # (``all`` is ops.all here)
        return tuple(cast(x, "int32") for x in operands)
    return operands


def _keras_matmul(x1, x2):
    """``keras.ops.matmul``: ``matmul`` with Keras's int8 rule (``int8_accumulated``)."""
    return matmul(*int8_accumulated(x1, x2))


def matmul(x1, x2):
    """NumPy's matmul, 1-D operands included (promoted to a row / a column, as NumPy does, for the gradient)."""
    xp = array_module(x1, x2)
    a, b = xp.asarray(_value(x1, xp)), xp.asarray(_value(x2, xp))
    out = _as_keras_float(_product(xp, a, b), x1, x2)
    a2 = a[None, :] if a.ndim == 1 else a
    b2 = b[:, None] if b.ndim == 1 else b

    def promoted(g):  # the gradient of the output, with the axes a 1-D operand lost put back
        if a.ndim == 1:
            g = xp.expand_dims(g, -2 if b.ndim > 1 else 0)
        if b.ndim == 1:
            g = xp.expand_dims(g, -1)
        return g

    def grad_a(g):
        full = _product(xp, promoted(g), xp.swapaxes(b2, -1, -2))
        return _unbroadcast(xp, full, a2.shape).reshape(a.shape)

    def grad_b(g):
        full = _product(xp, xp.swapaxes(a2, -1, -2), promoted(g))
        return _unbroadcast(xp, full, b2.shape).reshape(b.shape)

    return _make(out, [x1, x2], [grad_a, grad_b])


def dot(x1, x2):
    """NumPy's (and Keras's) dot: a product with a scalar, the inner product of vectors, else a sum over x1's
    last axis and x2's second-to-last (its only axis when 1-D)."""
    rank_a, rank_b = len(_shape(x1)), len(_shape(x2))
    if rank_a == 0 or rank_b == 0:
        return multiply(x1, x2)
    if rank_b <= 2:
        return matmul(x1, x2)
    # x2 of rank > 2: its second-to-last axis first, the rest flattened; one matmul; then the axes laid out
    shape_b = _shape(x2)
    order = [rank_b - 2] + [k for k in range(rank_b) if k != rank_b - 2]
    flat = reshape(transpose(x2, order), (shape_b[-2], -1))
    rest = tuple(shape_b[k] for k in order[1:])
    return reshape(matmul(x1, flat), tuple(_shape(x1)[:-1]) + rest)


# ---- dtypes and constructors --------------------------------------------------------------------------------------

def cast(x, dtype):
    dtype = floatx() if dtype is None else dtype  # Keras's standardize_dtype(None)
    xp = array_module(x)
    value = _array_of(x, xp)
    out = value.astype(dtype)
    if np.dtype(dtype).kind != "f" or value.dtype.kind != "f":
        return Tensor(out)  # integers and booleans carry no gradient
    return _make(out, [x], [lambda g: g.astype(value.dtype)])


def convert_to_tensor(x, dtype=None, sparse=None, ragged=None):
    if sparse or ragged:
        raise ValueError("sparse, ragged: gpunn's tensors are dense arrays; leave them None or False")
    tensor = _tensor(x)  # a Tensor, or a layer's weight (its gradient kept: keras-io's PositionEmbedding converts one)
    if tensor is not None:
        return tensor if dtype is None else cast(tensor, dtype)
    xp = array_module(x)
    value = xp.asarray(x)
    if dtype is None and not isinstance(x, (np.ndarray, np.generic)) and not hasattr(x, "__cuda_array_interface__"):
        value = _python_numbers_as_keras(x, value)
        if value.dtype == np.float64:  # another array-like (a pandas Series): floatx, as Keras on jax gives it
            value = value.astype(floatx())
    return Tensor(value if dtype is None else value.astype(dtype))


def _python_numbers_as_keras(x, value):
    """An array NumPy made of Python numbers (a list, a float) in Keras's types: floats as floatx, integers as
    int32 where they fit (NumPy makes float64 and int64); NumPy values in a list keep their types."""
    if value.dtype == np.float64 and _only_python_numbers(x):
        return value.astype(floatx())
    if value.dtype == np.int64 and _only_python_numbers(x) and (
            value.size == 0 or -2 ** 31 <= int(value.min()) and int(value.max()) < 2 ** 31):
        return value.astype("int32")
    return value


def _only_python_numbers(x) -> bool:
    if isinstance(x, (list, tuple)):
        return builtins.all(_only_python_numbers(item) for item in x)
    return isinstance(x, (bool, int, float)) and not isinstance(x, np.generic)  # (np.float64 keeps its type)


def convert_to_numpy(x):
    """A host NumPy array of ``x``: a copy of a Tensor's values (of a weight's too: a snapshot, as Keras's), a
    device array copied back, or what NumPy makes of it."""
    tensor = _tensor(x)
    if tensor is not None:  # (a device array's host copy is a copy already)
        if tensor.requires_grad and isinstance(tensor.value, np.ndarray):
            DETACHMENTS.count += 1  # (a gradient cut here: user_layer.py reports it)
        return np.array(tensor.value, copy=True) if isinstance(tensor.value, np.ndarray) else tensor.numpy()
    return x.get() if hasattr(x, "__cuda_array_interface__") and not isinstance(x, np.ndarray) else np.asarray(x)


def ones_like(x, dtype=None):
    xp = array_module(x)
    return Tensor(xp.ones_like(_array_of(x, xp), dtype=dtype))


def zeros_like(x, dtype=None):
    xp = array_module(x)
    return Tensor(xp.zeros_like(_array_of(x, xp), dtype=dtype))


def full_like(x, fill_value, dtype=None):
    xp = array_module(x)
    return Tensor(xp.full_like(_array_of(x, xp), fill_value, dtype=dtype))


def ones(shape, dtype=None):
    return Tensor(np.ones(shape, dtype=dtype or floatx()))


def zeros(shape, dtype=None):
    return Tensor(np.zeros(shape, dtype=dtype or floatx()))


def arange(start, stop=None, step=1, dtype=None):
    """Python numbers give Keras's types: int32, or floatx when one is a float (NumPy's would be 64-bit)."""
    if dtype is None and builtins.all(isinstance(v, (int, float)) for v in (start, stop, step) if v is not None):
        dtype = floatx() if builtins.any(isinstance(v, float) for v in (start, stop, step)) else "int32"
    return Tensor(np.arange(start, stop, step, dtype=dtype))


def shape(x) -> tuple:
    return _shape(x)


def ndim(x) -> int:
    return len(_shape(x))


def size(x) -> int:
    return int(np.prod(_shape(x)))


def is_tensor(x) -> bool:
    return isinstance(x, Tensor)


# ---- activations --------------------------------------------------------------------------------------------------

def relu(x):
    return _unary(x, lambda xp, v: xp.maximum(v, 0), lambda xp, v, o: v > 0)


def _stable_sigmoid(xp, v):
    """1 / (1 + exp(-v)), stable on both sides: exp of a non-positive number only (no overflow, no warning, for a
    very negative v)."""
    e = xp.exp(-xp.abs(v))
    return xp.where(v >= 0, 1 / (1 + e), e / (1 + e))


def sigmoid(x):
    return _unary(x, _stable_sigmoid, lambda xp, v, o: o * (1 - o))


def softplus(x):
    return _unary(x, lambda xp, v: xp.logaddexp(v, 0), lambda xp, v, o: _stable_sigmoid(xp, v))


def softsign(x):
    return _unary(x, lambda xp, v: v / (1 + xp.abs(v)), lambda xp, v, o: 1 / (1 + xp.abs(v)) ** 2)


def silu(x):
    return multiply(x, sigmoid(x))


swish = silu


def elu(x, alpha=1.0):
    return _unary(x, lambda xp, v: xp.where(v > 0, v, alpha * xp.expm1(xp.minimum(v, 0))),
                  lambda xp, v, o: xp.where(v > 0, 1, o + alpha))


def leaky_relu(x, negative_slope=0.2):
    return _unary(x, lambda xp, v: xp.where(v > 0, v, negative_slope * v),
                  lambda xp, v, o: xp.where(v > 0, 1, negative_slope))


def softmax(x, axis=-1):
    shifted = subtract(x, stop_gradient(max(x, axis=axis, keepdims=True)))
    e = exp(shifted)
    return divide(e, sum(e, axis=axis, keepdims=True))


def log_softmax(x, axis=-1):
    shifted = subtract(x, stop_gradient(max(x, axis=axis, keepdims=True)))
    return subtract(shifted, log(sum(exp(shifted), axis=axis, keepdims=True)))


def log_sigmoid(x):
    return negative(softplus(negative(x)))


def fused_activation(x, name: str, alpha: float):
    """One of gpunn's element-wise activations (``activations.ELEMENTWISE``) computed and differentiated by the
    backend's fused bias + activation step, as a Dense layer computes it: ``gpunn.activations.gelu(x)`` inside a
    layer's call()."""
    from ..activations import NEEDS_PREACTIVATION
    from ..ops import NumpyOps, get_ops

    xp = array_module(x)
    value = _array_of(x, xp)
    value = value.astype(np.result_type(value.dtype, np.float32), copy=False)
    ops = NumpyOps() if xp is np else get_ops()
    z = xp.ascontiguousarray(value).reshape(-1, value.shape[-1]) if value.ndim else value.reshape(1, 1)
    y = xp.empty_like(z)
    ops.bias_act_forward(z, None, name, y, alpha)

    def rule(grad):
        dy = xp.ascontiguousarray(grad, dtype=y.dtype).reshape(y.shape)
        dz = xp.empty_like(z)
        ops.act_backward_bias_grad(dy, y, z if name in NEEDS_PREACTIVATION else None, name, dz, None, alpha)
        return dz.reshape(value.shape)

    return _make(y.reshape(value.shape), [x], [rule])


# ---- losses, as keras.ops computes them -----------------------------------------------------------------------

def _same_shapes(target, output, at_least_rank_1: bool = True) -> None:
    """Keras's check of its cross-entropy ops: the target of the output's shape (no broadcasting); of rank 1 at
    least but for the binary one, element-wise."""
    if _shape(target) != _shape(output):
        raise ValueError("Arguments `target` and `output` must have the same shape. Received: "
                         f"target.shape={_shape(target)}, output.shape={_shape(output)}")
    if at_least_rank_1 and not _shape(target):
        raise ValueError("Arguments `target` and `output` must be at least rank 1. Received: "
                         f"target.shape={_shape(target)}, output.shape={_shape(output)}")


def binary_crossentropy(target, output, from_logits=False):
    """Element-wise, as ``keras.ops.binary_crossentropy`` (probabilities clipped to [eps, 1 - eps])."""
    _same_shapes(target, output, at_least_rank_1=False)
    if from_logits:
        # log(1 + e^x) - x * t, written stably: max(x, 0) - x t + log(1 + e^-|x|)
        return add(subtract(relu(output), multiply(output, target)), softplus(negative(absolute(output))))
    output = clip(output, epsilon(), 1 - epsilon())
    return negative(add(multiply(target, log(output)), multiply(subtract(1, target), log(subtract(1, output)))))


def categorical_crossentropy(target, output, from_logits=False, axis=-1):
    """Per row, as ``keras.ops.categorical_crossentropy`` (rows normalised, then clipped)."""
    _same_shapes(target, output)
    if from_logits:
        return negative(sum(multiply(target, log_softmax(output, axis=axis)), axis=axis))
    output = divide(output, sum(output, axis=axis, keepdims=True))
    output = clip(output, epsilon(), 1 - epsilon())
    return negative(sum(multiply(target, log(output)), axis=axis))


def sparse_categorical_crossentropy(target, output, from_logits=False, axis=-1):
    ids = cast(target, "int64")
    if len(_shape(ids)) == len(_shape(output)) and _shape(ids)[-1] == 1:
        ids = squeeze(ids, axis=-1)
    if not _shape(output):
        raise ValueError(f"Argument `output` must be at least rank 1. Received: output.shape={_shape(output)}")
    if _shape(ids) != _shape(output)[:-1]:
        raise ValueError("Arguments `target` and `output` must have the same shape up until the last dimension: "
                         f"target.shape={_shape(ids)}, output.shape={_shape(output)}")
    return categorical_crossentropy(one_hot(ids, _shape(output)[axis], dtype=str(_value(output).dtype)), output,
                                    from_logits=from_logits, axis=axis)


# NumPy functions and ufuncs called on a Tensor (``np.mean(y_pred)``), sent to the functions above
UFUNCS = {"add": add, "subtract": subtract, "multiply": multiply, "true_divide": divide, "divide": divide,
          "negative": negative, "power": power, "square": square, "sqrt": sqrt, "absolute": absolute, "exp": exp,
          "expm1": expm1, "log": log, "log1p": log1p, "log2": log2, "log10": log10, "sin": sin, "cos": cos,
          "tanh": tanh, "maximum": maximum, "minimum": minimum, "equal": equal, "not_equal": not_equal,
          "greater": greater, "greater_equal": greater_equal, "less": less, "less_equal": less_equal,
          "logical_and": logical_and, "logical_or": logical_or, "logical_not": logical_not, "sign": sign,
          "floor": floor, "ceil": ceil, "isnan": isnan, "isfinite": isfinite, "matmul": matmul}
ARRAY_FUNCTIONS = {"mean": mean, "sum": sum, "max": max, "min": min, "amax": max, "amin": min, "prod": prod,
                   "var": var, "std": std, "clip": clip, "where": where, "reshape": reshape, "squeeze": squeeze,
                   "expand_dims": expand_dims, "transpose": transpose, "concatenate": concatenate, "stack": stack,
                   "argmax": argmax, "argmin": argmin, "round": round, "around": round, "dot": dot,
                   "all": all, "any": any, "cumsum": cumsum, "broadcast_to": broadcast_to, "tile": tile,
                   "ones_like": ones_like, "zeros_like": zeros_like, "full_like": full_like, "shape": shape,
                   "ndim": ndim, "size": size, "ravel": ravel}
