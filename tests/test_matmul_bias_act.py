"""Dense's forward as one ``matmul_bias_act`` call, where a backend folds the bias and activation into its GEMM
(CuPy with cuBLASLt's epilogues, ``GPUNN_MATMUL_EPILOGUES=1``). On the CPU a NumPy backend that says it fuses
runs the base composition (the matmul, then the fused bias + activation step in place): training through it,
eager and replayed, must equal the usual step bit for bit, and the recorded step must hold one call per
fused layer where it held two. tests/test_cublaslt_matmul.py checks the GEMM itself."""
from __future__ import annotations

import numpy as np
import pytest

import gpunn
from gpunn import layers
from gpunn.ops import NumpyOps


class _FusingNumpyOps(NumpyOps):
    def __init__(self):
        super().__init__()
        self.asked = []

    def fuses_bias_act_into_matmul(self, activation, dtype):
        self.asked.append(activation)
        return activation in ("relu", "linear")


def _train(ops, jit):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((48, 7)).astype(np.float32)
    y = rng.integers(0, 3, 48)
    with gpunn.use_backend(ops):
        gpunn.utils.set_random_seed(11)
        model = gpunn.Sequential([layers.Input((7,)), layers.Dense(9, activation="relu", name="hidden_relu"),
                                  layers.Dense(6, activation="tanh", name="hidden_tanh"),
                                  layers.Dense(5, name="hidden_linear"),
                                  layers.Dense(3, activation="softmax", name="probabilities")])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", jit_compile=jit)
        history = model.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
    return model, history.history["loss"]


@pytest.mark.parametrize("jit", [False, True])
def test_a_fusing_backend_trains_bit_for_bit_as_the_usual_step(jit):
    usual_model, usual_loss = _train(NumpyOps(), jit)
    fusing = _FusingNumpyOps()
    fused_model, fused_loss = _train(fusing, jit)
    assert {"relu", "linear"} <= set(fusing.asked)  # the fused path was taken
    assert fused_loss == usual_loss
    for usual, fused in zip(usual_model.get_weights(), fused_model.get_weights()):
        np.testing.assert_array_equal(fused, usual)


def test_the_recorded_step_holds_one_call_for_each_fused_layer():
    from gpunn.benchmarking.gpunn_step import GpunnStep
    from gpunn.benchmarking.runner import initial_weights, make_batch
    from gpunn.distributed import LocalCommunicator

    counts = {}
    for name, ops in (("usual", NumpyOps()), ("fused", _FusingNumpyOps())):
        layers_ = (12, 16, 8, 3)
        step = GpunnStep(f"numpy-{name}", ops, "numpy", LocalCommunicator(), jit=True)
        x, y = make_batch(layers_, 4, 0)
        step.setup(layers_, x, y, initial_weights(layers_, 0))
        step.step()
        recordings = [r for state in step.train_step._states.values() for r in state.recordings.values()]
        names = [getattr(getattr(bound, "func", bound), "__name__", "") for bound, _ in recordings[0].tape.calls]
        counts[name] = {n: names.count(n) for n in ("matmul", "bias_act_forward", "matmul_bias_act")}
    # two hidden ReLU layers and the linear output layer (logits + bias; softmax is in the loss): all fused
    assert counts["usual"]["matmul_bias_act"] == 0 and counts["usual"]["bias_act_forward"] == 3
    assert counts["fused"] == {"matmul": counts["usual"]["matmul"] - 3, "bias_act_forward": 0, "matmul_bias_act": 3}


def test_backends_fuse_nothing_unless_they_say_so():
    assert not NumpyOps().fuses_bias_act_into_matmul("relu", np.float32)
