"""lowering_check.py's own behaviour: it fails on a broken kernel, and skips (never silently passes) the
stages whose library is missing. Each case runs the script's main() in a subprocess without the simulator,
with a small prelude that breaks one thing."""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# cuda-pathfinder finds libnvvm and libnvJitLink for cuda-bindings; refusing one makes it look uninstalled.
HIDE_LIBRARY = """
import cuda.pathfinder._dynamic_libs.load_nvidia_dynamic_lib as finder
from cuda.pathfinder._dynamic_libs.load_dl_common import DynamicLibNotFoundError
_load = finder._load_lib_no_cache
def _refuse(libname):
    if libname == {name!r}:
        raise DynamicLibNotFoundError(f'Failure finding "lib{{libname}}.so": No such file')
    return _load(libname)
finder._load_lib_no_cache = _refuse
"""

BROKEN_KERNELS = """
import numpy as np
import lowering_check
from gpunn.kernels import _launch

def _broken_cases(full):
    cuda = _launch.bind_numba_cuda({})
    @cuda.jit
    def widens(x):  # float32 in, float64 arithmetic inside
        i = cuda.grid(1)
        if i < x.size:
            x[i] = x[i] * 0.1
    @cuda.jit
    def untypable(x):
        x[0] = "text"
    x = np.zeros(4, np.float32)
    yield "widens", widens, (x,), "float32"
    yield "untypable", untypable, (x,), "float32"

lowering_check._cases = _broken_cases
"""


def run_check(prelude: str, *args: str):
    code = "\n".join([
        "import sys",
        f"sys.path.insert(0, {str(REPO / 'tests' / 'kernels')!r})",
        textwrap.dedent(prelude),
        "import lowering_check",
        f"sys.exit(lowering_check.main({list(args)!r}))",
    ])
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO,
                          timeout=300)


def test_broken_kernels_fail_with_the_reason():
    result = run_check(BROKEN_KERNELS)
    out = result.stdout + result.stderr
    assert result.returncode == 1, out
    assert "FAIL float32 widens: float64 arithmetic" in result.stdout, out
    assert "FAIL float32 untypable: TypingError" in result.stdout, out
    assert "compiled 1 kernels" in result.stdout and "2 failures" in result.stdout, out


def test_without_nvvm_the_check_skips_and_says_why():
    result = run_check(HIDE_LIBRARY.format(name="nvvm"), "--only=adam")
    out = result.stdout + result.stderr
    assert result.returncode == 3, out
    assert 'SKIP ptx: libNVVM is not usable (DynamicLibNotFoundError: Failure finding "libnvvm.so"' in out, out
    assert "FAIL" not in result.stdout, out


def test_without_nvjitlink_the_cubin_stage_skips_and_ptx_still_runs():
    result = run_check(HIDE_LIBRARY.format(name="nvJitLink"), "--only=adam amsgrad")
    out = result.stdout + result.stderr
    assert result.returncode == 3, out
    assert "SKIP cubin: nvJitLink is not usable" in result.stdout, out
    assert "ptx: .version" in result.stdout and "\ncubin:" not in result.stdout, out
    assert "compiled 2 kernels" in result.stdout and "0 failures" in result.stdout, out


# NumPy 2.5 removed np.row_stack, which numba-cuda's array typing registers at the first compile; older NumPy
# loses it here.
NUMPY_WITHOUT_ROW_STACK = """
import numpy
if hasattr(numpy, "row_stack"):
    del numpy.row_stack
"""


def test_kernels_compile_on_a_numpy_without_row_stack():
    result = run_check(NUMPY_WITHOUT_ROW_STACK, "--only=adam amsgrad")
    out = result.stdout + result.stderr
    assert result.returncode in (0, 3), out  # 3: a library stage skipped, which the two tests above cover
    assert "row_stack" not in out, out
    assert "compiled 2 kernels" in result.stdout and "0 failures" in result.stdout, out
