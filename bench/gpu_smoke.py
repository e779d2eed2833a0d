"""First stage of a GPU visit: the CUDA toolchain report, then small checks of gpunn's GPU path.

    python bench/gpu_smoke.py [--status-file PATH] [--require-gpu] [--preload LIBRARY]...

Prints the report of gpunn.toolchain first (driver, CUDA runtimes, NVVM, nvJitLink, the PTX versions they
emit and read), then each check as ``PASS name (seconds)``, ``FAIL name`` with the full traceback, or
``SKIP name: reason``, and goes on after a failure. A failed kernel launch also prints what the toolchain
report makes of the error (``diagnose_link_error``). The checks, in order:

    cupy_device     CuPy imports and sees a GPU
    cupy_matmul     a float32 matmul agrees with NumPy
    kernel_launch   the first gpunn kernel launch (compiles through NVVM, links, loads)
    bias_act, softmax_xent, sigmoid_bce, dropout, adam_update
                    one kernel of each family against its NumPy twin, on odd shapes
    fit             a few batches of a small Dense model on 'cupy' agree with 'numpy' from the same weights
    tf32            TF32 on changes a float32 matmul by about TF32's precision, off keeps it at float32's
    nccl            a one-rank NCCL communicator's allreduce leaves an array as it was

Without a GPU every check is skipped (exit 0) unless --require-gpu makes that a failure; a driver that sees a
GPU which CuPy cannot use fails cupy_device. --preload loads a shared library first (a CUDA toolkit's libnvvm
or libnvJitLink to use instead of the wheels', see gpunn.toolchain.preload_library). --status-file writes
{"gpu", "kernel_launch", "passed", "failed", "skipped", ...} as JSON. Exit status: 0 when nothing failed.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
import traceback
import types
from pathlib import Path

import numpy as np

if importlib.util.find_spec("gpunn") is None:  # a checkout whose gpunn/kernels link gpu_visit.sh made
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gpunn import _compat, toolchain  # noqa: E402

KERNEL_RTOL, KERNEL_ATOL = 2e-5, 2e-6  # a few float32 ulps: FMA contraction may differ from NumPy's order
FIT_RTOL, FIT_ATOL = 2e-3, 2e-4  # a few steps of float32 training on two BLAS libraries
TF32_OFF_MAX, TF32_ON_MAX = 2e-5, 1e-2  # max error / max |product| of a 1024-deep float32 product
# (rows, columns, activation): 37 rows keep dbias in one block row ('store'); 333 rows split it over block rows
# added atomically; 3 columns leave most of a warp idle
BIAS_ACT_CASES = ((37, 45, "gelu"), (333, 45, "elu"), (61, 3, "relu"))
XENT_SHAPE = (29, 11)  # rows narrower than a block row's width: several rows per block


class Skip(Exception):
    """A check that cannot run here; the message says why."""


# ---------------------------------------------------------------- where the arrays live


class Device:
    """Arrays for the checks: ``xp`` (cupy or numpy), ``to_device``, ``to_host``, ``synchronize``.

    ``Device.gpu(cupy)`` is the real one; ``Device.host()`` stands in with NumPy so that the checks'
    comparison logic can be exercised without a GPU.
    """

    def __init__(self, xp, to_device, to_host, synchronize, name):
        self.xp, self.to_device, self.to_host, self.synchronize, self.name = xp, to_device, to_host, synchronize, name

    @classmethod
    def gpu(cls, cp) -> "Device":
        return cls(cp, cp.asarray, cp.asnumpy, lambda: cp.cuda.get_current_stream().synchronize(), "cupy")

    @classmethod
    def host(cls) -> "Device":
        return cls(np, lambda a: np.array(a, copy=True), np.asarray, lambda: None, "numpy")


def cuda_kernels() -> types.SimpleNamespace:
    """gpunn's CUDA launchers, under names shared with ``twin_kernels`` (same argument lists; the Adam twin is
    wrapped to read the optimizer's device state as the launcher does)."""
    from gpunn.kernels import bias_act, dropout, optimizer_updates, sigmoid_bce, softmax_xent

    return types.SimpleNamespace(
        bias_act_forward=bias_act.bias_act_forward_cuda, act_backward=bias_act.act_backward_bias_grad_cuda,
        softmax_xent=softmax_xent.softmax_xent_cuda, softmax=softmax_xent.softmax_cuda,
        sigmoid_bce=sigmoid_bce.sigmoid_bce_cuda, dropout_forward=dropout.dropout_forward_cuda,
        dropout_backward=dropout.dropout_backward_cuda, adam_update=optimizer_updates.adam_update_cuda)


