"""SGD, RMSprop, Adagrad, Adam, AdamW, Nadam, Adamax, Adadelta, Lion, Ftrl, Lamb, ScheduleFreeAdamW: Keras 3 formulas
(keras/src/optimizers/), each one ``ops`` call over the flat buffers."""
from __future__ import annotations

import numbers

from ..number_arguments import finite_number
from .base import Optimizer


def _in_range(argument, value, low=0.0, high=1.0, high_open=True, low_open=False):
    is_number = isinstance(value, numbers.Real) and not isinstance(value, bool)
    ok = is_number and (low < value if low_open else low <= value) and (value < high if high_open else value <= high)
    if not ok:
        raise ValueError(f"{argument}: expected a number in {'(' if low_open else '['}{low}, {high}"
                         f"{')' if high_open else ']'}, got {value!r}")
    return float(value)


def _epsilon(value) -> float:
    """An optimizer's epsilon: a finite number >= 0; None is the backend's epsilon (1e-7), as tf.keras 2's
    optimizers took it (``epsilon=None`` in scripts of those years)."""
    if value is None:
        from ..config import epsilon

        return float(epsilon())
    return finite_number("epsilon", value, 0.0)


class SGD(Optimizer):
    """v = momentum * v - lr * g; p += v (or, nesterov, p += momentum * v - lr * g); plain p -= lr * g."""

    update_step = "sgd_update"
    host_hyperparameters = Optimizer.host_hyperparameters + ("momentum", "nesterov")

    default_learning_rate = 0.01

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, *base_arguments, **kwargs):
        super().__init__(learning_rate, *base_arguments, **kwargs)
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
    epsilon_outside = False  # sqrt(ms) + eps instead: tf.keras 2's legacy RMSprop (gpunn.optimizers.legacy)

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False, *base_arguments,
                 **kwargs):
        super().__init__(learning_rate, *base_arguments, **kwargs)
        self.rho = _in_range("rho", rho)
        self.momentum = _in_range("momentum", momentum)
        self.epsilon, self.centered = _epsilon(epsilon), bool(centered)

    def active_slots(self):
        return ("velocity",) + (("momentum",) if self.momentum > 0 else ()) + (
            ("average_gradient",) if self.centered else ())

    def update(self, params, grads):
        s = self.slots
        self.ops.rmsprop_update(params, grads, s["velocity"], s.get("momentum"), s.get("average_gradient"),
                                self.state, self.rho, self.momentum, self.epsilon, self.centered,
                                self.epsilon_outside)

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum, "epsilon": self.epsilon,
                "centered": self.centered}


class Adagrad(Optimizer):
    """acc += g^2; p -= lr * g / sqrt(acc + eps), acc starting at initial_accumulator_value."""

    update_step = "adagrad_update"
    host_hyperparameters = Optimizer.host_hyperparameters + ("epsilon",)
    epsilon_outside = False  # sqrt(acc) + eps instead: tf.keras 2's legacy Adagrad (gpunn.optimizers.legacy)

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7, *base_arguments, **kwargs):
        super().__init__(learning_rate, *base_arguments, **kwargs)
        if initial_accumulator_value < 0:
            raise ValueError(f"initial_accumulator_value: expected >= 0, got {initial_accumulator_value!r}")
        self.initial_accumulator_value, self.epsilon = float(initial_accumulator_value), _epsilon(epsilon)

    def active_slots(self):
        return ("accumulator",)

    def build(self, ops, params, segments):
        super().build(ops, params, segments)
        self.slots["accumulator"][...] = self.initial_accumulator_value

    def update(self, params, grads):
        self.ops.adagrad_update(params, grads, self.slots["accumulator"], self.state, self.epsilon,
                                self.epsilon_outside)

    def get_config(self):
        return {**super().get_config(), "initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon}


class Adam(Optimizer):
    """m, v moving averages of g and g^2; p -= lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)."""

    update_step = "adam_update"
    host_hyperparameters = Optimizer.host_hyperparameters + ("beta_1", "beta_2", "epsilon", "amsgrad")

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False, *base_arguments,
                 **kwargs):
        super().__init__(learning_rate, *base_arguments, **kwargs)
        self.beta_1 = _in_range("beta_1", beta_1)
        self.beta_2 = _in_range("beta_2", beta_2)
        self.epsilon, self.amsgrad = _epsilon(epsilon), bool(amsgrad)

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
    """Adam with decoupled weight decay (Keras default 0.004), its arguments in Keras's order."""

    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, *base_arguments, **kwargs):
        if weight_decay is None:  # (it would train as Adam: Keras's AdamW refuses it too)
            raise ValueError(f"Argument `weight_decay` must be a float. Received: weight_decay={weight_decay}")
        super().__init__(learning_rate, beta_1, beta_2, epsilon, amsgrad, weight_decay, *base_arguments, **kwargs)


