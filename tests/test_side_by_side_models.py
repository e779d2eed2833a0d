"""Two models called as layers side by side in a functional model (twin towers, a stacking ensemble calling its
members on new inputs): Keras lists each model's whole weights in turn (``Layer.weights`` walks ``model.layers``),
so ``weights``, ``get_weights`` / ``set_weights`` and the optimizer's variables keep the towers apart, where the
graph's order interleaves their layers. Towers of one shape would take a Keras-ordered list silently in the wrong
places; a held model deeper than the branch beside it is one operation at the depth of its call, after that
branch's layers. Compared with Keras 3: the paths, predictions from ``set_weights``, the optimizer's variables,
and training resumed from each other's ``.keras`` files (moments in place)."""
import numpy as np

from tests.helpers import run_script_both_ways

SCRIPT = r'''
import json, os, sys
import numpy as np


def towers(module):
    layers = module.layers
    t1 = module.Sequential([module.Input((2,)), layers.Dense(4, name="t1a"), layers.Dense(2, name="t1b")], name="t1")
    t2 = module.Sequential([module.Input((2,)), layers.Dense(4, name="t2a"), layers.Dense(2, name="t2b")], name="t2")
    u, v = module.Input((2,)), module.Input((2,))
    return module.Model([u, v], layers.Dot(axes=1)([t1(u), t2(v)]))


def run(module, folder):
    model = towers(module)
    out = {"paths": [w.path for w in model.weights], "trainable": [w.path for w in model.trainable_weights]}
    model.set_weights([np.full(w.shape, 0.1 * (k + 1), "float32") for k, w in enumerate(model.get_weights())])
    x = np.linspace(-1, 1, 16).reshape(8, 2).astype("float32")
    y = np.linspace(0, 1, 8).reshape(8, 1).astype("float32")
    out["predicted"] = model.predict([x, x[::-1]], verbose=0).tolist()
    model.compile(optimizer="adam", loss="mse")
    model.fit([x, x[::-1]], y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    out["optimizer_variables"] = [v.path for v in model.optimizer.variables]
    out["moments"] = [np.asarray(v).tolist() for v in model.optimizer.variables[2:]]
    model.save(os.path.join(folder, "towers.keras"))
    out["weights"] = [w.tolist() for w in model.get_weights()]
    return out


def resume(module, file, folder):
    model = module.models.load_model(file)
    x = np.linspace(-1, 1, 16).reshape(8, 2).astype("float32")
    y = np.linspace(0, 1, 8).reshape(8, 1).astype("float32")
    model.fit([x, x[::-1]], y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    return [w.tolist() for w in model.get_weights()]
'''

RESUME_OTHERS = r'''
def read(module, folder):
    return resume(module, folder + "/towers.keras", folder)
'''


def test_towers_side_by_side_keep_their_weights_apart_as_in_keras(tmp_path_factory):
    ours, theirs = run_script_both_ways(SCRIPT, tmp_path_factory)
    assert theirs["paths"][:4] == ["t1/t1a/kernel", "t1/t1a/bias", "t1/t1b/kernel", "t1/t1b/bias"]
    assert ours["paths"] == theirs["paths"]
    assert ours["trainable"] == theirs["trainable"]
    np.testing.assert_allclose(ours["predicted"], theirs["predicted"], rtol=1e-6)
    assert ours["optimizer_variables"] == theirs["optimizer_variables"]
    for mine, keras_value in zip(ours["moments"], theirs["moments"], strict=True):
        np.testing.assert_allclose(mine, keras_value, rtol=1e-5, atol=1e-7)
    for mine, keras_value in zip(ours["weights"], theirs["weights"], strict=True):
        np.testing.assert_allclose(mine, keras_value, rtol=1e-5, atol=1e-6)


