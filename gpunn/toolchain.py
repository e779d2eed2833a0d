"""Which CUDA toolchain pieces this process would use, and what a kernel link failure means.

A Numba CUDA kernel goes through three separately installed pieces before it runs: NVVM (libnvvm) turns
Numba's IR into PTX of some ISA version; a linker turns the PTX into a cubin (nvJitLink when it is
installed, else the driver's own PTX JIT through cuLink*); the driver loads the cubin. Each piece only
understands PTX up to the ISA of its CUDA release, so an NVVM newer than the linker makes every kernel
fail ("Unsupported .version 9.5", "may need newer version of nvJitLink"). ``toolchain_report()`` records
the versions of every piece and predicts such mismatches; ``diagnose_link_error()`` turns a failure
message into the wheel or setting that fixes it.

Every probe fails soft (its entry holds ``error``) and nothing here touches CUDA at import time.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import glob
import importlib
import importlib.util
import json
import os
import re
import subprocess
import sys
import warnings

TARGET_ARCH = (9, 0)  # the GPU the project is built for (H100/H200); probes compile for it without a GPU

# The first CUDA release able to read each PTX ISA version, from the PTX ISA guide's release history
# (the same table cuda-bindings ships in cuda.bindings.utils). Used as: a component of CUDA release R
# (the driver's JIT, nvJitLink, ptxas) accepts PTX up to the highest ISA whose release is <= R.
PTX_ISA_RELEASES = {
    (7, 0): (11, 0), (7, 1): (11, 1), (7, 2): (11, 2), (7, 3): (11, 3), (7, 4): (11, 4), (7, 5): (11, 5),
    (7, 6): (11, 6), (7, 7): (11, 7), (7, 8): (11, 8),
    (8, 0): (12, 0), (8, 1): (12, 1), (8, 2): (12, 2), (8, 3): (12, 3), (8, 4): (12, 4), (8, 5): (12, 5),
    (8, 6): (12, 7), (8, 7): (12, 8), (8, 8): (12, 9),
    (9, 0): (13, 0), (9, 1): (13, 1), (9, 2): (13, 2), (9, 3): (13, 3), (9, 4): (13, 4), (9, 5): (13, 5),
}
_NEWEST_KNOWN_RELEASE = max(PTX_ISA_RELEASES.values())

# Environment settings of numba-cuda that matter to linking, looked up in the installed source (they come
# and go between releases; advice names only those the installed numba-cuda honours).
LINK_SETTINGS = ("NUMBA_CUDA_USE_NVIDIA_BINDING", "NUMBA_CUDA_DRIVER", "NUMBA_CUDA_ENABLE_PYNVJITLINK",
                 "NUMBA_CUDA_ENABLE_MINOR_VERSION_COMPATIBILITY")


# ---------------------------------------------------------------- version arithmetic


def parse_version(text) -> tuple[int, ...] | None:
    """(13, 5) from '13.5', '13.5.37', (13, 5) or a CUDA int such as 13050; None if unreadable."""
    if text is None:
        return None
    if isinstance(text, int):
        return (text // 1000, (text % 1000) // 10)
    if isinstance(text, tuple):
        return tuple(int(x) for x in text)
    found = re.match(r"\s*(\d+)\.(\d+)", str(text))
    return (int(found.group(1)), int(found.group(2))) if found else None


def dotted(version) -> str:
    return ".".join(str(x) for x in version) if version else "unknown"


def max_ptx_isa(cuda_release) -> tuple[tuple[int, int] | None, bool]:
    """(highest PTX ISA a component of this CUDA release reads, whether that was extrapolated).

    Releases newer than the table follow the 13.x rule (ISA major = CUDA major - 4, same minor); that is an
    assumption, flagged by the second value.
    """
    release = parse_version(cuda_release)
    if release is None:
        return None, False
    release = release[:2]
    if release > _NEWEST_KNOWN_RELEASE:
        return (release[0] - 4, release[1]), True
    readable = [isa for isa, first in PTX_ISA_RELEASES.items() if first <= release]
    return (max(readable) if readable else None), False


def cuda_release_for_ptx(ptx_isa) -> tuple[int, int] | None:
    """The first CUDA release that reads this PTX ISA version."""
    isa = parse_version(ptx_isa)
    if isa is None:
        return None
    if isa in PTX_ISA_RELEASES:
        return PTX_ISA_RELEASES[isa]
    return (isa[0] + 4, isa[1]) if isa[0] >= 9 else None


def ptx_header(ptx: str) -> dict:
    """The ``.version`` / ``.target`` directives and the CUDA release line of a PTX text."""
    facts = {}
    for key, pattern in (("ptx_isa", r"^\s*\.version\s+(\d+\.\d+)"), ("target", r"^\s*\.target\s+([\w,]+)"),
                         ("release", r"release (\d+\.\d+)")):
        found = re.search(pattern, ptx, re.MULTILINE)
        if found:
            facts[key] = found.group(1)
    return facts


# ---------------------------------------------------------------- probes (each fails soft)


def _error(exc: BaseException) -> dict:
    text = f"{type(exc).__name__}: {exc}".strip()
    return {"error": text if len(text) <= 400 else text[:400] + "..."}


def fail_soft(probe, *args) -> dict:
    """``probe(*args)``, or ``{"error": "..."}`` when it raises."""
    try:
        return probe(*args)
    except Exception as exc:  # a probe must never stop the report
        return _error(exc)


def _dist_version(name: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _first_dist(*names) -> str | None:
    for name in names:
        version = _dist_version(name)
        if version:
            return f"{name} {version}"
    return None


def _loaded_library_path(fragment: str) -> str | None:
    """Where a shared library whose name contains ``fragment`` was mapped from in this process."""
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                path = line.split()[-1] if "/" in line else ""
                if fragment in os.path.basename(path):
                    return path
    except OSError:
        pass
    return None


def _libcuda():
    last = None
    for name in ("libcuda.so.1", "libcuda.so", ctypes.util.find_library("cuda")):
        if not name:
            continue
        try:
            return ctypes.CDLL(name)
        except OSError as exc:
            last = exc
    raise OSError(f"libcuda (the NVIDIA driver's CUDA library) not found: {last}")


def probe_driver() -> dict:
    """The CUDA version the driver supports (cuDriverGetVersion, no context needed) and its release."""
    lib = _libcuda()
    version = ctypes.c_int(0)
    status = lib.cuDriverGetVersion(ctypes.byref(version))
    if status != 0:
        raise RuntimeError(f"cuDriverGetVersion returned CUresult {status}")
    facts = {"cuda_version": dotted(parse_version(version.value)), "cuda_version_int": version.value,
             "libcuda": _loaded_library_path("libcuda.so")}
    facts.update(fail_soft(_driver_release))
    facts.pop("error", None)  # the release number is a nicety; the CUDA version is what matters
    return facts


def _driver_release() -> dict:
    try:
        with open("/proc/driver/nvidia/version") as f:
            found = re.search(r"Kernel Module(?: for \w+)?\s+(\d+\.\d+(?:\.\d+)?)", f.read())
            if found:
                return {"release": found.group(1)}
    except OSError:
        pass
    out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version,name,compute_cap", "--format=csv,noheader"],
                         capture_output=True, text=True, timeout=20)
    rows = [r.strip() for r in out.stdout.splitlines() if r.strip()]
    if out.returncode != 0 or not rows:
        raise RuntimeError(f"nvidia-smi failed: {out.stderr.strip()[:200]}")
    return {"release": rows[0].split(",")[0].strip(), "gpus": rows}


def probe_cupy() -> dict:
    """CuPy's version, the CUDA runtime it was built with and the one it loaded, and its GPUs."""
    import cupy

    facts = {"version": cupy.__version__, "runtime_built": dotted(parse_version(cupy.cuda.runtime.runtimeGetVersion()))}
    local = getattr(cupy.cuda, "get_local_runtime_version", None)
    if local is not None:
        facts["runtime_loaded"] = dotted(parse_version(local()))
    try:
        count = cupy.cuda.runtime.getDeviceCount()
        gpus = []
        for i in range(count):
            p = cupy.cuda.runtime.getDeviceProperties(i)
            gpus.append(f"{i}: {p['name'].decode()} (compute capability {p['major']}.{p['minor']})")
        facts["gpus"] = gpus
    except Exception as exc:  # no driver or no device: versions above are still worth reporting
        facts["gpus_error"] = _error(exc)["error"]
    return facts


