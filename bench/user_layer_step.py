"""Training steps of a model holding layers of the user's, against the same model with built-in layers.

keras-io's "Simple custom layer example: Antirectifier" (a layer computing with ``keras.ops``: a mean, two relus,
a concatenation, a matmul with its own kernel) twice between Dense(256) layers, 784 inputs, batch 128, RMSprop,
sparse cross-entropy from logits. Its built-in twin puts ``Activation("relu")`` where the Antirectifiers are.
A user's layer runs through ``gpunn/autodiff`` in a host call of the step; this measures what that costs.
Contenders run in turns (``fit`` over one epoch of ``--batches`` batches each), ``--repeats`` rounds; the median
epoch gives milliseconds per step. Keras 3 (jax backend) runs the same script where it is installed.

    python bench/user_layer_step.py --output bench/results/user_layer_step.json \
        --markdown bench/results/user_layer_step.md
    python bench/user_layer_step.py --repeats 3          # a quick look, nothing written
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time

import numpy as np

BATCH, FEATURES, CLASSES, WIDTH = 128, 784, 10, 256

MODEL = """
def antirectifier_class(keras):
    ops = keras.ops

    class Antirectifier(keras.layers.Layer):
        def build(self, input_shape):
            width = input_shape[-1]
            self.kernel = self.add_weight(shape=(width * 2, width), initializer="he_normal", name="kernel",
                                          trainable=True)

        def call(self, inputs):
            inputs -= ops.mean(inputs, axis=-1, keepdims=True)
            concatenated = ops.concatenate([ops.relu(inputs), ops.relu(-inputs)], axis=-1)
            return ops.matmul(concatenated, self.kernel)

    return Antirectifier


