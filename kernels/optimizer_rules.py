"""The optimizer updates of one element, written once: compiled for the GPU (``cuda.jit(device=True)``, inlined
in the grid-stride kernels of ``optimizer_updates.py``) and for the CPU (``njit(inline="always")``, inlined in
the loops of ``optimizer_updates_cpu.py``). The NumPy twins in ``optimizer_updates.py`` stay the independent
oracle both are tested against.

Every rule takes the element's parameter, gradient and state, the step's scalars in the parameter's dtype
(``decay`` = lr * weight_decay, taken off as ``p - p * decay`` as Keras does: a factor ``1 - lr * weight_decay``
rounded to float32 would drift the same way at every step; Adam's ``alpha`` its bias-corrected step size; ``*_c`` =
1 - beta, computed in double precision by the caller) and compile-time flags, and returns the new parameter and state.

Lamb's rules are the element-wise parts of its update: a weight's trust ratio needs the norms of the whole weight
(a segment of the flat buffer), which the loops and kernels reduce between them.

The step scalars that Nadam and Adamax derive from the step count (``nadam_step_scalars``,
``adamax_step_size``) are written here once too: the host calls them for the CPU updates, and the CUDA
step-scalars kernel compiles them as device functions that read the count from the optimizer's device state.
"""
from __future__ import annotations

import math

import numpy as np


def sgd_rule(p, g, v, lr, momentum, decay, with_momentum, nesterov):
    """(p, v): p -= lr g; with momentum v = momentum v - lr g, p += v (nesterov: p += momentum v - lr g)."""
    neg_lr_g = -lr * g
    if not with_momentum:
        return (p - p * decay) + neg_lr_g, v
    v = momentum * v + neg_lr_g
    if nesterov:
        return (p - p * decay) + (momentum * v + neg_lr_g), v
    return (p - p * decay) + v, v


def rmsprop_rule(p, g, ms, mom, mg, lr, rho, rho_c, momentum, eps, decay, centered, with_momentum,
                 eps_outside):
    """(p, ms, mom, mg): ms = rho ms + (1 - rho) g^2; p -= lr g / sqrt(ms (- mg^2) + eps) (with momentum);
    ``eps_outside``: lr g / (sqrt(ms (- mg^2)) + eps), tf.keras 2's legacy RMSprop without momentum."""
    ms = rho * ms + rho_c * g * g
    if centered:
        mg = rho * mg + rho_c * g
        denom = ms - mg * mg
    else:
        denom = ms
    if eps_outside:
        increment = lr * g / (math.sqrt(denom) + eps)
    else:
        increment = lr * g / math.sqrt(denom + eps)
    if with_momentum:
        mom = momentum * mom + increment
        increment = mom
    return (p - p * decay) - increment, ms, mom, mg


def adagrad_rule(p, g, acc, lr, eps, decay, eps_outside):
    """(p, acc): acc += g^2; p -= lr g / sqrt(acc + eps) (``eps_outside``: / (sqrt(acc) + eps), tf.keras 2's
    legacy Adagrad)."""
    acc = acc + g * g
    if eps_outside:
        return (p - p * decay) - lr * g / (math.sqrt(acc) + eps), acc
    return (p - p * decay) - lr * g / math.sqrt(acc + eps), acc


def adam_rule(p, g, m, v, vhat, alpha, beta_1c, beta_2c, eps, decay, amsgrad):
    """(p, m, v, vhat): m, v moving averages of g and g^2; p -= alpha m / (sqrt(v or vhat) + eps)."""
    m = m + (g - m) * beta_1c
    v = v + (g * g - v) * beta_2c
    denom_v = v
    if amsgrad:
        vhat = max(vhat, v)
        denom_v = vhat
    return (p - p * decay) - m * alpha / (math.sqrt(denom_v) + eps), m, v, vhat


def nadam_rule(p, g, m, v, lr, beta_1c, beta_2c, eps, decay, m_coef, g_coef, v_correction):
    """(p, m, v), Keras 3's Nadam (keras/src/optimizers/nadam.py): m, v moving averages of g and g^2;
    m_hat = m_coef m + g_coef g (``nadam_step_scalars``), v_hat = v / v_correction;
    p -= m_hat lr / (sqrt(v_hat) + eps)."""
    m = m + (g - m) * beta_1c
    v = v + (g * g - v) * beta_2c
    m_hat = m_coef * m + g_coef * g
    return (p - p * decay) - m_hat * lr / (math.sqrt(v / v_correction) + eps), m, v


def adamax_rule(p, g, m, u, step_size, beta_1c, beta_2, eps, decay):
    """(p, m, u), Keras 3's Adamax (keras/src/optimizers/adamax.py): m moving average of g,
    u = max(beta_2 u, |g|); p -= step_size m / (u + eps), step_size = lr / (1 - beta_1^t)."""
    m = m + (g - m) * beta_1c
    u = max(beta_2 * u, abs(g))
    return (p - p * decay) - step_size * m / (u + eps), m, u


