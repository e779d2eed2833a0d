"""The fused steps as plain array expressions through ``self.xp``: the reference every backend's kernels are
measured against, and the fallback where a backend has no kernel (an unusual dtype).

Each expression makes its own pass over memory and allocates its temporaries, as one would write the step
without gpunn's kernels; results are written into the ``out`` buffers the caller gives, so a recorded step can
still replay them. The same code runs on NumPy and on CuPy (``Ops()`` and ``Ops(xp=cupy)`` are the benchmark's
"unfused" contenders).
"""
from __future__ import annotations

from ..kernels import clip_norm
from ..kernels.optimizer_rules import NADAM_CACHE_LAST, NADAM_CACHE_PRODUCTS
from .recording import primitive

REFERENCE_ACTIVATIONS = ("linear", "relu", "leaky_relu", "elu", "sigmoid", "tanh", "silu", "gelu",
                         "selu", "softplus", "softsign", "hard_sigmoid", "exponential", "mish",
                         "relu6", "hard_silu", "log_sigmoid", "celu", "hard_tanh", "soft_shrink", "hard_shrink",
                         "tanh_shrink", "squareplus", "sparse_plus", "sparse_sigmoid")
_SELU_ALPHA, _SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946


def _erf(xp, z):
    if xp.__name__ == "numpy":
        from ..kernels.erf import erf_numpy

        return erf_numpy(z)
    from cupyx.scipy.special import erf  # CuPy's, on the device

    return erf(z)


def activation(xp, z, name, alpha):
    if name == "linear":
        return z.copy()
    if name == "relu":
        return xp.maximum(z, 0)
    if name == "leaky_relu":
        return xp.where(z >= 0, z, z * alpha)
    if name == "elu":
        return xp.where(z > 0, z, xp.expm1(xp.minimum(z, 0)))
    if name == "sigmoid":
        return 1 / (1 + xp.exp(-z))
    if name == "tanh":
        return xp.tanh(z)
    if name == "silu":
        return z / (1 + xp.exp(-z))
    if name == "gelu":
        return 0.5 * z * (1 + _erf(xp, z / 2 ** 0.5))
    if name == "selu":
        return _SELU_SCALE * xp.where(z > 0, z, _SELU_ALPHA * xp.expm1(xp.minimum(z, 0)))
    if name == "softplus":
        return xp.logaddexp(z, 0)
    if name == "softsign":
        return z / (1 + xp.abs(z))
    if name == "hard_sigmoid":
        return xp.clip(z + 3, 0, 6) / 6
    if name == "exponential":
        return xp.exp(z)
    if name == "mish":
        return z * xp.tanh(xp.logaddexp(z, 0))
    # Keras 3's third group (jax.nn); alpha is celu's alpha, the shrinks' threshold, squareplus's b
    if name == "relu6":
        return xp.clip(z, 0, 6)
    if name == "hard_silu":
        return z * (xp.clip(z + 3, 0, 6) / 6)
    if name == "log_sigmoid":
        return -xp.logaddexp(-z, 0)
    if name == "celu":
        return xp.maximum(z, 0) + alpha * xp.expm1(xp.minimum(z, 0) / alpha)
    if name == "hard_tanh":
        return xp.clip(z, -1, 1)
    if name == "soft_shrink":
        return xp.where(z > alpha, z - alpha, xp.where(z < -alpha, z + alpha, xp.zeros_like(z)))
    if name == "hard_shrink":
        return xp.where(xp.abs(z) > alpha, z, xp.zeros_like(z))
    if name == "tanh_shrink":
        return z - xp.tanh(z)
    if name == "squareplus":
        return (z + xp.sqrt(z * z + alpha)) / 2
    if name == "sparse_plus":
        return xp.where(z <= -1, xp.zeros_like(z), xp.where(z >= 1, z, (z + 1) * (z + 1) / 4))
    if name == "sparse_sigmoid":
        return xp.clip(z + 1, 0, 2) * 0.5
    raise ValueError(f"activation: the reference steps implement {REFERENCE_ACTIVATIONS}, not {name!r}")


