#!/usr/bin/env bash
# One command for a visit to a GPU machine: verifies gpunn's GPU path and measures it, in at most 540 s.
#
#   OUT=<dir> bash bench/gpu_visit.sh          (from the repository root; OUT defaults to ./gpu-visit)
#
# gpunn itself is installed from this checkout when the interpreter does not already import it from here:
# `pip install --no-deps --no-build-isolation -e .` works offline (plain `pip install -e .` fetches setuptools
# for its isolated build). The machine is expected to have CuPy, numba-cuda, NCCL, PyTorch and pytest; stage 1
# says what is missing.
#
# Stages, each under its own cap (the smaller of the cap and the time left), each failing soft:
#   1 smoke   machine + toolchain facts, CuPy matmul, first kernel launch, one kernel per family vs its twin,
#             a short fit on CuPy vs NumPy, TF32 on/off, a one-rank NCCL communicator  (bench/gpu_smoke.py)
#   2 gpu     python -m pytest -m gpu (CuPy parity with the CPU, whole training runs on the GPU)
#   3 nccl    NCCL tests, one-rank allreduce timings, and an mpiexec-launched NCCL fit when mpiexec exists
#   4 bench   gpunn bench fp32: eager, CUDA graph, 16 steps per graph, the graph with cuBLASLt's bias + ReLU
#             epilogues (when bench/epilogue_check.py passed first; its line goes to smoke.log), beside PyTorch
#             eager, torch.compile (reduce-overhead) and PyTorch's whole step as one CUDA graph: 784-256-256-10
#             at batch 64/128/256, 4096-4096-4096-10 at 4096
#   5 kernels tests/kernels on the device, over 150 s in one process on an H200 (skipped when stage 1 could not
#             launch a kernel)
#   6 tf32    the same benchmark cases with TF32 matmuls
#   7 parts   where the 4096-4096-4096-10 step's device time goes, call by call, fp32 and TF32, without and with
#             the epilogues, each matmul beside cupy.matmul, torch.matmul and torch's addmm+ReLU (bench/step_parts.py)
# The test stages run on 8 pytest-xdist workers where pytest-xdist is installed, and tests.log gets each test's
# outcome and each failure's traceback as they happen (bench/pytest_live_log.py): a stage cut off at its cap
# still tells what passed, what failed and why, and what was running.
# At most 8 files land directly in $OUT (summary.txt, smoke.log, tests.log, bench.log, bench.json, bench.md,
# bench.png, bench-tf32.json); the summary of every stage is printed last. Without a GPU every GPU stage
# reports "skipped: no GPU" and the script ends within a minute (CI runs it that way).
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
OUT=${OUT:-gpu-visit}
PY=${PYTHON:-python3}
PY=$(command -v "$PY" || echo "$PY")  # absolute: mpiexec's launcher looks a bare name up on a PATH of its own
BUDGET=${GPU_VISIT_BUDGET:-540}   # seconds for the whole visit
RESERVE=15                        # kept back for the summary and for a stage's kill grace
START=$(date +%s)
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
WORK=$(mktemp -d)                 # scratch (bench outputs before selection); never inside $OUT
KERNELS_LINK=""                   # set when the checkout's gpunn/kernels link was made here (removed at exit)
trap 'rm -rf "$WORK"; [[ -n "$KERNELS_LINK" ]] && rm -f "$KERNELS_LINK"' EXIT

# The kernels live in kernels/ and install as gpunn.kernels (a package-dir mapping), which a bare PYTHONPATH
# cannot give: install the checkout (editable, offline) unless it is what the interpreter imports already; if
# pip cannot, link kernels/ into the checkout's gpunn/ for the visit and put the checkout on PYTHONPATH (a
# layout elsewhere would be shadowed: `python -m` puts the working directory, this checkout, first).
if ! "$PY" - "$ROOT" 2>/dev/null <<'PYEOF'
import os, sys
import gpunn, gpunn.kernels
root = os.path.realpath(sys.argv[1])
sys.exit(0 if os.path.realpath(gpunn.__file__).startswith(root) and os.path.realpath(gpunn.kernels.__file__).startswith(root) else 1)
PYEOF
then
    if ! "$PY" -m pip install -q --no-deps --no-build-isolation -e "$ROOT" > "$WORK/install.log" 2>&1; then
        if [[ ! -e "$ROOT/gpunn/kernels" ]]; then
            ln -s ../kernels "$ROOT/gpunn/kernels" && KERNELS_LINK="$ROOT/gpunn/kernels"
        fi
        export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
        echo "gpunn: pip could not install the checkout (see below); running it from the checkout, kernels/" \
             "linked as gpunn/kernels" >&2
        cat "$WORK/install.log" >&2
    fi