def twin_kernels() -> types.SimpleNamespace:
    """The NumPy twins: the references, and the stand-ins when the checks are tested without a GPU."""
    from gpunn.kernels import bias_act, dropout, optimizer_updates, sigmoid_bce, softmax_xent

    return types.SimpleNamespace(
        bias_act_forward=bias_act.bias_act_forward_numpy, act_backward=bias_act.act_backward_bias_grad_numpy,
        softmax_xent=softmax_xent.softmax_xent_numpy, softmax=softmax_xent.softmax_numpy,
        sigmoid_bce=sigmoid_bce.sigmoid_bce_numpy, dropout_forward=dropout.dropout_forward_numpy,
        dropout_backward=dropout.dropout_backward_numpy, adam_update=_adam_twin_on_state)


def _adam_twin_on_state(p, g, m, v, vhat, state, beta_1, beta_2, epsilon):
    """The Adam twin called as the CUDA launcher is: with the optimizer's state (step, lr, weight decay)."""
    from gpunn.kernels import optimizer_updates

    step, lr, weight_decay = np.asarray(state)
    return optimizer_updates.adam_update_numpy(p, g, m, v, vhat, float(lr), beta_1, beta_2, epsilon, int(step),
                                               float(weight_decay))


class SmokeEnv:
    """What the checks run against: a device (None without a GPU, with the reason), its kernels and the
    backend name for the fit check."""

    def __init__(self, device: Device | None, kernels=None, backend: str = "cupy", no_gpu_reason: str = ""):
        self.device, self.kernels, self.backend, self.no_gpu_reason = device, kernels, backend, no_gpu_reason

    def require_device(self) -> Device:
        if self.device is None:
            raise Skip(f"no GPU ({self.no_gpu_reason})")
        return self.device

    def require_gpu(self):
        """CuPy itself, for the checks that only mean something on a GPU (TF32, NCCL)."""
        device = self.require_device()
        if device.name != "cupy":
            raise Skip("needs CuPy on a GPU")
        return device.xp


def assert_close(actual, expected, what, rtol=KERNEL_RTOL, atol=KERNEL_ATOL):
    np.testing.assert_allclose(np.asarray(actual, np.float64), np.asarray(expected, np.float64), rtol=rtol,
                               atol=atol, err_msg=what)


# ---------------------------------------------------------------- checks


def check_cupy_device(env: SmokeEnv) -> str:
    cp = env.require_gpu()
    props = cp.cuda.runtime.getDeviceProperties(cp.cuda.Device().id)
    return f"{props['name'].decode()}, compute capability {props['major']}.{props['minor']}"


def check_cupy_matmul(env: SmokeEnv) -> None:
    device = env.require_device()
    with tf32_set(False):
        rng = np.random.default_rng(1)
        a = rng.standard_normal((257, 129)).astype(np.float32)
        b = rng.standard_normal((129, 65)).astype(np.float32)
        got = device.to_host(device.xp.matmul(device.to_device(a), device.to_device(b)))
    expected = a.astype(np.float64) @ b.astype(np.float64)
    assert got.dtype == np.float32, got.dtype
    assert relative_error(got, expected) < TF32_OFF_MAX, relative_error(got, expected)


def relative_error(got, expected) -> float:
    """Largest absolute error relative to the largest magnitude of the reference."""
    expected = np.asarray(expected, np.float64)
    return float(np.max(np.abs(np.asarray(got, np.float64) - expected)) / max(np.max(np.abs(expected)), 1e-30))


