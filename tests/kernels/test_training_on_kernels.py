"""Whole training steps through the GPU backend's dispatch (``CupyOps``: ``_cuda`` launchers, one optimizer
launch over the flat buffer) on the CUDA simulator, against the NumPy backend: proves the kernels are wired
into training without a GPU. Tiny shapes: the simulator runs ~0.2 ms per thread.
"""
import contextlib

import numpy as np
import pytest

import gpunn
from gpunn import _compat, layers
from gpunn.ops.cupy_ops import CupyOps

pytestmark = pytest.mark.skipif(not _compat.cuda_simulator_enabled(),
                                reason="simulator-only: on a GPU, tests/test_gpu_backend.py covers CupyOps")


class SimulatedCupyOps(CupyOps):
    """CupyOps's kernel dispatch with NumPy arrays, which the CUDA simulator's launchers accept."""

    xp = np
    device_description = "CUDA simulator"

    def __init__(self):  # no CuPy device to open
        pass

    def _matmul_engine(self):
        return None  # matmuls through xp (NumPy); a recorded step is replayed, not captured

    def to_numpy(self, array):
        return np.asarray(array)

    def synchronize(self):
        pass

    def to_float(self, scalar):
        return float(scalar)

    def free_bytes(self):
        return None

    def step_conditions(self):
        return contextlib.nullcontext()  # NumPy arrays: no CuPy reductions to switch (CuPy may not be installed)


def _train(ops, optimizer, activation, out_activation, loss, y, dropout=0.0):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((6, 5))
    with gpunn.use_backend(ops):
        gpunn.utils.set_random_seed(11)
        stack = [gpunn.Input(shape=(5,)), layers.Dense(3, activation=activation)]
        if dropout:
            stack.append(layers.Dropout(dropout))
        stack.append(layers.Dense(y.shape[1] if y.ndim == 2 else 2, activation=out_activation))
        model = gpunn.Sequential(stack)
        model.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"])
        history = model.fit(x, y, batch_size=3, epochs=1, shuffle=False, verbose=0)
        return model.get_weights(), history.history


@pytest.mark.parametrize("optimizer", ["sgd", "rmsprop", "adagrad", "adam", "adamw", "nadam", "adamax", "adadelta",
                                       "lion", "ftrl", "lamb", "schedulefreeadamw"])
def test_each_optimizer_trains_the_same_through_the_kernels(optimizer):
    y = np.array([0, 1, 1, 0, 1, 0])
    expected, expected_hist = _train(gpunn.ops.NumpyOps(), optimizer, "relu", "softmax",
                                     "sparse_categorical_crossentropy", y)
    got, got_hist = _train(SimulatedCupyOps(), optimizer, "relu", "softmax", "sparse_categorical_crossentropy", y)
    for a, b in zip(expected, got):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got_hist["loss"], expected_hist["loss"], rtol=1e-5)


@pytest.mark.parametrize("arguments", [{"ema_momentum": 0.5},
                                       {"ema_momentum": 0.5, "ema_overwrite_frequency": 1,
                                        "gradient_accumulation_steps": 2}], ids=["average", "overwrite-accumulate"])
def test_the_weights_moving_average_trains_the_same_through_the_kernels(arguments):
    """use_ema's fused pass (kernels/weight_average.py) on the device: its count read from the optimizer's state,
    one more for a step between the updates of gradient accumulation."""
    y = np.array([0, 1, 1, 0, 1, 0])
    runs = [_train(ops, gpunn.optimizers.Adam(use_ema=True, **arguments), "relu", "softmax",
                   "sparse_categorical_crossentropy", y) for ops in (gpunn.ops.NumpyOps(), SimulatedCupyOps())]
    (expected, expected_hist), (got, got_hist) = runs
    for a, b in zip(expected, got):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got_hist["loss"], expected_hist["loss"], rtol=1e-5)