def activation_grad(xp, dy, y, z, name, alpha):
    if name == "linear":
        return dy.copy()
    if name == "relu":
        return dy * (y > 0)
    if name == "leaky_relu":
        return xp.where(y > 0, dy, dy * alpha)
    if name == "elu":
        return xp.where(z > 0, dy, dy * (y + 1))
    if name == "sigmoid":
        return dy * y * (1 - y)
    if name == "tanh":
        return dy * (1 - y * y)
    if name == "silu":
        s = 1 / (1 + xp.exp(-z))
        return dy * (s + y * (1 - s))
    if name == "gelu":
        cdf = 0.5 * (1 + _erf(xp, z / 2 ** 0.5))
        pdf = xp.exp(-0.5 * z * z) / (2 * 3.141592653589793) ** 0.5
        return dy * (cdf + z * pdf)
    if name == "selu":
        return xp.where(y < 0, dy * (y + _SELU_SCALE * _SELU_ALPHA), dy * _SELU_SCALE)
    if name == "softplus":
        return dy * -xp.expm1(-y)
    if name == "softsign":
        return dy / (1 + xp.abs(z)) ** 2
    if name == "hard_sigmoid":
        return xp.where((y > 0) & (y < 1), dy / 6, 0 * dy)
    if name == "exponential":
        return dy * y
    if name == "mish":
        t = xp.tanh(xp.logaddexp(z, 0))
        return dy * (t + (1 - t * t) * z / (1 + xp.exp(-z)))
    if name == "relu6":
        return dy * ((y > 0) & (y < 6))
    if name == "hard_silu":
        return dy * (xp.clip(z + 3, 0, 6) / 6 + (z / 6) * ((z + 3 > 0) & (z + 3 < 6)))
    if name == "log_sigmoid":
        return dy * -xp.expm1(y)
    if name == "celu":
        return dy * xp.minimum(y / alpha + 1, 1)
    if name == "hard_tanh":
        return xp.where(xp.abs(z) > 1, 0 * dy, dy)
    if name in ("soft_shrink", "hard_shrink"):
        return dy * (y != 0)
    if name == "tanh_shrink":
        return dy * xp.tanh(z) ** 2
    if name == "squareplus":
        return dy / (1 + (alpha / 4) / y / y)
    if name == "sparse_plus":
        return dy * xp.minimum(xp.sqrt(y), 1)
    if name == "sparse_sigmoid":
        return xp.where((y > 0) & (y < 1), dy * 0.5, 0 * dy)
    raise ValueError(f"activation: the reference steps implement {REFERENCE_ACTIVATIONS}, not {name!r}")


def _dense_targets(xp, labels, like):
    """Sparse class ids as a one-hot matrix; float targets unchanged."""
    if labels.ndim == 2:
        return labels
    onehot = xp.zeros_like(like)
    onehot[xp.arange(like.shape[0]), labels] = 1
    return onehot


