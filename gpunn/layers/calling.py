"""Calling a layer on an array, outside any model (``layer(x)``), as Keras's ``Layer.__call__`` does eagerly.

Keras builds a layer on its first call and creates its weights there. A gpunn layer's weights normally live in
a model's flat buffers; a layer used on its own gets arrays of its own instead (``bind_standalone``), drawn
from its initializers, and a model that later takes the layer copies them into its buffers and keeps them (a
layer's weights are kept when it joins a model: ``models/parameter_store.py``). A layer a model has bound
computes with that model's views.

The result is a new backend array: NumPy on the CPU, CuPy on the GPU (Keras returns a backend tensor). On the
CPU it is a ``CallResult``, an ndarray that also has the ``.numpy()`` of TensorFlow's tensors, which scripts
written for tf.keras call on outputs (``normalizer(x).numpy()``).
"""
from __future__ import annotations

import contextlib
import threading

import numpy as np

from .. import compute_turns, step_calls
from ..data import as_model_dtype, as_numeric_array
from . import activity_losses, categorical_outputs, masking, sublayers, tf_pipeline, user_layer
from .given_mask import given_mask
from .call_result import CallResult, call_result  # noqa: F401 (imported from here)
from .input_spec import check_layer_inputs


_CALL_CONTEXT = threading.local()


@contextlib.contextmanager
def training_of_the_outer_call(training: bool):
    """Keras's call context: layers called without ``training`` inside a call given one take it (a subclassed
    model's call() run on arrays, ``subclassed.call_with_keywords``), and a layer given one explicitly sets it for
    the layers called after it (``check_training``; Keras's ``_resolve_and_populate_arg``). Per thread."""
    previous = getattr(_CALL_CONTEXT, "training", None)
    _CALL_CONTEXT.training = bool(training)
    try:
        yield
    finally:
        _CALL_CONTEXT.training = previous


def check_training(training) -> bool:
    if training is None:
        return bool(getattr(_CALL_CONTEXT, "training", None))
    if not isinstance(training, (bool, np.bool_)):
        raise ValueError(f"training: expected True or False, got {training!r}")
    if getattr(_CALL_CONTEXT, "training", None) is not None:  # (inside a call's context: the mode from here on)
        _CALL_CONTEXT.training = bool(training)
    return bool(training)


def context_training():
    """The mode of the call context this thread is in (``training_of_the_outer_call``), None outside one."""
    return getattr(_CALL_CONTEXT, "training", None)


def compute_dtype(layer) -> str:
    """The dtype a layer computes in: its weights', else its declared dtype, else float32 (Keras's default)."""
    for weight in layer.bound.weights.values():
        return np.dtype(weight.dtype).name
    return layer.dtype or "float32"


def to_backend(ops, argument: str, data, dtype):
    """``data`` as a C-contiguous backend array of ``dtype``: a CuPy array stays on the GPU, host data is
    checked (numeric, finite, fits the dtype; errors name ``argument``) and copied there."""
    if not ops.on_host and isinstance(data, ops.xp.ndarray):
        if data.dtype.kind not in "biuf":
            raise TypeError(f"{argument}: expected numeric data, got dtype {data.dtype}")
        return ops.xp.ascontiguousarray(data, dtype=dtype)
    return ops.asarray(writable(as_model_dtype(argument, as_numeric_array(argument, data), dtype)))


def writable(host):
    """``host``, or a copy of it where it is read-only (np.asarray of a TensorFlow or JAX tensor, a memory map,
    pandas 3's ``to_numpy()``): the compiled CPU loops are typed for arrays they may write."""
    return host if host.flags.writeable else host.copy()


def bind_standalone(layer, ops, dtype) -> None:
    """Give a built layer that no model has bound arrays of its own: its current weights where it holds them,
    the others from their initializers (drawn from gpunn's generator, as a model draws them)."""
    held = sublayers.held_weights(layer)
    specs = layer.weight_specs()
    if layer.ops is not None and all(spec.name in held for spec in specs):
        return
    ops = layer.ops or ops

    def first_value(spec):
        if spec.name not in held:
            return ops.asarray(spec.initializer(spec.shape, dtype))
        held_ops, array = held[spec.name]
        return array if held_ops is ops else ops.asarray(held_ops.to_numpy(array))

    weights = {spec.name: first_value(spec) for spec in specs}
    layer.bind(ops, weights, {}, trainable=layer.trainable, owner=None)


