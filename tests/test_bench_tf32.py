"""TF32-aware validation, checked on the CPU against a NumPy emulation of TF32 matmuls.

TF32 keeps 10 of float32's 23 mantissa bits: the emulation clears the low 13 bits of both matmul inputs
(rounding toward zero, the coarser of the two roundings hardware uses) before a float32 matmul.
"""
import numpy as np
import pytest

from gpunn.benchmarking import BenchConfig, report, run, validation
from gpunn.benchmarking.contenders import ContenderSpec
from gpunn.benchmarking.gpunn_step import EPSILON, LEARNING_RATE, GpunnStep
from gpunn.benchmarking.runner import BETA_2, initial_weights, make_batch, reference_snapshot
from gpunn.distributed import LocalCommunicator
from gpunn.ops import NumpyOps
from gpunn.ops import tf32 as tf32_switch


def to_tf32(a) -> np.ndarray:
    bits = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32)
    return (bits & np.uint32(0xFFFFE000)).view(np.float32)


class EmulatedTF32Ops(NumpyOps):
    def matmul(self, a, b, out=None):
        return np.matmul(to_tf32(a), to_tf32(b), out=out)


class EmulatedTF32WrongAdam(EmulatedTF32Ops):
    def adam_update(self, p, g, m, v, vhat, lr, *args):
        super().adam_update(p, g, m, v, vhat, 2 * lr, *args)


def tf32_step(layers, batch, ops_class=EmulatedTF32Ops, seed=0):
    x, y = make_batch(layers, batch, seed)
    weights = initial_weights(layers, seed)
    step = GpunnStep("emulated-tf32", ops_class(), "cuda:0", LocalCommunicator())
    step.setup(layers, x, y, weights)
    step.step()
    return reference_snapshot(layers, x, y, weights), step.snapshot()


def check(reference, got, tolerances):
    return validation.compare(reference, got, LEARNING_RATE, EPSILON, BETA_2, tolerances)


def test_the_emulation_drops_the_bits_tf32_does_not_keep():
    bits = to_tf32(np.float32(1.0) + np.float32(2.0 ** -12))  # below TF32's last mantissa bit
    assert bits == np.float32(1.0)


@pytest.mark.parametrize("layers, batch", [((32, 64, 64, 10), 32), ((64, 256, 256, 10), 64),
                                           ((784, 128, 128, 10), 256)])
def test_an_emulated_tf32_step_passes_tf32_tolerances_and_fails_float32_ones(layers, batch):
    reference, got = tf32_step(layers, batch)
    as_float32 = check(reference, got, validation.FLOAT32)
    as_tf32 = check(reference, got, validation.tf32_tolerances(layers, batch))
    assert not as_float32.ok, as_float32
    assert as_tf32.ok, as_tf32.message
    assert as_tf32.tolerance.name == "tf32" and as_tf32.tolerance.dot_length == max(max(layers), batch)


def test_tf32_tolerances_still_refuse_a_wrong_step():
    layers, batch = (64, 256, 256, 10), 64
    tolerances = validation.tf32_tolerances(layers, batch)
    reference, wrong_adam = tf32_step(layers, batch, EmulatedTF32WrongAdam)
    verdict = check(reference, wrong_adam, tolerances)
    assert not verdict.ok and "parameters after the update" in verdict.message
    _, got = tf32_step(layers, batch)
    scaled = validation.Snapshot(loss=got.loss, grads=[g * 1.2 for g in got.grads], params=got.params)
    verdict = check(reference, scaled, tolerances)
    assert not verdict.ok and "of its norm" in verdict.message


def test_tolerances_follow_the_device_and_the_switch():
    layers, batch = (784, 128, 10), 4096
    assert validation.tolerances_for("cpu", layers, batch, tf32=True) is validation.FLOAT32
    assert validation.tolerances_for("cuda:0", layers, batch, tf32=False) is validation.FLOAT32
    tf32 = validation.tolerances_for("cuda:0", layers, batch, tf32=True)
    # the longest dot product is the kernel gradient's, over the batch: sqrt(4096) * 2^-11 = 1/32
    assert tf32.dot_length == 4096 and tf32.loss == pytest.approx(1 / 32)
    assert tf32.grad == pytest.approx(1 / 32 + validation.TF32_KINK_ALLOWANCE) and tf32.grad_measure == "norm"


@pytest.fixture
def emulated_gpu(monkeypatch):
    """'numpy-unfused' replaced by an emulated TF32 backend on a pretend GPU; the TF32 switch restored after."""
    monkeypatch.setattr(tf32_switch, "_enabled", tf32_switch._enabled)
    create = ContenderSpec.create

    def pretend(self, comm, threads):
        if self.name == "numpy-unfused":
            return GpunnStep("numpy-unfused", EmulatedTF32Ops(), "cuda:0", comm)
        return create(self, comm, threads)

    monkeypatch.setattr(ContenderSpec, "create", pretend)


def _config(**changes):
    settings = dict(sizes=["32-64-64-10"], batches=[32], backends=["numpy", "numpy-unfused"], repeats=1, warmup=1,
                    min_time=0.001, settle=0.0, peak=False)
    settings.update(changes)
    return BenchConfig(**settings)


def test_the_run_validates_a_tf32_gpu_contender_with_tf32_tolerances_and_records_them(emulated_gpu):
    record = run(_config(tf32=True), log=lambda *a, **k: None)
    assert not record["failures"]
    tolerance = {r["backend"]: r["validation"]["tolerance"] for r in record["results"]}
    assert tolerance["numpy"]["name"] == "float32"  # the CPU keeps float32 matmuls whatever the switch
    assert tolerance["numpy-unfused"]["name"] == "tf32" and tolerance["numpy-unfused"]["dot_length"] == 64
    assert record["config"]["tf32"] is True and record["reproduce"].endswith("--tf32")
    assert "validated with TF32 tolerances" in report.format_table(record)
    with_tf32_off = run(_config(tf32=False), log=lambda *a, **k: None)
    (failure,) = with_tf32_off["failures"]
    assert failure["backend"] == "numpy-unfused" and "float32 tolerances" in failure["reason"]
