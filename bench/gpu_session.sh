#!/usr/bin/env bash
# Everything a GPU machine should run for gpunn, in one go, writing at most 8 files into $OUT (or ./gpu-out):
#   info.txt          nvidia-smi, gpunn info (driver, CUDA, CuPy, numba-cuda, NCCL, MPI, PyTorch versions)
#   pytest-gpu.log    the GPU suite (python -m pytest -m gpu) and the kernel tests on the device
#   gpu.{json,csv,md,png}   gpunn bench side by side with PyTorch on the same GPU (fp32, then TF32)
#   gpu-tf32.md       the TF32 sweep's summary
# Usage on the device machine, from the repository root:
#   pip install --no-deps -e . && bash bench/gpu_session.sh
set -uo pipefail
OUT=${OUT:-gpu-out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1

{
    date -u
    echo "command: bash bench/gpu_session.sh"
    nvidia-smi
    gpunn info
} > "$OUT/info.txt" 2>&1

{
    echo "== python -m pytest -m gpu"
    python -m pytest -m gpu -q -rs -p no:cacheprovider
    echo "== python -m pytest tests/kernels (on the device: the root conftest sees the driver)"
    python -m pytest tests/kernels -q -p no:cacheprovider
} > "$OUT/pytest-gpu.log" 2>&1

# 784-256-256-10 at batch 64/128/256 (launch-bound) and 4096-wide at batch 4096 (matmul-bound).
gpunn bench --sizes 784-256-256-10,tiny,small,4096-4096-4096-10 --batches 64,128,256,4096 \
    --backends numpy,cupy,cupy-unfused,torch-cuda --repeats 5 --output "$OUT" --name gpu \
    > "$OUT/bench-fp32.log" 2>&1
gpunn bench --tf32 --sizes 784-256-256-10,4096-4096-4096-10 --batches 128,4096 \
    --backends cupy,torch-cuda --repeats 5 --output "$OUT/tf32" --name gpu-tf32 --no-plot \
    >> "$OUT/bench-fp32.log" 2>&1
cp "$OUT/tf32/gpu-tf32.md" "$OUT/gpu-tf32.md" 2>/dev/null
rm -rf "$OUT/tf32"
tail -n 60 "$OUT/bench-fp32.log"
