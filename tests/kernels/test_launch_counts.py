"""The host work of one launch, counted: a repeated launch with the same arrays converts no array, wraps no
stream, configures no kernel, looks no kernel variant up and builds no dtype name; it reaches numba-cuda once.

Counted with the real numba-cuda, which imports without a GPU: this file, run as a script with
NUMBA_ENABLE_CUDASIM unset, drives every CUDA launcher on host-only CuPy-style arrays (made-up device
pointers, never touched) with numba-cuda's ``CUDADispatcher.call`` (typing, marshalling, the driver launch)
replaced by a counter, and prints the counts of the first and of a repeated launch of each case as JSON:

    python tests/kernels/test_launch_counts.py

The test runs it in a subprocess, since the test session itself runs on the simulator.
"""
from __future__ import annotations

import collections
import json
import math
import os
import subprocess
import sys
import types
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
GPUNN_DIRS = (str(REPO / "gpunn"), str(REPO / "kernels"))  # the package and its kernels (gpunn.kernels)
STREAM_PTR = 0x5EED
CYCLE_LAUNCHES = 160
CYCLE = f"{CYCLE_LAUNCHES} configurations in a cycle"
# Functions of the scalar arguments, which change from call to call (dropout's mask keys, Adam's step
# size): counted apart from the launch machinery.
SCALAR_MATH = frozenset({"lowbias32", "stream_keys", "keep_threshold", "_keys_as_args", "adam_alpha"})


EMPTY_PTRS = iter(range(1 << 41, 1 << 42, 1 << 16))


class HostOnlyArray:
    """What the launchers read from a CuPy array, as plain attributes (no Python runs to read them), over a
    made-up device pointer; counts reads of ``__cuda_array_interface__`` (each one is a conversion)."""

    interface_reads = 0

    def __init__(self, ptr, shape, dtype=np.float32):
        self.data = types.SimpleNamespace(ptr=ptr)
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)
        self.strides = tuple(int(s) for s in np.empty(self.shape, self.dtype).strides)
        self.size = math.prod(self.shape)
        self.ndim = len(self.shape)
        self.flags = types.SimpleNamespace(c_contiguous=True)

    @property
    def __cuda_array_interface__(self):
        HostOnlyArray.interface_reads += 1
        return {"version": 3, "shape": self.shape, "strides": None, "typestr": self.dtype.str,
                "data": (self.data.ptr, False), "stream": 1}


def cases():
    """{name: zero-argument launch}: every launcher, in each of its variants that prepares differently."""
    from gpunn.kernels import bias_act, dropout, optimizer_updates as opt, sigmoid_bce, softmax_xent

    ptrs = iter(range(1 << 32, 1 << 40, 1 << 24))

    def arr(*shape, dtype=np.float32):
        return HostOnlyArray(next(ptrs), shape, dtype)

    z, out, dy, y, dz = (arr(64, 128) for _ in range(5))
    big_dy, big_y, big_dz = (arr(4096, 128) for _ in range(3))
    bias, dbias = arr(128), arr(128)
    logits, probs, dlogits, targets = (arr(64, 10) for _ in range(4))
    labels, loss = arr(64, dtype=np.int64), arr(64)
    mask = arr(64, 128, dtype=np.uint8)
    p, g, m, v, vhat = (arr(1000) for _ in range(5))
    counter, state = arr(1, dtype=np.int64), arr(3, dtype=np.float64)  # device counter, optimizer state
    return {
        "bias+relu forward": lambda: bias_act.bias_act_forward_cuda(z, bias, "relu", z),
        "gelu forward": lambda: bias_act.bias_act_forward_cuda(z, None, "gelu", out),
        "relu backward": lambda: bias_act.act_backward_bias_grad_cuda(dy, y, None, "relu", dz, None),
        "gelu backward+dbias": lambda: bias_act.act_backward_bias_grad_cuda(dy, y, z, "gelu", dz, dbias),
        "relu backward+dbias atomic": lambda: bias_act.act_backward_bias_grad_cuda(
            big_dy, big_y, None, "relu", big_dz, dbias),
        "softmax xent sparse": lambda: softmax_xent.softmax_xent_cuda(logits, labels, probs, dlogits, loss,
                                                                      1 / 64),
        "softmax xent dense": lambda: softmax_xent.softmax_xent_cuda(logits, targets, probs, None, loss, 1 / 64),
        "softmax": lambda: softmax_xent.softmax_cuda(logits, probs),
        "sigmoid bce": lambda: sigmoid_bce.sigmoid_bce_cuda(logits, targets, probs, dlogits, loss, 1 / 64),
        "keep mask": lambda: dropout.keep_mask_cuda(64 * 128, 0.5, 7, 3, mask),
        "dropout forward": lambda: dropout.dropout_forward_cuda(z, 0.5, 7, counter, out, mask),
        "dropout backward": lambda: dropout.dropout_backward_cuda(dy, mask, 0.5, dz),
        "sgd momentum": lambda: opt.sgd_update_cuda(p, g, m, state, 0.9, True),
        "rmsprop centered": lambda: opt.rmsprop_update_cuda(p, g, m, v, vhat, state, 0.9, 0.9, 1e-7, True),
        "adagrad": lambda: opt.adagrad_update_cuda(p, g, m, state, 1e-7),
        "adam amsgrad": lambda: opt.adam_update_cuda(p, g, m, v, vhat, state, 0.9, 0.999, 1e-7),
        "ftrl": lambda: opt.ftrl_update_cuda(p, g, m, v, state, -0.5, 0.01, 0.01, 0.0, 0.1),
        "lamb": lambda: opt.lamb_update_cuda(p, g, m, v, state, 0.9, 0.999, 1e-7, ((0, 600), (600, 1000))),
    }


