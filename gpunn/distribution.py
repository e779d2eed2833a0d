"""``keras.distribution``: Keras 3's data-parallel API, on gpunn's processes.

Keras's guide to distributed training writes

    devices = keras.distribution.list_devices()
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
    model = ...; model.fit(x, y, batch_size=256)

gpunn trains one device per process (``gpunn.distributed``), so the devices are the job's processes: launched by
``mpiexec -n N`` (or ``srun``) the script above joins the job at ``list_devices()`` (``gpunn.distributed.init()``)
and lists N devices, ``"gpu:0"``... on CuPy and ``"cpu:0"``... on NumPy; run alone it lists this process's one.
As in Keras's data parallelism, ``batch_size`` is the global batch, split over the devices, and every process
gives ``fit`` the same arrays. What shards weights over devices (``ModelParallel``, ``LayoutMap``) is refused by
name: every gpunn process holds the whole model.
"""
from __future__ import annotations

import contextlib
import math
import os
import warnings

import numpy as np

DEFAULT_BATCH_DIM_NAME = "batch"
_PLATFORMS = ("cpu", "gpu", "tpu")
_current = None  # the Distribution set by set_distribution (Keras keeps it in its global state)


def _job():
    """The job's communicator, joining it first: the devices are its processes."""
    from . import distributed

    return distributed.init()


def _platform() -> str:
    from .ops import get_ops

    return "gpu" if get_ops().name == "cupy" else "cpu"


def list_devices(device_type=None) -> list:
    """The job's devices, one per process: ``["gpu:0", "gpu:1"]`` under ``mpiexec -n 2`` on CuPy, ``["cpu:0"]``
    for a lone process on NumPy. ``device_type`` ("cpu", "gpu", "tpu") must be the current backend's."""
    comm = _job()
    platform = _platform()
    if device_type is not None:
        asked = str(device_type).lower()
        if asked not in _PLATFORMS:
            raise ValueError(f"device_type: expected one of {_PLATFORMS} or None, got {device_type!r}")
        if asked != platform:
            backend = "CuPy (GPU)" if platform == "gpu" else "NumPy (CPU)"
            raise ValueError(f"device_type: gpunn's backend is {backend}, whose devices are {platform!r}; got "
                             f"{device_type!r} (choose the backend with gpunn.config.set_backend or $GPUNN_BACKEND, "
                             "one GPU per process)")
    return [f"{platform}:{rank}" for rank in range(comm.size)]


def get_device_count(device_type=None) -> int:
    """How many devices ``list_devices(device_type)`` lists: the job's processes."""
    return len(list_devices(device_type))


def initialize(job_addresses=None, num_processes=None, process_id=None) -> None:
    """Join the job (``gpunn.distributed.init()``). gpunn's processes meet through the launcher (``mpiexec``,
    ``srun``), which also gives each its rank, so ``job_addresses`` is not needed; ``num_processes`` and
    ``process_id`` (or Keras's ``KERAS_DISTRIBUTION_*`` environment variables) are checked against the job."""
    if num_processes is None and "KERAS_DISTRIBUTION_NUM_PROCESSES" in os.environ:
        num_processes = int(os.environ["KERAS_DISTRIBUTION_NUM_PROCESSES"])
    if process_id is None and "KERAS_DISTRIBUTION_PROCESS_ID" in os.environ:
        process_id = int(os.environ["KERAS_DISTRIBUTION_PROCESS_ID"])
    comm = _job()
    if num_processes is not None and int(num_processes) != comm.size:
        how = ("this process was started alone: launch the job with `mpiexec -n N python script.py` (or srun), "
               "which starts the processes and connects them" if comm.size == 1 else
               f"the launcher started {comm.size}")
        raise ValueError(f"num_processes: expected the job's number of processes, {comm.size}; got {num_processes} "
                         f"({how})")
    if process_id is not None and int(process_id) != comm.rank:
        raise ValueError(f"process_id: expected this process's rank, {comm.rank} (the launcher numbers the "
                         f"processes); got {process_id}")


