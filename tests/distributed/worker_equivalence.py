"""Data-parallel training equals single-process training: the same run, to be compared across launches.

``python worker_equivalence.py OUT [jit]`` trains with whatever ``gpunn.distributed.init()`` gives (alone:
one process; under ``mpiexec -n N``: N ranks) and rank r saves its results to ``OUT/rank{r}.npz``. The test
compares every rank with a single-process run of ``train`` made the same way. ``jit``: compiled with
``jit_compile=True, steps_per_execution=3`` (recorded steps replayed three at a time, each fetching its own
rows at the rank's offset, the MPI reduction a host call between replayed device runs).
"""
import sys
from pathlib import Path

import numpy as np

import gpunn

EPOCHS = 3
BATCH = 33  # does not divide by 2 ranks; the last batch (1 row) leaves the other ranks an empty share


def data():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(166, 12))          # 166 = 5 * 33 + 1
    y = (x[:, :3].sum(axis=1) > 0).astype("int64") + (x[:, 3] > 1).astype("int64")
    return x, y


def train(dtype: str, jit: bool = False) -> dict:
    gpunn.utils.set_random_seed(3)
    x, y = data()
    x = x.astype(dtype)
    model = gpunn.Sequential([
        gpunn.Input(shape=(12,), dtype=dtype),
        gpunn.layers.Dense(16, activation="tanh", kernel_regularizer="l2", dtype=dtype),
        gpunn.layers.Dense(8, activation="relu", dtype=dtype),
        gpunn.layers.Dense(3, activation="softmax", dtype=dtype),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                  jit_compile=jit, steps_per_execution=3 if jit else 1)
    history = model.fit(x[:140], y[:140], batch_size=BATCH, epochs=EPOCHS, verbose=0,
                        validation_data=(x[140:], y[140:]))
    step_loss = model.train_on_batch(x[:9], y[:9])  # 9 rows over 2 ranks: 5 and 4
    out = {f"w{i}": w for i, w in enumerate(model.get_weights())}
    out.update({f"history_{k}": np.array(v) for k, v in history.history.items()})
    out["step_loss"] = np.array(step_loss)
    out["evaluate"] = np.array(model.evaluate(x, y, batch_size=25, verbose=0))
    out["predict"] = model.predict(x, batch_size=20)
    return out


def main(out_dir: str, jit: bool = False) -> None:
    gpunn.set_backend("numpy")
    comm = gpunn.distributed.init()
    results = {}
    for dtype in ("float64", "float32"):
        results.update({f"{dtype}/{k}": v for k, v in train(dtype, jit).items()})
    np.savez(Path(out_dir) / f"rank{comm.rank}.npz", size=comm.size, **results)


if __name__ == "__main__":
    main(sys.argv[1], jit=sys.argv[2:] == ["jit"])
