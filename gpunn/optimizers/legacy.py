"""tf.keras 2's legacy optimizers: ``tf.keras.optimizers.legacy.Adam`` and the others of TensorFlow 2.11-2.15,
the optimizers of every tf.keras before 2.11, and the ones TensorFlow advised on Apple silicon. They are gpunn's
optimizers with Keras 2's arguments and arithmetic (tf_keras/src/optimizers/legacy/):

- ``lr``, Keras 2's name of ``learning_rate``: given, it is the rate taken, with Keras 2's warning.
- ``decay``: update t (t = 0, 1, ..., the updates before it) takes the rate divided by 1 + decay * t, a
  schedule's rate too. The rate read and set (``optimizer.learning_rate``, ``lr``, ReduceLROnPlateau,
  LearningRateScheduler) is the rate before that division, as in Keras 2.
- RMSprop without momentum, and Adagrad, divide by sqrt(v) + epsilon where Keras 3 divides by sqrt(v + epsilon)
  (Keras 2's RMSprop with momentum already did the latter).
- Keyword arguments are Keras 2's (``clipnorm``, ``clipvalue``, ``global_clipnorm``, ``lr``, ``decay``); the
  name is the class's ("Adam"); the config is Keras 2's, and ``serialize`` names the module
  ``keras.optimizers.legacy``, which gpunn reads back (and finds in tf.keras 2's HDF5 files).

Keras 3 has no legacy optimizers: it loads a ``.keras`` file of a model compiled with one with ``compile=False``
only. With ``decay``, the rate before the division is kept on the device: setting it (a callback) leaves the
recorded training step, and a CUDA graph of it, as they are.

Keras 2's legacy Nadam is not here: its momentum schedule (0.96 ** (0.004 t)) makes it another algorithm than
Keras 3's Nadam, which gpunn has; it refuses by name.
"""
from __future__ import annotations

import math
import numbers
import warnings

from ..autodiff.functions import convert_to_numpy
from ..kernels import lr_schedules
from . import algorithms
from .base import Optimizer, _rate_number
from .host_values import HostFloat
from .schedules import LearningRateSchedule, serialize as serialize_schedule

MODULE = "keras.optimizers.legacy"  # where Keras 2 finds these classes, and what their serialized form names
_KERAS_2_KEYWORDS = ("clipnorm", "clipvalue", "global_clipnorm", "lr", "decay")
_CLIPPING = ("clipnorm", "clipvalue", "global_clipnorm")
# The keys of Keras 3's config that Keras 2's optimizers do not write
_KERAS_3_KEYS = frozenset(Optimizer(name="keys").get_config()) - {"name", "learning_rate"}


class _Decayed(LearningRateSchedule):
    """Keras 2's ``decay``: ``rate`` (a number, or a schedule's value at the step) / (1 + decay * step)."""

    def __init__(self, rate, decay: float):
        self.rate, self.decay = rate, decay

    def formula(self):
        return lr_schedules.inverse_time_decay, (float(self.rate), 1.0, self.decay, False)

    def formula_of_rate(self):
        # the rate is read on the device: a callback setting it (ReduceLROnPlateau) records no new step
        if self.runs_own_call():
            return None
        function, constants = self.formula()
        return (function, constants[1:]), constants[0]

    def runs_own_call(self) -> bool:
        # a schedule's value is divided on the host (the optimizer's host call for schedules of one's own)
        return isinstance(self.rate, LearningRateSchedule)

    def __call__(self, step):
        if not self.runs_own_call():
            return super().__call__(step)
        return float(convert_to_numpy(self.rate(step))) / (1.0 + self.decay * float(step))


