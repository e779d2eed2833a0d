"""The training step as an object: cached by make_train_function, allocation-free once its buffers exist,
and, with jit_compile=True, recorded once and replayed, equal to the eager step bit for bit."""
from __future__ import annotations

import contextlib

import numpy as np
import pytest

import gpunn
from gpunn import callbacks, layers, optimizers
from gpunn.optimizers import schedules

from helpers import assert_same_training, numpy_backend  # noqa: F401  (fixture)


def _data(n=53, features=6, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, features)).astype("float32")
    y = rng.integers(0, classes, n)
    return x, y


def _model(stack="dense", seed=5, dtype="float32", features=6, classes=3, out_activation="softmax"):
    gpunn.utils.set_random_seed(seed)
    hidden = {
        "dense": [layers.Dense(8, activation="relu"), layers.Dense(7, activation="tanh")],
        "dropout": [layers.Dense(8, activation="relu"), layers.Dropout(0.3), layers.Dense(7, activation="gelu")],
        "batchnorm": [layers.Dense(8), layers.BatchNormalization(), layers.Activation("relu")],
        "layernorm": [layers.Dense(8, activation="elu"), layers.LayerNormalization()],
        "regularized": [layers.Dense(8, activation="relu", kernel_regularizer="l2", bias_regularizer="l1")],
        "noise": [layers.GaussianNoise(0.3), layers.Dense(8, activation="relu"), layers.GaussianDropout(0.4),
                  layers.Dense(7, activation="tanh")],
        "activations": [layers.Dense(8), layers.PReLU(alpha_initializer="random_uniform"), layers.Dense(8),
                        layers.ReLU(max_value=1.5, negative_slope=0.1, threshold=0.2), layers.Dense(8),
                        layers.ELU(alpha=0.7), layers.LeakyReLU(), layers.Dense(7), layers.Softmax()],
        "preprocessing": [_adapted_normalization(features), layers.Rescaling(0.5, offset=0.1), layers.Dense(8),
                          layers.Reshape((2, -1)), layers.Identity(), layers.Flatten(),
                          layers.Normalization(mean=0.5, variance=4.0, invert=True), layers.Dense(7)],
    }[stack]
    return gpunn.Sequential([gpunn.Input(shape=(features,), dtype=dtype)] + hidden
                            + [layers.Dense(classes, activation=out_activation)])


def _adapted_normalization(features):
    norm = layers.Normalization()
    norm.adapt(np.random.default_rng(3).normal(2.0, 3.0, (40, features)))
    return norm


OPTIMIZERS = {
    "sgd": lambda: optimizers.SGD(0.05),
    "sgd-nesterov": lambda: optimizers.SGD(0.05, momentum=0.9, nesterov=True),
    "rmsprop-centered": lambda: optimizers.RMSprop(0.01, momentum=0.5, centered=True),
    "adagrad": lambda: optimizers.Adagrad(0.05),
    "adam": lambda: optimizers.Adam(0.01),
    "adam-amsgrad": lambda: optimizers.Adam(0.01, amsgrad=True),
    "adamw": lambda: optimizers.AdamW(0.01, weight_decay=0.05),
    "adam-schedule": lambda: optimizers.Adam(schedules.ExponentialDecay(0.02, decay_steps=3, decay_rate=0.7)),
    "sgd-cosine": lambda: optimizers.SGD(schedules.CosineDecay(0.05, decay_steps=10, warmup_target=0.1,
                                                               warmup_steps=4)),
    "adam-clipnorm": lambda: optimizers.Adam(0.01, clipnorm=0.1),
    "sgd-global-clipnorm": lambda: optimizers.SGD(0.1, global_clipnorm=0.05),
    "rmsprop-clipvalue": lambda: optimizers.RMSprop(0.01, clipvalue=0.01),
    "nadam": lambda: optimizers.Nadam(0.01, weight_decay=0.01),
    "adamax": lambda: optimizers.Adamax(schedules.PolynomialDecay(0.02, decay_steps=4, power=2.0, cycle=True)),
    "adadelta": lambda: optimizers.Adadelta(1.0, clipnorm=0.5),
    "lion": lambda: optimizers.Lion(schedules.CosineDecayRestarts(0.003, 3, t_mul=1.5, m_mul=0.8),
                                    weight_decay=0.1),
    "ftrl": lambda: optimizers.Ftrl(schedules.ExponentialDecay(0.3, decay_steps=3, decay_rate=0.7),
                                    learning_rate_power=-0.6, l1_regularization_strength=0.001,
                                    l2_regularization_strength=0.01, l2_shrinkage_regularization_strength=0.01,
                                    beta=0.5, weight_decay=0.01, clipnorm=1.0),
    "lamb": lambda: optimizers.Lamb(schedules.CosineDecay(0.02, decay_steps=10, warmup_target=0.05, warmup_steps=3),
                                    beta_1=0.8, weight_decay=0.01, global_clipnorm=2.0),
    "schedulefreeadamw": lambda: optimizers.ScheduleFreeAdamW(0.01, warmup_steps=4, weight_decay=0.01),
}


