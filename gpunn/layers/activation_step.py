"""One activation step, forward and backward, shared by Dense (after its matmul, fused with the bias) and by
the Activation layer (no bias): element-wise activations run in the backend's fused bias + activation step,
softmax as the row-wise op."""
from __future__ import annotations


def activation_forward(ops, ws, z, bias, act, may_overwrite_z=True):
    """y = act(z + bias) (bias None: none). With ``may_overwrite_z``, activations whose gradient reads the
    output overwrite z in place (y is z); otherwise, and for those that need z, the pre-activation, in backward,
    y goes into ``ws``."""
    if act.elementwise:
        in_place = may_overwrite_z and not act.needs_preactivation
        y = z if in_place else ws.buffer("y", z.shape, z.dtype)
        ops.bias_act_forward(z, bias, act.name, y, act.alpha)
        return y
    if bias is not None:
        ops.add(z, bias, out=z)
    return ops.softmax(z, ws.buffer("y", z.shape, z.dtype))


def activation_backward(ops, ws, dy, y, z, act, dz_out, dbias_out):
    """dz_out = dL/dz from dy = dL/dy (``dz_out`` may be ``dy``); the bias gradient summed into ``dbias_out``
    (None: no bias). ``z`` is read only by activations that need the pre-activation."""
    if act.elementwise:
        preact = z if act.needs_preactivation else None
        return ops.act_backward_bias_grad(dy, y, preact, act.name, dz_out, dbias_out, act.alpha)
    ops.softmax_backward(y, dy, dz_out, ws.buffer("softmax_scratch", y.shape, y.dtype),
                         ws.buffer("row_sums", (y.shape[0], 1), y.dtype))
    if dbias_out is not None:
        ops.sum(dz_out, 0, dbias_out)
    return dz_out
