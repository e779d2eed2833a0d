"""The CUDA device functions of Keras 3's activations beyond the first eight (selu, softplus, softsign,
hard_sigmoid, exponential, mish; relu6, hard_silu, log_sigmoid, celu, hard_tanh, soft_shrink, hard_shrink,
tanh_shrink, squareplus, sparse_plus, sparse_sigmoid) against their NumPy twins where the formulas turn: kinks
(selu and relu6 at 0, hard_sigmoid and hard_silu at -3 and 3, relu6 at 6, hard_tanh, sparse_plus and
sparse_sigmoid at -1 and 1, the shrinks at their threshold), mish's clamp at 30, large and tiny values, signed
zeros and NaN; the parameters celu, the shrinks and squareplus take (Keras's defaults and others) on tiny odd
shapes; the in-place and atomic-dbias launches; and every variant of the third group's kernels lowered to PTX
and linked for sm_90a (float32 and float64, every bias mode). test_bias_act.py runs every activation on random
values; these are the values where a branch written differently in the kernel than in the twin would show."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from kernels_testing import FLOATS, assert_close

from gpunn.activations import DEFAULT_ALPHA
from gpunn.kernels import bias_act
from gpunn.kernels.activations import NEEDS_PREACTIVATION
from gpunn.kernels.bias_act import (
    act_backward_bias_grad_cuda,
    act_backward_bias_grad_numpy,
    bias_act_forward_cuda,
    bias_act_forward_numpy,
)

REPO = Path(__file__).resolve().parents[2]
NEW = ["selu", "softplus", "softsign", "hard_sigmoid", "exponential", "mish"]
THIRD = ["relu6", "hard_silu", "log_sigmoid", "celu", "hard_tanh", "soft_shrink", "hard_shrink", "tanh_shrink",
         "squareplus", "sparse_plus", "sparse_sigmoid"]
EDGES = [-1000.0, -60.0, -30.0, -3.0000002, -3.0, -2.9999998, -1.0000001, -1.0, -0.99999994, -0.50000006, -0.5,
         -0.49999997, -1e-30, -0.0, 0.0, 1e-30, 0.49999997, 0.5, 0.50000006, 0.99999994, 1.0, 1.0000001, 2.9999998,
         3.0, 3.0000002, 5.9999995, 6.0, 6.0000005, 29.0, 30.0, 31.0, 60.0, 1000.0, np.nan]
# exp overflows beyond these; the simulator's Python math raises on overflow where a GPU gives inf
EXP_SAFE = [v for v in EDGES if not abs(v) > 80.0]
# The parameter each takes through alpha, and values beside Keras's default
PARAMETERS = {"celu": (0.3, 2.5), "soft_shrink": (0.1, 1.5), "hard_shrink": (0.1, 1.5), "squareplus": (0.5, 9.0)}


def _edges(activation, dtype):
    values = EXP_SAFE if activation == "exponential" else EDGES
    return np.array([values, values[::-1]], dtype=dtype)


def _run_twin_and_cuda(dev, activation, z, bias, dy, alpha, with_dbias=True):
    """(twin, cuda): each [z after the bias add, y, dz, dbias] from a forward then a backward launch."""
    dtype = z.dtype
    needs_z = activation in NEEDS_PREACTIVATION
    results = []
    with np.errstate(all="ignore"):
        for forward, backward, move, back in (
            (bias_act_forward_numpy, act_backward_bias_grad_numpy, np.copy, np.asarray),
            (bias_act_forward_cuda, act_backward_bias_grad_cuda, dev.to_device, dev.to_host),
        ):
            zz, yy = move(z), move(np.zeros_like(z))
            forward(zz, None if bias is None else move(bias), activation, yy, alpha)
            dz = move(np.zeros_like(z))
            dbias = move(np.full(z.shape[1], 7.0, dtype)) if with_dbias else None  # garbage: must be overwritten
            backward(move(dy), yy, zz if needs_z else None, activation, dz, dbias, alpha)
            results.append([back(a) for a in (zz, yy, dz)] + [back(dbias) if with_dbias else None])
    return results


def _assert_same(cuda, twin, dtype, names=("z", "y", "dz", "dbias")):
    for name, got, want in zip(names, cuda, twin):
        if want is None:
            continue
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=name)
        finite = ~np.isnan(want)
        assert_close(got[finite], want[finite], dtype, scale=4, err_msg=name)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("activation", NEW + THIRD)
def test_cuda_matches_twin_at_the_edges(dev, activation, dtype):
    """At Keras's default parameter (the one a layer's name gets): celu 1, the shrinks 0.5, squareplus 4."""
    z = _edges(activation, dtype)
    bias = np.zeros(z.shape[1], dtype)
    dy = np.linspace(-1.5, 2.0, z.size).reshape(z.shape).astype(dtype)
    alpha = DEFAULT_ALPHA.get(activation, 0.2)
    twin, cuda = _run_twin_and_cuda(dev, activation, z, bias, dy, alpha)
    # dbias sums a column's two dz: compare where neither is NaN
    _assert_same(cuda[1:3], twin[1:3], dtype, names=("y", "dz"))


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("with_bias", [True, False], ids=["bias", "no_bias"])
@pytest.mark.parametrize("shape", [(3, 5), (1, 7), (5, 1)], ids=["3x5", "1x7", "5x1"])
@pytest.mark.parametrize("activation, alpha", [(name, a) for name, values in PARAMETERS.items() for a in values])
def test_cuda_matches_twin_for_other_parameters(dev, activation, alpha, shape, with_bias, dtype, rng):
    z = (rng.standard_normal(shape) * 2.5).astype(dtype)
    bias = rng.standard_normal(shape[1]).astype(dtype) if with_bias else None
    dy = rng.standard_normal(shape).astype(dtype)
    twin, cuda = _run_twin_and_cuda(dev, activation, z, bias, dy, alpha, with_dbias=with_bias)
    _assert_same(cuda, twin, dtype)


@pytest.mark.parametrize("activation,dtype", [("hard_silu", np.float32), ("squareplus", np.float64),
                                              ("sparse_sigmoid", np.float32)])
def test_cuda_dbias_split_over_block_rows_uses_atomics(dev, activation, dtype, rng, monkeypatch):
    monkeypatch.setattr(bias_act, "ROWS_PER_BLOCK", 2)  # 7 rows -> 4 block rows adding atomically
    z = (rng.standard_normal((7, 37)) * 3).astype(dtype)
    bias = rng.standard_normal(37).astype(dtype)
    dy = rng.standard_normal((7, 37)).astype(dtype)
    twin, cuda = _run_twin_and_cuda(dev, activation, z, bias, dy, DEFAULT_ALPHA.get(activation, 0.2))
    _assert_same(cuda, twin, dtype)


@pytest.mark.parametrize("activation", ["selu", "exponential", "hard_sigmoid", "softplus", "relu6", "log_sigmoid",
                                        "celu", "soft_shrink", "hard_shrink", "squareplus", "sparse_plus",
                                        "sparse_sigmoid"])
def test_cuda_in_place_forward_and_backward(dev, activation, rng):
    """Activations whose backward reads only y may overwrite z with y and dy with dz, as Dense does."""
    alpha = DEFAULT_ALPHA.get(activation, 0.2)
    z = (rng.standard_normal((5, 9)) * 3).astype(np.float32)
    bias = rng.standard_normal(9).astype(np.float32)
    dy = rng.standard_normal((5, 9)).astype(np.float32)
    y_twin = z.copy()
    bias_act_forward_numpy(y_twin, bias, activation, y_twin, alpha)
    dz_twin = dy.copy()
    act_backward_bias_grad_numpy(dz_twin, y_twin, None, activation, dz_twin, None, alpha)
    zd = dev.to_device(z)
    bias_act_forward_cuda(zd, dev.to_device(bias), activation, zd, alpha)
    dyd = dev.to_device(dy)
    act_backward_bias_grad_cuda(dyd, zd, None, activation, dyd, None, alpha)
    assert_close(dev.to_host(zd), y_twin, np.float32, scale=4)
    assert_close(dev.to_host(dyd), dz_twin, np.float32, scale=4)


@pytest.mark.parametrize("activation", ["softsign", "mish", "hard_silu", "hard_tanh", "tanh_shrink"])
def test_cuda_refuses_out_aliasing_z_where_backward_needs_z(dev, activation):
    z = dev.to_device(np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match="out: must not be z"):
        bias_act_forward_cuda(z, None, activation, z)
    with pytest.raises(ValueError, match="z"):
        act_backward_bias_grad_cuda(z, dev.to_device(np.zeros((2, 3), np.float32)), None, activation,
                                    dev.to_device(np.zeros((2, 3), np.float32)), None)


def test_third_group_kernels_lower_for_sm_90_in_both_dtypes_and_every_bias_mode():
    """lowering_check.py --all for the third group: NVVM to PTX for sm_90a and nvJitLink to a cubin, float32 (no
    float64 arithmetic in it) and float64, the forward with and without bias and the backward's three dbias modes.
    test_launch.py lowers every activation's float32 kernels; this adds the rest of the variants of these."""
    env = {key: value for key, value in os.environ.items() if key != "NUMBA_ENABLE_CUDASIM"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    command = [sys.executable, str(REPO / "tests" / "kernels" / "lowering_check.py"), "--all"]
    command += [f"--only=bias_act fwd {name} " for name in THIRD] + [f"--only=bias_act bwd {name} " for name in THIRD]
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO, timeout=900)
    out = result.stdout + result.stderr
    assert result.returncode in (0, 3) and "FAIL" not in result.stdout, out
    if result.returncode == 3:  # compiled as far as this machine allows; say which stage was left out
        pytest.skip("; ".join(line for line in result.stdout.splitlines() if line.startswith("SKIP")))
    expected = len(THIRD) * 2 * (2 + 3)  # dtypes x (forward with/without bias + backward none/store/atomic)
    assert f"compiled {expected} kernels" in result.stdout, out
    assert f"cubin: {expected} kernels linked for sm_90a" in result.stdout, out
