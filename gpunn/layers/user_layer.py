"""A Layer subclass of the user's, written as Keras's guide "Making new layers and models via subclassing"
writes one: weights made with ``add_weight`` (in ``__init__`` or ``build(input_shape)``), and ``call(inputs)``
computing with ``gpunn.ops`` (``keras.ops``) functions and the array operators.

gpunn wraps such a class when it is defined (``Layer.__init_subclass__``):

- ``build(sample_shape)`` calls the user's ``build`` with Keras's batch shape ``(None, ...)``, then runs ``call``
  once on a batch of ones to learn the output shape.
- ``forward`` runs ``call`` on the batch's arrays (NumPy or CuPy) with the layer's weights as Tensors that
  need a gradient (``gpunn/autodiff``), as one host call of the step (``Ops.run_python``); ``backprop`` sends
  the output's gradient back through the record of that evaluation into the weight gradients and dx, as a
  second host call. A replay runs both again, bit for bit; a CUDA graph ends before each.
- Everything else (flat weight buffers, optimizers, regularizers and constraints given to ``add_weight``,
  ``trainable``, configs, files) is any layer's.
"""
from __future__ import annotations

import contextlib
import functools
import inspect
import threading
import warnings

import numpy as np

from .. import overrides, step_calls
from ..autodiff import Tensor, gradients
from ..foreign_loops import foreign_library_note
from ..autodiff.tensor import DETACHMENTS
from ..user_stacklevel import user_stacklevel
from . import (repeated_sublayer_calls, several_outputs, step_state_updates, sublayers, training_override, user_masks,
               variable_paths)
from .given_mask import given_mask, takes_mask


class _Frame:
    """One call() of the user's being run: its layer, its ``training``, whether it runs on ones only to learn
    shapes, and the sublayers it called (each may be called once: its output lives in its workspace)."""

    def __init__(self, layer, training: bool, shapes_only: bool, in_step: bool = False):
        self.layer, self.training, self.shapes_only, self.in_step = layer, training, shapes_only, in_step
        self.called: dict = {}  # id(sublayer) -> how many times call() called it
        self.repeats: list = []  # the later calls of sublayers called more than once (repeated_sublayer_calls.py)
        self.added: list = []  # what call() gave add_loss


class _ThreadFrames(threading.local):
    """The calls of the user's being run in this thread, innermost last (another thread's calls, a model it
    predicts with, are not this thread's to see)."""

    def __init__(self):
        self.frames: list[_Frame] = []
        self.traced_models: list = []  # subclassed models whose call() runs on symbolic inputs, innermost last


_THREAD = _ThreadFrames()


@contextlib.contextmanager
def tracing_model_call(model):
    """Around a subclassed model's call() run once on symbolic inputs to learn its graph (``subclassed.trace``)."""
    _THREAD.traced_models.append(model)
    try:
        yield
    finally:
        _THREAD.traced_models.pop()


class RefusedInTrace(NotImplementedError):
    """A refusal raised from a subclassed model's traced call() that says all there is to say (the trace passes
    it on as it is)."""


def traced_model():
    """The subclassed model whose call() is being traced in this thread, outside any layer's call(); else None."""
    return _THREAD.traced_models[-1] if _THREAD.traced_models and not _THREAD.frames else None


def tracing() -> bool:
    return bool(_THREAD.frames)


def running_call() -> tuple[str, object] | None:
    """What kind of call() of the user's is running, and its layer: ("trial", layer) for a call on ones that
    learns shapes, ("model", layer) for one a model runs (a step, ``model(x)``, predict), ("alone", layer) for
    ``layer(x)`` on its own; None outside any."""
    if not _THREAD.frames:
        return None
    layer = _THREAD.frames[-1].layer
    if any(frame.shapes_only for frame in _THREAD.frames):
        return "trial", layer
    # the outermost call() says who runs them all: a layer inside another runs its step's forward either way
    return ("model" if _THREAD.frames[0].in_step else "alone"), layer


def runs_call(layer) -> bool:
    """A layer whose computation is its ``call()``: a layer of the user's, a Lambda, or a built-in layer written
    as Keras writes it, on gpunn.ops (``computes_in_call``: the image preprocessing layers)."""
    return is_user_layer_class(type(layer)) or type(layer).__name__ == "Lambda" and hasattr(layer, "function") or (
        getattr(type(layer), "computes_in_call", False))


