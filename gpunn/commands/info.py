"""``gpunn info``: versions, and what this machine offers: backends, GPUs, NCCL, MPI, BLAS, and the CUDA toolchain
(driver, NVVM, nvJitLink: the pieces a kernel is compiled and linked with, see gpunn.toolchain)."""
from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser("info", help="print versions and the backends, GPUs, NCCL and MPI found")
    p.set_defaults(run=run)


def collect() -> dict:
    """Everything ``gpunn info`` prints, as a dict: the machine facts (without initialising MPI) and the CUDA
    toolchain."""
    from ..machine import machine_facts

    facts = machine_facts()
    facts["toolchain"] = toolchain_lines()
    return facts


def toolchain_lines() -> list[str]:
    """gpunn.toolchain's report as lines; its probes fail soft, and so does this, so info always prints."""
    from .. import toolchain

    try:
        return toolchain.report_lines(toolchain.toolchain_report())
    except Exception as exc:
        return [f"unknown ({type(exc).__name__}: {exc})"]


def run(args) -> int:
    for key, value in collect().items():
        if isinstance(value, list):
            print(f"{key}:")
            for item in value:
                print(f"  {item}")
        else:
            print(f"{key}: {value}")
    return 0
