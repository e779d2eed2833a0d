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