def _train(jit, stack="dense", optimizer="adam", loss="sparse_categorical_crossentropy", weighted=False,
           epochs=2, batch_size=10, callbacks_=None, **fit_kwargs):
    x, y = _data()
    model = _model(stack)
    model.compile(optimizer=OPTIMIZERS[optimizer](), loss=loss, metrics=["accuracy"], jit_compile=jit)
    if loss != "sparse_categorical_crossentropy":
        y = gpunn.utils.to_categorical(y, 3)
    weights = np.linspace(0.2, 2.0, len(x)) if weighted else None
    history = model.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=0, sample_weight=weights,
                        callbacks=callbacks_, **fit_kwargs)
    return model, history.history


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
def test_replay_equals_eager_for_every_optimizer(numpy_backend, optimizer):
    # 53 rows in batches of 10: 5 full batches and a partial one of 3, which records its own step
    assert_same_training(_train(False, optimizer=optimizer), _train(True, optimizer=optimizer))


@pytest.mark.parametrize("stack", ["dropout", "batchnorm", "layernorm", "regularized", "noise", "activations",
                                   "preprocessing"])
def test_replay_equals_eager_for_every_layer_stack(numpy_backend, stack):
    assert_same_training(_train(False, stack=stack, optimizer="adamw"), _train(True, stack=stack, optimizer="adamw"))


@pytest.mark.parametrize("loss", ["categorical_crossentropy", "mean_squared_error"])
def test_replay_equals_eager_with_sample_weights(numpy_backend, loss):
    assert_same_training(_train(False, loss=loss, weighted=True), _train(True, loss=loss, weighted=True))


def test_replay_follows_learning_rate_callbacks(numpy_backend):
    """The host writes a new rate into the device state; the recording reads it there."""
    def run(jit):
        schedule = callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.5)
        plateau = callbacks.ReduceLROnPlateau(monitor="loss", factor=0.3, patience=0, min_delta=10.0)
        return _train(jit, optimizer="sgd-nesterov", epochs=4, callbacks_=[schedule, plateau])

    eager, replayed = run(False), run(True)
    assert eager[1]["learning_rate"][-1] < eager[1]["learning_rate"][0]
    assert_same_training(eager, replayed)


class _ChangeMomentumAfter(callbacks.Callback):
    def __init__(self, batch):
        super().__init__()
        self.batch = batch

    def on_train_batch_end(self, batch, logs=None):
        if batch == self.batch:
            self.model.optimizer.momentum = 0.2  # a host hyperparameter: the step must record again


def test_changing_a_host_hyperparameter_records_again(numpy_backend):
    eager = _train(False, optimizer="sgd-nesterov", callbacks_=[_ChangeMomentumAfter(2)])
    replayed = _train(True, optimizer="sgd-nesterov", callbacks_=[_ChangeMomentumAfter(2)])
    assert_same_training(eager, replayed)


