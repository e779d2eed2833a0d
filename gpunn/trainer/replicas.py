"""Data-parallel replicas: the same weights on every rank before the first step, and a model check."""
from __future__ import annotations

import zlib

import numpy as np

from ..distributed.errors import RanksDisagreeError
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


def take_chiefs_weights_if_changed(model, comm) -> None:
    """Once the ranks are in sync, at the start of each fit, evaluate and predict: when any rank's weights,
    states or optimizer state differ from rank 0's (a checkpoint loaded on rank 0 alone, Horovod's broadcast
    idiom; each rank's own BatchNormalization statistics after training), every rank takes rank 0's, the model
    rank 0 saves. Costs a checksum of those buffers (a copy to the host on a GPU) and two collectives."""
    if comm.size == 1 or model._synced_comm is not comm:
        return
    buffers, optimizer = _replicated_buffers(model)
    mine = [[int(buffer.size) for buffer in buffers], [_checksum(model.ops, buffer) for buffer in buffers],
            None if optimizer is None else optimizer.step_count]
    chiefs = [list(part) if isinstance(part, (list, tuple)) else part for part in comm.broadcast_object(mine)]
    if comm.allreduce_host(np.array([float(mine != chiefs)]))[0] == 0:
        return
    if comm.allreduce_host(np.array([float(mine[0] != chiefs[0])]))[0] > 0:
        raise RanksDisagreeError(
            "gpunn.distributed: the ranks hold optimizer states of different layouts (an optimizer state loaded on "
            "some ranks into an optimizer that had not run on the others); load the checkpoint on every rank, "
            "or on rank 0 after a first fit")
    for buffer in buffers:
        comm.broadcast_(buffer)
    if optimizer is not None:
        optimizer.step_count = chiefs[2]


def _replicated_buffers(model) -> tuple[list, object]:
    """The buffers every rank holds alike: weights, states and, once its optimizer has run, that optimizer's
    slots and device state (with the optimizer, else None)."""
    buffers = [model.params] + ([model.states] if model.states.size else [])
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None or getattr(optimizer, "state", None) is None:
        return buffers, None
    buffers += [optimizer.slots[name] for name in sorted(optimizer.slots)] + [optimizer.state]
    if optimizer.step_state is not None:
        buffers.append(optimizer.step_state)
    return buffers, optimizer


def _checksum(ops, buffer) -> int:
    host = np.ascontiguousarray(ops.to_numpy(buffer))
    return zlib.crc32(memoryview(host).cast("B"))


def agree_on_stop(model, comm, flag: str = "stop_training") -> None:
    """Stop on every rank when a callback stopped any (``model.<flag>``: stop_training, stop_evaluating): one may
    look at its own rank's batch loss (TerminateOnNaN), and a rank leaving the loop alone would leave the others
    waiting in the next sum."""
    setattr(model, flag, bool(comm.allreduce_host([float(getattr(model, flag))])[0] > 0))