def _rebuilds_with_same_weights(layer, sample_shape) -> bool:
    """Build ``layer`` for ``sample_shape`` if its weights keep their shapes there (else leave it as it was)."""
    before, shape = [spec.shape for spec in layer.weight_specs()], layer.input_shape
    layer.build(sample_shape)
    if [spec.shape for spec in layer.weight_specs()] == before:
        return True
    layer.build(shape)
    return False


@contextlib.contextmanager
def flags_of_now(layers):
    """An eager call runs each of ``layers`` (and the layers they hold) with its ``trainable`` flag of now, as
    Keras's eager calls read it: a frozen BatchNormalization called with ``training=True`` keeps to inference
    mode. A step of ``fit`` keeps the flags it was compiled with (``Bound.trainable``)."""
    from .shared_call import is_shared_call

    kept = []
    distinct = {id(layer): layer for layer in (call.layer if is_shared_call(call) else call for call in layers)}
    for layer in distinct.values():
        for _, owner in sublayers.owners(layer):
            kept.append((owner.bound, owner.bound.trainable))
            owner.bound.trainable = bool(owner.trainable)
    try:
        yield
    finally:
        for bound, flag in reversed(kept):
            bound.trainable = flag


def call_layer(layer, inputs, training=False, mask=None, backprops: list | None = None):
    """``layer(inputs)``: see the module docstring. A 1-D input is one sample (the result is 1-D too), or a batch
    of single values for a layer whose samples have shape (1,). ``mask`` (or ``inputs._keras_mask``): a padding
    mask, which a layer computing with one takes, as Keras's eager calls do. ``backprops``: a list that gets the
    forward pass's (input as computed, output, backprop) of a built-in layer (``differentiated_call``)."""
    from ..ops import get_ops

    ops = layer.ops or get_ops()
    with compute_turns.turn(ops):  # (the layer's workspaces: compute_turns.py)
        return _call_layer_in_turn(layer, ops, inputs, training, mask, backprops)


def differentiated_call(layer, inputs, training=None, mask=None):
    """``layer(y_pred)`` in a loss function, a metric or a model's own compute_loss (``step_calls.py``), ``inputs``
    a Tensor the step differentiates: the layer's output as a Tensor whose gradient goes back through the layer's
    own backprop to ``inputs``, as Keras differentiates the loss (a frozen critic, a projection of the
    predictions); a layer of the user's runs its call() on the Tensor itself. The layer's weights are not trained
    by it (Keras trains those of the layers the model tracks, which gpunn refuses by name when they are trainable:
    ``own_compute_loss.trained_outside_call``). A layer called again before the gradient is taken (feat(y_pred) -
    feat(y_true)) has written its workspace again: its backward pass runs the forward pass of this call again
    first (``step_calls.forwards_of``)."""
    from ..autodiff import Tensor

    if user_layer.runs_call(layer) and layer.built and layer.ops is not None:  # its call() on the Tensor itself
        if mask is not None:
            raise ValueError(f"mask: layer {layer.name!r} of the user's is differentiated here on y_pred without a "
                             "mask; apply the mask in the loss instead")
        return _users_call_differentiated(layer, inputs, training)
    found: list = []
    result = call_layer(layer, inputs.value, training, mask, backprops=found)
    if not found:  # a layer of the user's built by this call: its call() on the Tensor from now on
        return _users_call_differentiated(layer, inputs, training)
    x, y, backprop = found[0]
    ops = layer.ops
    seen = step_calls.forwards_of(layer)

    def backward(dy):
        run = backprop
        if step_calls.forwards_of(layer) != seen:
            # called again since (feat(y_pred) - feat(y_true)): its workspace holds that call's pass; this one's
            # again, the same in inference (a second pass in training would draw or update anew)
            if check_training(training):
                raise ValueError(f"layer {layer.name!r} was called again in the loss, in training mode, before the "
                                 "gradient of its first call was taken; gpunn keeps one forward pass of a layer at a "
                                 "time: call it once there (on the values stacked), or in inference mode")
            with compute_turns.turn(ops):
                _, run = layer.forward(x, False)
        # (copies: a layer's backprop may write into the gradient it is given, and returns dx in its workspace,
        # which its next backprop writes again)
        dx = run(ops.xp.array(dy, dtype=y.dtype, copy=True).reshape(y.shape), need_dx=True)
        return (None if dx is None else ops.xp.array(dx, copy=True).reshape(inputs.shape),)

    return Tensor(result, parents=(inputs,), backward=backward)


