"""SGD, RMSprop, Adagrad, Adam, AdamW: Keras 3 formulas, each one ``ops`` call over the flat buffers."""
from __future__ import annotations

from .base import Optimizer


def _in_range(argument, value, low=0.0, high=1.0, high_open=True):
    ok = low <= value < high if high_open else low <= value <= high
    if not ok:
        raise ValueError(f"{argument}: expected a number in [{low}, {high}{')' if high_open else ']'}, got {value!r}")
    return float(value)


class SGD(Optimizer):
    """v = momentum * v - lr * g; p += v (or, nesterov, p += momentum * v - lr * g); plain p -= lr * g."""

    update_step = "sgd_update"
    host_hyperparameters = Optimizer.host_hyperparameters + ("momentum", "nesterov")

    default_learning_rate = 0.01

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.momentum = _in_range("momentum", momentum, high_open=False)
        self.nesterov = bool(nesterov)

    def active_slots(self):
        return ("velocity",) if self.momentum > 0 else ()

    def update(self, params, grads):
        self.ops.sgd_update(params, grads, self.slots.get("velocity"), self.state, self.momentum, self.nesterov)

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class RMSprop(Optimizer):
    """ms = rho * ms + (1 - rho) * g^2; p -= lr * g / sqrt(ms + eps) (centered: ms - mean(g)^2)."""

    update_step = "rmsprop_update"
    host_hyperparameters = Optimizer.host_hyperparameters + ("rho", "momentum", "epsilon", "centered")

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.rho = _in_range("rho", rho)
        self.momentum = _in_range("momentum", momentum)
        self.epsilon, self.centered = float(epsilon), bool(centered)

    def active_slots(self):
        return ("velocity",) + (("momentum",) if self.momentum > 0 else ()) + (
            ("average_gradient",) if self.centered else ())

    def update(self, params, grads):
        s = self.slots
        self.ops.rmsprop_update(params, grads, s["velocity"], s.get("momentum"), s.get("average_gradient"),
                                self.state, self.rho, self.momentum, self.epsilon, self.centered)

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum, "epsilon": self.epsilon,
                "centered": self.centered}


class Adagrad(Optimizer):
    """acc += g^2; p -= lr * g / sqrt(acc + eps), acc starting at initial_accumulator_value."""

    update_step = "adagrad_update"
    host_hyperparameters = Optimizer.host_hyperparameters + ("epsilon",)

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate, **kwargs)
        if initial_accumulator_value < 0:
            raise ValueError(f"initial_accumulator_value: expected >= 0, got {initial_accumulator_value!r}")
        self.initial_accumulator_value, self.epsilon = float(initial_accumulator_value), float(epsilon)

    def active_slots(self):
        return ("accumulator",)

    def build(self, ops, params, segments):
        super().build(ops, params, segments)
        self.slots["accumulator"][...] = self.initial_accumulator_value

    def update(self, params, grads):
        self.ops.adagrad_update(params, grads, self.slots["accumulator"], self.state, self.epsilon)

    def get_config(self):
        return {**super().get_config(), "initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon}


class Adam(Optimizer):
    """m, v moving averages of g and g^2; p -= lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)."""

    update_step = "adam_update"
    host_hyperparameters = Optimizer.host_hyperparameters + ("beta_1", "beta_2", "epsilon", "amsgrad")

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.beta_1 = _in_range("beta_1", beta_1)
        self.beta_2 = _in_range("beta_2", beta_2)
        self.epsilon, self.amsgrad = float(epsilon), bool(amsgrad)

    def active_slots(self):
        return ("momentum", "velocity") + (("velocity_hat",) if self.amsgrad else ())

    def update(self, params, grads):
        s = self.slots
        self.ops.adam_update(params, grads, s["momentum"], s["velocity"], s.get("velocity_hat"), self.state,
                             self.beta_1, self.beta_2, self.epsilon)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                "amsgrad": self.amsgrad}


class AdamW(Adam):
    """Adam with decoupled weight decay (Keras default 0.004)."""

    def __init__(self, learning_rate=0.001, weight_decay=0.004, **kwargs):
        super().__init__(learning_rate, weight_decay=weight_decay, **kwargs)
