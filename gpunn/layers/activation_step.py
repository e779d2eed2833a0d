"""One activation step, forward and backward, shared by Dense (after its matmul, fused with the bias) and by
the Activation layer (no bias): element-wise activations run in the backend's fused bias + activation step,
softmax as the row-wise op, log_softmax and glu as rows of Ops primitives (recorded and replayed like any).

log_softmax follows Keras 3's backends (keras/src/backend/numpy/nn.py, jax.nn.log_softmax): y = s - log(sum
exp(s)), s = z - max(z), row by row; its gradient dz = dy - exp(y) sum(dy). glu (jax.nn.glu, the numpy
backend's ``glu``) splits the row into halves a, b and gives a * sigmoid(b): the output is half as wide, so
only a caller that declares that shape may run it (the Activation layer; Dense declares ``units`` outputs).
"""
from __future__ import annotations

from . import users_activation as users_function


def activation_forward(ops, ws, z, bias, act, may_overwrite_z=True, may_halve_width=False, shape=None):
    """y = act(z + bias) (bias None: none). With ``may_overwrite_z``, activations whose gradient reads the
    output overwrite z in place (y is z); otherwise, and for those that need z, the pre-activation, in backward,
    y goes into ``ws``. ``may_halve_width``: the caller takes glu's output of half z's width. ``shape``: the
    layer's output shape, of which z is the rows (a function of the user's sees that shape, its axes)."""
    if act.function is not None:
        return users_function.forward(ops, ws, z, bias, act.function, z.shape if shape is None else shape)
    if act.elementwise:
        in_place = may_overwrite_z and not act.needs_preactivation
        y = z if in_place else ws.buffer("y", z.shape, z.dtype)
        ops.bias_act_forward(z, bias, act.name, y, act.alpha)
        return y
    if act.name == "glu" and not may_halve_width:
        raise ValueError("activation 'glu' halves the last axis, and this layer declares an output as wide as its "
                         "input to the activation; use Dense(2 * units) followed by Activation('glu')")
    if bias is not None:
        ops.add(z, bias, out=z)
    if act.name == "log_softmax":
        return _log_softmax_forward(ops, ws, z)
    if act.name == "glu":
        return _glu_forward(ops, ws, z)
    return ops.softmax(z, ws.buffer("y", z.shape, z.dtype))


def activation_backward(ops, ws, dy, y, z, act, dz_out, dbias_out):
    """dz_out = dL/dz from dy = dL/dy (``dz_out`` may be ``dy``, but not for glu, whose dz is twice as wide);
    the bias gradient summed into ``dbias_out`` (None: no bias). ``z`` is read only by activations that need the
    pre-activation."""
    if act.function is not None:
        return users_function.backward(ops, ws, dy, dz_out, dbias_out)
    if act.elementwise:
        preact = z if act.needs_preactivation else None
        return ops.act_backward_bias_grad(dy, y, preact, act.name, dz_out, dbias_out, act.alpha)
    if act.name == "log_softmax":
        _log_softmax_backward(ops, ws, dy, y, dz_out)
    elif act.name == "glu":
        _glu_backward(ops, ws, dy, z, dz_out)
    else:
        ops.softmax_backward(y, dy, dz_out, ws.buffer("softmax_scratch", y.shape, y.dtype),
                             ws.buffer("row_sums", (y.shape[0], 1), y.dtype))
    if dbias_out is not None:
        ops.sum(dz_out, 0, dbias_out)
    return dz_out


def _log_softmax_forward(ops, ws, z):
    """(z - m) - log(sum(exp(z - m))), m the row max, in the order Keras's numpy backend computes it; exp
    through the fused step's 'exponential' (there is no exp primitive)."""
    y = ws.buffer("y", z.shape, z.dtype)
    row = ws.buffer("row_stat", (z.shape[0], 1), z.dtype)
    exp_shifted = ws.buffer("exp_shifted", z.shape, z.dtype)
    ops.max(z, 1, row, keepdims=True)
    ops.subtract(z, row, y)
    ops.bias_act_forward(y, None, "exponential", exp_shifted)
    ops.sum(exp_shifted, 1, row, keepdims=True)
    ops.log(row, row)
    return ops.subtract(y, row, y)


def _log_softmax_backward(ops, ws, dy, y, dz_out):
    """dz = dy - softmax(z) sum(dy), softmax(z) = exp(y)."""
    row_sums = ws.buffer("row_sums", (y.shape[0], 1), y.dtype)
    probabilities = ws.buffer("exp_shifted", y.shape, y.dtype)
    ops.sum(dy, 1, row_sums, keepdims=True)
    ops.bias_act_forward(y, None, "exponential", probabilities)
    ops.multiply(probabilities, row_sums, probabilities)
    return ops.subtract(dy, probabilities, dz_out)


def _halves(a):
    half = a.shape[1] // 2
    return a[:, :half], a[:, half:]


def _glu_forward(ops, ws, z):
    """a * sigmoid(b); the gate sigmoid(b) is kept for backward."""
    if z.shape[1] % 2:
        raise ValueError(f"activation 'glu': the last axis must have an even size, got {z.shape[1]}")
    first, second = _halves(z)
    gate = ws.buffer("glu_gate", first.shape, z.dtype)
    ops.bias_act_forward(second, None, "sigmoid", gate)
    return ops.multiply(first, gate, ws.buffer("y", first.shape, z.dtype))


def _glu_backward(ops, ws, dy, z, dz_out):
    """da = dy * sigmoid(b); db = dy * a * sigmoid'(b), through the fused sigmoid backward on the kept gate."""
    gate = ws.buffer("glu_gate", dy.shape, dy.dtype)
    first, _ = _halves(z)
    d_first, d_second = _halves(dz_out)
    ops.multiply(dy, gate, d_first)
    ops.multiply(dy, first, d_second)
    ops.act_backward_bias_grad(d_second, gate, None, "sigmoid", d_second, None)
    return dz_out