def differentiated_call_on_several(layer, inputs: list, training=None):
    """``layer([y_pred, y_true])`` in a loss: a layer of the user's (a Lambda too) runs its call() on the values
    (Tensors), differentiated through; another built-in layer taking a list is refused by name (its kernels take
    arrays; the merging layers differentiate themselves: ``merging.py``)."""
    from ..autodiff import Tensor

    if not user_layer.runs_call(layer):
        raise ValueError(f"layer {layer.name!r} ({type(layer).__name__}) was called in a loss on a list holding a "
                         "value the loss is differentiated by (y_pred): compute that with gpunn.ops there "
                         "(ops.add, ops.concatenate...), which carry its gradient")
    values = [value if isinstance(value, Tensor) else Tensor(np.asarray(value)) for value in inputs]
    if not layer.built or layer.ops is None:
        call_on_several(layer, [value.value for value in values], training)  # (built, and bound, by a first call)
    return _users_call_differentiated(layer, values, training)


def _users_call_differentiated(layer, inputs, training):
    """A layer of the user's called on a Tensor a loss is differentiated by: its call() on it, refused at the
    backward pass when a layer inside it ran again meanwhile (its backprop would read that later pass)."""
    from ..autodiff import Tensor

    with compute_turns.turn(layer.ops):
        result = user_layer.call_differentiated(layer, inputs, check_training(training))
    inside = [owner for _, owner in sublayers.owners(layer)]
    seen = [step_calls.forwards_of(owner) for owner in inside]

    def backward(dy):
        if [step_calls.forwards_of(owner) for owner in inside] != seen:
            raise ValueError(f"layer {layer.name!r} was called again in the loss before the gradient of its first "
                             "call was taken, and the layers inside it keep one forward pass at a time: call it "
                             "once there (on the values stacked)")
        return (dy,)

    return Tensor(result.value, parents=(result,), backward=backward)


def _call_layer_in_turn(layer, ops, inputs, training, mask, backprops=None):
    training = check_training(training)
    dtype = compute_dtype(layer)
    x = to_backend(ops, "inputs", inputs, dtype)
    known = layer.input_shape if layer.built else layer.declared_input_shape
    flat = x.ndim == 1
    # 1-D: a batch of single values for a layer of samples of shape (1,) (Keras adds the axis), else one sample;
    # always one sample for an encoding of several values per sample (multi_hot, count: Keras reads the rank of
    # each call, and a layer built for a column then refuses the row rather than encode its values one by one)
    scalars = flat and known is not None and tuple(known) == (1,) and not categorical_outputs.one_row_per_call(layer)
    if flat:
        x = x.reshape(-1, 1) if scalars else x.reshape(1, -1)
    sample_shape = tuple(x.shape[1:])
    layer._standalone = user_layer.runs_call(layer)  # a call() of the user's may return anything on its own
    try:
        _build_for(layer, sample_shape, x)
    finally:
        layer._standalone = False
    bind_standalone(layer, ops, dtype)
    if ops.on_host or not isinstance(inputs, ops.xp.ndarray):  # host data: checked as a model checks its inputs
        layer.check_input_values("inputs", ops.to_numpy(x))
    masking.detach(layer)
    explicit = mask is not None
    mask = getattr(inputs, "_keras_mask", None) if mask is None else mask
    given = given_mask(layer, mask, x, ops, x.dtype if x.dtype.kind == "f" else dtype, explicit)
    if given is not None:
        layer.mask_source = given
    activity_losses.clear(layer)
    try:
        with flags_of_now([layer]):
            if user_layer.runs_call(layer):
                y = user_layer.call_eagerly(layer, x, training)
            else:
                y, backprop = layer.forward(x, training)
                if backprops is not None:
                    backprops.append((x, y, backprop))
    finally:
        masking.detach(layer)
    activity_losses.add(layer, y)
    if isinstance(y, (tuple, list)):  # a call() of the user's returning several tensors (several_outputs.py)
        parts = type(y)(_result(layer, part, flat, scalars) for part in y)
        produced = None if flat else layer.compute_mask(x, mask)
        if isinstance(produced, (tuple, list)) and len(produced) == len(parts):  # Keras: each its own mask
            for part, part_mask in zip(parts, produced):
                if isinstance(part, CallResult) and part_mask is not None:
                    part._keras_mask = part_mask
        return parts
    result = _result(layer, y, flat, scalars)
    if isinstance(result, CallResult) and not flat:  # Keras's eager mask: the output's ``_keras_mask``
        produced = layer.compute_mask(x, mask)
        if produced is not None:
            result._keras_mask = produced
    return result