def is_user_layer_class(cls) -> bool:
    """A class outside gpunn that defines ``call``, but over a built-in layer (``training_override.py``)."""
    return cls.__module__.split(".")[0] != "gpunn" and any(
        "call" in vars(klass) for klass in cls.__mro__ if klass.__module__.split(".")[0] != "gpunn") and not (
        training_override.is_training_override_class(cls))


def adapt(cls) -> None:
    """Wrap a user layer class's ``build`` (its own, or one it inherits from a class of the user's without a
    ``call()``, as ``class Child(Base)`` does) so that gpunn's build runs it."""
    user_build = vars(cls).get("build") or _inherited_user_build(cls)
    if user_build is None or getattr(user_build, "_gpunn_wrapped", False):
        return

    @functools.wraps(user_build)
    def build(self, input_shape, *args, **kwargs):
        if args or kwargs:  # kept: gpunn's models build a layer again for the shape they give it
            self.__dict__["_build_arguments"] = (args, kwargs)
        else:
            args, kwargs = self.__dict__.get("_build_arguments", ((), {}))
        if not args and not kwargs:
            build_user_layer(self, input_shape, functools.partial(user_build, self))
            return

        def with_arguments(*shapes):  # a build taking more than the shape, called by the user with it
            return user_build(self, *shapes, *args, **kwargs)

        build_user_layer(self, input_shape, with_arguments)

    build._gpunn_wrapped = True
    cls.build = build


def _inherited_user_build(cls):
    """The ``build`` a user layer class inherits from a class of the user's that is no user layer (no ``call()``:
    its build was wrapped as a built-in layer's), unwrapped; None where it inherits gpunn's or a user layer's."""
    for klass in cls.__mro__[1:]:
        if klass.__module__.split(".")[0] == "gpunn":
            return None
        build = vars(klass).get("build")
        if build is not None:
            return None if getattr(build, "_gpunn_wrapped", False) else getattr(build, "__wrapped__", build)
    return None


def _several(shape) -> bool:
    """Whether ``shape`` is a list of shapes (a layer called on several inputs, ``layer([a, b])``)."""
    return isinstance(shape, (list, tuple)) and bool(shape) and all(isinstance(s, (list, tuple)) for s in shape)


def sample_shape(shape):
    """gpunn passes sample shapes; a user's ``super().build(input_shape)`` passes Keras's, batch first. Several
    inputs: a list of them."""
    if _several(shape):
        return [sample_shape(s) for s in shape]
    shape = tuple(shape)
    return shape[1:] if shape and shape[0] is None else shape


def _batch_shape(sample):
    return [(None,) + tuple(s) for s in sample] if isinstance(sample, list) else (None,) + tuple(sample)


def _ones(rows: int, sample, dtype):
    if isinstance(sample, list):
        return [Tensor(np.ones((rows,) + tuple(s), dtype=dtype)) for s in sample]
    return Tensor(np.ones((rows,) + tuple(sample), dtype=dtype))


def build_user_layer(layer, input_shape, user_build=None) -> None:
    """Build ``layer`` for samples of ``input_shape``: the weights made in ``__init__`` kept, those of an earlier
    build made again by the user's ``build`` (given Keras's batch shape), the output shape found by one call."""
    if getattr(layer, "_building", False):  # the user's build called super().build(input_shape)
        return
    if input_shape is None:  # (Keras builds a layer of scalar weights for no shape; gpunn learns its outputs')
        raise ValueError(f"build: gpunn builds layer {layer.name!r} ({type(layer).__name__}) for the shape of its "
                         "inputs, batch axis first, such as build((None, 8)), and got None; or call the layer on "
                         "data, which builds it")
    sample = sample_shape(input_shape)
    specs = layer.__dict__.setdefault("_added_specs", [])
    kept = layer.__dict__.setdefault("_specs_before_build", len(specs))
    del specs[kept:]
    variable_paths.fix_prefix(layer)
    with variable_paths.scope(layer.name):  # the layers it builds inside: '<its name>/...' in their paths
        layer._building = True
        try:
            if user_build is not None:
                _run_build(layer, user_build, sample)
        finally:
            layer._building = False
        layer.takes_inputs_list = isinstance(sample, list)  # the model hands it a list of inputs (wiring.py)
        layer.input_shape = sample
        if getattr(layer, "_standalone", False) and not sublayers.has_sublayers(layer):
            # Called on its own, a layer holding no layers learns its output shape from that call itself
            # (call_eagerly), so that its call() runs once, as in Keras (the sublayers of others are built by
            # a call on ones first)
            layer.output_shape = None
        else:
            layer.output_shape = _output_sample_shape(layer, sample)
    layer.built = True


