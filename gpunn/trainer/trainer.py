"""compile / fit / evaluate / predict and the *_on_batch methods, with Keras's signatures and return values.

The loop is separate from the step, as in Keras's trainers: ``fit`` iterates an EpochIterator, calls the
callbacks and runs the TrainStep that ``make_train_function()`` returns; ``evaluate`` does the same with the
TestStep. Argument checks come first, before any work.
"""
from __future__ import annotations

import contextlib
import functools
import warnings
import weakref

import numpy as np

from .. import compute_turns, distributed
from .. import metrics as metrics_module
from .. import optimizers as optimizers_module
from .. import run_limits
from ..logs_order import in_keras_order
from ..data import (as_feature_array, as_model_dtype, as_numeric_array, check_epochs, check_inputs,
                    check_positive_int, check_steps, keras_batch_size, whole_number,
                    check_same_length, check_sample_weight, check_targets, class_weight_to_sample_weight,
                    split_validation)
from ..distributed.agreement import check_agreement
from ..distributed.run_summary import run_summary, sampled_values
from ..distributed.sharding import shard_bounds
from ..layers import user_layer
from ..ops import get_ops
from ..chosen_crossentropy import ShapeChosenCrossentropy
from .attribute_metrics import attribute_metrics
from .divergence import DivergenceWarning
from .epoch_iterator import DeviceDataset, EpochIterator, weights_shape
from .executions import executions
from .replicas import agree_on_stop, sync_replicas, take_chiefs_weights_if_changed
from .running_metrics import hand_batch_logs
from .shuffle_orders import orders_generator, run_starts
from .streamed_loops import (StreamedValidation, checked_validation_arrays, evaluate_streamed, fit_streamed,
                             is_streamed, predict_streamed)
from .test_step import TestStep, predict_rows
from ..optimizers import carried_slots
from . import compiled_outputs, custom_steps, direct_compute_loss, step_interrupts, trainable_state
from .tf_keras_2_loops import TfKeras2Loops, take_reading_arguments
from .train_step import TrainStep
from .packed_targets import PackedTargets
from .validation_schedule import check_validation_freq, validates_after
from ..user_stacklevel import user_stacklevel


def _check_verbose(verbose) -> int:
    if verbose == "auto":
        return 1
    if verbose not in (0, 1, 2):
        raise ValueError(f"verbose: expected 'auto', 0, 1 or 2, got {verbose!r}")
    return int(verbose)


def _verbose_param(verbose):
    """``fit``'s ``verbose`` as callbacks' ``params`` hold it: Keras keeps "auto" (its progress bar shows 1)."""
    return "auto" if verbose == "auto" else _check_verbose(verbose)


def _check_jit_compile(value):
    """Keras's choices for ``jit_compile``: True, False or "auto" (None means "auto", as in Keras)."""
    if value is None or isinstance(value, str) and value == "auto":
        return "auto"
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise ValueError(f"jit_compile: expected True, False, 'auto' or None, got {value!r}")


def _results(results: dict, return_dict: bool, names=None):
    """evaluate's (train_on_batch's...) result: the dict in Keras's order, or the values in ``metrics_names``'
    order (``names``; a name two outputs' losses share, as Keras's logs keep it, listed as often as Keras lists
    it)."""
    if return_dict:
        return in_keras_order(results)
    values = [results[name] for name in names] if names and set(names) == set(results) else list(results.values())
    return values[0] if len(values) == 1 else values


def _holds_metrics(value) -> bool:
    """Whether a ``compile`` argument holds metrics (names, functions, Metric objects) rather than loss weights."""
    if value is None:
        return False
    values = value.values() if isinstance(value, dict) else value if isinstance(value, (list, tuple)) else [value]
    leaves = [leaf for item in values for leaf in (item if isinstance(item, (list, tuple)) else [item])]
    return any(isinstance(leaf, str) or callable(leaf) for leaf in leaves)


def _per_output(sample_weight) -> bool:
    """Whether ``sample_weight`` gives weights per output: a dict, or a list or tuple of arrays (or None); a list
    of numbers is one weight per sample."""
    if isinstance(sample_weight, dict):
        return True
    return isinstance(sample_weight, (list, tuple)) and any(item is None or np.ndim(item) > 0
                                                             for item in sample_weight)


@contextlib.contextmanager
def _tells_other_ranks_on_error():
    """An exception leaving a run (fit, evaluate...) on one rank of a data-parallel job may leave the other ranks
    waiting for it in a collective: the communicator tells them (``distributed.failure_notices``). A block, not a
    decorator: a wrapper's frame would stand between the user's call and the warnings the run gives."""
    try:
        yield
    except BaseException as exc:
        distributed.current().note_failure(exc)
        raise


class NotCompiledError(RuntimeError, ValueError):
    """A step asked of a model not compiled: a ValueError too, as Keras raises it ("You must call `compile()`
    before using the model")."""


class NoLossError(RuntimeError, ValueError):
    """A training step asked of a model compiled without a loss and given none by its layers: a ValueError too, as
    Keras raises it ("No loss to compute")."""