def probe_cuda_bindings() -> dict:
    import cuda.bindings
    from cuda.bindings import runtime

    facts = {"version": getattr(cuda.bindings, "__version__", None) or _dist_version("cuda-bindings")}
    status, version = runtime.cudaRuntimeGetVersion()
    if int(status) == 0:
        facts["runtime_loaded"] = dotted(parse_version(version))
    else:
        facts["runtime_error"] = str(status)
    return facts


def _library_location(libname: str) -> dict:
    """Where cuda-pathfinder (numba-cuda's and cuda-bindings' library finder) takes a library from."""
    try:
        import cuda.pathfinder as pathfinder

        loaded = pathfinder.load_nvidia_dynamic_lib(libname)
    except Exception as exc:
        return {"library_error": _error(exc)["error"]}
    return {"library": getattr(loaded, "abs_path", None), "found_via": getattr(loaded, "found_via", None)}


_DATA_LAYOUT = ("e-p:64:64:64-i1:8:8-i8:8:8-i16:16:16-i32:32:32-i64:64:64-i128:128:128-f32:32:32-f64:64:64-"
                "v16:16:16-v32:32:32-v64:64:64-v128:128:128-n16:32:64")  # numba-cuda's, for 64-bit pointers
_PROBE_IR = """target triple = "nvptx64-nvidia-cuda"
target datalayout = "{layout}"

define void @gpunn_toolchain_probe() {{
entry:
  ret void
}}

!nvvmir.version = !{{!0}}
!0 = !{{i32 {0}, i32 {1}, i32 {2}, i32 {3}}}
"""


