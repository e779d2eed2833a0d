"""A model called on samples of another shape than it was built for, as Keras's models take them: a Dense layer
reads the last axis only, so a model trained on windows of one time step predicts on windows of 24 (the TF
time-series tutorial calls its Linear and Dense models on its wide window so).

gpunn's models run on buffers made for one sample shape. For data of another shape, ``variant_for`` makes a
variant of the model: its architecture (``cloning.py``) on an input of the new shape, kept per shape (the
last ``KEPT_VARIANTS`` shapes used: a Resizing model meets images of many sizes). Its weights
are the model's, copied in before each use, and the non-trainable ones (BatchNormalization's moving statistics)
copied back after a call in training mode, so the model stays the one place the weights live. It serves calls,
``predict`` and ``evaluate`` (and their ``_on_batch`` forms) on arrays; ``fit`` keeps the model's shape (it trains
the model's own buffers); its callbacks see the variant as their model. Where the layers cannot take the new
shape (a Flatten before a Dense), or a copy of them would compute otherwise than Keras (steps of the model's own,
a subclassed model's ``call()`` that read its inputs' shape), the error says so.
"""
from __future__ import annotations

import numpy as np

from ..custom_objects import custom_object_scope
from ..layers import numeric_arguments


KEPT_VARIANTS = 8  # per model, the variants of the shapes used last


def variant_for(model, x, argument: str = "x"):
    """The variant of ``model`` for ``x``'s samples, or None where ``model`` takes ``x`` itself (or ``x`` is not
    an array of samples of one input: the usual checks then run)."""
    shape = _sample_shape(x)
    built = getattr(model, "_built_input_shape", None)
    if shape is None or built is None or not model.built or getattr(model, "_packed", None) is not None or \
            getattr(model, "_text_sample_shape", None) is not None or model.__dict__.get("_variant_of") is not None:
        return None
    if shape == tuple(built) or _rank_adjusted(shape, tuple(built)):
        return None  # (first: every call of the model's own shape stops here)
    if numeric_arguments.is_text(x) or getattr(getattr(x, "dtype", None), "name", None) == "string":
        return None  # strings: the model reads what its text layers make of them (text_inputs.py)
    # Keras first adds or drops a trailing axis of 1 (variable widths: (n, 5, 1) to an Input((None,))): the variant
    # is for the samples so adjusted, and takes the data as the model would (its own rank adjustment)
    shape = _rank_adjusted_to(shape, tuple(built))
    if shape == tuple(built):
        return None
    _check_rank(model, shape, tuple(built), argument)
    _check_possible(model, shape, tuple(built), argument)
    variants = model.__dict__.setdefault("_shape_variants", {})
    store = getattr(model, "_store", None)
    made = variants.pop(shape, None)
    if made is None or made[1] is not store:  # (made for an earlier build of the model)
        made = (_made(model, shape, argument), store)
    variants[shape] = made  # the most recently used last
    while len(variants) > KEPT_VARIANTS:  # (images of many sizes through a Resizing model: the oldest go)
        variants.pop(next(iter(variants)))
    variant = made[0]
    variant.set_weights(model.get_weights())
    return variant


def forget(model) -> None:
    """Drop the model's variants: it was compiled or built again (``Trainer.compile``, ``Sequential.build``)."""
    model.__dict__.pop("_shape_variants", None)


def _check_rank(model, shape: tuple, built: tuple, argument: str) -> None:
    """Refuse samples of another rank (``x[:, None, :]`` for a model of shape (8,)) to a Sequential or a model made
    from inputs and outputs, as Keras's input check does (keras/src/models/functional.py ``_adjust_input_rank``
    adds or drops a trailing axis of 1 only): its Dense layers would map the last axis and give predictions of
    another rank, whose ``argmax(axis=1)`` is silently wrong. A subclassed model's call() takes what its layers take,
    as Keras runs it."""
    from .keras_attribute_paths import is_subclassed

    if len(shape) == len(built) or is_subclassed(model):
        return
    raise ValueError(f"{argument}: expected samples of shape {built} (the model's input), got samples of shape "
                     f"{shape}, of another rank; Keras refuses them too (\"Invalid input shape\"): reshape the data "
                     f"to samples of {len(built)} {'axis' if len(built) == 1 else 'axes'}"
                     f"{_reshape_advice(shape, built, argument)}")