def adadelta_rule(p, g, acc_g, acc_dx, lr, rho, rho_c, eps, decay):
    """(p, acc_g, acc_dx), Keras 3's Adadelta (keras/src/optimizers/adadelta.py):
    acc_g = rho acc_g + (1 - rho) g^2;  dx = -sqrt(acc_dx + eps) g / sqrt(acc_g + eps);
    acc_dx = rho acc_dx + (1 - rho) dx^2;  p += lr dx."""
    acc_g = rho * acc_g + rho_c * (g * g)
    dx = -(math.sqrt(acc_dx + eps) * g) / math.sqrt(acc_g + eps)
    acc_dx = rho * acc_dx + rho_c * (dx * dx)
    return (p - p * decay) + lr * dx, acc_g, acc_dx


def lion_rule(p, g, m, lr, beta_1, beta_1c, beta_2, beta_2c, decay):
    """(p, m), Keras 3's Lion (keras/src/optimizers/lion.py): p -= lr sign(beta_1 m + (1 - beta_1) g), then
    m = beta_2 m + (1 - beta_2) g. The sign is taken by comparison with a zero of the parameter's dtype (a
    literal 0 would widen a float32 comparison to float64); c * lr is 0 for c == 0 and NaN for NaN, as
    lr * sign(c)."""
    c = m * beta_1 + g * beta_1c
    zero = lr - lr
    if c > zero:
        step = lr
    elif c < zero:
        step = -lr
    else:
        step = c * lr
    return (p - p * decay) - step, m * beta_2 + g * beta_2c


def schedule_free_adamw_rule(p, g, z, v, lr, beta_1, beta_1c, beta_2c, eps, decay, v_correction, weight, weight_c):
    """(p, z, v), Keras 3's ScheduleFreeAdamW (keras/src/optimizers/schedule_free_adamw.py). The parameter is
    y, an interpolation between z (Keras's ``momentum``, where the Adam-scaled steps land) and the running
    average x of the z's, which follows from them:
        v += (g^2 - v)(1 - beta_2);  z_new = z - lr g / (sqrt(v / (1 - beta_2^t)) + eps)
        x = (y - (1 - beta_1) z) / beta_1;  x_new = (1 - 1/t) x + z_new / t;  y = (1 - beta_1) z_new + beta_1 x_new
    ``lr``, ``v_correction`` = 1 - beta_2^t, ``weight`` = 1/t and ``weight_c`` = 1 - 1/t are step scalars
    (``schedule_free_step_scalars``); ``decay`` applies to y first, as Keras's weight decay does."""
    p = p - p * decay
    v = v + (g * g - v) * beta_2c
    z_new = z - (lr * g) / (math.sqrt(v / v_correction) + eps)
    x = (p - beta_1c * z) / beta_1
    x = weight_c * x + weight * z_new
    return beta_1c * z_new + beta_1 * x, z_new, v


def ftrl_rule(p, g, acc, linear, lr, power, l1, l2_twice, shrinkage_twice, decay, half_power):
    """(p, acc, linear), Keras 3's Ftrl (keras/src/optimizers/ftrl.py ``update_step``), ``power`` being
    -learning_rate_power (>= 0), ``l2_twice`` = 2 (l2 + beta / (2 lr)) (``ftrl_l2_twice``, a step scalar) and
    ``shrinkage_twice`` = 2 l2_shrinkage:
        new_acc = acc + g^2;  linear += (g + shrinkage_twice p) - (new_acc^power - acc^power) / lr * p
        p = (clip(linear, -l1, l1) - linear) / (new_acc^power / lr + l2_twice)
    ``half_power``: power is 0.5 (Keras's default), taken as a square root: it vectorises on the CPU where pow
    does not, and rounds as well or better. The learning rate divides, as in Keras: at 0 the parameters
    become NaN, there is no paused FTRL step."""
    p = p - p * decay
    new_acc = acc + g * g
    if half_power:
        new_acc_power = math.sqrt(new_acc)
        acc_power = math.sqrt(acc)
    else:
        new_acc_power = new_acc ** power
        acc_power = acc ** power
    linear = linear + ((g + shrinkage_twice * p) - (new_acc_power - acc_power) / lr * p)
    quadratic = new_acc_power / lr + l2_twice
    clipped = min(max(linear, -l1), l1)
    return (clipped - linear) / quadratic, new_acc, linear


def lamb_moments_rule(p, g, m, v, beta_1c, beta_2c, decay):
    """(p, m, v), the element-wise half of Keras 3's Lamb (keras/src/optimizers/lamb.py): the decayed parameter
    and the moving averages of g and g^2 (Adam's). Its direction (``lamb_direction``) is then scaled by the
    weight's trust ratio (``lamb_trust_ratio``), which needs the whole weight's norms first."""
    return p - p * decay, m + (g - m) * beta_1c, v + (g * g - v) * beta_2c