def test_training_resumes_from_each_others_files_with_the_moments_in_place(tmp_path_factory):
    import gpunn
    from tests.helpers import read_in_keras

    namespace: dict = {}
    exec(compile(SCRIPT, "side_by_side.py", "exec"), namespace)
    gpunn.backend.clear_session()
    with gpunn.use_backend("numpy"):
        ours_folder = tmp_path_factory.mktemp("gpunn_towers")
        namespace["run"](gpunn, str(ours_folder))
        # Keras resumes from gpunn's file, gpunn from gpunn's: the same weights
        gpunn_resumed = namespace["resume"](gpunn, str(ours_folder / "towers.keras"), str(ours_folder))
    keras_resumed = read_in_keras(SCRIPT + RESUME_OTHERS, ours_folder)
    for mine, keras_value in zip(gpunn_resumed, keras_resumed, strict=True):
        np.testing.assert_allclose(mine, keras_value, rtol=1e-5, atol=1e-6)


DEEPER = r'''
import json, os, sys
import numpy as np


def run(module, folder):
    # a held model deeper than the branch beside it: Keras places it as one operation at the depth of its call,
    # after the branch's layers (pb, then inner's, then pc)
    dense = module.layers.Dense
    inner = module.Sequential([module.Input((3,)), dense(3, name="f0"), dense(3, name="f1"), dense(3, name="f2")],
                              name="inner")
    u, v = module.Input((3,), name="u"), module.Input((3,), name="v")
    joined = module.layers.Concatenate()([inner(u), dense(3, name="pc")(dense(3, name="pb")(v))])
    model = module.Model([u, v], dense(1, name="head")(joined))
    out = {"layers": [layer.name for layer in model.layers], "paths": [w.path for w in model.weights]}
    model.set_weights([np.full(w.shape, 0.1 * (k + 1), "float32") for k, w in enumerate(model.get_weights())])
    x = np.linspace(-1, 1, 24).reshape(8, 3).astype("float32")
    y = np.linspace(0, 1, 8).reshape(8, 1).astype("float32")
    out["predicted"] = model.predict([x, x[::-1]], verbose=0).tolist()
    model.compile(optimizer=module.optimizers.Adam(0.01), loss="mse")
    model.fit([x, x[::-1]], y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    out["optimizer_variables"] = [v.path for v in model.optimizer.variables]
    model.save(os.path.join(folder, "deeper.keras"))
    return out


def resume(module, file):
    model = module.models.load_model(file)
    x = np.linspace(-1, 1, 24).reshape(8, 3).astype("float32")
    y = np.linspace(0, 1, 8).reshape(8, 1).astype("float32")
    model.fit([x, x[::-1]], y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    return [w.tolist() for w in model.get_weights()]
'''


def test_a_held_model_deeper_than_its_sibling_branch_is_placed_as_in_keras(tmp_path_factory):
    import gpunn
    from tests.helpers import read_in_keras

    ours, theirs = run_script_both_ways(DEEPER, tmp_path_factory)
    assert theirs["paths"][:2] == ["pb/kernel", "pb/bias"]
    for key in ("layers", "paths", "optimizer_variables"):
        assert ours[key] == theirs[key], key
    np.testing.assert_allclose(ours["predicted"], theirs["predicted"], rtol=1e-6)
    # Keras resumes gpunn's file as gpunn does: the moments are in their places
    namespace: dict = {}
    exec(compile(DEEPER, "deeper.py", "exec"), namespace)
    folder = tmp_path_factory.mktemp("gpunn_deeper")
    with gpunn.use_backend("numpy"):
        namespace["run"](gpunn, str(folder))
        gpunn_resumed = namespace["resume"](gpunn, str(folder / "deeper.keras"))
    keras_resumed = read_in_keras(DEEPER + "\ndef read(module, folder):\n    return resume(module, folder + "
                                  "'/deeper.keras')\n", folder)
    for mine, keras_value in zip(gpunn_resumed, keras_resumed, strict=True):
        np.testing.assert_allclose(mine, keras_value, rtol=1e-5, atol=1e-6)
