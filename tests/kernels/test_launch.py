"""_launch.py: the cached CuPy -> Numba views, streams, grids and checks; the package's import hygiene;
every kernel lowering for a real GPU (see lowering_check.py)."""
import os
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from gpunn.kernels import _launch

REPO = Path(__file__).resolve().parents[2]


class FakeCupyArray:
    """Just what device_view reads from a CuPy array."""

    def __init__(self, ptr, shape, dtype=np.float32):
        self.data = types.SimpleNamespace(ptr=ptr)
        self.shape = shape
        self.dtype = np.dtype(dtype)
        self.strides = tuple(int(s) for s in np.empty(shape, self.dtype).strides)
        self.size = int(np.prod(shape))
        self.interface_reads = 0

    @property
    def __cuda_array_interface__(self):
        self.interface_reads += 1
        return {"version": 3, "shape": self.shape, "strides": self.strides, "typestr": self.dtype.str,
                "data": (self.data.ptr, False), "stream": 1}


@pytest.fixture
def fake_numba(monkeypatch):
    calls = []

    def from_cuda_array_interface(desc, owner=None, sync=True):
        calls.append((desc, owner, sync))
        return object()

    module = types.SimpleNamespace(from_cuda_array_interface=from_cuda_array_interface)
    monkeypatch.setattr(_launch._compat, "numba_cuda", lambda: module)
    monkeypatch.setattr(_launch, "_view_cache", type(_launch._view_cache)())
    return calls


def test_device_view_converts_each_buffer_once(fake_numba):
    a = FakeCupyArray(1000, (3, 5))
    view = _launch.device_view(a)
    assert _launch.device_view(a) is view
    assert a.interface_reads == 1 and len(fake_numba) == 1
    desc, owner, sync = fake_numba[0]
    assert "stream" not in desc and owner is None and sync is False
    # same memory, another description: another view
    assert _launch.device_view(FakeCupyArray(1000, (5, 3))) is not view
    assert _launch.device_view(FakeCupyArray(1000, (3, 5), np.float64)) is not view
    flat = _launch.device_view(a, flat=True)
    assert flat is not view and fake_numba[-1][0]["shape"] == (15,) and fake_numba[-1][0]["strides"] is None


def test_device_view_cache_is_bounded_lru(fake_numba, monkeypatch):
    monkeypatch.setattr(_launch, "VIEW_CACHE_SIZE", 4)
    arrays = [FakeCupyArray(ptr, (2,)) for ptr in range(6)]
    first = _launch.device_view(arrays[0])
    for a in arrays[1:4]:
        _launch.device_view(a)
    assert _launch.device_view(arrays[0]) is first  # refreshed: now the most recent
    _launch.device_view(arrays[4])
    _launch.device_view(arrays[5])
    assert len(_launch._view_cache) == 4
    assert _launch.device_view(arrays[0]) is first
    before = len(fake_numba)
    _launch.device_view(arrays[1])  # evicted, converted again
    assert len(fake_numba) == before + 1


def test_device_view_passes_host_arrays_and_rejects_others():
    a = np.zeros((3, 4), np.float32)
    view = _launch.device_view(a, flat=True)
    assert view.shape == (12,)
    with pytest.raises(TypeError):
        _launch.device_view([1.0, 2.0])


def test_current_stream_without_cupy_is_default(monkeypatch):
    monkeypatch.setattr(_launch._compat, "cupy", lambda: None)
    assert _launch.current_stream() == 0


def test_grids():
    assert _launch.grid_1d(1) == (1, 256)
    assert _launch.grid_1d(0) == (1, 256)
    assert _launch.grid_1d(257) == (2, 256)
    assert _launch.grid_1d(10**9)[0] == 2048
    grid, block = _launch.grid_2d(7, 33)
    assert grid == (2, 1) and block == (32, 8)
    assert _launch.grid_2d(10**6, 5)[0] == (1, 1024)


def test_check_array_names_the_argument():
    a = np.zeros((3, 4), np.float32)
    checked = _launch.check_array("a", a, ndim=2, shape=(3, 4), dtype=np.float32, floating=True, contiguous=True)
    assert checked is a
    for kwargs, pattern in [
        (dict(ndim=1), "x: expected 1-D"),
        (dict(shape=(4, 3)), r"x: expected shape \(4, 3\)"),
        (dict(dtype=np.float64), "x: expected dtype float64"),
        (dict(contiguous=True), "x: expected a C-contiguous"),
    ]:
        with pytest.raises(ValueError, match=pattern):
            _launch.check_array("x", a.T if kwargs.get("contiguous") else a, **kwargs)
    with pytest.raises(ValueError, match="x: expected float32 or float64"):
        _launch.check_array("x", a.astype(np.int64), floating=True)
    with pytest.raises(ValueError, match="x: an array is required"):
        _launch.check_array("x", None)