@functools.lru_cache(maxsize=None)
def _spreads(cls) -> bool:
    return len(_required_inputs(cls)) >= 2


def _required_inputs(cls) -> list:
    """The names of ``cls.call``'s arguments without defaults, but for ``training`` and ``mask``."""
    return [name for name, p in inspect.signature(cls.call).parameters.items()
            if name not in ("self", "training", "mask") and p.kind is p.POSITIONAL_OR_KEYWORD and p.default is p.empty]


def as_called(layer, inputs):
    """What the layer was called on, given the list of its inputs: the dict of them for a layer called on a dict
    (``_input_keys``, its keys in order), else ``inputs`` as they are."""
    keys = layer.__dict__.get("_input_keys")
    if keys is None or not isinstance(inputs, list) or len(inputs) != len(keys):
        return inputs
    by_key = dict(zip(keys, inputs))
    order = layer.__dict__.get("_given_key_order")  # (an eager call's dict, in the order it was given)
    return {key: by_key[key] for key in order} if order is not None and set(order) == set(keys) else by_key


def spreads_inputs(layer) -> bool:
    """Whether ``layer`` is a layer of the user's whose ``call()`` takes its inputs as several arguments (two or
    more without defaults: Keras's ``call(self, targets, logits, sample_weights=None)``, called ``layer(targets,
    logits)``): gpunn hands it the list of its inputs spread over them."""
    return is_user_layer_class(type(layer)) and (_spreads(type(layer)) or layer.__dict__.get("_spread_call", False))


def _run_build(layer, user_build, sample) -> None:
    """The user's ``build`` with Keras's batch shapes. A layer whose call() takes several inputs as arguments
    gets them as Keras gives them: by name to a ``build(self, targets_shape, logits_shape)``, the first one's alone
    to a ``build(self, input_shape)``; a ``build(self)`` taking no shape is called without one, as Keras calls it."""
    try:
        parameters = list(inspect.signature(user_build).parameters)
    except (TypeError, ValueError):
        parameters = None
    if parameters == []:
        user_build()
        return
    if not (isinstance(sample, list) and spreads_inputs(layer)):
        shape = _batch_shape(sample)
        unknown = layer.__dict__.get("_unknown_build_axes", ())
        if unknown and not isinstance(shape, list):  # (axes of any length: None, as Keras gives them)
            shape = (None,) + tuple(None if axis in unknown else dim for axis, dim in enumerate(shape[1:]))
        user_build(as_called(layer, shape))
        return
    shapes = [_batch_shape(s) for s in sample]
    names = [f"{name}_shape" for name in _required_inputs(type(layer))]
    parameters = parameters or []
    if set(names) <= set(parameters):
        user_build(**dict(zip(names, shapes)))
    elif len(parameters) == 1:
        user_build(shapes[0])
    else:
        user_build(shapes)


def _described(arguments: list, symbolic_batch: bool) -> str:
    """What a call() was given, as Keras's "Arguments received by MyLayer.call()" says it: shapes, not values;
    ``symbolic_batch``: the call learns the layer's shapes on a stand-in batch, whose size is shown as None."""
    def shapes(value):
        if isinstance(value, (list, tuple)):
            return [shapes(item) for item in value]
        if isinstance(value, dict):
            return {key: shapes(item) for key, item in value.items()}
        shape = getattr(value, "shape", None)
        if shape is None:
            return value
        return (None,) + tuple(shape)[1:] if symbolic_batch and len(shape) else tuple(shape)

    found = shapes(arguments)
    return f"an input of shape {found[0]}" if len(found) == 1 and isinstance(found[0], tuple) else \
        f"inputs of shapes {found[0] if len(found) == 1 else found}"


