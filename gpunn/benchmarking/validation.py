"""Before a contender is timed, it must compute what the NumPy backend computes.

Every contender starts from the same initial weights and takes one training step on the same batch; its
loss, its gradients and its parameters after the Adam update are compared with the NumPy backend's
(float32 throughout, so the tolerances allow for summation order, not for different math):

* loss: within 1e-4, relative to max(1, |loss|);
* gradients: each array within 1e-3 of its largest reference magnitude;
* parameters: Adam's first step moves each parameter by about ``lr · sign(g)``. Where the reference
  gradient is well clear of rounding noise and of epsilon, the two updates must agree within 2% of ``lr``;
  elsewhere (gradients near zero, where the sign or epsilon's placement can differ) the parameters must
  still agree within the largest possible step, 2·lr.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

LOSS_TOL = 1e-4
GRAD_TOL = 1e-3
PARAM_TOL = 0.02       # in units of the learning rate, where the update is well determined
PARAM_BOUND = 2.02     # in units of the learning rate, everywhere


class ValidationError(Exception):
    """A contender's step does not compute what the NumPy reference computes."""


@dataclass
class Snapshot:
    """A contender's state after one step, on the host, in Keras's layout ([kernel, bias] per layer)."""

    loss: float
    grads: list
    params: list


@dataclass
class Verdict:
    ok: bool
    loss_error: float        # |loss - reference|
    grad_error: float        # max over arrays of max|g - g_ref| / max|g_ref|
    param_error: float       # max |p - p_ref| / lr over the well-determined elements
    checked_fraction: float  # share of parameters whose update is well determined
    message: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def compare(reference: Snapshot, got: Snapshot, learning_rate: float, epsilon: float, beta_2: float) -> Verdict:
    problems = []
    loss_error = abs(got.loss - reference.loss)
    if not np.isfinite(got.loss) or loss_error > LOSS_TOL * max(1.0, abs(reference.loss)):
        problems.append(f"loss {got.loss:.6g} vs reference {reference.loss:.6g}")
    if len(got.grads) != len(reference.grads) or len(got.params) != len(reference.params):
        return Verdict(False, loss_error, np.inf, np.inf, 0.0, "different number of weight arrays")

    grad_error, param_error, checked, total = 0.0, 0.0, 0, 0
    # Below this |g| Adam's step depends on epsilon (added to sqrt(v) by Keras, to sqrt(v_hat) by PyTorch).
    eps_floor = 100 * epsilon / np.sqrt(1.0 - beta_2)
    for i, (g_ref, g, p_ref, p) in enumerate(zip(reference.grads, got.grads, reference.params, got.params)):
        if g.shape != g_ref.shape or p.shape != p_ref.shape:
            problems.append(f"weight {i}: shape {g.shape} vs reference {g_ref.shape}")
            continue
        scale = float(np.max(np.abs(g_ref))) or 1.0
        err = float(np.max(np.abs(g - g_ref))) / scale
        grad_error = max(grad_error, err)
        if not np.all(np.isfinite(g)) or err > GRAD_TOL:
            problems.append(f"weight {i}: gradient off by {err:.2e} of its largest value")
        diff = np.abs(p.astype(np.float64) - p_ref) / learning_rate
        rounding = 4 * np.finfo(np.float32).eps * np.abs(p_ref) / learning_rate
        clear = np.abs(g_ref) > max(10 * GRAD_TOL * scale, eps_floor)
        if clear.any():
            param_error = max(param_error, float(np.max((diff - rounding)[clear])))
        checked += int(clear.sum())
        total += clear.size
        if not np.all(np.isfinite(p)) or np.any(diff[clear] > PARAM_TOL + rounding[clear]) \
                or np.any(diff > PARAM_BOUND + rounding):
            problems.append(f"weight {i}: parameters after the update off by up to {float(diff.max()):.3g}·lr")
    return Verdict(not problems, loss_error, grad_error, param_error, checked / max(total, 1), "; ".join(problems))
