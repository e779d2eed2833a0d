"""``keras.ops``'s control flow and function transformations, run eagerly as Keras's NumPy backend runs them:
``cond``, ``switch``, ``while_loop``, ``fori_loop``, ``scan``, ``associative_scan``, ``map``, ``vectorized_map``,
``vectorize`` and ``custom_gradient``, plus ``saturate_cast`` and ``dtype``.

gpunn's functions record every operation they run, so a loop or a branch written with these is differentiated
through the iterations and the branch that ran; ``custom_gradient`` replaces the recorded gradient of a function
with one of the user's. Nested structures (lists, tuples, dicts) of arrays are taken where Keras takes them."""
from __future__ import annotations

import builtins
import re

import numpy as np

from . import functions as fns
from .default_float import floatx
from .functions import _make, _tensor, _value, array_module
from .tensor import Tensor


# ---- nested structures, as keras.tree flattens them (dicts by sorted key) -----------------------------------------

def _is_nested(x) -> bool:
    return isinstance(x, (list, tuple, dict))


def _flatten(x) -> list:
    if isinstance(x, dict):
        return [leaf for key in sorted(x) for leaf in _flatten(x[key])]
    if isinstance(x, (list, tuple)):
        return [leaf for item in x for leaf in _flatten(item)]
    return [x]


def _pack(structure, leaves: list):
    """``leaves`` put back into the shape of ``structure``."""
    leaves = iter(leaves)

    def build(s):
        if isinstance(s, dict):
            built = {key: build(s[key]) for key in sorted(s)}  # the leaves come in sorted-key order
            return type(s)((key, built[key]) for key in s)
        if isinstance(s, tuple) and hasattr(s, "_fields"):  # a namedtuple
            return type(s)(*[build(item) for item in s])
        if isinstance(s, (list, tuple)):
            return type(s)(build(item) for item in s)
        return next(leaves)

    return build(structure)


def _as_tensor(x):
    if _tensor(x) is not None or isinstance(x, Tensor):
        return x
    value = fns._array_of(x, np) if not hasattr(x, "dtype") else x  # Python numbers as Keras's (int32, float32)
    if isinstance(value, np.ndarray) and value.dtype.kind == "f" and not hasattr(x, "dtype"):
        value = value.astype("float32")  # Python floats as Keras converts them
    return Tensor(value)


def _python_numbers_as_tensors(values) -> tuple:
    """Loop variables given as Python numbers, as the arrays Keras's loops make of them (``while_loop(..., 0)``
    gives an int32 array, not a Python int)."""
    return tuple(_as_tensor(v) if fns._only_python_numbers(v) and not isinstance(v, (list, tuple)) else v
                 for v in values)


# ---- branches and loops ---------------------------------------------------------------------------------------------

def cond(pred, true_fn, false_fn):
    """``true_fn()`` if ``pred`` else ``false_fn()``."""
    return true_fn() if bool(fns.convert_to_numpy(pred)) else false_fn()


def switch(index, branches, *operands):
    """``branches[index](*operands)``, the index clipped into the list (as JAX does)."""
    chosen = int(np.clip(int(fns.convert_to_numpy(index)), 0, len(branches) - 1))
    return branches[chosen](*operands)


def while_loop(cond, body, loop_vars, maximum_iterations=None):  # noqa: A002 (Keras's argument name)
    """``loop_vars = body(*loop_vars)`` while ``cond(*loop_vars)``, at most ``maximum_iterations`` times. A tuple or
    list of loop variables gives a tuple; a single one, itself."""
    is_tuple = isinstance(loop_vars, (tuple, list))
    values = _python_numbers_as_tensors(tuple(loop_vars) if is_tuple else (loop_vars,))
    done = 0
    while (maximum_iterations is None or done < maximum_iterations) and bool(fns.convert_to_numpy(cond(*values))):
        outputs = body(*values)
        values = tuple(outputs) if is_tuple else (outputs,)
        done += 1
    return values if is_tuple else values[0]


def fori_loop(lower, upper, body_fun, init_val):
    """``val = body_fun(i, val)`` for i from ``lower`` to ``upper`` - 1."""
    (value,) = _python_numbers_as_tensors((init_val,))
    for i in range(int(fns.convert_to_numpy(lower)), int(fns.convert_to_numpy(upper))):
        value = body_fun(i, value)
    return value


def _stacked(structure_of_lists):
    return fns.stack([_as_tensor(item) for item in structure_of_lists], axis=0)


