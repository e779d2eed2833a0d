"""EinsumDense: a dense layer over any axes, ``activation(einsum(equation, x, kernel) + bias)``, as Keras 3's
``keras/src/layers/core/einsum_dense.py`` defines it (``"ab,bc->ac"`` is Dense; ``"abc,cd->abd"`` a Dense over the
last axis of sequences; ``"abc,cde->abde"`` projects each step onto heads).

Written as Keras writes it, on gpunn.ops, and run as a layer of the user's is (a host call of the step, its
gradient by gpunn's autodiff). The kernel's shape comes from the equation, the input shape and ``output_shape``
(Keras's rules, and its messages); a variance-scaling initializer (Glorot's by default) counts its fans over the
kernel's input and output axes, as Keras's does. Keras's quantization and LoRA options are refused by name.
"""
from __future__ import annotations

import re

from .. import activations, constraints, initializers, ops, regularizers
from . import unused_keras_arguments, user_layer
from .base import Layer


class EinsumDense(Layer):
    computes_in_call = True  # user_layer.runs_call: its computation is its call(), run as a user's layer's is

    def __init__(self, equation, output_shape, activation=None, bias_axes=None, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, kernel_constraint=None,
                 bias_constraint=None, lora_rank=None, lora_alpha=None, gptq_unpacked_column_size=None,
                 quantization_config=None, **kwargs):
        super().__init__(**kwargs)
        unused_keras_arguments.refuse_used(
            "EinsumDense", unused_keras_arguments.FULL_PRECISION, lora_rank=lora_rank,
            gptq_unpacked_column_size=gptq_unpacked_column_size, quantization_config=quantization_config)
        if not isinstance(equation, str):
            raise ValueError(f"equation: expected an einsum string such as 'ab,bc->ac', got {equation!r}")
        self.equation = equation
        self.partial_output_shape = (output_shape,) if isinstance(output_shape, int) else tuple(output_shape)
        self.bias_axes = bias_axes
        self.activation = activations.get(activation)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        analyze_einsum_string(equation, bias_axes, (), self.partial_output_shape, check_only=True)

    def build(self, input_shape):
        user_layer.build_user_layer(self, input_shape, self._make_weights)

    def _make_weights(self, batch_shape):
        kernel_shape, bias_shape, _, input_axes, output_axes = analyze_einsum_string(
            self.equation, self.bias_axes, tuple(batch_shape), self.partial_output_shape)
        initializer = self.kernel_initializer
        if isinstance(initializer, initializers.VarianceScaling) and (
                initializer.input_axes is None or initializer.output_axes is None):
            initializer = initializer.with_axes(input_axes, output_axes)  # Keras's fans over the kernel's axes
        self.kernel = self.add_weight(name="kernel", shape=tuple(kernel_shape), initializer=initializer,
                                      regularizer=self.kernel_regularizer, constraint=self.kernel_constraint)
        self.bias = None if bias_shape is None else self.add_weight(
            name="bias", shape=tuple(bias_shape), initializer=self.bias_initializer,
            regularizer=self.bias_regularizer, constraint=self.bias_constraint)

    def output_sample_shape(self, input_shape):
        shape = tuple(input_shape)
        batch_first = (None,) + shape
        output = analyze_einsum_string(self.equation, self.bias_axes, batch_first, self.partial_output_shape)[2]
        return tuple(output[1:])

    def forward(self, x, training):
        return user_layer.forward(self, x, training)

    def call(self, inputs, training=None):
        x = ops.einsum(self.equation, inputs, self.kernel)
        if self.bias is not None:
            x = ops.add(x, self.bias)
        if self.activation.name != "linear":
            x = self.activation(x)
        return x

    def get_config(self):
        return {
            **super().get_config(),
            "output_shape": self.partial_output_shape,
            "equation": self.equation,
            "activation": activations.serialize(self.activation),
            "bias_axes": self.bias_axes,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
            "bias_constraint": constraints.serialize(self.bias_constraint),
            "quantization_config": None,
        }


