"""Run under ``mpiexec -n 2`` (and alone, in the test's process, for the reference): what one rank does alone
between calls must not leave the ranks training or reporting different things.

    worker_rank_local_changes.py OUT_DIR    every case in turn; each rank writes OUT_DIR/rank<r>.json
                                            ({case: result})

Cases: ``evaluate`` with progress shown by rank 0 alone (Horovod's ``verbose=1 if rank == 0 else 0``); an
activity regularizer on a rank whose share of the last batch is empty; a metric of the user's whose variables say
how replicas combine them; weights set on rank 0 alone after the model has run (a checkpoint loaded by the
chief), with the optimizer's state; shuffled fits going on after a reseed on one rank; predictions after training
with BatchNormalization (per-rank statistics); data drawn without a seed; a metric function valued per batch;
``summary()``."""
import contextlib
import io
import json
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

import gpunn


def evaluate_with_rank0_progress(comm) -> dict:
    x = np.linspace(-1, 1, 50).reshape(25, 2)
    y = np.exp(x.sum(1, keepdims=True))
    model = gpunn.Sequential([gpunn.Input((2,)), gpunn.layers.Dense(1, kernel_initializer="ones")])
    model.compile("sgd", "mse", metrics=["mae"])
    first = model.evaluate(x, y, batch_size=5, verbose=1 if comm.rank == 0 else 0)
    return {"evaluated": first, "again": model.evaluate(x, y, batch_size=5, verbose=0)}


def activity_penalty_with_an_empty_share(comm) -> dict:
    x = np.random.default_rng(0).normal(size=(25, 5))
    y = x.sum(1, keepdims=True)
    model = gpunn.Sequential([
        gpunn.Input((5,)),
        gpunn.layers.Dense(4, kernel_initializer="ones", activity_regularizer=gpunn.regularizers.L2(0.01)),
        gpunn.layers.Dense(1, kernel_initializer="ones")])
    model.compile(gpunn.optimizers.SGD(0.01), "mse")
    # 25 rows in batches of 12: the last batch's one row goes to rank 0, rank 1's share is empty
    history = model.fit(x, y, batch_size=12, epochs=2, verbose=0, shuffle=False)
    return {"loss": history.history["loss"], "kernel": model.get_weights()[0].tolist()}


class FirstAndCount(gpunn.metrics.Metric):
    """Each rank's last error on a variable taken from rank 0 ("only_first_replica"), a running maximum averaged
    over ranks ("mean"), and a sample count summed ("sum", the default)."""

    def __init__(self, name="first_and_count", **kwargs):
        super().__init__(name=name, **kwargs)
        self.first = self.add_variable(shape=(), initializer="zeros", name="first", aggregation="only_first_replica")
        self.largest = self.add_variable(shape=(), initializer="zeros", name="largest", aggregation="mean")
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def update_state(self, y_true, y_pred, sample_weight=None):
        self.first.assign(1.0)
        self.largest.assign(gpunn.ops.maximum(self.largest, gpunn.ops.max(gpunn.ops.abs(y_true - y_pred))))
        self.count.assign_add(gpunn.ops.cast(gpunn.ops.shape(y_true)[0], "float64"))

    def result(self):
        return self.first * 1000.0 + self.count + self.largest * 0.0


def user_metric_aggregation(comm) -> dict:
    x = np.linspace(-1, 1, 40).reshape(20, 2)
    y = x.sum(1, keepdims=True) * 3
    model = gpunn.Sequential([gpunn.Input((2,)), gpunn.layers.Dense(1, kernel_initializer="zeros")])
    metric = FirstAndCount()
    model.compile("sgd", "mse", metrics=[metric])
    return model.evaluate(x, y, batch_size=10, verbose=0, return_dict=True)


def weights_set_by_the_chief_after_use(comm) -> dict:
    x = np.linspace(-1, 1, 74).reshape(37, 2)
    y = x.sum(1, keepdims=True) + 0.5
    model = gpunn.Sequential([gpunn.Input((2,)), gpunn.layers.Dense(1, kernel_initializer="zeros")])
    model.compile(gpunn.optimizers.SGD(0.1), "mse")
    model.evaluate(x, y, verbose=0)  # the ranks are in sync from here
    if comm.rank == 0:  # a checkpoint read by the chief alone
        model.set_weights([np.array([[0.3], [-0.2]]), np.array([0.1])])
    model.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False)
    kernel, bias = model.get_weights()
    return {"kernel": kernel.tolist(), "bias": bias.tolist()}


