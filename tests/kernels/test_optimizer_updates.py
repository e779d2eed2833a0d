"""optimizer_updates.py: the twins against Keras 3's update rules written out plainly (float64, several
steps), the CUDA launchers against the twins for every variant."""
import math

import numpy as np
import pytest
from kernels_testing import FLOATS, assert_close

from gpunn.kernels import optimizer_updates as opt

STEPS = 4
N = 37


class Reference:
    """One optimizer's state and step, as in keras/src/optimizers/*.py, on float64 lists."""

    def __init__(self, kind, n, **hp):
        self.kind, self.hp, self.t = kind, hp, 0
        self.s1 = [0.0] * n  # momentum / ms / accumulator / m
        self.s2 = [0.0] * n  # rmsprop mom / adam v
        self.s3 = [0.0] * n  # rmsprop mg / adam vhat

    def step(self, p, g, lr):
        hp = self.hp
        self.t += 1
        out = []
        for i, (pi, gi) in enumerate(zip(p, g)):
            pi = pi - pi * hp.get("weight_decay", 0.0) * lr
            if self.kind == "sgd":
                if hp["momentum"]:
                    self.s1[i] = -gi * lr + self.s1[i] * hp["momentum"]
                    pi += (-gi * lr + self.s1[i] * hp["momentum"]) if hp["nesterov"] else self.s1[i]
                else:
                    pi -= gi * lr
            elif self.kind == "rmsprop":
                rho = hp["rho"]
                self.s1[i] = rho * self.s1[i] + (1 - rho) * gi * gi
                if hp["centered"]:
                    self.s3[i] = rho * self.s3[i] + (1 - rho) * gi
                    denominator = self.s1[i] - self.s3[i] ** 2
                else:
                    denominator = self.s1[i]
                # tf.keras 2's legacy RMSprop without momentum: sqrt(ms) + eps
                root = (math.sqrt(denominator) + hp["epsilon"] if hp.get("epsilon_outside") else
                        math.sqrt(denominator + hp["epsilon"]))
                increment = lr * gi / root
                if hp["momentum"] > 0:
                    self.s2[i] = hp["momentum"] * self.s2[i] + increment
                    pi -= self.s2[i]
                else:
                    pi -= increment
            elif self.kind == "adagrad":
                self.s1[i] += gi * gi
                root = (math.sqrt(self.s1[i]) + hp["epsilon"] if hp.get("epsilon_outside") else
                        math.sqrt(self.s1[i] + hp["epsilon"]))
                pi -= lr * gi / root
            elif self.kind == "adam":
                b1, b2 = hp["beta_1"], hp["beta_2"]
                alpha = lr * math.sqrt(1 - b2 ** self.t) / (1 - b1 ** self.t)
                self.s1[i] += (gi - self.s1[i]) * (1 - b1)
                self.s2[i] += (gi * gi - self.s2[i]) * (1 - b2)
                v = self.s2[i]
                if hp["amsgrad"]:
                    self.s3[i] = max(self.s3[i], v)
                    v = self.s3[i]
                pi -= self.s1[i] * alpha / (math.sqrt(v) + hp["epsilon"])
            out.append(pi)
        return out