fi
export PYTHONUNBUFFERED=1 PYTHONFAULTHANDLER=1
# numba-cuda finds libNVVM in a wheel or under CUDA_HOME; an image without the nvidia-nvvm wheel keeps it in
# its toolkit, whose NVVM also matches the driver (a newer NVVM emits PTX the driver may refuse).
if [[ -z "${CUDA_HOME:-}" && -d /usr/local/cuda/nvvm ]]; then
    export CUDA_HOME=/usr/local/cuda
fi
SUMMARY="$OUT/summary.txt"
: > "$SUMMARY"
STAGE_LINES=()

left() { echo $(( BUDGET - RESERVE - ($(date +%s) - START) )); }

# cap_for CAP: the smaller of CAP and the time left (0 when nothing is left)
cap_for() {
    local l; l=$(left)
    (( l < 0 )) && l=0
    (( $1 < l )) && echo "$1" || echo "$l"
}

record() {  # record STAGE STATUS SECONDS DETAIL
    local line; line=$(printf '%-8s %-26s %5ss  %s' "$1" "$2" "$3" "$4")
    STAGE_LINES+=("$line")
    echo "== stage $1: $2 ($3 s) $4"
}

# run_capped STAGE CAP LOG CMD...: run CMD under `timeout -s INT` (pytest still prints its summary), killed
# 10 s later if it ignores the interrupt; appends its output to LOG; sets RC and SECS.
run_capped() {
    local stage=$1 cap=$2 log=$3; shift 3
    local t0; t0=$(date +%s)
    echo "### stage $stage: $* (cap ${cap}s)" >> "$log"
    if (( cap < 5 )); then
        RC=124; SECS=0
        echo "### stage $stage: no time left" >> "$log"
        return
    fi
    timeout -s INT -k 10 "$cap" "$@" >> "$log" 2>&1
    RC=$?
    SECS=$(( $(date +%s) - t0 ))
    echo "### stage $stage: exit $RC after ${SECS}s" >> "$log"
}

status_of() {  # status_of RC -> PASS / FAIL / TIMEOUT
    case "$1" in
        0) echo PASS ;;
        124|130|137) echo TIMEOUT ;;
        *) echo "FAIL (exit $1)" ;;
    esac
}

PYTEST_OPTS=(-q --tb=short -rfE -p no:cacheprovider -o faulthandler_timeout=120)
XDIST=0  # pytest-xdist's workers for the test stages: the tests compile kernels, which is CPU-bound work
"$PY" -c "import xdist" 2> /dev/null && XDIST=8

# pytest_stage STAGE CAP DIST PYTEST-ARGS...: pytest under run_capped, appending to tests.log, on $XDIST workers
# (DIST: xdist's --dist mode, or "serial"), each test's start and outcome and each failure's traceback written
# as they happen (bench/pytest_live_log.py) and appended to tests.log afterwards, so that a run cut off at its
# cap still says what passed, what failed and why, and what was running; sets RC, SECS and TESTS_LINE.
pytest_stage() {
    local stage=$1 cap=$2 dist=$3; shift 3
    local live="$WORK/$stage-live.log" workers=()
    : > "$live"
    [[ "$dist" != serial ]] && (( XDIST )) && workers=(-n "$XDIST" --dist "$dist")
    run_capped "$stage" "$cap" "$OUT/tests.log" env PYTHONPATH="$ROOT/bench${PYTHONPATH:+:$PYTHONPATH}" \
        GPUNN_LIVE_LOG="$live" "$PY" -m pytest "${PYTEST_OPTS[@]}" ${workers[@]+"${workers[@]}"} -p pytest_live_log "$@"
    { echo "### stage $stage: each test as it ended"; cat "$live"; } >> "$OUT/tests.log"
    TESTS_LINE=$("$PY" bench/pytest_live_log.py "$live")
}

