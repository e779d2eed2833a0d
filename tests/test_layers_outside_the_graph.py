"""Layers a subclassed model holds, built, but never calls in ``call()``: the frozen teacher beside the student of
keras.io's knowledge distillation. Keras lists their weights with the model's and keeps them in its files; gpunn
used to leave them out of ``weights``, ``count_params`` and the weights files, so a load kept the teacher's own
values without a word. Checked against Keras 3, and files read both ways."""
from __future__ import annotations

import numpy as np
import pytest

import gpunn
from gpunn.models import save as save_module
from gpunn.models.file_format import FORMAT_VERSION, WEIGHTS_FORMAT, write_file
from helpers import numpy_backend, read_in_keras, run_script_both_ways  # noqa: F401

DISTILLER = r'''
import json, os, sys
import numpy as np


def define(keras, constant):
    @keras.saving.register_keras_serializable(package="outside_graph_test")
    class Distiller(keras.Model):
        def __init__(self, constant=1.0, **kwargs):
            super().__init__(**kwargs)
            self.constant = constant
            self.teacher = keras.Sequential([
                keras.Input((4,)), keras.layers.Dense(3, kernel_initializer=keras.initializers.Constant(constant)),
                keras.layers.BatchNormalization()])
            self.teacher.trainable = False
            self.student = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, kernel_initializer="ones")])

        def call(self, inputs):
            return self.student(inputs)

        def get_config(self):
            return {**super().get_config(), "constant": self.constant}

    return Distiller(constant)


def counts(model):
    return [len(model.weights), len(model.trainable_weights), len(model.non_trainable_weights)]


def firsts(model):
    return [float(np.asarray(w).ravel()[0]) for w in model.get_weights()]


def run(keras, folder):
    x = np.arange(12, dtype="float32").reshape(3, 4) / 10
    model = define(keras, 1.0)
    out = {"before_call": counts(model)}
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, np.ones((3, 2), "float32"), epochs=2, verbose=0)
    out["after_fit"] = counts(model) + [model.count_params()]
    out["names"] = [w.path for w in model.weights]
    model.teacher.set_weights([np.full((4, 3), 9.0), np.full((3,), 8.0), np.full((3,), 7.0), np.full((3,), 6.0),
                               np.full((3,), 5.0), np.full((3,), 4.0)])
    model.save_weights(os.path.join(folder, "distiller.weights.h5"))
    model.save(os.path.join(folder, "distiller.keras"))
    again = define(keras, 2.0)
    again(x)
    again.load_weights(os.path.join(folder, "distiller.weights.h5"))
    out["weights_file"] = firsts(again)
    out["model_file"] = firsts(keras.models.load_model(os.path.join(folder, "distiller.keras")))
    out["saved"] = firsts(model)
    return out
'''

READ = DISTILLER + r'''
def read(keras, folder):
    x = np.zeros((1, 4), "float32")
    again = define(keras, 2.0)
    again(x)
    again.load_weights(os.path.join(folder, "distiller.weights.h5"))
    return {"weights_file": firsts(again),
            "model_file": firsts(keras.models.load_model(os.path.join(folder, "distiller.keras")))}
'''


def test_a_held_model_call_never_calls_is_listed_and_saved_as_in_keras(tmp_path_factory):
    ours, theirs = run_script_both_ways(DISTILLER, tmp_path_factory)
    assert ours["before_call"] == theirs["before_call"] == [8, 2, 6]
    assert ours["after_fit"] == theirs["after_fit"] == [8, 2, 6, 37]
    assert ours["names"] == theirs["names"]
    np.testing.assert_allclose(ours["saved"], theirs["saved"], rtol=1e-6)
    for key in ("weights_file", "model_file"):  # the teacher's values came back, not those it was made with
        np.testing.assert_allclose(ours[key], ours["saved"], rtol=1e-6, err_msg=key)
        np.testing.assert_allclose(theirs[key], theirs["saved"], rtol=1e-6, err_msg=key)


