"""Prepared launches (``_launch.plan_key``/``keep``/``configured``) compute what fresh preparations compute.

CuPy arrays take the prepared path, and CuPy needs a GPU; here CuPy-style arrays over host memory take it
instead, their views wrap that same memory, and the kernels run on the simulator. So a kept plan is checked
against the NumPy twins on its first and on repeated launches, with new array objects over the same memory
(CuPy's pool hands temporaries out that way), with arrays that differ only in strides, and with
configurations of one kernel interleaved.
"""
import math
import types

import numpy as np
import pytest
from kernels_testing import assert_close

from gpunn import _compat
from gpunn.kernels import _launch, bias_act, dropout, optimizer_updates, sigmoid_bce, softmax_xent

pytestmark = pytest.mark.skipif(not _compat.cuda_simulator_enabled(),
                                reason="host-backed device arrays only run on the CUDA simulator")


class HostBackedArray:
    """What the launchers read from a CuPy array, over the memory of a NumPy array."""

    def __init__(self, host):
        self.host = host
        self.data = types.SimpleNamespace(ptr=host.ctypes.data)
        self.shape, self.strides, self.dtype = host.shape, host.strides, host.dtype
        self.size, self.ndim = host.size, host.ndim
        self.flags = types.SimpleNamespace(c_contiguous=host.flags.c_contiguous)

    @property
    def T(self):
        return HostBackedArray(self.host.T)

    @property
    def __cuda_array_interface__(self):
        strides = None if self.host.flags.c_contiguous else self.strides
        return {"version": 3, "shape": self.shape, "strides": strides, "typestr": self.dtype.str,
                "data": (self.data.ptr, False), "stream": 1}


@pytest.fixture
def host_backed(monkeypatch):
    """``to_device(ndarray)`` -> HostBackedArray; ``conversions`` lists every view made."""
    from numba.cuda.simulator.cudadrv.devicearray import FakeCUDAArray

    memory = {}  # data pointer -> the C-contiguous array owning that memory
    conversions = []

    def from_cuda_array_interface(desc, owner=None, sync=True):
        conversions.append(desc)
        base = memory[desc["data"][0]]
        view = np.ndarray(desc["shape"], np.dtype(desc["typestr"]), buffer=base, strides=desc["strides"])
        return FakeCUDAArray(view)

    def to_device(a):
        host = np.array(a, copy=True)
        memory[host.ctypes.data] = host
        return HostBackedArray(host)

    monkeypatch.setattr(_compat.numba_cuda(), "from_cuda_array_interface", from_cuda_array_interface,
                        raising=False)
    _launch.clear_caches()
    yield types.SimpleNamespace(to_device=to_device, conversions=conversions)
    _launch.clear_caches()


def test_forward_plan_is_kept_and_reused(host_backed, rng):
    z_host = rng.standard_normal((37, 45)).astype(np.float32)
    bias_host = rng.standard_normal(45).astype(np.float32)
    z, bias, out = (host_backed.to_device(a) for a in (z_host, bias_host, np.zeros_like(z_host)))
    bias_act.bias_act_forward_cuda(z, bias, "gelu", out)
    assert len(bias_act._FORWARD_PLANS) == 1 and len(host_backed.conversions) == 3
    expected_z = z_host + bias_host
    assert_close(out.host, bias_act.bias_act_forward_numpy(expected_z.copy(), None, "gelu", np.empty_like(z_host)),
                 np.float32)
    z.host[...] = z_host  # new contents, same buffers: the kept plan runs again
    bias_act.bias_act_forward_cuda(z, bias, "gelu", out, alpha=0.3)
    assert len(bias_act._FORWARD_PLANS) == 1 and len(host_backed.conversions) == 3
    assert_close(z.host, expected_z, np.float32)


def test_a_new_array_object_over_the_same_memory_reuses_the_plan(host_backed, rng):
    logits_host = rng.standard_normal((9, 7))
    logits = host_backed.to_device(logits_host)
    out = host_backed.to_device(np.zeros_like(logits_host))
    softmax_xent.softmax_cuda(logits, out)
    again = HostBackedArray(out.host)  # what CuPy's pool gives a temporary of the same size
    softmax_xent.softmax_cuda(logits, again)
    assert len(softmax_xent._SOFTMAX_PLANS) == 1 and len(host_backed.conversions) == 2
    assert_close(again.host, softmax_xent.softmax_numpy(logits_host, np.empty_like(logits_host)), np.float64)


def test_arrays_differing_only_in_strides_get_their_own_plan(host_backed, rng):
    z_host = rng.standard_normal((16, 16))
    z = host_backed.to_device(z_host)
    out = host_backed.to_device(np.zeros((16, 16)))
    bias_act.bias_act_forward_cuda(z, None, "tanh", out)
    bias_act.bias_act_forward_cuda(z.T, None, "tanh", out)  # same pointer and shape, other strides
    assert len(bias_act._FORWARD_PLANS) == 2
    assert_close(out.host, np.tanh(z_host.T), np.float64)