class Counter:
    """Installs the host-only launch path and counts, per launch, the work that costs host time."""

    def __init__(self):
        import numba.cuda
        from cuda.bindings import driver as binding
        from numba.cuda import dispatcher
        from numba.cuda.cudadrv import driver

        from gpunn import _compat
        from gpunn.kernels import _launch

        self.events = collections.Counter()
        self._configure_cache = dispatcher.CUDADispatcher.configure

        def from_cuda_array_interface(desc, owner=None, sync=True):
            self.events["array conversions"] += 1
            return types.SimpleNamespace(desc=desc)

        def external_stream(ptr):
            self.events["stream wraps"] += 1
            return driver.Stream(binding.CUstream(ptr), external=True)

        def call(dispatcher_self, args, launch_config):
            self.events["calls into numba-cuda"] += 1

        class CurrentStream:
            ptr = STREAM_PTR

        # empty(), asarray(): the small device buffers a launcher makes once, in its first preparation
        fake_cupy = types.SimpleNamespace(cuda=types.SimpleNamespace(get_current_stream=CurrentStream),
                                          empty=lambda shape, dtype: HostOnlyArray(next(EMPTY_PTRS), shape, dtype),
                                          asarray=lambda host: HostOnlyArray(next(EMPTY_PTRS), host.shape, host.dtype))
        _compat.cupy = lambda: fake_cupy
        numba.cuda.from_cuda_array_interface = from_cuda_array_interface
        numba.cuda.external_stream = external_stream
        dispatcher.CUDADispatcher.call = call
        _launch.clear_caches()

    def _factories(self):
        from gpunn.kernels import _row_reduce, bias_act, dropout, optimizer_updates, sigmoid_bce, softmax_xent

        for module in (bias_act, dropout, optimizer_updates, sigmoid_bce, softmax_xent, _row_reduce):
            for value in vars(module).values():
                if callable(getattr(value, "cache_info", None)):
                    yield value

    def _lookups(self):
        factories = sum(f.cache_info().hits + f.cache_info().misses for f in self._factories())
        info = self._configure_cache.cache_info()
        return factories, info.hits + info.misses, info.misses

    def _profile(self, frame, event, arg):
        if event == "call":
            code = frame.f_code
            if code.co_filename.startswith(GPUNN_DIRS) and code.co_name in SCALAR_MATH:
                self.events["gpunn scalar math calls"] += 1
            elif code.co_filename.startswith(GPUNN_DIRS):
                self.events["gpunn python calls"] += 1
                if code.co_name in ("check_array", "device_view", "current_stream", "grid_1d", "grid_2d"):
                    self.events[f"{code.co_name} calls"] += 1
            else:
                self.events["other python calls"] += 1
            if code.co_name == "_name_get":  # numpy's dtype.name, built in Python
                self.events["dtype names built"] += 1
            if code.co_name == "jit" and "numba" in code.co_filename:
                self.events["kernels compiled or decorated"] += 1

    def count(self, launch) -> dict:
        self.events.clear()
        reads = HostOnlyArray.interface_reads
        factories, configures, new_configs = self._lookups()
        sys.setprofile(self._profile)
        try:
            launch()
        finally:
            sys.setprofile(None)
        after = self._lookups()
        self.events["array interface reads"] = HostOnlyArray.interface_reads - reads
        self.events["kernel factory lookups"] = after[0] - factories
        self.events["numba configure lookups"] = after[1] - configures
        self.events["numba new launch configurations"] = after[2] - new_configs
        return dict(sorted(self.events.items()))


