"""Fused kernels of the training step: a NumPy twin (the CPU backend and the test oracle) and a CUDA
kernel with its launcher for each.

    activations.py        activation functions f and f' (NumPy; CUDA device functions)
    erf.py                vectorised erf for the exact GELU on NumPy
    bias_act.py           z += bias, y = f(z);  dz = dy f', dbias = sum_b dz
    softmax_xent.py       softmax + categorical cross-entropy (sparse or dense labels) + dlogits
    sigmoid_bce.py        sigmoid + binary cross-entropy + dlogits
    dropout.py            counter-based hash dropout: the same mask on CPU and GPU
    gaussian_noise.py     normal draws from the same hash (Box-Muller): GaussianNoise, GaussianDropout
    gather_rows.py        a step's batch rows gathered at a device cursor (the epoch's order on the device)
    embedding.py          Embedding: table rows looked up by token id; their gradient added back at the ids
                          (embedding_cpu.py: that gradient compiled for the CPU, when available)
    optimizer_updates.py  SGD / RMSprop / Adagrad / Adam(W) / Nadam / Adamax / Adadelta / Lion / Ftrl / Lamb steps
                          over one flat buffer (optimizer_rules.py: each element's formula, written once; Lamb's
                          trust ratio per weight from block sums)
    optimizer_updates_cpu.py  the same steps compiled for the CPU (Numba, one parallel pass), when available
    weight_average.py     the weights' moving average of an optimizer's use_ema, one pass (compiled for the CPU in
                          optimizer_updates_cpu.py)
    _launch.py            prepared launches, cached CuPy -> Numba views and configurations, CuPy's stream,
                          grid sizes, argument checks
    _row_reduce.py        shared-memory row reductions used by the loss kernels

Importing this package (or any module in it) imports NumPy only: Numba is imported and each kernel
compiled on its first launch. The NumPy twins are re-exported here.
"""
import functools
import importlib
import os
import warnings

from gpunn.kernels.activations import ACTIVATIONS, NEEDS_PREACTIVATION
from gpunn.kernels.bias_act import act_backward_bias_grad_numpy, bias_act_forward_numpy
from gpunn.kernels.dropout import dropout_backward_numpy, dropout_forward_numpy, keep_mask_numpy
from gpunn.kernels.embedding import embedding_grad_numpy, embedding_lookup_numpy
from gpunn.kernels.erf import erf_numpy
from gpunn.kernels.gaussian_noise import random_normal_numpy
from gpunn.kernels.gather_rows import advance_cursor_numpy, gather_rows_numpy
from gpunn.kernels.optimizer_updates import (
    adadelta_update_numpy,
    adagrad_update_numpy,
    adam_update_numpy,
    adamax_update_numpy,
    ftrl_update_numpy,
    lamb_update_numpy,
    lion_update_numpy,
    nadam_update_numpy,
    rmsprop_update_numpy,
    sgd_update_numpy,
)
from gpunn.kernels.sigmoid_bce import sigmoid_bce_numpy
from gpunn.kernels.softmax_xent import softmax_numpy, softmax_xent_numpy
from gpunn.kernels.weight_average import ema_update_numpy



def _compiled(module: str, cls: str, what: str):
    """An instance of the compiled CPU class ``cls`` from ``gpunn.kernels.<module>``, or None: Numba is not
    installed, ``GPUNN_CPU_JIT=0`` is set, or it failed to load; the NumPy twins run then."""
    if os.environ.get("GPUNN_CPU_JIT", "1").lower() in ("0", "false", "no"):
        return None
    from gpunn import _compat

    if _compat.numba() is None:
        return None
    try:
        loaded = importlib.import_module(f"gpunn.kernels.{module}")
    except Exception as exc:  # a broken LLVM install must not stop training: the twins are always there
        warnings.warn(f"gpunn: compiled CPU {what} unavailable ({exc}); using NumPy", RuntimeWarning)
        return None
    return getattr(loaded, cls)()


@functools.lru_cache(maxsize=None)
def cpu_updates():
    """The compiled CPU optimizer updates (``optimizer_updates_cpu.CompiledUpdates``), or None (see _compiled)."""
    return _compiled("optimizer_updates_cpu", "CompiledUpdates", "optimizer updates")


@functools.lru_cache(maxsize=None)
def cpu_embedding():
    """The compiled CPU embedding gradient (``embedding_cpu.CompiledEmbedding``), or None (see _compiled)."""
    return _compiled("embedding_cpu", "CompiledEmbedding", "embedding gradient")


@functools.lru_cache(maxsize=None)
def cpu_fused():
    """The compiled CPU fused steps (``fused_cpu.CompiledFused``: bias + activation forward and backward,
    softmax, softmax + cross-entropy, sigmoid + BCE, dropout), or None (see _compiled)."""
    return _compiled("fused_cpu", "CompiledFused", "fused steps")


__all__ = [
    "cpu_updates",
    "cpu_fused",
    "cpu_embedding",
    "ACTIVATIONS",
    "NEEDS_PREACTIVATION",
    "act_backward_bias_grad_numpy",
    "adadelta_update_numpy",
    "adagrad_update_numpy",
    "advance_cursor_numpy",
    "adam_update_numpy",
    "adamax_update_numpy",
    "ftrl_update_numpy",
    "lamb_update_numpy",
    "lion_update_numpy",
    "nadam_update_numpy",
    "bias_act_forward_numpy",
    "dropout_backward_numpy",
    "dropout_forward_numpy",
    "ema_update_numpy",
    "embedding_grad_numpy",
    "embedding_lookup_numpy",
    "erf_numpy",
    "gather_rows_numpy",
    "keep_mask_numpy",
    "random_normal_numpy",
    "rmsprop_update_numpy",
    "sgd_update_numpy",
    "sigmoid_bce_numpy",
    "softmax_numpy",
    "softmax_xent_numpy",
]
