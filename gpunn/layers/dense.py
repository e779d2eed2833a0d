"""Dense: y = activation(x @ kernel + bias), kernel of shape (inputs, units) as in Keras.

Bias add and activation run as one fused step (``ops.bias_act_forward``), or inside the GEMM where the backend
can (``ops.matmul_bias_act``: cuBLASLt's epilogues); backward fuses the activation derivative with the
bias-gradient reduction (``ops.act_backward_bias_grad``), then two matmuls.
"""
from __future__ import annotations

import numpy as np

from .. import activations, constraints, initializers, regularizers
from . import unused_keras_arguments
from .activation_step import activation_backward, activation_forward
from .base import Layer, WeightSpec, weight_property

LINEAR = activations.ActivationSpec("linear")


class Dense(Layer):
    supports_masking = True  # passes its input's mask on, as in Keras (masking.py)
    has_weights = True
    kernel = weight_property("kernel")
    bias = weight_property("bias")

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, lora_rank=None, lora_alpha=None,
                 quantization_config=None, **kwargs):
        # (Keras's order, which scripts pass by position: tf.keras 2's too)
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        unused_keras_arguments.refuse_used("Dense", unused_keras_arguments.FULL_PRECISION, lora_rank=lora_rank,
                                           quantization_config=quantization_config)
        # NumPy integers too, as Keras takes them: Dense(y.max() + 1) is a common spelling.
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units <= 0:
            raise ValueError(f"units: expected a positive integer, got {units!r}")
        self.units = int(units)
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.resolve("kernel_constraint", kernel_constraint)
        self.bias_constraint = constraints.resolve("bias_constraint", bias_constraint)

    def output_sample_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)[:-1] + (self.units,)  # Keras's, whatever the rank (a shape of one axis too)

    def weight_specs(self):
        specs = [WeightSpec("kernel", (self.input_shape[-1], self.units), self.kernel_initializer,
                            self.kernel_regularizer, self.kernel_constraint)]
        if self.use_bias:
            specs.append(WeightSpec("bias", (self.units,), self.bias_initializer, self.bias_regularizer,
                                    self.bias_constraint))
        return specs

    def forward(self, x, training, apply_activation=True):
        ops = self.ops
        kernel = self.bound.weights["kernel"]
        bias = self.bound.weights.get("bias")
        x2 = x if x.ndim == 2 else x.reshape(-1, x.shape[-1])
        rows = x2.shape[0]
        ws = self.workspace(rows)
        act = self.activation if apply_activation else LINEAR
        identity = act.name == "linear" and bias is None  # nothing for the fused steps to do
        z = ws.buffer("z", (rows, self.units), kernel.dtype)
        if (bias is not None and act.elementwise and not act.needs_preactivation
                and ops.fuses_bias_act_into_matmul(act.name, kernel.dtype)):
            y = ops.matmul_bias_act(x2, kernel, bias, act.name, z, act.alpha)  # y is z, as in place below
        else:
            z = ops.matmul(x2, kernel, out=z)
            y = z if identity else activation_forward(ops, ws, z, bias, act, shape=x.shape[:-1] + (self.units,))

        def backprop(dy, need_dx=True):
            grads = self.bound.grads
            dy2 = dy if dy.ndim == 2 else dy.reshape(y.shape)
            dbias = grads.get("bias") if grads else None
            if identity or (act.name == "linear" and dbias is None):
                dz = dy2
            else:
                dz = activation_backward(ops, ws, dy2, y, z, act, dy2, dbias)
            if grads:  # a frozen layer (trainable=False) has no gradient views
                ops.matmul(x2.T, dz, out=grads["kernel"])
            if not need_dx:
                return None
            dx = ops.matmul(dz, kernel.T, out=ws.buffer("dx", x2.shape, x2.dtype))
            return dx if x.ndim == 2 else dx.reshape(x.shape)

        return (y if x.ndim == 2 else y.reshape(x.shape[:-1] + (self.units,))), backprop

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
            "bias_constraint": constraints.serialize(self.bias_constraint),
        }