def check_kernel_launch(env: SmokeEnv) -> None:
    """The first launch: numba-cuda compiles (NVVM), links (nvJitLink or the driver) and loads the kernel."""
    device = env.require_device()
    rng = np.random.default_rng(2)
    z = rng.standard_normal((5, 7)).astype(np.float32)
    bias = rng.standard_normal(7).astype(np.float32)
    zd, out = device.to_device(z), device.to_device(np.zeros_like(z))
    env.kernels.bias_act_forward(zd, device.to_device(bias), "relu", out)
    device.synchronize()
    expected_out = np.empty_like(z)
    expected_z = z.copy()
    twin_kernels().bias_act_forward(expected_z, bias, "relu", expected_out)
    assert_close(device.to_host(zd), expected_z, "z + bias")
    assert_close(device.to_host(out), expected_out, "relu(z + bias)")


def run_bias_act(kernels, move, back, activation, z, bias, dy):
    """Forward then backward (with dbias) through one set of kernels; host copies of z, out, dz, dbias."""
    zz, bb, dd = move(z), move(bias), move(dy)
    out = move(np.zeros_like(z))
    kernels.bias_act_forward(zz, bb, activation, out)
    dz = move(np.zeros_like(z))
    dbias = move(np.full(z.shape[1], 7.0, z.dtype))  # garbage that must be overwritten
    kernels.act_backward(dd, out, zz, activation, dz, dbias)
    return [back(a) for a in (zz, out, dz, dbias)]


def check_bias_act(env: SmokeEnv) -> None:
    device = env.require_device()
    rng = np.random.default_rng(3)
    for rows, cols, activation in BIAS_ACT_CASES:
        z = rng.standard_normal((rows, cols)).astype(np.float32)
        bias = rng.standard_normal(cols).astype(np.float32)
        dy = rng.standard_normal((rows, cols)).astype(np.float32)
        want = run_bias_act(twin_kernels(), np.copy, np.asarray, activation, z, bias, dy)
        got = run_bias_act(env.kernels, device.to_device, device.to_host, activation, z, bias, dy)
        for name, a, b in zip(("z", "out", "dz", "dbias"), got, want):
            # dbias sums a column over the rows: its rounding error grows like sqrt(rows)
            atol = KERNEL_ATOL * (np.sqrt(rows) if name == "dbias" else 1)
            assert_close(a, b, f"{activation} {rows}x{cols} {name}", atol=atol)


def run_softmax_xent(kernels, move, back, logits, labels, grad_scale):
    x = move(logits)
    probs, dlogits = move(np.zeros_like(logits)), move(np.zeros_like(logits))
    loss = move(np.zeros(logits.shape[0], logits.dtype))
    kernels.softmax_xent(x, move(labels), probs, dlogits, loss, grad_scale)
    soft = move(np.zeros_like(logits))
    kernels.softmax(x, soft)
    return [back(a) for a in (probs, dlogits, loss, soft)]


def check_softmax_xent(env: SmokeEnv) -> None:
    device = env.require_device()
    rng = np.random.default_rng(4)
    rows, cols = XENT_SHAPE
    logits = (rng.standard_normal((rows, cols)) * 3).astype(np.float32)
    sparse = rng.integers(0, cols, rows).astype(np.int64)
    dense = rng.random((rows, cols)).astype(np.float32)
    for labels, kind in ((sparse, "sparse"), (dense, "dense")):
        want = run_softmax_xent(twin_kernels(), np.copy, np.asarray, logits, labels, 1 / rows)
        got = run_softmax_xent(env.kernels, device.to_device, device.to_host, logits, labels, 1 / rows)
        for name, a, b in zip(("probs", "dlogits", "loss", "softmax"), got, want):
            assert_close(a, b, f"{kind} {name}")


def run_sigmoid_bce(kernels, move, back, logits, targets, grad_scale):
    probs, dlogits = move(np.zeros_like(logits)), move(np.zeros_like(logits))
    loss = move(np.zeros(logits.shape[0], logits.dtype))
    kernels.sigmoid_bce(move(logits), move(targets), probs, dlogits, loss, grad_scale)
    return [back(a) for a in (probs, dlogits, loss)]