VARIANTS = [
    ("sgd", dict(momentum=0.0, nesterov=False, weight_decay=0.0)),
    ("sgd", dict(momentum=0.9, nesterov=False, weight_decay=0.0)),
    ("sgd", dict(momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("rmsprop", dict(rho=0.9, momentum=0.0, epsilon=1e-7, centered=False, weight_decay=0.0)),
    ("rmsprop", dict(rho=0.8, momentum=0.5, epsilon=1e-7, centered=False, weight_decay=0.0)),
    ("rmsprop", dict(rho=0.9, momentum=0.0, epsilon=1e-7, centered=True, weight_decay=0.004)),
    ("rmsprop", dict(rho=0.9, momentum=0.9, epsilon=1e-7, centered=True, weight_decay=0.0)),
    ("rmsprop", dict(rho=0.9, momentum=0.0, epsilon=1e-2, centered=False, weight_decay=0.0, epsilon_outside=True)),
    ("rmsprop", dict(rho=0.9, momentum=0.0, epsilon=1e-2, centered=True, weight_decay=0.0, epsilon_outside=True)),
    ("adagrad", dict(epsilon=1e-7, weight_decay=0.0)),
    ("adagrad", dict(epsilon=1e-7, weight_decay=0.01)),
    ("adagrad", dict(epsilon=1e-2, weight_decay=0.0, epsilon_outside=True)),
    ("adam", dict(beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False, weight_decay=0.0)),
    ("adam", dict(beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False, weight_decay=0.004)),  # AdamW
    ("adam", dict(beta_1=0.8, beta_2=0.99, epsilon=1e-7, amsgrad=True, weight_decay=0.0)),
]
IDS = [f"{kind}-" + "-".join(f"{k}={v}" for k, v in hp.items() if k != "epsilon") for kind, hp in VARIANTS]


class Runner:
    """Holds p and the state arrays of one variant and applies twin or launcher steps."""

    def __init__(self, kind, hp, p0, move):
        self.kind, self.hp = kind, hp
        self.p = move(p0)
        zeros = lambda: move(np.zeros_like(p0))  # noqa: E731
        if kind == "sgd":
            self.state = [zeros() if hp["momentum"] else None]
        elif kind == "rmsprop":
            self.state = [zeros(), zeros() if hp["momentum"] > 0 else None, zeros() if hp["centered"] else None]
        elif kind == "adagrad":
            self.state = [zeros()]
        else:
            self.state = [zeros(), zeros(), zeros() if hp["amsgrad"] else None]

    def step(self, suffix, g, lr, t, scratch=None, move=None):
        hp = self.hp
        fn = getattr(opt, f"{self.kind}_update_{suffix}")
        extra = {} if scratch is None else {"scratch": scratch}
        if suffix == "cuda":
            # the launchers read lr, the 1-based step and the weight decay from the optimizer's device state
            state = move(np.array([t, lr, hp["weight_decay"]], dtype=np.float64))
            self.step_cuda(fn, g, state)
            return
        if self.kind == "sgd":
            fn(self.p, g, self.state[0], lr, hp["momentum"], hp["nesterov"], hp["weight_decay"], **extra)
        elif self.kind == "rmsprop":
            fn(self.p, g, *self.state, lr, hp["rho"], hp["momentum"], hp["epsilon"], hp["centered"],
               hp["weight_decay"], hp.get("epsilon_outside", False), **extra)
        elif self.kind == "adagrad":
            fn(self.p, g, self.state[0], lr, hp["epsilon"], hp["weight_decay"], hp.get("epsilon_outside", False),
               **extra)
        else:
            fn(self.p, g, *self.state, lr, hp["beta_1"], hp["beta_2"], hp["epsilon"], t, hp["weight_decay"],
               **extra)


    def step_cuda(self, fn, g, state):
        hp = self.hp
        if self.kind == "sgd":
            fn(self.p, g, self.state[0], state, hp["momentum"], hp["nesterov"])
        elif self.kind == "rmsprop":
            fn(self.p, g, *self.state, state, hp["rho"], hp["momentum"], hp["epsilon"], hp["centered"],
               hp.get("epsilon_outside", False))
        elif self.kind == "adagrad":
            fn(self.p, g, self.state[0], state, hp["epsilon"], hp.get("epsilon_outside", False))
        else:
            fn(self.p, g, *self.state, state, hp["beta_1"], hp["beta_2"], hp["epsilon"])


def gradients(rng, dtype):
    return [rng.standard_normal(N).astype(dtype) for _ in range(STEPS)]


LRS = [0.1, 0.05, 0.05, 0.02]  # a schedule: the caller passes the current lr each step


@pytest.mark.parametrize("kind,hp", VARIANTS, ids=IDS)
def test_twin_matches_keras_rules(kind, hp, rng):
    p0 = rng.standard_normal(N)
    grads = gradients(rng, np.float64)
    twin = Runner(kind, hp, p0, np.copy)
    twin_with_scratch = Runner(kind, hp, p0, np.copy)
    ref = Reference(kind, N, **hp)
    p_ref = list(p0)
    for t, (g, lr) in enumerate(zip(grads, LRS), start=1):
        twin.step("numpy", g, lr, t)
        twin_with_scratch.step("numpy", g, lr, t, scratch=np.empty(N))
        p_ref = ref.step(p_ref, list(g), lr)
    np.testing.assert_allclose(twin.p, p_ref, rtol=1e-12, atol=1e-13)
    np.testing.assert_array_equal(twin_with_scratch.p, twin.p)


@pytest.mark.parametrize("kind,hp", VARIANTS, ids=IDS)
def test_twin_float32_stays_float32_and_close(kind, hp, rng):
    p0 = rng.standard_normal(N).astype(np.float32)
    grads = gradients(rng, np.float32)
    twin = Runner(kind, hp, p0, np.copy)
    ref = Reference(kind, N, **hp)
    p_ref = [float(v) for v in p0]
    for t, (g, lr) in enumerate(zip(grads, LRS), start=1):
        twin.step("numpy", g, lr, t)
        p_ref = ref.step(p_ref, [float(v) for v in g], lr)
    assert twin.p.dtype == np.float32
    np.testing.assert_allclose(twin.p, p_ref, rtol=2e-5, atol=2e-5)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("kind,hp", VARIANTS, ids=IDS)
def test_cuda_matches_twin(dev, kind, hp, dtype, rng):
    p0 = rng.standard_normal(N).astype(dtype)
    grads = gradients(rng, dtype)
    twin = Runner(kind, hp, p0, np.copy)
    gpu = Runner(kind, hp, p0, dev.to_device)
    for t, (g, lr) in enumerate(zip(grads[:2], LRS), start=1):  # two steps: state carries over
        twin.step("numpy", g, lr, t)
        gpu.step("cuda", dev.to_device(g), lr, t, move=dev.to_device)
    assert_close(dev.to_host(gpu.p), twin.p, dtype, scale=10)
    for got, want in zip(gpu.state, twin.state):
        if want is not None:
            assert_close(dev.to_host(got), want, dtype, scale=10)


def test_cuda_launchers_reject_bad_arguments(dev):
    p = dev.to_device(np.zeros(5, np.float32))
    g = dev.to_device(np.zeros(5, np.float32))
    short = dev.to_device(np.zeros(4, np.float32))
    f64 = dev.to_device(np.zeros(5))
    state = dev.to_device(np.array([1.0, 0.1, 0.0]))
    cases = [
        (lambda: opt.sgd_update_cuda(p, short, None, state, 0.0, False), "g"),
        (lambda: opt.sgd_update_cuda(p, g, None, state, 0.9, False), "velocity"),
        (lambda: opt.sgd_update_cuda(dev.to_device(np.zeros((5, 1), np.float32)), g, None, state, 0.0, False),
         "p"),
        (lambda: opt.sgd_update_cuda(p, g, None, dev.to_device(np.zeros(3, np.float32)), 0.0, False), "state"),
        (lambda: opt.rmsprop_update_cuda(p, g, f64, None, None, state, 0.9, 0.0, 1e-7, False), "ms"),
        (lambda: opt.rmsprop_update_cuda(p, g, g, None, None, state, 0.9, 0.0, 1e-7, True), "mg"),
        (lambda: opt.adagrad_update_cuda(p, g, short, state, 1e-7), "acc"),
        (lambda: opt.adam_update_cuda(p, g, g, short, None, state, 0.9, 0.999, 1e-7), "v"),
        (lambda: opt.adam_update_cuda(p, g, g, g, f64, state, 0.9, 0.999, 1e-7), "vhat"),
        (lambda: opt.adam_update_cuda(p, g, g, g, None, dev.to_device(np.zeros(2)), 0.9, 0.999, 1e-7), "state"),
        (lambda: opt.adam_update_cuda(dev.to_device(np.zeros(5, np.int32)), g, g, g, None, state, 0.9, 0.999,
                                      1e-7), "p"),
    ]
    for call, name in cases:
        with pytest.raises(ValueError, match=name):
            call()