def nvvm_probe_ptx(arch=TARGET_ARCH) -> str:
    """PTX for an empty function from the NVVM that numba-cuda would load (via cuda.bindings.nvvm)."""
    from cuda.bindings import nvvm

    ir = _PROBE_IR.format(*nvvm.ir_version(), layout=_DATA_LAYOUT).encode()
    program = nvvm.create_program()
    try:
        nvvm.add_module_to_program(program, ir, len(ir), "gpunn_toolchain_probe")
        options = [f"-arch=compute_{arch[0]}{arch[1]}"]
        try:
            nvvm.compile_program(program, len(options), options)
        except Exception as exc:
            size = nvvm.get_program_log_size(program)
            log = bytearray(size)
            if size:
                nvvm.get_program_log(program, log)
            raise RuntimeError(f"{exc}; NVVM log: {bytes(log).decode(errors='replace').strip()}") from None
        result = bytearray(nvvm.get_compiled_result_size(program))
        nvvm.get_compiled_result(program, result)
    finally:
        nvvm.destroy_program(program)
    return bytes(result).decode(errors="replace").strip("\x00")


def probe_nvvm() -> dict:
    """libNVVM's API and IR versions, its CUDA release and the PTX ISA it emits for TARGET_ARCH."""
    from cuda.bindings import nvvm

    facts = {"api_version": dotted(nvvm.version()), "ir_version": dotted(nvvm.ir_version()),
             "wheel": _first_dist("nvidia-nvvm", "nvidia-cuda-nvcc-cu12", "nvidia-cuda-nvcc")}
    facts.update(_library_location("nvvm"))
    header = ptx_header(nvvm_probe_ptx())
    facts["release"] = header.get("release")
    facts["ptx_isa"] = header.get("ptx_isa")
    facts["ptx_target"] = header.get("target")
    return facts


def probe_nvjitlink() -> dict:
    from cuda.bindings import nvjitlink

    facts = {"version": dotted(nvjitlink.version()),
             "wheel": _first_dist("nvidia-nvjitlink", "nvidia-nvjitlink-cu12", "nvidia-nvjitlink-cu13")}
    facts.update(_library_location("nvJitLink"))
    return facts


def _cuda_core():
    """cuda.core's linking classes (older cuda-core releases keep them in cuda.core.experimental)."""
    try:
        from cuda import core
        core.Linker  # noqa: B018 - raises AttributeError on releases without it at the top level
        return core
    except (ImportError, AttributeError):
        from cuda.core import experimental

        return experimental


def probe_linker() -> dict:
    """Which backend cuda.core's Linker (numba-cuda's linker) picks: nvJitLink, or the driver's cuLink."""
    core = _cuda_core()
    with warnings.catch_warnings():  # cuda.core warns when it falls back to the driver; the report says so
        warnings.simplefilter("ignore")
        which = getattr(core.Linker, "which_backend", None)
        if which is not None:
            chosen = which()
            uses_driver = "jitlink" not in str(getattr(chosen, "value", chosen)).lower()
        else:
            from cuda.core.experimental import _linker

            uses_driver = bool(_linker._decide_nvjitlink_or_driver())
    return {"backend": "driver (cuLink)" if uses_driver else "nvJitLink"}


def link_probe_cubin(ptx: str, arch=TARGET_ARCH) -> bytes:
    """Link a PTX text to a cubin the way numba-cuda does (cuda.core's Linker); no GPU needed with nvJitLink."""
    core = _cuda_core()
    linker = core.Linker(core.ObjectCode.from_ptx(ptx.encode(), name="gpunn_toolchain_probe"),
                         options=core.LinkerOptions(arch=f"sm_{arch[0]}{arch[1]}"))
    try:
        return bytes(linker.link("cubin").code)
    finally:
        linker.close()


def probe_link() -> dict:
    """NVVM's PTX for TARGET_ARCH linked to a cubin with nvJitLink: the step that fails when NVVM outruns
    the linker. Linking through the driver needs a CUDA context, so that case is left to a kernel launch."""
    backend = probe_linker()["backend"]
    if backend != "nvJitLink":
        return {"skipped": f"the linker is the {backend}: a kernel launch on a GPU shows whether it links"}
    cubin = link_probe_cubin(nvvm_probe_ptx())
    if cubin[:4] != b"\x7fELF":
        raise RuntimeError("the linker returned something that is not an ELF cubin")
    return {"ok": True, "target": f"sm_{TARGET_ARCH[0]}{TARGET_ARCH[1]}", "cubin_bytes": len(cubin)}


def _numba_cuda_source_dir() -> str | None:
    spec = importlib.util.find_spec("numba_cuda")
    if spec is not None and spec.submodule_search_locations:
        path = os.path.join(list(spec.submodule_search_locations)[0], "numba", "cuda")
        if os.path.isdir(path):
            return path
    spec = importlib.util.find_spec("numba")  # older layouts: numba.cuda inside numba itself
    if spec is not None and spec.submodule_search_locations:
        path = os.path.join(list(spec.submodule_search_locations)[0], "cuda")
        if os.path.isdir(path):
            return path
    return None


