"""bench/gpu_smoke.py, the first stage of a GPU visit: without a GPU it skips every check quickly and says so;
its comparison logic is exercised here with the NumPy twins standing in for the CUDA launchers (which proves
the checks catch a wrong result, not that a GPU passes them)."""
import importlib.util
import json
import os
import subprocess
import sys
import time
import types
from pathlib import Path

import numpy as np
import pytest

from gpunn import _compat

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "bench" / "gpu_smoke.py"


def load_smoke():
    spec = importlib.util.spec_from_file_location("gpu_smoke", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


smoke = load_smoke()
CHECK_NAMES = [name for name, _ in smoke.CHECKS]


def run_smoke(*args):
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}  # as a visit runs it
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    start = time.perf_counter()
    result = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, env=env,
                            cwd=REPO, timeout=120)
    return result, time.perf_counter() - start


needs_no_gpu = pytest.mark.skipif(_compat.cuda_driver_device_count() > 0, reason="a GPU is visible here")


@needs_no_gpu
def test_without_a_gpu_every_check_skips_quickly(tmp_path):
    status_file = tmp_path / "status.json"
    result, seconds = run_smoke("--status-file", str(status_file))
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "== toolchain" and any(line.startswith("nvvm: ") for line in lines)
    for name in CHECK_NAMES:
        assert any(line.startswith(f"SKIP {name}: no GPU") for line in lines), name
    assert not any(line.startswith(("PASS", "FAIL")) for line in lines)
    assert f"== 0 passed, 0 failed, {len(CHECK_NAMES)} skipped" in lines
    status = json.loads(status_file.read_text())
    assert status["gpu"] is False and status["kernel_launch"] is False
    assert status["passed"] == [] and status["failed"] == [] and status["skipped"] == CHECK_NAMES
    assert isinstance(status["toolchain"], dict) and "nvvm" in status["toolchain"]
    assert seconds < 30, seconds


@needs_no_gpu
def test_require_gpu_makes_a_missing_gpu_a_failure():
    result, _ = run_smoke("--require-gpu")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "FAIL cupy_device" in result.stdout and "--require-gpu, but there is no GPU" in result.stdout
    assert "SKIP kernel_launch: no GPU" in result.stdout  # the others still run (and skip)


# ---------------------------------------------------------------- the checks with NumPy standing in

HOST_CHECKS = ["cupy_matmul", "kernel_launch", "bias_act", "softmax_xent", "sigmoid_bce", "dropout", "adam_update",
               "fit"]


def host_env(kernels=None):
    return smoke.SmokeEnv(smoke.Device.host(), kernels or smoke.twin_kernels(), backend="numpy")


@pytest.mark.parametrize("name", HOST_CHECKS)
def test_checks_pass_when_the_stand_in_agrees(name):
    dict(smoke.CHECKS)[name](host_env())


@pytest.mark.skipif(not _compat.cuda_simulator_enabled(), reason="the simulator is off (a GPU is visible)")
@pytest.mark.parametrize("name", ["kernel_launch", "bias_act", "softmax_xent", "sigmoid_bce", "dropout",
                                  "adam_update"])
def test_checks_drive_the_cuda_launchers_on_the_simulator(name, monkeypatch):
    """The checks call the real ``*_cuda`` launchers with the right arguments (run here by Numba's simulator,
    which takes NumPy arrays; the GPU is what the visit adds)."""
    monkeypatch.setattr(smoke, "BIAS_ACT_CASES", ((7, 13, "gelu"), (130, 5, "elu")))  # 130 rows: atomic dbias
    monkeypatch.setattr(smoke, "XENT_SHAPE", (5, 11))  # the simulator runs every thread in Python
    dict(smoke.CHECKS)[name](host_env(smoke.cuda_kernels()))


@pytest.mark.parametrize("name", ["cupy_device", "gpunn_matmul", "graph_fit", "tf32", "nccl"])
def test_gpu_only_checks_skip_on_the_stand_in(name):
    with pytest.raises(smoke.Skip):
        dict(smoke.CHECKS)[name](host_env())


def nudged(fn, output_index, amount=1e-3):
    """``fn``, with its ``output_index``-th argument (an output array) moved by ``amount`` afterwards."""
    def wrong(*args, **kwargs):
        result = fn(*args, **kwargs)
        args[output_index][...] += np.asarray(amount, args[output_index].dtype)
        return result
    return wrong


def broken_kernels(**changes):
    kernels = vars(smoke.twin_kernels()).copy()
    kernels.update(changes)
    return types.SimpleNamespace(**kernels)


TWINS = smoke.twin_kernels()


