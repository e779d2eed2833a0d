"""Merge layers (Keras 3: ``keras/src/layers/merging/``): Add, Subtract, Multiply, Average, Maximum, Minimum,
Concatenate, Dot, and their functional forms ``add([a, b])``, ``concatenate([a, b], axis=-1)``...

Each is called on a list of inputs (``Add()([x1, x2])``), in a functional model (``wiring.py``) or on arrays.
The element-wise ones fold the inputs left to right as Keras does (``((x0 + x1) + x2)``; Average divides that
sum by the count), so results round as Keras's. Their inputs must have one shape: Keras's broadcasting of
inputs of different shapes is refused by name. Maximum and Minimum give the gradient to the first input that
attains the result (TensorFlow's rule for ties; JAX would share it).

Backward hands each input a gradient buffer of its own (the caller's backprops may overwrite what they get).
A padding mask reaching a merge layer is refused (``wiring.link_masks``): Keras combines masks there.
"""
from __future__ import annotations

import math

import numpy as np

from .. import compute_turns, fuzz_factor, step_calls
from ..autodiff import Tensor
from .base import Layer
from .calling import bind_standalone, call_result, check_training, compute_dtype, to_backend
from . import symbolic, user_layer
from .given_mask import carried_mask_refused


def _merge_tensors(layer, tensors: list):
    """What a merge layer computes, on the gpunn Tensors of a call() of the user's (``sublayers.py``)."""
    from ..autodiff import functions as f

    kind = type(layer).__name__
    if kind == "Concatenate":
        return f.concatenate(tensors, axis=layer.axis)
    if kind == "Subtract":
        if len(tensors) != 2:
            raise ValueError(f"inputs: a Subtract layer takes 2 inputs, got {len(tensors)}")
        return f.subtract(tensors[0], tensors[1])
    folds = {"Add": f.add, "Average": f.add, "Multiply": f.multiply, "Maximum": f.maximum, "Minimum": f.minimum}
    if kind not in folds:
        raise TypeError(f"layer {layer.name!r} ({kind}) is called inside a layer's call(), where gpunn merges with "
                        "Add, Subtract, Multiply, Average, Maximum, Minimum and Concatenate; use gpunn.ops there")
    result = tensors[0]
    for tensor in tensors[1:]:
        result = folds[kind](result, tensor)
    return f.divide(result, len(tensors)) if kind == "Average" else result


