"""``gpunn bench`` on the NumPy backend, with tiny models: the engine, its checks and its report.

The sweep runs once per module (a few seconds); every test below reads that record or a small variant.
"""
import csv
import json

import numpy as np
import pytest

from gpunn import _compat, cli
from gpunn.benchmarking import BenchConfig, flops_per_step, format_table, parse_batches, parse_sizes, run, write_all
from gpunn.benchmarking import contenders, schema, timing, validation
from gpunn.benchmarking.contenders import ContenderSpec
from gpunn.benchmarking.gpunn_step import GpunnStep
from gpunn.benchmarking.runner import initial_weights, make_batch
from gpunn.benchmarking.unfused import unfused_numpy_ops
from gpunn.distributed import LocalCommunicator
from gpunn.ops import NumpyOps

SIZES = ["8-16-4", "12-32-32-5"]
BATCHES = [4, 16]
BACKENDS = ["numpy", "numpy-unfused"]


def tiny_config(**changes):
    settings = dict(sizes=SIZES, batches=BATCHES, backends=BACKENDS, repeats=2, warmup=1, min_time=0.002,
                    settle=0.0, peak_n=64)
    settings.update(changes)
    return BenchConfig(**settings)


@pytest.fixture(scope="module")
def record():
    return run(tiny_config(), log=lambda *a, **k: None)


@pytest.fixture(scope="module")
def written(record, tmp_path_factory):
    directory = tmp_path_factory.mktemp("bench")
    return directory, write_all(record, str(directory), "tiny")


# ---- the sweep -----------------------------------------------------------------------------------------------
def test_every_case_and_backend_is_timed_and_validated(record):
    assert not record["failures"]
    results = record["results"]
    assert len(results) == len(SIZES) * len(BATCHES) * len(BACKENDS)
    assert {(r["size"], r["batch"], r["backend"]) for r in results} == {
        (s, b, k) for s in SIZES for b in BATCHES for k in BACKENDS}
    for r in results:
        assert r["validation"]["ok"], r["validation"]
        assert r["samples_per_s"] == pytest.approx(r["batch"] / r["step_s"]["median"])
        assert r["step_s"]["repeats"] == 2 and r["step_s"]["steps_per_repeat"] >= 1


def test_ratios_come_from_the_same_run(record):
    by_key = {(r["size"], r["batch"], r["backend"]): r for r in record["results"]}
    for (size, batch, backend), r in by_key.items():
        numpy_row = by_key[(size, batch, "numpy")]
        assert r["speedup_vs_numpy"] == pytest.approx(r["samples_per_s"] / numpy_row["samples_per_s"])
        assert r["ratio_vs_torch"] is None  # no PyTorch contender in this run
        peak = record["peaks"]["cpu"]["peak_flops_per_s"]
        assert r["peak_fraction"] == pytest.approx(r["flops_per_s"] / peak)


def test_peak_is_measured_at_start_and_end(record):
    cpu = record["peaks"]["cpu"]
    assert len(cpu["measurements"]) == 2 and all(m["n"] == 64 for m in cpu["measurements"])
    assert cpu["peak_flops_per_s"] == max(m["flops_per_s"] for m in cpu["measurements"])


def test_flops_count_skips_the_first_layers_input_gradient():
    # 8x16 and 16x4 layers at batch 2: 6*2*(128 + 64) minus the first layer's dX, 2*2*128
    assert flops_per_step((8, 16, 4), 2) == 6 * 2 * (128 + 64) - 2 * 2 * 128


def test_sizes_and_batches_parse_and_reject_nonsense():
    assert parse_sizes("small,8-16-4") == [("small", (784, 128, 128, 10)), ("8-16-4", (8, 16, 4))]
    assert parse_batches("64,8,64") == [8, 64]
    for bad in ("huge", "8", "8-0-4", "8-16-1"):
        with pytest.raises(ValueError, match="--sizes"):
            parse_sizes(bad)
    with pytest.raises(ValueError, match="--batches"):
        parse_batches("8,-1")
    with pytest.raises(ValueError, match="--backends"):
        contenders.expand("numpy,tensorflow")
    assert contenders.expand("torch,numpy") == ["numpy", "torch-cpu", "torch-cuda", "torch-cuda-compiled",
                                                  "torch-cuda-graph"]


