"""The stacked generalization ensemble of "Better Deep Learning" (an MLP per member, each saved and loaded, its
layers frozen and renamed, the members' inputs and outputs merged into one model that trains a new head): each
member made as ``Sequential([Dense(..., input_dim=2)])`` names its input apart in its file, as Keras's
``Sequential.build`` does (``input_layer``, ``input_layer_1``), so the stacked model takes both inputs. Compared
with Keras 3: the names, the stacked model's trained weights and its predictions."""
import numpy as np

from tests.helpers import run_script_both_ways

SCRIPT = r'''
import json, os, sys
import numpy as np


def run(module, folder):
    rng = np.random.RandomState(0)
    x = rng.rand(12, 2).astype("float32")
    y = np.eye(3, dtype="float32")[np.arange(12) % 3]
    out = {"saved_input_names": []}
    for i in range(2):
        member = module.Sequential([module.layers.Dense(4, input_dim=2, activation="relu"),
                                    module.layers.Dense(3, activation="softmax")])
        member.set_weights([w + 0.1 * i for w in (rng.rand(2, 4) - 0.5, np.zeros(4), rng.rand(4, 3) - 0.5,
                                                  np.zeros(3))])
        out["saved_input_names"].append(member.get_config()["layers"][0]["config"]["name"])
        member.save(os.path.join(folder, f"member_{i}.keras"))
    members = [module.models.load_model(os.path.join(folder, f"member_{i}.keras")) for i in range(2)]
    for i, member in enumerate(members):
        for layer in member.layers:
            layer.trainable = False
            layer.name = f"ensemble_{i + 1}_{layer.name}"
    merged = module.layers.concatenate([member.outputs[0] for member in members])
    hidden = module.layers.Dense(5, activation="relu", kernel_initializer=module.initializers.Constant(0.2))(merged)
    head = module.layers.Dense(3, activation="softmax", kernel_initializer=module.initializers.Constant(-0.1))
    stacked = module.Model(inputs=[member.inputs[0] for member in members], outputs=head(hidden))
    stacked.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    history = stacked.fit([x, x], y, epochs=3, batch_size=4, shuffle=False, verbose=0)
    out["input_names"] = len(stacked.inputs)
    out["trainable"] = len(stacked.trainable_weights)
    out["loss"] = history.history["loss"]
    out["weights"] = [np.asarray(w).tolist() for w in stacked.get_weights()]
    out["predictions"] = stacked.predict([x, x], verbose=0).tolist()
    return out
'''


def test_a_stacking_ensemble_of_saved_members_trains_as_in_keras(tmp_path_factory):
    ours, theirs = run_script_both_ways(SCRIPT, tmp_path_factory)
    assert theirs["saved_input_names"] == ["input_layer", "input_layer_1"]
    assert ours["saved_input_names"] == theirs["saved_input_names"]
    assert ours["input_names"] == theirs["input_names"] == 2
    assert ours["trainable"] == theirs["trainable"] == 4
    np.testing.assert_allclose(ours["loss"], theirs["loss"], rtol=1e-5)
    for mine, keras_weight in zip(ours["weights"], theirs["weights"], strict=True):
        np.testing.assert_allclose(mine, keras_weight, rtol=1e-5, atol=1e-5)  # (Adam scales tiny gradients)
    np.testing.assert_allclose(ours["predictions"], theirs["predictions"], rtol=1e-5, atol=1e-6)


NAMES = r'''
import json, sys


def run(module, folder):
    first = module.Sequential([module.layers.Dense(4), module.layers.Dense(1)])
    first.build((None, 2))
    clone = module.models.clone_model(first)
    clone.build((None, 2))
    second = module.Sequential([module.layers.Dense(4), module.layers.Dense(1)])
    second.build((None, 2))
    return [model.get_config()["layers"][0]["config"]["name"] for model in (first, clone, second)]
'''


def test_a_clone_keeps_the_input_name_keras_gave_the_model(tmp_path_factory):
    ours, theirs = run_script_both_ways(NAMES, tmp_path_factory)
    assert theirs == ["input_layer", "input_layer", "input_layer_1"]
    assert ours == theirs
