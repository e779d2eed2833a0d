"""``gpunn train``: train and evaluate an MLP classifier or regressor on a data set or a file, save it and its
training curves.

With no options it trains on scikit-learn's shipped digits (offline) and reaches >= 95% test accuracy.
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np

from .. import datasets as gpunn_datasets
from . import data_files


def add_parser(sub) -> None:
    p = sub.add_parser("train", help="train and evaluate an MLP (default: offline digits data)")
    p.add_argument("--dataset", default="digits",
                   help="digits (offline), mnist, fashion_mnist, cifar10, cifar100, synthetic, boston_housing, "
                        "california_housing, or your own .npz "
                        "(x_train, y_train[, x_test, y_test], or x, y) or .csv file (numeric features, one label "
                        "column); a file's float features are standardized by a Normalization layer in the model")
    p.add_argument("--target", default=None,
                   help="the label column of a .csv file: its header name or 0-based number (default: the last)")
    p.add_argument("--task", choices=data_files.TASKS, default="auto",
                   help="classification (softmax, accuracy) or regression (one output, MSE, MAE); default auto: "
                        "regression for boston_housing, california_housing and a file's fractional or negative "
                        "labels, else classification")
    p.add_argument("--test-split", type=float, default=None,
                   help="the fraction of a file's rows held out, at random (--seed), as the test set when the "
                        "file has no test arrays (default 0.2)")
    p.add_argument("--layers", default="256,128", help="hidden layer sizes, comma-separated (default 256,128)")
    p.add_argument("--activation", default="relu", help="hidden activation (default relu)")
    p.add_argument("--optimizer", default="adam", help="any Keras optimizer name gpunn has: sgd, rmsprop, adagrad, "
                   "adam, adamw, nadam, adamax, adadelta, lion, ftrl, lamb, muon, adafactor, schedulefreeadamw "
                   "(default adam)")
    p.add_argument("--learning-rate", type=float, default=None, help="default: the optimizer's own")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--validation-split", type=float, default=0.1)
    p.add_argument("--backend", default=None,
                   help="auto, numpy or cupy (default: $GPUNN_BACKEND, else auto: the GPU when one works)")
    p.add_argument("--jit", action=argparse.BooleanOptionalAction, default=None,
                   help="compile(jit_compile=True): record the step once and replay it (a CUDA graph on a GPU); "
                        "--no-jit: every step eager (default: compile's 'auto', replayed on the CPU)")
    p.add_argument("--steps-per-execution", type=int, default=1, metavar="N",
                   help="compile(steps_per_execution=N): N steps per execution (one replay when the step is "
                        "recorded: one graph launch on a GPU)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--output-dir", default="gpunn-run", help="where the model and the PNG go (default gpunn-run)")
    p.add_argument("--verbose", type=int, default=1, choices=(0, 1, 2))
    p.set_defaults(run=run)


def parse_layers(text: str) -> list[int]:
    try:
        sizes = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise ValueError(f"--layers: expected comma-separated positive integers such as 256,128, got {text!r}") from None
    if any(s <= 0 for s in sizes):
        raise ValueError(f"--layers: expected positive integers, got {text!r}")
    return sizes


class _TrainTimer:
    """Wall time of the training batches and the samples they held, read after the device has finished them.

    The clock stops only after a device sync at the end of each epoch's last batch (queued GPU work counts,
    validation and logging do not). The very first batch is left out: it compiles the kernels of this model
    (Numba on the GPU), a one-time cost that is not throughput.
    """

    def __init__(self, samples_per_epoch: int, batch_size: int):
        from ..callbacks import Callback

        timer = self
        self.samples_per_epoch, self.batch_size = int(samples_per_epoch), int(batch_size)
        self.seconds = 0.0
        self.samples = 0
        self.started = None  # perf_counter() at the start of the timed stretch, None before the first batch
        self.last_batch = -1  # the epoch's last batch done so far (with steps_per_execution, callbacks skip some)

        class _Callback(Callback):
            def on_epoch_begin(self, epoch, logs=None):
                timer.last_batch = -1
                if timer.started is not None:
                    self.model.ops.synchronize()
                    timer.started = time.perf_counter()

            def on_train_batch_end(self, batch, logs=None):
                steps = self.params.get("steps") or 1
                last = min(batch, steps - 1)  # Keras numbers an epoch's last execution past its end
                done, timer.last_batch = range(timer.last_batch + 1, last + 1), last
                if timer.started is None:  # the compiling first batch (or execution): start the clock after it
                    self.model.ops.synchronize()
                    timer.started = time.perf_counter()
                    return
                timer.samples += sum(timer.batch_samples(b) for b in done)
                if last == steps - 1:
                    self.model.ops.synchronize()
                    timer.seconds += time.perf_counter() - timer.started

        self.callback = _Callback()

    def batch_samples(self, batch: int) -> int:
        return max(0, min(self.batch_size, self.samples_per_epoch - batch * self.batch_size))

    def samples_per_second(self) -> float | None:
        return self.samples / self.seconds if self.seconds > 0 and self.samples else None


# The classification sets of images or features the default model trains on (images flattened: CIFAR's 32x32x3
# become 3072 features), and the regression sets of house prices; the word-index sequences need a model of their own.
CLASSIFICATION_DATASETS = ("digits", "mnist", "fashion_mnist", "cifar10", "cifar100", "synthetic")
REGRESSION_DATASETS = ("boston_housing", "california_housing")


def check_dataset(name: str) -> str:
    if data_files.is_data_file(name):
        return name
    key = name.strip().lower().replace("-", "_")
    if key not in gpunn_datasets.NAMES:
        if os.path.exists(name):
            raise ValueError(f"--dataset: {name!r} is a file gpunn train cannot read; expected a "
                             f"{' or '.join(data_files.SUFFIXES)} file, or a data set's name")
        try:
            gpunn_datasets.load(name)
        except ValueError as exc:
            raise ValueError(f"{exc} Or a path to a {' or '.join(data_files.SUFFIXES)} file.") from None
    if key not in CLASSIFICATION_DATASETS + REGRESSION_DATASETS:
        raise ValueError(f"--dataset: gpunn train trains on images or feature vectors, one of "
                         f"{', '.join(CLASSIFICATION_DATASETS + REGRESSION_DATASETS)}; got {name!r}, which needs a "
                         f"model of its own (gpunn.datasets.{key}.load_data() in a script)")
    return key


def load_data(args):
    """The data of ``--dataset`` (a name or a file) for ``--task``: arrays of flat features and targets, the task,
    the class names of word labels, and whether the model should standardize the features."""
    if not data_files.is_data_file(args.dataset):
        if args.target is not None:
            raise ValueError(f"--target: names the label column of a .csv file; --dataset {args.dataset!r} is not "
                             f"one")
        if args.test_split is not None:  # (the named sets come split)
            raise ValueError(f"--test-split: holds out a file's rows as its test set; --dataset {args.dataset!r} "
                             "comes with its own")
        key = check_dataset(args.dataset)
        (x_train, y_train), (x_test, y_test) = gpunn_datasets.load(key)
        task = args.task if args.task != "auto" else \
            "regression" if key in REGRESSION_DATASETS else "classification"
        y, task, _ = data_files.targets(np.concatenate([y_train.reshape(-1), y_test.reshape(-1)]), task, key)
        data = data_files.LabelledData((x_train, y[:len(x_train)]), (x_test, y[len(x_train):]), task)
        # The house-price features are on very different scales; the built-in image sets keep their own scale.
        standardize = key in REGRESSION_DATASETS
    else:
        data = data_files.load(args.dataset, target=args.target, test_split=args.test_split, seed=args.seed,
                               task=args.task)
        standardize = True
    # Images of bytes are scaled to [0, 1]; other features, where standardized, are standardized inside the model
    # (a Normalization layer adapted to the training rows), so the saved model takes the raw features.
    (x_train, y_train), (x_test, y_test) = data.train, data.test
    standardize = standardize and x_train.dtype != np.uint8
    scale = 255.0 if x_train.dtype == np.uint8 else 1.0
    x_train = x_train.reshape(len(x_train), -1).astype("float32") / scale
    x_test = x_test.reshape(len(x_test), -1).astype("float32") / scale
    if data.task == "regression":
        y_train, y_test = y_train.reshape(-1, 1), y_test.reshape(-1, 1)
    return data_files.LabelledData((x_train, y_train), (x_test, y_test), data.task, data.class_names), standardize


def build_model(gpunn, data, standardize, hidden, activation):
    """An MLP of ``hidden`` layers for the task: softmax over the classes, or one number in the targets' range."""
    (x_train, y_train), (_, y_test) = data.train, data.test
    layers = [gpunn.Input(shape=(x_train.shape[1],))]
    if standardize:
        layers.append(gpunn.layers.Normalization())
        layers[-1].adapt(x_train)
    layers += [gpunn.layers.Dense(units, activation=activation) for units in hidden]
    if data.task == "regression":
        # The output starts in the targets' range, as if they had been standardized, yet the model predicts them.
        std = float(y_train.std()) or 1.0
        layers += [gpunn.layers.Dense(1), gpunn.layers.Rescaling(scale=std, offset=float(y_train.mean()))]
    else:
        classes = len(data.class_names) if data.class_names else int(max(y_train.max(), y_test.max())) + 1
        layers.append(gpunn.layers.Dense(classes, activation="softmax"))
    return gpunn.Sequential(layers)


