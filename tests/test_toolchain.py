"""gpunn.toolchain: the report's structure and probes (on whatever this machine has), the PTX version
arithmetic, the predicted mismatches, and the advice for every known link failure."""
import ctypes.util
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from gpunn import _compat, toolchain

REPO = Path(__file__).resolve().parents[1]
SECTIONS = ("python", "driver", "cupy", "cuda_bindings", "nvvm", "nvjitlink", "linker", "link_probe", "numba",
            "numba_cuda", "nccl", "torch", "system_toolkits", "ptx", "problems")


def run_python(code: str, **env_changes):
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    env.update(env_changes)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO,
                          timeout=120)


@pytest.fixture(scope="module")
def report():
    return toolchain.toolchain_report()


# ---------------------------------------------------------------- the report on this machine


def test_importing_the_module_touches_no_cuda():
    result = run_python("import sys, gpunn, gpunn.toolchain; "
                        "bad = [m for m in sys.modules if m.split('.')[0] in ('cupy', 'numba', 'cuda', 'torch')];"
                        "assert not bad, bad")
    assert result.returncode == 0, result.stderr


def test_report_has_every_section_and_each_probe_answers_or_says_why(report):
    assert set(SECTIONS) <= set(report)
    for name in SECTIONS[1:-3]:
        section = report[name]
        assert isinstance(section, dict) and section, name
        if "error" in section:
            assert isinstance(section["error"], str) and section["error"], name
    assert isinstance(report["problems"], list)
    assert all(isinstance(p, str) for p in report["problems"])


def test_installed_wheels_are_found(report):
    assert report["numba"]["version"] == _compat.version_of("numba")
    if importlib.util.find_spec("numba_cuda") is not None:
        assert report["numba_cuda"]["version"] == _compat.version_of("numba-cuda")
        assert set(report["numba_cuda"]["settings"]) == set(toolchain.LINK_SETTINGS)
    if _compat.version_of("nvidia-nvvm") or _compat.version_of("nvidia-cuda-nvcc-cu12"):
        nvvm = report["nvvm"]
        assert "error" not in nvvm, nvvm
        assert toolchain.parse_version(nvvm["release"]) and toolchain.parse_version(nvvm["ptx_isa"]), nvvm
        assert nvvm["ptx_target"] == "sm_90"
        assert report["ptx"]["emitted"] == nvvm["ptx_isa"]
    if _compat.version_of("nvidia-nvjitlink") or _compat.version_of("nvidia-nvjitlink-cu12"):
        assert toolchain.parse_version(report["nvjitlink"]["version"]), report["nvjitlink"]
        assert report["linker"].get("backend") == "nvJitLink", report["linker"]
        assert report["link_probe"].get("ok") is True, report["link_probe"]
    if importlib.util.find_spec("cupy") is not None:
        assert "error" not in report["cupy"], report["cupy"]
        assert report["cupy"]["version"] in (_compat.version_of("cupy-cuda13x"), _compat.version_of("cupy-cuda12x"),
                                             _compat.version_of("cupy"))
        assert toolchain.parse_version(report["cupy"]["runtime_built"])


def test_gpu_facts_report_their_error_without_a_gpu(report):
    if _compat.cuda_driver_device_count() > 0:
        pytest.skip("a GPU is visible here")
    driver = report["driver"]
    assert "error" in driver or "cuda_version" in driver  # a driver without a GPU still has a version
    if "error" not in report["cupy"]:
        assert report["cupy"].get("gpus_error") or report["cupy"].get("gpus") == []


def test_report_lines_name_each_piece(report):
    lines = toolchain.report_lines(report)
    assert all(isinstance(line, str) and "\n" not in line for line in lines)
    for prefix in ("driver: ", "cupy: ", "nvvm: ", "nvjitlink: ", "linker: ", "numba: ", "numba-cuda: ", "nccl: ",
                   "torch: ", "ptx: "):
        assert any(line.startswith(prefix) for line in lines), prefix


def test_gpunn_info_prints_the_toolchain():
    result = run_python("import sys; from gpunn.commands import info; sys.exit(info.run(None))")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    at = lines.index("toolchain:")
    block = [line.strip() for line in lines[at + 1:] if line.startswith("  ")]
    assert any(line.startswith("nvvm: ") for line in block) and any(line.startswith("ptx: ") for line in block)