def _call(layer, inputs: Tensor, training: bool, shapes_only: bool = False, in_step: bool = False) -> Tensor:
    """``layer.call(inputs)`` on Tensors; what it gave ``add_loss`` is left in ``_home(layer)._added_now``."""
    frame = _Frame(layer, training, shapes_only, in_step)
    _THREAD.frames.append(frame)
    try:
        arguments = list(inputs) if isinstance(inputs, list) and spreads_inputs(layer) else [as_called(layer, inputs)]
        keyword = {"training": training} if overrides.names_training(layer.call) else {}
        if user_masks.call_takes_mask(layer):
            keyword["mask"] = user_masks.mask_argument(layer, inputs, shapes_only)
        try:
            result = layer.call(*arguments, **keyword)
        except Exception as exc:
            # As Keras's "Exception encountered when calling MyLayer.call()": the error may come from deep inside
            # an operation, which would not say whose call() it was (a note, printed with the traceback; 3.11+)
            if hasattr(exc, "add_note"):
                exc.add_note(f"Exception encountered when calling {type(layer).__name__}.call() "
                             f"(layer {layer.name!r}), on {_described(arguments, shapes_only)}")
                foreign = foreign_library_note(exc)
                if foreign:
                    exc.add_note(foreign)
            raise
    finally:
        _THREAD.frames.pop()
    home = _home(layer)
    home._added_now = frame.added
    home._repeats_now = frame.repeats
    if shapes_only:
        home._added_now = []  # a call on ones to learn shapes is no call of the user's
        if frame.added:
            home._adds_losses = True  # the model adds its losses to the loss it reports and differentiates
    if result is None:  # (a call() branching on keras.backend.backend(), which is "numpy" here, may end so)
        from ..config import backend

        raise ValueError(f"layer {layer.name!r}: call() returned None; a layer returns its output tensor (gpunn's "
                         f"keras.backend.backend() is {backend()!r}, should call() branch on it)")
    if isinstance(result, dict):
        raise ValueError(f"layer {layer.name!r}: call() returned a dict; gpunn runs layers of the user's that return "
                         "one tensor, or a tuple or list of them")
    if several_outputs.returns_several(result):
        return result  # (several_outputs.py)
    if not isinstance(result, Tensor):
        result = Tensor(np.asarray(result)) if getattr(result, "_autodiff_tensor", None) is None else \
            result._autodiff_tensor()
    return result


def output_sample_shape_of_call(layer, sample) -> tuple:
    """The shape of one sample of ``layer``'s call() output for samples of ``sample`` (a layer not built for it:
    a Lambda asked its ``compute_output_shape``), from a call on ones."""
    return _output_sample_shape(layer, sample)


def _output_sample_shape(layer, sample: tuple) -> tuple:
    """The shape of one sample of ``call``'s output, from a call on two samples of ones (weights of ones)."""
    dtype = layer.dtype or "float32"
    weights = {spec.name: np.ones(spec.shape, dtype=dtype) for spec in layer.__dict__.get("_added_specs", ())}
    _home(layer)._traced_weights = {name: Tensor(value) for name, value in weights.items()}
    try:
        trial = getattr(layer, "trial_inputs", None) or _ones  # (an operation's: invertible matrices)
        with np.errstate(all="ignore"):
            result = _call(layer, trial(2, sample, dtype), False, shapes_only=True)
            if overrides.names_training(layer.call):  # what call() does only in training: losses added, layers called
                _call(layer, trial(2, sample, dtype), True, shapes_only=True)
    finally:
        _home(layer)._traced_weights = None
    layer.__dict__.pop("output_parts", None)
    if several_outputs.returns_several(result):
        return several_outputs.record(layer, result, 2)
    if result.ndim == 0 or result.shape[0] != 2:
        if getattr(layer, "_standalone", False):
            return None  # called on its own, a layer may return anything (Keras's ComputeSum returns its total)
        raise ValueError(f"layer {layer.name!r}: call() returned shape {result.shape} for a batch of 2 samples; "
                         "a layer in a model returns one row per sample")
    return tuple(result.shape[1:])


def call_eagerly(layer, x, training: bool):
    """``layer(x)`` on its own: its call() on the array (or list of arrays), its result as it comes (any shape),
    no gradient."""
    _home(layer)._traced_weights = {spec.name: Tensor(layer.bound.weights[spec.name])
                                    for spec in sublayers.own_specs(layer)}
    rows = (x[0] if isinstance(x, list) else x).shape[0]
    try:
        result = _call(layer, [Tensor(xi) for xi in x] if isinstance(x, list) else Tensor(x), training)
    finally:
        _home(layer)._traced_weights = None
    if several_outputs.returns_several(result):
        result = type(result)(part.value if isinstance(part, Tensor) else part for part in result)
    else:
        result = result.value
        if layer.output_shape is None and result.ndim and result.shape[0] == rows:  # (see build_user_layer)
            layer.output_shape = tuple(result.shape[1:])
    keep_added_losses(layer)
    return result