def many_configurations(count=CYCLE_LAUNCHES):
    """One launch each over ``count`` batch sizes: more launch configurations than numba-cuda's own cache
    holds (128, for all kernels together), launched in a cycle as a step's launches are."""
    from gpunn.kernels import bias_act

    arrays = [HostOnlyArray((1 << 44) + (k << 24), (8 * k, 16)) for k in range(1, count + 1)]

    def launch_all():
        for z in arrays:
            bias_act.bias_act_forward_cuda(z, None, "relu", z)

    return launch_all


def main() -> int:
    if os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0"):
        print("run with NUMBA_ENABLE_CUDASIM unset: the counts are of the real numba-cuda launch path")
        return 2
    counter = Counter()
    report = {}
    for name, launch in cases().items():
        report[name] = {"first": counter.count(launch), "repeat": counter.count(launch)}
    launch_all = many_configurations()
    report[CYCLE] = {"first": counter.count(launch_all), "repeat": counter.count(launch_all)}
    print(json.dumps(report, indent=1))
    return 0


# ---------------------------------------------------------------- the test

# Per repeated launch: the launcher, current_stream, plan_key, check_activation (bias_act only) and, for
# the composite launch (zero dbias, then accumulate), one helper frame.
MAX_GPUNN_PYTHON_CALLS_PER_REPEAT = 5
EXPENSIVE = ("array interface reads", "array conversions", "stream wraps", "numba configure lookups",
             "numba new launch configurations", "kernel factory lookups", "kernels compiled or decorated",
             "dtype names built", "check_array calls", "device_view calls", "grid_1d calls", "grid_2d calls")


def test_repeated_launches_redo_no_expensive_work():
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    result = subprocess.run([sys.executable, __file__], capture_output=True, text=True, env=env, cwd=REPO,
                            timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    cycle = report.pop(CYCLE)["repeat"]
    assert cycle["calls into numba-cuda"] == CYCLE_LAUNCHES, cycle
    assert cycle.get("numba new launch configurations", 0) == 0 and cycle.get("array conversions", 0) == 0, cycle
    assert set(report) == set(cases())
    for name, counts in report.items():
        first, repeat = counts["first"], counts["repeat"]
        # two launches: zero dbias, then accumulate into it; an optimizer update: its step size and decay
        # from the device state, then the update; Lamb's: the step scalars, the moments, then the update
        two = name.endswith("atomic") or name.split()[0] in ("sgd", "rmsprop", "adagrad", "adam", "ftrl")
        launches = 3 if name == "lamb" else 2 if two else 1
        assert first["calls into numba-cuda"] == launches, (name, first)
        assert first["check_array calls"] >= 1, (name, first)  # the first launch prepares
        assert repeat["calls into numba-cuda"] == launches, (name, repeat)
        assert {k: repeat.get(k, 0) for k in EXPENSIVE} == dict.fromkeys(EXPENSIVE, 0), (name, repeat)
        assert repeat.get("stream wraps", 0) == 0 and first.get("stream wraps", 0) <= 1, (name, counts)
        assert repeat["gpunn python calls"] <= MAX_GPUNN_PYTHON_CALLS_PER_REPEAT, (name, repeat)


if __name__ == "__main__":
    sys.exit(main())
