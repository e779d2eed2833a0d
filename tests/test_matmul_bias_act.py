"""Dense's forward as one ``matmul_bias_act`` call, where a backend folds the bias and activation into its GEMM
(CuPy with cuBLASLt's epilogues, ``GPUNN_MATMUL_EPILOGUES=1``), and a recording's ReLU backward folded into the
GEMM before it (``relu_fusion.py``). On the CPU a NumPy backend that says it fuses runs the base compositions
(the calls they replace): training through them, eager and replayed, must equal the usual step bit for bit, and
the recorded step must hold the fused calls where it held the separate ones. tests/test_cublaslt_matmul.py
checks the GEMMs themselves against a stand-in cuBLASLt."""
from __future__ import annotations

import numpy as np
import pytest

import gpunn
from gpunn import layers
from gpunn.ops import NumpyOps


class _FusingNumpyOps(NumpyOps):
    def __init__(self, relu_backward=False):
        super().__init__()
        self.asked = []
        self.relu_backward = relu_backward
        self.prepared = []

    def fuses_bias_act_into_matmul(self, activation, dtype):
        self.asked.append(activation)
        return activation in ("relu", "linear")

    def fuses_relu_backward_into_matmul(self):
        return self.relu_backward

    def prepare_relu_backward(self, forward, backward):
        self.prepared.append((forward, backward))
        return True


def _train(ops, jit, stack=None):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((48, 7)).astype(np.float32)
    y = rng.integers(0, 3, 48)
    with gpunn.use_backend(ops):
        gpunn.utils.set_random_seed(11)
        model = gpunn.Sequential([layers.Input((7,)), *(stack() if stack else _mixed_stack()),
                                  layers.Dense(3, activation="softmax", name="probabilities")])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", jit_compile=jit)
        history = model.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
    return model, history.history["loss"]


def _mixed_stack():
    return [layers.Dense(9, activation="relu", name="hidden_relu"),
            layers.Dense(6, activation="tanh", name="hidden_tanh"), layers.Dense(5, name="hidden_linear")]


def _relu_stack():
    """ReLU layers fed to a Dense (fusable), one fed to a Dropout (not: its backward is not next to the matmul's)
    and one without a bias (not: no bias gradient to sum)."""
    return [layers.Dense(9, activation="relu", name="relu_a"), layers.Dense(8, activation="relu", name="relu_b"),
            layers.Dense(7, activation="relu", name="relu_dropped"), layers.Dropout(0.3, name="drop"),
            layers.Dense(6, activation="relu", use_bias=False, name="relu_unbiased"),
            layers.Dense(5, activation="relu", name="relu_last")]


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


def test_a_recordings_relu_backward_folded_into_the_gemm_trains_bit_for_bit():
    usual_model, usual_loss = _train(NumpyOps(), True, _relu_stack)
    fusing = _FusingNumpyOps(relu_backward=True)
    fused_model, fused_loss = _train(fusing, True, _relu_stack)
    assert fused_loss == usual_loss
    for usual, fused in zip(usual_model.get_weights(), fused_model.get_weights()):
        np.testing.assert_array_equal(fused, usual)
    # relu_a's backward follows relu_b's input-gradient matmul, relu_b's follows relu_dropped's, relu_last's
    # follows the output layer's; relu_dropped's follows Dropout's backward, and relu_unbiased has no bias
    names = sorted({id(forward["out"]): forward["out"].shape for forward, _ in fusing.prepared}.values())
    assert names == [(16, 5), (16, 8), (16, 9)]