def scan(f, init, xs=None, length=None, reverse=False, unroll=1):
    """``carry, y = f(carry, x)`` over the leading axis of ``xs`` (``length`` times when ``xs`` is None); returns
    the last carry and the ``y``s stacked (in the order of ``xs`` also when ``reverse``)."""
    if not callable(f):
        raise TypeError(f"`f` should be a callable. Received: f={f}")
    if not isinstance(unroll, bool) and (not isinstance(unroll, int) or unroll < 1):
        raise ValueError(f"`unroll` must be an positive integer or boolean. Received: unroll={unroll}")
    if xs is None and length is None:
        raise ValueError("Got no `xs` to scan over and `length` not provided.")
    xs_flat = [] if xs is None else [_as_tensor(x) for x in _flatten(xs)]
    steps = int(length) if length is not None else fns._shape(xs_flat[0])[0]
    carry = _pack(init, [_as_tensor(leaf) for leaf in _flatten(init)]) if _is_nested(init) else _as_tensor(init)
    ys = []
    order = range(steps - 1, -1, -1) if reverse else range(steps)
    for i in order:
        x = None if xs is None else (_pack(xs, [leaf[i] for leaf in xs_flat]) if _is_nested(xs) else xs_flat[0][i])
        carry, y = f(carry, x)
        ys.append(y)
    if reverse:
        ys = ys[::-1]
    if not ys or ys[0] is None:
        return carry, None
    first = ys[0]
    if not _is_nested(first):
        return carry, _stacked(ys)
    leaves = [_flatten(y) for y in ys]
    return carry, _pack(first, [_stacked([leaf[k] for leaf in leaves]) for k in range(len(leaves[0]))])


def map(f, xs):  # noqa: A001 (Keras's name)
    """``f(x)`` for each ``x`` along the leading axis of ``xs`` (a nested structure too), stacked."""
    def step(_, x):
        return (), f(x)

    return scan(step, (), xs)[1]


def vectorized_map(function, elements):
    """``function`` of each slice along the leading axis, stacked: one array, a list / tuple of arrays sliced
    together (``function`` then gets a list), or a dict of them (``function`` gets a dict of their slices)."""
    if isinstance(elements, dict):
        items = {key: _as_tensor(x) for key, x in elements.items()}
        count = fns._shape(next(iter(items.values())))[0]
        results = [function({key: x[i] for key, x in items.items()}) for i in range(count)]
    elif not isinstance(elements, (list, tuple)):
        x = _as_tensor(elements)
        results = [function(x[i]) for i in range(fns._shape(x)[0])]
    else:
        items = [_as_tensor(x) for x in elements]
        results = [function([x[i] for x in items]) for i in range(fns._shape(items[0])[0])]
    if not _is_nested(results[0]):
        return _stacked(results)
    leaves = [_flatten(result) for result in results]  # a structure of results: each leaf stacked, as scan's
    return _pack(results[0], [_stacked([leaf[k] for leaf in leaves]) for k in range(len(leaves[0]))])


def associative_scan(f, elems, reverse=False, axis=0):
    """The running combination ``f(...f(f(e0, e1), e2)..., ek)`` of the slices of ``elems`` along ``axis``
    (``f`` associative, so the order of evaluation does not matter): one result per slice, of ``elems``'s
    structure."""
    if not callable(f):
        raise TypeError(f"`f` should be a callable. Received: f={f}")
    leaves = [_as_tensor(leaf) for leaf in _flatten(elems)]
    count = fns._shape(leaves[0])[axis]
    if not builtins.all(fns._shape(leaf)[axis] == count for leaf in leaves[1:]):
        raise ValueError("Array inputs to associative_scan must have the same first dimension. (saw: {})".format(
            [fns._shape(leaf) for leaf in leaves]))

    def slice_at(k):
        index = (builtins.slice(None),) * (axis % len(fns._shape(leaves[0]))) + (builtins.slice(k, k + 1),)
        return [leaf[index] for leaf in leaves]

    order = range(count - 1, -1, -1) if reverse else range(count)
    running, results = None, []
    for k in order:
        current = slice_at(k)
        running = current if running is None else _flatten(f(_pack(elems, running), _pack(elems, current)))
        results.append(running)
    if reverse:
        results = results[::-1]
    return _pack(elems, [fns.concatenate([r[k] for r in results], axis=axis) for k in range(len(leaves))])


_DIMS = r"\(\s*(?:\w+\s*(?:,\s*\w+\s*)*)?\)"


def _signature(signature: str):
    """'(m,n),(n)->(m)' as ([['m', 'n'], ['n']], [['m']])."""
    if not re.fullmatch(rf"\s*{_DIMS}(\s*,\s*{_DIMS})*\s*->\s*{_DIMS}(\s*,\s*{_DIMS})*\s*", signature):
        raise ValueError(f"not a valid gufunc signature: {signature}")
    inputs, outputs = signature.split("->")
    parse = lambda side: [[d.strip() for d in group.split(",") if d.strip()]  # noqa: E731
                          for group in re.findall(r"\(([^)]*)\)", side)]
    return parse(inputs), parse(outputs)


