"""An activation function of the user's (``Dense(64, activation=my_fn)``, ``Activation(my_fn)``), as Keras takes
any callable: run as a host call of the step on a gpunn Tensor of the pre-activation, its gradient taken by
gpunn's autodiff (as a layer of the user's is, ``user_layer.py``), so that it computes with gpunn.ops /
keras.ops and the activations on any backend. It must keep its input's shape, as the layer declares it."""
from __future__ import annotations

import functools

from ..autodiff import Tensor, gradients

_RECORD = "users_activation.record"


def forward(ops, ws, z, bias, function, shape):
    """y = function(z + bias) into the workspace, the computation kept for ``backward``. ``z`` holds the rows
    of the layer's output, of ``shape`` (batch, steps..., units): the function sees that shape, as in Keras."""
    if bias is not None:
        ops.add(z, bias, out=z)
    y = ws.buffer("y", z.shape, z.dtype)
    record = ws.objects.setdefault(_RECORD, {})
    ops.run_python(functools.partial(_forward, function, z.reshape(shape), y.reshape(shape), record))
    return y


def _forward(function, z, y, record) -> None:
    name = getattr(function, "__name__", repr(function))
    pre_activation = Tensor(z, requires_grad=True)
    result = function(pre_activation)
    if not isinstance(result, Tensor) or not result.requires_grad:
        raise ValueError(f"activation {name!r}: its result does not come from its input through gpunn.ops / "
                         "keras.ops (or gpunn.activations), so it has no gradient; compute it with those")
    if tuple(result.shape) != tuple(z.shape):
        raise ValueError(f"activation {name!r}: returned shape {tuple(result.shape)} for inputs of shape "
                         f"{tuple(z.shape)}; an activation keeps its input's shape")
    y[...] = result.value
    record.update(result=result, input=pre_activation)


def backward(ops, ws, dy, dz_out, dbias_out):
    """dz_out = dL/dz from dy through the recorded computation; the bias gradient summed into ``dbias_out``."""
    ops.run_python(functools.partial(_backward, dy, dz_out, ws.objects[_RECORD]))
    if dbias_out is not None:
        ops.sum(dz_out, 0, dbias_out)
    return dz_out


def _backward(dy, dz_out, record) -> None:
    pre_activation = record["input"]
    (grad,) = gradients(record["result"], [pre_activation], dy.reshape(pre_activation.shape))
    if grad is None:
        dz_out[...] = 0
    else:
        dz_out[...] = grad.reshape(dz_out.shape)