def test_keras_reads_gpunn_s_files_of_such_a_model(numpy_backend, tmp_path):
    namespace: dict = {}
    exec(compile(DISTILLER, "distiller.py", "exec"), namespace)
    saved = namespace["run"](gpunn, str(tmp_path))["saved"]
    theirs = read_in_keras(READ, tmp_path)
    for key in ("weights_file", "model_file"):
        np.testing.assert_allclose(theirs[key], saved, rtol=1e-6, err_msg=key)


def _distiller():
    """(define, firsts, x, a built distiller whose teacher's kernel holds 3.0) of the script above, on gpunn."""
    namespace: dict = {}
    exec(compile(DISTILLER, "distiller.py", "exec"), namespace)
    x = np.zeros((2, 4), np.float32)
    model = namespace["define"](gpunn, 3.0)
    model(x)
    return namespace["define"], namespace["firsts"], x, model


def test_gpunn_s_own_files_keep_them_and_a_file_lacking_them_is_refused(numpy_backend, tmp_path):
    define, firsts, x, model = _distiller()
    for name in ("distiller.safetensors", "distiller.h5"):  # gpunn's own format and tf.keras's HDF5
        model.save_weights(tmp_path / name)
        again = define(gpunn, 5.0)
        again(x)
        again.load_weights(tmp_path / name)
        assert firsts(again) == firsts(model), name
    # a file of the student alone (written before the teacher was listed): refused by name, or skipped on request
    student_only = define(gpunn, 3.0)
    student_only(x)
    tensors = {key: value for key, value in save_module._weight_tensors(student_only).items()
               if not key.startswith("held/")}
    write_file(tmp_path / "student.safetensors", tensors, {"format": WEIGHTS_FORMAT, "format_version": FORMAT_VERSION,
                                                           "gpunn_version": gpunn.__version__}, True)
    again = define(gpunn, 5.0)
    again(x)
    before = again.get_weights()
    with pytest.raises(ValueError, match=r"lacks the weights of layer 'dense.*' at 'layers/sequential/layers/dense"):
        again.load_weights(tmp_path / "student.safetensors")
    assert all(np.array_equal(a, b) for a, b in zip(again.get_weights(), before))  # nothing set
    with pytest.warns(UserWarning, match="could not be loaded"):
        again.load_weights(tmp_path / "student.safetensors", skip_mismatch=True)
    assert firsts(again)[0] == 5.0 and np.array_equal(again.student.get_weights()[0], model.student.get_weights()[0])


SHARED_WITH_A_LAYER = r'''
import json, os, sys
import numpy as np


def run(keras, folder):
    class Wrapper(keras.layers.Layer):
        def __init__(self, inner, **kwargs):
            super().__init__(**kwargs)
            self.inner = inner

        def call(self, inputs):
            return self.inner(inputs)

    class Model(keras.Model):
        def __init__(self):
            super().__init__()
            self.shared = keras.layers.Dense(3)
            self.wrapper = Wrapper(self.shared)
            self.out = keras.layers.Dense(2)

        def call(self, inputs):
            return self.out(self.wrapper(inputs))

    model = Model()
    model(np.ones((1, 4), "float32"))
    return {"count": len(model.weights), "params": model.count_params()}
'''


def test_a_layer_held_by_the_model_and_by_a_layer_it_calls_is_listed_once(tmp_path_factory):
    ours, theirs = run_script_both_ways(SHARED_WITH_A_LAYER, tmp_path_factory)
    assert ours == theirs == {"count": 4, "params": 23}


def test_objects_to_skip_takes_the_held_model_and_a_h5_model_file_refuses_it(numpy_backend, tmp_path):
    define, firsts, x, model = _distiller()
    model.save_weights(tmp_path / "distiller.weights.h5")
    again = define(gpunn, 5.0)
    again(x)
    again.load_weights(tmp_path / "distiller.weights.h5", objects_to_skip=[again.teacher])
    assert firsts(again)[0] == 5.0 and np.array_equal(again.student.get_weights()[0], model.student.get_weights()[0])
    with pytest.raises(ValueError, match=r"a \.h5 model file holds the graph traced from Distiller\.call\(\), which "
                                         r"has no place for the layers the model holds without calling them"):
        model.save(tmp_path / "distiller.h5")
    assert not (tmp_path / "distiller.h5").exists()
