"""The losses layers of the user's give ``add_loss`` in their ``call()`` (Keras: ``Layer.add_loss``; the model adds
``layer.losses`` to the loss it reports and differentiates, in training and in evaluation).

Each such layer writes the sum of its losses into a 0-d buffer of its workspace during its forward host call
(``layers/user_layer.py``), and differentiates them in its backward one. ``penalty`` adds those buffers to the
step's penalty, which the running metrics add to every sample's loss, as the weight and activity penalties are;
and it fills each layer's weight of this rank's losses in its gradient: the rank's share of the global batch,
so that over ranks they sum to the losses of the whole batch, as the loss's own gradient does (exactly so for a
mean over the rank's rows, or a loss of weights alone; a sum over rows comes out as the ranks' weighted mean).
"""
from __future__ import annotations

from ..layers import sublayers
from ..layers.shared_call import is_shared_call


def penalty(plan, ops, ws, total, rows: int, global_rows: int, dtype):
    """``total`` (a 0-d buffer, or None: none yet) plus every added loss of the plan's layers."""
    if not plan.added_losses:
        return total
    out = ws.buffer("added_losses.penalty", (), dtype)
    if total is None:
        ops.fill(0, out)
    else:
        ops.copy_into(total, out)
    for index in sorted(plan.added_losses):
        layer = plan.layers[index]
        if is_shared_call(layer):  # a later call of a layer: the copy that computed it
            layer = layer._current()
        for _, owner in sublayers.owners(layer):
            if getattr(owner, "_adds_losses", False):
                # filled in every step, a replayed one too, before the backward pass reads it: a batch of these
                # rows may come from global batches of other sizes (the last one, a validation batch)
                ops.fill(rows / global_rows, owner.workspace(rows).buffer("added_losses.scale", (), dtype))
                term = owner.workspace(rows).buffer("added_losses", (), dtype)
                ops.add(out, term, out)
    return out
