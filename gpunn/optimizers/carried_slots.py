"""An optimizer's state carried over when the model's flat buffers are laid out again (a change of ``trainable``
taken at the first fit after a load or a compile, ``make_train_function(force=True)``, a layer added): each weight
keeps its slot values (Adam's moments...), as Keras's optimizer keeps one variable per weight whatever else the
model trains: a weight frozen, then trained again with the same optimizer, takes up its moments where it left
them (as on Keras's TensorFlow backend; its jax backend refuses the step).

Weights are known by identity (the layer object and the weight's name), never by path: a layer removed and
another of the same name added in its place starts afresh, and the moments of layers no longer in the model are
dropped. The moments held for frozen weights live with the optimizer object: files hold the state of the weights
trained when they were written, and state set from a file replaces them (``forget_frozen``)."""
from __future__ import annotations

from . import accumulation


def _keys(weights) -> list:
    return [(layer, spec.name) for layer, spec in weights]


def _places(optimizer, weights, name: str, buffer) -> list:
    """Per weight of ``weights``, the (start, stop) of its part of the slot ``name``'s flat ``buffer`` in the
    ``optimizer``'s current layout: its own segment for a slot of one value per parameter, its factors' place for
    a slot of another shape (Adafactor's per-row and per-column second moments); None where the slot has no part
    per weight."""
    if buffer.size != optimizer.slot_size(name, optimizer._size):
        return [None] * len(weights)
    return [optimizer.keras_slot_place(name, index, segment, tuple(spec.shape))[:2]
            for index, ((_, spec), segment) in enumerate(zip(weights, optimizer._segments))]


def slots_by_weight(optimizer, weights) -> dict:
    """{(layer, weight name): {slot: host copy of its values}} of a built ``optimizer``, whose flat buffers hold
    ``weights`` ((layer, spec) pairs), in order."""
    slots, segments = getattr(optimizer, "slots", None), getattr(optimizer, "_segments", None)
    if not slots or weights is None or segments is None or len(segments) != len(weights):
        return {}
    kept: dict = {key: {} for key in _keys(weights)}
    for name, buffer in slots.items():
        for key, place in zip(_keys(weights), _places(optimizer, weights, name, buffer)):
            if place is not None:
                kept[key][name] = optimizer.ops.to_numpy(buffer[place[0]:place[1]]).copy()
    return kept


def restore(optimizer, weights, kept: dict) -> None:
    """Put the values ``slots_by_weight`` kept back into the newly built ``optimizer``, for each weight it
    trains."""
    if not kept:
        return
    for name, buffer in optimizer.slots.items():
        for key, place in zip(_keys(weights), _places(optimizer, weights, name, buffer)):
            held = kept.get(key, {})
            values = held.get(name)
            if _zeroed_since(optimizer, held, name):
                continue  # (the new buffer starts at zero)
            if place is not None and values is not None and values.size == place[1] - place[0]:
                buffer[place[0]:place[1]] = optimizer.ops.asarray(values, dtype=buffer.dtype)


def unknown(weights, before, parked: dict) -> list:
    """The weights (layer, spec) of ``weights`` that an optimizer built for ``before``, holding ``parked``
    moments of frozen ones, has never trained (Keras's TensorFlow backend refuses them: "Unknown variable")."""
    known = set(_keys(before or [])) | set(parked)
    return [(layer, spec) for (layer, spec), key in zip(weights, _keys(weights)) if key not in known]


_PARKED_AT = "steps done when frozen"  # (no slot's name)


def not_trained(kept: dict, weights, layers, steps_done: int) -> dict:
    """The part of ``kept`` for weights of ``layers`` (the model's) that the optimizer does not train now
    (frozen): held until they are again, with the count of steps done when each was frozen."""
    trained, present = set(_keys(weights)), {id(layer) for layer in layers}
    return {key: {_PARKED_AT: steps_done, **values} for key, values in kept.items()
            if key not in trained and id(key[0]) in present}


def _zeroed_since(optimizer, values: dict, name: str) -> bool:
    """Whether Keras would have zeroed the slot ``name`` of a weight held since it was frozen: the gradient
    accumulator, when an update step came in between (Keras zeroes every weight's accumulator at each update step,
    keras/src/optimizers/base_optimizer.py ``_backend_apply_gradients``, frozen ones included)."""
    every = optimizer.gradient_accumulation_steps
    if name != accumulation.SLOT or not every or _PARKED_AT not in values:
        return False
    return optimizer._iterations // every > values[_PARKED_AT] // every


def forget_frozen(optimizer) -> None:
    """Drop the moments held for frozen weights: the optimizer's state was set from elsewhere (a file)."""
    built_for = optimizer.__dict__.get("_built_for")
    if built_for is not None:
        optimizer._built_for = built_for[:2] + ({},)