class _TwoMoments(Optimizer):
    """The arguments Nadam and Adamax share with Adam (Keras's defaults): two decay rates and epsilon."""

    host_hyperparameters = Optimizer.host_hyperparameters + ("beta_1", "beta_2", "epsilon")

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, *base_arguments, **kwargs):
        super().__init__(learning_rate, *base_arguments, **kwargs)
        self.beta_1 = _in_range("beta_1", beta_1)
        self.beta_2 = _in_range("beta_2", beta_2)
        self.epsilon = _epsilon(epsilon)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}


class Nadam(_TwoMoments):
    """Adam with Nesterov momentum (Keras 3's keras/src/optimizers/nadam.py): m, v moving averages of g and
    g^2; with u_t = beta_1 (1 - 0.5 * 0.96^t) and u_product = u_1 ... u_t,
    m_hat = u_{t+1} m / (1 - u_product u_{t+1}) + (1 - u_t) g / (1 - u_product), v_hat = v / (1 - beta_2^t),
    p -= lr m_hat / (sqrt(v_hat) + eps). Keras keeps u_product in a variable; here it follows from the step
    count on the device (kernels/optimizer_rules.py nadam_step_scalars), so it needs no slot of its own."""

    update_step = "nadam_update"

    def active_slots(self):
        return ("momentum", "velocity")

    def update(self, params, grads):
        s = self.slots
        self.ops.nadam_update(params, grads, s["momentum"], s["velocity"], self.state, self.beta_1, self.beta_2,
                              self.epsilon)


class Adamax(_TwoMoments):
    """Adam on the infinity norm (Keras 3's keras/src/optimizers/adamax.py): m moving average of g,
    u = max(beta_2 u, |g|), p -= lr m / ((1 - beta_1^t) (u + eps))."""

    update_step = "adamax_update"

    def active_slots(self):
        return ("momentum", "norm")

    def update(self, params, grads):
        s = self.slots
        self.ops.adamax_update(params, grads, s["momentum"], s["norm"], self.state, self.beta_1, self.beta_2,
                               self.epsilon)


class Adadelta(Optimizer):
    """Keras 3's keras/src/optimizers/adadelta.py: acc_g = rho acc_g + (1 - rho) g^2,
    dx = -sqrt(acc_dx + eps) g / sqrt(acc_g + eps), acc_dx = rho acc_dx + (1 - rho) dx^2, p += lr dx
    (Keras's default learning rate 0.001; the paper's form is learning_rate=1.0)."""

    update_step = "adadelta_update"
    host_hyperparameters = Optimizer.host_hyperparameters + ("rho", "epsilon")

    def __init__(self, learning_rate=0.001, rho=0.95, epsilon=1e-7, *base_arguments, **kwargs):
        super().__init__(learning_rate, *base_arguments, **kwargs)
        self.rho = _in_range("rho", rho, high_open=False)
        self.epsilon = _epsilon(epsilon)

    def active_slots(self):
        return ("accumulated_grad", "accumulated_delta_var")

    def update(self, params, grads):
        s = self.slots
        self.ops.adadelta_update(params, grads, s["accumulated_grad"], s["accumulated_delta_var"], self.state,
                                 self.rho, self.epsilon)

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon}


class Lion(Optimizer):
    """Keras 3's keras/src/optimizers/lion.py: p -= lr sign(beta_1 m + (1 - beta_1) g), then
    m = beta_2 m + (1 - beta_2) g. beta_1 must be in (0, 1], as in Keras (0 makes it SignSGD)."""

    update_step = "lion_update"
    host_hyperparameters = Optimizer.host_hyperparameters + ("beta_1", "beta_2")

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.99, *base_arguments, **kwargs):
        super().__init__(learning_rate, *base_arguments, **kwargs)
        self.beta_1 = _in_range("beta_1", beta_1, high_open=False, low_open=True)
        self.beta_2 = _in_range("beta_2", beta_2, high_open=False)

    def active_slots(self):
        return ("momentum",)

    def update(self, params, grads):
        self.ops.lion_update(params, grads, self.slots["momentum"], self.state, self.beta_1, self.beta_2)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2}


class ScheduleFreeAdamW(Optimizer):
    """Schedule-free AdamW (Defazio et al., 2024), as Keras 3 writes it (keras/src/optimizers/schedule_free_adamw.py):
    no learning-rate schedule is needed. Adam-scaled steps move a sequence z (Keras's ``momentum`` slot, starting
    at the weights), x is the running average of the z's, and the model's weights are y = (1 - beta_1) z + beta_1 x
    (kernels/optimizer_rules.py ``schedule_free_adamw_rule``); the rate rises linearly over ``warmup_steps``. As in
    Keras, the model trains, evaluates and saves at y."""

    update_step = "schedule_free_adamw_update"
    host_hyperparameters = Optimizer.host_hyperparameters + ("beta_1", "beta_2", "epsilon", "warmup_steps")

    default_learning_rate = 0.0025

    def __init__(self, learning_rate=0.0025, beta_1=0.9, beta_2=0.999, epsilon=1e-8, warmup_steps=0, *base_arguments,
                 **kwargs):
        super().__init__(learning_rate, *base_arguments, **kwargs)
        # beta_1 divides (x is recovered from y and z) and 1 - beta_2^t does: 0 and 1 give NaN in Keras
        self.beta_1 = _in_range("beta_1", beta_1, low_open=True, high_open=False)
        self.beta_2 = _in_range("beta_2", beta_2)
        self.epsilon = _epsilon(epsilon)
        self.warmup_steps = finite_number("warmup_steps", warmup_steps, 0.0)
        if float(warmup_steps).is_integer():
            self.warmup_steps = int(warmup_steps)

    def active_slots(self):
        return ("momentum", "velocity")

    def build(self, ops, params, segments):
        super().build(ops, params, segments)
        ops.copy_into(params, self.slots["momentum"])  # z starts at the weights (Keras's build)

    def update(self, params, grads):
        s = self.slots
        self.ops.schedule_free_adamw_update(params, grads, s["momentum"], s["velocity"], self.state, self.beta_1,
                                            self.beta_2, self.epsilon, self.warmup_steps)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                "warmup_steps": self.warmup_steps}