class DeviceMesh:
    """Keras's ``DeviceMesh``: devices laid out in a named grid (``shape=(8,), axis_names=["batch"]``)."""

    def __init__(self, shape, axis_names, devices=None):
        if not shape or not axis_names:
            raise ValueError(f"Shape and axis_names cannot be empty. Received: shape={shape}, axis_names={axis_names}")
        if len(shape) != len(axis_names):
            raise ValueError(f"Shape and axis_names should have same size. Received: shape={shape}, "
                             f"axis_names={axis_names}")
        devices = np.array(list_devices() if devices is None else devices)
        if math.prod(shape) != math.prod(devices.shape):
            raise ValueError(f"Shape does not match the number of devices. Received: shape={shape}; "
                             f"devices.shape={devices.shape}")
        self._shape = shape
        self._axis_names = axis_names
        self._devices = np.reshape(devices, shape)

    @property
    def shape(self):
        return self._shape

    @property
    def axis_names(self):
        return self._axis_names

    @property
    def devices(self):
        return self._devices

    def __repr__(self):
        return f"<{type(self).__name__} shape={self.shape}, axis_names={self.axis_names}>"


class TensorLayout:
    """Keras's ``TensorLayout``: for each axis of a tensor, the mesh axis it is split over (None: not split)."""

    def __init__(self, axes, device_mesh=None):
        self._axes = tuple(axes)
        self._device_mesh = device_mesh
        self._validate_axes()

    @property
    def axes(self):
        return self._axes

    @property
    def device_mesh(self):
        return self._device_mesh

    @device_mesh.setter
    def device_mesh(self, device_mesh):
        if self._device_mesh is not None:
            raise ValueError(f"Cannot override device mesh value. Existing value is {self._device_mesh}")
        self._device_mesh = device_mesh
        self._validate_axes()

    def _validate_axes(self):
        if self._device_mesh:
            valid = set(self._device_mesh.axis_names)
            named = set(self._axes) - {None}
            if named - valid:
                raise ValueError(f"Invalid axis names for Layout. Valid axis names: {valid}, Got {named}")

    def __repr__(self):
        return f"<{type(self).__name__} axes={self.axes}, device_mesh={self.device_mesh}>"


class DataParallel:
    """Keras's ``DataParallel``: the model replicated on every device, each batch split over them.

    Made with ``devices`` (a list) or a ``device_mesh`` (its first axis splits the batch), or neither (every
    device of the job). gpunn trains over every process of the job, so the devices must be the job's."""

    def __init__(self, device_mesh=None, devices=None, auto_shard_dataset=True):
        comm = _job()
        job_devices = list_devices()
        if device_mesh:
            if not isinstance(device_mesh, DeviceMesh):
                raise ValueError(f"Expect `mesh` to be an instance of `DeviceMesh`. Received: mesh={device_mesh} "
                                 f"(of type {type(device_mesh)})")
            if device_mesh.devices.ndim != 1:  # Keras's warning; the mean gradient over the batch is the same
                warnings.warn(f"Expect the input mesh to be 1D, but received mesh.devices.ndim="
                              f"{device_mesh.devices.ndim}. The first axis will be used for data-parallel sharding.",
                              stacklevel=2)
            _check_job_devices("device_mesh", device_mesh.devices.ravel().tolist(), job_devices)
            batch_dim_name = device_mesh.axis_names[0]
        else:
            given = job_devices if devices is None or len(devices) == 0 else np.asarray(devices).ravel().tolist()
            _check_job_devices("devices", given, job_devices)
            device_mesh = DeviceMesh(shape=(len(given),), axis_names=[DEFAULT_BATCH_DIM_NAME], devices=given)
            batch_dim_name = DEFAULT_BATCH_DIM_NAME
        if not auto_shard_dataset and comm.size > 1:
            raise ValueError("auto_shard_dataset: gpunn splits every global batch over the processes itself, so "
                             "each process must be given the same data; got auto_shard_dataset=False (data already "
                             "split per process). Give every process the whole dataset and leave it True")
        self._device_mesh = device_mesh
        self._batch_dim_name = batch_dim_name
        self._auto_shard_dataset = bool(auto_shard_dataset)
        self._num_processes = comm.size
        self._process_id = comm.rank
        _warn_if_alone_with_several_gpus(comm)

    @property
    def device_mesh(self):
        return self._device_mesh

    @property
    def batch_dim_name(self):
        return self._batch_dim_name

    @property
    def auto_shard_dataset(self):
        return self._auto_shard_dataset

    @property
    def num_processes(self) -> int:
        return self._num_processes

    @property
    def num_model_replicas(self) -> int:
        return int(self._device_mesh.devices.size)

    @property
    def data_shard_id(self) -> int:
        return self._process_id

    def get_data_layout(self, data_shape) -> TensorLayout:
        axes = [None] * len(data_shape)
        axes[0] = self.batch_dim_name  # split on the batch axis
        return TensorLayout(axes, self.device_mesh)

    def get_variable_layout(self, variable) -> TensorLayout:
        return TensorLayout([None] * len(variable.shape), self.device_mesh)  # every device holds the whole weight

    def get_tensor_layout(self, path):
        return None

    def distribute_dataset(self, dataset):
        """The dataset itself: gpunn splits each global batch over the processes as it trains."""
        return dataset

    @contextlib.contextmanager
    def scope(self):
        """Make this the current distribution inside the block."""
        original = distribution()
        set_distribution(self)
        try:
            yield
        finally:
            set_distribution(original)

    def __repr__(self):
        return f"<{type(self).__name__} device_mesh={self.device_mesh}>"