class Merge(Layer):
    takes_inputs_list = True
    min_inputs = 1
    max_inputs = None

    def _check_count(self, count: int, what: str) -> None:
        if count < self.min_inputs or (self.max_inputs is not None and count > self.max_inputs):
            wanted = (f"exactly {self.min_inputs}" if self.max_inputs == self.min_inputs
                      else f"at least {self.min_inputs}")
            raise ValueError(f"inputs: a {type(self).__name__} layer should be called on a list of {wanted} "
                             f"inputs, got {count} {what}")

    def build(self, input_shape) -> None:
        if not isinstance(input_shape, (list, tuple)) or not input_shape or not isinstance(input_shape[0],
                                                                                           (list, tuple)):
            raise ValueError(f"inputs: a {type(self).__name__} layer should be called on a list of inputs, got "
                             f"inputs of shape {input_shape!r}")
        shapes = [tuple(shape) for shape in input_shape]
        self._check_count(len(shapes), "inputs")
        self.input_shape = tuple(shapes)
        self.output_shape = self.output_sample_shape(shapes)
        self.built = True

    def output_sample_shape(self, input_shapes) -> tuple:
        shapes = [tuple(shape) for shape in input_shapes]
        if any(shape != shapes[0] for shape in shapes):
            raise ValueError(f"inputs: a {type(self).__name__} layer takes inputs of one shape in gpunn, got "
                             f"samples of shapes {shapes} (Keras would broadcast them; reshape them to one shape "
                             "first)")
        return shapes[0]

    def __call__(self, inputs, training=None, mask=None):
        """``Add()([x1, x2])``: symbolic inputs make a functional model's merge; arrays give their merge, as a new
        backend array, as any layer called on arrays does."""
        if not isinstance(inputs, (list, tuple)):
            raise ValueError(f"inputs: a {type(self).__name__} layer should be called on a list of inputs, got "
                             f"{type(inputs).__name__}")
        if any(symbolic.is_symbolic(value) for value in inputs):
            return symbolic.call_symbolic(self, list(inputs), training, mask)
        if user_layer.tracing():  # inside a call() of the user's: the merge of gpunn Tensors, differentiated
            return _merge_tensors(self, list(inputs))
        if step_calls.differentiated_here(inputs):
            # [y_pred, y_true] in a loss: differentiated as in a call() of the user's
            return _merge_tensors(self, [value if isinstance(value, Tensor) else Tensor(np.asarray(value))
                                         for value in inputs])
        if mask is not None:
            raise ValueError("mask: gpunn layers take no mask; leave mask=None")
        if any(getattr(value, "_keras_mask", None) is not None for value in inputs):
            # (Keras's Multiply, Minimum and Maximum compute other values at masked steps; each gives its output
            # a mask of them that the next layer computes with)
            raise ValueError(carried_mask_refused(self))
        from ..ops import get_ops

        training = check_training(training)
        self._check_count(len(inputs), "inputs")
        ops = self.ops or get_ops()
        dtype = compute_dtype(self)
        arrays = [to_backend(ops, f"inputs[{i}]", value, dtype) for i, value in enumerate(inputs)]
        rows = {array.shape[0] if array.ndim else None for array in arrays}
        if len(rows) != 1 or None in rows:
            raise ValueError(f"inputs: a {type(self).__name__} layer takes arrays with one batch size, got shapes "
                             f"{[tuple(a.shape) for a in arrays]}")
        with compute_turns.turn(ops):  # (its workspace: compute_turns.py)
            self.build([tuple(array.shape[1:]) for array in arrays])
            bind_standalone(self, ops, dtype)
            y, _ = self.forward(arrays, training)
            return call_result(self.ops, self.ops.copy(y))

    def _own(self, ws, name: str, source):
        """A copy of ``source`` in a buffer of this layer's workspace."""
        return self.ops.copy_into(source, ws.buffer(name, source.shape, source.dtype))


class _Folding(Merge):
    """y = fold(op, inputs), left to right."""

    def _op(self, a, b, out):
        raise NotImplementedError

    def forward(self, xs, training):
        ops = self.ops
        rows = xs[0].shape[0]
        ws = self.workspace(rows)
        y = ws.buffer("y", xs[0].shape, xs[0].dtype)
        if len(xs) == 1:
            ops.copy_into(xs[0], y)
        else:
            self._op(xs[0], xs[1], y)
            for x in xs[2:]:
                self._op(y, x, y)
        y = self._finish(ws, y, len(xs))
        return y, self._backprop(ws, xs, y)

    def _finish(self, ws, y, count: int):
        return y

    def _backprop(self, ws, xs, y):
        raise NotImplementedError


class Add(_Folding):
    def _op(self, a, b, out):
        self.ops.add(a, b, out)

    def _backprop(self, ws, xs, y):
        def backprop(dy, need_dx=True):
            flags = _flags(need_dx, len(xs))
            # The first input takes dy itself (nobody reads it after this); the others copies of it
            return [None if not flag else dy if i == 0 else self._own(ws, f"dx{i}", dy)
                    for i, flag in enumerate(flags)]

        return backprop


class Subtract(_Folding):
    min_inputs = max_inputs = 2

    def _op(self, a, b, out):
        self.ops.subtract(a, b, out)

    def _backprop(self, ws, xs, y):
        def backprop(dy, need_dx=True):
            flags = _flags(need_dx, 2)
            dx1 = self.ops.negative(dy, ws.buffer("dx1", dy.shape, dy.dtype)) if flags[1] else None
            return [dy if flags[0] else None, dx1]

        return backprop


