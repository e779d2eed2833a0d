"""Run under ``mpiexec -n 2`` with a mode; rank 1 misbehaves in that way and the job must stop, not hang.

raise     rank 1 raises in the middle of fit
exit      rank 1 calls sys.exit(3) in the middle of fit (run with a short GPUNN_COLLECTIVE_TIMEOUT)
kill      rank 1 is killed by SIGKILL in the middle of fit
stall     rank 1 sleeps before fit while rank 0 waits in a collective (short GPUNN_COLLECTIVE_TIMEOUT)
units     rank 1 builds a model with different layer sizes
dtype     rank 1 builds a float64 model, rank 0 a float32 one
stop      rank 1 alone sets model.stop_training (as TerminateOnNaN may): every rank must stop together
caught    rank 1 raises in the middle of fit, and every rank catches what fit raised and tries to train again
everyone  every rank raises at the same batch and catches it, then trains again (the ranks are still in step)
chief     Horovod's idiom: rank 0 alone evaluates (a collective in gpunn), then every rank fits
last      every rank fits, then rank 0 alone predicts while rank 1 reaches the end of the program
late      as everyone, rank 0 raising 0.7 s after the others (run with 4 ranks: a notice may reach a rank before
          the data of a collective the failing rank made)
local     rank 0 alone catches an error of predict_on_batch (no collective), then every rank fits
exitend   rank 0 calls sys.exit(0) in on_train_end, after the run's last collective
"""
import os
import signal
import sys
import time

import numpy as np

import gpunn

mode = sys.argv[1]
comm = gpunn.distributed.init()
rank = comm.rank


class Misbehave(gpunn.callbacks.Callback):
    armed = True

    def on_train_end(self, logs=None):
        if mode == "exitend" and rank == 0:
            sys.exit(0)

    def on_train_batch_end(self, batch, logs=None):
        if mode in ("everyone", "late") and batch == 2 and Misbehave.armed:
            Misbehave.armed = False
            if mode == "late" and rank == 0:
                time.sleep(0.7)
            raise ValueError(f"the same failure on every rank (rank {rank})")
        if rank != 1 or batch != 2:
            return
        if mode == "caught" and Misbehave.armed:
            Misbehave.armed = False
            raise ValueError("injected failure on purpose")
        if mode == "raise":
            raise ValueError("injected failure on purpose")
        if mode == "exit":
            sys.exit(3)
        if mode == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        if mode == "stop":
            self.model.stop_training = True


units = 9 if (mode == "units" and rank == 1) else 8
dtype = "float64" if (mode == "dtype" and rank == 1) else "float32"
rng = np.random.default_rng(0)
x, y = rng.normal(size=(256, 6)).astype(dtype), rng.integers(0, 2, size=256)
model = gpunn.Sequential([gpunn.Input(shape=(6,), dtype=dtype),
                          gpunn.layers.Dense(units, activation="relu", dtype=dtype),
                          gpunn.layers.Dense(2, activation="softmax", dtype=dtype)])
model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
if mode == "stall" and rank == 1:
    time.sleep(60)
if mode == "local":
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    if rank == 0:
        try:
            model.predict_on_batch(np.zeros((4, 5), dtype))
        except ValueError as exc:
            print("rank 0 caught:", type(exc).__name__, flush=True)
    history = model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    print(f"rank {rank} finished training after {len(history.epoch)} epoch(s)", flush=True)
    sys.exit(0)
if mode == "exitend":
    model.fit(x, y, batch_size=16, epochs=1, verbose=0, callbacks=[Misbehave()])
    print(f"rank {rank} finished training", flush=True)
    sys.exit(0)
if mode == "last":
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    if rank == 0:
        print("rank 0 predicted:", model.predict(x, verbose=0).shape, flush=True)
    sys.exit(0)
if mode == "chief":
    if rank == 0:
        print("rank 0 evaluated:", model.evaluate(x, y, verbose=0), flush=True)
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
if mode in ("caught", "everyone", "late"):
    for attempt in (1, 2):
        try:
            history = model.fit(x, y, batch_size=16, epochs=2, verbose=0, callbacks=[Misbehave()])
        except Exception as exc:  # noqa: BLE001 - what each rank saw is the point of this mode
            print(f"rank {rank} attempt {attempt}: {type(exc).__name__}: {exc}", flush=True)
        else:
            total = comm.allreduce_host(np.array([float(np.sum(w)) for w in model.get_weights()]))
            mine = np.array([float(np.sum(w)) for w in model.get_weights()])
            print(f"rank {rank} attempt {attempt} trained {len(history.epoch)} epoch(s); weights equal on every "
                  f"rank: {np.allclose(total, comm.size * mine, rtol=0, atol=1e-6)}", flush=True)
    sys.exit(0)
history = model.fit(x, y, batch_size=16, epochs=50, verbose=0, callbacks=[Misbehave()])
print(f"rank {rank} finished training after {len(history.epoch)} epoch(s)", flush=True)