def call_differentiated(layer, x: Tensor, training: bool) -> Tensor:
    """``layer(x)`` on its own on a Tensor a loss is differentiated by (y_pred, in a loss function or a model's
    own compute_loss): its call() on that Tensor, whose result carries the loss's gradient back to it (the layer's
    own weights are constants of it, as a standalone call's are)."""
    _home(layer)._traced_weights = {spec.name: Tensor(layer.bound.weights[spec.name])
                                    for spec in sublayers.own_specs(layer)}
    try:
        result = _call(layer, x, training)
    finally:
        _home(layer)._traced_weights = None
    keep_added_losses(layer)
    if several_outputs.returns_several(result):
        raise ValueError(f"layer {layer.name!r}: its call() returned several tensors on a value a loss is "
                         "differentiated by; gpunn differentiates such a call of a layer of one output there")
    return result


def keep_added_losses(layer) -> None:
    """``layer.losses`` (base.py) after a call on its own or a model's call: what its call() (and those of the
    layers inside it) gave add_loss, read back only when asked for (a model's steps clear them)."""
    if not runs_call(layer):
        return
    for _, owner in sublayers.owners(_home(layer)):
        owner._last_losses = list(owner.__dict__.get("_added_now", []))


def forward(layer, x, training: bool):
    """(y, backprop) for gpunn's step: the user's call as a host call writing into the layer's workspace."""
    several = isinstance(x, list)
    rows = (x[0] if several else x).shape[0]
    if layer.output_shape is None:
        raise ValueError(f"layer {layer.name!r}: its call() does not return one row per sample (it was built on "
                         "its own); a layer in a model must")
    ws = layer.workspace(rows)
    xs = x if several else [x]
    out = ws.buffer("call.output", (rows,) + tuple(layer.output_shape), xs[0].dtype)
    record: dict = {}
    layer._last_losses = []  # ``layer.losses``: a model's steps leave none, as Keras's compiled (jax) steps
    # (the host call runs the layers inside at each replay: their moving statistics are updated there and then, not
    # collected for the step's end, which a recording would replay a second time)
    layer.ops.run_python(functools.partial(step_state_updates.made_at_once, _forward, layer, x, training, out,
                                           record))

    def backprop(dy, need_dx=True):
        flags = tuple(need_dx) if isinstance(need_dx, (tuple, list)) else (bool(need_dx),) * len(xs)
        dxs = [ws.buffer(f"call.dx{i}", xi.shape, xi.dtype) if flag else None
               for i, (xi, flag) in enumerate(zip(xs, flags))]
        if any(flags) or layer.bound.grads:  # (else nothing to send back: an augmentation at the model's input)
            layer.ops.run_python(functools.partial(_backward, layer, dy, dxs, record))
        return dxs if several else dxs[0]

    return out, backprop


def input_gradient_flags(calls: list, sources) -> list:
    """[(layer, flags)] for each layer of the user's in a model: whether the gradient of each of its inputs is
    wanted (a layer above it is trained: ``wiring.need_dx``), so that its call() may hand an input that needs
    none to a function of another library (a Lambda applying ``tf.cast`` to a model's input) as Keras's
    TensorFlow backend runs it. A model works them out when it lays out its buffers and hands them to its layers
    (``set_input_gradients``) whenever it takes back layers it shares."""
    from . import wiring

    flags: dict = {}
    layers: dict = {}
    for call, need in zip(calls, wiring.need_dx(calls, sources, lambda call: call.bound.grads)):
        layer = wiring.layer_of(call)
        if runs_call(layer):
            need = tuple(need) if isinstance(need, tuple) else (bool(need),)
            before = flags.get(id(layer), (False,) * len(need))  # a layer called twice: wanted by either call
            flags[id(layer)] = tuple(a or b for a, b in zip(before, need)) if len(before) == len(need) else need
            layers[id(layer)] = layer
    return [(layers[key], flags[key]) for key in layers]


def set_input_gradients(flags: list) -> None:
    for layer, wanted in flags:
        layer.__dict__["_inputs_need_grad"] = wanted


