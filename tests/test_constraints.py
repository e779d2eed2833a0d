"""Weight constraints (``gpunn.constraints``), against Keras 3 itself.

Keras runs in subprocesses: it projects the same arrays with the same constraints, trains the same constrained
models from the same weights on the same batches, loads the model files gpunn writes and writes model files
with constraints for gpunn to load. Projections are compared with two of Keras's backends. Its NumPy backend
computes Keras's formulas as written, in NumPy's order of summation: equal bit for bit (in float32, the dtype
it computes float64 arrays in). Its jax backend (float64 with JAX_ENABLE_X64) sums in XLA's order, a few ulps
apart in general; on arrays whose sums of squares are exact (multiples of 1/4) it agrees bit for bit too, but
for UnitNorm, whose division by the broadcast norms XLA turns into a multiplication by their reciprocals
(1 ulp). The tests that run Keras skip when keras or jax is not installed.
"""
from __future__ import annotations

import json
import os
import textwrap

import numpy as np
import pytest

import gpunn
from gpunn import constraints, layers, optimizers
from helpers import assert_same_training, keras_unavailable_reason, numpy_backend, run_keras_script  # noqa: F401  (fixture)
from test_step_allocations import assert_later_steps_allocate_nothing

CONSTRAINTS = {
    "max_norm": lambda: constraints.MaxNorm(),
    "max_norm_axis_1": lambda: constraints.MaxNorm(max_value=1.5, axis=1),
    "max_norm_all_axes": lambda: constraints.MaxNorm(3, axis=[0, 1]),
    "min_max_norm": lambda: constraints.MinMaxNorm(0.5, 1.5, rate=0.7),
    "min_max_norm_axis_1": lambda: constraints.MinMaxNorm(min_value=1.0, max_value=2.0, axis=1),
    "unit_norm": lambda: constraints.UnitNorm(),
    "unit_norm_axis_1": lambda: constraints.UnitNorm(axis=1),
    "non_neg": lambda: constraints.NonNeg(),
}


def _arrays(dtype):
    """{name: array}: Gaussian, and multiples of 1/4 (exact sums of squares); each with a zero column and a zero
    row, and a 1-D one (a bias)."""
    rng = np.random.default_rng(0)
    gaussian = 2.0 * rng.standard_normal((9, 6))
    quarters = rng.integers(-12, 13, (7, 5)) / 4.0
    for array in (gaussian, quarters):
        array[:, 2] = 0.0
        array[3, :] = 0.0
    return {"gaussian": gaussian.astype(dtype), "quarters": quarters.astype(dtype),
            "bias": (rng.integers(-8, 9, 5) / 4.0).astype(dtype)}


KERAS_VALUES = textwrap.dedent("""
    import json, os, sys
    import numpy as np
    import keras

    work = sys.argv[1]
    configs = json.load(open(os.path.join(work, "constraints.json")))
    for dtype in sys.argv[2:]:
        arrays = np.load(os.path.join(work, f"arrays_{dtype}.npz"))
        out = {}
        for name, config in configs.items():
            constraint = keras.constraints.get(config)
            for array_name in arrays.files:
                w = arrays[array_name]
                if w.ndim == 1 and config["config"].get("axis", 0) != 0:
                    continue
                out[f"{name}/{array_name}"] = np.asarray(constraint(w))
        np.savez(os.path.join(work, f"{keras.backend.backend()}_{dtype}.npz"), **out)
""")


def _keras_work_dir(tmp_path_factory, name):
    """A fresh directory for a Keras run; skips the test when Keras cannot run here."""
    reason = keras_unavailable_reason()
    if reason:
        pytest.skip(reason)
    return tmp_path_factory.mktemp(name)


def _run_keras(script, work, *args, x64=False, backend="jax"):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["KERAS_BACKEND"] = backend
    if x64:
        env["JAX_ENABLE_X64"] = "1"
    run = run_keras_script(script, str(work), *args, env=env, timeout=600, cwd=work)
    assert run.returncode == 0, run.stderr[-4000:]


