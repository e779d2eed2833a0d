"""How a model's layers are connected, and the forward and backward passes that follow the connections.

A Sequential model is a chain: each layer reads the output of the layer before it. A functional model may be
any graph of one input and one output (``models/functional.py``): skip connections, branches that meet again in
a merge layer (``merging.py``), the input read again further on (Keras's "wide & deep"). Such a model keeps its
layers in an order where every layer comes after the layers it reads (Keras's order: by depth, see
``functional.py``) and, for each layer, its *sources*: the indices of the layers whose outputs it reads, ``-1``
for the model's input (``-1 - k`` for its input k, when it has several: ``input_source``). ``sources`` is None
for a chain, whose passes stay the plain loops they always were. A model of several inputs runs on one array of
all their features side by side (``packed_inputs.py``), split into the inputs before the first layer.

Backward through a graph: a layer's output read by several layers receives the sum of their gradients, summed
into a buffer of the step's own workspace. Every gradient handed to a backprop is that backprop's alone (layers
may write their dz into the dy they receive): merge layers hand each input a buffer of its own.
"""
from __future__ import annotations

from .. import step_calls
from . import activity_losses, user_layer
from .shared_call import add_shared_gradients, is_shared_call

MODEL_INPUT = -1


def input_source(k: int) -> int:
    """The source index of the model's input ``k``."""
    return -1 - k


def is_model_input(source: int) -> bool:
    return source < 0


def is_chain(sources) -> bool:
    """Whether ``sources`` connect each layer to the one before it alone (the model's one input for the first)."""
    return all(tuple(s) == (i - 1,) for i, s in enumerate(sources))


def chain(count: int) -> tuple:
    return tuple((i - 1,) for i in range(count))


def takes_list(layer) -> bool:
    # (a layer of the user's taking several inputs as arguments, or a dict of them, takes them so before it is
    # built, from a config)
    return getattr(layer, "takes_inputs_list", False) or user_layer.spreads_inputs(layer) or \
        "_input_keys" in getattr(layer, "__dict__", {})


def layer_inputs(layer, values: dict, sources: tuple):
    """What ``layer`` is called with: the value it reads, or the list of them for a merge layer, or for a layer
    whose call() reads several (a Lambda over two towers, made from a config before it is built)."""
    if takes_list(layer) or (len(sources) > 1 and user_layer.runs_call(layer)):
        return [values[s] for s in sources]
    return values[sources[0]]


def layer_of(call):
    """The layer a call runs (a later call of a shared layer stands for the layer)."""
    return call.layer if is_shared_call(call) else call


def modes_of_a_plain_call(calls: list, modes):
    """The modes of a model called without ``training`` (``model(x)``): as in Keras, the layers whose call()
    defaults to training (``training_by_default``: the image augmentations, which transform when a model of them
    is called so) run in training, the others in inference (Keras's call context would then also run later layers
    whose call() defaults to None, BatchNormalization among them, in training: gpunn does not); a mode a call fixed
    stays."""
    defaults = [True if getattr(layer_of(call), "training_by_default", False) else None for call in calls]
    if not any(defaults):
        return modes
    return tuple(default if modes is None or modes[i] is None else modes[i] for i, default in enumerate(defaults))


def nodes_by_layer(calls: list, sources, nodes) -> dict:
    """{id(layer): [the sources of each of its calls, in node order]} (Keras's inbound nodes of each layer);
    ``nodes``: each call's node index."""
    by_layer: dict = {}
    for _, call, reads in sorted(zip(nodes, calls, sources), key=lambda triple: triple[0]):
        by_layer.setdefault(id(layer_of(call)), []).append(reads)
    return by_layer


def build_shapes(layers: list, sources, input_shapes: list, build) -> None:
    """``build(layer, shape)`` for each layer in order, with the sample shape(s) it receives; ``input_shapes``:
    the sample shape of each of the model's inputs."""
    if sources is None:
        shape = tuple(input_shapes[0])
        for layer in layers:
            build(layer, shape)
            shape = layer.output_shape
        return
    shapes = {input_source(k): tuple(shape) for k, shape in enumerate(input_shapes)}
    for i, layer in enumerate(layers):
        build(layer, layer_inputs(layer, shapes, sources[i]))
        shapes[i] = tuple(layer.output_shape)


def forward(layers: list, sources, x, training: bool, raw: frozenset = frozenset(), outputs: dict | None = None,
            keep: frozenset = frozenset(), modes=None, output_indices=None):
    """(output, backprops): every layer run once, in order, in mode ``training`` or the one ``modes`` fixes for it
    (None, or None for a layer: the model's). The output is the last layer's, or the list of the outputs of the
    layers at ``output_indices`` (a model of several outputs). ``raw``: indices of Dense layers that hand over
    their pre-activation output (the loss applies the activation). ``outputs``, when given, receives the output of
    each layer whose index is in ``keep``. ``x``: the input, or the list of a model's several inputs."""
    with step_calls.running(layers):  # (a layer of these called again inside one's call() is refused there)
        return _forward(layers, sources, x, training, raw, outputs, keep, modes, output_indices)