def model(keras, users_layers):
    Antirectifier = antirectifier_class(keras)
    middle = (lambda: Antirectifier()) if users_layers else (lambda: keras.layers.Activation("relu"))
    built = keras.Sequential([keras.Input((%d,)), keras.layers.Dense(%d), middle(), keras.layers.Dense(%d), middle(),
                              keras.layers.Dropout(0.5), keras.layers.Dense(%d)])
    built.compile(optimizer=keras.optimizers.RMSprop(),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return built
""" % (FEATURES, WIDTH, WIDTH, CLASSES)

KERAS_RUN = MODEL + """
import json, sys, time
import numpy as np
import keras
batches, repeats = int(sys.argv[1]), int(sys.argv[2])
rng = np.random.default_rng(0)
x = rng.random((%d * batches, %d), dtype=np.float32)
y = rng.integers(0, %d, len(x))
m = model(keras, True)
m.fit(x[:2 * %d], y[:2 * %d], batch_size=%d, verbose=0)
times = []
for _ in range(repeats):
    start = time.perf_counter()
    m.fit(x, y, batch_size=%d, verbose=0, shuffle=False)
    times.append((time.perf_counter() - start) / batches * 1000)
print(json.dumps(times))
""" % (BATCH, FEATURES, CLASSES, BATCH, BATCH, BATCH, BATCH)


def gpunn_contenders(batches: int):
    import gpunn

    namespace: dict = {}
    exec(MODEL, namespace)
    rng = np.random.default_rng(0)
    x = rng.random((BATCH * batches, FEATURES), dtype=np.float32)
    y = rng.integers(0, CLASSES, len(x))
    made = {}
    for name, users in (("gpunn, user's layers", True), ("gpunn, built-in layers", False)):
        gpunn.utils.set_random_seed(0)
        model = namespace["model"](gpunn, users)
        model.fit(x[:2 * BATCH], y[:2 * BATCH], batch_size=BATCH, verbose=0)  # built, compiled code warm

        def epoch(model=model):
            start = time.perf_counter()
            model.fit(x, y, batch_size=BATCH, verbose=0, shuffle=False)
            return (time.perf_counter() - start) / batches * 1000

        made[name] = epoch
    return made


def keras_times(batches: int, repeats: int) -> list | None:
    """Keras 3 on jax in a process of its own (its import fixes its backend), or None where it cannot run."""
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    run = subprocess.run([sys.executable, "-c", KERAS_RUN, str(batches), str(repeats)], capture_output=True,
                         text=True, env=env, timeout=1800)
    if run.returncode != 0:
        print(f"Keras not measured: {run.stderr.strip().splitlines()[-1:] or run.returncode}", file=sys.stderr)
        return None
    return json.loads(run.stdout.strip().splitlines()[-1])


def measure(batches: int, repeats: int, with_keras: bool) -> dict:
    contenders = gpunn_contenders(batches)
    times: dict = {name: [] for name in contenders}
    for _ in range(repeats):
        for name, epoch in contenders.items():
            times[name].append(epoch())
    if with_keras:
        found = keras_times(batches, repeats)
        if found is not None:
            times["keras 3 (jax), user's layers"] = found
    return times


def record(times: dict, batches: int, repeats: int, command: str) -> dict:
    import gpunn
    from gpunn.ops import mkl_gemm

    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                cwd=os.path.dirname(os.path.abspath(__file__))).stdout.strip()
    except OSError:
        commit = "unknown"
    return {
        "command": command, "commit": commit,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                    "python": platform.python_version(), "gpunn": gpunn.__version__, "numpy": np.__version__,
                    "matmuls": "MKL" if mkl_gemm.make() is not None else "NumPy's BLAS"},
        "batches": batches, "repeats": repeats, "batch": BATCH,
        "ms_per_step": {name: {"median": statistics.median(values), "min": min(values), "max": max(values)}
                        for name, values in times.items()},
    }


def markdown(result: dict) -> str:
    steps = result["ms_per_step"]
    lines = [
        "# Training steps with layers of the user's (keras-io's Antirectifier) against built-in layers",
        "",
        f"Written by `bench/user_layer_step.py`. Command: `{result['command']}`; commit `{result['commit']}`; "
        f"{result['date']}.",
        f"Machine: {result['machine']['cpu']}, {result['machine']['cores']} cores, Python "
        f"{result['machine']['python']}, NumPy {result['machine']['numpy']}, matmuls: "
        f"{result['machine']['matmuls']}.",
        "",
        f"784-256-Antirectifier-256-Antirectifier-Dropout-10, batch {result['batch']}, RMSprop; one epoch of "
        f"{result['batches']} batches per round, {result['repeats']} rounds in turns; median (min-max).",
        "",
        "| contender | ms per step | range |",
        "|---|---:|---:|",
    ]
    lines += [f"| {name} | {v['median']:.2f} | {v['min']:.2f}-{v['max']:.2f} |" for name, v in steps.items()]
    users, builtin = steps.get("gpunn, user's layers"), steps.get("gpunn, built-in layers")
    if users and builtin:
        lines += ["", f"User's layers / built-in layers (gpunn): {users['median'] / builtin['median']:.2f}x."]
    keras = steps.get("keras 3 (jax), user's layers")
    if users and keras:
        lines += [f"Keras 3 (jax) / gpunn, user's layers: {keras['median'] / users['median']:.2f}x (above 1: gpunn "
                  "is faster)."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--no-keras", action="store_true", help="leave Keras 3 out")
    parser.add_argument("--output", help="write the JSON record here")
    parser.add_argument("--markdown", help="write the summary here")
    args = parser.parse_args(argv)
    times = measure(args.batches, args.repeats, not args.no_keras)
    command = "python bench/user_layer_step.py " + " ".join(argv if argv is not None else sys.argv[1:])
    result = record(times, args.batches, args.repeats, command.strip())
    text = markdown(result)
    print(text)
    if args.output:
        with open(args.output, "w") as file:
            json.dump(result, file, indent=1)
    if args.markdown:
        with open(args.markdown, "w") as file:
            file.write(text)


if __name__ == "__main__":
    main()