def vectorize(pyfunc, *, excluded=None, signature=None):
    """``pyfunc`` mapped over the leading (loop) axes of its arguments, broadcast together, as NumPy's and JAX's
    ``vectorize`` map it: each call gets the arguments' core axes (those ``signature`` names; none without one,
    so each call gets single values). ``excluded``: positions or names of arguments passed as they are."""
    excluded = set(excluded or ())
    cores = _signature(signature) if signature is not None else None

    def vectorized(*args, **kwargs):
        positions = [k for k in range(len(args)) if k not in excluded]
        arrays = [_as_tensor(args[k]) for k in positions]
        core_ranks = [len(core) for core in cores[0]] if cores is not None else [0] * len(arrays)
        if len(core_ranks) != len(arrays):
            raise TypeError(f"wrong number of positional arguments: expected {len(core_ranks)}, got {len(arrays)}")
        loop_shapes = [fns._shape(a)[:len(fns._shape(a)) - rank] for a, rank in zip(arrays, core_ranks)]
        loop = np.broadcast_shapes(*loop_shapes) if loop_shapes else ()
        arrays = [fns.broadcast_to(a, loop + fns._shape(a)[len(shape):]) for a, shape in zip(arrays, loop_shapes)]
        results = []
        for index in np.ndindex(*loop):
            call_args = list(args)
            for k, a in zip(positions, arrays):
                call_args[k] = a[index] if index else a
            results.append(pyfunc(*call_args, **kwargs))
        if not loop:
            return results[0]
        if isinstance(results[0], tuple):
            return tuple(fns.reshape(_stacked([r[k] for r in results]), loop + fns._shape(_as_tensor(results[0][k])))
                         for k in range(len(results[0])))
        return fns.reshape(_stacked(results), loop + fns._shape(_as_tensor(results[0])))

    return vectorized


def custom_gradient(f):
    """A function computing ``f(*args)[0]`` whose gradient is ``f``'s own: ``f`` returns ``(output,
    grad_fn)`` and ``grad_fn(upstream)`` the gradients with respect to the arguments (one, or a tuple of one per
    argument). The operations inside ``f`` are not differentiated."""
    def wrapper(*args):
        detached = [Tensor(_tensor(a).value) if _tensor(a) is not None else a for a in args]
        output, grad_fn = f(*detached)
        value = _tensor(output).value if _tensor(output) is not None else array_module(output).asarray(output)

        def rule(k):
            def gradient(upstream):
                grads = grad_fn(Tensor(upstream))
                grads = grads if isinstance(grads, (tuple, list)) else (grads,)
                g = grads[k]
                return array_module(g).asarray(_value(g)).astype(upstream.dtype, copy=False).reshape(
                    fns._shape(args[k]))
            return gradient

        return _make(value, list(args), [rule(k) for k in range(len(args))])

    return wrapper


# ---- dtypes ----------------------------------------------------------------------------------------------------------

def dtype(x):
    """The dtype of ``x`` as Keras names it (``"float32"``)."""
    return np.dtype(getattr(_tensor(x), "dtype", None) or x.dtype).name


def _limits(dtype_) -> tuple:
    dtype_ = np.dtype(dtype_)
    if dtype_.kind == "b":
        return 0, 1
    if dtype_.kind in "iu":
        return int(np.iinfo(dtype_).min), int(np.iinfo(dtype_).max)
    return float(np.finfo(dtype_).min), float(np.finfo(dtype_).max)


def _exact(value):
    """A NumPy scalar as the Python number it holds (an int or a float, compared with ints exactly)."""
    return value.item()


def saturate_cast(x, dtype):  # noqa: A002 (Keras's argument name)
    """``x`` clipped into the range of ``dtype``, then cast (no wrap-around), as Keras's ``saturate_cast``."""
    dtype = floatx() if dtype is None else dtype  # Keras's standardize_dtype(None)
    x = _as_tensor(x)
    source = np.dtype(_value(x).dtype)
    in_min, in_max = _limits(source)
    out_min, out_max = _limits(dtype)
    # the bounds in the source dtype, nudged inside the target's range where rounding took them out of it
    # (float32's nearest to int32's maximum is 2**31): compared exactly, as Python numbers
    low = np.asarray(max(in_min, out_min)).astype(source)
    if _exact(low) < out_min:
        low = np.nextafter(low, 0, dtype=source)
    high = np.asarray(min(in_max, out_max)).astype(source)
    if _exact(high) > out_max:
        high = np.nextafter(high, 0, dtype=source)
    out = fns.cast(fns.clip(x, low, high), np.dtype(dtype).name)
    if np.dtype(dtype).kind in "iub" and (_exact(high) < out_max or _exact(low) > out_min):
        # a bound nudged inside the range: what lies beyond it saturates at the target's own limit (int32's
        # 2147483647, which float32 cannot hold), as TensorFlow's and XLA's saturating casts give
        xp = array_module(x)
        value = _value(x, xp)
        out = Tensor(xp.where(value > high, out_max, xp.where(value < low, out_min, out.value)).astype(dtype))
    return out
