"""Optimizer: one update over the model's flat parameter buffer per step (one fused launch on the GPU).

Keras 3 semantics: ``learning_rate`` is a float or a schedule called with ``iterations`` (the number of
updates done so far); ``weight_decay`` is decoupled (p -= p * wd * lr before the update); ``clipnorm``
clips each weight's gradient by its own norm, ``global_clipnorm`` all of them together, ``clipvalue``
element-wise. ``use_ema`` keeps an exponential moving average of the weights after each update (``ema.py``).
``gradient_accumulation_steps`` updates on every N-th step only, with the mean of the N steps' gradients
(``accumulation.py``).
"""
from __future__ import annotations

import numbers
import functools
import math

import numpy as np

from .. import naming, overrides
from ..autodiff.functions import convert_to_numpy
from ..kernels import clip_norm
from ..number_arguments import positive_number
from ..ops.workspace import Workspace
from . import accumulation, decay_exclusion, ema, variable_view
from .host_values import HostFloat, HostInt
from .schedules import LearningRateSchedule, deserialize as deserialize_schedule, serialize as serialize_schedule
from ..unknown_arguments import UnknownArgumentError, refuse_unknown


def _rate_number(value) -> float:
    """A learning rate given as a number, as Keras's Variable ``assign`` takes one: a Python or NumPy number, a
    0-d array (what ``keras.backend.get_value`` and arithmetic on it give back, on the host or the device), a
    value read from an optimizer or a Tensor. 0 is allowed, as in Keras: a LearningRateScheduler may pause
    training with it."""
    number = convert_to_numpy(value) if not isinstance(value, numbers.Real) else value
    kind = getattr(getattr(number, "dtype", None), "kind", None)
    if isinstance(number, (int, float)) and not isinstance(number, bool):
        rate = float(number)
    elif kind in ("f", "i", "u") and np.ndim(number) == 0:
        rate = float(number)
    else:
        rate = math.nan
    if not 0 <= rate < math.inf:
        hint = ""
        if callable(value):  # Keras calls a plain function at every step; gpunn's steps read the rate on the device
            hint = ("; gpunn takes a schedule as a keras.optimizers.schedules.LearningRateSchedule subclass, whose "
                    "__call__(step) gives the rate (or a LearningRateScheduler callback, per epoch)")
        raise ValueError(f"learning_rate: expected a finite number >= 0 or a schedule, got {value!r}{hint}")
    return rate