def test_the_cub_contender_is_the_cupy_backend_with_its_step_reductions_left_to_cupy(monkeypatch):
    """``cupy-cub`` beside ``cupy`` measures what running eager steps without CUB (as graphs run) costs."""
    from gpunn.benchmarking.cub_steps import cub_cupy_ops
    from gpunn.ops import cupy_ops

    assert "cupy-cub" in contenders.expand("gpu") and "cupy-cub" not in contenders.expand("jit")
    monkeypatch.setattr(cupy_ops.CupyOps, "__init__", lambda self: None)  # no device to open here
    ops = cub_cupy_ops()
    assert isinstance(ops, cupy_ops.CupyOps) and ops.name == "cupy-cub"
    with ops.step_conditions() as inside:  # nothing switched: CuPy's own setting (CUB on by default) stays
        assert inside is None
    if not _compat.has_cupy_gpu():
        assert contenders.SPECS["cupy-cub"].unavailable_reason(1)


# ---- the report ----------------------------------------------------------------------------------------------
def test_table_has_a_row_per_result_and_the_columns(record):
    table = format_table(record)
    lines = table.splitlines()
    for column in ("samples/s", "step ms", "spread", "vs numpy", "vs torch", "GFLOP/s", "% peak"):
        assert column in lines[0]
    body = lines[2:2 + len(record["results"])]
    assert all(any(b in line for b in BACKENDS) for line in body)
    assert "matmul peak on cpu" in table
    assert sum(line.split()[2] == "numpy-unfused" for line in body) == len(SIZES) * len(BATCHES)


def test_json_follows_the_schema(written, record):
    directory, paths = written
    loaded = json.loads(open(paths["json"]).read())
    assert schema.problems(loaded) == []
    assert loaded["schema"] == schema.SCHEMA
    assert loaded["command"].startswith("gpunn bench --sizes 8-16-4,12-32-32-5 --batches 4,16")
    assert loaded["machine"]["numpy"] == np.__version__ and loaded["threads"]["blas"] is not None
    assert len(loaded["results"]) == len(record["results"])


def test_schema_catches_a_broken_record(record):
    broken = json.loads(json.dumps(record))
    del broken["results"][0]["samples_per_s"]
    broken["results"][1]["step_s"]["median"] = "fast"
    broken["ranks"] = "one"
    found = schema.problems(broken)
    assert any("ranks" in p for p in found)
    broken["ranks"] = 1
    found = schema.problems(broken)
    assert any("missing 'samples_per_s'" in p for p in found) and any("median" in p for p in found)
    with pytest.raises(ValueError, match="gpunn-bench/1"):
        schema.check(broken)


def test_csv_and_markdown_are_written(written, record):
    directory, paths = written
    with open(paths["csv"]) as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(record["results"])
    assert float(rows[0]["samples_per_s"]) > 0 and rows[0]["validated"] == "True"
    text = open(paths["markdown"]).read()
    assert record["command"] in text and "| size | batch | backend |" in text and "How the figures are taken" in text