# ---- machine facts --------------------------------------------------------------------------------
{
    echo "gpunn GPU visit, $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "command: OUT=$OUT bash bench/gpu_visit.sh   (checkout $(git describe --always --dirty 2>/dev/null || echo unknown))"
    echo "python: $($PY --version 2>&1) at $(command -v $PY)"
    if command -v nvidia-smi > /dev/null; then
        nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader 2>&1 | sed 's/^/gpu: /'
    else
        echo "gpu: nvidia-smi not found"
    fi
} >> "$SUMMARY"
cat "$SUMMARY"

HAVE_GPU=0
if command -v nvidia-smi > /dev/null && nvidia-smi -L 2>/dev/null | grep -q '^GPU '; then
    HAVE_GPU=1
fi

# ---- 1 smoke --------------------------------------------------------------------------------------
STATUS_FILE="$WORK/smoke-status.json"
run_capped smoke "$(cap_for 90)" "$OUT/smoke.log" "$PY" bench/gpu_smoke.py --status-file "$STATUS_FILE"
KERNELS_OK=0
if [[ -f "$STATUS_FILE" ]]; then
    read -r SMOKE_GPU KERNELS_OK SMOKE_DETAIL < <("$PY" - "$STATUS_FILE" <<'PYEOF'
import json, sys
s = json.load(open(sys.argv[1]))
print(int(bool(s.get("gpu"))), int(bool(s.get("kernel_launch"))),
      f"{len(s.get('passed', []))} passed, {len(s.get('failed', []))} failed, {len(s.get('skipped', []))} skipped"
      + (f" (failed: {', '.join(s['failed'])})" if s.get("failed") else ""))
PYEOF
)
    (( SMOKE_GPU )) && HAVE_GPU=1
    cat "$STATUS_FILE" >> "$OUT/smoke.log"
else
    SMOKE_DETAIL="no status file: see smoke.log"
fi
record smoke "$(status_of $RC)" "$SECS" "${SMOKE_DETAIL:-}"
tail -n 30 "$OUT/smoke.log"

skip_all_gpu() {
    local reason=$1
    for stage in gpu nccl bench kernels tf32 parts; do
        record "$stage" "skipped: $reason" 0 ""
    done
}

if (( ! HAVE_GPU )); then
    skip_all_gpu "no GPU"
