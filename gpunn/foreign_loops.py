"""What a script written for another framework's training loop asks of gpunn's objects (Keras's torch and jax
guides: ``model.zero_grad()``, ``loss.backward()``, ``torch.sum(inputs)`` or ``jnp.sum(inputs)`` in a layer's
call()): a message saying what gpunn does instead, in place of a bare AttributeError or TypeError."""
from __future__ import annotations

# torch.nn.Module's methods a torch loop calls on a model
TORCH_MODULE_METHODS = frozenset({
    "parameters", "named_parameters", "zero_grad", "train", "eval", "state_dict", "load_state_dict", "forward",
    "to", "cuda", "cpu", "children", "modules", "named_modules", "requires_grad_", "register_buffer",
})

# torch.Tensor's attributes a torch loop reads of a loss or an output
TORCH_TENSOR_ATTRIBUTES = frozenset({"backward", "grad", "requires_grad", "requires_grad_", "detach", "grad_fn"})

_WHAT_INSTEAD = ("gpunn has no custom training loops: train with model.fit (a compute_loss or loss function of your "
                 "own for what the loop computed), read the weights as model.trainable_weights, save them with "
                 "model.save_weights")


def missing_model_attribute(model, name: str, later_getattr=None):
    """What ``__getattr__`` does for ``model.<name>``: the ``__getattr__`` of a class later in the model's class
    hierarchy (a mixin's), where there is one; an AttributeError naming torch's loop where the name is
    torch.nn.Module's; otherwise the lookup again, which raises Python's error, or a property's own."""
    if later_getattr is not None:
        return later_getattr(name)
    if name in TORCH_MODULE_METHODS:
        raise AttributeError(f"{type(model).__name__!r} object has no attribute {name!r}: {name}() is a "
                             "torch.nn.Module method (Keras's torch guides call it in a loop of their own); "
                             + _WHAT_INSTEAD)
    return object.__getattribute__(model, name)


def missing_result_attribute(value, name: str):
    """What ``__getattr__`` does for ``result.<name>`` of a model's or a loss's result (as
    ``missing_model_attribute`` does)."""
    if name in TORCH_TENSOR_ATTRIBUTES:
        raise AttributeError(f"{type(value).__name__!r} object has no attribute {name!r}: {name} is a "
                             "torch.Tensor's (a torch loop's loss.backward() or .grad); " + _WHAT_INSTEAD)
    return object.__getattribute__(value, name)


def foreign_function_error(library: str, function=None) -> TypeError:
    """The TypeError for a ``library`` function (torch, jax.numpy) given a gpunn tensor inside a step."""
    name = getattr(function, "__name__", None) if function is not None else None
    what = f"{library} function {name!r}" if name else f"a {library} function"
    return TypeError(f"{what} was given a gpunn tensor (in a layer's call(), a loss or a metric?): {library} cannot "
                     "compute on it or differentiate through it; write the computation with keras.ops (gpunn.ops), "
                     f"as Keras's backend-agnostic code does (keras.ops.sum(x) for {library}.sum(x))")


def foreign_library_note(exc: Exception) -> str | None:
    """A note for an error a jax function raised on a gpunn tensor (``jnp.sum(x)`` in a layer's call(): JAX's
    "not a valid JAX type", which names no way out); None for any other error."""
    text = str(exc)
    if "not a valid JAX type" in text and "gpunn" in text:
        return str(foreign_function_error("jax.numpy"))
    return None