def test_a_preloaded_library_is_the_one_numba_cuda_gets(report):
    """The advice's 'preload_library' remedy: cuda-pathfinder takes an already loaded library first."""
    path = report["nvvm"].get("library")
    if not path:
        pytest.skip(f"no libnvvm here: {report['nvvm']}")
    code = (f"from gpunn import toolchain; toolchain.preload_library({path!r}); "
            "import cuda.pathfinder as p; found = p.load_nvidia_dynamic_lib('nvvm'); "
            "print(found.found_via, found.abs_path)")
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["was-already-loaded-from-elsewhere", path]


def test_preload_library_loads_any_shared_library():
    libm = ctypes.util.find_library("m")
    if libm is None:
        pytest.skip("no libm to load")
    assert toolchain.preload_library(libm) == libm


# ---------------------------------------------------------------- version arithmetic


@pytest.mark.parametrize("release,isa,extrapolated", [
    ((11, 8), (7, 8), False), ((12, 4), (8, 4), False), ((12, 6), (8, 5), False), ((12, 8), (8, 7), False),
    ("12.9", (8, 8), False), (13000, (9, 0), False), ("13.5.37", (9, 5), False), ((13, 7), (9, 7), True),
])
def test_max_ptx_isa_of_a_cuda_release(release, isa, extrapolated):
    assert toolchain.max_ptx_isa(release) == (isa, extrapolated)


def test_cuda_release_for_ptx_and_parsing():
    assert toolchain.cuda_release_for_ptx("8.6") == (12, 7)
    assert toolchain.cuda_release_for_ptx("9.5") == (13, 5)
    assert toolchain.cuda_release_for_ptx("9.9") == (13, 9)  # past the table: the 13.x rule
    assert toolchain.parse_version(12040) == (12, 4) and toolchain.parse_version("bad") is None
    assert toolchain.max_ptx_isa(None) == (None, False)


def test_ptx_header():
    ptx = "//\n// Cuda compilation tools, release 13.5, V13.5.37\n//\n\n.version 9.5\n.target sm_90a\n"
    assert toolchain.ptx_header(ptx) == {"ptx_isa": "9.5", "target": "sm_90a", "release": "13.5"}


def synthetic_report(driver="13.0", nvvm="13.5", ptx="9.5", nvjitlink="13.5", backend="nvJitLink",
                     settings=None, toolkits=()):
    report = {
        "driver": {"cuda_version": driver} if driver else {"error": "OSError: libcuda not found"},
        "cupy": {"version": "14.2.0", "runtime_built": "13.0"},
        "nvvm": {"release": nvvm, "ptx_isa": ptx, "ptx_target": "sm_90"},
        "nvjitlink": {"version": nvjitlink} if nvjitlink else {"error": "DynamicLibNotFoundError: no nvJitLink"},
        "linker": {"backend": backend},
        "link_probe": {"ok": True},
        "numba_cuda": {"settings": settings or {s: "absent" for s in toolchain.LINK_SETTINGS}},
        "system_toolkits": list(toolkits),
    }
    report["ptx"] = toolchain.ptx_compatibility(report)
    report["problems"] = toolchain.predicted_problems(report)
    return report


def test_a_consistent_toolchain_predicts_no_problem():
    assert synthetic_report()["problems"] == []
    assert synthetic_report(nvvm="13.0", ptx="9.0", nvjitlink=None, backend="driver (cuLink)")["problems"] == []


def test_mismatches_are_predicted():
    old_jitlink = synthetic_report(nvjitlink="13.0")
    assert any("nvJitLink 13.0 reads at most 9.0" in p for p in old_jitlink["problems"]), old_jitlink["problems"]
    driver_link = synthetic_report(nvjitlink=None, backend="driver (cuLink)")
    assert any("the driver (CUDA 13.0) JIT-compiles at most 9.0" in p for p in driver_link["problems"])
    newer_major = synthetic_report(driver="12.8", nvvm="12.8", ptx="8.7", nvjitlink="13.0")
    assert any("cannot load" in p for p in newer_major["problems"]), newer_major["problems"]
    assert any("CuPy is built for CUDA 13.0" in p for p in newer_major["problems"])


# ---------------------------------------------------------------- diagnosis of known failures

DRIVER_PTX_JIT = ("numba.cuda.cudadrv.driver.LinkerError: [222] Call to cuLinkAddData results in "
                  "CUDA_ERROR_UNSUPPORTED_PTX_VERSION\nptxas application ptx input, line 9; fatal   : "
                  "Unsupported .version 9.5; current version is '9.0'")
