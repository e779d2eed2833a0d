#!/usr/bin/env bash
# What a GPU machine should run for gpunn, in two steps that each fit in one 10-minute command, writing into
# $OUT (or ./gpu-out) at most 8 files in all:
#   bash bench/gpu_session.sh tests   -> info.txt (nvidia-smi, gpunn info), pytest-gpu.log (GPU suite + kernel
#                                        tests on the device)
#   bash bench/gpu_session.sh bench   -> gpu.{json,csv,md,png} (gpunn bench beside PyTorch, fp32),
#                                        gpu-tf32.md (the same cases with TF32), bench.log
# From the repository root, after `pip install --no-deps -e .` (the machine's image already has CuPy,
# numba-cuda, PyTorch, mpi4py and gpunn's other dependencies; the check below says if one is missing).
set -uo pipefail
STEP=${1:-tests}
OUT=${OUT:-gpu-out}
PY=${PYTHON:-python3}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1

"$PY" - <<'PYCHECK' || exit 1
import importlib, sys
missing = []
for name in ("gpunn", "cupy", "numba.cuda", "tqdm", "safetensors", "sklearn", "matplotlib", "threadpoolctl",
             "pytest", "torch"):
    try:
        importlib.import_module(name)
    except Exception as exc:
        missing.append(f"{name} ({type(exc).__name__}: {exc})")
if missing:
    sys.exit("gpu_session.sh: cannot import " + "; ".join(missing))
PYCHECK

case "$STEP" in
tests)
    {
        date -u
        echo "command: bash bench/gpu_session.sh tests"
        nvidia-smi
        "$PY" -m gpunn.cli info
        "$PY" -c "import numba.cuda as c; print('numba.cuda.is_available:', c.is_available()); c.detect()"
    } > "$OUT/info.txt" 2>&1
    {
        echo "== $PY -m pytest -m gpu"
        timeout 360 "$PY" -m pytest -m gpu -q -rs -p no:cacheprovider
        echo "== $PY -m pytest tests/kernels (on the device: the root conftest sees the driver)"
        timeout 200 "$PY" -m pytest tests/kernels -q -p no:cacheprovider
    } > "$OUT/pytest-gpu.log" 2>&1
    tail -n 40 "$OUT/pytest-gpu.log"
    ;;
bench)
    # 784-256-256-10 at batch 64/128/256 (launch-bound) and 4096-wide at batch 4096 (matmul-bound).
    timeout 400 "$PY" -m gpunn.cli bench --sizes 784-256-256-10,small,4096-4096-4096-10 --batches 64,128,256,4096 \
        --backends cupy,cupy-unfused,torch-cuda --repeats 5 --output "$OUT" --name gpu > "$OUT/bench.log" 2>&1
    timeout 150 "$PY" -m gpunn.cli bench --tf32 --sizes 784-256-256-10,4096-4096-4096-10 --batches 128,4096 \
        --backends cupy,torch-cuda --repeats 5 --output "$OUT/tf32" --name gpu-tf32 --no-plot >> "$OUT/bench.log" 2>&1
    cp "$OUT/tf32/gpu-tf32.md" "$OUT/gpu-tf32.md" 2>/dev/null
    rm -rf "$OUT/tf32"
    tail -n 60 "$OUT/bench.log"
    ;;
*)
    echo "usage: bash bench/gpu_session.sh tests|bench" >&2
    exit 2
    ;;
esac
