"""``keras.distillation``: a Distiller training a student on its targets and a frozen teacher's outputs (or a
teacher layer's features) trains, evaluates, predicts, logs and saves as Keras 3's (Keras itself, in a subprocess
on its jax backend), eager and replayed; its checks refuse what Keras's refuse, and a loss on a student's inner
layer, which gpunn cannot differentiate, is refused when the distiller is made."""
from __future__ import annotations

import numpy as np
import pytest

import gpunn
from gpunn import layers
from gpunn.distillation import Distiller, FeatureDistillation, LogitsDistillation
from helpers import numpy_backend, run_script_both_ways  # noqa: F401  (fixture)

SCRIPT = '''
import json
import os
import sys

import numpy as np


def run(keras, folder):
    Distiller, FeatureDistillation = keras.distillation.Distiller, keras.distillation.FeatureDistillation
    LogitsDistillation = keras.distillation.LogitsDistillation

    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 6)).astype("float32")
    y = rng.integers(0, 3, 40)
    x_val, y_val = x[:12] + 0.5, y[:12]

    def mlp(hidden, name):
        model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(hidden, activation="relu", name=name + "_h"),
                                  keras.layers.Dense(3, name=name + "_features"),
                                  keras.layers.Dense(3, name=name + "_out")], name=name)
        model.set_weights([(0.4 * np.cos(np.arange(w.size) * (0.7 + 0.1 * i))).reshape(w.shape).astype("float32")
                           for i, w in enumerate(model.get_weights())])
        return model

    cases = {
        # (the KL divergence as an object: by name, Keras 3.15 compares logits as probabilities, see below)
        "logits": dict(distillation_losses=LogitsDistillation(temperature=2.0, loss=keras.losses.KLDivergence())),
        "kl_object": dict(distillation_losses=LogitsDistillation(temperature=4.0, loss=keras.losses.KLDivergence()),
                          student_loss_weight=0.2),
        "several": dict(distillation_losses=[LogitsDistillation(temperature=3.0, loss=keras.losses.KLDivergence()),
                                             FeatureDistillation(loss="mse", teacher_layer_name="t_features"),
                                             FeatureDistillation(loss="cosine_similarity")],
                        distillation_loss_weights=[1.0, 0.5, 0.25], student_loss_weight=0.3),
        "distillation_alone": dict(distillation_losses=LogitsDistillation(loss="categorical_crossentropy"),
                                   student_loss_weight=0.0),
        "student_alone": dict(distillation_losses=LogitsDistillation(), student_loss_weight=1.0),
    }
    results = {}
    for label, arguments in cases.items():
        for jit in (False, True):
            keras.utils.set_random_seed(1)
            teacher, student = mlp(10, "t"), mlp(4, "s")
            distiller = Distiller(teacher=teacher, student=student, **arguments)
            compile_arguments = {} if jit is False else {"jit_compile": True}
            distiller.compile(optimizer=keras.optimizers.SGD(0.05),
                              loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                              metrics=["sparse_categorical_accuracy"], **compile_arguments)
            history = distiller.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0,
                                    validation_data=(x_val, y_val)).history
            results[f"{label}/{jit}"] = {
                "history": {key: [float(v) for v in values] for key, values in history.items()},
                "evaluate": {key: float(v) for key, v in distiller.evaluate(x, y, verbose=0,
                                                                              return_dict=True).items()},
                "student": [np.asarray(w).tolist() for w in student.get_weights()],
                "teacher_unchanged": all(np.array_equal(a, b) for a, b in
                                         zip(teacher.get_weights(), mlp(10, "t").get_weights())),
                "predict": np.asarray(distiller.predict(x[:5], verbose=0)).tolist(),
                "student_predict": np.asarray(student.predict(x[:5], verbose=0)).tolist(),
                "trainable": [teacher.trainable, student.trainable, len(distiller.trainable_weights),
                              len(distiller.weights)],
                # (the trackers; Keras lists the compiled metrics inside one "compile_metrics", gpunn one by one)
                "metrics": [m.name for m in distiller.metrics if m.name not in ("compile_metrics",
                                                                                "sparse_categorical_accuracy")],
            }
    # files: the distiller's config, and the student saved alone after distillation
    config = distiller.get_config()
    results["config"] = {"keys": sorted(k for k in config if k in ("teacher", "student", "distillation_losses",
                                                                "distillation_loss_weights", "student_loss_weight")),
                         "losses": [loss["config"] for loss in config["distillation_losses"]],
                         "weights": config["distillation_loss_weights"],
                         "student_weight": config["student_loss_weight"]}
    again = Distiller.from_config(json.loads(json.dumps(config)))
    results["from_config"] = [again.student_loss_weight, type(again.distillation_losses[0]).__name__,
                              again.distillation_losses[0].temperature, list(np.shape(again(x[:2])))]
    path = os.path.join(folder, "student.keras")
    student.save(path)
    loaded = keras.models.load_model(path)
    results["student_file"] = np.asarray(loaded.predict(x[:3], verbose=0)).tolist()
    return results
'''


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    return run_script_both_ways(SCRIPT, tmp_path_factory)


