"""The losses layers of the user's give ``add_loss`` in their ``call()`` (Keras: ``Layer.add_loss``; the model adds
``layer.losses`` to the loss it reports and differentiates, in training and in evaluation).

Each such layer writes the sum of its losses into a 0-d buffer of its workspace during its forward host call
(``layers/user_layer.py``), and differentiates them in its backward one. ``penalty`` adds those buffers to the
step's penalty, which the running metrics add to every sample's loss, as the weight and activity penalties are;
and it tells each layer the weight of this rank's losses in its gradient: the rank's share of the global batch,
so that over ranks they sum to the losses of the whole batch, as the loss's own gradient does.
"""
from __future__ import annotations

from ..layers import sublayers


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
        for _, owner in sublayers.owners(plan.layers[index]):
            if getattr(owner, "_adds_losses", False):
                owner.__dict__.setdefault("_added_loss_scale", {})[rows] = rows / global_rows
                term = owner.workspace(rows).buffer("added_losses", (), dtype)
                ops.add(out, term, out)
    return out