class Multiply(_Folding):
    def _op(self, a, b, out):
        self.ops.multiply(a, b, out)

    def _backprop(self, ws, xs, y):
        ops = self.ops

        def backprop(dy, need_dx=True):
            dxs = []
            for i, flag in enumerate(_flags(need_dx, len(xs))):
                if not flag:
                    dxs.append(None)
                    continue
                dx = ops.copy_into(dy, ws.buffer(f"dx{i}", dy.shape, dy.dtype))
                for j, x in enumerate(xs):
                    if j != i:
                        ops.multiply(dx, x, dx)
                dxs.append(dx)
            return dxs

        return backprop


class Average(_Folding):
    def _op(self, a, b, out):
        self.ops.add(a, b, out)

    def _finish(self, ws, y, count):
        return self.ops.divide(y, ws.constant("count", float(count), y.dtype), y)

    def _backprop(self, ws, xs, y):
        ops = self.ops

        def backprop(dy, need_dx=True):
            count = ws.constant("count", float(len(xs)), dy.dtype)
            return [ops.divide(dy, count, ws.buffer(f"dx{i}", dy.shape, dy.dtype)) if flag else None
                    for i, flag in enumerate(_flags(need_dx, len(xs)))]

        return backprop


class _Extremum(_Folding):
    def _backprop(self, ws, xs, y):
        ops = self.ops

        def backprop(dy, need_dx=True):
            # Each position's gradient goes to the first input equal to the result there.
            unclaimed = ops.fill(1, ws.buffer("unclaimed", y.shape, y.dtype))
            hit = ws.buffer("hit", y.shape, np.bool_)
            share = ws.buffer("share", y.shape, y.dtype)
            dxs = []
            flags = _flags(need_dx, len(xs))
            for i, x in enumerate(xs):
                ops.equal(x, y, hit)
                ops.multiply(unclaimed, hit, share)
                if flags[i]:
                    dxs.append(ops.multiply(dy, share, ws.buffer(f"dx{i}", dy.shape, dy.dtype)))
                else:
                    dxs.append(None)
                if i < len(xs) - 1:
                    ops.subtract(unclaimed, share, unclaimed)
            return dxs

        return backprop


class Maximum(_Extremum):
    def _op(self, a, b, out):
        self.ops.maximum(a, b, out)


class Minimum(_Extremum):
    def _op(self, a, b, out):
        self.ops.minimum(a, b, out)


class Concatenate(Merge):
    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise ValueError(f"axis: expected an integer axis, got {axis!r}")
        self.axis = int(axis)

    def _sample_axis(self, rank: int) -> int:
        """The concatenation axis among a sample's axes (the batch axis is axis 0 of the batched inputs)."""
        axis = self.axis + rank + 1 if self.axis < 0 else self.axis
        if not 1 <= axis <= rank:
            raise ValueError(f"axis: Concatenate(axis={self.axis}) on samples of rank {rank} (inputs of rank "
                             f"{rank + 1}); the batch axis (0) cannot be concatenated")
        return axis - 1

    def output_sample_shape(self, input_shapes) -> tuple:
        shapes = [tuple(shape) for shape in input_shapes]
        ranks = {len(shape) for shape in shapes}
        if len(ranks) != 1:
            raise ValueError(f"inputs: Concatenate takes inputs of one rank, got samples of shapes {shapes}")
        axis = self._sample_axis(ranks.pop())
        others = {shape[:axis] + shape[axis + 1:] for shape in shapes}
        if len(others) != 1:
            raise ValueError(f"inputs: Concatenate(axis={self.axis}) takes inputs whose shapes match except on that "
                             f"axis, got samples of shapes {shapes}")
        first = shapes[0]
        return first[:axis] + (sum(shape[axis] for shape in shapes),) + first[axis + 1:]

    def _slices(self, shapes):
        """Per input, the index of its part of the batched output."""
        axis = self._sample_axis(len(shapes[0])) + 1
        index, start = [], 0
        for shape in shapes:
            width = shape[axis - 1]
            index.append((slice(None),) * axis + (slice(start, start + width),))
            start += width
        return index

    def forward(self, xs, training):
        ops = self.ops
        rows = xs[0].shape[0]
        ws = self.workspace(rows)
        y = ws.buffer("y", (rows,) + tuple(self.output_shape), xs[0].dtype)
        parts = self._slices([tuple(x.shape[1:]) for x in xs])
        for x, part in zip(xs, parts):
            ops.copy_into(x, y[part])

        def backprop(dy, need_dx=True):
            # Each input's gradient in a contiguous buffer of its own (the layers below take dense arrays)
            return [self._own(ws, f"dx{i}", dy[part]) if flag else None
                    for i, (part, flag) in enumerate(zip(parts, _flags(need_dx, len(xs))))]

        return y, backprop

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