def check_sigmoid_bce(env: SmokeEnv) -> None:
    device = env.require_device()
    rng = np.random.default_rng(5)
    logits = (rng.standard_normal((31, 7)) * 4).astype(np.float32)
    targets = (rng.random((31, 7)) > 0.5).astype(np.float32)
    want = run_sigmoid_bce(twin_kernels(), np.copy, np.asarray, logits, targets, 1 / 31)
    got = run_sigmoid_bce(env.kernels, device.to_device, device.to_host, logits, targets, 1 / 31)
    for name, a, b in zip(("probs", "dlogits", "loss"), got, want):
        assert_close(a, b, name)


def run_dropout(kernels, move, back, x, dy, rate, seed, counter):
    out, mask = move(np.zeros_like(x)), move(np.zeros(x.shape, np.uint8))
    # the layer's counter lives on the device (1-element int64), as in training
    kernels.dropout_forward(move(x), rate, seed, move(np.array([counter], np.int64)), out, mask)
    dx = move(np.zeros_like(dy))
    kernels.dropout_backward(move(dy), mask, rate, dx)
    return [back(a) for a in (out, mask, dx)]


def check_dropout(env: SmokeEnv) -> None:
    device = env.require_device()
    rng = np.random.default_rng(6)
    x = rng.standard_normal((23, 19)).astype(np.float32)
    dy = rng.standard_normal((23, 19)).astype(np.float32)
    args = (x, dy, 0.3, 2**40 + 5, 7)  # a seed past 32 bits: the key split must match the twin's
    want = run_dropout(twin_kernels(), np.copy, np.asarray, *args)
    got = run_dropout(env.kernels, device.to_device, device.to_host, *args)
    np.testing.assert_array_equal(got[1], want[1], err_msg="keep mask")
    assert_close(got[0], want[0], "out")
    assert_close(got[2], want[2], "dx")


def run_adam(kernels, move, back, p, grads, amsgrad):
    pp, m, v = move(p), move(np.zeros_like(p)), move(np.zeros_like(p))
    vhat = move(np.zeros_like(p)) if amsgrad else None
    for step, g in enumerate(grads, start=1):
        # the optimizer's device state: the 1-based step, the learning rate, the weight decay
        state = move(np.array([step, 1e-2, 0.0]))
        kernels.adam_update(pp, move(g), m, v, vhat, state, 0.9, 0.999, 1e-7)
    return [back(a) for a in (pp, m, v)]


def check_adam_update(env: SmokeEnv) -> None:
    device = env.require_device()
    rng = np.random.default_rng(7)
    p = rng.standard_normal(1001).astype(np.float32)
    grads = [rng.standard_normal(1001).astype(np.float32) for _ in range(3)]
    for amsgrad in (False, True):
        want = run_adam(twin_kernels(), np.copy, np.asarray, p, grads, amsgrad)
        got = run_adam(env.kernels, device.to_device, device.to_host, p, grads, amsgrad)
        for name, a, b in zip(("p", "m", "v"), got, want):
            assert_close(a, b, f"amsgrad={amsgrad} {name}")


def fit_small_model(backend: str, initial_weights=None, jit_compile=False):
    """Three batches of a 20-32-5 Dense model with Adam: (initial weights, weights after, losses)."""
    import gpunn
    from gpunn import layers

    rng = np.random.default_rng(8)
    x = rng.standard_normal((150, 20)).astype(np.float32)
    y = rng.integers(0, 5, 150)
    with gpunn.use_backend(backend):
        gpunn.utils.set_random_seed(9)
        model = gpunn.Sequential([gpunn.Input(shape=(20,)), layers.Dense(32, activation="relu"),
                                  layers.Dense(5, activation="softmax")])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", jit_compile=jit_compile)
        if initial_weights is not None:
            model.set_weights(initial_weights)
        start = [np.array(w) for w in model.get_weights()]
        history = model.fit(x, y, batch_size=50, epochs=1, shuffle=False, verbose=0)
        return start, [np.array(w) for w in model.get_weights()], history.history["loss"]


