"""An output made by a model called as a layer (a distillation's student, a tower) is named after that model, as
Keras names an output after the operation making it: ``output_names``, the logs (``student_loss``), a loss or
metrics dict keyed by it, and after the model is saved and loaded. Compared with Keras 3."""
import numpy as np

from tests.helpers import run_script_both_ways

SCRIPT = r'''
import json, os, sys
import numpy as np


def run(module, folder):
    layers = module.layers
    student = module.Sequential([module.Input((4,)), layers.Dense(3, kernel_initializer="ones")], name="student")
    teacher = module.Sequential([module.Input((4,)), layers.Dense(3, kernel_initializer="zeros")], name="teacher")
    teacher.trainable = False
    inputs = module.Input((4,))
    s = student(inputs)
    model = module.Model(inputs, [s, layers.Subtract(name="gap")([s, teacher(inputs)])])
    out = {"names": model.output_names}
    x = np.linspace(-1, 1, 32).reshape(8, 4).astype("float32")
    y = [np.zeros((8, 3), "float32"), np.full((8, 3), 0.5, "float32")]
    model.compile(optimizer="sgd", loss={"student": "mse", "gap": "mae"}, metrics={"student": ["mae"]})
    history = model.fit(x, y, epochs=2, batch_size=4, shuffle=False, verbose=0).history
    out["logs"] = {key: [float(v) for v in values] for key, values in sorted(history.items())}
    model.save(os.path.join(folder, "distilled.keras"))
    loaded = module.models.load_model(os.path.join(folder, "distilled.keras"))
    out["loaded_names"] = loaded.output_names
    out["evaluated"] = {k: float(v) for k, v in loaded.evaluate(x, y, verbose=0, return_dict=True).items()}
    dict_model = module.Model(inputs, {"zz": student(inputs), "out_a": teacher(inputs)})
    out["dict_names"] = dict_model.output_names
    return out
'''


def test_outputs_of_held_models_are_named_after_them_as_in_keras(tmp_path_factory):
    ours, theirs = run_script_both_ways(SCRIPT, tmp_path_factory)
    assert theirs["names"] == ["student", "gap"]
    assert theirs["dict_names"] == ["teacher", "student"]
    for key in ("names", "loaded_names", "dict_names"):
        assert ours[key] == theirs[key], key
    assert ours["logs"].keys() == theirs["logs"].keys()
    assert "student_loss" in theirs["logs"] and "student_mae" in theirs["logs"]
    for key, values in theirs["logs"].items():
        np.testing.assert_allclose(ours["logs"][key], values, rtol=1e-5, err_msg=key)
    assert ours["evaluated"].keys() == theirs["evaluated"].keys()
    for key, value in theirs["evaluated"].items():
        np.testing.assert_allclose(ours["evaluated"][key], value, rtol=1e-5, err_msg=key)