def numba_cuda_settings(source_dir: str | None = None) -> dict:
    """For each of LINK_SETTINGS: 'honoured', 'read but ignored' or 'absent' in the installed numba-cuda.

    Read from its source rather than imported, so it also answers under the CUDA simulator.
    """
    source_dir = source_dir or _numba_cuda_source_dir()
    if source_dir is None:
        raise RuntimeError("numba-cuda is not installed")
    config_path = next((p for p in (os.path.join(source_dir, "core", "config.py"),
                                    os.path.join(os.path.dirname(source_dir), "core", "config.py"))
                        if os.path.isfile(p)), None)
    config_text = open(config_path).read() if config_path else ""
    attrs = dict((env, attr) for attr, env in re.findall(r"(\w+)\s*=\s*_readenv\(\s*[\"'](NUMBA_\w+)[\"']",
                                                         config_text))
    code = []
    for root, dirs, files in os.walk(source_dir):
        dirs[:] = [d for d in dirs if d not in ("tests", "simulator", "__pycache__")]
        for name in files:
            path = os.path.join(root, name)
            if name.endswith(".py") and path != config_path:
                with open(path, errors="replace") as f:
                    code.append(f.read())
    code_text = "\n".join(code)
    settings = {}
    for env in LINK_SETTINGS:
        attr = attrs.get(env)
        if attr is None:
            settings[env] = "absent"
        else:
            used = re.search(rf"\b{attr}\b", code_text) is not None
            settings[env] = "honoured" if used else "read but ignored"
    return settings


def probe_numba_cuda() -> dict:
    source_dir = _numba_cuda_source_dir()
    if source_dir is None:
        raise RuntimeError("numba-cuda is not installed")
    facts = {"version": _dist_version("numba-cuda") or "bundled with numba", "source": source_dir}
    driver_py = os.path.join(source_dir, "cudadrv", "driver.py")
    text = open(driver_py, errors="replace").read() if os.path.isfile(driver_py) else ""
    settings = fail_soft(numba_cuda_settings, source_dir)
    facts["settings"] = settings
    if re.search(r"^from cuda\.bindings import driver as binding", text, re.MULTILINE):
        facts["binding"] = "cuda-bindings (NVIDIA's cuda-python; the only binding of this numba-cuda)"
    elif settings.get("NUMBA_CUDA_USE_NVIDIA_BINDING") == "honoured":
        chosen = os.environ.get("NUMBA_CUDA_USE_NVIDIA_BINDING", "0") not in ("", "0")
        facts["binding"] = ("cuda-bindings (NUMBA_CUDA_USE_NVIDIA_BINDING=1)" if chosen else
                            "numba's ctypes binding (NUMBA_CUDA_USE_NVIDIA_BINDING unset or 0)")
    else:
        facts["binding"] = "unknown"
    return facts


def probe_nccl() -> dict:
    with warnings.catch_warnings():  # CuPy warns when libnccl is absent; the report says so instead
        warnings.simplefilter("ignore")
        from cupy.cuda import nccl
    if not getattr(nccl, "available", True):
        raise RuntimeError("CuPy cannot load libnccl (pip install nvidia-nccl-cu12 or nvidia-nccl-cu13)")
    return {"version": str(nccl.get_version()), "build_version": str(nccl.get_build_version())}


def probe_torch() -> dict:
    """PyTorch's version and CUDA, read from its version file so that it is not imported."""
    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("not installed")
    facts = {"version": _dist_version("torch")}
    version_py = os.path.join(list(spec.submodule_search_locations)[0], "version.py")
    if os.path.isfile(version_py):
        found = re.search(r"^cuda\s*(?::[^=]*)?=\s*['\"]?([\w.]+)", open(version_py).read(), re.MULTILINE)
        facts["cuda"] = found.group(1) if found else None
    return facts


def probe_system_toolkits() -> list[dict]:
    """CUDA toolkits installed outside Python (/usr/local/cuda*): their libnvvm and libnvJitLink can stand in
    for the wheels' (cuda-pathfinder uses a library already loaded in the process; see preload_library)."""
    found = []
    roots = sorted(set(os.path.realpath(p) for p in glob.glob("/usr/local/cuda*") + glob.glob("/opt/cuda*")
                       if os.path.isdir(p)))
    for root in roots:
        entry = {"path": root}
        try:
            with open(os.path.join(root, "version.json")) as f:
                entry["version"] = json.load(f)["cuda"]["version"]
        except Exception:
            found_version = re.search(r"(\d+\.\d+)", os.path.basename(root))
            entry["version"] = found_version.group(1) if found_version else None
        for key, pattern in (("libnvvm", "nvvm/lib64/libnvvm.so*"),
                             ("libnvjitlink", "lib64/libnvJitLink.so*"),
                             ("libnvjitlink", "targets/*/lib/libnvJitLink.so*")):
            matches = sorted(glob.glob(os.path.join(root, pattern)))
            if matches and key not in entry:
                entry[key] = matches[-1]
        found.append(entry)
    return found


def preload_library(path: str) -> str:
    """Load a shared library into this process before numba-cuda looks for it.

    cuda-pathfinder takes a library already loaded in the process before any wheel, so loading a CUDA
    toolkit's libnvvm (or libnvJitLink) first makes numba-cuda use that one. Returns its path.
    """
    ctypes.CDLL(path, mode=getattr(os, "RTLD_GLOBAL", 0) | getattr(os, "RTLD_NOW", 0))
    return path


# ---------------------------------------------------------------- the report