def test_plan_key_describes_device_arrays_and_refuses_others():
    a = FakeCupyArray(1000, (3, 5))
    key = _launch.plan_key(("stream", "relu"), a, None)
    assert key == (("stream", "relu"), (1000, (3, 5), a.strides, np.dtype(np.float32)), None)
    assert _launch.plan_key((0,), a, None) == _launch.plan_key((0,), FakeCupyArray(1000, (3, 5)), None)
    assert _launch.plan_key((0,), a) != _launch.plan_key((0,), FakeCupyArray(1000, (5, 3)))
    assert _launch.plan_key((0,), a) != _launch.plan_key((0,), FakeCupyArray(1000, (3, 5), np.float64))
    # no device pointer to key on: prepared at every call
    assert _launch.plan_key((0,), a, np.zeros(3)) is None
    assert _launch.plan_key((0,), [1.0, 2.0]) is None


def test_keep_stores_under_a_key_and_empties_a_full_store(monkeypatch):
    monkeypatch.setattr(_launch, "PLAN_CACHE_SIZE", 2)
    plans = {}
    assert _launch.keep(plans, None, "plan") == "plan" and plans == {}
    _launch.keep(plans, "a", 1)
    _launch.keep(plans, "b", 2)
    _launch.keep(plans, "c", 3)
    assert plans == {"c": 3}


class FakeKernel:
    """Counts configurations; each is a new object, as numba-cuda's _LaunchConfiguration is."""

    def __init__(self):
        self.configurations = []

    def __getitem__(self, configuration):
        self.configurations.append(configuration)
        return lambda *args: (configuration, args)


def test_configured_makes_each_configuration_once(monkeypatch):
    monkeypatch.setattr(_launch, "_configured_cache", {})
    kernel = FakeKernel()
    launch = _launch.configured(kernel, (2, 1), (32, 8), "stream")
    assert _launch.configured(kernel, (2, 1), (32, 8), "stream") is launch
    assert launch(1, 2) == (((2, 1), (32, 8), "stream", 0), (1, 2))
    assert _launch.configured(kernel, (2, 1), (32, 8), "other stream") is not launch
    assert _launch.configured(FakeKernel(), (2, 1), (32, 8), "stream") is not launch
    assert kernel.configurations == [((2, 1), (32, 8), "stream", 0), ((2, 1), (32, 8), "other stream", 0)]


def test_configured_cache_is_bounded(monkeypatch):
    monkeypatch.setattr(_launch, "_configured_cache", {})
    monkeypatch.setattr(_launch, "CONFIGURED_CACHE_SIZE", 3)
    kernel = FakeKernel()
    for blocks in range(1, 6):
        _launch.configured(kernel, blocks, 256)
    assert len(_launch._configured_cache) <= 3


def test_clear_caches_forgets_views_configurations_and_plans(fake_numba):
    plans = _launch.plan_cache()
    _launch.keep(plans, "key", "plan")
    _launch.configured(FakeKernel(), 1, 256)
    _launch.device_view(FakeCupyArray(1000, (3, 5)))
    _launch.clear_caches()
    assert not plans and not _launch._configured_cache and not _launch._view_cache
    _launch._plan_caches[:] = [c for c in _launch._plan_caches if c is not plans]  # not remove(): {} == {}


def test_dtype_name_is_numpys():
    for dtype in (np.float32, np.dtype(np.float64), "uint8", np.dtype(np.int64)):
        assert _launch.dtype_name(dtype) == np.dtype(dtype).name


def run_python(code, **env_changes):
    env = dict(os.environ)
    for key, value in env_changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, *code], capture_output=True, text=True, env=env, cwd=REPO,
                          timeout=300)


def test_importing_kernels_does_not_import_numba_or_cupy():
    code = ("import sys, gpunn.kernels, gpunn.kernels.bias_act, gpunn.kernels.softmax_xent, "
            "gpunn.kernels.sigmoid_bce, gpunn.kernels.dropout, gpunn.kernels.optimizer_updates, "
            "gpunn.kernels._launch, gpunn.kernels._row_reduce;"
            "bad = [m for m in sys.modules if m in ('numba', 'cupy') or m.startswith(('numba.', 'cupy.'))];"
            "assert not bad, bad")
    result = run_python(["-c", code])
    assert result.returncode == 0, result.stderr


def test_kernels_lower_for_a_real_gpu_in_float32():
    """Typing errors, float64 arithmetic in float32 kernels and a toolchain that cannot build the kernels
    (NVVM to PTX, nvJitLink to an sm_90a cubin) are invisible to the simulator."""
    import re

    result = run_python([str(REPO / "tests" / "kernels" / "lowering_check.py")], NUMBA_ENABLE_CUDASIM=None)
    out = result.stdout + result.stderr
    assert result.returncode in (0, 3) and "FAIL" not in result.stdout, out
    if result.returncode == 3:  # compiled as far as this machine allows; say which stage was left out
        pytest.skip("; ".join(line for line in result.stdout.splitlines() if line.startswith("SKIP")))
    assert re.search(r"^compiled \d+ kernels in [\d.]+ s, 0 failures$", result.stdout, re.MULTILINE), out
    assert re.search(r"^ptx: \.version \d+\.\d+ \.target sm_90a \(\d+ kernels", result.stdout, re.MULTILINE), out
    assert re.search(r"^cubin: \d+ kernels linked for sm_90a by nvJitLink", result.stdout, re.MULTILINE), out