def test_a_distiller_trains_evaluates_and_predicts_as_keras(both):
    ours, theirs = both
    assert ours.keys() == theirs.keys()
    for label in theirs:
        if "/" not in label:
            continue
        mine, keras = ours[label], theirs[label]
        assert mine["history"].keys() == keras["history"].keys(), label
        for key, values in keras["history"].items():
            np.testing.assert_allclose(mine["history"][key], values, rtol=3e-5, atol=1e-6, err_msg=f"{label} {key}")
        assert mine["evaluate"].keys() == keras["evaluate"].keys(), label
        for key, value in keras["evaluate"].items():
            assert mine["evaluate"][key] == pytest.approx(value, rel=3e-5, abs=1e-6), (label, key)
        for key in ("student", "predict", "student_predict"):
            for a, b in zip(mine[key], keras[key]):
                np.testing.assert_allclose(a, b, rtol=3e-5, atol=1e-6, err_msg=f"{label} {key}")
        for key in ("teacher_unchanged", "trainable", "metrics"):
            assert mine[key] == keras[key], (label, key)


def test_a_distillers_config_and_the_students_file_are_keras(both):
    ours, theirs = both
    for key in ("config", "from_config"):
        assert ours[key] == theirs[key], key
    np.testing.assert_allclose(ours["student_file"], theirs["student_file"], rtol=3e-5, atol=1e-6)


def _mlp(hidden: int, units: int = 3, name=None):
    return gpunn.Sequential([layers.Input((6,)), layers.Dense(hidden, activation="relu", name=f"{name}_h"),
                             layers.Dense(units, name=f"{name}_out")], name=name)


def test_a_loss_on_a_students_inner_layer_is_refused_when_the_distiller_is_made(numpy_backend):
    teacher, student = _mlp(8, name="t"), _mlp(8, name="s")
    with pytest.raises(ValueError, match=r"FeatureDistillation\(student_layer_name='s_h'\): gpunn distills into the "
                                         r"student's outputs only"):
        Distiller(teacher, student, FeatureDistillation(teacher_layer_name="t_h", student_layer_name="s_h"))
    assert teacher.trainable  # (refused before the teacher was frozen)


@pytest.mark.parametrize("arguments, message", [
    (dict(student_loss_weight=1.5), "student_loss_weight must be between 0.0 and 1.0, got 1.5"),
    (dict(student_loss_weight="half"), "student_loss_weight must be a number"),
    (dict(distillation_losses=None), "'distillation_losses' cannot be `None`"),
    (dict(distillation_losses=[LogitsDistillation()], distillation_loss_weights=[1.0, 2.0]),
     r"Number of distillation_loss_weights \(2\) must match number of distillation_losses \(1\)"),
    (dict(distillation_losses=FeatureDistillation(teacher_layer_name="nowhere")), "In teacher model: "),
])
def test_its_arguments_are_checked_as_keras_checks_them(numpy_backend, arguments, message):
    settings = {"distillation_losses": LogitsDistillation(), **arguments}
    with pytest.raises(ValueError, match=message):
        Distiller(_mlp(8, name="t"), _mlp(4, name="s"), **settings)