@pytest.mark.parametrize("name,kernels", [
    ("kernel_launch", broken_kernels(bias_act_forward=nudged(TWINS.bias_act_forward, 3))),
    ("bias_act", broken_kernels(act_backward=nudged(TWINS.act_backward, 5))),  # dbias only
    ("softmax_xent", broken_kernels(softmax=nudged(TWINS.softmax, 1))),
    ("sigmoid_bce", broken_kernels(sigmoid_bce=nudged(TWINS.sigmoid_bce, 4))),  # the loss only
    ("dropout", broken_kernels(dropout_forward=nudged(TWINS.dropout_forward, 5, amount=1))),  # the mask only
    ("adam_update", broken_kernels(adam_update=nudged(TWINS.adam_update, 3, amount=1e-4))),  # v only
])
def test_checks_catch_a_wrong_kernel(name, kernels):
    with pytest.raises(AssertionError):
        dict(smoke.CHECKS)[name](host_env(kernels))


def test_matmul_check_catches_a_wrong_product():
    class SloppyNumpy:
        def __getattr__(self, name):
            return getattr(np, name)

        @staticmethod
        def matmul(a, b):
            return (a @ b) * np.float32(1.001)

    device = smoke.Device(SloppyNumpy(), np.array, np.asarray, lambda: None, "numpy")
    with pytest.raises(AssertionError):
        smoke.check_cupy_matmul(smoke.SmokeEnv(device, smoke.twin_kernels(), "numpy"))


def test_fit_comparison_catches_diverging_weights():
    start, weights, losses = smoke.fit_small_model("numpy")
    assert len(weights) == 4 and len(losses) == 1 and np.isfinite(losses).all()
    _, again, again_losses = smoke.fit_small_model("numpy", initial_weights=start)
    smoke.assert_fits_agree(again, again_losses, weights, losses)
    _, replayed, replayed_losses = smoke.fit_small_model("numpy", initial_weights=start, jit_compile=True)
    smoke.assert_fits_agree(replayed, replayed_losses, weights, losses)  # graph_fit's comparison, replayed
    moved = [w.copy() for w in weights]
    moved[2] += 0.01
    with pytest.raises(AssertionError):
        smoke.assert_fits_agree(moved, losses, weights, losses)
    with pytest.raises(AssertionError):
        smoke.assert_fits_agree(weights, [losses[0] * 1.1], weights, losses)


def test_tf32_verdict():
    smoke.assert_tf32_effect(3e-7, 4e-4)  # off at float32's precision, on at TF32's
    for off, on in ((3e-7, 3e-7), (5e-5, 4e-4), (3e-7, 0.5)):  # TF32 unused; off too coarse; on nonsense
        with pytest.raises(AssertionError):
            smoke.assert_tf32_effect(off, on)


def test_tf32_errors_on_numpy_are_both_float32_level():
    off, on = smoke.tf32_matmul_errors(np, np.asarray, np.asarray, n=128)
    assert off < smoke.TF32_OFF_MAX and on < smoke.TF32_OFF_MAX  # NumPy has no TF32: the verdict would fail


# ---------------------------------------------------------------- reporting


def test_a_failing_check_prints_its_traceback_and_the_run_goes_on():
    lines = []

    def explode(env):
        raise ValueError("boom")

    results = smoke.Results()
    smoke.run_check("first", explode, host_env(), results, out=lines.append)
    smoke.run_check("second", lambda env: "fine", host_env(), results, out=lines.append)
    smoke.run_check("third", lambda env: (_ for _ in ()).throw(smoke.Skip("not here")), host_env(), results,
                    out=lines.append)
    assert lines[0] == "FAIL first" and "Traceback" in lines[1] and "ValueError: boom" in lines[1]
    assert lines[2].startswith("PASS second (") and lines[2].endswith(": fine")
    assert lines[3] == "SKIP third: not here"
    assert (results.passed, results.failed, results.skipped) == (["second"], ["first"], ["third"])


def test_a_failed_kernel_launch_prints_the_toolchain_diagnosis():
    report = {"driver": {"cuda_version": "13.0"}, "nvvm": {"release": "13.5", "ptx_isa": "9.5"},
              "nvjitlink": {"error": "not installed"}, "linker": {"backend": "driver (cuLink)"},
              "numba_cuda": {}, "system_toolkits": [], "problems": []}

    def link_fails(env):
        raise RuntimeError("[222] Call to cuLinkAddData results in CUDA_ERROR_UNSUPPORTED_PTX_VERSION\n"
                           "ptxas application ptx input, line 9; fatal   : Unsupported .version 9.5; "
                           "current version is '9.0'")

    lines, results = [], smoke.Results()
    smoke.run_check("kernel_launch", link_fails, host_env(), results, report, out=lines.append)
    diagnosis = lines[-1]
    assert diagnosis.startswith("diagnosis: driver_too_old_for_ptx") and "nvidia-nvjitlink==13.5.*" in diagnosis
    status = smoke.status(results, host_env(), report)
    assert status["kernel_launch"] is False and status["failed"] == ["kernel_launch"] and status["gpu"] is False