class Dot(Merge):
    """The dot product of two inputs along ``axes`` (Keras 3's ``Dot``: ``batch_dot``), after an L2
    normalization of each along its axis with ``normalize=True`` (Keras's ``x / max(norm(x), 1e-7)``: the cosine
    similarity). gpunn takes inputs whose sample axes other than the dot axis have size 1 (``(d,)``, ``(1, d)``:
    an Embedding of one id, as in the recommendation examples); others are refused by name."""

    min_inputs = max_inputs = 2

    def __init__(self, axes, normalize=False, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axes, (list, tuple)):
            if len(axes) != 2 or not all(isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in axes):
                raise ValueError(f"axes: expected an int or a list of two ints, got {axes!r}")
            axes = [int(a) for a in axes]
        elif isinstance(axes, bool) or not isinstance(axes, (int, np.integer)):
            raise ValueError(f"axes: expected an int or a list of two ints, got {axes!r}")
        else:
            axes = int(axes)
        if not isinstance(normalize, (bool, np.bool_)):
            raise ValueError(f"normalize: expected True or False, got {normalize!r}")
        self.axes, self.normalize = axes, bool(normalize)

    def _batched_axes(self, shapes) -> list:
        """The dot axis of each input, as an axis of the batched input (Keras's rule for negative axes)."""
        axes = [self.axes] * 2 if isinstance(self.axes, int) else list(self.axes)
        return [axis % (len(shape) + 1) if axis < 0 else axis for axis, shape in zip(axes, shapes)]

    def output_sample_shape(self, input_shapes) -> tuple:
        shapes = [tuple(shape) for shape in input_shapes]
        axes = self._batched_axes(shapes)
        if 0 in axes:
            raise ValueError(f"axes: Dot(axes={self.axes}) would take the dot product along the batch axis")
        if any(axis > len(shape) for axis, shape in zip(axes, shapes)):
            raise ValueError(f"axes: Dot(axes={self.axes}) on samples of shapes {shapes}: no such axis")
        widths = [shape[axis - 1] for axis, shape in zip(axes, shapes)]
        if widths[0] != widths[1]:
            raise ValueError(f"inputs: Dot(axes={self.axes}) takes inputs of one size along its axes, got samples of "
                             f"shapes {shapes} ({widths[0]} and {widths[1]} along them)")
        if any(math.prod(shape) != width for shape, width in zip(shapes, widths)):
            raise ValueError(f"inputs: gpunn's Dot takes inputs whose axes other than the batch and the dot axis have "
                             f"size 1, got samples of shapes {shapes}")
        # Keras's compute_output_shape: the first input's axes but its dot axis, then the second's but its
        # batch and dot axes; a lone batch axis gets a 1.
        first = [None] + list(shapes[0])
        second = [None] + list(shapes[1])
        first.pop(axes[0])
        second.pop(axes[1])
        second.pop(0)
        out = first + second
        return tuple(out[1:]) if len(out) > 1 else (1,)

    def _normalized(self, ws, name, x):
        """(x / max(||x||, eps) along the rows, max(||x||, eps), ||x|| > eps as 0/1) for (rows, d) ``x``."""
        ops = self.ops
        rows = x.shape[0]
        squares = ops.multiply(x, x, ws.buffer(f"{name}.squares", x.shape, x.dtype))
        norm = ops.sqrt(ops.sum(squares, 1, ws.buffer(f"{name}.norm", (rows, 1), x.dtype), keepdims=True),
                        ws.buffer(f"{name}.norm", (rows, 1), x.dtype))
        epsilon = ws.constant("epsilon", fuzz_factor.epsilon(), x.dtype)  # ops.normalize's norm floor
        bounded = ops.maximum(norm, epsilon, ws.buffer(f"{name}.bounded", (rows, 1), x.dtype))
        above = ops.greater(norm, epsilon, ws.buffer(f"{name}.above", (rows, 1), np.bool_))
        return ops.divide(x, bounded, ws.buffer(f"{name}.unit", x.shape, x.dtype)), bounded, above

    def forward(self, xs, training):
        ops = self.ops
        rows = xs[0].shape[0]
        ws = self.workspace(rows)
        width = math.prod(xs[0].shape[1:])
        a, b = (x.reshape(rows, width) for x in xs)
        normalized = [self._normalized(ws, f"n{i}", v) for i, v in enumerate((a, b))] if self.normalize else None
        if normalized:
            a, b = normalized[0][0], normalized[1][0]
        products = ops.multiply(a, b, ws.buffer("products", a.shape, a.dtype))
        y = ops.sum(products, 1, ws.buffer("y", (rows, 1), a.dtype), keepdims=True)

        def backprop(dy, need_dx=True):
            grad = dy.reshape(rows, 1)
            dxs = []
            for i, (own, other, flag) in enumerate(zip((a, b), (b, a), _flags(need_dx, 2))):
                if not flag:
                    dxs.append(None)
                    continue
                dx = ops.multiply(grad, other, ws.buffer(f"dx{i}", own.shape, own.dtype))
                if normalized:  # through x / max(||x||, eps): (d - u (u . d)) / ||x||, or d / eps below eps
                    _, bounded, above = normalized[i]
                    along = ops.multiply(own, dx, ws.buffer("along", own.shape, own.dtype))
                    along_sum = ops.sum(along, 1, ws.buffer("along.sum", (rows, 1), own.dtype), keepdims=True)
                    ops.multiply(along_sum, above, along_sum)
                    ops.subtract(dx, ops.multiply(own, along_sum, along), dx)
                    ops.divide(dx, bounded, dx)
                dxs.append(dx.reshape(xs[i].shape))
            return dxs

        return y.reshape((rows,) + tuple(self.output_shape)), backprop

    def get_config(self):
        return {**super().get_config(), "axes": self.axes, "normalize": self.normalize}


def _flags(need_dx, count: int) -> tuple:
    """One flag per input: a merge's ``need_dx`` is a tuple; a bare bool applies to every input."""
    if isinstance(need_dx, (tuple, list)):
        return tuple(need_dx)
    return (bool(need_dx),) * count


def add(inputs, **kwargs):
    """Functional interface to ``Add``."""
    return Add(**kwargs)(inputs)


def subtract(inputs, **kwargs):
    return Subtract(**kwargs)(inputs)


def multiply(inputs, **kwargs):
    return Multiply(**kwargs)(inputs)


def average(inputs, **kwargs):
    return Average(**kwargs)(inputs)


def maximum(inputs, **kwargs):
    return Maximum(**kwargs)(inputs)


def minimum(inputs, **kwargs):
    return Minimum(**kwargs)(inputs)


def concatenate(inputs, axis=-1, **kwargs):
    return Concatenate(axis=axis, **kwargs)(inputs)


def dot(inputs, axes=-1, normalize=False, **kwargs):
    return Dot(axes=axes, normalize=normalize, **kwargs)(inputs)