def test_models_that_cannot_be_compared_and_bad_compile_arguments_are_refused(numpy_backend):
    with pytest.raises(ValueError, match="Teacher and student output shapes are incompatible"):
        Distiller(_mlp(8, 4, name="t"), _mlp(4, name="s"), LogitsDistillation())
    with pytest.raises(ValueError, match="Teacher must be a keras.Model"):
        Distiller(layers.Dense(3), _mlp(4, name="s"), LogitsDistillation())
    distiller = Distiller(_mlp(8, name="t"), _mlp(4, name="s"), LogitsDistillation())
    with pytest.raises(ValueError, match="'loss' cannot be `None`"):
        distiller.compile(optimizer="sgd")
    with pytest.raises(ValueError, match="metrics must be a list or tuple"):
        distiller.compile(optimizer="sgd", loss="mse", metrics="mae")
    with pytest.raises(ValueError, match="temperature must be positive"):
        LogitsDistillation(temperature=0)
    with pytest.raises(ValueError, match="at least one non-`None` value"):
        FeatureDistillation(loss=None)


SAVING = '''
import json
import os
import sys

import numpy as np


def run(keras, folder):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 3)).astype("float32")
    y = rng.integers(0, 2, 16)
    keras.utils.set_random_seed(3)
    teacher = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, name="th"), keras.layers.Dense(2, name="to")],
                               name="t")
    student = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="so")], name="s")
    distiller = keras.distillation.Distiller(
        teacher, student, [keras.distillation.LogitsDistillation(),
                           keras.distillation.FeatureDistillation(teacher_layer_name="to")], student_loss_weight=0.7)
    distiller.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    distiller.fit(x, y, verbose=0)
    distiller.save(os.path.join(folder, "distiller.keras"))
    return {"predict": np.asarray(distiller.predict(x[:4], verbose=0)).tolist(), "x": x[:4].tolist(),
            "teacher": [np.asarray(w).tolist() for w in teacher.get_weights()]}
'''


def test_a_distillers_file_loads_as_a_distiller_keras_s_and_gpunn_s(numpy_backend, tmp_path):
    """Keras 3 writes it under "keras.distillation", as gpunn does; loaded, it predicts as it did, its teacher
    held with its weights (compile again to train: its compile() is its own, as Keras says when it loads)."""
    from helpers import FOLDER_MAIN, run_keras

    theirs = run_keras(SAVING + FOLDER_MAIN, {"folder": str(tmp_path)})
    namespace: dict = {}
    exec(SAVING, namespace)
    ours_folder = tmp_path / "gpunn"
    ours_folder.mkdir()
    ours = namespace["run"](gpunn, str(ours_folder))
    for folder, expected in ((tmp_path, theirs), (ours_folder, ours)):
        with pytest.warns(UserWarning, match="`compile\\(\\)` was not called as part of model loading"):
            loaded = gpunn.models.load_model(folder / "distiller.keras")
        assert type(loaded) is Distiller and loaded.student_loss_weight == 0.7
        assert [type(loss) for loss in loaded.distillation_losses] == [LogitsDistillation, FeatureDistillation]
        assert loaded.distillation_losses[1].teacher_layer_name == "to"
        np.testing.assert_allclose(loaded.predict(np.array(expected["x"], "float32"), verbose=0), expected["predict"],
                                   rtol=1e-6)
        for a, b in zip(loaded.teacher.get_weights(), expected["teacher"]):
            np.testing.assert_array_equal(a, np.array(b, "float32"))
        assert not loaded.teacher.trainable