def test_replay_runs_no_layer_logic(numpy_backend, monkeypatch):
    x, y = _data()
    model = _model()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", jit_compile=True)
    calls = []
    original = layers.Dense.forward
    monkeypatch.setattr(layers.Dense, "forward", lambda self, *a, **k: calls.append(1) or original(self, *a, **k))
    model.fit(x[:50], y[:50], batch_size=10, epochs=2, verbose=0, shuffle=False)
    assert len(calls) == 3  # the three Dense layers, once, while the first step was recorded


class _RecordingSpy:
    """Counts the steps recorded (``train_step.Recording`` entered), and for each step run (``TrainStep._run``)
    whether the backend's step conditions were in force."""

    def __init__(self, monkeypatch, ops):
        from gpunn.trainer import train_step

        self.recorded, self.active, self.runs_inside = 0, False, []
        real = train_step.Recording
        spy = self

        class Counted(real):
            def __enter__(self):
                spy.recorded += 1
                return super().__enter__()

        real_run = train_step.TrainStep._run

        def run(step, *args, **kwargs):
            spy.runs_inside.append(spy.active)
            return real_run(step, *args, **kwargs)

        monkeypatch.setattr(train_step, "Recording", Counted)
        monkeypatch.setattr(train_step.TrainStep, "_run", run)
        monkeypatch.setattr(ops, "step_conditions", self._conditions, raising=False)

    @contextlib.contextmanager
    def _conditions(self):
        self.active = True
        try:
            yield
        finally:
            self.active = False


def test_a_change_of_tf32_records_again(numpy_backend, monkeypatch):
    """A captured GEMM keeps the math mode it was captured with: switching TF32 (a GPU setting, reached here
    through the backend's ``allow_tf32``) in the middle of a fit makes the step be recorded, and so captured,
    again; without a switch one recording serves the whole fit."""
    x, y = _data()
    monkeypatch.setattr(numpy_backend, "allow_tf32", False, raising=False)

    class SwitchTf32(callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 1:
                numpy_backend.allow_tf32 = True

    for switch, recordings in ((False, 1), (True, 2)):
        model = _model()
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", jit_compile=True)
        spy = _RecordingSpy(monkeypatch, numpy_backend)
        model.fit(x[:40], y[:40], batch_size=10, epochs=2, verbose=0, shuffle=False,
                  callbacks=[SwitchTf32()] if switch else [])
        assert spy.recorded == recordings, switch


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "recorded"])
def test_every_step_runs_under_the_backends_step_conditions(numpy_backend, monkeypatch, jit):
    """CupyOps runs steps with CuPy's CUB reductions off, as its graphs are captured: an eager step, the recorded
    one and the replays all run the kernels the graphs hold (same sums, bit for bit; no pool allocations)."""
    x, y = _data()
    model = _model()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", jit_compile=jit)
    spy = _RecordingSpy(monkeypatch, numpy_backend)
    model.fit(x[:40], y[:40], batch_size=10, epochs=1, verbose=0, shuffle=False)
    assert spy.recorded == (1 if jit else 0)
    assert spy.runs_inside == ([True] if jit else [True] * 4)  # replays do not call _run
    assert not spy.active


def test_make_train_function_is_cached_until_the_model_changes(numpy_backend):
    x, y = _data()
    model = _model()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, verbose=0)
    step = model.make_train_function()
    assert model.make_train_function() is step
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    assert model.make_train_function() is not step
    step = model.make_train_function()
    model.pop()
    model.add(layers.Dense(3, activation="softmax"))
    assert model.make_train_function() is not step
    model.fit(x, y, epochs=1, verbose=0)


def test_replayed_training_matches_keras_math_not_just_itself(numpy_backend):
    """Replay equal to eager would also hold if both froze a value; the step count and schedule must move."""
    model, _ = _train(True, optimizer="adam-schedule", epochs=1)
    assert model.optimizer.iterations == 6
    state = np.asarray(model.optimizer.state)
    assert state[0] == 6.0
    assert state[1] == pytest.approx(0.02 * 0.7 ** (5 / 3))  # the rate of the 6th update (iterations 5 before it)