def lamb_direction(m, v, m_correction, v_correction, eps):
    """Lamb's direction before its trust ratio: (m / (1 - beta_1^t)) / (sqrt(v / (1 - beta_2^t)) + eps), the
    corrections given as step scalars."""
    return (m / m_correction) / (math.sqrt(v / v_correction) + eps)


def lamb_trust_ratio(w_squares, d_squares, one):
    """One weight's trust ratio ||w|| / ||d||, from the sums of squares of its (decayed) values and of its
    direction; 1 where a norm is not positive (0, or NaN), as Keras's nested ``where``. ``one``: 1 in the sums'
    dtype (a literal would widen float32 arithmetic to float64 on the GPU)."""
    w_norm = math.sqrt(w_squares)
    d_norm = math.sqrt(d_squares)
    zero = one - one
    if w_norm > zero and d_norm > zero:
        return w_norm / d_norm
    return one


# ---- step scalars from the step count (float64, once per update) ------------------------------------------


def _momentum_cache_products():
    """prod_{k=1..t} (1 - 0.5 * 0.96^k) for t = 0, 1, ..., K: Nadam's momentum-cache product without its
    beta_1^t. From k = K + 1 on, 0.5 * 0.96^k is below half an ulp of 1.0, so each further factor is exactly
    1.0 in float64 and the product stays at its value for K (K is about 900)."""
    products = [1.0]
    k = 1
    while 1.0 - 0.5 * 0.96 ** k != 1.0:
        products.append(products[-1] * (1.0 - 0.5 * 0.96 ** k))
        k += 1
    return np.array(products, dtype=np.float64)


# A module constant: the CUDA step-scalars kernel gets it as a constant array (7 KiB of constant memory).
NADAM_CACHE_PRODUCTS = _momentum_cache_products()
NADAM_CACHE_LAST = NADAM_CACHE_PRODUCTS.shape[0] - 1


def nadam_step_scalars(step, beta_1, beta_2):
    """(m_coef, g_coef, v_correction) of Nadam's update number ``step`` (1-based, a float), in float64.

    Keras keeps u_product = prod_{k=1..t} u_k in a variable, u_k = beta_1 (1 - 0.5 * 0.96^k), multiplied by
    u_t before each update; here it is beta_1^t times the tabled product of the rest, a function of the step
    count alone, so nothing but the optimizer's step count is carried between updates (a restored or
    changed ``iterations`` gives the right product). m_hat = u_{t+1} m / (1 - u_product u_{t+1})
    + (1 - u_t) g / (1 - u_product), v_hat = v / (1 - beta_2^t)."""
    u_t = beta_1 * (1.0 - 0.5 * 0.96 ** step)
    u_next = beta_1 * (1.0 - 0.5 * 0.96 ** (step + 1.0))
    # float(): on the host a Python float, so NumPy treats the results as weak scalars (float32 stays float32).
    u_product = beta_1 ** step * float(NADAM_CACHE_PRODUCTS[int(min(step, NADAM_CACHE_LAST))])
    u_product_next = u_product * u_next
    return u_next / (1.0 - u_product_next), (1.0 - u_t) / (1.0 - u_product), 1.0 - beta_2 ** step


def adamax_step_size(lr, step, beta_1):
    """Adamax's lr / (1 - beta_1^t) for the 1-based ``step``, in float64."""
    return lr / (1.0 - beta_1 ** step)


def schedule_free_step_scalars(lr, step, warmup_steps, beta_2):
    """ScheduleFreeAdamW's (learning rate, 1 - beta_2^t, 1/t, 1 - 1/t) for the 1-based ``step``, in float64: the
    rate rises linearly over the first ``warmup_steps`` steps (Keras: lr min(t / warmup_steps, 1))."""
    if warmup_steps > 0.0:
        lr = lr * min(step / warmup_steps, 1.0)
    weight = 1.0 / step
    return lr, 1.0 - beta_2 ** step, weight, 1.0 - weight


def ftrl_l2_twice(lr, l2, beta):
    """Ftrl's 2 (l2 + beta / (2 lr)), in float64 (Keras adds beta / (2 lr) to l2 at every step)."""
    return 2.0 * (l2 + beta / (2.0 * lr))


def ema_rule(p, average, momentum, rest, overwrite):
    """(p, average) of the weights' moving average (``use_ema``): average = momentum average + rest p (rest =
    1 - momentum, in the parameter's dtype); where ``overwrite`` is due, the weight takes the average."""
    average = average * momentum + p * rest
    if overwrite:
        return average, average
    return p, average


def ema_step_scalars(count, ema_momentum, frequency):
    """(momentum, overwrite due) of the moving average's step, for ``count`` updates done, this one included
    (Keras's ``iterations + 1``): the first step copies the weights (momentum 0), and the weights take the average
    every ``frequency`` steps (0: never)."""
    momentum = ema_momentum if count > 1.0 else 0.0
    due = frequency > 0 and math.fmod(count, frequency) == 0.0
    return momentum, due