class Keras2Arguments:
    """Keras 2's keyword arguments, rate and config, over the gpunn optimizer that follows in the MRO."""

    clipvalue_with_a_norm = True
    # Keras 2's _create_slots makes one kind of slot for every weight, then the next kind (Adam: all m, then all
    # v), which orders the optimizer's variables in its files (Ftrl's makes both per weight)
    slots_made_kind_by_kind = True

    def _take_keras_2(self, learning_rate, kwargs: dict):
        """(the learning rate, the clipping arguments) of Keras 2's ``kwargs``; ``decay`` is kept here."""
        name = type(self).__name__
        unexpected = sorted(set(kwargs) - set(_KERAS_2_KEYWORDS))
        if unexpected:
            raise TypeError(f"legacy.{name}: unexpected keyword argument(s) {unexpected}; tf.keras 2's legacy "
                            f"optimizers take {list(_KERAS_2_KEYWORDS)} (Keras 3's arguments, such as "
                            f"weight_decay, are gpunn.optimizers.{name}'s)")
        for key, value in kwargs.items():
            if isinstance(value, numbers.Real) and not 0 <= value < math.inf:  # (NaN too)
                raise ValueError(f"legacy.{name}: {key}: expected a finite number >= 0, got {value!r}")
        if "lr" in kwargs:
            warnings.warn("The `lr` argument is deprecated, use `learning_rate` instead.", UserWarning, stacklevel=3)
            learning_rate = kwargs.pop("lr")
        decay = kwargs.pop("decay", 0.0)
        if isinstance(decay, bool) or not isinstance(decay, numbers.Real):
            raise ValueError(f"legacy.{name}: decay: expected a number >= 0, got {decay!r}")
        self._decay = float(decay)
        return learning_rate, kwargs

    @property
    def decay(self) -> float:
        return self._decay

    @property
    def learning_rate(self) -> float:
        """The rate before ``decay`` divides it (Keras 2's ``lr`` hyperparameter)."""
        rate = self._rate_before_decay
        if isinstance(rate, LearningRateSchedule):
            rate = float(convert_to_numpy(rate(self._iterations)))
        return HostFloat(rate, self._assign_learning_rate)

    @learning_rate.setter
    def learning_rate(self, value):
        if not isinstance(value, LearningRateSchedule):
            value = _rate_number(value)
            if isinstance(self.__dict__.get("_learning_rate"), LearningRateSchedule) and not self._decay:
                # Keras 2's _set_hyper replaces a schedule by a number: the recorded step follows it anew
                self._learning_rate = None
                self.config_version += 1
        decayed = self.__dict__.get("_learning_rate")
        if self._decay and isinstance(decayed, _Decayed) and not isinstance(value, LearningRateSchedule) and (
                not decayed.runs_own_call()):
            # a number after a number: the decayed schedule's rate, read on the device, changes; the recorded
            # step stays as it is
            decayed.rate = value
            self.write_initial_rate(value)
        else:
            # The optimizer follows the decayed rate (on the device, inside the recorded step).
            Optimizer.learning_rate.fset(self, _Decayed(value, self._decay) if self._decay else value)
        self._rate_before_decay = value

    lr = learning_rate

    def get_config(self) -> dict:
        rate = self._rate_before_decay
        config = {"name": self.name}
        config.update({key: getattr(self, key) for key in _CLIPPING if getattr(self, key) is not None})
        config["learning_rate"] = serialize_schedule(rate) if isinstance(rate, LearningRateSchedule) else rate
        config["decay"] = self._decay
        own = super().get_config()
        config.update({key: value for key, value in own.items() if key not in _KERAS_3_KEYS and key not in config})
        return config

    @classmethod
    def from_config(cls, config: dict):
        config = {key: value for key, value in config.items() if key != "is_legacy_optimizer"}
        return super().from_config(config)


class SGD(Keras2Arguments, algorithms.SGD):
    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, name="SGD", **kwargs):
        learning_rate, kwargs = self._take_keras_2(learning_rate, kwargs)
        super().__init__(learning_rate, momentum=momentum, nesterov=nesterov, name=name, **kwargs)


class RMSprop(Keras2Arguments, algorithms.RMSprop):
    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False, name="RMSprop",
                 **kwargs):
        learning_rate, kwargs = self._take_keras_2(learning_rate, kwargs)
        super().__init__(learning_rate, rho=rho, momentum=momentum, epsilon=epsilon, centered=centered, name=name,
                         **kwargs)

    @property
    def epsilon_outside(self) -> bool:
        # Keras 2 runs TensorFlow's fused RMSProp ops (sqrt(ms + eps)) with momentum, its own sqrt(ms) + eps without
        return not self.momentum > 0


