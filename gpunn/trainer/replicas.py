"""Data-parallel replicas: the same weights on every rank before the first step, and a model check."""
from __future__ import annotations

from ..layers import sublayers
from ..layers.seeded import SeededLayer


def sync_replicas(model, comm) -> None:
    """Same weights on every rank (rank 0's), once per communicator; different models fail loudly here."""
    if comm.size == 1 or model._synced_comm is comm:
        return
    signature = (f"{[type(l).__name__ + str(l.output_shape) for l in model._layers]} dtype={model.dtype} "
                 f"parameters={model.params.size}")
    comm.check_same("the model definition", signature)
    comm.broadcast_(model.params)
    if model.states.size:
        comm.broadcast_(model.states)
    # Each rank draws its own masks and noise for its samples (same seed everywhere would repeat them).
    for _, _, layer in sublayers.with_sublayers(model._layers):  # those inside layers of the user's too
        if isinstance(layer, SeededLayer) and comm.rank:
            layer.seed = (layer.seed + 7919 * comm.rank) % (2**31 - 1)
    model._synced_comm = comm


def agree_on_stop(model, comm, flag: str = "stop_training") -> None:
    """Stop on every rank when a callback stopped any (``model.<flag>``: stop_training, stop_evaluating): one may
    look at its own rank's batch loss (TerminateOnNaN), and a rank leaving the loop alone would leave the others
    waiting in the next sum."""
    setattr(model, flag, bool(comm.allreduce_host([float(getattr(model, flag))])[0] > 0))