class Trainer(TfKeras2Loops):
    """The Keras training API of a model; the model provides layers, ops, params/grads, ``_ensure_built`` and
    ``_pack_for_training``."""

    def _init_training_state(self) -> None:
        self.optimizer = None
        self.loss = None  # what compile was given (Keras's ``model.loss``); the Loss it resolves to:
        self._resolved_loss = None
        self.compiled_metrics: list = []
        self.metric_identifiers: list = []  # as compile was given them (per output for several: a list or dict)
        self.weighted_metric_identifiers: list = []
        self._output_specs: list = []  # per output: its loss, loss weight and metrics (compiled_outputs.py)
        self._loss_tracker = None  # Keras's loss tracker: a Mean named "loss", made by compile
        self._part_trackers: dict = {}  # for several outputs, a Mean of each output's loss, by its log name
        self._metric_objects: dict = {}  # the compiled metric objects per label layout (trainer/plan.py)
        self.compiled = False
        self._jit_compile = "auto"
        self._run_eagerly = False
        self.steps_per_execution = 1
        self.stop_training = False
        self.stop_evaluating = self.stop_predicting = False  # callbacks stop evaluate / predict with these
        self.history = None
        self._synced_comm = None
        self._optimizer_built = False
        self.train_function = self.test_function = None
        self._compiled_trainable_state = None  # see trainable_state.py
        self._warned_trainable_state = None
        self._trained_since_compile = False
        self._initial_epoch = None  # set by a callback to move fit's start (Keras's name): see _start_epoch

    # ---- compile ----------------------------------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, loss_weights=None, metrics=None, weighted_metrics=None,
                run_eagerly=None, steps_per_execution=1, jit_compile="auto", auto_scale_loss=True, **kwargs):
        """Configure training. ``jit_compile=True`` records each batch shape's first training step and replays
        the recording afterwards, as a CUDA graph on a GPU (see the README); ``"auto"`` (Keras's default) does
        so where the backend gains from it (``jit_compile`` property). ``steps_per_execution=N`` runs N steps per
        execution as in Keras: callbacks see a batch begin and end every N steps, and with a recorded step the
        N steps are one replay (one graph launch on a GPU). ``run_eagerly=True`` runs every step eagerly (with
        ``jit_compile=True`` it warns, as Keras does). ``weighted_metrics``: metrics computed with the sample
        weights (``sample_weight`` or ``class_weight``), as Keras's; ``metrics`` are unweighted."""
        from ..models import shape_variants

        # (the optimizer and the compiled objects change: between, not inside, another thread's steps and saves)
        with compute_turns.turn(self.ops):
            shape_variants.forget(self)  # (compiled anew: a variant copies the new compile when it is made)
            if _holds_metrics(loss_weights) and not _holds_metrics(metrics):
                # tf.keras 2's order, compile(optimizer, loss, metrics, loss_weights), by position: its scripts pass
                # the metrics third, where Keras 3 takes the loss weights (numbers, never names or functions)
                loss_weights, metrics = metrics, loss_weights
            # tf.keras 2's arguments of its TensorFlow graph that changed nothing in eager TensorFlow 2 (it dropped
            # them as gpunn does; Keras 3 refuses them)
            for ignored in ("experimental_run_tf_function", "cloning"):
                kwargs.pop(ignored, None)
            if "sample_weight_mode" in kwargs and kwargs["sample_weight_mode"] is None:
                kwargs.pop("sample_weight_mode")  # (tf.keras 2's default, one weight per sample)
            if kwargs:
                raise TypeError(f"compile: unexpected keyword argument(s) {sorted(kwargs)}")
            # Keras's auto_scale_loss wraps the optimizer in a LossScaleOptimizer under a "mixed_float16" policy only,
            # which gpunn does not train in (float32 or float64 gradients do not underflow so): taken, nothing to do
            if not isinstance(auto_scale_loss, (bool, np.bool_)):
                raise ValueError(f"auto_scale_loss: expected True or False, got {auto_scale_loss!r}")
            jit_compile = _check_jit_compile(jit_compile)
            if (isinstance(steps_per_execution, bool) or not isinstance(steps_per_execution, (int, np.integer))
                    or steps_per_execution < 1):
                raise ValueError(f"steps_per_execution: expected a positive integer, got {steps_per_execution!r}")
            if optimizer is None:
                raise TypeError("optimizer: expected an optimizer or its name (such as 'adam'), got None")
            optimizer = optimizers_module.get(optimizer)
            current = self.__dict__.get("optimizer") if self.compiled else None
            if current is not None and optimizer is not current and \
                    compute_turns.model_calls(self, "train")._is_owned():  # (this thread's fit, in its callbacks)
                raise RuntimeError(f"compile: called during fit (from a callback) with another optimizer "
                                   f"({type(optimizer).__name__}); the fit steps with the optimizer it started with. "
                                   "Compile again with the model's own optimizer (model.optimizer) to change the "
                                   "rest, or with a new one after fit returns")
            # tf.keras 2 took one metric alone (``metrics=BinaryAccuracy()``, ``metrics="accuracy"``) as a list of it
            metrics, weighted_metrics = (value if value is None or isinstance(value, (list, tuple, dict)) else [value]
                                         for value in (metrics, weighted_metrics))
            # As Keras 3: compiled again without a loss, or without metrics, the model keeps those it had
            # (``model.compile(optimizer=Adam(1e-5))`` to fine-tune keeps the loss and the metrics)
            previous = self.__dict__.get("_compile_arguments") if self.compiled else None
            if previous is not None and loss is None:
                loss, loss_weights = previous[0], previous[1]
            if previous is not None and metrics is None and weighted_metrics is None:
                metrics, weighted_metrics = previous[2], previous[3]
            trainable_state.check_nested(self)
            if getattr(self, "_awaits_trace", False):  # a subclassed model: its outputs are known at its first data
                self._resolved_loss = compiled_outputs.check_names(loss, metrics, weighted_metrics)
            else:  # every name and structure checked now
                compiled_outputs.resolve(self, loss, loss_weights, metrics, weighted_metrics)
            self._compile_arguments = (loss, loss_weights, metrics, weighted_metrics)
            self._compiled_objects_built = False  # (Keras makes them anew, built at the next fit or evaluate)
            self.loss = loss
            self.optimizer = optimizer
            optimizer._variable_places = functools.partial(_keras_variable_places, weakref.ref(self))
            self.metric_identifiers = metrics if isinstance(metrics, dict) else list(metrics or [])
            self.weighted_metric_identifiers = weighted_metrics if isinstance(weighted_metrics, dict) else list(
                weighted_metrics or [])
            self._loss_tracker = metrics_module.Mean(name="loss")
            self._resolve_compile()
            if jit_compile is True and run_eagerly:
                warnings.warn("If `run_eagerly` is True, then `jit_compile` cannot also be True. Disabling "
                              "`jit_compile`.", stacklevel=user_stacklevel())
            self._jit_compile = False if run_eagerly else jit_compile
            self._run_eagerly = self._compiled_run_eagerly = bool(run_eagerly)  # (the second: for the compile config)
            self.steps_per_execution = int(steps_per_execution)
            # As in Keras, the trainable flags of this moment are the ones training uses (trainable_state.py).
            flags_before = self.__dict__.get("_compiled_trainable_state")
            self._compiled_trainable_state = trainable_state.current(self)
            self._warned_trainable_state = None
            self._trained_since_compile = False
            self.compiled = True
            self._optimizer_built = False
            self.train_function = self.test_function = None
            owner = optimizer.__dict__.get("_built_for", (None,))[0]
            if owner is not None and owner() is self and self.built and flags_before == self._compiled_trainable_state:
                # compiled again with the optimizer it trained with, the same weights trained: built again now, its
                # state kept, as Keras's stays built (its variables listed, saved with the model, set by load_weights
                # before the next fit); with other trainable flags the next fit lays the buffers out for them first
                self._ensure_optimizer()

    def _resolve_compile(self) -> None:
        """``model._resolved_loss`` (the Loss compiled from ``model.loss``) and each output's loss, weight and
        metrics from compile's arguments (again once a subclassed model knows its outputs); the metric objects and
        steps made for the old ones are dropped."""
        if not getattr(self, "_awaits_trace", False):
            self._resolved_loss, self._output_specs = compiled_outputs.resolve(self, *self._compile_arguments)
            if custom_steps.has_own(self, "compute_loss"):
                self._take_own_compute_loss()
        self._part_trackers = {}
        self._metric_objects = {}
        self.compiled_metrics = []
        self.train_function = self.test_function = None

    def _trace_for(self, x, argument: str = "x") -> None:
        """A subclassed model learns its graph from the first data it sees (``models/subclassed.py``)."""

    @property
    def jit_compile(self) -> bool:
        """Whether training steps are recorded once per batch shape and replayed (a CUDA graph on a GPU).
        ``"auto"`` resolves for the model's backend, as Keras resolves it per backend: on by default where
        replays were measured faster than eager steps and equal to them (``Ops.replays_by_default``)."""
        if self._run_eagerly:
            return False
        if self._jit_compile == "auto":
            ops = self.ops if getattr(self, "ops", None) is not None else get_ops()
            return bool(ops.replays_by_default)
        return self._jit_compile

    @jit_compile.setter
    def jit_compile(self, value) -> None:
        self._jit_compile = _check_jit_compile(value)
        self.train_function = None  # the next fit makes its step with the new setting

    @property
    def run_eagerly(self) -> bool:
        """Keras's ``run_eagerly``: True runs every step eagerly (no replay), whatever ``jit_compile`` says."""
        return self._run_eagerly

    @run_eagerly.setter
    def run_eagerly(self, value) -> None:
        self._run_eagerly = bool(value)
        self.train_function = self.test_function = None  # the next steps are made with the new setting

    @property
    def metrics_names(self) -> list[str]:
        """The names of the logs, in the order ``evaluate`` lists its values."""
        step = self.test_function or self.train_function
        if step is not None and step.metrics is not None:
            return list(step.metrics.names)
        if not self.compiled:
            return []
        names = None
        if not self.compiled_metrics and not getattr(self, "_awaits_trace", False):
            from .plan import log_names_before_data  # (the step's names, known from compile before any data)

            names = log_names_before_data(self)
        if names is None:
            names = ["loss"] + [m.name for m in self.compiled_metrics]
        # (then those the model holds as attributes, as the steps will log them)
        return names + [m.name for m in attribute_metrics(self) if m.name not in names]

    @property
    def metrics(self) -> list:
        """The loss tracker (a Mean named "loss"), for several outputs the trackers of their losses, then the
        compiled metric objects (resolved by the first ``fit`` / ``evaluate``), each reading the state of the
        last epoch or evaluation, then the metrics the model holds as attributes (``attribute_metrics.py``).
        Keras 3 lists the compiled metrics inside one "compile_metrics" object; here they are listed one by one,
        as ``metrics_names`` and the History name them."""
        if not self.compiled or self._loss_tracker is None:
            return attribute_metrics(self)  # (Keras lists those before compile too)
        own = [self._loss_tracker] + list(self._part_trackers.values()) + list(self.compiled_metrics)
        return own + attribute_metrics(self, besides=own)

    @property
    def metrics_variables(self) -> list:
        """Keras's: the variables of every metric in ``metrics``, in turn."""
        return [variable for metric in self.metrics for variable in metric.variables]

    def _loss_part_trackers(self, names: list) -> list:
        """The trackers of the outputs' losses named ``names`` (made once per compile, shared by training and
        evaluation as the loss tracker is)."""
        return [self._part_trackers.setdefault(name, metrics_module.Mean(name=name)) for name in names]

    def reset_metrics(self) -> None:
        """Zero the state of the loss tracker and every compiled metric (Keras's ``reset_metrics``): the sums of
        training and of evaluation alike (a ``train_on_batch(..., reset_metrics=False)`` loop goes on from zero)."""
        for function in (self.train_function, self.test_function):
            if function is not None and function.metrics is not None:
                function.metrics.reset()
        for metric in self.metrics:
            metric.reset_state()

    def get_metrics_result(self) -> dict:
        """Keras's: the results of ``model.metrics`` as the last fit, evaluate or ``*_on_batch`` left them,
        ``{'loss': ..., 'mae': ...}`` (a metric giving several results adds each)."""
        results = {}
        for metric in self.metrics:
            result = metric.result()
            if isinstance(result, dict):
                results.update(result)
            else:
                results[metric.name] = result
        return results

    def _require_compiled(self, what: str, hooks=()) -> None:
        """Refuse a step that cannot run: the model not compiled, or compiled without a loss, or a subclass
        overriding one of ``hooks`` (Keras's steps' hooks, which gpunn's steps do not call: custom_steps.py)."""
        custom_steps.refuse_overridden_hooks(self, what, hooks)
        if not self.compiled:
            raise NotCompiledError(f"{what}: the model must be compiled first; call model.compile(optimizer=..., "
                                   "loss=...)")
        if self._without_loss() and self.built:  # (a subclassed model not traced yet: checked once it is)
            self._check_trains_on_added_losses(what)
        trainable_state.warn_if_changed(self)

    def _adds_losses(self) -> bool:
        """Whether a layer of the model gives ``add_loss`` a loss (Keras's "endpoint layer": a model compiled
        without a loss trains on those alone)."""
        return any(user_layer.adds_losses(layer) for layer in self._layers)

    def _ensure_optimizer(self) -> None:
        if not self._optimizer_built or self.optimizer.ops is not self.ops:
            from ..models.keras_variables import trained_weight_descriptions, trained_weights

            weights = trained_weights(self)
            # (the same optimizer built before for this model, in another layout: its state per weight kept, that
            # of the weights frozen since included, for when they are trained again)
            owner, before, parked = self.optimizer.__dict__.get("_built_for", (None, None, {}))
            unknown = carried_slots.unknown(weights, before, parked) if owner is not None and \
                owner() is not self else []
            if unknown:
                # Keras's TensorFlow backend refuses weights its optimizer was not built with ("Unknown variable"):
                # its state is other weights' (a model wrapping the first one, or another over its layers, trains
                # weights it knows, and carries their moments and its step count on, here as there)
                (layer, spec), first = unknown[0], owner()
                other = "now gone" if first is None else repr(first.name) + (
                    ", of the same name" if first.name == self.name else "")  # (models made in a loop)
                raise ValueError(
                    f"optimizer: this {type(self.optimizer).__name__} was built for the weights of another model "
                    f"({other}; {self.optimizer.iterations} steps "
                    f"done), and {self.name!r} trains {len(unknown)} weight(s) it does not know, such as "
                    f"{layer.name}/{spec.name}; make a new optimizer instance for {self.name!r}, as Keras asks (e.g. "
                    "optimizer=keras.optimizers.Adam(...) inside the loop that builds each model)")
            kept = {**parked, **carried_slots.slots_by_weight(self.optimizer, before)} if owner is not None else {}
            self.optimizer.set_trained_weights(trained_weight_descriptions(self))
            self.optimizer.build(self.ops, self.params, self._segments)
            carried_slots.restore(self.optimizer, weights, kept)
            self.optimizer._built_for = (weakref.ref(self), weights,
                                         carried_slots.not_trained(kept, weights, self._store.layers,
                                                                   self.optimizer._iterations))
            self._optimizer_built = True

    # ---- the steps --------------------------------------------------------------------------------
    def make_train_function(self, force: bool = False) -> TrainStep:
        """The TrainStep for the current build, compile and communicator (made again when one changed)."""
        comm = distributed.current()
        step = self.train_function
        if force or step is None or step.comm is not comm or step.ops is not self.ops:
            if force:  # Keras: how a change of `trainable` reaches training without a compile()
                trainable_state.check_nested(self)
                self._compiled_trainable_state = trainable_state.current(self)
            self._pack_for_training()  # the buffers laid out for the compiled trainable flags
            step = self.train_function = TrainStep(self, comm, jit=self.jit_compile)
        # (from here a change of ``trainable`` waits for the next compile: trainable_state.warn_if_changed)
        self._trained_since_compile = True
        return step

    def make_test_function(self, force: bool = False) -> TestStep:
        comm = distributed.current()
        self._claim_layers()
        self._pack_for_trainable_flags()  # (drops the steps made for the old layout)
        step = self.test_function
        if force or step is None or step.comm is not comm or step.ops is not self.ops:
            step = self.test_function = TestStep(self, comm)
        return step

    def _sparse_labels(self, y):
        """Whether the targets are class ids; for a model of several outputs, a tuple of the outputs' flags."""
        if self._several_outputs:
            return tuple(spec.loss is not None and bool(spec.loss.sparse_labels) for spec in self._output_specs)
        if self._resolved_loss is None:  # a model compiled without a loss: no targets (``_prepare_with_targets``)
            return False
        if self._resolved_loss.sparse_labels and getattr(self, "_labels_as_column", False):
            return "column"  # class ids, which the user's metrics see as the (samples, 1) column given
        return self._resolved_loss.sparse_labels or y.ndim == 1

    def _check_ranks_agree(self, comm, call: str, data: dict, **sections) -> None:
        """Before the first collective: ranks that differ in the model, compile configuration or ``data``
        stop here, every one of them, naming the difference (else some would wait in a collective)."""
        if comm.size > 1:
            comm.meet(f"called {call}")
            check_agreement(comm, run_summary(call, self, data, **sections))
            take_chiefs_weights_if_changed(self, comm)

    # ---- data checks ------------------------------------------------------------------------------
    def _shape_variant(self, x, argument: str = "x"):
        """The model's variant for samples of another shape than it was built for (``shape_variants.py``), or
        None where the model takes ``x`` itself."""
        from ..models import shape_variants

        self._trace_for(x, argument)
        return shape_variants.variant_for(self, x, argument)

    def _prepare(self, x, y, x_argument="x", y_argument="y"):
        self._trace_for(x, x_argument)
        x = as_feature_array(x_argument, self._pack_inputs(x_argument, x))
        self._ensure_built(x.shape)
        self._check_input_values(x_argument, x)
        x = check_inputs(x_argument, x, self._built_input_shape, self.dtype)
        if y is None:
            return x, None
        if self._several_outputs:
            y = self._pack_targets(y_argument, y)
            check_same_length(x, y, y_argument)
            return x, y
        y = as_numeric_array(y_argument, self._single_target(y_argument, y))
        self._choose_crossentropy(0, y)
        # class ids given as a column: a sparse loss takes them flat; the user's metrics see them as given
        self._labels_as_column = bool(self._resolved_loss.sparse_labels and y.ndim == 2 and y.shape[1] == 1)
        check_same_length(x, y, y_argument)
        y = check_targets(y_argument, y, self._resolved_loss, self._calls[-1].output_shape, self.dtype)
        return x, y

    def _prepare_with_targets(self, x, y, x_argument="x", y_argument="y", what="fit"):
        """``_prepare`` for a step computing the loss: targets needed, except by a model compiled without a loss
        whose layers give add_loss its loss (Keras's endpoint layer): as in Keras, that loss alone trains it and
        ``y`` is not used (it gets targets of no columns)."""
        if self._without_loss():
            x, _ = self._prepare(x, None, x_argument)  # (a subclassed model learns its layers here)
            self._check_trains_on_added_losses(what)
            return x, np.zeros((len(x), 0), dtype=self.dtype)
        if y is None and custom_steps.has_own(self, "compute_loss") and not isinstance(x, (str, bytes)):
            # Keras hands an own compute_loss y=None (a distiller's loss without its student's): targets of no
            # columns, which own_compute_loss.py hands on as None
            x, _ = self._prepare(x, None, x_argument)
            self._check_no_metrics_without_targets(what)
            return x, np.zeros((len(x), 0), dtype=self.dtype)
        if y is None:
            if isinstance(x, (str, bytes)):  # (no data at all, rather than data without targets: Keras names x)
                raise ValueError(f"{x_argument}: expected arrays of samples, a generator or a dataset, got "
                                 f"{type(x).__name__} {x!r}")
            raise ValueError(f"{y_argument}: {what} needs targets for the model's loss; got None")
        return self._prepare(x, y, x_argument, y_argument)

    def _without_loss(self) -> bool:
        return self._resolved_loss is None and not custom_steps.has_own(self, "compute_loss")

    def _check_trains_on_added_losses(self, what: str) -> None:
        """A model compiled without a loss trains on its layers' add_loss terms: one output's model with such
        layers and no metrics (they would have no targets to compare with)."""
        if not self._adds_losses():
            raise NoLossError(f"{what}: the model was compiled without a loss, and none of its layers gives "
                              "add_loss one; call model.compile(loss=...)")
        if self._several_outputs:
            raise ValueError(f"{what}: the model has several outputs and was compiled without a loss; gpunn trains "
                             "a model on its layers' add_loss terms alone when it has one output (give compile a "
                             "loss per output, None for those it does not train)")
        if any(spec.metrics or spec.weighted_metrics for spec in self._output_specs):
            raise ValueError(f"{what}: the model was compiled without a loss but with metrics; it trains on its "
                             "layers' add_loss terms, takes no targets, and its metrics would have none to compare "
                             "with (compute them in the layer, or give compile a loss)")

    def _check_no_metrics_without_targets(self, what: str) -> None:
        if any(spec.metrics or spec.weighted_metrics for spec in self._output_specs):
            raise ValueError(f"y: {what} was given no targets (y=None), which the model's compute_loss takes, but "
                             "the model was compiled with metrics, which would have none to compare its outputs with; "
                             "give y, or compile without metrics (update metrics of the model's own in compute_loss)")

    def _targets_layout(self) -> PackedTargets:
        """How the targets of a model of several outputs are packed, for its compiled losses."""
        return PackedTargets(self.output_names, self._output_keys, list(self._sparse_labels(None)),
                             self._trained_output_shapes(), self.dtype, self._trained_outputs())

    def _trained_output_shapes(self) -> list:
        """Each output's sample shape as losses and metrics see it: an output of one value per sample, shape
        (), trained as a column of shape (1,), as Keras brings targets and predictions to the same rank (the
        step runs it through a hidden ``Reshape((1,))``, trainer/plan.py)."""
        return [shape or (1,) for shape in self._output_shapes()]

    def _trained_outputs(self) -> list:
        """The positions of the outputs with a loss (all of them unless compile left some without one)."""
        return [k for k, spec in enumerate(self._output_specs) if spec.loss is not None]

    def _pack_targets(self, argument: str, y) -> np.ndarray:
        """The one target array of a model of several outputs, from a list, tuple or dict of theirs (each
        checked against its output and loss)."""
        specs, shapes, trained = self._output_specs, self._trained_output_shapes(), self._trained_outputs()

        if any(isinstance(specs[output].loss, ShapeChosenCrossentropy) for output in trained):
            # (chosen before the layout, whose widths follow the losses)
            for output, value in zip(trained, self._targets_layout().per_output(argument, y)):
                self._choose_crossentropy(output, as_numeric_array(argument, value))

        def convert(k, name, value):
            output = trained[k]
            checked = check_targets(name, as_numeric_array(name, value), specs[output].loss, shapes[output],
                                    self.dtype)
            # class ids: one per sample, or per step of an output per step
            expected = tuple(shapes[output][:-1] if specs[output].loss.sparse_labels else shapes[output])
            if tuple(checked.shape[1:]) != expected:  # a loss of the user's, given targets of another shape
                raise ValueError(f"{name}: expected targets of shape (samples, {', '.join(map(str, expected))}) "
                                 f"for output {self.output_names[output]!r} (a model of several outputs takes "
                                 f"each output's targets shaped like it), got shape {checked.shape}")
            return checked

        return self._targets_layout().pack(argument, y, convert)

    def _choose_crossentropy(self, output: int, labels) -> None:
        """compile(loss="crossentropy") or "ce": output ``output``'s cross-entropy chosen from its first labels and
        its shape, as Keras's ``get_loss`` chooses it when its losses are built (``chosen_crossentropy.py``)."""
        spec = self._output_specs[output]
        if isinstance(spec.loss, ShapeChosenCrossentropy):
            spec.loss = spec.loss.choose_for(labels, tuple(self._trained_output_shapes()[output]))
            if not self._several_outputs:
                self._resolved_loss = spec.loss

    def _single_target(self, argument: str, y):
        """A model of one output takes its targets alone, or, as Keras does, in a list or tuple of one array or
        a dict of one keyed by the output's name."""
        if isinstance(y, (list, tuple)) and len(y) == 1 and getattr(y[0], "ndim", 0) >= 1:
            return y[0]
        several = isinstance(y, dict) and len(y) > 1 or isinstance(y, (list, tuple)) and len(y) > 1 and all(
            getattr(part, "ndim", 0) >= 1 for part in y)
        if several and custom_steps.has_own(self, "compute_loss"):
            raise ValueError(f"{argument}: a {type(y).__name__} of {len(y)} target arrays for a model of one output "
                             "whose compute_loss is its own; Keras hands them on to compute_loss as given, gpunn "
                             "takes one array of targets there: put them side by side in one array and take its "
                             "columns apart in compute_loss")
        if isinstance(y, dict):
            names = set(self.output_names) | set(getattr(self, "_output_keys", None) or [])
            if len(y) != 1 or next(iter(y)) not in names:
                raise ValueError(f"{argument}: the model's one output is {sorted(names)}; got a dict with keys "
                                 f"{sorted(str(key) for key in y)}")
            return next(iter(y.values()))
        return y

    def _sample_weights(self, y, sample_weight, class_weight, argument="sample_weight"):
        """Per-sample weights (host, the model's dtype) from ``sample_weight`` or ``class_weight``, or None: one
        per sample (rows,), or for a model of several outputs given weights per output, one column per output
        with a loss (rows, outputs with a loss)."""
        if sample_weight is not None and class_weight is not None:
            raise ValueError("sample_weight, class_weight: give at most one of them")
        if class_weight is not None and self._without_loss():
            raise ValueError("class_weight: the model was compiled without a loss and takes no targets, so no "
                             "classes to weigh; pass sample_weight (or weigh the loss in the layer that adds it)")
        if self._several_outputs and class_weight is not None:  # as Keras refuses it
            raise ValueError(f"class_weight: only supported for models with a single output; this model has "
                             f"{len(self.output_names)} outputs {self.output_names}. Pass sample_weight instead")
        if self._several_outputs and _per_output(sample_weight):
            weights = self._weights_per_output(argument, sample_weight, len(y))
            if weights is None:
                return None
        elif class_weight is not None:
            weights = class_weight_to_sample_weight(class_weight, y, self._resolved_loss,
                                                    self._trained_output_shapes()[0][-1], self.dtype)
            argument = "class_weight"
        elif sample_weight is not None:
            if isinstance(sample_weight, (list, tuple)) and len(sample_weight) == 1 and np.ndim(sample_weight[0]):
                sample_weight = sample_weight[0]  # one output's weights in a list of outputs, as Keras takes them
            weights = check_sample_weight(argument, sample_weight, len(y))
        else:
            return None
        return as_model_dtype(argument, weights, self.dtype)  # the model's precision: weighting never widens a step

    def _weights_per_output(self, argument: str, sample_weight, n: int) -> np.ndarray | None:
        """(n, outputs with a loss): the weights given per output, as Keras takes them (a list or tuple in the
        outputs' order, or a dict by output name), ones for an output given None; None when every entry is."""
        layout = self._targets_layout()
        trained = layout.trained
        if isinstance(sample_weight, dict):
            given: list = [None] * len(self.output_names)
            for key, value in sample_weight.items():
                position = layout.position(key)
                if position is None:
                    raise ValueError(f"{argument}: unknown output name(s) {[str(key)]}; the model's outputs are "
                                     f"{self._output_keys or self.output_names}")
                given[position] = value
            per_output = [given[k] for k in trained]
            labels = [f"{argument}[{name!r}]" for name in layout.trained_names]
        elif len(sample_weight) in (len(self.output_names), len(trained)):
            full = len(sample_weight) == len(self.output_names)
            per_output = [sample_weight[k] for k in trained] if full else list(sample_weight)
            labels = [f"{argument}[{k if full else j}]" for j, k in enumerate(trained)]
        else:
            raise ValueError(f"{argument}: the model has {len(self.output_names)} outputs {self.output_names} "
                             f"({len(trained)} with a loss); expected one weight per sample, or a list of weights per "
                             f"output (of all of them or of those with a loss), got a {type(sample_weight).__name__} "
                             f"of {len(sample_weight)}")
        if all(value is None for value in per_output):
            return None
        columns = [np.ones(n, dtype=self.dtype) if value is None else check_sample_weight(label, value, n)
                   for label, value in zip(labels, per_output)]
        return np.stack(columns, axis=1)

    # ---- fit --------------------------------------------------------------------------------------
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None, validation_split=0.0,
            validation_data=None, shuffle=True, class_weight=None, sample_weight=None, initial_epoch=0,
            steps_per_epoch=None, validation_steps=None, validation_batch_size=None, validation_freq=1, **kwargs):
        """Train for ``epochs`` epochs; returns the History. ``batch_size`` (default 32) is the global batch.

        ``sample_weight`` (one weight per sample; for several outputs also one array per output, a list or a dict)
        or ``class_weight`` ({class id: weight}) scale each sample's loss as in Keras: the reported loss is
        sum(weight * loss) / samples; compile's ``metrics`` stay unweighted, its ``weighted_metrics`` take the
        weights.

        ``x`` (and ``validation_data``) may also be a generator, an iterator or a ``gpunn.utils.PyDataset``
        yielding ``(x, y)`` or ``(x, y, sample_weight)`` batches (``streamed_loops.py``)."""
        with compute_turns.model_calls(self, "train"), _tells_other_ranks_on_error(), \
                step_interrupts.between_steps():
            from ..callbacks import CallbackList

            take_reading_arguments("fit", kwargs)
            self._require_compiled("fit", custom_steps.TRAIN_HOOKS)
            first_since_compile = self._first_use_since_compile()
            steps_per_epoch, validation_steps = whole_number(steps_per_epoch), whole_number(validation_steps)
            if validation_data is not None or validation_split:
                custom_steps.refuse_overridden_hooks(self, "fit (its validation)", ("test_step",))
                validation_steps = run_limits.limited_steps(validation_steps)
            epochs = run_limits.limited_epochs(epochs)  # keras.config.set_max_epochs, for debugging runs
            steps_per_epoch = run_limits.limited_steps(steps_per_epoch)
            # (0 is None: Keras takes ``validation_batch_size or batch_size``; checked for streamed data too)
            validation_batch_size = check_positive_int("validation_batch_size", validation_batch_size or None,
                                                       allow_none=True)
            if is_streamed(x):
                return fit_streamed(self, x, y, batch_size, epochs, _verbose_param(verbose), callbacks,
                                    validation_split, validation_data, shuffle, class_weight, sample_weight,
                                    initial_epoch, steps_per_epoch, validation_steps, validation_batch_size,
                                    validation_freq, first_since_compile)
            batch_size = check_positive_int("batch_size", batch_size, allow_none=True)  # (None: Keras's rule, below)
            epochs = check_epochs(epochs)
            if not 0 <= initial_epoch:  # (past epochs: no epoch runs, as in Keras)
                raise ValueError(f"initial_epoch: expected a non-negative integer, got {initial_epoch!r}")
            verbose = _verbose_param(verbose)
            validation_freq = check_validation_freq(validation_freq)
            steps_per_epoch = check_steps("steps_per_epoch", steps_per_epoch)
            x, y = self._prepare_with_targets(x, y)
            weights = self._sample_weights(y, sample_weight, class_weight)
            validation_steps = check_steps("validation_steps", validation_steps)
            val_stream = None
            if is_streamed(validation_data):  # a generator or PyDataset: read batch by batch at each validation
                val_stream, validation_data, validation_split = StreamedValidation(self, validation_data,
                                                                                   validation_steps), None, 0.0
            if validation_data is not None and self._without_loss():  # no targets: x alone, or (x,), as Keras takes
                if not isinstance(validation_data, (tuple, list)):
                    validation_data = (validation_data, None)
                elif isinstance(validation_data, tuple) and len(validation_data) == 1:
                    validation_data = (validation_data[0], None)
            if validation_data is not None:
                val = checked_validation_arrays(self, validation_data)
            else:
                # Keras splits the samples with their sample_weight; class_weight weighs the training rows alone
                # (its epoch iterator applies it), so the validation rows of a class-weighted fit are unweighted.
                split_weights = weights if class_weight is None else None
                arrays, val = split_validation([x, y] + ([split_weights] if split_weights is not None else []),
                                               validation_split)
                x, y = arrays[:2]
                weights = None if weights is None else arrays[2] if split_weights is not None else weights[:len(x)]
            # Keras's batch sizes where none is given: the rows over steps_per_epoch batches, or 32; the validation's
            # its own (over validation_steps, or 32), not the training's
            val_batch_size = None if val is None else keras_batch_size(validation_batch_size or batch_size,
                                                                       validation_steps, len(val[0]))
            batch_size = keras_batch_size(batch_size, steps_per_epoch, len(x))
            shuffle_mode = "batch" if isinstance(shuffle, str) and shuffle == "batch" else bool(shuffle)
            if val is not None and validation_steps is not None:  # Keras validates on validation_steps batches only
                val = [a[:validation_steps * val_batch_size] for a in val]
            self._check_ranks_agree(distributed.current(), "fit", {
                "samples": len(x), "batch_size": batch_size, "epochs": epochs, "initial_epoch": int(initial_epoch),
                "steps_per_epoch": steps_per_epoch, "shuffle": shuffle_mode,
                "sample_weights": None if weights is None else weights.shape[1:],
                "targets": f"{y.dtype.name} {tuple(y.shape[1:])}",
                "validation_samples": len(val[0]) if val is not None else 0,
                "validation_sample_weights": val is not None and len(val) == 3,
                "validation_batch_size": val_batch_size, "validation_freq": validation_freq,
                # With callbacks, ranks agree on stopping after every batch (a collective the others must join).
                "callbacks": bool(callbacks),
                # (sample and class weights are in the weights' rows)
                "sampled_values": sampled_values(distributed.current(), {
                    "x": x, "y": y, "sample_weight": weights,
                    **dict(zip(("validation_x", "validation_y", "validation_sample_weight"), val or []))})})

            step = self.make_train_function().prepare(self._sparse_labels(y))
            comm = step.comm
            rng = orders_generator(self, comm)
            iterator = EpochIterator(self.ops, comm, [x, y] + ([weights] if weights is not None else []), batch_size,
                                     steps_per_epoch, shuffle=shuffle_mode, rng=rng)
            iterator.enable_feed()  # steps fetch their own batches on the device (what a replay of several needs)
            cbs = CallbackList(callbacks, add_history=True, add_progbar=verbose != 0, model=self, verbose=verbose,
                               epochs=epochs, steps=iterator.steps)
            self.stop_training = False
            agree = comm.size > 1 and bool(callbacks)
            divergence = DivergenceWarning(cbs, comm.is_chief)
            val_data = None
            logs: dict = {}
            self._initial_epoch = None  # only this fit's callbacks may move its start
            cbs.on_train_begin()
            start = self._start_epoch(initial_epoch, comm)
            # The epochs skipped by a resumed run draw their orders all the same, from where the run's orders
            # began (shuffle_orders.py), so that the epochs it runs see their batches in the order the interrupted
            # run would have.
            run_starts(self, rng, resumed=start > initial_epoch)
            iterator.skip_epochs(min(start, epochs) - initial_epoch)
            try:
                for epoch in range(start, epochs):
                    step.metrics.reset()  # (before on_epoch_begin, as Keras: a callback reads the new epoch's zeros)
                    cbs.on_epoch_begin(epoch)
                    for begin, end, batches in executions(iterator.batches(), self.steps_per_execution):
                        cbs.on_train_batch_begin(begin)  # (Keras's numbering: executions.py)
                        step.run_batches(iterator, batches, y.shape[1:], y.dtype,
                                         None if weights is None else weights.shape[1:])
                        hand_batch_logs(step.metrics, cbs.on_train_batch_end, end)
                        if agree:
                            agree_on_stop(self, comm)
                        if self.stop_training:
                            break
                    logs = step.metrics.result()
                    divergence.epoch_end(epoch, epochs, logs)
                    if val is not None and validates_after(epoch, validation_freq):
                        if val_data is None:  # on the device once per fit, not once per validation
                            val_data = DeviceDataset(self.ops, val)
                        val_logs = self._evaluate_arrays(val, val_batch_size, val_data, cbs, callbacks_stop=agree)
                        logs.update({f"val_{k}": v for k, v in val_logs.items()})
                    if val_stream is not None and validates_after(epoch, validation_freq):
                        logs.update({f"val_{k}": v for k, v in val_stream.evaluate(cbs).items()})
                    divergence.validation_end(epoch, epochs, logs)
                    cbs.on_epoch_end(epoch, logs)
                    if agree:
                        agree_on_stop(self, comm)
                    if self.stop_training:
                        break
            finally:
                # Keras: with use_ema, the weights become their moving average, before on_train_end, and also
                # when the fit was stopped by an exception (its fit's ``finally``)
                if epochs > 0:
                    self.optimizer.finalize_variable_values()
            cbs.on_train_end(logs)
            return self.history

    def _start_epoch(self, initial_epoch: int, comm) -> int:
        """The epoch fit starts at: ``initial_epoch``, unless a callback's ``on_train_begin`` moved it by setting
        ``model._initial_epoch`` (Keras's trainers: ``self._initial_epoch or initial_epoch``), as BackupAndRestore
        does to resume an interrupted run. Taken once, so the next fit starts where its own arguments say."""
        moved, self._initial_epoch = self._initial_epoch, None
        start = int(moved or initial_epoch)
        if comm.size > 1:  # ranks starting at different epochs would wait for each other in the first sum
            comm.check_same("the epoch training starts at (model._initial_epoch, set by a callback)", str(start))
        return start

    # ---- evaluate / predict -----------------------------------------------------------------------
    def _evaluate_arrays(self, arrays: list, batch_size: int, data: DeviceDataset | None = None,
                         cbs=None, callbacks_stop: bool | None = None, reset: bool = True) -> dict:
        """Loss and metrics over ``arrays`` = [x, y] or [x, y, sample_weight] (host arrays, already checked);
        ``cbs``: a CallbackList told of the test as Keras tells it (``on_test_begin``, each batch, the end);
        ``callbacks_stop``: whether callbacks of the user's may stop it, so that the ranks agree after each batch
        (the same on every rank; by default, whether there are ``cbs``)."""
        callbacks_stop = cbs is not None if callbacks_stop is None else callbacks_stop
        y = arrays[1]
        self.stop_evaluating = False
        if cbs is not None:  # (Keras's callbacks read the metrics of the training there: reset after it)
            cbs.on_test_begin()
        # The model's evaluations one at a time (each adds its batches to the model's test sums), and one compute
        # turn for all the batches, so that they see the same weights while another thread trains: unless a
        # callback runs code of the script's between them, which may wait for another thread (compute_turns.py)
        with compute_turns.model_calls(self, "test"), compute_turns.turn(self.ops) if cbs is None or not \
                cbs.run_scripts_code() else contextlib.nullcontext():
            step = self.make_test_function().prepare(self._sparse_labels(y))
            iterator = EpochIterator(self.ops, step.comm, list(arrays), batch_size, data=data)
            _reset_or_go_on(step.metrics, reset)
            for begin, end, run in executions(iterator.batches(), self.steps_per_execution):
                if cbs is not None:
                    cbs.on_test_batch_begin(begin)
                for batch in run:
                    if batch.rows > 0:  # else a rank with an empty share of a batch smaller than the number of ranks
                        slot = step.slot(batch.rows, batch.global_rows, y.shape[1:], y.dtype, weights_shape(arrays))
                        iterator.fill(batch, slot)
                        step(slot)
                if cbs is not None:
                    hand_batch_logs(step.metrics, cbs.on_test_batch_end, end)
                if callbacks_stop and step.comm.size > 1:
                    agree_on_stop(self, step.comm, "stop_evaluating")
                if self.stop_evaluating:
                    break
            results = step.metrics.result()
        if cbs is not None:
            cbs.on_test_end(results)
        return results

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None, steps=None, callbacks=None,
                 return_dict=False, **kwargs):
        """Loss and metrics over (x, y): a float when there are no metrics, else [loss, *metrics] (or a dict).
        ``x`` may be a generator, iterator or PyDataset of (x, y[, sample_weight]) batches; ``steps``: how many
        batches to read (all by default)."""
        with _tells_other_ranks_on_error():
            take_reading_arguments("evaluate", kwargs)
            self._require_compiled("evaluate", custom_steps.TEST_HOOKS)
            first_since_compile = self._first_use_since_compile()
            verbose = _check_verbose(verbose)
            batch_size = check_positive_int("batch_size", batch_size, allow_none=True)  # (None: Keras's rule, below)
            steps = check_steps("steps", run_limits.limited_steps(whole_number(steps)))
            if is_streamed(x):
                results = evaluate_streamed(self, x, y, sample_weight, steps, self._test_callbacks(callbacks, verbose),
                                            first_since_compile)
                return _results(results, return_dict, self.metrics_names)
            variant = self._shape_variant(x)
            if variant is not None:
                return variant.evaluate(x, y, batch_size=batch_size, verbose=verbose, sample_weight=sample_weight,
                                        return_dict=return_dict, callbacks=callbacks, steps=steps)
            x, y = self._prepare_with_targets(x, y, what="evaluate")
            weights = self._sample_weights(y, sample_weight, None)
            batch_size = keras_batch_size(batch_size, steps, len(x))
            if steps is not None:  # Keras evaluates the first `steps` batches only
                x, y = x[:steps * batch_size], y[:steps * batch_size]
                weights = None if weights is None else weights[:steps * batch_size]
            self._check_ranks_agree(distributed.current(), "evaluate", {
                "samples": len(x), "batch_size": batch_size, "sample_weights": weights is not None,
                "targets": f"{y.dtype.name} {tuple(y.shape[1:])}", "callbacks": bool(callbacks),
                "sampled_values": sampled_values(distributed.current(), {"x": x, "y": y, "sample_weight": weights})},
                optimizer=False)
            cbs = self._test_callbacks(callbacks, verbose, -(-len(x) // batch_size))
            results = self._evaluate_arrays([x, y] + ([weights] if weights is not None else []), batch_size, cbs=cbs,
                                            callbacks_stop=bool(callbacks))
            return _results(results, return_dict, self.metrics_names)

    def _first_use_since_compile(self) -> bool:
        """Whether this ``fit`` or ``evaluate`` is the first since ``compile``: Keras builds its compiled losses and
        metrics from a batch of it (``Trainer._symbolic_build``), which a PyDataset sees (``keras_reset``)."""
        first = not self.__dict__.get("_compiled_objects_built", False)
        self._compiled_objects_built = True
        return first

    def _test_callbacks(self, callbacks, verbose, steps=None):
        """The CallbackList ``evaluate`` tells of its batches (``on_test_*``, as in Keras), with Keras's progress
        bar (``verbose=1``) or line (``verbose=2``); None with neither callbacks nor a bar. ``steps``: the number
        of batches, None when not known yet."""
        from ..callbacks import CallbackList

        if not callbacks and not verbose:
            return None
        return CallbackList(callbacks, add_progbar=bool(verbose), model=self, verbose=verbose, epochs=1, steps=steps)

    def _predict_callbacks(self, callbacks, verbose, steps):
        """The CallbackList ``predict`` tells of its batches, with Keras's progress bar unless ``verbose`` is 0
        (None: neither callbacks nor a bar). ``steps``: the number of batches, None when not known."""
        from ..callbacks import CallbackList

        if not callbacks and not verbose:
            return None
        return CallbackList(callbacks, add_progbar=bool(verbose), model=self, verbose=verbose, epochs=1, steps=steps)

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None, **kwargs):
        """Model outputs for ``x`` as a NumPy array (probabilities after a softmax/sigmoid output layer). ``x``
        may be a generator, iterator or PyDataset yielding batches of x (or tuples whose first element is x);
        ``steps``: how many batches to predict (all by default)."""
        take_reading_arguments("predict", kwargs)
        _check_verbose(verbose)
        if not self._layers and not getattr(self, "_awaits_trace", False):
            raise ValueError("predict: the model has no layers")
        batch_size = check_positive_int("batch_size", batch_size, allow_none=True)  # (None: Keras's rule, below)
        steps = check_steps("steps", run_limits.limited_steps(whole_number(steps)))
        shown = 1 if verbose == "auto" else verbose  # Keras's progress bar, as its predict shows it
        self.stop_predicting = False
        if is_streamed(x):
            return predict_streamed(self, x, steps, self._predict_callbacks(callbacks, shown, steps))
        if custom_steps.has_own_predict_step(self):  # every rank predicts every row: no collective
            return custom_steps.predict_with_own_step(self, x, batch_size, steps,
                                                      self._predict_callbacks(callbacks, shown, steps))
        return self._predict_arrays(x, batch_size, verbose, steps, callbacks, shown)

    def _predict_arrays(self, x, batch_size, verbose, steps, callbacks, shown):
        """``predict`` of arrays: each rank its share of the rows, with several ranks."""
        with _tells_other_ranks_on_error():
            variant = self._shape_variant(x)
            if variant is not None:
                return variant.predict(x, batch_size=batch_size, verbose=verbose, steps=steps, callbacks=callbacks)
            x, _ = self._prepare(x, None)
            batch_size = keras_batch_size(batch_size, steps, len(x))
            if steps is not None:  # Keras predicts the first `steps` batches only
                x = x[:steps * batch_size]
            cbs = self._predict_callbacks(callbacks, shown, -(-len(x) // batch_size))
            comm = distributed.current()
            if comm.size == 1:
                return predict_rows(self, x, batch_size, cbs)
            # Data-parallel: each rank predicts its contiguous share (shard_bounds), gathered in rank order so
            # every rank returns the whole array.
            self._check_ranks_agree(comm, "predict", {"samples": len(x), "batch_size": batch_size,
                                                      "sampled_values": sampled_values(comm, {"x": x})}, compiled=False)
            sync_replicas(self, comm)
            lo, hi = shard_bounds(0, len(x), comm.rank, comm.size)
            if hi > lo:
                local = predict_rows(self, x[lo:hi], batch_size, cbs, stoppable=False)
                parts = list(local.values()) if isinstance(local, dict) else list(local) if self._several_outputs \
                    else [local]
            else:
                parts = [np.zeros((0,) + shape, dtype=self.dtype) for shape in self._output_shapes()]
            return self._structure_outputs([comm.allgather_rows(part) for part in parts])

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """Keras's ``compute_loss``: the losses given to ``compile`` of ``y_pred`` against ``y`` (weighted by
        ``sample_weight`` and ``loss_weights``) plus ``model.losses`` (``direct_compute_loss.py``). gpunn's steps
        compute it themselves; a subclass's own ``compute_loss`` becomes the loss of its steps
        (``own_compute_loss.py``), and its ``super().compute_loss(...)`` comes here."""
        return direct_compute_loss.compute_loss(self, y, y_pred, sample_weight)

    def _take_own_compute_loss(self) -> None:
        """Make the subclass's own compute_loss the loss of the model's one output, or refuse it by name where
        what Keras would compute with it differs from what gpunn can."""
        from ..overrides import OverrideNotSupportedError
        from .own_compute_loss import OwnComputeLoss, penalties_of, trained_outside_call

        name = type(self).__name__
        problem = None
        if len(self._output_specs) != 1:
            problem = "gpunn runs a compute_loss of your own for models of one output"
        elif penalties_of(self):
            problem = (f"the model has weight penalties or add_loss terms ({penalties_of(self)}): in Keras what "
                       "compute_loss returns is the whole loss (its default adds them), while gpunn's steps add "
                       "them besides; drop them, or fold them into the loss")
        elif trained_outside_call(self):
            problem = (f"the model holds trainable layers it does not call in call() ({trained_outside_call(self)}): "
                       "Keras trains every trainable weight a model holds through compute_loss (a teacher called "
                       "there too), gpunn calls them as constants; freeze them (teacher.trainable = False)")
        if problem is not None:
            raise OverrideNotSupportedError(f"{name}.compute_loss: {problem}")
        self._resolved_loss = OwnComputeLoss(self, self._resolved_loss)
        self._output_specs[0].loss = self._resolved_loss

    def predict_step(self, data):
        """Keras's ``predict_step``: the model's outputs for the batch ``data`` (``x``, ``(x,)``, ``(x, y)``...).
        gpunn's ``predict`` computes these itself; it runs this method only when a subclass overrides it
        (``custom_steps.py``), whose ``super().predict_step(data)`` comes here."""
        from ..utils.step_data import unpack_x_y_sample_weight

        x, _, _ = unpack_x_y_sample_weight(data)
        return self(x, training=False)

    def __call__(self, x, training=False):
        x, _ = self._prepare(x, None)
        return predict_rows(self, x, len(x))

    # ---- single batches ---------------------------------------------------------------------------
    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None, return_dict=False,
                       reset_metrics=True):
        """One optimizer step on exactly this batch; returns its loss (and metrics). ``reset_metrics=False`` (tf.keras
        2's argument, which Keras 3 dropped) adds this batch to the values of the calls before, since the last
        reset (``model.reset_metrics()``): a hand-written epoch loop's running loss."""
        with compute_turns.model_calls(self, "train"), _tells_other_ranks_on_error(), \
                step_interrupts.between_steps():
            self._require_compiled("train_on_batch", custom_steps.TRAIN_HOOKS)
            distributed.current().meet("called train_on_batch")
            self._compiled_objects_built = True  # (as Keras builds them from this batch)
            x, y = self._prepare_with_targets(x, y, what="train_on_batch")
            weights = self._sample_weights(y, sample_weight, class_weight)
            step = self.make_train_function().prepare(self._sparse_labels(y))
            arrays = [x, y] + ([weights] if weights is not None else [])
            iterator = EpochIterator(self.ops, step.comm, arrays, len(x))
            _reset_or_go_on(step.metrics, reset_metrics)
            batch = next(iter(iterator.batches()))
            slot = step.slot(batch.rows, batch.global_rows, y.shape[1:], y.dtype, weights_shape(arrays))
            iterator.fill(batch, slot)
            step(slot)
            return _results(step.metrics.result(), return_dict, self.metrics_names)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False, reset_metrics=True):
        """The loss (and metrics) of this batch; ``reset_metrics=False`` as ``train_on_batch``'s."""
        with _tells_other_ranks_on_error():
            self._require_compiled("test_on_batch", custom_steps.TEST_HOOKS)
            self._compiled_objects_built = True  # (as Keras builds them from this batch)
            variant = self._shape_variant(x)
            if variant is not None:
                return variant.test_on_batch(x, y, sample_weight=sample_weight, return_dict=return_dict)
            x, y = self._prepare_with_targets(x, y, what="test_on_batch")
            weights = self._sample_weights(y, sample_weight, None)
            distributed.current().meet("called test_on_batch")
            results = self._evaluate_arrays([x, y] + ([weights] if weights is not None else []), len(x),
                                            reset=reset_metrics)
            return _results(results, return_dict, self.metrics_names)

    def predict_on_batch(self, x):  # (no collective: each rank predicts its own batch)
        if custom_steps.has_own_predict_step(self):
            return custom_steps.predict_on_batch_with_own_step(self, x)
        with compute_turns.turn(self.ops or get_ops()):  # (the trace of a subclassed model too)
            variant = self._shape_variant(x)
            if variant is not None:
                return variant.predict_on_batch(x)
            x, _ = self._prepare(x, None)
            return predict_rows(self, x, len(x))

    # ---- data parallel ----------------------------------------------------------------------------
    @property
    def is_chief(self) -> bool:
        return distributed.current().is_chief


def _reset_or_go_on(running, reset: bool) -> None:
    """The sums a ``*_on_batch`` call adds to: zeroed (``reset_metrics=True``, the default), or, with tf.keras 2's
    ``reset_metrics=False``, those of the calls before, unless the call before reset them: tf.keras 2 reset after
    its batch, so a call going on from a resetting one starts from zero."""
    if reset or running.reset_after_batch:
        running.reset()
    else:  # (the model's metric objects read these sums, which go on from the calls before)
        running.bind()
    running.reset_after_batch = reset


def _keras_variable_places(model_ref, optimizer) -> list:
    """The places of Keras's variables of ``optimizer`` over its model's trained weights (``optimizer.variables``);
    those of an optimizer not yet built when the model is gone or compiled with another optimizer since."""
    from ..models.keras_variables import optimizer_variable_places
    from ..optimizers.variable_view import head_places

    model = model_ref()
    if model is None or model.optimizer is not optimizer:
        return head_places(optimizer)
    return optimizer_variable_places(model, attribute_order=True)  # (Keras: its trainable_variables order)
