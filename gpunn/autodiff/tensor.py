"""Tensors that remember how they were computed, so that a function a user writes with ``gpunn.ops`` (a custom
loss, a metric function) can be differentiated.

A ``Tensor`` holds a NumPy or CuPy array (``value``) and, when it was computed from tensors that need a
gradient, the tensors it was computed from and how to send a gradient back to them (``_parents``,
``_backward``). ``gradients(result, wrt)`` walks that record backwards (reverse-mode differentiation of the one
evaluation that ran, as TensorFlow's GradientTape does). Every operation computes eagerly on the array's own
device; nothing is compiled.

Converting a tensor that needs a gradient to a NumPy array (``np.asarray``, a TensorFlow function, NumPy
functions gpunn does not know) would drop its gradient without a word, so it raises instead, naming what to use.
"""
from __future__ import annotations

import sys
import threading

import numpy as np


def array_module(*values):
    """CuPy when any of ``values`` (arrays, Tensors or layer weights) is a CuPy array, else NumPy."""
    for value in values:
        if not isinstance(value, Tensor) and hasattr(value, "_autodiff_tensor"):
            value = value._autodiff_tensor()
        value = value.value if isinstance(value, Tensor) else value
        if type(value).__module__.split(".")[0] == "cupy":
            return sys.modules["cupy"]
    return np


def _reduction(name: str):
    """The Tensor method ``name(axis=None, keepdims=False)``: the gpunn.ops function of that name."""
    def method(self, axis=None, keepdims=False):
        from . import functions
        return getattr(functions, name)(self, axis=axis, keepdims=keepdims)

    method.__name__ = method.__qualname__ = name
    return method


class _Detachments(threading.local):
    """How many times this thread has read the values of a Tensor that needs a gradient (``.numpy()``,
    ``ops.convert_to_numpy``): a layer's call() that did so has cut its gradient there, which its backward pass
    reports (``user_layer._warn_of_lost_gradients``)."""
    count = 0


DETACHMENTS = _Detachments()