class Adagrad(Keras2Arguments, algorithms.Adagrad):
    epsilon_outside = True

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7, name="Adagrad", **kwargs):
        learning_rate, kwargs = self._take_keras_2(learning_rate, kwargs)
        super().__init__(learning_rate, initial_accumulator_value=initial_accumulator_value, epsilon=epsilon,
                         name=name, **kwargs)


class Adam(Keras2Arguments, algorithms.Adam):
    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False, name="Adam",
                 **kwargs):
        learning_rate, kwargs = self._take_keras_2(learning_rate, kwargs)
        super().__init__(learning_rate, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon, amsgrad=amsgrad, name=name,
                         **kwargs)


class Adamax(Keras2Arguments, algorithms.Adamax):
    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, name="Adamax", **kwargs):
        learning_rate, kwargs = self._take_keras_2(learning_rate, kwargs)
        super().__init__(learning_rate, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon, name=name, **kwargs)


class Adadelta(Keras2Arguments, algorithms.Adadelta):
    def __init__(self, learning_rate=0.001, rho=0.95, epsilon=1e-7, name="Adadelta", **kwargs):
        learning_rate, kwargs = self._take_keras_2(learning_rate, kwargs)
        super().__init__(learning_rate, rho=rho, epsilon=epsilon, name=name, **kwargs)


class Ftrl(Keras2Arguments, algorithms.Ftrl):
    slots_made_kind_by_kind = False
    def __init__(self, learning_rate=0.001, learning_rate_power=-0.5, initial_accumulator_value=0.1,
                 l1_regularization_strength=0.0, l2_regularization_strength=0.0, name="Ftrl",
                 l2_shrinkage_regularization_strength=0.0, beta=0.0, **kwargs):
        learning_rate, kwargs = self._take_keras_2(learning_rate, kwargs)
        super().__init__(learning_rate, learning_rate_power=learning_rate_power,
                         initial_accumulator_value=initial_accumulator_value,
                         l1_regularization_strength=l1_regularization_strength,
                         l2_regularization_strength=l2_regularization_strength,
                         l2_shrinkage_regularization_strength=l2_shrinkage_regularization_strength, beta=beta,
                         name=name, **kwargs)

    def get_config(self):
        # in Keras 2's order
        config = super().get_config()
        keras_2_order = ("initial_accumulator_value", "learning_rate_power", "l1_regularization_strength",
                         "l2_regularization_strength", "beta", "l2_shrinkage_regularization_strength")
        return {**{key: value for key, value in config.items() if key not in keras_2_order},
                **{key: config[key] for key in keras_2_order}}


class Nadam:
    """Keras 2's legacy Nadam, refused by name (see the module's docstring)."""

    def __init__(self, *args, **kwargs):
        raise NotImplementedError(
            "gpunn.optimizers.legacy.Nadam: tf.keras 2's legacy Nadam (its momentum schedule on 0.96 ** (0.004 t), "
            "the rate divided by 1 + 0.004 t) is not available; gpunn.optimizers.Nadam is Keras 3's Nadam "
            "(0.96 ** t, no decay), which trains differently")

    @classmethod
    def from_config(cls, config):
        return cls(**config)


BY_NAME = {cls.__name__.lower(): cls for cls in (SGD, RMSprop, Adagrad, Adam, Adamax, Adadelta, Ftrl, Nadam)}


def is_legacy_config(serialized: dict) -> bool:
    """Whether a serialized optimizer is one of Keras 2's legacy ones: its module says so, or its config is one
    Keras 2's optimizers wrote (``decay`` among its keys, which tf.keras 2.11+'s new optimizers mark with
    ``is_legacy_optimizer: False``; tf_keras's ``deserialize`` makes the same choice)."""
    config = serialized.get("config") or {}
    return serialized.get("module") == MODULE or config.get("is_legacy_optimizer") is True or (
        "decay" in config and "is_legacy_optimizer" not in config)


__all__ = ["SGD", "RMSprop", "Adagrad", "Adam", "Adamax", "Adadelta", "Ftrl", "Nadam", "Optimizer"]