@pytest.mark.parametrize("activation", ["tanh", "gelu"])
def test_sigmoid_output_and_dropout_train_the_same_through_the_kernels(activation):
    y = np.array([[0.0], [1.0], [1.0], [0.0], [1.0], [0.0]])
    expected, _ = _train(gpunn.ops.NumpyOps(), "adam", activation, "sigmoid", "binary_crossentropy", y, 0.3)
    got, _ = _train(SimulatedCupyOps(), "adam", activation, "sigmoid", "binary_crossentropy", y, 0.3)
    for a, b in zip(expected, got):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("optimizer, step", [
    (gpunn.optimizers.Adam(amsgrad=True), "adam_update"),
    (gpunn.optimizers.RMSprop(centered=True, momentum=0.5), "rmsprop_update"),
    (gpunn.optimizers.SGD(momentum=0.9, nesterov=True), "sgd_update"),
    (gpunn.optimizers.Nadam(), "nadam_update"),
    (gpunn.optimizers.Adamax(), "adamax_update"),
    (gpunn.optimizers.Adadelta(), "adadelta_update"),
    (gpunn.optimizers.Lion(), "lion_update"),
    (gpunn.optimizers.Ftrl(), "ftrl_update"),
    (gpunn.optimizers.Lamb(), "lamb_update"),
    (gpunn.optimizers.ScheduleFreeAdamW(warmup_steps=5), "schedule_free_adamw_update"),
])
def test_optimizer_kernel_is_rehearsed_on_one_element_when_the_optimizer_is_built(monkeypatch, optimizer, step):
    """The update kernel of exactly this variant compiles when the optimizer is built (a one-element
    rehearsal) rather than inside the step's real update, and the rehearsal counts no iteration."""
    from gpunn.kernels import optimizer_updates

    launcher = getattr(optimizer_updates, step + "_cuda")
    sizes = []

    def recording(p, *args, **kwargs):
        sizes.append(p.size)
        return launcher(p, *args, **kwargs)

    monkeypatch.setattr(optimizer_updates, step + "_cuda", recording)
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((4, 4)), rng.standard_normal((4, 3))
    with gpunn.use_backend(SimulatedCupyOps()):
        gpunn.utils.set_random_seed(2)
        model = gpunn.Sequential([gpunn.Input(shape=(4,)), layers.Dense(3)])
        model.compile(optimizer=optimizer, loss="mse")
        model.train_on_batch(x, y)
    assert sizes == [1, model.params.size]
    assert optimizer.iterations == 1
    assert all(slot.size == model.params.size for slot in optimizer.slots.values())


def test_a_dtype_without_kernels_falls_back_to_the_reference_steps(rng):
    """CupyOps launches its kernels for float32/float64 only; float16 takes the reference expressions."""
    from gpunn.ops.base import Ops

    z = rng.standard_normal((5, 7)).astype(np.float16)
    bias = rng.standard_normal(7).astype(np.float16)
    got, want = np.empty_like(z), np.empty_like(z)
    SimulatedCupyOps().bias_act_forward(z.copy(), bias, "tanh", got)
    Ops().bias_act_forward(z.copy(), bias, "tanh", want)
    np.testing.assert_array_equal(got, want)
    assert got.dtype == np.float16


# One optimizer per kind of step scalars (kernels/optimizer_updates.py: STEP_SCALARS); the simulator is slow.
@pytest.mark.parametrize("optimizer", ["sgd", "nadam", "adamax", gpunn.optimizers.Adam(amsgrad=True, weight_decay=0.01),
                                       gpunn.optimizers.SGD(use_ema=True, ema_overwrite_frequency=2)],
                         ids=["sgd", "nadam", "adamax", "adam-amsgrad-wd", "sgd-moving-average"])
def test_later_steps_allocate_no_device_memory_on_another_stream(monkeypatch, optimizer):
    """What a CUDA-graph capture needs of every launcher in a step: once a step has run, a later step
    allocates no device memory, even on another stream, where every launch prepares its plan again (a capture
    runs on a stream of its own and refuses an allocation). Under the simulator each launch prepares its plan
    at every call, so this covers the plan-making of each launcher the step uses."""
    from gpunn.kernels import _launch

    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((6, 5)), rng.integers(0, 2, 6)
    with gpunn.use_backend(SimulatedCupyOps()):
        gpunn.utils.set_random_seed(3)
        model = gpunn.Sequential([gpunn.Input(shape=(5,)), layers.GaussianNoise(0.1),
                                  layers.Dense(3, activation="relu"), layers.Dropout(0.3),
                                  layers.Dense(2, activation="softmax")])
        model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        model.fit(x, y, batch_size=3, epochs=1, shuffle=False, verbose=0)
        allocations, make = [], _launch.empty_device
        monkeypatch.setattr(_launch, "empty_device", lambda *args: allocations.append(args) or make(*args))
        monkeypatch.setattr(_launch, "current_stream", lambda: 7)  # as if another stream were current
        model.fit(x, y, batch_size=3, epochs=1, shuffle=False, verbose=0)
    assert allocations == []