WITHOUT_TARGETS = '''
import json
import sys

import numpy as np


def run(keras, folder):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 3)).astype("float32")
    teacher = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4), keras.layers.Dense(2)])
    student = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    student.set_weights([np.full((3, 2), 0.1, "float32"), np.zeros(2, "float32")])
    teacher.set_weights([np.cos(np.arange(w.size)).reshape(w.shape).astype("float32") for w in teacher.get_weights()])
    distiller = keras.distillation.Distiller(
        teacher, student, keras.distillation.LogitsDistillation(loss=keras.losses.KLDivergence()),
        student_loss_weight=0.0)
    distiller.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    results = {"fit": distiller.fit(x, epochs=2, batch_size=8, shuffle=False, verbose=0,
                                    validation_data=(x[:4],)).history,
               "evaluate": distiller.evaluate(x, verbose=0, return_dict=True),
               "train_on_batch": distiller.train_on_batch(x[:8]), "test_on_batch": distiller.test_on_batch(x[:8])}

    def batches():
        while True:
            yield (x[:8],)

    results["generator"] = distiller.fit(batches(), steps_per_epoch=2, verbose=0).history
    results["student"] = [np.asarray(w).tolist() for w in student.get_weights()]
    return json.loads(json.dumps(results, default=float))
'''


def test_a_distiller_trains_without_targets_as_keras(tmp_path_factory):
    """fit(x), evaluate(x), (x_val,) and batches of (x,): Keras hands compute_loss y=None (the student's loss left
    out), and so does gpunn."""
    ours, theirs = run_script_both_ways(WITHOUT_TARGETS, tmp_path_factory)
    assert ours.keys() == theirs.keys()
    for key in ("fit", "evaluate", "generator"):
        assert ours[key].keys() == theirs[key].keys(), key
        for name, value in theirs[key].items():
            np.testing.assert_allclose(ours[key][name], value, rtol=3e-5, atol=1e-7, err_msg=f"{key} {name}")
    for key in ("train_on_batch", "test_on_batch"):
        np.testing.assert_allclose(ours[key], theirs[key], rtol=3e-5, atol=1e-7, err_msg=key)
    for a, b in zip(ours["student"], theirs["student"]):
        np.testing.assert_allclose(a, b, rtol=3e-5, atol=1e-7)


def test_metrics_without_targets_are_refused_before_training(numpy_backend):
    """Keras fails inside its metrics (jax: "None is not a valid value"); gpunn says why, before any step."""
    distiller = Distiller(_mlp(8, name="t"), _mlp(4, name="s"), LogitsDistillation(), student_loss_weight=0.0)
    distiller.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    before = distiller.student.get_weights()
    with pytest.raises(ValueError, match=r"y: fit was given no targets \(y=None\), which the model's compute_loss "
                                         r"takes, but the model was compiled with metrics"):
        distiller.fit(np.ones((8, 6), "float32"), verbose=0)
    for a, b in zip(distiller.student.get_weights(), before):
        np.testing.assert_array_equal(a, b)


def test_the_kl_divergence_by_name_compares_softened_probabilities_as_documented(numpy_backend):
    """LogitsDistillation's default, loss="kl_divergence": KL(softmax(t / T) || softmax(s / T)) * T², the batch's
    mean, as with a KLDivergence object (Keras 3.15 takes the function for the name past its softmax)."""
    rng = np.random.default_rng(0)
    teacher, student = rng.normal(size=(5, 4)).astype("float32"), rng.normal(size=(5, 4)).astype("float32")

    def softmax(z):
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    p, q = softmax(teacher / 3.0), softmax(student / 3.0)
    expected = np.mean(np.sum(p * np.log(p / q), axis=1)) * 9.0
    for loss in ("kl_divergence", "kld", gpunn.losses.KLDivergence(), gpunn.losses.kl_divergence):
        value = LogitsDistillation(temperature=3.0, loss=loss).compute_loss(teacher, student)
        assert float(gpunn.ops.convert_to_numpy(value)) == pytest.approx(expected, rel=1e-5), loss