class Tensor:
    """An array and, if it needs a gradient, how it was computed."""

    __array_priority__ = 1000  # NumPy hands ``array <op> tensor`` to the tensor's reflected operator

    def __init__(self, value, parents: tuple = (), backward=None, requires_grad: bool | None = None):
        self.value = value
        self._parents = parents
        self._backward = backward  # gradient of the output -> tuple of gradients, one per parent (None: none)
        self.requires_grad = any(p.requires_grad for p in parents) if requires_grad is None else requires_grad

    # ---- what it is -----------------------------------------------------------------------------------------
    @property
    def shape(self) -> tuple:
        return tuple(self.value.shape)

    @property
    def dtype(self):
        return self.value.dtype

    @property
    def ndim(self) -> int:
        return self.value.ndim

    @property
    def size(self) -> int:
        return int(self.value.size)

    def __len__(self) -> int:
        return len(self.value)

    def numpy(self) -> np.ndarray:
        """The values on the host, without the gradient (as ``keras`` tensors' ``.numpy()``)."""
        if self.requires_grad:
            DETACHMENTS.count += 1
        value = self.value
        return value.get() if hasattr(value, "get") else np.asarray(value)

    def __repr__(self) -> str:
        if self.requires_grad:  # a value being differentiated: its numbers are not what the user should read
            return f"<gpunn Tensor shape={self.shape} dtype={self.dtype}>"
        return f"<gpunn Tensor shape={self.shape} dtype={self.dtype} value={self.numpy()!r}>"

    def __str__(self) -> str:
        return repr(self) if self.requires_grad else str(self.numpy())

    def __format__(self, spec: str) -> str:
        """``f"{loss:.4f}"`` formats the value, as for a NumPy value (Keras's eager tensors)."""
        if not spec:
            return str(self)
        return format(self.numpy().item() if self.size == 1 else self.numpy(), spec)

    def __array__(self, dtype=None, copy=None):
        if self.requires_grad:
            raise TypeError(
                "a gpunn Tensor that needs a gradient was converted to a NumPy array, which would drop its gradient "
                "(a NumPy or TensorFlow function, tf.matmul or tf.random.normal..., called in a loss, a metric or "
                "a layer's call()?): write the computation with gpunn.ops (keras.ops), gpunn.random (keras.random) "
                "or gpunn.backend functions, or take .numpy() of a value meant to carry no gradient")
        value = self.numpy()
        return value if dtype is None else value.astype(dtype)

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        # torch.sum(x) in a layer's call() (Keras's torch guides): a message, not torch's "must be Tensor"
        from ..foreign_loops import foreign_function_error

        raise foreign_function_error("torch", func)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        from . import functions

        handler = functions.UFUNCS.get(ufunc.__name__)
        if method != "__call__" or kwargs or handler is None:
            if not any(isinstance(x, Tensor) and x.requires_grad for x in inputs):
                values = [x.value if isinstance(x, Tensor) else x for x in inputs]
                return Tensor(getattr(ufunc, method)(*values, **kwargs))
            raise TypeError(f"numpy.{ufunc.__name__} ({method}) has no gradient in gpunn; use gpunn.ops")
        return handler(*inputs)

    def __array_function__(self, func, types, args, kwargs):
        from . import functions

        handler = functions.ARRAY_FUNCTIONS.get(func.__name__)
        if handler is None:
            if not _any_needs_gradient((args, kwargs)):  # (np.allclose, np.save...: NumPy's own, on the values)
                return func(*_values_of(args), **_values_of(kwargs))
            raise TypeError(f"numpy.{func.__name__} has no gradient in gpunn; use the gpunn.ops function of that name")
        return handler(*args, **kwargs)

    def __float__(self) -> float:
        return float(self.numpy())

    def __int__(self) -> int:
        return int(self.numpy())

    def __bool__(self) -> bool:
        return bool(self.numpy())

    # ---- operators --------------------------------------------------------------------------------------------
    def __add__(self, other):
        from .functions import add
        return add(self, other)

    def __radd__(self, other):
        from .functions import add
        return add(other, self)

    def __sub__(self, other):
        from .functions import subtract
        return subtract(self, other)

    def __rsub__(self, other):
        from .functions import subtract
        return subtract(other, self)

    def __mul__(self, other):
        from .functions import multiply
        return multiply(self, other)

    def __rmul__(self, other):
        from .functions import multiply
        return multiply(other, self)

    def __truediv__(self, other):
        from .functions import divide
        return divide(self, other)

    def __rtruediv__(self, other):
        from .functions import divide
        return divide(other, self)

    def __pow__(self, other):
        from .functions import power
        return power(self, other)

    def __rpow__(self, other):
        from .functions import power
        return power(other, self)

    def __neg__(self):
        from .functions import negative
        return negative(self)

    def __pos__(self):
        return self

    def __abs__(self):
        from .functions import absolute
        return absolute(self)

    def __matmul__(self, other):
        from .functions import matmul
        return matmul(self, other)

    def __rmatmul__(self, other):
        from .functions import matmul
        return matmul(other, self)

    def __getitem__(self, key):
        from .functions import get_item
        return get_item(self, key)

    def __eq__(self, other):
        from .functions import equal
        return equal(self, other)

    def __ne__(self, other):
        from .functions import not_equal
        return not_equal(self, other)

    def __gt__(self, other):
        from .functions import greater
        return greater(self, other)

    def __ge__(self, other):
        from .functions import greater_equal
        return greater_equal(self, other)

    def __lt__(self, other):
        from .functions import less
        return less(self, other)

    def __le__(self, other):
        from .functions import less_equal
        return less_equal(self, other)

    # &, | and ~ are bitwise on integers and booleans, as on Keras's eager arrays (JAX's, NumPy's), and logical on
    # floats, as Keras's symbolic tensors take them
    def __and__(self, other):
        return _bitwise_or_logical("and", self, other)

    def __rand__(self, other):
        return _bitwise_or_logical("and", other, self)

    def __or__(self, other):
        return _bitwise_or_logical("or", self, other)

    def __ror__(self, other):
        return _bitwise_or_logical("or", other, self)

    def __xor__(self, other):
        return _bitwise_or_logical("xor", self, other)

    def __rxor__(self, other):
        return _bitwise_or_logical("xor", other, self)

    def __invert__(self):
        from .functions import logical_not
        from .index_functions import bitwise_invert
        return bitwise_invert(self) if _is_integral(self) else logical_not(self)

    def __lshift__(self, other):
        from .index_functions import left_shift
        return left_shift(self, other)

    def __rlshift__(self, other):
        from .index_functions import left_shift
        return left_shift(other, self)

    def __rshift__(self, other):
        from .index_functions import right_shift
        return right_shift(self, other)

    def __rrshift__(self, other):
        from .index_functions import right_shift
        return right_shift(other, self)

    def __floordiv__(self, other):
        from .elementwise_functions import floor_divide
        return floor_divide(self, other)

    def __rfloordiv__(self, other):
        from .elementwise_functions import floor_divide
        return floor_divide(other, self)

    def __mod__(self, other):
        from .elementwise_functions import mod
        return mod(self, other)

    def __rmod__(self, other):
        from .elementwise_functions import mod
        return mod(other, self)

    def __divmod__(self, other):
        return self // other, self % other

    def __rdivmod__(self, other):
        return other // self, other % self

    __hash__ = object.__hash__

    @property
    def T(self):
        from .functions import transpose
        return transpose(self)

    # The array methods scripts call on Keras's backend arrays (``keras.ops.arange(6).reshape(2, 3)``, as
    # Keras's docstrings do), differentiable as the gpunn.ops functions of those names
    def reshape(self, *shape):
        from .functions import reshape
        return reshape(self, shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape)

    def transpose(self, *axes):
        from .functions import transpose
        return transpose(self, (axes[0] if len(axes) == 1 and isinstance(axes[0], (tuple, list)) else axes) or None)

    def astype(self, dtype):
        from .functions import cast
        return cast(self, dtype)

    # (reductions: a ``(self, axis=None, keepdims=False)`` method per gpunn.ops function of that name)
    sum = _reduction("sum")
    mean = _reduction("mean")
    max = _reduction("max")
    min = _reduction("min")
    prod = _reduction("prod")
    any = _reduction("any")
    all = _reduction("all")
    argmax = _reduction("argmax")
    argmin = _reduction("argmin")

    def squeeze(self, axis=None):
        from .functions import squeeze
        return squeeze(self, axis=axis)

    def clip(self, min=None, max=None):  # noqa: A002 (NumPy's names)
        from .functions import clip
        return clip(self, min, max)

    def ravel(self):
        from .functions import ravel
        return ravel(self)

    flatten = ravel

    def copy(self):
        from .array_functions import copy
        return copy(self)

    def item(self, *index):
        return self.numpy().item(*index)

    def tolist(self):
        return self.numpy().tolist()