def toolchain_report() -> dict:
    """Versions of every CUDA piece a kernel goes through, and the mismatches they imply.

    Keys: python, driver, cupy, cuda_bindings, nvvm, nvjitlink, linker, link_probe, numba, numba_cuda, nccl,
    torch, system_toolkits, ptx (emitted vs accepted ISA versions) and problems (a list of sentences).
    An entry whose probe failed holds ``error`` instead.
    """
    report = {
        "python": sys.version.split()[0],
        "driver": fail_soft(probe_driver),
        "cupy": fail_soft(probe_cupy),
        "cuda_bindings": fail_soft(probe_cuda_bindings),
        "nvvm": fail_soft(probe_nvvm),
        "nvjitlink": fail_soft(probe_nvjitlink),
        "linker": fail_soft(probe_linker),
        "link_probe": fail_soft(probe_link),
        "numba": {"version": _dist_version("numba")} if _dist_version("numba") else {"error": "not installed"},
        "numba_cuda": fail_soft(probe_numba_cuda),
        "nccl": fail_soft(probe_nccl),
        "torch": fail_soft(probe_torch),
    }
    toolkits = fail_soft(lambda: {"found": probe_system_toolkits()})
    report["system_toolkits"] = toolkits.get("found", toolkits)
    report["ptx"] = ptx_compatibility(report)
    report["problems"] = predicted_problems(report)
    return report


def ptx_compatibility(report: dict) -> dict:
    """The PTX ISA NVVM emits against the highest the driver's JIT and nvJitLink read."""
    emitted = report.get("nvvm", {}).get("ptx_isa")
    driver_max, driver_assumed = max_ptx_isa(report.get("driver", {}).get("cuda_version"))
    jitlink_max, jitlink_assumed = max_ptx_isa(report.get("nvjitlink", {}).get("version"))
    return {
        "emitted": emitted,
        "target": report.get("nvvm", {}).get("ptx_target"),
        "driver_max": dotted(driver_max) if driver_max else None,
        "nvjitlink_max": dotted(jitlink_max) if jitlink_max else None,
        "extrapolated": driver_assumed or jitlink_assumed,
        "linked_by": report.get("linker", {}).get("backend"),
    }


def predicted_problems(report: dict) -> list[str]:
    """Mismatches that will make kernels fail to link or load, in words."""
    problems = []
    ptx = report.get("ptx") or ptx_compatibility(report)
    emitted = parse_version(ptx.get("emitted"))
    driver = parse_version(report.get("driver", {}).get("cuda_version"))
    jitlink = parse_version(report.get("nvjitlink", {}).get("version"))
    jitlink_max, driver_max = parse_version(ptx.get("nvjitlink_max")), parse_version(ptx.get("driver_max"))
    backend = ptx.get("linked_by") or ""
    if "error" in report.get("nvvm", {}):
        problems.append(f"NVVM unusable: {report['nvvm']['error']}")
    if emitted and jitlink_max and "nvJitLink" in backend and emitted > jitlink_max:
        problems.append(f"NVVM emits PTX {dotted(emitted)} but nvJitLink {dotted(jitlink)} reads at most "
                        f"{ptx['nvjitlink_max']}: every kernel will fail to link")
    if emitted and driver_max and backend.startswith("driver") and emitted > driver_max:
        problems.append(f"NVVM emits PTX {dotted(emitted)} but the driver (CUDA {dotted(driver)}) JIT-compiles at most "
                        f"{ptx['driver_max']} and nvJitLink is not installed: every kernel will fail to link")
    if jitlink and driver and "nvJitLink" in backend and jitlink[0] > driver[0]:
        problems.append(f"nvJitLink {dotted(jitlink)} makes cubins for CUDA {jitlink[0]}, which the driver "
                        f"(CUDA {dotted(driver)}) cannot load")
    cupy_runtime = parse_version(report.get("cupy", {}).get("runtime_built"))
    if cupy_runtime and driver and cupy_runtime[0] > driver[0]:
        problems.append(f"CuPy is built for CUDA {dotted(cupy_runtime)} but the driver supports CUDA "
                        f"{dotted(driver)}: install the CuPy wheel of the driver's major version")
    link = report.get("link_probe", {})
    if "error" in link and "error" not in report.get("nvvm", {}) and "nvJitLink" in backend:
        problems.append(f"linking NVVM's PTX to a cubin failed: {link['error']}")
    return problems


def _describe(section: dict, fields) -> str:
    if "error" in section:
        return f"unavailable ({section['error']})"
    parts = []
    for key, label in fields:
        value = section.get(key)
        if value not in (None, "", []):
            parts.append(f"{label}{value}")
    return ", ".join(parts) if parts else "unknown"


