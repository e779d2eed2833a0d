"""bench/step_parts.py on the CPU: the recorded step of a small MLP, its calls timed one by one and grouped by
primitive; the counts are the step's (5 matmuls for 2 Dense layers: the first layer's input gradient is skipped),
and each matmul is listed with its operands' layouts beside the same product through the reference paths."""
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_step_parts_groups_the_recorded_calls_by_primitive():
    run = subprocess.run([sys.executable, str(REPO / "bench" / "step_parts.py"), "--backend", "numpy",
                          "--layers", "12-16-3", "--batch", "4", "--repeats", "2", "--steps", "2"],
                         capture_output=True, text=True, cwd=REPO, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    out = run.stdout
    assert "## step parts: 12-16-3 at batch 4, numpy" in out, out
    table = out[:out.index("| matmul | a | b |")]
    rows = {line.split("|")[1].strip(): int(line.split("|")[2]) for line in table.splitlines()
            if line.startswith("| ") and not line.startswith("| primitive")}
    assert rows["matmul"] == 5 and rows["adam_update"] == 1 and rows["softmax_xent"] == 1, out
    assert rows["bias_act_forward"] == 2 and rows["act_backward_bias_grad"] == 2, out
    assert "replayed step" in out and "TFLOP/s over the replayed step" in out, out
    # each matmul in the step's order, the same products through numpy.matmul beside it
    matmuls = [line.split("|")[2:4] for line in out[out.index("| matmul | a | b |"):].splitlines()
               if line.startswith("| ") and line.split("|")[1].strip().isdigit()]
    assert [(a.strip(), b.strip()) for a, b in matmuls] == [("4x12", "12x16"), ("4x16", "16x3"), ("16x4 (T)", "4x3"),
                                                            ("4x3", "3x16 (T)"), ("12x4 (T)", "4x16")], out
    assert "numpy.matmul ms" in out, out


def test_cublaslt_columns_time_the_heuristics_first_algorithm_and_the_fastest_of_those_offered():
    import numpy as np
    from test_cublas_matmul import _Array
    from test_cublaslt_matmul import _aligned, _engine

    from gpunn.ops import NumpyOps

    sys.path.insert(0, str(REPO / "bench"))
    import step_parts

    class AlignedArrays:  # the engine's bias comes from the array library: here 256-byte aligned host memory
        @staticmethod
        def zeros(shape, dtype):
            return _Array(_aligned(np.zeros(shape, dtype)))

    engine, lib, _ = _engine(algorithms=3)
    rng = np.random.default_rng(4)
    a, b = (_Array(_aligned(rng.standard_normal(s).astype(np.float32))) for s in ((6, 5), (5, 4)))
    out = _Array(_aligned(np.zeros((6, 4), np.float32)))
    clock = step_parts._Clock(NumpyOps())
    found = step_parts.lt_algorithm_times(engine, AlignedArrays, clock, a, b, out, False, 0, repeats=2)
    assert set(found) == {step_parts.LT_HEURISTIC, step_parts.LT_BEST}
    assert 0 < found[step_parts.LT_BEST] <= found[step_parts.LT_HEURISTIC]
    assert sorted(set(lib.algorithms_run)) == [100, 101, 102]  # each offered algorithm was run
    assert len(lib.algorithms_run) == 3 * (2 + 2)  # two warm-up runs and two timed each
    np.testing.assert_allclose(out.a, a.a @ b.a, rtol=1e-5)
    refused = step_parts.lt_algorithm_times(engine, AlignedArrays, clock, a, b, _Array(np.zeros((4, 6), np.float32).T),
                                            False, 0, repeats=2)
    assert refused == {}  # a transposed output: cuBLASLt is not asked
