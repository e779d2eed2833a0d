"""Keras 3's auto-config for layers of the user's (``auto_config.py``): a layer class without a ``get_config`` of
its own is described by the arguments it was made with, so a model holding it, saved and loaded with the class,
gets it back as it was (before, it came back with its constructor's defaults: silently another layer); made with
an argument that is not a plain value, its config is refused by Keras's error, at the save."""
from __future__ import annotations

import numpy as np
import pytest
from helpers import numpy_backend, read_in_keras, run_script_both_ways  # noqa: F401  (fixture)

import gpunn

SCRIPT = r'''
import json, os, sys
import numpy as np


def define(keras):
    class Scale(keras.layers.Layer):  # no get_config: Keras's auto-config describes it
        def __init__(self, factor=1.0, offsets=(0.0, 0.0), **kw):
            super().__init__(**kw)
            self.factor, self.offsets = factor, offsets

        def call(self, x):
            return x * self.factor + keras.ops.convert_to_tensor(np.array(self.offsets, "float32"))

    return Scale


def run(keras, folder):
    Scale = define(keras)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2), Scale(3.0, offsets=[0.5, -1.0])])
    model.set_weights([np.array([[1.0, 2.0], [3.0, 4.0]], "float32"), np.array([0.1, 0.2], "float32")])
    x = np.array([[1.0, 2.0]], "float32")
    model.save(os.path.join(folder, "scaled.keras"))
    loaded = keras.models.load_model(os.path.join(folder, "scaled.keras"), custom_objects={"Scale": Scale})
    config = dict(model.layers[-1].get_config())
    config.pop("dtype", None)  # (Keras adds its dtype policy; gpunn a dtype only where one was given)
    return {"config": config, "factor": loaded.layers[-1].factor, "offsets": list(loaded.layers[-1].offsets),
            "predicted": model.predict(x, verbose=0).tolist(), "loaded": loaded.predict(x, verbose=0).tolist()}


def read(keras, folder):
    Scale = define(keras)
    loaded = keras.models.load_model(os.path.join(folder, "scaled.keras"), custom_objects={"Scale": Scale})
    return [loaded.layers[-1].factor, list(loaded.layers[-1].offsets)]
'''


def test_a_layer_without_get_config_is_saved_with_its_arguments_as_in_keras(tmp_path_factory):
    ours, theirs = run_script_both_ways(SCRIPT, tmp_path_factory)
    assert ours == theirs
    assert ours["config"] == {"factor": 3.0, "offsets": [0.5, -1.0], "trainable": True}
    assert ours["factor"] == 3.0 and ours["loaded"] == ours["predicted"]


def test_each_library_reads_the_other_s_layer_arguments(tmp_path):
    namespace: dict = {}
    exec(compile(SCRIPT, "auto_config_script.py", "exec"), namespace)
    gpunn.backend.clear_session()
    with gpunn.use_backend("numpy"):
        namespace["run"](gpunn, str(tmp_path))
    assert read_in_keras(SCRIPT, tmp_path) == [3.0, [0.5, -1.0]]


def test_a_layer_made_with_another_layer_and_no_get_config_refuses_its_config(numpy_backend, tmp_path):
    class Wrapping(gpunn.layers.Layer):
        def __init__(self, inner, **kwargs):
            super().__init__(**kwargs)
            self.inner = inner

        def call(self, x):
            return self.inner(x)

    class Described(Wrapping):
        def get_config(self):
            return {**super().get_config(), "inner": gpunn.layers.serialize(self.inner)}

    model = gpunn.Sequential([gpunn.Input((2,)), Wrapping(gpunn.layers.Dense(3))])
    assert model.predict(np.ones((1, 2), "float32"), verbose=0).shape == (1, 3)  # (it trains and predicts)
    with pytest.raises(NotImplementedError, match=r"Object Wrapping was created by passing non-serializable"):
        model.save(tmp_path / "wrapping.keras")
    assert not (tmp_path / "wrapping.keras").exists()
    assert "inner" in Described(gpunn.layers.Dense(3)).get_config()  # a get_config of its own is asked instead


def test_a_backup_takes_a_model_whose_config_cannot_be_written(numpy_backend, tmp_path):
    """BackupAndRestore puts its backup back into the model it was taken from, which needs no config (Keras's
    backup, of weights, takes such a model too)."""
    class Scaled(gpunn.layers.Layer):
        def __init__(self, w, **kwargs):
            super().__init__(**kwargs)
            self.w = np.asarray(w, "float32")

        def call(self, x):
            return x * gpunn.ops.convert_to_tensor(self.w)

    def model():
        gpunn.utils.set_random_seed(2)
        made = gpunn.Sequential([gpunn.Input((3,)), Scaled(np.arange(3.0)), gpunn.layers.Dense(1)])
        made.compile("sgd", "mse")
        return made

    x = np.random.default_rng(0).random((8, 3)).astype("float32")
    whole = model()
    whole.fit(x, x[:, :1], epochs=3, shuffle=False, verbose=0)

    class Interrupt(gpunn.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise KeyboardInterrupt

    interrupted = model()
    backup = gpunn.callbacks.BackupAndRestore(str(tmp_path / "backup"))
    with pytest.raises(KeyboardInterrupt):
        interrupted.fit(x, x[:, :1], epochs=3, shuffle=False, callbacks=[backup, Interrupt()], verbose=0)
    resumed = model()
    resumed.fit(x, x[:, :1], epochs=3, shuffle=False, callbacks=[backup], verbose=0)
    for mine, theirs in zip(resumed.get_weights(), whole.get_weights()):
        np.testing.assert_array_equal(mine, theirs)


def test_a_subclass_of_a_built_in_layer_keeps_its_config(numpy_backend):
    """Keras's built-in layers have a get_config of their own, so a subclass without one gets theirs, not the
    auto-config (which would drop the name for a ``**kw`` constructor)."""
    class Residual(gpunn.layers.Add):
        def __init__(self, scale=1.0, **kw):
            super().__init__(**kw)
            self.scale = scale

    assert Residual(name="skip").get_config()["name"] == "skip"


def test_a_layer_made_with_star_args_and_no_get_config_is_told_so(numpy_backend):
    class Spread(gpunn.layers.Layer):
        def __init__(self, *factors, **kwargs):
            super().__init__(**kwargs)
            self.factors = factors

        def call(self, x):
            return x

    with pytest.raises(NotImplementedError, match=r"Object Spread was created by passing positional only or variadic"):
        Spread(1.0, 2.0).get_config()
    assert Spread().get_config()["trainable"] is True  # (none given: nothing is lost)