NVJITLINK_PTX = ("nvJitLinkError: ERROR_PTX_COMPILE (4)\nnvJitLink error log: ptxas application ptx input, line 9; "
                 "fatal   : Unsupported .version 9.5; current version is '9.0'")
NVJITLINK_LTO = ("nvJitLinkError: ERROR_INTERNAL (6)\nLinker error log: ERROR 4 in nvvmAddNVVMContainerToProgram, "
                 "may need newer version of nvJitLink library")


@pytest.mark.parametrize("text,backend,kind", [
    (DRIVER_PTX_JIT, "nvJitLink", "driver_too_old_for_ptx"),
    ("CudaAPIError: [222] Call to cuModuleLoadDataEx results in CUDA_ERROR_UNSUPPORTED_PTX_VERSION", None,
     "driver_too_old_for_ptx"),
    (NVJITLINK_PTX, "nvJitLink", "nvjitlink_too_old"),
    (NVJITLINK_LTO, "nvJitLink", "nvjitlink_too_old"),
    ("RuntimeError: Dynamically loaded libnvJitLink.so.12 is too old; it is version 12.2, need at least version 12.9",
     None, "nvjitlink_too_old"),
    ("ptxas fatal : Unsupported .version 9.5; current version is '9.0'", "nvJitLink", "nvjitlink_too_old"),
    ("ptxas fatal : Unsupported .version 9.5; current version is '9.0'", "driver (cuLink)", "driver_too_old_for_ptx"),
    ("NvvmSupportError: libNVVM is not available", None, "nvvm_missing"),
    ('DynamicLibNotFoundError: Failure finding "libnvvm.so": No such file', None, "nvvm_missing"),
    ("NvvmSupportError: libNVVM cannot be found. Do `conda install cudatoolkit`: library nvvm not found", None,
     "nvvm_missing"),
    ('DynamicLibNotFoundError: Failure finding "libnvJitLink.so.13": No such file', None, "nvjitlink_missing"),
    ("RuntimeError: Link time optimization requires nvJitLink.", None, "nvjitlink_missing"),
    ("CudaSupportError: CUDA driver library cannot be found.", None, "no_driver"),
    ('DynamicLibNotFoundError: "cuda" is an NVIDIA driver library and can only be found via system search.', None,
     "no_driver"),
    ("CUDARuntimeError: cudaErrorNoDevice: no CUDA-capable device is detected", None, "no_driver"),
    ("CUDARuntimeError: cudaErrorInsufficientDriver: CUDA driver version is insufficient for CUDA runtime version",
     None, "driver_too_old_for_runtime"),
    ("CudaAPIError: [200] Call to cuModuleLoadDataEx results in CUDA_ERROR_INVALID_IMAGE", None,
     "image_not_loadable"),
    ("ValueError: x: expected shape (3, 4)", None, "unknown"),
])
def test_known_failures_are_classified(text, backend, kind):
    assert toolchain.classify_link_error(text, backend) == kind


def test_driver_jit_too_old_advises_nvjitlink_or_an_older_nvvm():
    toolkit = {"path": "/usr/local/cuda-13.0", "version": "13.0.88",
               "libnvvm": "/usr/local/cuda-13.0/nvvm/lib64/libnvvm.so"}
    report = synthetic_report(nvjitlink=None, backend="driver (cuLink)", toolkits=[toolkit])
    advice = toolchain.diagnose_link_error(DRIVER_PTX_JIT, report)
    assert advice.startswith("diagnosis: driver_too_old_for_ptx")
    assert "pip install 'nvidia-nvjitlink==13.5.*'" in advice
    assert "pip install 'nvidia-nvvm==13.0.*'" in advice
    assert "preload_library('/usr/local/cuda-13.0/nvvm/lib64/libnvvm.so')" in advice
    assert "NUMBA_CUDA" not in advice  # no setting of this numba-cuda would help


def test_advice_names_settings_only_where_numba_cuda_honours_them():
    honoured = {s: "honoured" for s in toolchain.LINK_SETTINGS}
    report = synthetic_report(nvjitlink=None, backend="driver (cuLink)", settings=honoured)
    advice = toolchain.diagnose_link_error(DRIVER_PTX_JIT, report)
    assert "NUMBA_CUDA_ENABLE_PYNVJITLINK=1" in advice and "NUMBA_CUDA_USE_NVIDIA_BINDING=1" in advice
    assert "point NUMBA_CUDA_DRIVER at" in toolchain.diagnose_link_error("CUDA driver library cannot be found", report)
    ignored = synthetic_report(settings={s: "read but ignored" for s in toolchain.LINK_SETTINGS})
    assert "point NUMBA_CUDA_DRIVER at" not in toolchain.diagnose_link_error("CUDA driver library cannot be found",
                                                                             ignored)