def _forward(layer, x, training, out, record) -> None:
    wanted = layer.__dict__.get("_inputs_need_grad")
    if isinstance(x, list):
        flags = wanted if wanted is not None and len(wanted) == len(x) else (True,) * len(x)
        inputs = [Tensor(xi, requires_grad=flag) for xi, flag in zip(x, flags)]
    else:
        inputs = Tensor(x, requires_grad=True if wanted is None else any(wanted))
    grads = layer.bound.grads
    weights = {spec.name: Tensor(layer.bound.weights[spec.name], requires_grad=spec.name in grads)
               for spec in sublayers.own_specs(layer)}
    home = _home(layer)
    # (restored after the call: an outer layer of the user's calling this one traces its weights too, and reads
    # them after this call)
    before = home.__dict__.get("_traced_weights")
    below = _traced_sublayers(layer)
    home._traced_weights = weights
    detached_before = DETACHMENTS.count
    try:
        result = _call(layer, inputs, training, in_step=True)
        if getattr(layer, "_makes_own_mask", False):
            user_masks.write_own_mask(layer, inputs)
    finally:
        home._traced_weights = before
        for owner, _, kept in below:
            owner._traced_weights = kept
    if several_outputs.returns_several(result):
        result = several_outputs.pack(result, out.shape[0], out.dtype)
    if tuple(result.shape) != tuple(out.shape):
        raise ValueError(f"layer {layer.name!r}: call() returned shape {result.shape} for a batch of "
                         f"{out.shape[0]} rows, where it returned (batch,) + {tuple(layer.output_shape)} when built")
    out[...] = result.value
    record.update(result=result, inputs=inputs if isinstance(inputs, list) else [inputs], weights=weights,
                  repeats=_home(layer)._repeats_now, below=below, detached=DETACHMENTS.count != detached_before)
    added = _home(layer)._added_now
    if getattr(layer, "_adds_losses", False):
        buffer = layer.workspace(out.shape[0]).buffer("added_losses", (), out.dtype)
        if out.shape[0] == 0:  # a rank with no rows of this batch: its losses count for nothing
            buffer[...] = 0
        else:
            total = _sum_of(added, result.value)
            buffer[...] = total.value
            record["added"] = total
    elif added:
        raise ValueError(f"layer {layer.name!r}: call() gave add_loss a loss only now, not when the layer was built "
                         "(one call with training=False); give it one in both modes")


def _traced_sublayers(layer) -> list:
    """[(sublayer, {weight name: Tensor}, what it traced before)] of the layers below ``layer``, their own weights
    traced while ``layer``'s call() runs: a call() may read them directly (``self.dense.bias``, tied weights, a
    weight of a layer of the user's it holds), and that use carries a gradient too. Their own calls compute as
    before (a layer of the user's traces its weights anew while its call() runs)."""
    below = []
    for path, owner in sublayers.owners(layer):
        names = [spec.name for spec in sublayers.own_specs(owner)]
        if not path or not names or not all(name in owner.bound.weights for name in names):
            continue
        traced = {name: Tensor(owner.bound.weights[name], requires_grad=name in owner.bound.grads) for name in names}
        below.append((owner, traced, owner.__dict__.get("_traced_weights")))
        owner._traced_weights = traced
    return below


def _backward(layer, dy, dxs, record) -> None:
    result, inputs, weights = record["result"], record["inputs"], record["weights"]
    names = [name for name in weights if name in layer.bound.grads]
    for name, grad in layer.bound.grads.items():
        if name not in weights:  # a sublayer's: written by its backprop, if the output depends on it at all
            grad.fill(0)
    if "added" in record:
        # sum(dy * output) + scale * the added losses: one backward pass gives both gradients; ``scale`` (a 0-d
        # buffer the step fills before its backward pass: trainer/layer_losses.py) weighs this rank's losses by
        # its share of the global batch
        from ..autodiff import functions

        scale = Tensor(layer.workspace(dy.shape[0]).buffer("added_losses.scale", (), dy.dtype))
        result = functions.add(functions.sum(functions.multiply(result, Tensor(dy))),
                               functions.multiply(record["added"], scale))
        dy = functions.ones_like(result).value
    read_below = [(owner, name, tensor) for owner, traced, _ in record.get("below", ())
                  for name, tensor in traced.items() if tensor.requires_grad]
    found = gradients(result, inputs + [weights[name] for name in names] + [t for _, _, t in read_below], dy)
    repeated_sublayer_calls.add_gradients(record["repeats"], layer.ops)
    for name, grad in zip(names, found[len(inputs):]):
        target = layer.bound.grads[name]
        if grad is None:
            target[...] = 0  # the output does not depend on this weight
        else:
            target[...] = grad
    if record.get("detached"):  # (a value taken off the gradient in call(): what it cut is reported)
        _warn_of_lost_gradients(layer, [name for name, grad in zip(names, found[len(inputs):]) if grad is None],
                                any(dx is not None and grad is None for dx, grad in zip(dxs, found)))
    # a built-in sublayer's weight read by call() itself (``self.dense.bias * h``): that use's gradient added to
    # what the sublayer's own backprop wrote for its calls
    for (owner, name, _), grad in zip(read_below, found[len(inputs) + len(names):]):
        if grad is not None:
            owner.bound.grads[name][...] += grad
    for dx, grad in zip(dxs, found):
        if dx is not None:
            dx[...] = 0 if grad is None else grad


