"""The CUDA device functions of Keras 3's selu, softplus, softsign, hard_sigmoid, exponential and mish against
their NumPy twins where the formulas turn: kinks (selu at 0, hard_sigmoid at -3 and 3), mish's clamp at 30,
large and tiny values, signed zeros and NaN. test_bias_act.py runs every activation on random values; these are
the values where a branch written differently in the kernel than in the twin would show."""
import numpy as np
import pytest
from kernels_testing import FLOATS, assert_close

from gpunn.kernels.activations import NEEDS_PREACTIVATION
from gpunn.kernels.bias_act import (
    act_backward_bias_grad_cuda,
    act_backward_bias_grad_numpy,
    bias_act_forward_cuda,
    bias_act_forward_numpy,
)

NEW = ["selu", "softplus", "softsign", "hard_sigmoid", "exponential", "mish"]
EDGES = [-1000.0, -60.0, -30.0, -3.0000002, -3.0, -2.9999998, -1.0, -1e-30, -0.0, 0.0, 1e-30, 0.5, 2.9999998, 3.0,
         3.0000002, 29.0, 30.0, 31.0, 60.0, 1000.0, np.nan]
# exp overflows beyond these; the simulator's Python math raises on overflow where a GPU gives inf
EXP_SAFE = [v for v in EDGES if not abs(v) > 80.0]


def _edges(activation, dtype):
    values = EXP_SAFE if activation == "exponential" else EDGES
    return np.array([values, values[::-1]], dtype=dtype)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("activation", NEW)
def test_cuda_matches_twin_at_the_edges(dev, activation, dtype):
    z = _edges(activation, dtype)
    bias = np.zeros(z.shape[1], dtype)
    dy = np.linspace(-1.5, 2.0, z.size).reshape(z.shape).astype(dtype)
    needs_z = activation in NEEDS_PREACTIVATION
    with np.errstate(all="ignore"):
        z_twin, y_twin = z.copy(), np.empty_like(z)
        bias_act_forward_numpy(z_twin, bias, activation, y_twin)
        dz_twin, db_twin = np.empty_like(z), np.empty(z.shape[1], dtype)
        act_backward_bias_grad_numpy(dy, y_twin, z_twin, activation, dz_twin, db_twin)

        zd, yd = dev.to_device(z), dev.to_device(np.zeros_like(z))
        bias_act_forward_cuda(zd, dev.to_device(bias), activation, yd)
        dzd, dbd = dev.to_device(np.zeros_like(z)), dev.to_device(np.zeros(z.shape[1], dtype))
        act_backward_bias_grad_cuda(dev.to_device(dy), yd, zd if needs_z else None, activation, dzd, dbd)
    y, dz = dev.to_host(yd), dev.to_host(dzd)
    np.testing.assert_array_equal(np.isnan(y), np.isnan(y_twin))
    np.testing.assert_array_equal(np.isnan(dz), np.isnan(dz_twin))
    finite = ~np.isnan(y_twin)
    assert_close(y[finite], y_twin[finite], dtype, scale=4, err_msg="y")
    finite = ~np.isnan(dz_twin)
    assert_close(dz[finite], dz_twin[finite], dtype, scale=4, err_msg="dz")


@pytest.mark.parametrize("activation", ["selu", "exponential", "hard_sigmoid", "softplus"])
def test_cuda_in_place_forward_and_backward(dev, activation, rng):
    """Activations whose backward reads only y may overwrite z with y and dy with dz, as Dense does."""
    z = (rng.standard_normal((5, 9)) * 3).astype(np.float32)
    bias = rng.standard_normal(9).astype(np.float32)
    dy = rng.standard_normal((5, 9)).astype(np.float32)
    y_twin = z.copy()
    bias_act_forward_numpy(y_twin, bias, activation, y_twin)
    dz_twin = dy.copy()
    act_backward_bias_grad_numpy(dz_twin, y_twin, None, activation, dz_twin, None)
    zd = dev.to_device(z)
    bias_act_forward_cuda(zd, dev.to_device(bias), activation, zd)
    dyd = dev.to_device(dy)
    act_backward_bias_grad_cuda(dyd, zd, None, activation, dyd, None)
    assert_close(dev.to_host(zd), y_twin, np.float32, scale=4)
    assert_close(dev.to_host(dyd), dz_twin, np.float32, scale=4)


@pytest.mark.parametrize("activation", ["softsign", "mish"])
def test_cuda_refuses_out_aliasing_z_where_backward_needs_z(dev, activation):
    z = dev.to_device(np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match="out: must not be z"):
        bias_act_forward_cuda(z, None, activation, z)
    with pytest.raises(ValueError, match="z"):
        act_backward_bias_grad_cuda(z, dev.to_device(np.zeros((2, 3), np.float32)), None, activation,
                                    dev.to_device(np.zeros((2, 3), np.float32)), None)