def test_plot_is_written(written):
    directory, paths = written
    data = open(paths["png"], "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


# ---- validation and timing -----------------------------------------------------------------------------------
class _WrongAdam(NumpyOps):
    """A backend whose optimizer step is twice too large: validation must refuse to time it."""

    def adam_update(self, p, g, m, v, vhat, lr, *args):
        super().adam_update(p, g, m, v, vhat, 2 * lr, *args)


def test_validation_refuses_a_wrong_backend(monkeypatch):
    make_ops = ContenderSpec._make_ops
    monkeypatch.setattr(ContenderSpec, "_make_ops",
                        lambda self: _WrongAdam() if self.name == "numpy-unfused" else make_ops(self))
    result = run(tiny_config(sizes=["8-16-4"], batches=[8], peak=False), log=lambda *a, **k: None)
    assert [r["backend"] for r in result["results"]] == ["numpy"]
    (failure,) = result["failures"]
    assert failure["backend"] == "numpy-unfused" and "parameters after the update" in failure["reason"]


def test_validation_allows_a_relu_kink_unit_but_not_a_wrong_gradient(rng):
    kernel = rng.standard_normal((200, 128)).astype(np.float32)
    reference = validation.Snapshot(loss=1.0, grads=[kernel], params=[np.zeros_like(kernel)])

    def with_grads(g):
        # Adam's first step: about -lr * sign(g), as the reference's parameters would be
        return validation.Snapshot(loss=1.0, grads=[g], params=[(-1e-3 * np.sign(g)).astype(np.float32)])

    reference.params = with_grads(kernel).params
    kink = kernel.copy()
    kink[:, 7] += 0.05 * np.abs(kernel).max()  # one unit flipped at a ReLU kink: one column differs
    assert validation.compare(reference, with_grads(kink), 1e-3, 1e-7, 0.999).ok
    scaled = kernel * 1.01  # every element 1% off: a real difference
    verdict = validation.compare(reference, with_grads(scaled), 1e-3, 1e-7, 0.999)
    assert not verdict.ok and verdict.mismatch_fraction > 0.5


def test_unfused_step_matches_the_fused_one():
    layers = (12, 32, 32, 5)
    x, y = make_batch(layers, 16, 0)
    weights = initial_weights(layers, 0)
    snaps = []
    for ops in (NumpyOps(), unfused_numpy_ops()):
        step = GpunnStep(ops.name, ops, "cpu", LocalCommunicator())
        step.setup(layers, x, y, weights)
        for _ in range(3):
            step.step()
        snaps.append(step.snapshot())
    verdict = validation.compare(snaps[0], snaps[1], 1e-3, 1e-7, 0.999)
    assert verdict.ok and verdict.loss_error < 1e-6, verdict


def test_unfused_primitives_match_the_twins(rng):
    fused, unfused = NumpyOps(), unfused_numpy_ops()
    z = rng.standard_normal((6, 5)).astype(np.float32)
    bias = rng.standard_normal(5).astype(np.float32)
    dy = rng.standard_normal((6, 5)).astype(np.float32)
    for act in ("linear", "relu", "leaky_relu", "elu", "sigmoid", "tanh", "silu"):
        outs = []
        for ops in (fused, unfused):
            zz = z.copy()
            y = ops.bias_act_forward(zz, bias, act, np.empty_like(zz))
            dz, db = np.empty_like(dy), np.empty(5, np.float32)
            ops.act_backward_bias_grad(dy, y, zz, act, dz, db)
            outs.append((zz, y, dz, db))
        for a, b in zip(*outs):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=act)
    labels = rng.integers(0, 5, 6)
    dense = rng.random((6, 5)).astype(np.float32)
    for targets in (labels, dense):
        outs = []
        for ops in (fused, unfused):
            probs, dlogits, loss = np.empty_like(z), np.empty_like(z), np.empty(6, np.float32)
            ops.softmax_xent(z, targets, probs, dlogits, loss, 0.25)
            outs.append((probs, dlogits, loss))
        for a, b in zip(*outs):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    outs = []
    for ops in (fused, unfused):
        probs, dlogits, loss = np.empty_like(z), np.empty_like(z), np.empty(6, np.float32)
        ops.sigmoid_bce(z, dense, probs, dlogits, loss, 0.1)
        outs.append((probs, dlogits, loss, ops.softmax(z, np.empty_like(z))))
    for a, b in zip(*outs):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("update, state, hyper, args", [
    ("adam_update", 3, (3, 1e-3, 0.004), (0.9, 0.999, 1e-7)),
    ("sgd_update", 1, (1, 0.1, 0.0), (0.9, True)),
    ("rmsprop_update", 3, (1, 1e-3, 0.0), (0.9, 0.5, 1e-7, True)),
    ("adagrad_update", 1, (1, 1e-2, 0.0), (1e-7,)),
    # accumulator, linear; a learning rate of 0.5: FTRL's linear term adds (new^P - acc^P) / lr * p, which at a
    # small rate is large and cancels, and the reference's float64 arithmetic (its state is float64) would part
    # from the fused float32 one in the fifth digit
    ("ftrl_update", 2, (1, 0.5, 0.01), (-0.6, 0.01, 0.01, 0.05, 0.2)),
    ("lamb_update", 2, (3, 1e-2, 0.01), (0.9, 0.999, 1e-7, ((0, 200), (200, 300)))),  # two weights
])
def test_unfused_optimizer_updates_match_the_twins(rng, update, state, hyper, args):
    """``hyper``: the optimizer's device state (step, learning rate, weight decay) the updates read."""
    p0 = rng.standard_normal(300).astype(np.float32)
    g = rng.standard_normal(300).astype(np.float32)
    # the first slot (Adam's m, RMSprop's mean square, ...) well above the others keeps centered RMSprop's
    # ms - mg^2 positive
    slots0 = [(np.abs(rng.standard_normal(300)) * (0.1 if i else 1.0) + (0.0 if i else 1.0)).astype(np.float32)
              for i in range(state)]
    device_state = np.array(hyper, dtype=np.float64)
    results = []
    for ops in (NumpyOps(), unfused_numpy_ops()):
        p, slots = p0.copy(), [s.copy() for s in slots0]
        if update == "adam_update":
            ops.adam_update(p, g, slots[0], slots[1], None, device_state, *args)
        else:
            getattr(ops, update)(p, g, *slots, device_state, *args)
        results.append([p] + slots)
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