def check_fit(env: SmokeEnv) -> None:
    env.require_device()
    start, want, want_loss = fit_small_model("numpy")
    _, got, got_loss = fit_small_model(env.backend, initial_weights=start)
    assert_fits_agree(got, got_loss, want, want_loss)


def check_graph_fit(env: SmokeEnv) -> str:
    """The fit again with jit_compile=True: the step captured as CUDA graphs (a fallback to call-by-call
    replays fails here, with its reason) and replayed, training as the NumPy backend does."""
    import warnings

    env.require_gpu()
    from gpunn.trainer.train_step import GraphFallbackWarning

    start, want, want_loss = fit_small_model("numpy")
    with warnings.catch_warnings():
        warnings.simplefilter("error", GraphFallbackWarning)
        _, got, got_loss = fit_small_model(env.backend, initial_weights=start, jit_compile=True)
    assert_fits_agree(got, got_loss, want, want_loss)
    return "captured and replayed"


def check_gpunn_matmul(env: SmokeEnv) -> str:
    """gpunn's own cuBLAS calls (ctypes, the capture-legal matmul): a product against float64, TF32 off and
    on through its math mode, a .T operand without a copy."""
    cp = env.require_gpu()
    from gpunn.ops.cupy_ops import CupyOps

    ops = CupyOps()
    if ops._matmul_engine() is None:
        raise AssertionError("cuBLAS could not be opened with ctypes (gpunn.ops.cublas_matmul): no graph capture")
    rng = np.random.default_rng(12)
    a = rng.standard_normal((1024, 1024)).astype(np.float32)
    b = rng.standard_normal((1024, 1024)).astype(np.float32)
    errors = []
    for allow in (False, True):
        with tf32_set(allow):
            out = cp.empty((1024, 1024), dtype=cp.float32)
            ops.matmul(cp.asarray(a), cp.asarray(np.ascontiguousarray(b.T)).T, out=out)
            errors.append(relative_error(cp.asnumpy(out), a.astype(np.float64) @ b.astype(np.float64)))
    assert_tf32_effect(*errors)
    rates = gemm_rates(cp, ops)
    return (f"error off {errors[0]:.1e}, on {errors[1]:.1e}; 4096^3 float32 TFLOP/s, gpunn's cuBLAS / CuPy's: "
            + ", ".join(f"{mode} {mine:.1f} / {cupy_rate:.1f}" for mode, (mine, cupy_rate) in rates.items()))


def gemm_rates(cp, ops, n: int = 4096, repeats: int = 5) -> dict:
    """{"fp32"/"tf32": (TFLOP/s through gpunn's ctypes cuBLAS, through CuPy's matmul)} for an n^3 product:
    what choosing gpunn's own cuBLAS calls over CuPy's costs or gains, same device, same run."""
    a = cp.asarray(np.random.default_rng(13).standard_normal((n, n)).astype(np.float32))
    b, out = cp.asarray(a.T), cp.empty((n, n), dtype=cp.float32)
    start, stop = cp.cuda.Event(), cp.cuda.Event()
    rates = {}
    for mode, allow in (("fp32", False), ("tf32", True)):
        with tf32_set(allow):
            pair = []
            for product in (lambda: ops.matmul(a, b, out=out), lambda: cp.matmul(a, b, out=out)):
                product()  # warm-up (heuristics, workspace)
                start.record()
                for _ in range(repeats):
                    product()
                stop.record()
                stop.synchronize()
                seconds = cp.cuda.get_elapsed_time(start, stop) / 1e3 / repeats
                pair.append(2 * n ** 3 / seconds / 1e12)
            rates[mode] = tuple(pair)
    return rates


def assert_fits_agree(weights, losses, expected_weights, expected_losses) -> None:
    assert len(weights) == len(expected_weights), (len(weights), len(expected_weights))
    for i, (a, b) in enumerate(zip(weights, expected_weights)):
        assert_close(a, b, f"weight {i} after fitting", rtol=FIT_RTOL, atol=FIT_ATOL)
    assert_close(losses, expected_losses, "loss", rtol=FIT_RTOL, atol=FIT_ATOL)


