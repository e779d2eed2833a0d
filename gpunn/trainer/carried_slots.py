"""An optimizer's state carried over when the model's flat buffers are laid out again (a change of ``trainable``
taken at the first fit after a load or a compile, ``make_train_function(force=True)``, a layer added): each weight
keeps its slot values (Adam's moments...), as Keras's optimizer keeps one variable per weight whatever else the
model trains: a weight frozen, then trained again with the same optimizer, takes up its moments where it left
them (as on Keras's TensorFlow backend; its jax backend refuses the step)."""
from __future__ import annotations


def slots_by_weight(optimizer, descriptions) -> dict:
    """{(weight path, shape): {slot: host copy of its values}} of a built ``optimizer``, whose flat buffers hold
    the weights ``descriptions`` lists, in order; only the slots of one value per parameter."""
    slots, segments = getattr(optimizer, "slots", None), getattr(optimizer, "_segments", None)
    if not slots or descriptions is None or segments is None or len(segments) != len(descriptions):
        return {}
    elementwise = {name: buffer for name, buffer in slots.items() if buffer.size == optimizer._size}
    return {tuple(description): {name: optimizer.ops.to_numpy(buffer[start:stop]).copy()
                                 for name, buffer in elementwise.items()}
            for description, (start, stop) in zip(descriptions, segments)}


def restore(optimizer, descriptions, kept: dict) -> None:
    """Put the values ``slots_by_weight`` kept back into the newly built ``optimizer``, for each weight it still
    trains."""
    if not kept:
        return
    for description, (start, stop) in zip(descriptions, optimizer._segments):
        for name, values in kept.get(tuple(description), {}).items():
            buffer = optimizer.slots.get(name)
            if buffer is not None and buffer.size == optimizer._size and values.size == stop - start:
                buffer[start:stop] = optimizer.ops.asarray(values, dtype=buffer.dtype)


def not_trained(kept: dict, descriptions) -> dict:
    """The part of ``kept`` for weights the optimizer does not train now (frozen): held until they are again."""
    trained = {tuple(description) for description in descriptions}
    return {description: values for description, values in kept.items() if description not in trained}
