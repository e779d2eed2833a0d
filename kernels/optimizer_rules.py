"""The optimizer updates of one element, written once: compiled for the GPU (``cuda.jit(device=True)``, inlined
in the grid-stride kernels of ``optimizer_updates.py``) and for the CPU (``njit(inline="always")``, inlined in
the loops of ``optimizer_updates_cpu.py``). The NumPy twins in ``optimizer_updates.py`` stay the independent
oracle both are tested against.

Every rule takes the element's parameter, gradient and state, the step's scalars in the parameter's dtype
(``decay`` = 1 - lr * weight_decay; Adam's ``alpha`` its bias-corrected step size; ``*_c`` = 1 - beta, computed in
double precision by the caller) and compile-time flags, and returns the new parameter and state.
"""
from __future__ import annotations

import math


def sgd_rule(p, g, v, lr, momentum, decay, with_momentum, nesterov):
    """(p, v): p -= lr g; with momentum v = momentum v - lr g, p += v (nesterov: p += momentum v - lr g)."""
    neg_lr_g = -lr * g
    if not with_momentum:
        return p * decay + neg_lr_g, v
    v = momentum * v + neg_lr_g
    if nesterov:
        return p * decay + (momentum * v + neg_lr_g), v
    return p * decay + v, v


def rmsprop_rule(p, g, ms, mom, mg, lr, rho, rho_c, momentum, eps, decay, centered, with_momentum):
    """(p, ms, mom, mg): ms = rho ms + (1 - rho) g^2; p -= lr g / sqrt(ms (- mg^2) + eps) (with momentum)."""
    ms = rho * ms + rho_c * g * g
    if centered:
        mg = rho * mg + rho_c * g
        denom = ms - mg * mg + eps
    else:
        denom = ms + eps
    increment = lr * g / math.sqrt(denom)
    if with_momentum:
        mom = momentum * mom + increment
        increment = mom
    return p * decay - increment, ms, mom, mg


def adagrad_rule(p, g, acc, lr, eps, decay):
    """(p, acc): acc += g^2; p -= lr g / sqrt(acc + eps)."""
    acc = acc + g * g
    return p * decay - lr * g / math.sqrt(acc + eps), acc


def adam_rule(p, g, m, v, vhat, alpha, beta_1c, beta_2c, eps, decay, amsgrad):
    """(p, m, v, vhat): m, v moving averages of g and g^2; p -= alpha m / (sqrt(v or vhat) + eps)."""
    m = m + (g - m) * beta_1c
    v = v + (g * g - v) * beta_2c
    denom_v = v
    if amsgrad:
        vhat = max(vhat, v)
        denom_v = vhat
    return p * decay - m * alpha / (math.sqrt(denom_v) + eps), m, v, vhat