class ReferenceSteps:
    xp = None  # set by the Ops class
    _tape = None
    _tape_thread = None  # the thread recording on ``_tape`` (ops/recording.py)

    # ---- layer steps --------------------------------------------------------------------------------
    @primitive
    def bias_act_forward(self, z, bias, activation_name, out, alpha=0.2):
        if bias is not None:
            z += bias  # z must hold the pre-activation afterwards (backward of elu/gelu/silu reads it)
        out[...] = activation(self.xp, z, activation_name, alpha)
        return out

    @primitive
    def act_backward_bias_grad(self, dy, y, z, activation_name, dz_out, dbias_out, alpha=0.2):
        dz = activation_grad(self.xp, dy, y, z, activation_name, alpha)
        dz_out[...] = dz
        if dbias_out is not None:
            dbias_out[...] = dz.sum(axis=0)
        return dz_out

    @primitive
    def softmax(self, logits, out):
        e = self.xp.exp(logits - logits.max(axis=1, keepdims=True))
        out[...] = e / e.sum(axis=1, keepdims=True)
        return out

    @primitive
    def softmax_xent(self, logits, labels, probs_out, dlogits_out, loss_out, grad_scale):
        xp = self.xp
        m = logits.max(axis=1, keepdims=True)
        e = xp.exp(logits - m)
        s = e.sum(axis=1, keepdims=True)
        targets = _dense_targets(xp, labels, logits)
        loss_out[...] = (targets * (m + xp.log(s) - logits)).sum(axis=1)  # -sum t log(softmax)
        probs = e / s
        if dlogits_out is not None:
            dlogits_out[...] = (probs * targets.sum(axis=1, keepdims=True) - targets) * grad_scale
        probs_out[...] = probs
        return loss_out

    @primitive
    def sigmoid_bce(self, logits, targets, probs_out, dlogits_out, loss_out, grad_scale):
        xp = self.xp
        elem = xp.maximum(logits, 0) - logits * targets + xp.log1p(xp.exp(-xp.abs(logits)))
        loss_out[...] = elem.mean(axis=1)
        probs = 1 / (1 + xp.exp(-logits))
        if dlogits_out is not None:
            dlogits_out[...] = (probs - targets) * grad_scale
        probs_out[...] = probs
        return loss_out

    # ---- optimizer updates: the learning rate, step and weight decay read from the device state ----------
    @staticmethod
    def _hyper_arrays(state):
        """(lr, step, weight decay) as 0-d device values: nothing is read back to the host."""
        return state[1], state[0], state[2]

    @primitive
    def sgd_update(self, p, g, velocity, state, momentum, nesterov):
        lr, _, weight_decay = self._hyper_arrays(state)
        p[...] = p - p * (lr * weight_decay)
        if not momentum:
            p[...] = p - lr * g
            return
        velocity[...] = momentum * velocity - lr * g
        p[...] = p + (momentum * velocity - lr * g if nesterov else velocity)

    @primitive
    def rmsprop_update(self, p, g, ms, mom, mg, state, rho, momentum, epsilon, centered, epsilon_outside=False):
        xp = self.xp
        lr, _, weight_decay = self._hyper_arrays(state)
        p[...] = p - p * (lr * weight_decay)
        ms[...] = rho * ms + (1 - rho) * g * g
        if centered:
            mg[...] = rho * mg + (1 - rho) * g
            denom = ms - mg * mg
        else:
            denom = ms
        denom = xp.sqrt(denom) + epsilon if epsilon_outside else xp.sqrt(denom + epsilon)
        increment = lr * g / denom
        if momentum > 0:
            mom[...] = momentum * mom + increment
            increment = mom
        p[...] = p - increment

    @primitive
    def adagrad_update(self, p, g, acc, state, epsilon, epsilon_outside=False):
        lr, _, weight_decay = self._hyper_arrays(state)
        p[...] = p - p * (lr * weight_decay)
        acc[...] = acc + g * g
        denom = self.xp.sqrt(acc) + epsilon if epsilon_outside else self.xp.sqrt(acc + epsilon)
        p[...] = p - lr * g / denom

    @primitive
    def adam_update(self, p, g, m, v, vhat, state, beta_1, beta_2, epsilon):
        xp = self.xp
        lr, step, weight_decay = self._hyper_arrays(state)
        p[...] = p - p * (lr * weight_decay)
        m[...] = m + (g - m) * (1 - beta_1)
        v[...] = v + (g * g - v) * (1 - beta_2)
        if vhat is not None:
            vhat[...] = xp.maximum(vhat, v)
            v = vhat
        alpha = lr * xp.sqrt(1.0 - beta_2 ** step) / (1.0 - beta_1 ** step)
        p[...] = p - alpha * m / (xp.sqrt(v) + epsilon)

    @primitive
    def nadam_update(self, p, g, m, v, state, beta_1, beta_2, epsilon):
        xp = self.xp
        lr, step, weight_decay = self._hyper_arrays(state)
        p[...] = p - p * (lr * weight_decay)
        m[...] = m + (g - m) * (1 - beta_1)
        v[...] = v + (g * g - v) * (1 - beta_2)
        u_t = beta_1 * (1.0 - 0.5 * 0.96 ** step)
        u_next = beta_1 * (1.0 - 0.5 * 0.96 ** (step + 1.0))
        # u_1 ... u_t: beta_1^t times the tabled rest (kernels/optimizer_rules.py), indexed on the device.
        rest = xp.asarray(NADAM_CACHE_PRODUCTS)[xp.minimum(step, NADAM_CACHE_LAST).astype(xp.int64)]
        u_product = beta_1 ** step * rest
        m_hat = u_next * m / (1.0 - u_product * u_next) + (1.0 - u_t) * g / (1.0 - u_product)
        v_hat = v / (1.0 - beta_2 ** step)
        p[...] = p - m_hat * lr / (xp.sqrt(v_hat) + epsilon)

    @primitive
    def adamax_update(self, p, g, m, u, state, beta_1, beta_2, epsilon):
        xp = self.xp
        lr, step, weight_decay = self._hyper_arrays(state)
        p[...] = p - p * (lr * weight_decay)
        m[...] = m + (g - m) * (1 - beta_1)
        u[...] = xp.maximum(beta_2 * u, xp.abs(g))
        p[...] = p - lr * m / ((1.0 - beta_1 ** step) * (u + epsilon))

    @primitive
    def adadelta_update(self, p, g, acc_g, acc_dx, state, rho, epsilon):
        xp = self.xp
        lr, _, weight_decay = self._hyper_arrays(state)
        p[...] = p - p * (lr * weight_decay)
        acc_g[...] = rho * acc_g + (1 - rho) * g * g
        dx = -xp.sqrt(acc_dx + epsilon) * g / xp.sqrt(acc_g + epsilon)
        acc_dx[...] = rho * acc_dx + (1 - rho) * dx * dx
        p[...] = p + lr * dx

    @primitive
    def lion_update(self, p, g, m, state, beta_1, beta_2):
        xp = self.xp
        lr, _, weight_decay = self._hyper_arrays(state)
        p[...] = p - p * (lr * weight_decay)
        p[...] = p - lr * xp.sign(m * beta_1 + g * (1 - beta_1))
        m[...] = m * beta_2 + g * (1 - beta_2)

    @primitive
    def schedule_free_adamw_update(self, p, g, z, v, state, beta_1, beta_2, epsilon, warmup_steps):
        xp = self.xp
        lr, step, weight_decay = self._hyper_arrays(state)
        p[...] = p - p * (lr * weight_decay)
        if warmup_steps > 0:
            lr = lr * xp.minimum(step / warmup_steps, 1.0)
        v[...] = v + (g * g - v) * (1 - beta_2)
        x = (p - (1 - beta_1) * z) / beta_1  # the average, from y and the old z
        z[...] = z - lr * g / (xp.sqrt(v / (1.0 - beta_2 ** step)) + epsilon)
        x = (1.0 - 1.0 / step) * x + z / step
        p[...] = (1 - beta_1) * z + beta_1 * x

    @primitive
    def ftrl_update(self, p, g, acc, linear, state, learning_rate_power, l1, l2, l2_shrinkage, beta):
        """Keras 3's Ftrl (keras/src/optimizers/ftrl.py), the learning rate and weight decay read from the
        device ``state``."""
        xp = self.xp
        lr, _, weight_decay = self._hyper_arrays(state)
        p[...] = p - p * (lr * weight_decay)
        power = -learning_rate_power
        new_acc = acc + g * g
        linear[...] = linear + (g + 2 * l2_shrinkage * p) - (new_acc ** power - acc ** power) / lr * p
        quadratic = new_acc ** power / lr + 2 * (l2 + beta / (2.0 * lr))
        p[...] = (xp.clip(linear, -l1, l1) - linear) / quadratic
        acc[...] = new_acc

    @primitive
    def scale_to_norm(self, g, limits, scratch):
        """``g *= min(1, clip / max(||g||, 1e-12))`` in place, the norm kept on the device (Keras's clipnorm and
        global_clipnorm); ``limits``: (clip, 1e-12, 1) in g's dtype (``kernels.clip_norm.limits``); ``scratch``: a
        1-D buffer of g's dtype with at least g.size + 1 elements."""
        clip_norm.scale_to_norm_numpy(g, limits, scratch, xp=self.xp)

    @primitive
    def lamb_update(self, p, g, m, v, state, beta_1, beta_2, epsilon, segments):
        """Keras 3's Lamb (keras/src/optimizers/lamb.py) over the weights' ``segments`` ((start, stop) pairs):
        each weight's trust ratio from its own norms; the learning rate, step and weight decay read from the
        device ``state``."""
        xp = self.xp
        lr, step, weight_decay = self._hyper_arrays(state)
        p[...] = p - p * (lr * weight_decay)
        m[...] = m + (g - m) * (1 - beta_1)
        v[...] = v + (g * g - v) * (1 - beta_2)
        direction = (m / (1.0 - beta_1 ** step)) / (xp.sqrt(v / (1.0 - beta_2 ** step)) + epsilon)
        for start, stop in segments:
            w_norm = xp.sqrt(xp.sum(p[start:stop] ** 2))
            d_norm = xp.sqrt(xp.sum(direction[start:stop] ** 2))
            positive = (w_norm > 0) & (d_norm > 0)
            ratio = xp.where(positive, w_norm / xp.where(positive, d_norm, 1), 1)
            p[start:stop] -= ratio * lr * direction[start:stop]

    @primitive
    def ema_update(self, p, average, state, ema_momentum, frequency, count_offset):
        """The weights' moving average (``use_ema``; kernels/weight_average.py), the count of updates read from
        the device ``state`` (plus ``count_offset``: 1 for a step between the updates of gradient accumulation):
        average = m average + (1 - m) p, m = ema_momentum but 0 at the first update; p = average every
        ``frequency`` updates (0: never)."""
        xp = self.xp
        count = state[0:1] + count_offset
        momentum = ((count > 1) * ema_momentum).astype(p.dtype)
        rest = (1 - momentum).astype(p.dtype)
        average[...] = average * momentum + p * rest
        if frequency:
            due = xp.fmod(count, frequency) == 0
            p[...] = xp.where(due, average, p)
