"""The layers, masks and inputs of any length that run as host calls of the step (EinsumDense, GroupNormalization,
TimeDistributed, layers of the user's taking masks, masked per-step losses, Input(shape=(None,))) on CuPy, eager and
replayed, against the same runs on NumPy: the differential cases of their own test files, run on each backend."""
from __future__ import annotations

import json

import numpy as np
import pytest

import gpunn
import test_einsum_dense
import test_group_normalization
import test_masked_step_losses
import test_time_distributed
import test_user_layer_masks
import test_variable_length_inputs

CASES = [
    ("einsum_dense", test_einsum_dense.CASE, dict(test_einsum_dense.CASES[2], seed=2)),
    ("group_normalization", test_group_normalization.CASE, dict(test_group_normalization.CASES[2], seed=2)),
    ("time_distributed", test_time_distributed.CASE, {"batch_norm": True}),
    ("user_layer_masks", test_user_layer_masks.CASE, test_user_layer_masks.CASES[2]),
    ("masked_step_losses", test_masked_step_losses.CASE, {"masking": False}),
    ("variable_length", test_variable_length_inputs.CASE, {"kind": "ids"}),
]


def _numbers(result) -> np.ndarray:
    """Every number a case returned, in order (its losses, predictions, evaluations)."""
    values = json.loads(json.dumps(result))

    def walk(value):
        if isinstance(value, dict):
            return [x for key in sorted(value) for x in walk(value[key])]
        if isinstance(value, list):
            return [x for item in value for x in walk(item)]
        return [value] if isinstance(value, (int, float)) else []

    return np.asarray(walk(values), dtype=float)


@pytest.mark.gpu
@pytest.mark.parametrize("name, source, case", CASES, ids=[c[0] for c in CASES])
def test_a_case_on_the_gpu_equals_numpy_s(name, source, case):
    namespace: dict = {}
    exec(compile(source, f"{name}.py", "exec"), namespace)
    results = {}
    for backend, jit in (("numpy", False), ("cupy", False), ("cupy", True)):
        with gpunn.use_backend(backend):
            results[backend, jit] = _numbers(namespace["run"](gpunn, case, {"jit_compile": True} if jit else None))
    for key in (("cupy", False), ("cupy", True)):
        np.testing.assert_allclose(results[key], results["numpy", False], rtol=2e-4, atol=2e-5, err_msg=f"{name} {key}")
