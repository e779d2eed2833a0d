"""Before a contender is timed, it must compute what the NumPy backend computes.

Every contender starts from the same initial weights and takes one training step on the same batch; its
loss, its gradients and its parameters after the Adam update are compared with the NumPy backend's
(float32 throughout, so the tolerances allow for summation order, not for different math):

* loss: within 1e-4, relative to max(1, |loss|);
* gradients: each element within 1e-3 of its array's largest reference magnitude;
* parameters: Adam's first step moves each parameter by about ``lr · sign(g)``. Where the reference
  gradient is well clear of rounding noise and of epsilon, the two updates must agree within 2% of ``lr``;
  everywhere (gradients near zero, where the sign or epsilon's placement can differ) they must still agree
  within the largest possible step, 2·lr.

ReLU kinks: a hidden unit whose pre-activation lies within rounding of zero for some sample can be on in
one library and off in the other. That changes the gradient of that unit (a column of its kernel, one bias
entry) for real, by a sample's share. Such units are rare (about one per million pre-activations), so up to
1% of each array's elements may miss the element tolerances above; a wrong computation misses on most of
them. Where a small layer makes one such unit more than 1%, the caller retries on another batch (runner.py).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

LOSS_TOL = 1e-4
GRAD_TOL = 1e-3
PARAM_TOL = 0.02          # in units of the learning rate, where the update is well determined
PARAM_BOUND = 2.02        # in units of the learning rate, everywhere
MISMATCH_FRACTION = 0.01  # of each array's elements, for units at a ReLU kink


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
    loss_error: float           # |loss - reference|
    grad_error: float           # max over arrays of max|g - g_ref| / max|g_ref| (kink units included)
    param_error: float          # max |p - p_ref| / lr over the well-determined elements (kink units included)
    mismatch_fraction: float    # largest share of an array's elements outside the element tolerances
    checked_fraction: float     # share of parameters whose update is well determined
    message: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def compare(reference: Snapshot, got: Snapshot, learning_rate: float, epsilon: float, beta_2: float) -> Verdict:
    problems = []
    loss_error = abs(got.loss - reference.loss)
    if not np.isfinite(got.loss) or loss_error > LOSS_TOL * max(1.0, abs(reference.loss)):
        problems.append(f"loss {got.loss:.6g} vs reference {reference.loss:.6g}")
    if len(got.grads) != len(reference.grads) or len(got.params) != len(reference.params):
        return Verdict(False, loss_error, np.inf, np.inf, 1.0, 0.0, "different number of weight arrays")

    grad_error = param_error = worst_fraction = 0.0
    checked = total = 0
    # Below this |g| Adam's step depends on epsilon (added to sqrt(v) by Keras, to sqrt(v_hat) by PyTorch).
    eps_floor = 100 * epsilon / np.sqrt(1.0 - beta_2)
    for i, (g_ref, g, p_ref, p) in enumerate(zip(reference.grads, got.grads, reference.params, got.params)):
        if g.shape != g_ref.shape or p.shape != p_ref.shape:
            problems.append(f"weight {i}: shape {g.shape} vs reference {g_ref.shape}")
            continue
        if not (np.all(np.isfinite(g)) and np.all(np.isfinite(p))):
            problems.append(f"weight {i}: non-finite values")
            continue
        scale = float(np.max(np.abs(g_ref))) or 1.0
        g_off = np.abs(g - g_ref) / scale
        grad_error = max(grad_error, float(g_off.max()))
        p_off = np.abs(p.astype(np.float64) - p_ref) / learning_rate
        rounding = 4 * np.finfo(np.float32).eps * np.abs(p_ref) / learning_rate
        clear = np.abs(g_ref) > max(10 * GRAD_TOL * scale, eps_floor)
        if clear.any():
            param_error = max(param_error, float(np.max((p_off - rounding)[clear])))
        checked += int(clear.sum())
        total += clear.size
        missed = (g_off > GRAD_TOL) | (clear & (p_off > PARAM_TOL + rounding))
        fraction = float(missed.mean())
        worst_fraction = max(worst_fraction, fraction)
        if fraction > MISMATCH_FRACTION:
            problems.append(f"weight {i}: {fraction:.1%} of the elements off (gradient up to {g_off.max():.2e} of "
                            f"its largest value, parameters after the update up to {p_off.max():.3g}·lr)")
        elif np.any(p_off > PARAM_BOUND + rounding):
            problems.append(f"weight {i}: parameters after the update off by up to {p_off.max():.3g}·lr")
    return Verdict(not problems, loss_error, grad_error, param_error, worst_fraction, checked / max(total, 1),
                   "; ".join(problems))