class Ftrl(Optimizer):
    """Follow The Regularized Leader, Keras 3's keras/src/optimizers/ftrl.py: with P = -learning_rate_power,
    new = acc + g^2;  linear += g + 2 l2_shrinkage p - (new^P - acc^P) / lr * p;  acc = new;
    p = (clip(linear, -l1, l1) - linear) / (new^P / lr + 2 (l2 + beta / (2 lr))).
    The slots are Keras's: ``accumulator`` (from initial_accumulator_value) and ``linear`` (from zero). The new
    parameter follows from the slots, not from the old one, so the learning rate must not be 0 (Keras divides by
    it and gets NaN too); l2 + beta / (2 lr) follows a scheduled rate on the device (kernels/optimizer_rules.py
    ``ftrl_l2_twice``)."""

    update_step = "ftrl_update"
    host_hyperparameters = Optimizer.host_hyperparameters + (
        "learning_rate_power", "l1_regularization_strength", "l2_regularization_strength",
        "l2_shrinkage_regularization_strength", "beta")
    # The one-element rehearsal at build time runs on zeroed slots: an accumulator of zero with a zero gradient
    # divides 0 by 0 (as Keras would with initial_accumulator_value=0); one keeps it finite.
    rehearsal_slot_values = {"accumulator": 1.0}

    def __init__(self, learning_rate=0.001, learning_rate_power=-0.5, initial_accumulator_value=0.1,
                 l1_regularization_strength=0.0, l2_regularization_strength=0.0,
                 l2_shrinkage_regularization_strength=0.0, beta=0.0, *base_arguments, **kwargs):
        super().__init__(learning_rate, *base_arguments, **kwargs)
        # Keras's checks, in its order; gpunn also refuses what is not a finite number.
        self.initial_accumulator_value = finite_number("initial_accumulator_value", initial_accumulator_value, 0.0)
        self.learning_rate_power = finite_number("learning_rate_power", learning_rate_power, maximum=0.0)
        self.l1_regularization_strength = finite_number("l1_regularization_strength", l1_regularization_strength, 0.0)
        self.l2_regularization_strength = finite_number("l2_regularization_strength", l2_regularization_strength, 0.0)
        self.l2_shrinkage_regularization_strength = finite_number(
            "l2_shrinkage_regularization_strength", l2_shrinkage_regularization_strength, 0.0)
        self.beta = finite_number("beta", beta)

    def active_slots(self):
        return ("accumulator", "linear")

    def build(self, ops, params, segments):
        super().build(ops, params, segments)
        self.slots["accumulator"][...] = self.initial_accumulator_value

    def update(self, params, grads):
        s = self.slots
        self.ops.ftrl_update(params, grads, s["accumulator"], s["linear"], self.state, self.learning_rate_power,
                             self.l1_regularization_strength, self.l2_regularization_strength,
                             self.l2_shrinkage_regularization_strength, self.beta)

    def get_config(self):
        return {**super().get_config(), "learning_rate_power": self.learning_rate_power,
                "initial_accumulator_value": self.initial_accumulator_value,
                "l1_regularization_strength": self.l1_regularization_strength,
                "l2_regularization_strength": self.l2_regularization_strength,
                "l2_shrinkage_regularization_strength": self.l2_shrinkage_regularization_strength,
                "beta": self.beta}


class Lamb(_TwoMoments):
    """Layer-wise adaptive moments, Keras 3's keras/src/optimizers/lamb.py: Adam's moments give each element's
    direction d = (m / (1 - beta_1^t)) / (sqrt(v / (1 - beta_2^t)) + eps); each weight then moves by
    lr * ||w|| / ||d|| * d, its trust ratio taken on its own norms (1 where one of them is 0), after the
    decoupled weight decay. The weights are the segments of the flat buffer (the ones clipnorm clips by), passed
    to the update as a constant host tuple."""

    update_step = "lamb_update"

    def active_slots(self):
        return ("momentum", "velocity")

    def update(self, params, grads):
        s = self.slots
        self.ops.lamb_update(params, grads, s["momentum"], s["velocity"], self.state, self.beta_1, self.beta_2,
                             self.epsilon, self._segments)