def report_lines(report: dict) -> list[str]:
    """The report as short 'name: facts' lines for printing."""
    lines = [
        "driver: " + _describe(report["driver"], (("release", ""), ("cuda_version", "CUDA "), ("libcuda", "from "))),
        "cupy: " + _describe(report["cupy"], (("version", ""), ("runtime_built", "built for CUDA "),
                                              ("runtime_loaded", "loaded runtime "), ("gpus_error", "GPUs: "))),
        "cuda-bindings: " + _describe(report["cuda_bindings"], (("version", ""), ("runtime_loaded", "runtime "))),
        "nvvm: " + _describe(report["nvvm"], (("release", "CUDA "), ("ptx_isa", "emits PTX "),
                                              ("api_version", "API "), ("ir_version", "IR "), ("library", "from "),
                                              ("library_error", "library: "))),
        "nvjitlink: " + _describe(report["nvjitlink"], (("version", ""), ("library", "from "),
                                                        ("library_error", "library: "))),
        "linker: " + _describe(report["linker"], (("backend", ""),)),
        "link probe (sm_%d%d): " % TARGET_ARCH + ("ok" if report["link_probe"].get("ok") else
                                                 report["link_probe"].get("skipped") or
                                                 _describe(report["link_probe"], ())),
        "numba: " + _describe(report["numba"], (("version", ""),)),
        "numba-cuda: " + _describe(report["numba_cuda"], (("version", ""), ("binding", "binding "))),
        "nccl: " + _describe(report["nccl"], (("version", ""), ("build_version", "built with "))),
        "torch: " + _describe(report["torch"], (("version", ""), ("cuda", "CUDA "))),
    ]
    ptx = report["ptx"]
    lines.append(f"ptx: NVVM emits {ptx.get('emitted') or '?'} for {ptx.get('target') or '?'}; driver JIT reads up "
                 f"to {ptx.get('driver_max') or '?'}, nvJitLink up to {ptx.get('nvjitlink_max') or '?'}"
                 + ("; (extrapolated past the known table)" if ptx.get("extrapolated") else ""))
    settings = report["numba_cuda"].get("settings") or {}
    if settings and "error" not in settings:
        lines.append("numba-cuda settings: " + ", ".join(f"{k} {v}" for k, v in settings.items()))
    toolkits = report["system_toolkits"]
    if isinstance(toolkits, list) and toolkits:
        lines.append("system toolkits: " + "; ".join(f"{t['path']} ({t.get('version') or '?'})" for t in toolkits))
    for problem in report["problems"]:
        lines.append(f"PROBLEM: {problem}")
    return lines


# ---------------------------------------------------------------- diagnosis

_UNSUPPORTED_PTX = re.compile(r"Unsupported \.version (\d+\.\d+); current version is '(\d+\.\d+)'")


def classify_link_error(text: str, backend: str | None = None) -> str:
    """The kind of a CUDA compile/link/load failure, from its message:

    'nvjitlink_too_old', 'driver_too_old_for_ptx', 'nvvm_missing', 'nvjitlink_missing', 'no_driver',
    'driver_too_old_for_runtime', 'image_not_loadable' or 'unknown'. ``backend`` (the report's linker) settles
    an "Unsupported .version" message that names neither linker.
    """
    t = text or ""
    low = t.lower()
    names_jitlink = "nvjitlink" in low
    names_driver_link = "culink" in low or "cuda_error_unsupported_ptx_version" in low
    if "may need newer version of nvjitlink" in low or re.search(r"nvjitlink\S* is too old", low):
        return "nvjitlink_too_old"
    if _UNSUPPORTED_PTX.search(t) or "unsupported_ptx_version" in low or "unsupported ptx version" in low:
        if names_jitlink and not names_driver_link:
            return "nvjitlink_too_old"
        if names_driver_link or not backend or "nvjitlink" not in backend.lower():
            return "driver_too_old_for_ptx"
        return "nvjitlink_too_old"
    if _names_missing(low, "nvvm") or "nvvmsupporterror" in low:
        return "nvvm_missing"
    if _names_missing(low, "nvjitlink") or "requires nvjitlink" in low:
        return "nvjitlink_missing"
    if re.search(r"insufficientdriver|driver version is insufficient|cuda_error_system_driver_mismatch", low):
        return "driver_too_old_for_runtime"
    if re.search(r"cuda driver library cannot be found|\"cuda\" is an nvidia driver library|libcuda"
                 r"|cudaerrornodevice|cuda_error_no_device|no cuda-capable device|cuda_error_not_initialized", low):
        return "no_driver"
    if re.search(r"cuda_error_invalid_image|cuda_error_no_binary_for_gpu|kernel image is invalid"
                 r"|no kernel image is available|cuda_error_invalid_ptx", low):
        return "image_not_loadable"
    return "unknown"


def _names_missing(low: str, lib: str) -> bool:
    """Whether a lower-cased message says that library ``lib`` (nvvm, nvjitlink) could not be found or loaded."""
    missing = r"(not (available|found|installed)|cannot be (found|loaded)|could not be (found|loaded)|no such file)"
    return re.search(rf"(lib)?{lib}[^\n]*{missing}|(failure finding|cannot (find|load)|unable to (find|load))"
                     rf"[^\n]*lib{lib}", low) is not None


def _nvvm_wheel(release) -> str:
    major, minor = release[:2]
    if major <= 12:
        return f"nvidia-cuda-nvcc-cu{major}=={major}.{minor}.*"  # the cu12 wheels carry libnvvm inside nvcc's
    return f"nvidia-nvvm=={major}.{minor}.*"


