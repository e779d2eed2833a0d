"""The element-wise and reduction primitives a training step is made of, each writing into ``out``.

Written once through ``self.xp`` (NumPy or CuPy mirror each other here). Layers, losses, metrics and
optimizers call these instead of array expressions: a step then allocates nothing once its buffers exist, and
every call can be recorded and replayed (``recording.py``).
"""
from __future__ import annotations

import functools

from .recording import primitive


def _write_result(xp, function, out) -> None:
    from ..autodiff.functions import _value

    xp.copyto(out, _value(function(out), xp))


class ElementwisePrimitives:
    xp = None  # set by the Ops class
    _tape = None
    _tape_thread = None  # the thread recording on ``_tape`` (ops/recording.py)

    @primitive
    def add(self, a, b, out):
        return self.xp.add(a, b, out=out)

    @primitive
    def subtract(self, a, b, out):
        return self.xp.subtract(a, b, out=out)

    @primitive
    def multiply(self, a, b, out):
        return self.xp.multiply(a, b, out=out)

    @primitive
    def divide(self, a, b, out):
        return self.xp.divide(a, b, out=out)

    @primitive
    def remainder(self, a, b, out):
        return self.xp.remainder(a, b, out=out)

    @primitive
    def maximum(self, a, b, out):
        return self.xp.maximum(a, b, out=out)

    @primitive
    def minimum(self, a, b, out):
        return self.xp.minimum(a, b, out=out)

    @primitive
    def sqrt(self, a, out):
        return self.xp.sqrt(a, out=out)

    @primitive
    def abs(self, a, out):
        return self.xp.abs(a, out=out)

    @primitive
    def sign(self, a, out):
        return self.xp.sign(a, out=out)

    @primitive
    def log(self, a, out):
        return self.xp.log(a, out=out)

    @primitive
    def power(self, a, b, out):
        return self.xp.power(a, b, out=out)

    @primitive
    def greater(self, a, b, out):
        return self.xp.greater(a, b, out=out)

    @primitive
    def equal(self, a, b, out):
        return self.xp.equal(a, b, out=out)

    @primitive
    def logical_and(self, a, b, out):
        return self.xp.logical_and(a, b, out=out)

    @primitive
    def sum(self, a, axis, out, keepdims=False):
        return self.xp.sum(a, axis=axis, out=out, keepdims=keepdims)

    @primitive
    def argmax(self, a, axis, out):
        return self.xp.argmax(a, axis=axis, out=out)

    @primitive
    def copy_into(self, source, out):
        self.xp.copyto(out, source)
        return out

    def assign_result(self, function, out):
        """out[...] = function(out): a projection written in array expressions of its own (a user's weight
        constraint), which may compute with ``gpunn.ops`` (a Tensor comes back). It runs as a host call of the
        step (``run_python``): a replay calls ``function`` again, and a CUDA graph ends before it, since it
        allocates its result at every call and its Python would run only once, at capture."""
        self.run_python(functools.partial(_write_result, self.xp, function, out))
        return out

    @primitive
    def fill(self, value, out):
        out.fill(value)
        return out

    @primitive
    def softmax_backward(self, y, dy, out, scratch, row_sums):
        """out = y * (dy - sum(dy * y, axis=1)): the gradient through a row-wise softmax. ``out`` may be ``dy``;
        ``scratch`` is shaped like y, ``row_sums`` is (rows, 1)."""
        xp = self.xp
        xp.multiply(dy, y, out=scratch)
        xp.sum(scratch, axis=1, keepdims=True, out=row_sums)
        xp.subtract(dy, row_sums, out=out)
        xp.multiply(out, y, out=out)
        return out

    @primitive
    def negative(self, a, out):
        return self.xp.negative(a, out=out)

    # ---- for the Keras losses beyond the cross-entropies (Huber, LogCosh, the hinges, KLD, MSLE, cosine) ----
    # Scalars reach these as 0-d arrays of the operand's dtype (a workspace constant): a Python scalar would be
    # converted to an array on every call.

    @primitive
    def tanh(self, a, out):
        return self.xp.tanh(a, out=out)

    @primitive
    def logaddexp(self, a, b, out):
        """log(exp(a) + exp(b)) without overflow; softplus(a) is logaddexp(a, 0), as Keras's NumPy backend
        writes it."""
        return self.xp.logaddexp(a, b, out=out)

    @primitive
    def greater_equal(self, a, b, out):
        return self.xp.greater_equal(a, b, out=out)

    @primitive
    def logical_or(self, a, b, out):
        return self.xp.logical_or(a, b, out=out)

    @primitive
    def all(self, a, axis, out, keepdims=False):
        return self.xp.all(a, axis=axis, out=out, keepdims=keepdims)

    @primitive
    def max(self, a, axis, out, keepdims=False):
        return self.xp.max(a, axis=axis, out=out, keepdims=keepdims)

    @primitive
    def copy_where(self, source, condition, out):
        """out = source where ``condition``, out unchanged elsewhere (``source`` and ``condition`` broadcast)."""
        self.xp.copyto(out, source, where=condition)
        return out