def call_on_several(layer, inputs, training=False):
    """``layer([a, b])`` (or ``layer((a, b))``) on arrays: a layer of the user's or a Lambda taking several
    inputs, called on its own, runs its call() on them as Keras's eager call does (the "Hands-On Machine
    Learning" chapter 12 MyMultiLayer)."""
    from ..ops import get_ops

    ops = layer.ops or get_ops()
    with compute_turns.turn(ops):
        return _call_on_several_in_turn(layer, ops, inputs, training)


def _call_on_several_in_turn(layer, ops, inputs, training):
    training = check_training(training)
    dtype = compute_dtype(layer)
    xs = [to_backend(ops, f"inputs[{k}]", value, dtype) for k, value in enumerate(inputs)]
    if any(x.ndim < 2 for x in xs) or len({x.shape[0] for x in xs}) != 1:
        raise ValueError(f"inputs: layer {layer.name!r} takes several arrays of samples, one row per sample in each; "
                         f"got shapes {[tuple(x.shape) for x in xs]}")
    shapes = [tuple(x.shape[1:]) for x in xs]
    if not layer.built:
        layer._standalone = True
        try:
            layer.build(shapes)
        finally:
            layer._standalone = False
    elif not isinstance(layer.input_shape, list) or [tuple(shape) for shape in layer.input_shape] != shapes:
        built = [tuple(s) for s in layer.input_shape] if isinstance(layer.input_shape, list) else \
            tuple(layer.input_shape)
        raise ValueError(f"inputs: layer {layer.name!r} is built for samples of shape(s) {built}, got {len(xs)} "
                         f"arrays of samples of shapes {shapes}")
    bind_standalone(layer, ops, dtype)
    with flags_of_now([layer]):
        y = user_layer.call_eagerly(layer, xs, training)
    if isinstance(y, (tuple, list)):
        return type(y)(_result(layer, part, False, False) for part in y)
    return _result(layer, y, False, False)


def _result(layer, y, flat: bool, scalars: bool):
    y = layer.ops.copy(layer.ops.asarray(y))  # the workspace is written again next call
    dtype = tf_pipeline.keras_output_dtype(layer)
    if dtype != "string" and np.dtype(dtype).kind in "iu":  # a lookup's or binning's indices: Keras's integers
        y = y.astype(dtype)
    y = call_result(layer.ops, y)
    if not flat or y.ndim == 0:
        return y
    if scalars:
        return y.reshape(-1) if y.ndim == 2 and y.shape[1] == 1 else y
    return y[0]


def _build_for(layer, sample_shape, x) -> None:
    """Build ``layer`` for samples of ``sample_shape`` (first call), or check it was built for them."""
    check_layer_inputs(layer, sample_shape, x.shape[0], x.dtype)  # its own input_spec, at every call
    if not layer.built:
        # (a declared input_shape is ignored, as Keras ignores it here: it tells a Sequential its input, no more;
        # the TF custom-layers tutorial calls Dense(10, input_shape=(None, 5)) on a (10, 5) batch)
        layer.build(sample_shape)
        check_layer_inputs(layer, sample_shape, x.shape[0], x.dtype)  # build may have set it
    elif tuple(layer.input_shape) != sample_shape:
        # In no model, a layer whose weights fit the new shape (none, or an Embedding's table) takes any, as in Keras
        if layer.bound.owner is None and _rebuilds_with_same_weights(layer, sample_shape):
            pass
        else:
            raise ValueError(f"inputs: layer {layer.name!r} is built for samples of shape "
                             f"{tuple(layer.input_shape)}, got samples of shape {sample_shape} (array shape "
                             f"{tuple(x.shape)})")
