"""The wheel's package list: every package on disk is in pyproject.toml's explicit list, and gpunn.kernels
comes from the top-level kernels/ folder."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

tomllib = pytest.importorskip("tomllib") if sys.version_info >= (3, 11) else pytest.importorskip("tomli")


def _setuptools_config() -> dict:
    with open(REPO / "pyproject.toml", "rb") as fh:
        return tomllib.load(fh)["tool"]["setuptools"]


def _packages_on_disk() -> set[str]:
    found = {".".join(p.parent.relative_to(REPO).parts) for p in (REPO / "gpunn").rglob("__init__.py")}
    found |= {"gpunn.kernels." + ".".join(p.parent.relative_to(REPO / "kernels").parts)
              for p in (REPO / "kernels").rglob("__init__.py") if p.parent != REPO / "kernels"}
    return found | {"gpunn.kernels"}


def test_every_package_on_disk_is_listed():
    listed = set(_setuptools_config()["packages"])
    on_disk = _packages_on_disk()
    assert on_disk - listed == set(), f"add these to pyproject.toml's packages: {sorted(on_disk - listed)}"
    assert listed - on_disk == set(), f"listed but not on disk: {sorted(listed - on_disk)}"


def test_kernels_install_as_gpunn_kernels():
    assert _setuptools_config()["package-dir"] == {"gpunn.kernels": "kernels"}
    assert (REPO / "kernels" / "__init__.py").is_file() and not (REPO / "gpunn" / "kernels").exists()
    import gpunn.kernels

    assert Path(gpunn.kernels.__file__).resolve().parent == (REPO / "kernels").resolve()


def test_the_version_reads_as_keras_version_does():
    import importlib.metadata

    import gpunn

    assert gpunn.version() == gpunn.__version__ == importlib.metadata.version("gpunn")