def _map_tensors(structure, function):
    """``structure`` (arguments of a NumPy function: lists, tuples and dicts of them) with each Tensor replaced by
    ``function(tensor)``."""
    if isinstance(structure, Tensor):
        return function(structure)
    if isinstance(structure, (list, tuple)):
        return type(structure)(_map_tensors(item, function) for item in structure)
    if isinstance(structure, dict):
        return {key: _map_tensors(item, function) for key, item in structure.items()}
    return structure


def _values_of(structure):
    """``structure`` with each Tensor replaced by its values on the host (NumPy's function then computes on them,
    as on Keras's arrays, whatever the device)."""
    return _map_tensors(structure, Tensor.numpy)


def _any_needs_gradient(structure) -> bool:
    needing: list = []
    _map_tensors(structure, lambda tensor: needing.append(tensor.requires_grad))
    return any(needing)


def _is_integral(value) -> bool:
    """Whether ``value`` (a Tensor, a layer's weight, an array or a Python number) holds integers or booleans."""
    dtype = getattr(value, "dtype", None)
    return np.dtype(dtype if dtype is not None else np.asarray(value).dtype).kind in "biu"


def _bitwise_or_logical(operation: str, a, b):
    from . import functions, index_functions

    if _is_integral(a) and _is_integral(b):
        return getattr(index_functions, f"bitwise_{operation}")(a, b)
    return getattr(functions, f"logical_{operation}")(a, b)


def gradients(result: Tensor, wrt: list, seed) -> list:
    """d(sum(seed * result)) / d(each of ``wrt``): the gradient of ``result`` weighted by ``seed`` (an array of
    its shape) sent back through the record of how it was computed. A tensor of ``wrt`` that ``result`` does not
    depend on gets None."""
    order: list = []
    seen: set = set()
    stack = [(result, False)]
    while stack:  # depth-first, iterative: a long chain of operations must not hit Python's recursion limit
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in seen or not node.requires_grad:
            continue
        seen.add(id(node))
        stack.append((node, True))
        stack.extend((parent, False) for parent in node._parents)
    grads = {id(result): seed}
    for node in reversed(order):  # each node after every node computed from it
        grad = grads.get(id(node))
        if grad is None or node._backward is None:
            continue
        for parent, part in zip(node._parents, node._backward(grad)):
            if part is None or not parent.requires_grad:
                continue
            previous = grads.get(id(parent))
            grads[id(parent)] = part if previous is None else previous + part
    return [grads.get(id(t)) for t in wrt]