def _check_job_devices(argument: str, given: list, job_devices: list) -> None:
    if sorted(map(str, given)) != sorted(job_devices):
        raise ValueError(f"{argument}: gpunn trains data-parallel over every process of the job, one device each, "
                         f"so the devices must be the job's {job_devices} (keras.distribution.list_devices()); got "
                         f"{list(given)}. Start as many processes as devices: `mpiexec -n N python script.py`")


def _warn_if_alone_with_several_gpus(comm) -> None:
    from . import _compat

    if comm.size > 1 or _platform() != "gpu":
        return
    count = _compat.cupy().cuda.runtime.getDeviceCount()
    if count > 1:
        warnings.warn(f"DataParallel: this process trains on one GPU of the {count} it sees (gpunn runs one process "
                      f"per GPU); launch `mpiexec -n {count} python script.py` to train on all of them", stacklevel=3)


def _refuse_model_parallelism(name: str):
    raise ValueError(f"{name}: gpunn trains data-parallel only: every process holds the whole model, and a "
                     "layout that splits weights over devices is not supported; use "
                     "keras.distribution.DataParallel()")


class ModelParallel:
    """Refused: it splits weights over devices; gpunn's processes each hold the whole model."""

    def __init__(self, *args, **kwargs):
        _refuse_model_parallelism("ModelParallel")


class LayoutMap:
    """Refused with ModelParallel, which it serves."""

    def __init__(self, *args, **kwargs):
        _refuse_model_parallelism("LayoutMap")


def distribute_tensor(tensor, layout):
    """The tensor itself for a layout that splits nothing, or only its first axis over the batch axis (a data
    layout: every process holds the whole array, and ``fit`` takes each one's share); another split is refused
    (model parallelism)."""
    axes = tuple(getattr(layout, "axes", ()))
    mesh = getattr(layout, "device_mesh", None)
    batch_axis = mesh.axis_names[0] if mesh is not None else DEFAULT_BATCH_DIM_NAME
    if any(axis is not None for axis in axes[1:]) or (axes and axes[0] not in (None, batch_axis)):
        _refuse_model_parallelism("distribute_tensor")
    return tensor


def distribution():
    """The distribution ``set_distribution`` set, None before."""
    return _current


def set_distribution(value) -> None:
    """Make ``value`` (a DataParallel, or None) the current distribution. Its job was joined when it was made."""
    global _current
    if value is not None and not isinstance(value, DataParallel):
        raise TypeError(f"value: expected a keras.distribution.DataParallel or None, got {type(value).__name__}")
    _current = value


__all__ = ["DataParallel", "DeviceMesh", "LayoutMap", "ModelParallel", "TensorLayout", "distribute_tensor",
           "distribution", "get_device_count", "initialize", "list_devices", "set_distribution"]
