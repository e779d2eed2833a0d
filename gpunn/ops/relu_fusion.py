"""A recorded step's ReLU backward folded into the GEMM before it.

In a recorded step, a Dense layer's input gradient ``matmul(dz, kernel.T, out=d)`` is followed at once by the
backward of the layer before it; when that layer is a ReLU Dense with a bias whose forward was one
``matmul_bias_act(x, w, bias, "relu", out=y)`` call, the backward is ``act_backward_bias_grad(d, y, None,
"relu", d, dbias)`` in place: a pass that reads d and y and writes d again. The rewrite makes the forward call
``matmul_bias_relu_mask`` (it also writes a ReLU mask) and the two backward calls one
``matmul_relu_backward`` (the product times ReLU's derivative from the mask, and the bias gradient): on a GPU,
cuBLASLt's RELU_AUX_BIAS and DRELU_BGRAD epilogues, which save that pass. On the CPU the rewritten calls run the
calls they replace, so a rewritten replay equals the recorded step bit for bit.

Only the replays run the rewritten calls (the recording step ran the calls as they came), and a pair is
rewritten only where the backend has made everything it needs for both of its calls
(``Ops.prepare_relu_backward``), so that every mask a backward call reads is written by its forward call.
"""
from __future__ import annotations

from .recording import DEVICE, describe_call


def _is_relu_backward_of(matmul: dict, backward: dict) -> bool:
    """The ReLU backward, in place, of the product ``matmul`` has just written."""
    d = matmul.get("out")
    return (d is not None and backward.get("activation") == "relu" and backward.get("z") is None
            and backward.get("dy") is d and backward.get("dz_out") is d and backward.get("dbias_out") is not None)


def fuse_relu_backward(ops, calls: list) -> list:
    """``calls`` (a recording's ``(bound call, kind)`` list) with each fusable ReLU layer rewritten (see the
    module's notes); the list itself is left as it was."""
    described_calls = [describe_call(bound) if kind == DEVICE else (None, {}) for bound, kind in calls]
    forwards = {id(args["out"]): i for i, (name, args) in enumerate(described_calls)
                if name == "matmul_bias_act" and args.get("activation") == "relu" and args.get("bias") is not None
                and _writers(calls, described_calls, args["out"]) == 1}  # else the mask could be stale when read
    rewritten = list(calls)
    masks: dict = {}
    dropped = set()
    for i in range(len(calls) - 1):
        (name, matmul), (next_name, backward) = described_calls[i], described_calls[i + 1]
        if name != "matmul" or next_name != "act_backward_bias_grad" or not _is_relu_backward_of(matmul, backward):
            continue
        j = forwards.get(id(backward["y"]))
        if j is None or j > i:
            continue
        forward = described_calls[j][1]
        y = forward["out"]
        mask = masks.get(j)
        if mask is None:
            mask = ops.relu_mask_buffer(*y.shape)
        forward_args = {"a": forward["a"], "b": forward["b"], "bias": forward["bias"], "out": y, "mask": mask}
        backward_args = {"a": matmul["a"], "b": matmul["b"], "y": y, "mask": mask, "out": matmul["out"],
                         "dbias_out": backward["dbias_out"]}
        if not ops.prepare_relu_backward(forward_args, backward_args):
            continue
        if j not in masks:
            masks[j] = mask
            rewritten[j] = (_bind(ops, "matmul_bias_relu_mask", forward_args), DEVICE)
        rewritten[i] = (_bind(ops, "matmul_relu_backward", backward_args), DEVICE)
        dropped.add(i + 1)
    return [call for i, call in enumerate(rewritten) if i not in dropped]


def _writers(calls: list, described_calls: list, array) -> int:
    """How many calls may write ``array``: primitives that pass it as ``out`` or an ``..._out`` argument, and
    any other call (a host call, a collective) bound to it at all."""
    count = 0
    for (bound, _kind), (name, args) in zip(calls, described_calls):
        if name is None:
            bound_to = (*getattr(bound, "args", ()), *getattr(bound, "keywords", {}).values())
            count += any(value is array for value in bound_to)
        else:
            count += any(value is array for key, value in args.items() if key == "out" or key.endswith("_out"))
    return count


def _bind(ops, name: str, arguments: dict):
    """The recorded form of the primitive ``name`` called with ``arguments`` (as ``Tape.append`` binds it)."""
    primitive = getattr(type(ops), name)
    return ops.bind_for_replay(primitive.unrecorded, tuple(arguments.values()), {})