@pytest.fixture(scope="module")
def keras_values(tmp_path_factory):
    """{(backend, dtype): {"constraint/array": Keras's projection}}."""
    work = _keras_work_dir(tmp_path_factory, "constraint_values")
    (work / "constraints.json").write_text(json.dumps({name: constraints.serialize(make())
                                                       for name, make in CONSTRAINTS.items()}))
    dtypes = ("float32", "float64")
    for dtype in dtypes:
        np.savez(work / f"arrays_{dtype}.npz", **_arrays(dtype))
    _run_keras(KERAS_VALUES, work, "float32")
    _run_keras(KERAS_VALUES, work, "float64", x64=True)
    _run_keras(KERAS_VALUES, work, "float32", backend="numpy")
    found = {}
    for backend, dtype in KERAS_RUNS:
        with np.load(work / f"{backend}_{dtype}.npz") as results:
            found[backend, dtype] = {key: results[key] for key in results.files}
    return found


KERAS_RUNS = [("numpy", "float32"), ("jax", "float32"), ("jax", "float64")]


@pytest.mark.parametrize("backend, dtype", KERAS_RUNS, ids=["-".join(run) for run in KERAS_RUNS])
@pytest.mark.parametrize("name", list(CONSTRAINTS))
def test_each_constraint_projects_as_keras_does(keras_values, name, dtype, backend):
    constraint = CONSTRAINTS[name]()
    theirs_all = keras_values[backend, dtype]
    for array_name, w in _arrays(dtype).items():
        key = f"{name}/{array_name}"
        if key not in theirs_all:
            continue
        theirs, before = theirs_all[key], w.copy()
        ours = constraint(w)
        np.testing.assert_array_equal(w, before, err_msg=f"{key}: the input was changed")
        assert ours.dtype == theirs.dtype == w.dtype, key
        exact = backend == "numpy" or (array_name != "gaussian" and not name.startswith("unit_norm"))
        if exact:
            np.testing.assert_array_equal(ours, theirs, err_msg=key)
            np.testing.assert_array_equal(np.signbit(ours), np.signbit(theirs), err_msg=f"{key}: signs of zeros")
        else:
            np.testing.assert_allclose(ours, theirs, rtol=8 * np.finfo(dtype).eps, atol=0, err_msg=key)


def test_the_projections_do_what_they_promise():
    w = _arrays("float64")["gaussian"]
    for axis in (0, 1):
        norms = np.linalg.norm(constraints.MaxNorm(1.0, axis=axis)(w), axis=axis)
        assert norms.max() <= 1.0 + 1e-12 and np.isclose(norms.max(), 1.0)
        unit = np.linalg.norm(constraints.UnitNorm(axis=axis)(w), axis=axis)
        np.testing.assert_allclose(unit[unit > 0], 1.0, rtol=1e-6)
        bounded = np.linalg.norm(constraints.MinMaxNorm(2.0, 3.0, axis=axis)(w), axis=axis)
        assert np.all((bounded == 0) | ((bounded > 2.0 - 1e-6) & (bounded < 3.0 + 1e-6)))
    # A zero column stays zero (0 / epsilon); NonNeg keeps NaN, as max(w, 0) does.
    assert not constraints.UnitNorm()(w)[:, 2].any()
    special = np.array([-1.0, -0.0, 0.0, np.nan, 2.0], dtype="float32")
    np.testing.assert_array_equal(constraints.NonNeg()(special), [0.0, 0.0, 0.0, np.nan, 2.0])


