"""Run under ``mpiexec -n 2``: rank 1 differs from rank 0 in one setting; every rank must stop before the first
step with a RanksDisagreeError naming the setting and the ranks.

    worker_agreement.py loop OUT_DIR     every kind in turn, each error caught (the ranks recover, since all
                                          of them raise after the same collectives); then a matching fit.
                                          Each rank writes OUT_DIR/rank<r>.json: {kind: {seconds, message}}
    worker_agreement.py uncaught KIND    one kind, the error left uncaught: the whole job must end
"""
import json
import sys
import time
from pathlib import Path

import numpy as np

import gpunn

comm = gpunn.distributed.init()
rank = comm.rank


def differs(kind: str, mine: str, default, other):
    """``other`` on rank 1 when testing ``kind``, else ``default``."""
    return other if (mine == kind and rank == 1) else default


def run(kind: str) -> None:
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 6)), rng.normal(size=(64, 1))
    model = gpunn.Sequential([gpunn.Input(shape=(6,)),
                              gpunn.layers.Dense(differs(kind, "units", 8, 9),
                                                 activation=differs(kind, "activation", "relu", "tanh")),
                              gpunn.layers.Dense(1)])
    model.compile(optimizer=gpunn.optimizers.SGD(differs(kind, "learning_rate", 0.01, 0.02)),
                  loss=differs(kind, "loss", "mse", "mae"))
    call = differs(kind, "call", "fit", "predict")
    if kind == "evaluate_samples":
        n = differs(kind, "evaluate_samples", 64, 48)
        model.evaluate(x[:n], y[:n], verbose=0)
    elif kind == "predict_batch_size":
        model.predict(x, batch_size=differs(kind, "predict_batch_size", 16, 32), verbose=0)
    elif call == "predict":
        model.predict(x, verbose=0)
    else:
        n = differs(kind, "samples", 64, 48)
        model.fit(x[:n], y[:n], batch_size=differs(kind, "batch_size", 16, 32),
                  epochs=differs(kind, "epochs", 2, 3), shuffle=differs(kind, "shuffle", True, False), verbose=0)


KINDS = ["activation", "units", "learning_rate", "loss", "batch_size", "samples", "epochs", "shuffle",
         "evaluate_samples", "predict_batch_size", "call"]

mode = sys.argv[1]
if mode == "uncaught":
    run(sys.argv[2])
    print(f"rank {rank}: no error raised", flush=True)
elif mode == "loop":
    results = {}
    for kind in KINDS:
        start = time.monotonic()
        try:
            run(kind)
        except gpunn.distributed.RanksDisagreeError as exc:
            results[kind] = {"seconds": time.monotonic() - start, "message": str(exc)}
        else:
            results[kind] = {"seconds": time.monotonic() - start, "message": None}
    run("none")  # the ranks recovered: a matching fit runs through
    results["recovered"] = True
    Path(sys.argv[2], f"rank{rank}.json").write_text(json.dumps(results))
else:
    raise SystemExit(f"unknown mode {mode!r}")
