"""Run under ``mpiexec -n 2`` with a mode; rank 1 misbehaves in that way and the job must stop, not hang.

raise     rank 1 raises in the middle of fit
exit      rank 1 calls sys.exit(3) in the middle of fit (run with a short GPUNN_COLLECTIVE_TIMEOUT)
kill      rank 1 is killed by SIGKILL in the middle of fit
stall     rank 1 sleeps before fit while rank 0 waits in a collective (short GPUNN_COLLECTIVE_TIMEOUT)
units     rank 1 builds a model with different layer sizes
dtype     rank 1 builds a float64 model, rank 0 a float32 one
stop      rank 1 alone sets model.stop_training (as TerminateOnNaN may): every rank must stop together
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
    def on_train_batch_end(self, batch, logs=None):
        if rank != 1 or batch != 2:
            return
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
model = gpunn.Sequential([gpunn.Input(shape=(6,), dtype=dtype), gpunn.layers.Dense(units, activation="relu", dtype=dtype),
                          gpunn.layers.Dense(2, activation="softmax", dtype=dtype)])
model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
if mode == "stall" and rank == 1:
    time.sleep(60)
history = model.fit(x, y, batch_size=16, epochs=50, verbose=0, callbacks=[Misbehave()])
print(f"rank {rank} finished training after {len(history.epoch)} epoch(s)", flush=True)