def test_standalone_calls_take_what_keras_takes():
    integers = np.arange(6).reshape(2, 3) - 2
    assert constraints.MaxNorm()(integers).dtype == np.float32  # Keras: integers normed in floatx
    np.testing.assert_array_equal(constraints.NonNeg()(integers), np.maximum(integers, 0))
    assert constraints.NonNeg()(integers).dtype == integers.dtype
    from_lists = constraints.UnitNorm()([[3.0], [4.0]])
    assert from_lists.dtype == np.float32  # Keras: Python floats in floatx
    np.testing.assert_allclose(from_lists, [[0.6], [0.8]], rtol=1e-6)
    w = np.ones((2, 2), dtype="float32")
    assert constraints.Constraint()(w) is w  # the base class is the identity, as in Keras
    model = gpunn.Sequential([gpunn.Input(shape=(2,)), layers.Dense(2, kernel_constraint="unit_norm")])
    kernel = model.layers[0].kernel
    assert kernel.constraint.get_config() == {"axis": 0}
    np.testing.assert_allclose(kernel.constraint(kernel), constraints.UnitNorm()(kernel.numpy()))


def test_names_configs_and_aliases_are_keras_s():
    assert constraints.max_norm is constraints.MaxNorm and constraints.non_neg is constraints.NonNeg
    assert constraints.min_max_norm is constraints.MinMaxNorm and constraints.unit_norm is constraints.UnitNorm
    for name, cls in [("max_norm", constraints.MaxNorm), ("MaxNorm", constraints.MaxNorm),
                      ("min_max_norm", constraints.MinMaxNorm), ("non_neg", constraints.NonNeg),
                      ("unit_norm", constraints.UnitNorm), ("UnitNorm", constraints.UnitNorm)]:
        assert type(constraints.get(name)) is cls
    assert constraints.get(None) is None
    assert type(constraints.get(constraints.NonNeg)) is constraints.NonNeg
    given = constraints.MinMaxNorm(min_value=1, max_value=2.5, rate=0.5, axis=[0, 1])
    assert constraints.get(given) is given
    assert given.get_config() == {"min_value": 1, "max_value": 2.5, "rate": 0.5, "axis": [0, 1]}
    assert constraints.MaxNorm().get_config() == {"max_value": 2, "axis": 0}  # Keras's defaults, as given
    serialized = constraints.serialize(given)
    assert serialized == {"class_name": "MinMaxNorm", "config": given.get_config()}
    again = constraints.deserialize(json.loads(json.dumps(serialized)))
    assert type(again) is constraints.MinMaxNorm and again.get_config() == given.get_config()
    native = {"module": "keras.constraints", "class_name": "NonNeg", "config": {}, "registered_name": None}
    assert type(constraints.get(native)) is constraints.NonNeg


def _layer_configs():
    return [
        layers.Dense(3, kernel_constraint=constraints.MaxNorm(1.5), bias_constraint="non_neg"),
        layers.BatchNormalization(beta_constraint=constraints.NonNeg(), gamma_constraint=constraints.UnitNorm()),
        layers.LayerNormalization(gamma_constraint=constraints.MinMaxNorm(0.5, 1.0, rate=0.2)),
        layers.PReLU(alpha_constraint=constraints.NonNeg()),
    ]


def test_layer_configs_round_trip_in_keras_s_layout():
    for layer in _layer_configs():
        config = layer.get_config()
        again = type(layer).from_config(json.loads(json.dumps(config)))
        assert again.get_config() == config
    dense, norm, layer_norm, prelu = (layer.get_config() for layer in _layer_configs())
    assert dense["kernel_constraint"] == {"class_name": "MaxNorm", "config": {"max_value": 1.5, "axis": 0}}
    assert dense["bias_constraint"] == {"class_name": "NonNeg", "config": {}}
    assert norm["beta_constraint"]["class_name"] == "NonNeg" and norm["gamma_constraint"]["class_name"] == "UnitNorm"
    assert layer_norm["beta_constraint"] is None and prelu["alpha_constraint"]["class_name"] == "NonNeg"
    model = gpunn.Sequential([gpunn.Input(shape=(4,))] + _layer_configs())
    entry = model.get_config()["layers"][1]["config"]["kernel_constraint"]
    assert entry == {"module": "keras.constraints", "class_name": "MaxNorm",
                     "config": {"max_value": 1.5, "axis": 0}, "registered_name": None}
    rebuilt = gpunn.Sequential.from_config(model.get_config())
    assert [layer.get_config() for layer in rebuilt.layers] == [layer.get_config() for layer in model.layers]


