"""Data-parallel training equals single-process training: the same run, to be compared across launches.

``python worker_equivalence.py OUT [MODE]`` trains with whatever ``gpunn.distributed.init()`` gives (alone:
one process; under ``mpiexec -n N``: N ranks) and rank r saves its results to ``OUT/rank{r}.npz``. The test
compares every rank with a single-process run of ``train`` made the same way. MODE ``jit``: compiled with
``jit_compile=True, steps_per_execution=3`` (recorded steps replayed three at a time, each fetching its own
rows at the rank's offset, the MPI reduction a host call between replayed device runs). ``graph``: the same,
on a backend that 'captures' compiled replays as CupyOps does with CUDA graphs, with a gradient reducer that
declares itself device work (as NCCL's does from 2.9): the reduction is recorded inside the replay, as it is
captured inside the graph on GPUs. ``graph-refuse1``: rank 1's backend refuses to capture, so every rank must
replay call by call (a graph holding collectives is launched by all ranks or none). ``user-layers``: ``jit``
with a layer of the user's giving add_loss losses (``LossyBlock``). ``accumulate``: ``jit`` with Adam's
``gradient_accumulation_steps=2`` (each rank sums its gradients over ranks, then accumulates them).
``keras-distribution``: the job joined through Keras's ``keras.distribution`` lines instead of ``init()``.
"""
import sys
import warnings
from pathlib import Path

import numpy as np

import gpunn
from gpunn.distributed.base import GradientReducer
from gpunn.ops.cuda_graphs import CaptureRefused
from gpunn.ops.numpy_ops import NumpyOps
from gpunn.ops.recording import DEVICE
from gpunn.trainer.train_step import GraphFallbackWarning

EPOCHS = 3
BATCH = 33  # does not divide by 2 ranks; the last batch (1 row) leaves the other ranks an empty share


def data():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(166, 12))          # 166 = 5 * 33 + 1
    y = (x[:, :3].sum(axis=1) > 0).astype("int64") + (x[:, 3] > 1).astype("int64")
    return x, y