def _reshape_advice(shape: tuple, built: tuple, argument: str) -> str:
    """How to reshape samples of ``shape`` into ``built``'s where it is plain: an axis of 1 too many, or the same
    numbers of values."""
    if len(shape) == len(built) + 1 and 1 in shape:
        without = list(shape)
        axis = without.index(1)
        del without[axis]
        if len(without) == len(built):
            return f" ({argument}.squeeze(axis={axis + 1}) drops its axis of 1)"
    if int(np.prod(shape)) == int(np.prod(built)):
        return f" ({argument}.reshape(len({argument}), {', '.join(str(d) for d in built)}))"
    return ""


def _check_possible(model, shape: tuple, built: tuple, argument: str) -> None:
    """Refuse, by name, what a variant would compute otherwise than Keras: steps of the model's own, and a
    subclassed model whose ``call()`` read its inputs' shape when it was traced (Keras runs ``call()`` again for
    each shape; gpunn's graph holds the traced shape's values)."""
    from ..trainer import custom_steps

    expected = f"{argument}: expected samples of shape {built} (the model's input), got samples of shape {shape}"
    own = [name for name in ("compute_loss", "compute_metrics", "train_step", "test_step", "predict_step")
           if custom_steps.has_own(model, name)]
    if own:
        raise ValueError(f"{expected}; gpunn runs a model on samples of another shape as a copy of its layers, "
                         f"without the {', '.join(own)} of {type(model).__name__}'s own: give it samples of its shape")
    if model.__dict__.get("_call_read_shapes"):
        raise ValueError(f"{expected}; {type(model).__name__}.call() read its inputs' shape when gpunn traced it for "
                         f"samples of shape {built}, and Keras would run it again for these: give it samples of its "
                         "shape, or make a model of this shape")


def after_call(model, variant, training: bool) -> None:
    """After ``variant`` ran in training mode: what it updated besides the weights (moving statistics) back in the
    model."""
    if training and variant is not None:
        model.set_weights(variant.get_weights())


def _sample_shape(x) -> tuple | None:
    """The shape of one sample of an array (a list is the model's inputs, one per entry: not here)."""
    shape = getattr(x, "shape", None)
    if shape is None or len(shape) < 2 or any(not isinstance(d, (int, np.integer)) for d in shape):
        return None
    return tuple(int(d) for d in shape[1:])


def _rank_adjusted_to(shape: tuple, built: tuple) -> tuple:
    """``shape`` with the trailing axis of 1 added or dropped that Keras's ``_adjust_input_rank`` adds or drops to
    match the rank of ``built`` (as it is where the ranks already match, or differ otherwise)."""
    if len(shape) == len(built) + 1 and shape[-1] == 1:
        return shape[:-1]
    if len(shape) + 1 == len(built) and built[-1] == 1:
        return shape + (1,)
    return shape


def _rank_adjusted(shape: tuple, built: tuple) -> bool:
    """Whether ``shape`` differs from ``built`` by a trailing axis of 1 only, which Keras's
    ``Functional._adjust_input_rank`` adds or drops (and the model's own checks then do)."""
    return shape == built + (1,) or shape + (1,) == built


def _made(model, shape: tuple, argument: str):
    from .cloning import _clone_checked, _clone_layer, _own_classes

    from .. import random as gpunn_random

    built = tuple(model._built_input_shape)
    # the clone's first weights are drawn, then replaced by the model's: the random streams stay where they were
    drawn, global_draws = gpunn_random.saved_state(), np.random.get_state()
    try:
        with custom_object_scope(_own_classes(model)):
            variant = _clone_checked(model, _clone_layer, recursive=False, sample_shape=shape)
        if not variant.built:
            variant.build((None,) + shape)
    except Exception as exc:
        raise ValueError(f"{argument}: expected samples of shape {built} (the model's input), got samples of shape "
                         f"{shape}; its layers do not take samples of that shape ({type(exc).__name__}: {exc})") \
            from None
    finally:
        gpunn_random.restored(drawn)
        np.random.set_state(global_draws)
    variant._variant_of = model  # (never a variant of its own)
    _share_random_streams(model, variant)
    ours, theirs = [w.shape for w in variant.get_weights()], [w.shape for w in model.get_weights()]
    if ours != theirs:
        raise ValueError(f"{argument}: expected samples of shape {built} (the model's input), got samples of shape "
                         f"{shape}; for those its layers would need weights of other shapes ({ours} where the "
                         f"model's are {theirs})")
    return variant


def _share_random_streams(model, variant) -> None:
    """The variant's image augmentation layers draw from the model's layers' SeedGenerators: a variant made again
    for a shape (``KEPT_VARIANTS``) goes on drawing where the model's streams are, never repeating the same
    augmentations, as the model's own layers called on any shape in Keras do."""
    for ours, theirs in zip(model._calls, variant._calls):
        if hasattr(ours, "generator") and hasattr(theirs, "generator"):
            theirs.generator = ours.generator
