"""The ``gpunn`` command line: ``train`` on the offline digits, ``info``, and one-line errors for bad options."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import digits, numpy_backend  # noqa: F401

import gpunn
from gpunn.cli import main

REPO = Path(__file__).resolve().parents[1]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def parse_accuracy(out: str) -> float:
    match = re.search(r"^test accuracy: ([0-9.]+)", out, re.MULTILINE)
    assert match, out
    return float(match.group(1))


def parse_throughput(out: str) -> float:
    match = re.search(r"([0-9][0-9,]*(?:\.[0-9]+)?) samples/s", out)
    assert match, out
    return float(match.group(1).replace(",", ""))


def test_train_writes_the_model_and_the_curves(tmp_path, capsys):
    out_dir = tmp_path / "run"
    rc = main(["train", "--epochs", "3", "--layers", "64", "--output-dir", str(out_dir), "--verbose", "0",
               "--backend", "numpy"])
    out = capsys.readouterr().out
    assert rc == 0
    accuracy = parse_accuracy(out)
    assert 0.8 <= accuracy <= 1.0
    assert parse_throughput(out) > 0
    model_path, plot_path = out_dir / "model.safetensors", out_dir / "training_curves.png"
    assert plot_path.read_bytes()[:8] == PNG_MAGIC and plot_path.stat().st_size > 1000
    # The saved model is the trained one: it reproduces the printed test accuracy on the same test split.
    model = gpunn.models.load_model(model_path)
    assert [type(l).__name__ for l in model.layers] == ["Dense", "Dense"]
    assert model.layers[0].units == 64 and model.layers[-1].units == 10
    assert model.optimizer.iterations > 0
    _, (x_test, y_test) = digits(flat=True)
    _, test_accuracy = model.evaluate(x_test, y_test, verbose=0)
    assert f"{test_accuracy:.4f}" == f"{accuracy:.4f}"


def test_train_options_reach_the_model(tmp_path, capsys):
    out_dir = tmp_path / "run"
    rc = main(["train", "--epochs", "1", "--layers", "12,8", "--activation", "tanh", "--optimizer", "sgd",
               "--learning-rate", "0.05", "--batch-size", "64", "--validation-split", "0.2", "--seed", "3",
               "--output-dir", str(out_dir), "--verbose", "0", "--backend", "numpy"])
    assert rc == 0
    model = gpunn.models.load_model(out_dir / "model.safetensors")
    assert [l.units for l in model.layers] == [12, 8, 10]
    assert model.layers[0].activation.name == "tanh" and model.layers[-1].activation.name == "softmax"
    assert type(model.optimizer) is gpunn.optimizers.SGD and model.optimizer.learning_rate == 0.05
    (x_train, _), _ = digits()
    n_fit = len(x_train) - int(len(x_train) * 0.2)
    assert model.optimizer.iterations == -(-n_fit // 64)  # one epoch of batches of 64
    capsys.readouterr()


@pytest.mark.parametrize("flags, asked", [([], "auto"), (["--jit"], True), (["--no-jit"], False),
                                          (["--jit", "--steps-per-execution", "4"], True)])
def test_train_jit_flags_reach_compile(tmp_path, capsys, flags, asked):
    out_dir = tmp_path / "run"
    rc = main(["train", "--epochs", "1", "--layers", "8", "--output-dir", str(out_dir), "--verbose", "0",
               "--backend", "numpy", *flags])
    assert rc == 0
    model = gpunn.models.load_model(out_dir / "model.safetensors")
    assert model._jit_compile == asked
    assert model.steps_per_execution == (4 if "--steps-per-execution" in flags else 1)
    capsys.readouterr()


def test_train_verbose_prints_the_summary(tmp_path, capsys):
    rc = main(["train", "--epochs", "1", "--layers", "8", "--output-dir", str(tmp_path), "--verbose", "2",
               "--backend", "numpy"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "gpunn " + gpunn.__version__ in out and "data: digits" in out
    assert "Total params: " + f"{64 * 8 + 8 + 8 * 10 + 10:,}" in out
    assert "test accuracy:" in out


@pytest.mark.slow
def test_default_train_reaches_95_percent(tmp_path):
    """The README's main job, as a user runs it: ``gpunn train`` with its defaults (30 epochs)."""
    env = dict(os.environ)
    env.pop("NUMBA_ENABLE_CUDASIM", None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    result = subprocess.run([sys.executable, "-m", "gpunn.cli", "train", "--output-dir", str(tmp_path / "run")],
                            capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr
    assert parse_accuracy(result.stdout) >= 0.95
    assert parse_throughput(result.stdout) > 0
    assert (tmp_path / "run" / "training_curves.png").read_bytes()[:8] == PNG_MAGIC
    assert (tmp_path / "run" / "model.safetensors").is_file()


def test_info_prints_versions_and_backends():
    env = dict(os.environ)
    env.pop("NUMBA_ENABLE_CUDASIM", None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    result = subprocess.run([sys.executable, "-m", "gpunn.cli", "info"], capture_output=True, text=True, env=env,
                            cwd=REPO, timeout=120)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert f"gpunn: {gpunn.__version__}" in out
    assert f"numpy: {np.__version__}" in out
    assert f"python: {sys.version.split()[0]}" in out
    assert re.search(r"^safetensors: \S+", out, re.MULTILINE)
    lines = out.splitlines()
    backends = lines.index("backends:")
    listed = [l.strip() for l in lines[backends + 1:] if l.startswith("  ")]
    assert listed[0] == "numpy"
    assert ("cupy" in listed) == gpunn._compat.has_cupy_gpu()
    assert "gpus:" in lines


# ---- bad options: exit code 2 and one line -------------------------------------------------------------------


@pytest.mark.parametrize("argv, fragments", [
    (["train", "--layers", "12,x"], ["--layers", "comma-separated positive integers", "'12,x'"]),
    (["train", "--layers", "0"], ["--layers", "positive integers", "'0'"]),
    (["train", "--optimizer", "adma"], ["optimizer", "'adma'", "Did you mean 'adam'?"]),
    (["train", "--activation", "rellu"], ["activation", "'rellu'", "Did you mean 'relu'?"]),
    (["train", "--dataset", "digitz"], ["dataset", "'digitz'", "Did you mean 'digits'?"]),
    (["train", "--dataset", "imdb"], ["--dataset", "'imdb'", "needs a model of its own", "gpunn.datasets.imdb"]),
    (["train", "--backend", "nupmy"], ["backend", "'nupmy'", "Did you mean 'numpy'?"]),
    (["train", "--batch-size", "0"], ["batch_size: expected a positive integer, got 0"]),
    (["train", "--validation-split", "1.5"], ["validation_split", "[0, 1)", "1.5"]),
    (["train", "--learning-rate", "-1"], ["learning_rate: expected a finite number >= 0", "-1"]),
])
def test_bad_option_values_give_a_one_line_error(argv, fragments, tmp_path, capsys):
    out_dir = tmp_path / "run"
    rc = main(argv + ["--output-dir", str(out_dir), "--verbose", "0", "--epochs", "1"])
    err = capsys.readouterr().err
    assert rc == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("gpunn train: error: ")
    for fragment in fragments:
        assert fragment in lines[0]
    assert "Traceback" not in err
    assert not (out_dir / "model.safetensors").exists()


@pytest.mark.skipif(gpunn._compat.has_cupy_gpu(), reason="checks the behaviour on a machine without a GPU")
def test_cupy_backend_without_a_gpu_is_a_one_line_error(tmp_path, capsys):
    rc = main(["train", "--backend", "cupy", "--output-dir", str(tmp_path), "--verbose", "0"])
    err = capsys.readouterr().err
    assert rc == 2
    assert len(err.strip().splitlines()) == 1
    assert "gpunn train: error: backend 'cupy' needs a working CUDA GPU" in err


@pytest.mark.parametrize("argv, fragment", [
    (["train", "--epochs", "abc"], "argument --epochs: invalid int value: 'abc'"),
    (["train", "--bogus"], "unrecognized arguments: --bogus"),
    (["train", "--verbose", "5"], "argument --verbose: invalid choice: 5"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
    ([], "the following arguments are required"),
])
def test_unparseable_options_exit_2_with_one_error_line(argv, fragment, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if "error:" in line]
    assert len(errors) == 1 and fragment in errors[0], err
    assert "Traceback" not in err
    # argparse's convention: the usage line, then the one error line.
    assert err.strip().splitlines()[0].startswith("usage: gpunn")


def test_help_exits_0(capsys):
    with pytest.raises(SystemExit) as info:
        main(["train", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for option in ("--epochs", "--layers", "--optimizer", "--backend", "--output-dir"):
        assert option in out


# ---- CIFAR: trained from the local cache, a clear error without it -------------------------------------------


def test_train_on_cifar10_from_the_cache(tmp_path, capsys, monkeypatch):
    """The 32x32x3 images flattened to 3072 features, scaled to [0, 1]; read offline from the cache."""
    from cifar_files import CIFAR10_ARCHIVE, cifar10_members, write_tar_gz

    members, _ = cifar10_members(train_rows=8, test_rows=6)
    (tmp_path / "data" / "cifar10").mkdir(parents=True)
    write_tar_gz(tmp_path / "data" / "cifar10" / CIFAR10_ARCHIVE, members)
    monkeypatch.setenv("GPUNN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GPUNN_OFFLINE", "1")
    out_dir = tmp_path / "run"
    rc = main(["train", "--dataset", "cifar10", "--epochs", "1", "--layers", "8", "--output-dir", str(out_dir),
               "--verbose", "1", "--backend", "numpy"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "data: cifar10 40 train / 6 test, 10 classes" in out
    assert 0.0 <= parse_accuracy(out) <= 1.0
    model = gpunn.models.load_model(out_dir / "model.safetensors")
    assert model.layers[0].get_weights()[0].shape == (32 * 32 * 3, 8)
    assert model.layers[-1].units == 10


@pytest.mark.parametrize("offline", [True, False])
def test_train_on_cifar10_without_its_files_is_a_clear_error(offline, tmp_path, capsys, monkeypatch):
    """As for mnist: GPUNN_OFFLINE=1, or no network, and no archive in the cache: exit 2 naming what to put where."""
    import urllib.error

    from gpunn.datasets import _cache, cifar10

    def unreachable(url, timeout=None):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(_cache.urllib.request, "urlopen", unreachable)
    monkeypatch.setenv("GPUNN_DATA_DIR", str(tmp_path / "data"))
    if offline:
        monkeypatch.setenv("GPUNN_OFFLINE", "1")
    else:
        monkeypatch.delenv("GPUNN_OFFLINE", raising=False)
    out_dir = tmp_path / "run"
    rc = main(["train", "--dataset", "cifar10", "--epochs", "1", "--output-dir", str(out_dir), "--verbose", "0",
               "--backend", "numpy"])
    err = capsys.readouterr().err
    assert rc == 2
    # (after a "Downloading ..." line when a download was tried)
    assert "\ngpunn train: error: cifar10: cifar-10-python.tar.gz not found in " in "\n" + err
    assert ("GPUNN_OFFLINE is set" if offline else "Name or service not known") in err
    assert str(tmp_path / "data" / "cifar10" / "cifar-10-python.tar.gz") in err and cifar10.ORIGIN in err
    assert "Traceback" not in err
    assert not (out_dir / "model.safetensors").exists()