def test_cuda_12_advice_names_the_cu12_wheels():
    report = synthetic_report(driver="12.4", nvvm="12.8", ptx="8.7", nvjitlink=None, backend="driver (cuLink)")
    text = ("LinkerError: [222] Call to cuLinkAddData results in CUDA_ERROR_UNSUPPORTED_PTX_VERSION\n"
            "ptxas application ptx input, line 9; fatal   : Unsupported .version 8.7; current version is '8.4'")
    advice = toolchain.diagnose_link_error(text, report)
    assert "pip install 'nvidia-nvjitlink-cu12==12.8.*'" in advice
    assert "pip install 'nvidia-cuda-nvcc-cu12==12.4.*'" in advice


def test_nvjitlink_too_old_advice_trusts_the_linkers_own_version():
    report = synthetic_report(nvjitlink="13.5")  # the report's nvJitLink; the one that ran was older
    advice = toolchain.diagnose_link_error(NVJITLINK_PTX, report)
    assert advice.startswith("diagnosis: nvjitlink_too_old")
    assert "nvJitLink (CUDA 13.0) cannot read the PTX 9.5" in advice
    assert "pip install 'nvidia-nvjitlink==13.5.*'" in advice and "pip install 'nvidia-nvvm==13.0.*'" in advice


def test_missing_pieces_get_their_wheel():
    report = synthetic_report(driver="13.0")
    assert "pip install 'nvidia-nvvm==13.0.*'" in toolchain.diagnose_link_error(
        "NvvmSupportError: libNVVM is not available", report)
    assert "pip install 'nvidia-nvjitlink==13.5.*'" in toolchain.diagnose_link_error(
        'Failure finding "libnvJitLink.so.13"', report)
    assert "cupy-cuda13x" in toolchain.diagnose_link_error("cudaErrorInsufficientDriver", report)


def test_diagnosis_reads_chained_exceptions_and_unknown_errors_list_predicted_problems():
    try:
        try:
            raise RuntimeError(DRIVER_PTX_JIT)
        except RuntimeError as inner:
            raise ValueError("kernel launch failed") from inner
    except ValueError as exc:
        outer = exc
    report = synthetic_report(nvjitlink=None, backend="driver (cuLink)")
    assert toolchain.diagnose_link_error(outer, report).startswith("diagnosis: driver_too_old_for_ptx")
    unknown = toolchain.diagnose_link_error(ValueError("nothing known"), report)
    assert unknown.startswith("diagnosis: unknown") and "predicted problem: NVVM emits PTX 9.5" in unknown


def test_numba_cuda_settings_are_read_from_its_source(tmp_path):
    cuda = tmp_path / "numba" / "cuda"
    (cuda / "core").mkdir(parents=True)
    (cuda / "cudadrv").mkdir()
    (cuda / "core" / "config.py").write_text(
        'CUDA_DRIVER = _readenv("NUMBA_CUDA_DRIVER", str, "")\n'
        'CUDA_USE_NVIDIA_BINDING = _readenv(\n    "NUMBA_CUDA_USE_NVIDIA_BINDING", int, 0\n)\n')
    (cuda / "cudadrv" / "driver.py").write_text("path = config.CUDA_DRIVER\n")
    settings = toolchain.numba_cuda_settings(str(cuda))
    assert settings["NUMBA_CUDA_DRIVER"] == "honoured"
    assert settings["NUMBA_CUDA_USE_NVIDIA_BINDING"] == "read but ignored"
    assert settings["NUMBA_CUDA_ENABLE_PYNVJITLINK"] == "absent"


def test_settings_named_in_advice_are_known_to_the_installed_numba_cuda(report):
    """Every NUMBA_* setting the advice can name is one LINK_SETTINGS checks; those this numba-cuda reads
    are in its config."""
    source = Path(toolchain.__file__).read_text()
    named = set(re.findall(r"NUMBA_CUDA_\w+", source))
    assert named <= set(toolchain.LINK_SETTINGS)
    settings = report["numba_cuda"].get("settings")
    if not settings or "error" in settings:
        pytest.skip(f"numba-cuda not found: {report['numba_cuda']}")
    config = Path(report["numba_cuda"]["source"]) / "core" / "config.py"
    for name, state in settings.items():
        if state != "absent" and config.is_file():
            assert f'"{name}"' in config.read_text(), name