else
    # ---- 2 gpu ------------------------------------------------------------------------------------
    LOG="$OUT/tests.log"
    pytest_stage gpu "$(cap_for 120)" load -m gpu tests --ignore=tests/distributed/test_distributed_nccl.py
    record gpu "$(status_of $RC)" "$SECS" "$TESTS_LINE"

    # ---- 3 nccl -----------------------------------------------------------------------------------
    T3=$(date +%s)
    pytest_stage nccl "$(cap_for 40)" serial tests/distributed/test_distributed_nccl.py
    NCCL_RC=$RC; NCCL_LINE=$TESTS_LINE
    run_capped nccl "$(cap_for 30)" "$LOG" "$PY" bench/allreduce.py --nccl --repeats 20
    (( RC != 0 && NCCL_RC == 0 )) && NCCL_RC=$RC
    MPIEXEC=$(command -v mpiexec || true)
    if [[ -n "$MPIEXEC" && $(id -u) == 0 ]]; then
        # Open MPI's mpiexec refuses to start as root unless told twice (these machines run commands as root).
        export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
    fi
    if [[ -n "$MPIEXEC" ]]; then
        # init('nccl') through MPI: the unique id travels over MPI as bytes, as on a multi-GPU node
        run_capped nccl "$(cap_for 60)" "$LOG" "$MPIEXEC" -n 1 "$PY" -m gpunn.cli train --backend cupy --epochs 2 \
            --output-dir "$WORK/train-mpi"
        (( RC != 0 && NCCL_RC == 0 )) && NCCL_RC=$RC
        NCCL_LINE="$NCCL_LINE; mpiexec -n 1 train exit $RC"
    else
        NCCL_LINE="$NCCL_LINE; no mpiexec: the MPI-launched run was not made"
    fi
    record nccl "$(status_of $NCCL_RC)" "$(( $(date +%s) - T3 ))" "$NCCL_LINE"

    # ---- 4 bench (fp32) ---------------------------------------------------------------------------
    # The cuBLASLt epilogue contenders only after their check passed in a process of its own: a broken call
    # must not take the other contenders' figures down with it.
    LT_BACKEND="" PARTS_EPILOGUES=""
    if timeout -k 5 60 "$PY" bench/epilogue_check.py > "$WORK/epilogues.log" 2>&1; then
        LT_BACKEND=",cupy-graph-lt" PARTS_EPILOGUES="--epilogues"
    fi
    { echo; cat "$WORK/epilogues.log"; } >> "$OUT/smoke.log"
    EPILOGUE_LINE=$(grep '^epilogues:' "$WORK/epilogues.log" | tail -n 1)
    CASES=(--case 784-256-256-10:64,128,256 --case 4096-4096-4096-10:4096)
    # cupy-cub beside cupy: the eager step with CuPy's CUB reductions, and without them (as its graphs run)
    BACKENDS=cupy,cupy-cub,cupy-graph,cupy-graph16${LT_BACKEND},cupy-unfused
    BACKENDS+=,torch-cuda,torch-cuda-compiled,torch-cuda-graph
    CAP=$(cap_for 170)
    run_capped bench "$CAP" "$OUT/bench.log" "$PY" -m gpunn.cli bench "${CASES[@]}" --backends "$BACKENDS" \
        --repeats 5 --time-limit $(( CAP > 30 ? CAP - 25 : 5 )) --debug \
        --output "$WORK/fp32" --name bench
    cp "$WORK/fp32/bench.json" "$WORK/fp32/bench.md" "$WORK/fp32/bench.png" "$OUT/" 2>/dev/null
    record bench "$(status_of $RC)" "$SECS" "$(tail -n 1 "$OUT/bench.log"); ${EPILOGUE_LINE:-epilogues: no check line}"

    # ---- 5 kernels on the device ------------------------------------------------------------------
    if (( KERNELS_OK )); then
        # a file's tests on one worker: they share its compiled kernels
        pytest_stage kernels "$(cap_for 150)" loadfile tests/kernels
        record kernels "$(status_of $RC)" "$SECS" "$TESTS_LINE"
    else
        record kernels "skipped: no kernel launch" 0 "stage 1 could not launch a gpunn kernel (see smoke.log)"
    fi

    # ---- 6 tf32 -----------------------------------------------------------------------------------
    CAP=$(cap_for 60)
    run_capped tf32 "$CAP" "$OUT/bench.log" "$PY" -m gpunn.cli bench --tf32 --case 784-256-256-10:128 \
        --case 4096-4096-4096-10:4096 --backends "cupy,cupy-graph${LT_BACKEND},torch-cuda,torch-cuda-graph" \
        --repeats 5 --time-limit $(( CAP > 30 ? CAP - 25 : 5 )) --debug --no-plot --output "$WORK/tf32" --name bench-tf32
    cp "$WORK/tf32/bench-tf32.json" "$OUT/" 2>/dev/null
    [[ -f "$WORK/tf32/bench-tf32.md" ]] && { echo; cat "$WORK/tf32/bench-tf32.md"; } >> "$OUT/bench.md"
    record tf32 "$(status_of $RC)" "$SECS" "$(tail -n 1 "$OUT/bench.log")"

    # ---- 7 parts ----------------------------------------------------------------------------------
    run_capped parts "$(cap_for 60)" "$WORK/parts.md" "$PY" bench/step_parts.py --tf32 $PARTS_EPILOGUES
    { echo; cat "$WORK/parts.md"; } >> "$OUT/bench.md"
    record parts "$(status_of $RC)" "$SECS" "$(grep -m 2 'replayed step' "$WORK/parts.md" | cut -c1-60 | tr '\n' ' ')"
fi

# ---- summary, last ----------------------------------------------------------------------------------
{
    echo
    echo "stage    result                     time   detail"
    printf '%s\n' "${STAGE_LINES[@]}"
    echo "total: $(( $(date +%s) - START )) s of $BUDGET; files in $OUT: $(ls "$OUT" | tr '\n' ' ')"
} >> "$SUMMARY"
echo
echo "================ gpunn GPU visit: summary ================"
cat "$SUMMARY"
# exit status: 0 when no stage failed or ran out of time (skipped stages are not failures)
printf '%s\n' "${STAGE_LINES[@]}" | grep -qE '^\S+ +(FAIL|TIMEOUT)' && exit 1
exit 0