def test_the_rewritten_recording_holds_the_fused_calls_in_place_of_the_separate_ones():
    from gpunn.ops.recording import DEVICE, describe_call

    ops = _FusingNumpyOps(relu_backward=True)
    rng = np.random.default_rng(1)
    with gpunn.use_backend(ops):
        model = gpunn.Sequential([layers.Input((4,)), *_relu_stack(), layers.Dense(2, name="out")])
        model.compile(optimizer="sgd", loss="mse", jit_compile=True)
        model.fit(rng.standard_normal((8, 4)).astype(np.float32), rng.standard_normal((8, 2)).astype(np.float32),
                  batch_size=8, epochs=2, verbose=0)
    recording = next(r for state in model.train_function._states.values() for r in state.recordings.values())
    names = [describe_call(bound)[0] for bound, kind in recording.tape.calls if kind == DEVICE]
    assert names.count("matmul_bias_relu_mask") == 3 and names.count("matmul_relu_backward") == 3
    relu_backwards = [args for name, args in map(describe_call, (b for b, _ in recording.tape.calls))
                      if name == "act_backward_bias_grad" and args["activation"] == "relu"]
    assert len(relu_backwards) == 2  # relu_dropped's and relu_unbiased's stay as they were


def _pair_tape(ops, extra_writer=False, gap=False):
    """A ReLU layer's forward, the next layer's input-gradient matmul and the ReLU backward, as recorded calls."""
    from gpunn.ops.recording import DEVICE

    rng = np.random.default_rng(2)
    x, w, bias = rng.standard_normal((4, 3)), rng.standard_normal((3, 5)), rng.standard_normal(5)
    dz, w_next = rng.standard_normal((4, 2)), rng.standard_normal((5, 2))
    y, d, dbias = np.empty((4, 5)), np.empty((4, 5)), np.empty(5)
    bind = lambda name, *args: (ops.bind_for_replay(getattr(type(ops), name).unrecorded, args, {}), DEVICE)  # noqa: E731
    calls = [bind("matmul_bias_act", x, w, bias, "relu", y)]
    if extra_writer:
        calls.append(bind("bias_act_forward", y, None, "relu", y))
    calls.append(bind("matmul", dz, w_next.T, d))
    if gap:
        calls.append(bind("add", dbias, dbias, dbias))
    calls.append(bind("act_backward_bias_grad", d, y, None, "relu", d, dbias))
    return calls, (y, d, dbias)


@pytest.mark.parametrize("case", ["fused", "y written twice", "a call in between", "not prepared"])
def test_only_a_pair_whose_mask_is_sure_to_be_fresh_is_rewritten(case):
    from gpunn.ops import relu_fusion
    from gpunn.ops.recording import describe_call

    ops = _FusingNumpyOps(relu_backward=True)
    if case == "not prepared":
        ops.prepare_relu_backward = lambda forward, backward: False
    calls, outputs = _pair_tape(ops, extra_writer=case == "y written twice", gap=case == "a call in between")
    rewritten = relu_fusion.fuse_relu_backward(ops, calls)
    names = [describe_call(bound)[0] for bound, _ in rewritten]
    if case == "fused":
        assert names == ["matmul_bias_relu_mask", "matmul_relu_backward"]
        for bound, _ in calls:
            bound()
        expected = [o.copy() for o in outputs]
        for o in outputs:
            o[...] = np.nan  # every output must be written again by the rewritten calls
        for bound, _ in rewritten:
            bound()
        for got, want in zip(outputs, expected):
            np.testing.assert_array_equal(got, want)
    else:
        assert names == [describe_call(bound)[0] for bound, _ in calls]


@pytest.mark.parametrize("value, on", [("1", True), ("true", True), (" Yes ", True), ("0", False), ("", False),
                                       ("no", False)])
def test_the_epilogue_switch_reads_the_environment_as_gpunn_tf32_does(monkeypatch, value, on):
    from gpunn.ops import tf32
    from gpunn.ops.cupy_ops import EPILOGUES_ENV

    monkeypatch.setenv(EPILOGUES_ENV, value)
    monkeypatch.setenv("GPUNN_TF32", value)
    assert tf32.environment_switch(EPILOGUES_ENV) is on
    assert tf32.tf32_from_environment() is on