def _nvjitlink_wheel(release) -> str:
    major, minor = release[:2]
    if major <= 12:
        return f"nvidia-nvjitlink-cu{major}=={major}.{minor}.*"
    return f"nvidia-nvjitlink=={major}.{minor}.*"


def _toolkit_with(report: dict, key: str, at_most=None, at_least=None) -> dict | None:
    """A system toolkit holding ``key`` (libnvvm/libnvjitlink) within the version bounds, newest first."""
    toolkits = report.get("system_toolkits")
    if not isinstance(toolkits, list):
        return None
    for toolkit in sorted(toolkits, key=lambda t: parse_version(t.get("version")) or (0, 0), reverse=True):
        version = parse_version(toolkit.get("version"))
        if key not in toolkit or version is None:
            continue
        if at_most and version[:2] > at_most[:2]:
            continue
        if at_least and version[:2] < at_least[:2]:
            continue
        return toolkit
    return None


def _honoured(report: dict, setting: str) -> bool:
    return (report.get("numba_cuda", {}).get("settings") or {}).get(setting) == "honoured"


def diagnose_link_error(exc_or_text, report: dict | None = None) -> str:
    """Advice for a kernel compile/link/load failure: what went wrong and which wheel or setting fixes it.

    ``exc_or_text``: the exception (its chained causes are read too) or its message. ``report``: a
    ``toolchain_report()`` (made here when None), whose versions make the advice precise.
    """
    text = exception_text(exc_or_text)
    if report is None:
        report = toolchain_report()
    backend = report.get("linker", {}).get("backend")
    kind = classify_link_error(text, backend)
    driver = parse_version(report.get("driver", {}).get("cuda_version"))
    nvvm_release = parse_version(report.get("nvvm", {}).get("release"))
    jitlink = parse_version(report.get("nvjitlink", {}).get("version"))
    found = _UNSUPPORTED_PTX.search(text)
    if found:
        ptx_seen, ptx_accepted = found.group(1), found.group(2)
    else:
        ptx_seen, ptx_accepted = report.get("nvvm", {}).get("ptx_isa"), None
    lines = [f"diagnosis: {kind}"]
    advice = _ADVICE.get(kind, _advice_unknown)
    lines += advice(report=report, driver=driver, nvvm_release=nvvm_release, jitlink=jitlink,
                    ptx_seen=ptx_seen, ptx_accepted=ptx_accepted)
    lines.append("toolchain: driver CUDA {}, NVVM CUDA {} (PTX {}), nvJitLink {}, linker {}".format(
        dotted(driver), dotted(nvvm_release), report.get("nvvm", {}).get("ptx_isa") or "?", dotted(jitlink),
        backend or "?"))
    return "\n".join(lines)


def exception_text(exc_or_text) -> str:
    """An exception's message with those of its causes (a kernel error often wraps the linker's)."""
    if isinstance(exc_or_text, BaseException):
        parts, seen, exc = [], set(), exc_or_text
        while exc is not None and id(exc) not in seen:
            seen.add(id(exc))
            parts.append(f"{type(exc).__name__}: {exc}")
            exc = exc.__cause__ or exc.__context__
        return "\n".join(parts)
    return str(exc_or_text)


def _preload_hint(toolkit: dict, key: str) -> str:
    return (f"or, with nothing to install, load {toolkit['path']}'s (CUDA {toolkit.get('version')}) library "
            f"before any kernel compiles: gpunn.toolchain.preload_library({toolkit[key]!r}) "
            f"(bench/gpu_smoke.py --preload {toolkit[key]})")


def _advice_nvjitlink_too_old(report, driver, nvvm_release, jitlink, ptx_seen, ptx_accepted):
    # "current version is X" names the PTX ISA of the ptxas inside the linker that refused: trust it over the
    # report, which may describe another libnvJitLink than the one that was loaded.
    linker_release = cuda_release_for_ptx(ptx_accepted) or jitlink
    need = nvvm_release or cuda_release_for_ptx(ptx_seen)
    lines = [f"nvJitLink (CUDA {dotted(linker_release)}) cannot read the PTX {ptx_seen or ''} that NVVM "
             f"(CUDA {dotted(nvvm_release)}) emits" + (f"; it reads up to {ptx_accepted}" if ptx_accepted else "")]
    if need:
        newer = f"nvJitLink of CUDA >= {dotted(need)}"
        if driver and need[0] != driver[0]:
            newer += f" (but the driver is CUDA {dotted(driver)}: stay within CUDA {driver[0]})"
        lines.append(f"fix: install {newer}: pip install '{_nvjitlink_wheel(need)}'")
    if linker_release:
        lines.append(f"or make NVVM no newer than nvJitLink: pip install '{_nvvm_wheel(linker_release)}'")
    toolkit = _toolkit_with(report, "libnvvm", at_most=linker_release) if linker_release else None
    if toolkit:
        lines.append(_preload_hint(toolkit, "libnvvm"))
    return lines