def _is_zero(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and value == 0


ITERATIONS, LEARNING_RATE, WEIGHT_DECAY = 0, 1, 2  # the optimizer's device state, float64


class Optimizer:
    slot_names: tuple[str, ...] = ()
    update_step: str | None = None  # the Ops method the update calls, readied when the optimizer is built
    default_learning_rate = 0.001
    # Hyperparameters that reach the update as host values: changing one after build bumps ``config_version``,
    # so a recorded step records again. The learning rate, weight decay and step count live on the device.
    host_hyperparameters: tuple[str, ...] = ("clipnorm", "clipvalue", "global_clipnorm", "use_ema", "ema_momentum",
                                             "ema_overwrite_frequency", "gradient_accumulation_steps")
    # Slot values the one-element rehearsal (``_rehearse_update``) starts from instead of zero, where zero would
    # make the formula divide 0 by 0.
    rehearsal_slot_values: dict = {}
    # Keras 3 takes one of clipnorm, clipvalue and global_clipnorm; tf.keras 2's optimizers took clipvalue beside
    # a norm (both applied: values clipped, then the norm)
    clipvalue_with_a_norm = False

    # Keras's order, after each optimizer's own arguments: a subclass passes its ``*base_arguments`` on here, so
    # that ``Adam(1e-3, 0.9, 0.999, 1e-7, False, 0.01)`` sets weight_decay, as in Keras
    def __init__(self, learning_rate=None, weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name=None, **kwargs):
        _refuse_own_update(type(self))
        for legacy in ("lr", "decay"):
            if legacy in kwargs:
                instead = "learning_rate" if legacy == "lr" else "a schedule from gpunn.optimizers.schedules"
                raise UnknownArgumentError(f"{type(self).__name__}: argument {legacy!r} is the legacy Keras 2 name; "
                                           f"use {instead}" + _legacy_counterpart(type(self)))
        refuse_unknown(type(self).__name__, kwargs)
        with_a_norm = (clipnorm, global_clipnorm) != (None, None)
        if (clipnorm is not None and global_clipnorm is not None) or (
                clipvalue is not None and with_a_norm and not self.clipvalue_with_a_norm):
            raise ValueError(f"Only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be set. Received: "
                             f"clipnorm={clipnorm}, clipvalue={clipvalue}, global_clipnorm={global_clipnorm}")
        self.config_version = 0
        self.state = None  # device float64 [iterations, learning_rate, weight_decay], made by build()
        # With gradient accumulation, the device's count of steps (Keras's ``_iterations``) and the rate its
        # schedule gives, [steps, learning_rate, unused]; None otherwise (the count of updates is the one).
        self.step_state = None
        # The initial rate of a schedule that reads it from the device (``formula_of_rate``: tf.keras 2's decay),
        # float64 [rate]; made by build()
        self.rate_cell = None
        # exclude_from_weight_decay: the weights excluded (decay_exclusion.py), the trained weights' (path, shape)
        # told before build, and, made by build() where some trained weight is excluded, the flat 0/1 mask of the
        # decayed parameters and the weight decay as a device value (the kernels then decay nothing themselves)
        self._decay_exclusions = None
        self._trained_descriptions = None
        self._decay_mask = self.decay_cell = None
        self.ops = None
        self.gradient_accumulation_steps = accumulation.check_steps(gradient_accumulation_steps)
        # Keras's loss scaling (the loss times the factor, the gradients divided by it) guards float16 gradients
        # against underflow; gpunn trains in float32 or float64, where it changes nothing but rounding (nothing
        # at all for a power of 2), so the factor is kept for the config and not applied.
        self.loss_scale_factor = positive_number("loss_scale_factor", loss_scale_factor, allow_none=True)
        self._iterations = 0  # the steps done (Keras's ``_iterations``): the updates, unless accumulating
        self._learning_rate = None
        if hasattr(learning_rate, "assign") and not isinstance(learning_rate, LearningRateSchedule):
            # (its value would be copied, and assigning the variable later would change nothing: Keras refuses it)
            raise ValueError(f"learning_rate: expected a float or a LearningRateSchedule, got a variable "
                             f"{learning_rate!r}; give its value, and change the rate later with "
                             "optimizer.learning_rate = value (or a schedule, or a callback)")
        self.learning_rate = self.default_learning_rate if learning_rate is None else learning_rate
        self.weight_decay = weight_decay
        # 0 is kept (in the config too) and clips nothing, as in Keras (``_clip_gradients`` tests ``> 0``)
        self.clipnorm, self.clipvalue, self.global_clipnorm = (
            0.0 if _is_zero(value) else positive_number(name, value, allow_none=True, allow_inf=True)
            for name, value in (("clipnorm", clipnorm), ("clipvalue", clipvalue), ("global_clipnorm", global_clipnorm)))
        self.use_ema, self.ema_momentum, self.ema_overwrite_frequency = ema.check_arguments(
            use_ema, ema_momentum, ema_overwrite_frequency)
        # Keras's auto_name: the class name in snake case, made unique in the process ('adam', 'adam_1', 'rm_sprop')
        self.name = name or naming.uniquify(naming.snake_case(type(self).__name__))
        self.slots: dict = {}
        self._segments: tuple[tuple[int, int], ...] = ()

    def __setattr__(self, name, value):
        built = name in self.host_hyperparameters and self.__dict__.get("state") is not None
        if not built:
            object.__setattr__(self, name, value)
        else:
            self._set_after_build(name, value)
        if name in self.host_hyperparameters:
            object.__setattr__(self, "config_version", self.__dict__.get("config_version", 0) + 1)

    def _set_after_build(self, name, value) -> None:
        """A hyperparameter set on a built optimizer (a callback during fit). One that changes which slots the
        optimizer keeps (``use_ema``, accumulation turned on or off, RMSprop's ``centered``, Adam's ``amsgrad``, a
        momentum from or to 0) is refused: its slots were made at build (Keras's eager steps fail there, its
        compiled ones ignore it). A new ``gradient_accumulation_steps`` re-derives the device's update count, as
        Keras's ``iterations`` is its steps // N."""
        before, previous = self.state_slots(), self.__dict__.get(name)
        object.__setattr__(self, name, value)
        after = self.state_slots()
        if after != before:
            object.__setattr__(self, name, previous)
            raise ValueError(f"{name}: {type(self).__name__} {self.name!r} was built with the slots {list(before)}, "
                             f"and {name}={value!r} needs {list(after)}; make a new optimizer with it and compile "
                             "the model again (its weights are kept)")
        if name == "gradient_accumulation_steps":
            self.step_count = self._iterations

    # ---- values kept on the device ----------------------------------------------------------------
    @property
    def learning_rate(self) -> float:
        """The rate of the next update (a schedule's value at the step count, steps between updates included),
        a float with Keras Variable's ``numpy()`` and ``assign()``."""
        if isinstance(self._learning_rate, LearningRateSchedule):
            rate = float(self._learning_rate(self._iterations))
        else:
            rate = self._learning_rate
        return HostFloat(rate, self._assign_learning_rate)

    def _assign_learning_rate(self, value):
        self.learning_rate = value
        return self.learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        if isinstance(value, LearningRateSchedule):
            self._learning_rate = value
            self.config_version += 1  # the schedule is part of the recorded step
            of_rate = value.formula_of_rate()
            if of_rate is not None:  # its rate read on the device (tf.keras 2's decay): the new one there
                self.write_initial_rate(of_rate[1])
            return
        if isinstance(self._learning_rate, LearningRateSchedule):
            raise TypeError("learning_rate: this optimizer was made with a LearningRateSchedule as its learning_rate, "
                            "so its rate cannot be set to a number (by a callback such as ReduceLROnPlateau or "
                            "LearningRateScheduler, or the script); to set it, make the optimizer with a float "
                            "learning_rate")
        self._learning_rate = _rate_number(value)
        self._write_state(LEARNING_RATE, self._learning_rate)

    lr = learning_rate  # Keras 2 spelling some callbacks and scripts still read

    @property
    def weight_decay(self) -> float:
        return self._weight_decay

    @weight_decay.setter
    def weight_decay(self, value):
        if value is not None and (isinstance(value, bool) or not isinstance(value, numbers.Real)):
            raise ValueError(f"weight_decay: expected a finite number >= 0 or None, got {value!r}")
        value = float(value or 0.0)
        if not 0 <= value < math.inf:  # (NaN too)
            raise ValueError(f"weight_decay: expected a finite number >= 0 or None, got {value!r}")
        self._weight_decay = value
        self._write_state(WEIGHT_DECAY, value)

    @property
    def iterations(self) -> int:
        """Updates done so far (a host copy of the device count, kept in step by the training step), an int with
        Keras Variable's ``numpy()`` and ``assign()``. With gradient accumulation, Keras's ``iterations``: the
        steps done // ``gradient_accumulation_steps``; setting it starts that update's first step."""
        every = self.gradient_accumulation_steps or 1
        return HostInt(self._iterations // every, self._assign_iterations)

    def _assign_iterations(self, value):
        self.iterations = value
        return self.iterations

    @iterations.setter
    def iterations(self, value):
        self.step_count = int(value) * (self.gradient_accumulation_steps or 1)

    @property
    def step_count(self) -> int:
        """The training steps done (Keras's ``_iterations``, what its files keep): ``iterations``, unless
        gradients are accumulated over several steps per update."""
        return self._iterations

    @step_count.setter
    def step_count(self, value):
        self._iterations = int(value)
        every = self.gradient_accumulation_steps
        self._write_state(ITERATIONS, float(self._iterations // (every or 1)))
        if every and self.step_state is not None:
            self.ops.fill(float(self._iterations), self.step_state[ITERATIONS:ITERATIONS + 1])

    def count_step(self) -> None:
        """The host's side of one step (the device counts are advanced by the step itself)."""
        self._iterations += 1

    def sync_step_count(self) -> None:
        """The host's count of steps taken from the device's (one read), after steps stopped by an exception:
        a replay of several recorded steps counts on the host only when it returns."""
        counted = self.state if self.step_state is None else self.step_state
        if counted is not None:
            self._iterations = int(np.asarray(self.ops.to_numpy(counted[ITERATIONS:ITERATIONS + 1]))[0])

    def next_step_phase(self) -> str | None:
        """What the next step does with gradient accumulation (``accumulation.ACCUMULATE`` or ``UPDATE``; None
        without): known on the host, so each kind is recorded and replayed as a step of its own."""
        return accumulation.phase(self._iterations, self.gradient_accumulation_steps)

    def _write_state(self, index: int, value: float) -> None:
        # The host writes the device state only when a value changes (a callback, a checkpoint), never per step.
        if index == WEIGHT_DECAY and self._decay_mask is not None:
            self.ops.fill(value, self.decay_cell)  # (the kernels' own decay stays 0)
        elif self.state is not None:
            self.ops.fill(value, self.state[index:index + 1])

    @property
    def schedule(self) -> LearningRateSchedule | None:
        return self._learning_rate if isinstance(self._learning_rate, LearningRateSchedule) else None

    def _advance_state(self) -> None:
        """This step's learning rate into the device state, and one more iteration: on the device from the
        schedule's formula, or, for a schedule of the script's own, by calling it on the host (a host call of
        the step, reading the count back). With gradient accumulation the schedule follows the count of steps
        (``step_state``), and the update's own count is one more update."""
        schedule, counted = self.schedule, self.state if self.step_state is None else self.step_state
        if schedule is not None and schedule.runs_own_call():
            self.ops.run_python(functools.partial(_advance_by_own_schedule, self.ops, counted, schedule))
        else:
            self.ops.advance_optimizer_state(counted, *self._device_schedule(schedule))
        if counted is not self.state:
            if schedule is not None:
                rate = slice(LEARNING_RATE, LEARNING_RATE + 1)
                self.ops.copy_into(counted[rate], self.state[rate])
            self.ops.advance_optimizer_state(self.state, None)

    def _device_schedule(self, schedule) -> tuple:
        """(formula, rate array) of the schedule as the device state advances by it: the rate array None where
        the formula holds its rate (``formula_of_rate``)."""
        if schedule is None:
            return None, None
        of_rate = schedule.formula_of_rate()
        if of_rate is None:
            return schedule.formula(), None
        return of_rate[0], self.rate_cell

    def write_initial_rate(self, value: float) -> None:
        """The initial rate a ``formula_of_rate`` schedule reads on the device: the host writes it when it is set
        (a callback), never per step."""
        if self.rate_cell is not None:
            self.ops.fill(float(value), self.rate_cell)

    # ---- state ------------------------------------------------------------------------------------
    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "build" in cls.__dict__:
            cls.build = _refusing_keras_build(cls.__dict__["build"])

    def build(self, ops, params, segments) -> None:
        """Allocate the slot buffers (same size as ``params``); ``segments`` are each weight's (start, stop)."""
        self.ops = ops
        self._params = params  # the trained weights' flat buffer (what finalize_variable_values overwrites)
        # A tuple of int pairs: hashable and constant, so an update may take it as a host argument (Lamb's).
        self._segments = tuple((int(start), int(stop)) for start, stop in segments)
        self._size = params.size
        self.slots = {name: ops.zeros((self.slot_size(name, params.size),), dtype=params.dtype)
                      for name in self.state_slots()}
        lr = 0.0 if self.schedule is not None else self._learning_rate
        every = self.gradient_accumulation_steps
        self._decay_mask = decay_exclusion.mask(self, ops, params.dtype, params.size, self._segments,
                                                self._trained_descriptions)
        self.decay_cell = None if self._decay_mask is None else ops.asarray(np.array([self._weight_decay]))
        kernels_decay = self._weight_decay if self._decay_mask is None else 0.0
        self.state = ops.asarray(np.array([self._iterations // (every or 1), lr, kernels_decay], dtype=np.float64))
        if every:
            self.step_state = ops.asarray(np.array([self._iterations, lr, 0.0], dtype=np.float64))
        self.rate_cell = ops.asarray(np.array([self._initial_rate()], dtype=np.float64))
        self._workspace = Workspace(ops)
        if self.update_step is not None:
            ops.prepare_update(self.update_step, params.dtype)
            self._rehearse_update(params.dtype)
        if self.use_ema:
            ops.prepare_update("ema_update", params.dtype)

    def _rehearse_update(self, dtype) -> None:
        """Run this optimizer's update once on one-element buffers. A GPU backend compiles the kernel of exactly
        this variant (momentum, centered, amsgrad... and dtype) here, at build time, instead of inside the first
        timed training step; the model's own buffers and the step count are not touched."""
        saved_slots, saved_state, saved_segments = self.slots, self.state, self._segments
        self.slots = {name: self.ops.zeros((1,), dtype=dtype) for name in saved_slots}
        for name, value in self.rehearsal_slot_values.items():
            self.ops.fill(value, self.slots[name])
        self.state = self.ops.copy(saved_state)
        self._segments = ((0, 1),)  # one weight of one element
        try:
            params, grads = self.ops.zeros((1,), dtype=dtype), self.ops.zeros((1,), dtype=dtype)
            # the formula is compiled here; a schedule of the user's is not called ahead of the steps that use it
            schedule = self.schedule
            if schedule is None or schedule.runs_own_call():
                self.ops.advance_optimizer_state(self.state, None)
            else:
                formula, rate = self._device_schedule(schedule)
                self.ops.advance_optimizer_state(self.state, formula, None if rate is None else self.ops.copy(rate))
            self.update(params, grads)
            if self.use_ema:
                ema.update_average(self, params)
        finally:
            self.slots, self.state, self._segments = saved_slots, saved_state, saved_segments

    def _initial_rate(self) -> float:
        """What ``rate_cell`` starts with: the initial rate of a schedule that reads it there, else 0."""
        of_rate = None if self.schedule is None else self.schedule.formula_of_rate()
        return 0.0 if of_rate is None else float(of_rate[1])

    def active_slots(self) -> tuple[str, ...]:
        """The algorithm's own slots."""
        return self.slot_names

    def set_trained_weights(self, descriptions) -> None:
        """(Keras's variable path, shape) of each trained weight, in the flat buffer's order, told before ``build``:
        kept for ``exclude_from_weight_decay``, and by an algorithm that treats weights by their kind (Muon)."""
        self._trained_descriptions = tuple(descriptions)

    def scale_loss(self, loss):
        """Keras's: the loss times ``loss_scale_factor`` where one was given (gpunn's steps do not scale their
        loss: see ``__init__``), else the loss."""
        return loss * self.loss_scale_factor if self.loss_scale_factor is not None else loss

    def exclude_from_weight_decay(self, var_list=None, var_names=None) -> None:
        """Keras's: the variables of ``var_list``, and those whose name a regular expression of ``var_names``
        finds ('bias', 'gamma'), take no weight decay (``decay_exclusion.py``)."""
        decay_exclusion.configure(self, var_list, var_names)

    def refresh_decay_mask(self) -> None:
        """The decay mask of a built optimizer made again for its exclusions: the decay moves between the kernels
        and the masked pass, and a recorded step is recorded again (the config version changes)."""
        self._decay_mask = decay_exclusion.mask(self, self.ops, self._params.dtype, self._size, self._segments,
                                                self._trained_descriptions)
        self.decay_cell = None if self._decay_mask is None else self.ops.asarray(np.array([self._weight_decay]))
        self.ops.fill(self._weight_decay if self._decay_mask is None else 0.0,
                      self.state[WEIGHT_DECAY:WEIGHT_DECAY + 1])
        self.config_version += 1

    def slot_size(self, slot: str, params_size: int) -> int:
        """How many values the flat buffer of ``slot`` holds: one per parameter, unless the algorithm keeps a slot
        of another shape (Adafactor's factored second moments)."""
        return params_size

    def keras_slot_place(self, slot: str, weight_index: int, segment: tuple[int, int], shape: tuple) -> tuple:
        """Where Keras's variable of ``slot`` for that trained weight lives in the slot's flat buffer: (start,
        stop, shape); the weight's own segment and shape, unless the slot has a shape of its own."""
        return segment[0], segment[1], tuple(shape)

    def keras_slot_kept(self, slot: str, weight_index: int) -> bool:
        """Whether Keras's optimizer makes a variable of ``slot`` for that trained weight (by its place in the flat
        buffer; Muon's velocity is for some weights only); gpunn keeps every slot over the whole buffer."""
        return True

    def state_slots(self) -> tuple[str, ...]:
        """Every slot kept, in the order of Keras's base ``build`` and then the algorithm's: with ``use_ema`` the
        weights' moving average, with ``gradient_accumulation_steps`` the gradients' accumulator, then the
        algorithm's own."""
        return (((ema.SLOT,) if self.use_ema else ()) + ((accumulation.SLOT,) if self.gradient_accumulation_steps
                                                          else ()) + tuple(self.active_slots()))

    def slot_buffers(self) -> dict:
        """Every slot's flat buffer by name: with the step count, everything needed to resume (gpunn's files)."""
        return dict(self.slots)

    # Set by the model that compiles this optimizer: called with the optimizer, the places of Keras's variables over
    # the model's trained weights (models/keras_variables.py ``optimizer_variable_places``); None before.
    _variable_places = None

    @property
    def built(self) -> bool:
        """Keras's: whether the optimizer has made its state for the weights it trains (its model's first step
        builds it; ``build(var_list)`` is refused)."""
        return self.ops is not None

    @property
    def variables(self) -> list:
        """Keras's ``optimizer.variables``: the step count, the learning rate (unless a schedule gives it), then,
        once the optimizer has run, what Keras's ``build`` makes for the trained weights, in Keras's order and
        with its names; each a live view with ``numpy()`` and ``assign()`` (``variable_view.py``)."""
        places = self._variable_places(self) if self._variable_places is not None else variable_view.head_places(self)
        return [variable_view.OptimizerVariable(self, place) for place in places]

    def set_weights(self, weights) -> None:
        """Keras's: each of ``variables`` set to the array at its place in ``weights``, shapes checked."""
        if self.ops is None:
            raise ValueError("You are calling `set_weights()` on an optimizer that has not yet been built. Train the "
                             "model once (fit or train_on_batch) to create the optimizer weights before calling "
                             "`set_weights()`.")
        variables = self.variables
        if len(weights) != len(variables):
            raise ValueError(f"weights: this {type(self).__name__} has {len(variables)} variables, got "
                             f"{len(weights)} arrays")
        for variable, weight in zip(variables, weights):
            weight = np.asarray(weight)
            if tuple(variable.shape) != weight.shape:
                raise ValueError(f"Optimizer variable {variable.path} has shape {variable.shape} not compatible with "
                                 f"provided weight shape {weight.shape}.")
        for variable, weight in zip(variables, weights):
            variable.assign(weight)

    # ---- the update -------------------------------------------------------------------------------
    def apply(self, params, grads=None) -> None:
        """One step, all on the device: clip, take this step's learning rate and count the step, update;
        then the host's count (a replayed step skips this method and calls ``count_step`` itself). With
        gradient accumulation, a step between updates adds its gradients to the accumulator instead, and the
        update's step takes their mean first (``accumulation.py``). Keras's ``apply(grads, variables)`` of a custom
        training loop (a list of gradients) is refused by name."""
        if isinstance(params, (list, tuple)) or grads is None:
            raise NotImplementedError(_custom_loop(self, "apply(grads, trainable_variables)"))
        between_updates = self.next_step_phase() == accumulation.ACCUMULATE
        if between_updates:
            accumulation.add_to_accumulator(self, grads)
            self.ops.advance_optimizer_state(self.step_state, None)
        else:
            if self.gradient_accumulation_steps:
                accumulation.take_mean(self, grads)
            self._clip(grads)
            self._advance_state()
            if self._decay_mask is not None:
                decay_exclusion.apply(self, params, (self.state[LEARNING_RATE:LEARNING_RATE + 1], self.decay_cell))
            self.update(params, grads)
        if self.use_ema:
            ema.update_average(self, params, between_updates)
        self.count_step()

    def apply_gradients(self, grads_and_vars):
        """Keras's, of a custom training loop: refused by name (see ``_custom_loop``)."""
        raise NotImplementedError(_custom_loop(self, "apply_gradients(grads_and_vars)"))

    def stateless_apply(self, optimizer_variables, grads, trainable_variables):
        """Keras's (JAX's custom training loops): refused by name (see ``_custom_loop``)."""
        raise NotImplementedError(_custom_loop(self, "stateless_apply(...)"))

    def update(self, params, grads) -> None:
        """The algorithm's update over the flat buffers; reads the learning rate, step and weight decay from
        ``self.state``."""
        raise NotImplementedError

    def _decoupled_decay(self, p, decay, rate, scratch) -> None:
        """Keras's ``_apply_weight_decay`` on one weight, for the algorithms that step weight by weight (Muon,
        Adafactor): w -= w * decay * lr, ``decay`` and ``rate`` device scalars of w's dtype (a decay of 0 leaves
        w as it is); ``scratch`` as large as ``p``."""
        self.ops.multiply(p, decay, scratch)
        self.ops.multiply(scratch, rate, scratch)
        self.ops.subtract(p, scratch, p)

    def _clip(self, grads) -> None:
        if not (self.clipvalue or self.global_clipnorm or self.clipnorm):  # (None or 0: no clipping)
            return
        ops, ws, dtype = self.ops, self._workspace, grads.dtype
        if self.clipvalue:
            ops.maximum(grads, ws.constant("-clipvalue", -self.clipvalue, dtype), grads)
            ops.minimum(grads, ws.constant("clipvalue", self.clipvalue, dtype), grads)
        # Norms stay on the device (no host read-back): scale = min(1, clip / max(norm, 1e-12)).
        if self.global_clipnorm:
            self._scale_to_norm(grads, self.global_clipnorm, "global")
        if self.clipnorm:
            for start, stop in self._segments:
                self._scale_to_norm(grads[start:stop], self.clipnorm, "segment")

    def _scale_to_norm(self, g, clip: float, which: str) -> None:
        ws = self._workspace
        self.ops.scale_to_norm(g, ws.constant("clip." + which, clip_norm.limits(clip), g.dtype),
                               ws.buffer("clip.scratch", (self._size + 1,), g.dtype))

    def finalize_variable_values(self, var_list=None) -> None:
        """At the end of ``fit``, as Keras's: with ``use_ema``, the trained weights become their moving average.
        The optimizer's weights are the model's trained ones; a ``var_list`` given is checked as Keras checks it
        (one variable per trained weight)."""
        if self.use_ema and ema.SLOT in self.slots:
            if var_list is not None and len(var_list) != len(self._segments):
                raise ValueError(f"The length of model variables ({len(var_list)}) to override does not match the "
                                 f"length of model variables stored in the optimizer ({len(self._segments)}). "
                                 "Please check if the optimizer was called on your model.")
            ema.overwrite_weights(self)

    # ---- config -----------------------------------------------------------------------------------
    def get_config(self) -> dict:
        lr = self._learning_rate
        config = {
            "name": self.name,
            "learning_rate": serialize_schedule(lr) if isinstance(lr, LearningRateSchedule) else lr,
            "weight_decay": self._weight_decay or None,
            "clipnorm": self.clipnorm, "global_clipnorm": self.global_clipnorm, "clipvalue": self.clipvalue,
            # Keras's BaseOptimizer.get_config writes every key, at its default too
            "use_ema": self.use_ema, "ema_momentum": self.ema_momentum,
            "ema_overwrite_frequency": self.ema_overwrite_frequency, "loss_scale_factor": self.loss_scale_factor,
            "gradient_accumulation_steps": self.gradient_accumulation_steps,
        }
        return config

    @classmethod
    def from_config(cls, config: dict, custom_objects=None):
        """Keras's: the optimizer ``config`` describes, a schedule of the user's taken from ``custom_objects``."""
        config = dict(config)
        if isinstance(config.get("learning_rate"), dict):
            config["learning_rate"] = deserialize_schedule(config["learning_rate"], custom_objects)
        return cls(**config)


# What a subclass of the script's may redefine: its constructor and its configuration (an optimizer with other
# arguments or another name). Redefining anything else of gpunn's optimizer, or a method Keras's optimizers call
# (update_step, apply_gradients...), would be ignored by the fused update kernels that carry out every step.
_SUBCLASS_MAY_REDEFINE = {"__init__", "get_config", "from_config"}
_KERAS_OPTIMIZER_HOOKS = {"update_step", "build", "apply", "apply_gradients", "stateless_apply", "add_variable",
                          "add_variable_from_reference", "finalize_variable_values", "exclude_from_weight_decay",
                          "scale_loss", "_apply_weight_decay", "_clip_gradients", "_backend_apply_gradients",
                          "_backend_update_step", "_var_key"}


def _legacy_counterpart(cls) -> str:
    """The advice to use tf.keras 2's legacy optimizer of ``cls``'s name, where gpunn has one."""
    from . import legacy  # (it builds on this module)

    counterpart = legacy.BY_NAME.get(cls.__name__.lower())
    if counterpart is None or not issubclass(counterpart, legacy.Keras2Arguments):
        return ""
    return (f", or gpunn.optimizers.legacy.{counterpart.__name__}, which takes lr and decay as tf.keras 2's legacy "
            "optimizers did")


def _refuse_own_update(cls) -> None:
    gpunn_members = set().union(*(vars(klass) for klass in cls.__mro__ if overrides.is_gpunn_class(klass)))
    for klass in cls.__mro__:
        if overrides.is_gpunn_class(klass):
            return
        for name in sorted(set(vars(klass)) - _SUBCLASS_MAY_REDEFINE):
            if name in _KERAS_OPTIMIZER_HOOKS or (name in gpunn_members and not name.startswith("__")):
                raise overrides.OverrideNotSupportedError(
                    f"{klass.__name__}.{name}: gpunn's optimizers update every weight in one fused kernel of their "
                    f"own and would not call your {name}() (it would be ignored); use one of gpunn.optimizers "
                    "(SGD, Adam, AdamW, RMSprop, ...) with its arguments, a subclass of one redefining only "
                    "__init__ and get_config, or a learning-rate schedule of your own")


def _advance_by_own_schedule(ops, state, schedule) -> None:
    """Keras's step with a schedule: the rate at the current count (``schedule(iterations)``), then the count
    plus one; ``state`` is the optimizer's (iterations, learning rate, weight decay)."""
    host = np.array(ops.to_numpy(state), dtype=np.float64)
    rate = float(convert_to_numpy(schedule(np.int64(host[ITERATIONS]))))  # a Tensor computed with gpunn.ops, too
    if not math.isfinite(rate) or rate < 0:
        raise ValueError(f"learning_rate: the schedule {type(schedule).__name__} gave {rate!r} at step "
                         f"{int(host[ITERATIONS])}; expected a finite number >= 0")
    host[LEARNING_RATE] = rate
    host[ITERATIONS] += 1.0
    ops.upload(host, state)


def _custom_loop(optimizer, call: str) -> str:
    """What a custom training loop's call of an optimizer gets told: gpunn's optimizers update the flat buffers of
    the model they train, with the gradients of its own step; a loop computing gradients with another library's
    autodiff (tf.GradientTape, jax.grad, torch's backward) has no gpunn counterpart."""
    return (f"{type(optimizer).__name__}.{call}: gpunn has no custom training loops; its optimizers update the model "
            "they train, with the gradients of its own step (fit, train_on_batch), and gpunn's models are not "
            "differentiated by tf.GradientTape, jax.grad or torch's backward. Train with model.fit (a loss of your "
            "own, add_loss, callbacks and metrics cover what such loops usually do)")


def _refusing_keras_build(build):
    """``build`` of gpunn's (the model's Ops, flat buffers and segments), with Keras's ``optimizer.build(var_list)``
    (a custom training loop's) refused by name."""
    @functools.wraps(build)
    def checked(self, *args, **kwargs):
        if len(args) + len(kwargs) == 1:
            raise ValueError(_custom_loop(self, "build(var_list)") + ". To restore an optimizer's state (Keras's "
                             "recipe: build, then load_weights), load the model with load_model, or run a step "
                             "(train_on_batch) before load_weights: the optimizer is built by its model's first step")
        return build(self, *args, **kwargs)

    return checked


Optimizer.build = _refusing_keras_build(Optimizer.build)