def _warn_of_lost_gradients(layer, weights: list, input_cut: bool) -> None:
    """Say once per layer, whose call() took a value off the gradient (``.numpy()``, ``ops.convert_to_numpy``),
    that it hands no gradient to trainable ``weights`` of its own, or back to its input where the layers before it
    train (``input_cut``): as tf.keras 2 warned "Gradients do not exist for variables", where Keras 3 on jax cannot
    trace such a call at all. (An operation without a gradient, a comparison or argmax, cuts it by design: not
    reported.)"""
    if not (weights or input_cut) or layer.__dict__.get("_warned_lost_gradients"):
        return
    layer.__dict__["_warned_lost_gradients"] = True
    lost = ([f"its weights {weights}, which then do not train"] if weights else []) + (
        ["its input, so the layers before it get none through it"] if input_cut else [])
    warnings.warn(f"layer {layer.name!r} ({type(layer).__name__}): its call()'s output carries no gradient to "
                  f"{' nor to '.join(lost)}: call() took a value off the gradient (.numpy() or "
                  "ops.convert_to_numpy of a tensor being differentiated); compute with keras.ops instead (and "
                  "ops.stop_gradient where no gradient is meant)", UserWarning, stacklevel=user_stacklevel())


def _home(layer):
    """The layer whose Variables ``call()`` reads (``self.w``): the layer itself, or for a later call of a layer
    called twice in a model (``shared_call.py``: a copy of the layer on buffers of its own), the layer copied."""
    return layer.__dict__.get("_shared_from", layer)


def call_sublayer(sublayer, x, training, mask=None):
    """``sublayer(x)`` inside a call() of the user's (``sublayers.py``; ``x`` a Tensor, or a list of them for a
    layer of the user's taking several inputs). Learning shapes, it is built for x's samples and gives ones of
    its output's shape; computing, it runs its own forward on x's arrays (its weights are views into the outer
    layer's), and its backprop runs when the gradient reaches it. ``mask``: a padding mask given by keyword
    (the masking guide's ``self.pool(x, mask=self.embedding.compute_mask(inputs))``), which a layer computing
    with one takes for this call, as on its own."""
    if not _THREAD.frames:
        raise RuntimeError("call_sublayer runs inside a call() of the user's only")
    frame = _THREAD.frames[-1]
    outer = frame.layer
    number = frame.called.get(id(sublayer), 0)  # its calls so far in this call(): later ones run on twins
    frame.called[id(sublayer)] = number + 1
    if sublayer.activity_regularizer is not None:
        raise ValueError(f"layer {sublayer.name!r} inside layer {outer.name!r} has an activity_regularizer, which "
                         "gpunn applies to a model's layers only; give it to the outer layer instead")
    training = frame.training if training is None else bool(training)
    if mask is not None:
        takes_mask(sublayer)  # (refused where the call() takes none, before shapes are learnt)
    xs = list(x) if isinstance(x, (list, tuple)) else [x]
    sample = [tuple(t.shape[1:]) for t in xs] if isinstance(x, (list, tuple)) else tuple(x.shape[1:])
    if frame.shapes_only:
        if not sublayer.built:
            sublayer.build(sample)
        elif _comparable(sublayer.input_shape) != _comparable(sample) and not _takes_other_shape(sublayer, sample):
            raise ValueError(f"layer {sublayer.name!r} inside layer {outer.name!r} was built for samples of shape "
                             f"{tuple(sublayer.input_shape)}, and is called on samples of shape {sample}")
        if sublayer.output_shape is None:
            raise ValueError(f"layer {sublayer.name!r} inside layer {outer.name!r}: its call() does not return one "
                             "row per sample")
        ones = Tensor(np.ones((xs[0].shape[0],) + tuple(sublayer.output_shape), dtype=xs[0].dtype))
        return several_outputs.unpack(sublayer, ones) if several_outputs.of(sublayer) else ones
    step_calls.refuse_a_models_layer_inside(sublayer, outer)
    if not sublayer.built or sublayer.ops is None:
        raise ValueError(f"layer {sublayer.name!r} is called inside the call() of layer {outer.name!r} only in "
                         "training, or only sometimes; gpunn builds the layers inside a layer from one call with "
                         "training=False: call every layer in both modes (Dropout takes the mode itself)")
    ops = sublayer.ops
    dtype = next(iter(outer.bound.weights.values())).dtype if outer.bound.weights else xs[0].dtype
    values = [ops.xp.ascontiguousarray(t.value, dtype=dtype) for t in xs]
    several = isinstance(x, (list, tuple))
    repeat = None
    if number:
        repeat = repeated_sublayer_calls.Repeat(sublayer, repeated_sublayer_calls.twin(_home(outer), sublayer, number))
        frame.repeats.append(repeat)
    runner = repeat.twin if repeat else sublayer
    given = None if several else given_mask(runner, mask.value if isinstance(mask, Tensor) else mask, values[0],
                                            ops, dtype)
    # (a later call runs on the twin's copy of the layer, which must read the mask: repeated_sublayer_calls.py)
    computing = repeat.twin._current() if repeat else sublayer
    kept_source = computing.mask_source
    if given is not None:
        computing.mask_source = given
    try:
        y, backprop = runner.forward(values if several else values[0], training)
    finally:
        computing.mask_source = kept_source  # (the forward's backprop holds the mask it computed with)

    def backward(dy):
        # a copy: a layer's backprop may write into the gradient it is given
        flags = [t.requires_grad for t in xs]
        dxs = backprop(ops.xp.array(dy, dtype=y.dtype, copy=True), need_dx=flags if several else flags[0])
        if repeat is not None:
            repeat.ran = True
        return tuple(dxs) if several else (dxs,)

    needs = any(t.requires_grad for t in xs) or bool(sublayer.bound.grads)
    result = Tensor(y, parents=tuple(xs), backward=backward, requires_grad=needs)
    return several_outputs.unpack(sublayer, result) if several_outputs.of(sublayer) else result