def _forward(layers, sources, x, training, raw, outputs, keep, modes, output_indices):
    backprops = []
    values = None
    if sources is not None:
        values = {input_source(k): value for k, value in enumerate(x)} if isinstance(x, list) else {MODEL_INPUT: x}
    for i, layer in enumerate(layers):
        if values is not None:
            x = layer_inputs(layer, values, sources[i])
        mode = training if modes is None or modes[i] is None else modes[i]
        activity_losses.clear(layer)  # ``layer.losses`` after a model's call: that call's (Sequential.__call__)
        if i in raw:
            x, backprop = layer.forward(x, mode, apply_activation=False)
        else:
            x, backprop = layer.forward(x, mode)
        backprops.append(backprop)
        if values is not None:
            values[i] = x
        if outputs is not None and i in keep:
            outputs[i] = x
    if output_indices is not None:
        return [values[i] for i in output_indices], backprops
    return x, backprops


def need_dx(layers: list, sources, has_grads) -> list:
    """Per layer, whether its backprop must compute the gradient of its input: whether any layer it reads from,
    directly or not, has trained weights (``has_grads(layer)``). For a merge layer, a tuple: one flag per input."""
    if sources is None:
        flags, seen = [], False
        for layer in layers:
            flags.append(seen)
            seen = seen or bool(has_grads(layer))
        return flags
    trained_above: dict = {}
    flags = []
    for i, layer in enumerate(layers):
        reads = [trained_above.get(s, False) for s in sources[i]]  # a model's input: nothing trained above
        flags.append(tuple(reads) if takes_list(layer) else reads[0])
        trained_above[i] = any(reads) or bool(has_grads(layer))
    return flags


def backward(layers: list, sources, backprops: list, dy, flags: list, ops, ws, layer_done=None) -> None:
    """Backprop ``dy`` (the gradient at the last layer's output; for a model of several outputs, a dict of the
    gradient at each output by its layer's index) through every layer, in reverse order; ``layer_done(index)``
    is told as each layer's weight gradients are final."""
    shared = {id(call.layer) for call in layers if is_shared_call(call)}  # layers called more than once
    ran: set = set()
    if sources is None:  # a chain (a Sequential's, calling a layer again where it was added twice)
        for index in range(len(backprops) - 1, -1, -1):
            if dy is not None:  # None: no layer below has trainable weights (e.g. a frozen first layer)
                ran.add(index)
                dy = backprops[index](dy, flags[index])
            if id(layers[index]) in shared:
                add_shared_gradients(layers, ran, index, ops)
            if layer_done is not None:
                layer_done(index)
        return
    pending = dict(dy) if isinstance(dy, dict) else {len(backprops) - 1: dy}
    for index in range(len(backprops) - 1, -1, -1):
        gradient = pending.pop(index, None)
        if gradient is not None:  # None: nothing below this layer is trained through it
            ran.add(index)
            dx = backprops[index](gradient, flags[index])
            for source, part in zip(sources[index], dx if takes_list(layers[index]) else [dx]):
                if part is None or is_model_input(source):
                    continue
                if source not in pending:
                    pending[source] = part
                    continue
                total = ws.buffer(f"gradient_sum.{source}", part.shape, part.dtype)
                ops.add(pending[source], part, total)
                pending[source] = total
        if id(layers[index]) in shared:  # a layer's first call, after all its later ones (it comes first)
            add_shared_gradients(layers, ran, index, ops)
        if layer_done is not None:
            layer_done(index)


def link_masks(layers: list, sources, passes_mask, refuse, output_indices=None) -> tuple[list, object]:
    """([(layer, mask source)] for the layers that use a mask, the source of the mask an output carries (the
    first found of those at ``output_indices``; None: the last layer's)), as ``masking.link`` for a chain. A
    merge layer given a masked input is refused (``refuse(layer, source)``)."""
    values: dict = {}
    links = []
    for i, layer in enumerate(layers):
        reads = [values.get(s) for s in sources[i]]  # a model's input carries no mask
        masked = [s for s in reads if s is not None]
        if takes_list(layer):
            if masked and not getattr(layer, "drops_masks", False):
                refuse(layer, masked[0])
            values[i] = None
            continue
        if layer.uses_mask:
            links.append((layer, reads[0]))
        values[i] = passes_mask(layer, reads[0])
    ends = (len(layers) - 1,) if output_indices is None else output_indices
    return links, next((values[i] for i in ends if values[i] is not None), None)