def test_bad_arguments_name_the_argument():
    cases = [
        (lambda: constraints.MaxNorm(max_value="2"), "max_value"),
        (lambda: constraints.MaxNorm(max_value=-1.0), "max_value"),
        (lambda: constraints.MaxNorm(max_value=True), "max_value"),
        (lambda: constraints.MinMaxNorm(min_value=None), "min_value"),
        (lambda: constraints.MinMaxNorm(rate=float("nan")), "rate"),
        (lambda: constraints.UnitNorm(axis="0"), "axis"),
        (lambda: constraints.MaxNorm(axis=[0, 1.5]), "axis"),
        (lambda: constraints.MaxNorm(axis=2)(np.ones((2, 2))), "axis"),
        (lambda: constraints.get("max_nrom"), "constraint: unknown name 'max_nrom'.*Did you mean 'max_norm'"),
        (lambda: constraints.get(3), "constraint: could not interpret"),
        (lambda: constraints.deserialize({"class_name": "Clip", "config": {}}), "constraint: unknown name 'Clip'"),
        (lambda: layers.Dense(2, kernel_constraint="positive"), "kernel_constraint"),
        (lambda: layers.BatchNormalization(gamma_constraint=1.0), "gamma_constraint"),
        (lambda: layers.LayerNormalization(beta_constraint="nonneg_"), "beta_constraint"),
        (lambda: layers.PReLU(alpha_constraint={"class_name": "Nope"}), "alpha_constraint"),
        (lambda: gpunn.Sequential([gpunn.Input(shape=(3,)),
                                   layers.Dense(2, kernel_constraint=constraints.MaxNorm(axis=2))]).build(),
         "kernel_constraint of layer .*axis 2 is out of range for a weight of shape \\(3, 2\\)"),
    ]
    for call, message in cases:
        with pytest.raises(ValueError, match=message):
            call()


# ---- in training -------------------------------------------------------------------------------------------------


def _data(n=48, features=6, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    x = (2.0 * rng.standard_normal((n, features))).astype("float32")
    y = (x[:, :classes] + 0.5 * rng.standard_normal((n, classes))).argmax(axis=1)
    return x, y


def _constrained_model(case="sgd", jit_compile="auto"):
    """Each case keeps a constraint active (weights at its bound) for the comparisons to mean something."""
    if case == "sgd":
        hidden = [layers.Dense(8, activation="relu", kernel_constraint=constraints.MaxNorm(0.6),
                               bias_constraint=constraints.NonNeg())]
        optimizer = optimizers.SGD(0.2, momentum=0.9)
    else:
        # No bias before BatchNormalization: its gradient is rounding noise there, which Adam would amplify.
        hidden = [layers.Dense(8, use_bias=False, kernel_constraint=constraints.MaxNorm(0.5, axis=0)),
                  layers.BatchNormalization(gamma_constraint=constraints.MinMaxNorm(0.5, 1.0, rate=0.5),
                                            beta_constraint=constraints.NonNeg()),
                  layers.PReLU(alpha_constraint=constraints.NonNeg(), alpha_initializer="random_uniform"),
                  layers.Dense(8, activation="tanh", kernel_constraint=constraints.UnitNorm(axis=1),
                               bias_constraint=constraints.NonNeg()),
                  layers.LayerNormalization(gamma_constraint=constraints.MaxNorm(1.5, axis=0))]
        optimizer = optimizers.Adam(0.05)
    model = gpunn.Sequential([gpunn.Input(shape=(6,))] + hidden + [
        layers.Dense(3, activation="softmax", bias_constraint=constraints.NonNeg())])
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                  jit_compile=jit_compile)
    return model


def _trained(case, jit, epochs=3):
    gpunn.utils.set_random_seed(0)
    model = _constrained_model(case, jit_compile=jit)
    x, y = _data()
    history = model.fit(x, y, batch_size=8, epochs=epochs, shuffle=False, verbose=0)
    return model, history.history


