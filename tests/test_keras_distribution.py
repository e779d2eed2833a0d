"""``gpunn.distribution``, Keras 3's ``keras.distribution`` on gpunn's one-device-per-process jobs, in one process
(the two-rank run of Keras's lines is in tests/distributed/test_distributed_mpi.py)."""
from __future__ import annotations

import warnings
from types import SimpleNamespace

import numpy as np
import pytest

import gpunn
from gpunn import distribution
from helpers import numpy_backend, run_script_both_ways  # noqa: F401  (fixture)


@pytest.fixture(autouse=True)
def no_distribution_left_set():
    yield
    distribution.set_distribution(None)


def test_keras_guide_lines_in_one_process(numpy_backend):
    devices = gpunn.distribution.list_devices()
    data_parallel = gpunn.distribution.DataParallel(devices=devices)
    gpunn.distribution.set_distribution(data_parallel)
    assert devices == ["cpu:0"] and gpunn.distribution.get_device_count() == 1
    assert gpunn.distribution.distribution() is data_parallel
    assert (data_parallel.num_processes, data_parallel.num_model_replicas, data_parallel.data_shard_id) == (1, 1, 0)
    assert data_parallel.get_data_layout((8, 3)).axes == ("batch", None)
    assert data_parallel.get_tensor_layout("dense/kernel") is None
    assert data_parallel.distribute_dataset("a dataset") == "a dataset"


KERAS_SCRIPT = r'''
import json, sys
import numpy as np


def run(keras, folder):
    dist = keras.distribution
    devices = dist.list_devices()
    mesh = dist.DeviceMesh((1,), ["data"], devices)
    found = {"devices": devices, "count": dist.get_device_count("cpu"), "before": repr(dist.distribution()),
             "mesh": [repr(mesh), list(mesh.shape), mesh.axis_names, mesh.devices.tolist()]}
    by_mesh = dist.DataParallel(device_mesh=mesh)
    by_default = dist.DataParallel()
    found["by_mesh"] = [repr(by_mesh), by_mesh.batch_dim_name, by_mesh.auto_shard_dataset]
    found["by_default"] = [repr(by_default), by_default.batch_dim_name]
    layout = by_mesh.get_variable_layout(keras.Variable(np.zeros((3, 2), "float32")))
    found["variable_layout"] = [list(layout.axes), repr(layout.device_mesh)]
    dist.set_distribution(by_default)
    with by_mesh.scope():
        found["in_scope"] = dist.distribution() is by_mesh
    found["after_scope"] = dist.distribution() is by_default
    dist.set_distribution(None)
    found["tensor"] = np.asarray(dist.distribute_tensor(np.ones(2), dist.TensorLayout([None], mesh))).tolist()
    errors = []
    for make in (lambda: dist.DeviceMesh((), ["a"]), lambda: dist.DeviceMesh((1,), ["a", "b"]),
                 lambda: dist.DeviceMesh((2,), ["a"], devices), lambda: dist.TensorLayout(["b"], mesh),
                 lambda: dist.DataParallel(device_mesh="mesh")):
        try:
            make()
            errors.append(None)
        except ValueError as e:
            errors.append(str(e))
    found["errors"] = errors
    layout = dist.TensorLayout(["data", None])
    layout.device_mesh = mesh
    try:
        layout.device_mesh = mesh
    except ValueError as e:
        found["override"] = str(e).split(".")[0]
    return found
'''


def test_the_api_as_keras_on_one_cpu_device(tmp_path_factory):
    """Names, defaults, meshes, layouts, scope and Keras's own errors, against Keras 3 on jax (one CPU device)."""
    ours, theirs = run_script_both_ways(KERAS_SCRIPT, tmp_path_factory)
    assert ours == theirs
    assert theirs["errors"][0].startswith("Shape and axis_names cannot be empty")