class _VirtualContender:
    """Steps cost 1 ms on a virtual clock, except the first ``slow`` ones (compilation): 100 ms."""

    name, thread_pool = "virtual", None

    def __init__(self, slow):
        self.slow, self.steps, self.now = slow, 0, 0.0
        contender = self

        class Clock:
            kind = "virtual"

            def start(self):
                self.t0 = contender.now

            def stop(self):
                return contender.now - self.t0

        self.clock = Clock()

    def step(self):
        self.now += 0.1 if self.steps < self.slow else 0.001
        self.steps += 1


def test_timing_excludes_warmup_and_reports_the_median():
    c = _VirtualContender(slow=3)
    n = timing.calibrate(c, warmup=3, min_time=0.01, max_steps=1000)
    assert n == 10  # 0.01 s at 1 ms a step, once the slow steps are behind it
    stats = timing.measure_interleaved([c], {"virtual": n}, repeats=4)["virtual"]
    assert stats.median == pytest.approx(1e-3) and stats.spread == pytest.approx(0.0, abs=1e-9)
    assert stats.repeats == 4 and stats.steps_per_repeat == 10


def test_settler_pauses_only_between_different_pools(monkeypatch):
    slept = []
    monkeypatch.setattr(timing.time, "sleep", slept.append)
    settler = timing.Settler(0.25)
    for pool in ("blas", "blas", "torch", None, "torch", "blas"):
        settler.before(pool)
    assert slept == [0.25, 0.25, 0.25]


def test_torch_reference_matches_numpy():
    torch = pytest.importorskip("torch")
    from gpunn.benchmarking.runner import reference_snapshot
    from gpunn.benchmarking.torch_step import TorchStep

    layers = (12, 32, 32, 5)
    x, y = make_batch(layers, 16, 0)
    weights = initial_weights(layers, 0)
    step = TorchStep("torch-cpu", torch, "cpu", threads=1)
    step.setup(layers, x, y, weights)
    step.step()
    verdict = validation.compare(reference_snapshot(layers, x, y, weights), step.snapshot(), 1e-3, 1e-7, 0.999)
    assert verdict.ok, verdict


# ---- the command ---------------------------------------------------------------------------------------------
def test_cli_writes_json_and_png(tmp_path, capsys):
    code = cli.main(["bench", "--sizes", "8-16-4", "--batches", "4", "--backends", "numpy", "--repeats", "2",
                     "--warmup", "1", "--min-time", "0.001", "--settle", "0", "--peak-n", "64",
                     "--output", str(tmp_path), "--name", "cli"])
    assert code == 0
    out = capsys.readouterr().out
    assert "samples/s" in out and "8-16-4" in out
    assert (tmp_path / "cli.json").exists() and (tmp_path / "cli.png").exists() and (tmp_path / "cli.csv").exists()


def test_cli_rejects_bad_options(capsys):
    assert cli.main(["bench", "--sizes", "enormous", "--output", "unused"]) == 2
    assert "--sizes" in capsys.readouterr().err
    assert cli.main(["bench", "--repeats", "0"]) == 2


def test_under_mpi_without_init_only_rank_0_runs(monkeypatch):
    from gpunn import distributed
    from gpunn.benchmarking.environment import start_ranks

    monkeypatch.delattr(distributed, "init", raising=False)
    monkeypatch.setenv("PMI_SIZE", "2")
    monkeypatch.setenv("PMI_RANK", "1")
    ranks = start_ranks()
    assert ranks.rank == 1 and ranks.size == 1 and "rank 0 ran alone" in ranks.note
    assert run(tiny_config(), log=lambda *a, **k: None, ranks=ranks) is None
    monkeypatch.setenv("PMI_RANK", "0")
    assert start_ranks().is_chief