def run(args) -> int:
    import gpunn
    from gpunn.data import training_rows

    hidden = parse_layers(args.layers)
    data, standardize = load_data(args)
    ops = gpunn.set_backend(args.backend) if args.backend else gpunn.get_ops()
    gpunn.distributed.init()  # data-parallel under mpiexec/srun; does nothing when run alone
    gpunn.utils.set_random_seed(args.seed)
    (x_train, y_train), (x_test, y_test) = data.train, data.test
    regression = data.task == "regression"
    model = build_model(gpunn, data, standardize, hidden, args.activation)
    optimizer = gpunn.optimizers.get(args.optimizer)
    if args.learning_rate is not None:
        optimizer.learning_rate = args.learning_rate
    model.compile(optimizer=optimizer, loss="mse" if regression else "sparse_categorical_crossentropy",
                  metrics=["mae" if regression else "accuracy"],
                  jit_compile="auto" if args.jit is None else args.jit, steps_per_execution=args.steps_per_execution)
    if args.verbose and model.is_chief:
        what = "a regression target" if regression else f"{model.layers[-1].units} classes"
        print(f"gpunn {gpunn.__version__} | backend: {ops!r} | data: {args.dataset} "
              f"{x_train.shape[0]} train / {x_test.shape[0]} test, {what}")
        if data.class_names:
            print("classes: " + ", ".join(f"{i}={name}" for i, name in enumerate(data.class_names)))
        model.summary()
    n_fit = training_rows(len(x_train), args.validation_split)
    timer = _TrainTimer(n_fit, args.batch_size)
    history = model.fit(x_train, y_train, epochs=args.epochs, batch_size=args.batch_size,
                        validation_split=args.validation_split, callbacks=[timer.callback], verbose=args.verbose)
    loss, metric = model.evaluate(x_test, y_test, batch_size=256, verbose=0)
    samples_per_s = timer.samples_per_second()

    os.makedirs(args.output_dir, exist_ok=True)
    model_path = os.path.join(args.output_dir, "model.safetensors")
    plot_path = os.path.join(args.output_dir, "training_curves.png")
    if model.is_chief:
        model.save(model_path)
        names_path = os.path.join(args.output_dir, "class_names.txt")
        if data.class_names:
            # Class i of the model's output is line i: the labels' words, sorted.
            with open(names_path, "w", encoding="utf-8") as f:
                f.writelines(f"{name}\n" for name in data.class_names)
        elif os.path.exists(names_path):  # an earlier run's, which would not name this model's classes
            os.remove(names_path)
        from ..plotting import plot_history

        plot_history(history.history, plot_path, title=f"gpunn: {args.dataset}, {args.layers}, {args.optimizer}")
        if regression:
            print(f"test MAE: {metric:.6g}  test loss (MSE): {loss:.6g}")
        else:
            print(f"test accuracy: {metric:.4f}  test loss: {loss:.4f}")
        if samples_per_s is None:
            print("training throughput: not measured (one batch in all; the first compiles the kernels)")
        else:
            print(f"training throughput: {samples_per_s:,.0f} samples/s ({ops.device_description}; the first "
                  f"batch, which compiles the kernels, left out)")
        names = " (class i of its output: line i of class_names.txt there)" if data.class_names else ""
        print(f"saved model to {model_path}{names} and training curves to {plot_path}")
    return 0