def _advice_driver_too_old_for_ptx(report, driver, nvvm_release, jitlink, ptx_seen, ptx_accepted):
    accepted = ptx_accepted or report.get("ptx", {}).get("driver_max")
    lines = [f"the driver (CUDA {dotted(driver)}) JIT-compiles PTX up to {accepted or '?'}, but NVVM "
             f"(CUDA {dotted(nvvm_release)}) emits {ptx_seen or '?'}; the link went through the driver (cuLink)"]
    need = nvvm_release or cuda_release_for_ptx(ptx_seen)
    if need and driver and need[0] == driver[0]:
        lines.append(f"fix: install nvJitLink of CUDA {dotted(need)} (same major as the driver, so its cubins load): "
                     f"pip install '{_nvjitlink_wheel(need)}'; cuda.core's Linker uses nvJitLink whenever it is "
                     "installed")
        if _honoured(report, "NUMBA_CUDA_ENABLE_PYNVJITLINK"):
            lines.append("and set NUMBA_CUDA_ENABLE_PYNVJITLINK=1 (this numba-cuda links with the driver otherwise)")
        if _honoured(report, "NUMBA_CUDA_USE_NVIDIA_BINDING"):
            lines.append("and set NUMBA_CUDA_USE_NVIDIA_BINDING=1 (nvJitLink needs the cuda-bindings binding here)")
    if driver:
        lines.append(f"or make NVVM no newer than the driver: pip install '{_nvvm_wheel(driver)}'")
        toolkit = _toolkit_with(report, "libnvvm", at_most=driver)
        if toolkit:
            lines.append(_preload_hint(toolkit, "libnvvm"))
    lines.append("or update the NVIDIA driver")
    return lines


def _advice_nvvm_missing(report, driver, nvvm_release, jitlink, **_):
    release = driver or jitlink
    lines = ["libNVVM (the compiler from Numba's IR to PTX) is not installed or not found"]
    if release:
        lines.append(f"fix: pip install '{_nvvm_wheel(release)}' (matching the driver, CUDA {dotted(release)}), or "
                     f"pip install 'numba-cuda[cu{release[0]}]'")
    else:
        lines.append("fix: pip install 'numba-cuda[cu12]' or 'numba-cuda[cu13]' (brings nvidia-nvvm / nvcc's libnvvm)")
    toolkit = _toolkit_with(report, "libnvvm", at_most=driver)
    if toolkit:
        lines.append(f"or point cuda-pathfinder at a toolkit: CUDA_HOME={toolkit['path']}; "
                     + _preload_hint(toolkit, "libnvvm").removeprefix("or, "))
    return lines


def _advice_nvjitlink_missing(report, driver, nvvm_release, **_):
    release = nvvm_release or driver
    lines = ["nvJitLink is not installed; without it kernels are linked by the driver's PTX JIT, which must be at "
             "least as new as NVVM"]
    if release:
        lines.append(f"fix: pip install '{_nvjitlink_wheel(release)}'")
    return lines


def _advice_no_driver(report, **_):
    lines = ["no usable NVIDIA driver or GPU: libcuda.so.1 was not found, or it sees no device",
             "check nvidia-smi; libcuda.so.1 must be on the system loader's path (LD_LIBRARY_PATH or ldconfig)"]
    if _honoured(report, "NUMBA_CUDA_DRIVER"):
        lines.append("or point NUMBA_CUDA_DRIVER at the libcuda.so.1 to use")
    else:
        lines.append("(NUMBA_CUDA_DRIVER is not honoured by this numba-cuda: it finds the driver only through the "
                     "system loader)")
    return lines


def _advice_driver_too_old_for_runtime(report, driver, **_):
    runtime = parse_version(report.get("cupy", {}).get("runtime_built"))
    lines = [f"the driver (CUDA {dotted(driver)}) is older than the CUDA runtime CuPy uses ({dotted(runtime)})"]
    if driver:
        lines.append(f"fix: install the CuPy wheel of the driver's major version: pip install 'cupy-cuda{driver[0]}x'")
    return lines


def _advice_image_not_loadable(report, driver, jitlink, **_):
    lines = ["the driver refused the linked cubin: it was made for another GPU or by a newer CUDA major version"]
    if driver and jitlink and jitlink[0] != driver[0]:
        lines.append(f"fix: nvJitLink {dotted(jitlink)} and the driver (CUDA {dotted(driver)}) differ in major "
                     f"version: pip install '{_nvjitlink_wheel(driver)}'")
    return lines


def _advice_unknown(report, **_):
    lines = ["not a known toolchain failure; read the traceback"]
    lines += [f"predicted problem: {p}" for p in report.get("problems", [])]
    return lines


_ADVICE = {
    "nvjitlink_too_old": _advice_nvjitlink_too_old,
    "driver_too_old_for_ptx": _advice_driver_too_old_for_ptx,
    "nvvm_missing": _advice_nvvm_missing,
    "nvjitlink_missing": _advice_nvjitlink_missing,
    "no_driver": _advice_no_driver,
    "driver_too_old_for_runtime": _advice_driver_too_old_for_runtime,
    "image_not_loadable": _advice_image_not_loadable,
}


def main(argv=None) -> int:
    """``python -m gpunn.toolchain [--json]``: print the report."""
    argv = sys.argv[1:] if argv is None else argv
    report = toolchain_report()
    if "--json" in argv:
        print(json.dumps(report, indent=2, default=str))
    else:
        print("\n".join(report_lines(report)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