class tf32_set:
    """``with tf32_set(flag):`` runs a block with gpunn's TF32 switch at ``flag`` (when gpunn has one), then
    restores it."""

    def __init__(self, allow: bool):
        self.allow = allow
        self.module = None

    def __enter__(self):
        try:
            from gpunn.ops import tf32
        except ImportError:  # a gpunn without the switch: CuPy's default (no TF32) applies
            return self
        self.module, self.before = tf32, tf32.tf32_enabled()
        tf32.set_tf32(self.allow)
        return self

    def __exit__(self, *exc):
        if self.module is not None:
            self.module.set_tf32(self.before)


def tf32_matmul_errors(xp, to_device, to_host, n: int = 1024) -> tuple[float, float]:
    """Relative error of a float32 (n, n) product against float64, with TF32 off and on."""
    rng = np.random.default_rng(10)
    a = rng.standard_normal((n, n)).astype(np.float32)
    b = rng.standard_normal((n, n)).astype(np.float32)
    expected = a.astype(np.float64) @ b.astype(np.float64)
    errors = []
    for allow in (False, True):
        with tf32_set(allow):
            errors.append(relative_error(to_host(xp.matmul(to_device(a), to_device(b))), expected))
    return errors[0], errors[1]


def assert_tf32_effect(error_off: float, error_on: float) -> None:
    """Off: float32's precision. On: clearly worse (TF32 keeps 10 mantissa bits), yet still a product."""
    assert error_off < TF32_OFF_MAX, f"TF32 off: error {error_off:.2e} is above float32's {TF32_OFF_MAX:.0e}"
    assert error_on > max(TF32_OFF_MAX, 8 * error_off), (
        f"TF32 on: error {error_on:.2e} is no worse than off ({error_off:.2e}): TF32 was not used")
    assert error_on < TF32_ON_MAX, f"TF32 on: error {error_on:.2e} is beyond TF32's precision"


def check_tf32(env: SmokeEnv) -> str:
    cp = env.require_gpu()
    if importlib.util.find_spec("gpunn.ops.tf32") is None:
        raise Skip("this gpunn has no TF32 switch (gpunn.ops.tf32)")
    error_off, error_on = tf32_matmul_errors(cp, cp.asarray, cp.asnumpy)
    assert_tf32_effect(error_off, error_on)
    return f"error off {error_off:.1e}, on {error_on:.1e}"


def check_nccl(env: SmokeEnv) -> str:
    cp = env.require_gpu()
    if _compat.nccl() is None:
        raise Skip("CuPy cannot load NCCL (nvidia-nccl-cu12 / nvidia-nccl-cu13 not installed)")
    from gpunn.distributed.nccl import NcclCommunicator

    comm = NcclCommunicator()
    try:
        x = cp.arange(17, dtype=cp.float32) * 0.5
        expected = cp.asnumpy(x)
        comm.allreduce_sum_(x)
        cp.cuda.get_current_stream().synchronize()
        np.testing.assert_array_equal(cp.asnumpy(x), expected)
    finally:
        destroy = getattr(comm.comm, "destroy", None)
        if destroy is not None:
            destroy()
    return f"NCCL {comm.nccl.get_version()}"


CHECKS = [
    ("cupy_device", check_cupy_device),
    ("cupy_matmul", check_cupy_matmul),
    ("kernel_launch", check_kernel_launch),
    ("bias_act", check_bias_act),
    ("softmax_xent", check_softmax_xent),
    ("sigmoid_bce", check_sigmoid_bce),
    ("dropout", check_dropout),
    ("adam_update", check_adam_update),
    ("fit", check_fit),
    ("gpunn_matmul", check_gpunn_matmul),
    ("graph_fit", check_graph_fit),
    ("tf32", check_tf32),
    ("nccl", check_nccl),
]
TOOLCHAIN_CHECKS = {"kernel_launch", "bias_act", "softmax_xent", "sigmoid_bce", "dropout", "adam_update", "fit",
                    "graph_fit"}