@pytest.mark.parametrize("case", ["sgd", "adam"])
def test_a_recorded_step_applies_the_constraints_bit_for_bit(case):
    eager, replayed = _trained(case, jit=False), _trained(case, jit=True)
    assert_same_training(eager, replayed)
    kernel = eager[0].layers[0].get_weights()[0]
    norms = np.linalg.norm(kernel, axis=0)
    bound = 0.6 if case == "sgd" else 0.5
    assert norms.max() <= bound * (1 + 1e-6) and np.isclose(norms.max(), bound, rtol=1e-5)  # active
    assert eager[0].layers[-1].get_weights()[1].min() == 0.0


class ClipToOne(constraints.Constraint):
    """A constraint written as in Keras: ``__call__`` returning the projection."""

    def __call__(self, w):
        return np.clip(w, -0.1, 0.1)


def test_a_constraint_of_one_s_own_runs_in_eager_and_recorded_steps():
    def trained(jit):
        gpunn.utils.set_random_seed(0)
        model = gpunn.Sequential([gpunn.Input(shape=(6,)), layers.Dense(5, kernel_constraint=ClipToOne()),
                                  layers.Dense(3, activation="softmax")])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", jit_compile=jit)
        history = model.fit(*_data(), batch_size=8, epochs=2, shuffle=False, verbose=0)
        return model, history.history

    eager = trained(False)
    assert_same_training(eager, trained(True))
    assert np.abs(eager[0].layers[0].get_weights()[0]).max() == np.float32(0.1)


def test_frozen_layers_are_not_constrained():
    gpunn.utils.set_random_seed(0)
    frozen = layers.Dense(8, activation="relu", kernel_constraint=constraints.MaxNorm(0.01),
                          bias_constraint=constraints.NonNeg())
    norm = layers.BatchNormalization(gamma_constraint=constraints.MaxNorm(0.01))
    model = gpunn.Sequential([gpunn.Input(shape=(6,)), frozen, norm, layers.Dense(3, activation="softmax")])
    model.build()
    frozen.set_weights([np.full((6, 8), 0.5, "float32"), np.full(8, -0.5, "float32")])
    frozen.trainable = norm.trainable = False
    before = frozen.get_weights() + norm.get_weights()[:2]
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    assert not model.make_train_function().prepare(True).plan.has_constraints
    model.fit(*_data(), batch_size=8, epochs=1, verbose=0)
    for got, want in zip(frozen.get_weights() + norm.get_weights()[:2], before):
        np.testing.assert_array_equal(got, want)
    frozen.trainable = True  # trained again: constrained after its next update
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    model.fit(*_data(), batch_size=8, epochs=1, verbose=0)
    kernel, bias = frozen.get_weights()
    assert np.linalg.norm(kernel, axis=0).max() <= 0.01 * (1 + 1e-6) and bias.min() >= 0.0