def optimizer_state_loaded_by_the_chief(comm) -> dict:
    x = np.linspace(-1, 1, 64).reshape(32, 2)
    y = x.sum(1, keepdims=True) + 0.5
    seeded = gpunn.initializers.RandomNormal
    model = gpunn.Sequential([gpunn.Input((2,)), gpunn.layers.Dense(3, kernel_initializer=seeded(seed=3)),
                              gpunn.layers.Dense(1, kernel_initializer=seeded(seed=4))])
    model.compile(gpunn.optimizers.Adam(0.05), "mse")
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
    path = comm.broadcast_object(tempfile.mkdtemp() if comm.rank == 0 else None) + "/checkpoint.weights.h5"
    if comm.rank == 0:
        model.save_weights(path)
    model.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False)
    if comm.rank == 0:  # weights, Adam's moments and step count back to the checkpoint's, on rank 0 alone
        model.load_weights(path)
    model.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False)
    kernel = model.get_weights()[2]
    return {"kernel": kernel.tolist(), "iterations": int(model.optimizer.iterations)}


def shuffles_going_on_across_fits(comm) -> dict:
    gpunn.utils.set_random_seed(4)
    x = np.linspace(-1, 1, 48).reshape(24, 2)
    y = np.sin(3 * x).sum(1, keepdims=True)
    model = gpunn.Sequential([gpunn.Input((2,)), gpunn.layers.Dense(1, kernel_initializer="ones")])
    model.compile(gpunn.optimizers.SGD(0.1), "mse")
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)  # (shuffled)
    if comm.rank == 1:  # reseeded on one rank alone: rank 0's orders go on all the same
        gpunn.utils.set_random_seed(99)
    model.fit(x, y, batch_size=4, initial_epoch=1, epochs=3, verbose=0)
    kernel, bias = model.get_weights()
    return {"kernel": kernel.tolist(), "bias": bias.tolist()}


def predictions_after_batch_normalization(comm) -> dict:
    x = np.random.default_rng(1).normal(size=(40, 3))
    y = x @ np.array([[1.0], [-2.0], [0.5]])
    model = gpunn.Sequential([gpunn.Input((3,)), gpunn.layers.Dense(4), gpunn.layers.BatchNormalization(),
                              gpunn.layers.Dense(1)])
    model.compile("sgd", "mse")
    model.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False)
    predicted = model.predict(x, verbose=0)
    # the model every rank predicts with is rank 0's, the one rank 0 saves
    return {"predicted": predicted.tolist(), "own_forward": np.asarray(model(x, training=False)).tolist()}


def data_drawn_without_a_seed(comm) -> dict:
    x = np.random.default_rng(None if comm.size > 1 else 0).normal(size=(32, 2))
    model = gpunn.Sequential([gpunn.Input((2,)), gpunn.layers.Dense(1)])
    model.compile("sgd", "mse")
    try:
        model.fit(x, x[:, :1], batch_size=8, epochs=1, verbose=0)
    except gpunn.distributed.RanksDisagreeError as error:
        return {"message": str(error)}
    return {"message": None}


def class_weight_set_on_one_rank(comm) -> dict:
    x = np.linspace(-1, 1, 64).reshape(32, 2)
    y = (x[:, :1] > 0).astype("float64")
    model = gpunn.Sequential([gpunn.Input((2,)), gpunn.layers.Dense(1, activation="sigmoid")])
    model.compile("sgd", "binary_crossentropy")
    try:
        model.fit(x, y, batch_size=8, epochs=1, verbose=0, class_weight={0: 1.0, 1: 2.0 if comm.rank == 1 else 1.0})
    except gpunn.distributed.RanksDisagreeError as error:
        return {"message": str(error)}
    return {"message": None}


def batch_valued_metric(comm) -> dict:
    x = np.linspace(-1, 1, 40).reshape(20, 2)
    y = x.sum(1, keepdims=True) * 3

    def batch_max(y_true, y_pred):
        return gpunn.ops.max(gpunn.ops.abs(y_true - y_pred))

    model = gpunn.Sequential([gpunn.Input((2,)), gpunn.layers.Dense(1, kernel_initializer="zeros")])
    model.compile("sgd", "mse", metrics=[batch_max])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(x, y, batch_size=10, epochs=1, verbose=0, shuffle=False)
    return {"warnings": [str(w.message) for w in caught if "one value for the whole batch" in str(w.message)]}


def summary_printed_by_rank_0(comm) -> dict:
    model = gpunn.Sequential([gpunn.Input((2,)), gpunn.layers.Dense(1)])
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        model.summary()
    return {"printed": "Total params" in printed.getvalue()}


CASES = [evaluate_with_rank0_progress, activity_penalty_with_an_empty_share, user_metric_aggregation,
         weights_set_by_the_chief_after_use, optimizer_state_loaded_by_the_chief, shuffles_going_on_across_fits,
         predictions_after_batch_normalization, data_drawn_without_a_seed,
         class_weight_set_on_one_rank, batch_valued_metric, summary_printed_by_rank_0]


def run_all(comm) -> dict:
    return {case.__name__: case(comm) for case in CASES}


if __name__ == "__main__":
    communicator = gpunn.distributed.init()
    results = run_all(communicator)
    Path(sys.argv[1], f"rank{communicator.rank}.json").write_text(json.dumps(results))