# ---------------------------------------------------------------- running them


class Results:
    def __init__(self):
        self.passed, self.failed, self.skipped = [], [], []
        self.reasons: dict[str, str] = {}
        self.seconds: dict[str, float] = {}


def run_check(name, check, env: SmokeEnv, results: Results, report: dict | None = None, out=print) -> None:
    """Run one check and print its line; a failure prints its traceback (and, for a kernel, the
    toolchain's diagnosis) and never stops the run."""
    start = time.perf_counter()
    try:
        note = check(env)
    except Skip as skip:
        results.skipped.append(name)
        results.reasons[name] = str(skip)
        out(f"SKIP {name}: {skip}")
        return
    except Exception as exc:
        results.failed.append(name)
        results.seconds[name] = time.perf_counter() - start
        out(f"FAIL {name}")
        out(traceback.format_exc().rstrip())
        if name in TOOLCHAIN_CHECKS and report is not None:
            diagnosis = toolchain.diagnose_link_error(exc, report)
            if name == "kernel_launch" or not diagnosis.startswith("diagnosis: unknown"):
                out(diagnosis)
        return
    results.seconds[name] = time.perf_counter() - start
    results.passed.append(name)
    out(f"PASS {name} ({results.seconds[name]:.2f} s)" + (f": {note}" if note else ""))


def gpu_env(require_gpu: bool) -> tuple[SmokeEnv, str | None]:
    """The environment of a real run, and why cupy_device must fail (None when a skip is right)."""
    cp = _compat.cupy()
    if cp is not None:
        return SmokeEnv(Device.gpu(cp), cuda_kernels(), "cupy"), None
    reason = _compat.cupy_unavailable_reason()
    env = SmokeEnv(None, no_gpu_reason=reason)
    driver_gpus = _compat.cuda_driver_device_count()
    if driver_gpus > 0 and not _compat.cuda_simulator_enabled():
        return env, f"the driver sees {driver_gpus} GPU(s) but CuPy cannot use them: {reason}"
    if require_gpu:
        return env, f"--require-gpu, but there is no GPU: {reason}"
    return env, None


def run_all(env: SmokeEnv, report: dict | None, device_problem: str | None = None, out=print) -> Results:
    results = Results()
    for name, check in CHECKS:
        if name == "cupy_device" and device_problem:
            check = _failing(device_problem)
        run_check(name, check, env, results, report, out)
    return results


def _failing(message: str):
    def check(env):
        raise RuntimeError(message)
    return check


def status(results: Results, env: SmokeEnv, report: dict | None) -> dict:
    return {
        "gpu": env.device is not None and env.device.name == "cupy",
        "kernel_launch": "kernel_launch" in results.passed,
        "passed": results.passed,
        "failed": results.failed,
        "skipped": results.skipped,
        "skip_reasons": results.reasons,
        "seconds": {k: round(v, 3) for k, v in results.seconds.items()},
        "toolchain_problems": (report or {}).get("problems", []),
        "toolchain": report,
    }


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--status-file", help="write the outcome as JSON here")
    parser.add_argument("--require-gpu", action="store_true", help="fail, rather than skip, without a GPU")
    parser.add_argument("--preload", action="append", default=[], metavar="LIBRARY",
                        help="load this shared library first (e.g. a CUDA toolkit's libnvvm.so)")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    for library in args.preload:
        print(f"preloaded {toolchain.preload_library(library)}")
    report = toolchain.toolchain_report()
    print("== toolchain")
    for line in toolchain.report_lines(report):
        print(line)
    print("== checks")
    env, device_problem = gpu_env(args.require_gpu)
    results = run_all(env, report, device_problem)
    print(f"== {len(results.passed)} passed, {len(results.failed)} failed, {len(results.skipped)} skipped")
    if args.status_file:
        Path(args.status_file).write_text(json.dumps(status(results, env, report), indent=2, default=str))
    return 1 if results.failed else 0


if __name__ == "__main__":
    sys.exit(main())