def test_models_without_constraints_plan_none():
    model = gpunn.Sequential([gpunn.Input(shape=(6,)), layers.Dense(3, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    assert not model.make_train_function().prepare(True).plan.has_constraints
    assert _constrained_model().make_train_function().prepare(True).plan.has_constraints


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "replay"])
@pytest.mark.parametrize("case", ["sgd", "adam"])
def test_a_constrained_step_allocates_nothing_after_the_first(case, jit):
    assert_later_steps_allocate_nothing(_constrained_model(case, jit_compile=jit), *_data())


# ---- Keras trains the same constrained models, and reads and writes the files --------------------------------

KERAS_SIDE = textwrap.dedent("""
    import json, os, sys
    import numpy as np
    import keras

    work = sys.argv[1]
    task = json.load(open(os.path.join(work, "task.json")))
    x, y = np.load(os.path.join(work, "x.npy")), np.load(os.path.join(work, "y.npy"))

    def constraints_of(model):
        found = []
        for layer in model.layers:
            for weight in layer.weights:
                constraint = getattr(weight, "constraint", None)
                if constraint is not None:
                    found.append([layer.name, weight.name, type(constraint).__name__, constraint.get_config()])
        return found

    out = {}
    for case in task["cases"]:
        model = keras.saving.load_model(os.path.join(work, case + ".keras"))
        loaded = constraints_of(model)
        model.fit(x, y, batch_size=8, epochs=task["epochs"], shuffle=False, verbose=0)
        out[case] = {"weights": [np.asarray(w).tolist() for w in model.get_weights()], "constraints": loaded,
                     "h5_constraints": constraints_of(keras.saving.load_model(os.path.join(work, case + ".h5")))}

    keras.utils.set_random_seed(1)
    built = keras.Sequential([
        keras.Input(shape=(6,)),
        keras.layers.Dense(5, kernel_constraint=keras.constraints.max_norm(0.7),
                           bias_constraint=keras.constraints.NonNeg()),
        keras.layers.BatchNormalization(gamma_constraint=keras.constraints.UnitNorm()),
        keras.layers.PReLU(alpha_constraint="non_neg"),
        keras.layers.LayerNormalization(beta_constraint=keras.constraints.MinMaxNorm(0.0, 0.5, rate=0.3)),
        keras.layers.Dense(3, activation="softmax")])
    built.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    built.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    built.save(os.path.join(work, "keras_built.keras"))
    built.save(os.path.join(work, "keras_built.h5"))
    out["built"] = {"predictions": np.asarray(built.predict(x, verbose=0)).tolist(),
                    "constraints": constraints_of(built)}
    json.dump(out, open(os.path.join(work, "out.json"), "w"))
""")

TRAINING_CASES = ["sgd", "adam"]
EPOCHS = 3


@pytest.fixture(scope="module")
def keras_side(tmp_path_factory):
    """What gpunn and Keras made of the same constrained models and files."""
    work = _keras_work_dir(tmp_path_factory, "constraints_keras_side")
    x, y = _data()
    ours = {}
    with gpunn.use_backend("numpy"):
        for case in TRAINING_CASES:
            gpunn.utils.set_random_seed(0)
            model = _constrained_model(case)
            model.build()
            model.save(work / f"{case}.keras")  # before training: Keras starts from these weights
            model.save(work / f"{case}.h5")
            model.fit(x, y, batch_size=8, epochs=EPOCHS, shuffle=False, verbose=0)
            ours[case] = model
    np.save(work / "x.npy", x)
    np.save(work / "y.npy", y)
    (work / "task.json").write_text(json.dumps({"cases": TRAINING_CASES, "epochs": EPOCHS}))
    _run_keras(KERAS_SIDE, work)
    return ours, work, json.loads((work / "out.json").read_text())


def _our_constraints(model):
    return [[layer.name, spec.name, type(spec.constraint).__name__, spec.constraint.get_config()]
            for layer in model.layers for spec in layer.weight_specs() if spec.constraint is not None]


@pytest.mark.parametrize("case", TRAINING_CASES)
def test_keras_trains_the_same_constrained_model_to_the_same_weights(keras_side, case):
    ours, _, theirs = keras_side
    model = ours[case]
    assert theirs[case]["constraints"] == theirs[case]["h5_constraints"] == json.loads(
        json.dumps(_our_constraints(model)))
    weights = model.get_weights()
    assert len(weights) == len(theirs[case]["weights"])
    for index, (got, want) in enumerate(zip(weights, theirs[case]["weights"])):
        np.testing.assert_allclose(got, np.asarray(want, dtype=got.dtype), rtol=2e-4, atol=2e-5,
                                   err_msg=f"{case}: weight {index}")


def test_files_keras_writes_with_constraints_load_in_gpunn(keras_side):
    _, work, theirs = keras_side
    x, _ = _data()
    for name in ("keras_built.keras", "keras_built.h5"):
        model = gpunn.models.load_model(work / name)
        assert json.loads(json.dumps(_our_constraints(model))) == theirs["built"]["constraints"], name
        np.testing.assert_allclose(model.predict(x, verbose=0), theirs["built"]["predictions"], rtol=1e-5,
                                   atol=1e-6, err_msg=name)