def _takes_other_shape(sublayer, sample) -> bool:
    """Whether ``sublayer``, built for other samples, is built again for ``sample`` with the same weights (a
    pooling or a Dense over a longer sequence: the functional guide's CustomRNN calls a model of input
    ``(None, units)``, built at a trial length, on its 10 steps), as Keras calls a layer on any shape its
    weights fit."""
    from .calling import _rebuilds_with_same_weights

    return not isinstance(sample, list) and not isinstance(sublayer.input_shape, list) and \
        _rebuilds_with_same_weights(sublayer, sample)


def _comparable(shape):
    return [tuple(s) for s in shape] if isinstance(shape, list) else tuple(shape)


def add_loss(layer, loss) -> None:
    """Keras's ``Layer.add_loss`` inside a call(): each loss (a Tensor, a weight or an array: a scalar, or values
    summed; or a list of them) joins what the model reports and differentiates (``trainer/layer_losses.py``)."""
    if not _THREAD.frames:
        raise ValueError(f"layer {layer.name!r}: add_loss is taken inside call() only (gpunn adds no loss that "
                         "does not depend on the call's inputs or weights)")
    for value in (loss if isinstance(loss, (list, tuple)) else [loss]):
        if callable(value) and not (isinstance(value, Tensor) or hasattr(value, "shape")):
            value = value()  # tf.keras 2's zero-argument form (self.add_loss(lambda: 1e-3 * K.sum(K.abs(self.w))))
        if not (isinstance(value, Tensor) or hasattr(value, "_autodiff_tensor") or hasattr(value, "shape")):
            raise ValueError("`add_loss()` can only be called from inside `build()` or `call()`, on a tensor input. "
                             f"Received invalid value: {value!r}")  # Keras's message
        _THREAD.frames[-1].added.append(value)


def adds_losses(layer) -> bool:
    """Whether ``layer``, or a layer inside it, gives add_loss a loss in its call()."""
    return any(getattr(owner, "_adds_losses", False) for _, owner in sublayers.owners(layer))


def _sum_of(losses: list, like) -> Tensor:
    from ..autodiff import functions

    total = Tensor(like.dtype.type(0) if hasattr(like, "dtype") else np.float32(0))
    for loss in losses:
        total = functions.add(total, functions.sum(loss))
    return functions.cast(total, str(like.dtype))


def host_scalar(loss):
    """A loss given to add_loss, as a host array."""
    value = loss.value if isinstance(loss, Tensor) else getattr(loss, "_autodiff_tensor", lambda: loss)()
    value = value.value if isinstance(value, Tensor) else value
    return np.asarray(value.get() if hasattr(value, "get") else value)