def analyze_einsum_string(equation, bias_axes, input_shape, output_shape, check_only=False):
    """(kernel shape, bias shape or None, full output shape, the kernel's input axes, its output axes) for
    ``equation`` on ``input_shape`` (batch first), as Keras's ``_analyze_einsum_string`` works them out (and its
    errors). ``check_only``: the equation's form and letters alone are checked (the shapes are not known yet)."""
    dot_replaced = re.sub(r"\.\.\.", "0", equation)
    for pattern, left_elided in (("([a-zA-Z]+),([a-zA-Z]+)->([a-zA-Z]+)$", False),
                                 ("0([a-zA-Z]+),([a-zA-Z]+)->0([a-zA-Z]+)$", True),
                                 ("([a-zA-Z]{2,})0,([a-zA-Z]+)->([a-zA-Z]+)0$", False)):
        split = re.match(pattern, dot_replaced)
        if split:
            if check_only:
                _check_letters(*split.groups(), bias_axes)
                return None
            return _analyze_split_string(split, bias_axes, input_shape, output_shape, left_elided)
    raise ValueError(f"Invalid einsum equation '{equation}'. Equations must be in the form [X],[Y]->[Z], "
                     "...[X],[Y]->...[Z], or [X]...,[Y]->[Z]....")


def _check_letters(input_spec, weight_spec, output_spec, bias_axes) -> None:
    for dim in output_spec:
        if dim not in input_spec and dim not in weight_spec:
            raise ValueError(f"Dimension '{dim}' was specified in the output '{output_spec}' but has no "
                             f"corresponding dim in the input spec '{input_spec}' or weight spec '{output_spec}'")
    for dim in weight_spec:
        if dim not in input_spec and dim not in output_spec:
            raise ValueError(f"Weight dimension '{dim}' did not have a match in either the input spec "
                             f"'{input_spec}' or the output spec '{output_spec}'. For this layer, the weight must be "
                             "fully specified.")
    for char in bias_axes or "":
        if char not in output_spec:
            raise ValueError(f"Bias dimension '{char}' was requested, but is not part of the output spec "
                             f"'{output_spec}'")


def _analyze_split_string(split, bias_axes, input_shape, output_shape, left_elided):
    input_spec, weight_spec, output_spec = split.groups()
    _check_letters(input_spec, weight_spec, output_spec, bias_axes)
    elided = len(input_shape) - len(input_spec)
    output_shape = [input_shape[0]] + list(output_shape)
    if elided > 0 and left_elided:
        for i in range(1, elided):
            output_shape.insert(1, input_shape[i])  # (the batch axis is in place already)
    elif elided > 0:
        output_shape.extend(input_shape[len(input_shape) - elided:])
    if left_elided:
        input_dims = {dim: i + elided - len(input_shape) for i, dim in enumerate(input_spec)}
        output_dims = {dim: i + elided for i, dim in enumerate(output_spec)}
    else:
        input_dims = {dim: i for i, dim in enumerate(input_spec)}
        output_dims = {dim: i for i, dim in enumerate(output_spec)}
    for dim in input_spec:
        size = input_shape[input_dims[dim]]
        if dim in output_dims:
            wanted = output_shape[output_dims[dim]]
            if wanted is not None and wanted != size:
                raise ValueError(f"Input shape and output shape do not match at shared dimension '{dim}'. Input "
                                 f"shape is {size}, and output shape is {wanted}.")
            output_shape[output_dims[dim]] = size  # None in output_shape: the input's size
    weight_shape, input_axes, output_axes = [], [], []
    for i, dim in enumerate(weight_spec):
        if dim in output_dims:
            weight_shape.append(output_shape[output_dims[dim]])
            output_axes.append(i)
        else:
            weight_shape.append(input_shape[input_dims[dim]])
            input_axes.append(i)
    bias_shape = None
    if bias_axes is not None:
        sizes = {char: output_shape[i + (elided if left_elided else 0)] for i, char in enumerate(output_spec)}
        first = min(output_spec.find(char) for char in bias_axes)
        bias_shape = [sizes[char] if char in bias_axes else 1 for char in output_spec[first:]]
        if not left_elided:
            bias_shape.extend([1] * max(elided, 0))
    return weight_shape, bias_shape, output_shape, input_axes, output_axes