def test_identity_checks_hold_with_a_plan_kept(host_backed, rng):
    logits_host = rng.standard_normal((4, 3))
    logits = host_backed.to_device(logits_host)
    targets = host_backed.to_device(rng.random((4, 3)))
    loss = host_backed.to_device(np.zeros(4))
    alias = HostBackedArray(logits.host)  # the same memory under another object: allowed (as before)
    sigmoid_bce.sigmoid_bce_cuda(logits, targets, alias, None, loss, 0.25)
    with pytest.raises(ValueError, match="probs_out: must not be logits"):
        sigmoid_bce.sigmoid_bce_cuda(logits, targets, logits, None, loss, 0.25)


def test_bad_arguments_are_named_with_plans_kept(host_backed, rng):
    dy = host_backed.to_device(rng.standard_normal((5, 6)))
    mask = host_backed.to_device(np.ones((5, 6), np.uint8))
    dx = host_backed.to_device(np.zeros((5, 6)))
    dropout.dropout_backward_cuda(dy, mask, 0.5, dx)
    assert_close(dx.host, dy.host * 2.0, np.float64)
    with pytest.raises(ValueError, match="dx_out: expected dtype float64"):
        dropout.dropout_backward_cuda(dy, mask, 0.5, host_backed.to_device(np.zeros((5, 6), np.float32)))
    with pytest.raises(ValueError, match="rate"):
        dropout.dropout_backward_cuda(dy, mask, 1.5, dx)  # scalars are checked at every call


def test_repeated_optimizer_steps_match_the_twin(host_backed, rng):
    p_host, g_host = rng.standard_normal(300), rng.standard_normal(300)
    m_host, v_host = np.zeros(300), np.zeros(300)
    p, g, m, v = (host_backed.to_device(a) for a in (p_host, g_host, m_host, v_host))
    state = host_backed.to_device(np.array([0.0, 1e-2, 0.01]))  # the optimizer's state: step, lr, weight decay
    for step in (1, 2, 3):
        state.host[0] = step  # advanced in place, as the optimizer does on the device
        optimizer_updates.adam_update_cuda(p, g, m, v, None, state, 0.9, 0.999, 1e-7)
        optimizer_updates.adam_update_numpy(p_host, g_host, m_host, v_host, None, 1e-2, 0.9, 0.999, 1e-7, step, 0.01)
        assert_close(p.host, p_host, np.float64)
    assert len(optimizer_updates._ADAM_PLANS) == 1 and len(host_backed.conversions) == 5


def test_backward_with_atomic_dbias_zeroes_before_every_accumulation(host_backed, rng):
    rows, cols = 4 * bias_act.ROWS_PER_BLOCK, 40  # several block rows: dbias is summed atomically
    dy_host, y_host = rng.standard_normal((rows, cols)), rng.standard_normal((rows, cols))
    dy, y = host_backed.to_device(dy_host), host_backed.to_device(y_host)
    dz, dbias = host_backed.to_device(np.zeros((rows, cols))), host_backed.to_device(np.zeros(cols))
    for _ in range(2):  # a second accumulation without zeroing would double dbias
        bias_act.act_backward_bias_grad_cuda(dy, y, None, "relu", dz, dbias)
    expected_dz = np.empty_like(dy_host)
    expected_dbias = np.empty(cols)
    bias_act.act_backward_bias_grad_numpy(dy_host, y_host, None, "relu", expected_dz, expected_dbias)
    assert_close(dz.host, expected_dz, np.float64)
    assert_close(dbias.host, expected_dbias, np.float64, scale=math.sqrt(rows))


cuda = None  # numba.cuda as a module global, bound below: the simulator swaps module globals for its own


def _record_grid_kernel():
    _launch.bind_numba_cuda(globals())

    @cuda.jit
    def record_grid(out):
        if cuda.grid(1) == 0:
            out[0] = cuda.gridDim.x
            out[1] = cuda.blockDim.x

    return record_grid


def test_configurations_of_one_kernel_stay_apart_on_the_simulator():
    """The simulator configures a kernel object in place; kept configurations must still launch with their
    own grid when interleaved."""
    kernel = _record_grid_kernel()
    small = _launch.configured(kernel, 2, 4)
    large = _launch.configured(kernel, 3, 8)
    assert _launch.configured(kernel, 2, 4) is small
    out = np.zeros(2, np.int64)
    large(out)
    small(out)
    assert out.tolist() == [2, 4]
    large(out)
    assert out.tolist() == [3, 8]
