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

TF32: with TF32 matmuls on (``gpunn.ops.tf32``), a GPU contender's float32 matmuls round both inputs to 10
mantissa bits. Each product then carries a relative error up to 2^-11 per input, and a K-long dot product
accumulates it like a random walk: about sqrt(K) * 2^-11 of its terms' scale. Two things follow:

* the loss moves by up to that much: its tolerance is sqrt(K) * 2^-11 for the step's longest dot product
  (``longest_dot_product``), never tighter than float32's;
* pre-activations move by ~2^-11 of their scale instead of ~2^-24, so thousands of times more hidden units
  sit on the other side of a ReLU kink than in float32, and each flip changes a gradient column by one
  sample's share. Element tolerances would reject a correct TF32 step (on a NumPy emulation of TF32, a
  quarter of one array's elements off by more than sqrt(K) * 2^-11 of its largest value), so gradients are
  compared by norm: ||g - g_ref|| <= (sqrt(K) * 2^-11 + TF32_KINK_ALLOWANCE) * ||g_ref|| per array. The
  emulation stays under 6% on every preset and batch tried (the worst at batch 8), hence 10%. A gradient
  off by a constant factor of 10% or more still fails; finer errors hide in TF32's own.

Parameters keep their checks, since Adam's first step depends on the gradient's sign only: elements whose
reference gradient exceeds a tenth of its array's largest (where no flip reaches) must move by lr within 2%,
all of them by at most 2·lr. Each verdict records the tolerances it used (``Tolerances``).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

LOSS_TOL = 1e-4
GRAD_TOL = 1e-3
PARAM_TOL = 0.02          # in units of the learning rate, where the update is well determined
PARAM_BOUND = 2.02        # in units of the learning rate, everywhere
MISMATCH_FRACTION = 0.01  # of each array's elements, for units at a ReLU kink
TF32_UNIT_ROUNDOFF = 2.0 ** -11  # TF32 keeps 10 mantissa bits
TF32_KINK_ALLOWANCE = 0.10       # norm-wise, for hidden units flipped at a ReLU kink by TF32's rounding
TF32_CLEAR = 0.10                # of an array's largest gradient: above it a TF32 step's sign is settled


@dataclass(frozen=True)
class Tolerances:
    """How close a contender must come to the reference (see the module notes for each figure)."""

    name: str                   # 'float32' or 'tf32'
    loss: float                 # relative to max(1, |loss|)
    grad: float                 # 'element': of each array's largest reference magnitude; 'norm': of its norm
    grad_measure: str = "element"
    clear: float = 10 * GRAD_TOL  # of an array's largest gradient: above it the update must match within param
    param: float = PARAM_TOL
    param_bound: float = PARAM_BOUND
    mismatch_fraction: float = MISMATCH_FRACTION
    dot_length: int | None = None  # TF32: the longest dot product of the step, K in the bound

    def to_dict(self) -> dict:
        return asdict(self)


FLOAT32 = Tolerances("float32", LOSS_TOL, GRAD_TOL)


def longest_dot_product(layers, batch: int) -> int:
    """K of the longest dot product in one training step of a Dense MLP.

    Forward ``x @ W`` sums over a layer's inputs, the input gradient ``dz @ W.T`` over its outputs and the
    kernel gradient ``x.T @ dz`` over the batch.
    """
    return int(max(max(layers), batch))


def tf32_tolerances(layers, batch: int) -> Tolerances:
    """The tolerances for a step with TF32 matmuls (see the module notes): sqrt(K) * 2^-11 for the longest dot
    product K on the loss, that plus the kink allowance norm-wise on the gradients."""
    k = longest_dot_product(layers, batch)
    rounding = math.sqrt(k) * TF32_UNIT_ROUNDOFF
    return Tolerances("tf32", loss=max(LOSS_TOL, rounding), grad=rounding + TF32_KINK_ALLOWANCE,
                      grad_measure="norm", clear=TF32_CLEAR, dot_length=k)


def tolerances_for(device: str, layers, batch: int, tf32: bool) -> Tolerances:
    """The tolerances a contender on ``device`` is held to: TF32's for GPU float32 matmuls with TF32 on."""
    if tf32 and device.startswith("cuda"):
        return tf32_tolerances(layers, batch)
    return FLOAT32


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
    grad_error: float           # max over arrays of max|g - g_ref| / max|g_ref| (kink units included);
                                # with norm-wise tolerances, of ||g - g_ref|| / ||g_ref||
    param_error: float          # max |p - p_ref| / lr over the well-determined elements (kink units included)
    mismatch_fraction: float    # largest share of an array's elements outside the element tolerances
    checked_fraction: float     # share of parameters whose update is well determined
    message: str = ""
    tolerance: Tolerances = FLOAT32

    def to_dict(self) -> dict:
        return asdict(self)


def compare(reference: Snapshot, got: Snapshot, learning_rate: float, epsilon: float, beta_2: float,
            tolerances: Tolerances = FLOAT32) -> Verdict:
    tol = tolerances
    problems = []
    loss_error = abs(got.loss - reference.loss)
    if not np.isfinite(got.loss) or loss_error > tol.loss * max(1.0, abs(reference.loss)):
        problems.append(f"loss {got.loss:.6g} vs reference {reference.loss:.6g}")
    if len(got.grads) != len(reference.grads) or len(got.params) != len(reference.params):
        return Verdict(False, loss_error, np.inf, np.inf, 1.0, 0.0, "different number of weight arrays", tol)

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
        p_off = np.abs(p.astype(np.float64) - p_ref) / learning_rate
        rounding = 4 * np.finfo(np.float32).eps * np.abs(p_ref) / learning_rate
        clear = np.abs(g_ref) > max(tol.clear * scale, eps_floor)
        if clear.any():
            param_error = max(param_error, float(np.max((p_off - rounding)[clear])))
        checked += int(clear.sum())
        total += clear.size
        missed = clear & (p_off > tol.param + rounding)
        if tol.grad_measure == "norm":
            g_norm = _norm_error(g, g_ref)
            grad_error = max(grad_error, g_norm)
            if g_norm > tol.grad:
                problems.append(f"weight {i}: gradient off by {g_norm:.2e} of its norm (tolerance {tol.grad:.2e})")
        else:
            grad_error = max(grad_error, float(g_off.max()))
            missed |= g_off > tol.grad
        fraction = float(missed.mean())
        worst_fraction = max(worst_fraction, fraction)
        if fraction > tol.mismatch_fraction:
            problems.append(f"weight {i}: {fraction:.1%} of the elements off (gradient up to {g_off.max():.2e} of "
                            f"its largest value, parameters after the update up to {p_off.max():.3g}·lr)")
        elif np.any(p_off > tol.param_bound + rounding):
            problems.append(f"weight {i}: parameters after the update off by up to {p_off.max():.3g}·lr")
    return Verdict(not problems, loss_error, grad_error, param_error, worst_fraction, checked / max(total, 1),
                   "; ".join(problems), tol)


def _norm_error(got: np.ndarray, reference: np.ndarray) -> float:
    """||got - reference|| / ||reference|| in float64 (an all-zero reference: the absolute norm)."""
    diff = np.linalg.norm((got.astype(np.float64) - reference).ravel())
    ref = np.linalg.norm(reference.astype(np.float64).ravel())
    return float(diff / ref) if ref > 0 else float(diff)