def test_devices_other_than_the_job_s_are_refused_naming_them(numpy_backend):
    with pytest.raises(ValueError, match=r"devices: .*the job's \['cpu:0'\].*got \['cpu:0', 'cpu:1'\].*mpiexec -n N"):
        distribution.DataParallel(devices=["cpu:0", "cpu:1"])
    with pytest.raises(ValueError, match=r"device_mesh: .*got \['gpu:0'\]"):
        distribution.DataParallel(device_mesh=distribution.DeviceMesh((1,), ["batch"], ["gpu:0"]))
    with pytest.raises(ValueError, match="device_type: gpunn's backend is NumPy .CPU.*got 'gpu'"):
        distribution.list_devices("gpu")
    with pytest.raises(ValueError, match=r"device_type: expected one of \('cpu', 'gpu', 'tpu'\).*got 'xpu'"):
        distribution.get_device_count("xpu")


def test_a_two_dimensional_mesh_warns_as_keras_and_splits_the_batch_over_every_device(numpy_backend):
    mesh = distribution.DeviceMesh((1, 1), ["batch", "model"])
    with pytest.warns(UserWarning, match="Expect the input mesh to be 1D"):
        assert distribution.DataParallel(device_mesh=mesh).batch_dim_name == "batch"


def test_model_parallelism_is_refused_by_name():
    for name in ("ModelParallel", "LayoutMap"):
        with pytest.raises(ValueError, match=f"{name}: gpunn trains data-parallel only.*DataParallel"):
            getattr(gpunn.distribution, name)(None)
    mesh = SimpleNamespace(axis_names=["batch", "model"])
    with pytest.raises(ValueError, match="distribute_tensor: gpunn trains data-parallel only"):
        distribution.distribute_tensor(np.ones((2, 2)), distribution.TensorLayout([None, "model"], mesh))
    with pytest.raises(TypeError, match="value: expected a keras.distribution.DataParallel or None, got str"):
        distribution.set_distribution("data_parallel")


def test_initialize_checks_the_job_it_was_launched_in(numpy_backend, monkeypatch):
    distribution.initialize(job_addresses="10.0.0.1:1234", num_processes=1, process_id=0)
    with pytest.raises(ValueError, match="num_processes: expected the job's number of processes, 1; got 2 .this "
                                         "process was started alone: launch the job with `mpiexec -n N"):
        distribution.initialize(num_processes=2)
    monkeypatch.setenv("KERAS_DISTRIBUTION_PROCESS_ID", "1")
    with pytest.raises(ValueError, match="process_id: expected this process's rank, 0 .*got 1"):
        distribution.initialize()


def test_in_a_job_of_several_processes(monkeypatch):
    """Rank 1 of 2 (a stand-in communicator): two devices, the shard id is the rank, and data given already
    split per process (auto_shard_dataset=False) is refused: gpunn splits each global batch itself."""
    monkeypatch.setattr(distribution, "_job", lambda: SimpleNamespace(size=2, rank=1))
    monkeypatch.setattr(distribution, "_platform", lambda: "gpu")
    data_parallel = distribution.DataParallel()
    assert distribution.list_devices() == ["gpu:0", "gpu:1"]
    assert (data_parallel.num_processes, data_parallel.num_model_replicas, data_parallel.data_shard_id) == (2, 2, 1)
    with pytest.raises(ValueError, match="auto_shard_dataset: gpunn splits every global batch over the processes"):
        distribution.DataParallel(auto_shard_dataset=False)
    with pytest.raises(ValueError, match="process_id: expected this process's rank, 1"):
        distribution.initialize(num_processes=2, process_id=0)


def test_a_lone_process_seeing_several_gpus_says_how_to_use_them(monkeypatch):
    monkeypatch.setattr(distribution, "_job", lambda: SimpleNamespace(size=1, rank=0))
    monkeypatch.setattr(distribution, "_platform", lambda: "gpu")
    runtime = SimpleNamespace(getDeviceCount=lambda: 4)
    monkeypatch.setattr(gpunn._compat, "cupy", lambda: SimpleNamespace(cuda=SimpleNamespace(runtime=runtime)))
    with pytest.warns(UserWarning, match=r"one GPU of the 4 it sees .*mpiexec -n 4 python"):
        distribution.DataParallel()
    monkeypatch.setattr(distribution, "_platform", lambda: "cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        distribution.DataParallel(auto_shard_dataset=False)  # alone, data split per process is the whole data