class LossyBlock(gpunn.layers.Layer):
    """A layer of the user's holding a Dense, giving add_loss a loss of its output (a mean over this rank's
    rows) and one of its weight: each weighed by the rank's share of the global batch in the gradients."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = gpunn.layers.Dense(16, activation="tanh", dtype=kwargs.get("dtype"))

    def build(self, input_shape):
        self.gain = self.add_weight(shape=(16,), initializer="ones", name="gain")

    def call(self, inputs):
        y = self.dense(inputs) * self.gain
        self.add_loss(0.01 * gpunn.ops.mean(gpunn.ops.square(y)))
        self.add_loss(0.02 * gpunn.ops.sum(gpunn.ops.square(self.gain - 0.9)))
        return y


def train(dtype: str, jit: bool = False, user_layers: bool = False, accumulate: bool = False) -> dict:
    gpunn.utils.set_random_seed(3)
    x, y = data()
    x = x.astype(dtype)
    # A graph (the input read again by a Concatenate, a layer called twice) of two outputs: the reducer is told
    # of each layer's gradients as the backward pass through the graph finishes them (a shared layer's once its
    # calls' are summed); the targets of both outputs are sharded as one packed array, and each output's loss
    # and metrics are summed over ranks.
    inputs = gpunn.Input(shape=(12,), dtype=dtype)
    hidden = gpunn.layers.Dense(16, activation="tanh", kernel_regularizer="l2", dtype=dtype)(inputs)
    refine = gpunn.layers.Dense(16, activation="tanh", dtype=dtype)  # shared: called twice, its gradients summed
    hidden = refine(refine(hidden))
    if user_layers:  # its forward and backward are host calls of the step (never inside a graph)
        hidden = LossyBlock(dtype=dtype)(hidden)
    hidden = gpunn.layers.Dense(8, activation="relu", activity_regularizer="l1", dtype=dtype)(hidden)
    wide = gpunn.layers.Concatenate(dtype=dtype)([inputs, hidden])
    classes = gpunn.layers.Dense(3, activation="softmax", dtype=dtype, name="classes")(wide)
    aux = gpunn.layers.Dense(1, dtype=dtype, name="aux")(hidden)
    model = gpunn.Model(inputs, [classes, aux])
    optimizer = gpunn.optimizers.Adam(gradient_accumulation_steps=2) if accumulate else "adam"
    model.compile(optimizer=optimizer, loss=["sparse_categorical_crossentropy", "mse"], loss_weights=[1.0, 0.3],
                  metrics=[["accuracy"], ["mae"]], jit_compile=jit, steps_per_execution=3 if jit else 1)
    targets = [y, x[:, 4:5]]
    # with user_layers: batches of 16 rows, the last of 15, so that rank 0 takes 8 rows of global batches of two
    # sizes (each weighs its added losses by its own share)
    rows, batch = (143, 16) if user_layers else (140, BATCH)
    history = model.fit(x[:rows], [t[:rows] for t in targets], batch_size=batch, epochs=EPOCHS, verbose=0,
                        validation_data=(x[rows:], [t[rows:] for t in targets]))
    step_loss = model.train_on_batch(x[:9], [t[:9] for t in targets])  # 9 rows over 2 ranks: 5 and 4
    out = {f"w{i}": w for i, w in enumerate(model.get_weights())}
    out.update({f"history_{k}": np.array(v) for k, v in history.history.items()})
    out["step_loss"] = np.array(step_loss)
    out["evaluate"] = np.array(model.evaluate(x, targets, batch_size=25, verbose=0))
    for k, predicted in enumerate(model.predict(x, batch_size=20)):
        out[f"predict{k}"] = predicted
    return out


class _GraphLikeOps(NumpyOps):
    """Compiles replays as a GPU backend would ('captures' them, counted) or refuses to."""

    def __init__(self, refuse: bool):
        super().__init__()
        self.refuse, self.captures, self.device_only_calls = refuse, 0, 0

    def compile_replays(self, tape, repeats=1):
        if self.refuse:
            raise CaptureRefused("this rank's library refused the capture")
        self.captures += 1
        # Every call of the step, the reducer's included, must be device work for one graph to hold it.
        assert {kind for _, kind in tape.calls} == {DEVICE}, tape.calls
        return super().compile_replays(tape, repeats)


class _DeviceOnlyReducer(GradientReducer):
    """The MPI sum, declared device work as NCCL's bucketed reducer is where NCCL can be captured."""

    device_only = True
    replays = 0

    def after_replay(self, repeats: int = 1) -> None:
        _DeviceOnlyReducer.replays += repeats


def main(out_dir: str, mode: str = "") -> None:
    gpunn.set_backend("numpy")
    extra = {}
    if mode == "keras-distribution":  # the lines of Keras's guide to distributed training
        devices = gpunn.distribution.list_devices()
        gpunn.distribution.set_distribution(gpunn.distribution.DataParallel(devices=devices))
        comm = gpunn.distributed.current()
        gpunn.distribution.initialize(num_processes=comm.size, process_id=comm.rank)  # checked against the job
        extra = {"devices": np.array(devices), "num_processes": gpunn.distribution.distribution().num_processes}
    else:
        comm = gpunn.distributed.init()
    if mode.startswith("graph"):
        ops = _GraphLikeOps(refuse=mode == "graph-refuse1" and comm.rank == 1)
        gpunn.set_backend(ops)
        comm.gradient_reducer = lambda grads, layer_segments: _DeviceOnlyReducer(comm, grads)
    results = {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", GraphFallbackWarning)
        for dtype in ("float64", "float32"):
            if mode == "user-layers":
                found = train(dtype, jit=True, user_layers=True)
            elif mode == "accumulate":
                found = train(dtype, jit=True, accumulate=True)
            else:
                found = train(dtype, mode in ("jit", "graph", "graph-refuse1"))
            results.update({f"{dtype}/{k}": v for k, v in found.items()})
    if mode.startswith("graph"):
        fallbacks = [str(w.message) for w in caught if issubclass(w.category, GraphFallbackWarning)]
        extra = {"captures": ops.captures, "graph_replays": _DeviceOnlyReducer.replays,
                 "fallback_warnings": np.array(fallbacks or [""])}
    np.savez(Path(out_dir) / f"rank{comm.rank}.npz", size=comm.size, **results, **extra)


if __name__ == "__main__":
    main(sys.argv[1], mode=sys.argv[2] if len(sys.argv) > 2 else "")
