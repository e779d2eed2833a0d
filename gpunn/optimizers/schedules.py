"""Learning-rate schedules (Keras's ``keras.optimizers.schedules``): called with the optimizer's step count."""
from __future__ import annotations

import numbers

import numpy as np

from .. import custom_objects, overrides
from ..custom_objects import custom_object_scope
from .._registry import lookup
from ..kernels import lr_schedules
from ..number_arguments import finite_number, positive_number


class LearningRateSchedule:
    """A learning rate as a function of the optimizer's step count. Each schedule's formula is written once
    in ``gpunn.kernels.lr_schedules``: evaluated here on the host, and on the device inside a training step
    (``formula()`` names it and its constants).

    A schedule of one's own, as Keras's guides write it (a subclass whose ``__call__(step)`` returns the rate),
    and a subclass of a built-in one overriding ``__call__``, are called on the host at every step instead
    (``runs_own_call``; the optimizer makes that a host call of the step)."""

    def formula(self) -> tuple:
        """(the lr_schedules function, the constants that follow the step): hashable, so the device code
        compiled for it is reused."""
        raise NotImplementedError

    def formula_of_rate(self) -> tuple | None:
        """(``formula()`` without its first constant, the initial rate; that rate): the optimizer keeps the rate
        on the device (its ``rate_cell``), so that setting it changes no recorded step. None where the rate is a
        constant of the formula (every Keras schedule: Keras refuses to set a rate that follows one)."""
        return None

    def runs_own_call(self) -> bool:
        return overrides.user_definition(type(self), "__call__") is not None

    def __call__(self, step):
        """The rate at ``step``; at each step of an array of steps (the TF tutorials plot a schedule so:
        ``lr_schedule(np.linspace(0, 100000))``), an array of the rates, float32 as Keras's."""
        function, constants = self.formula()
        if np.ndim(step):
            steps = np.asarray(step, dtype=np.float64)
            return np.array([function(float(s), *constants) for s in steps.reshape(-1)],
                            dtype=np.float32).reshape(steps.shape)
        return float(function(float(step), *constants))

    def get_config(self) -> dict:
        # NumPy scalars given as arguments (np.float32(0.1), np.int64(1000)) as the Python numbers JSON takes
        return {key: value.item() if isinstance(value, np.generic) else value for key, value in vars(self).items()}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class ExponentialDecay(LearningRateSchedule):
    """initial_learning_rate * decay_rate ** (step / decay_steps), the exponent floored when staircase."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False, name="ExponentialDecay"):
        positive_number("initial_learning_rate", initial_learning_rate)
        positive_number("decay_steps", decay_steps)
        positive_number("decay_rate", decay_rate)
        self.initial_learning_rate, self.decay_steps = float(initial_learning_rate), decay_steps
        self.decay_rate, self.staircase, self.name = float(decay_rate), bool(staircase), name

    def formula(self):
        return lr_schedules.exponential_decay, (self.initial_learning_rate, float(self.decay_steps),
                                                self.decay_rate, self.staircase)


class CosineDecay(LearningRateSchedule):
    """Optional linear warm-up to warmup_target, then cosine decay to alpha * the peak over decay_steps."""

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, name="CosineDecay", warmup_target=None,
                 warmup_steps=0):
        # 0 with a warm-up is Keras's own example: the rate climbs from 0 to warmup_target
        finite_number("initial_learning_rate", initial_learning_rate, 0)
        positive_number("decay_steps", decay_steps)
        if not isinstance(alpha, numbers.Real) or isinstance(alpha, bool) or not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha: expected a number in [0, 1], got {alpha!r}")
        if warmup_target is not None:  # the rate the warm-up climbs to: a learning rate
            finite_number("warmup_target", warmup_target, 0)
        finite_number("warmup_steps", warmup_steps, 0)
        self.initial_learning_rate, self.decay_steps, self.alpha = float(initial_learning_rate), decay_steps, alpha
        self.name, self.warmup_target, self.warmup_steps = name, warmup_target, warmup_steps

    def formula(self):
        warmup = self.warmup_target is not None
        return lr_schedules.cosine_decay, (self.initial_learning_rate, float(self.decay_steps), float(self.alpha),
                                           warmup, float(self.warmup_target or 0.0), float(self.warmup_steps))


class PiecewiseConstantDecay(LearningRateSchedule):
    """values[i] while boundaries[i-1] < step <= boundaries[i] (Keras's convention)."""

    def __init__(self, boundaries, values, name="PiecewiseConstant"):
        if len(values) != len(boundaries) + 1:
            raise ValueError(
                f"values: expected len(boundaries) + 1 = {len(boundaries) + 1} values, got {len(values)}"
            )
        for k, boundary in enumerate(boundaries):
            finite_number(f"boundaries[{k}]", boundary, 0)
        if list(boundaries) != sorted(boundaries):
            raise ValueError(f"boundaries: expected increasing step numbers, got {boundaries!r}")
        for k, value in enumerate(values):  # learning rates: a negative one climbs the loss
            finite_number(f"values[{k}]", value, 0)
        self.boundaries, self.values, self.name = list(boundaries), [float(v) for v in values], name

    def formula(self):
        return lr_schedules.piecewise_constant_decay, (tuple(float(b) for b in self.boundaries), tuple(self.values))


class InverseTimeDecay(LearningRateSchedule):
    """initial_learning_rate / (1 + decay_rate * step / decay_steps), the ratio floored when staircase."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False, name="InverseTimeDecay"):
        positive_number("initial_learning_rate", initial_learning_rate)
        positive_number("decay_steps", decay_steps)
        finite_number("decay_rate", decay_rate, 0)  # (a negative one divides by zero, then makes the rate negative)
        self.initial_learning_rate, self.decay_steps = float(initial_learning_rate), decay_steps
        self.decay_rate, self.staircase, self.name = float(decay_rate), bool(staircase), name

    def formula(self):
        return lr_schedules.inverse_time_decay, (self.initial_learning_rate, float(self.decay_steps),
                                                 float(self.decay_rate), self.staircase)


class PolynomialDecay(LearningRateSchedule):
    """(initial_learning_rate - end_learning_rate) * (1 - step / decay_steps) ** power + end_learning_rate,
    the step held at decay_steps; with ``cycle``, decay_steps stretched to the first multiple >= step
    (Keras 3's keras/src/optimizers/schedules/learning_rate_schedule.py, same arguments and defaults)."""

    def __init__(self, initial_learning_rate, decay_steps, end_learning_rate=0.0001, power=1.0, cycle=False,
                 name="PolynomialDecay"):
        finite_number("initial_learning_rate", initial_learning_rate, 0.0)
        positive_number("decay_steps", decay_steps)
        finite_number("end_learning_rate", end_learning_rate, 0.0)
        finite_number("power", power, 0.0)  # Keras takes any power; a negative one divides by zero at decay_steps
        self.initial_learning_rate, self.decay_steps = initial_learning_rate, decay_steps
        self.end_learning_rate, self.power, self.cycle, self.name = end_learning_rate, power, bool(cycle), name

    def formula(self):
        return lr_schedules.polynomial_decay, (float(self.initial_learning_rate), float(self.decay_steps),
                                               float(self.end_learning_rate), float(self.power), self.cycle)


class CosineDecayRestarts(LearningRateSchedule):
    """Cosine decay with warm restarts (SGDR): from initial_learning_rate to alpha times it over
    first_decay_steps, then again over t_mul times as many steps from m_mul times the previous start, and so on
    (Keras 3's keras/src/optimizers/schedules/learning_rate_schedule.py, same arguments, defaults and
    config keys). With t_mul < 1 the periods add up to first_decay_steps / (1 - t_mul) steps; after that the
    rate is NaN, as Keras's formula gives."""

    def __init__(self, initial_learning_rate, first_decay_steps, t_mul=2.0, m_mul=1.0, alpha=0.0, name="SGDRDecay"):
        finite_number("initial_learning_rate", initial_learning_rate, 0.0)
        positive_number("first_decay_steps", first_decay_steps)
        positive_number("t_mul", t_mul)
        finite_number("m_mul", m_mul, 0.0)
        if not isinstance(alpha, numbers.Real) or isinstance(alpha, bool) or not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha: expected a number in [0, 1], got {alpha!r}")
        self.initial_learning_rate, self.first_decay_steps = initial_learning_rate, first_decay_steps
        self.t_mul, self.m_mul, self.alpha, self.name = t_mul, m_mul, alpha, name

    def formula(self):
        return lr_schedules.cosine_decay_restarts, (float(self.initial_learning_rate), float(self.first_decay_steps),
                                                    float(self.t_mul), float(self.m_mul), float(self.alpha))


_BY_CLASS = {c.__name__: c for c in (ExponentialDecay, CosineDecay, PiecewiseConstantDecay, InverseTimeDecay,
                                     PolynomialDecay, CosineDecayRestarts)}


def serialize(learning_rate_schedule: LearningRateSchedule) -> dict:
    """Keras's ``keras.optimizers.schedules.serialize``: module, class name, config and registered name (what
    Keras's ``Optimizer.from_config`` finds the class by, in a ``.h5`` file's optimizer config too)."""
    cls = type(learning_rate_schedule)
    if not overrides.is_gpunn_class(cls):
        return custom_objects.user_class_entry(cls, learning_rate_schedule.get_config())
    return {"module": "keras.optimizers.schedules", "class_name": cls.__name__,
            "config": learning_rate_schedule.get_config(), "registered_name": None}


def deserialize(config: dict, custom_objects=None) -> LearningRateSchedule:
    """Keras's: the schedule ``config`` describes, the user's classes taken from ``custom_objects`` too."""
    with custom_object_scope(custom_objects):
        return _deserialize(config)


def _deserialize(config: dict) -> LearningRateSchedule:
    cls = custom_objects.user_class(config, LearningRateSchedule)  # one of the user's, saved in a model file
    if cls is None:
        with custom_objects.hint_on_unknown():
            cls = lookup("learning_rate schedule", config["class_name"], {k.lower(): v for k, v in _BY_CLASS.items()})
    return cls.from_config(config["config"])
