"""A subclassed model's weights files as Keras 3 writes and reads them, whatever order ``call()`` uses its layers
in: in a ``.weights.h5`` file each layer's variables under the path of the attribute that holds it (saving_lib.py
``_walk_saveable``); in a tf.keras HDF5 weights file an entry per layer or model held, in the order they were set
(legacy_h5_format.py). Checked against Keras 3 both ways on one model that has every kind of holder: attributes set in another order
than called, a list, a dict holding a list, a private attribute, attributes sorting after Keras's own 'layers'
(saved under it), a layer holding layers, a Sequential, a functional model and a subclassed model inside."""
from __future__ import annotations

import h5py
import numpy as np
import pytest

import gpunn
from gpunn import layers
from gpunn.models import h5_format, keras_format
from gpunn.models.hdf5_io import GPUNN_MARKER, HDF5Writer
from gpunn.models.atomic_write import atomic_write_bytes
from helpers import numpy_backend, run_keras  # noqa: F401

# The models here name no `training` in call(), which gpunn (as Keras 3) runs in inference, with a warning
pytestmark = pytest.mark.filterwarnings("ignore:Net.call takes no `training`")

DEFINE = '''
def define(keras, layers):
    class Block(layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.a = layers.Dense(3)
            self.b = layers.Dense(3)

        def call(self, x):
            return self.b(self.a(x))

    class Inner(keras.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.proj = layers.Dense(3)

        def call(self, x):
            return self.proj(x)

    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.head = layers.Dense(2)  # set first, called last
            self.first = layers.Dense(4, activation="relu")
            self.blocks = [layers.Dense(4), layers.Dense(4)]
            self.block = Block()
            self.seq = keras.Sequential([layers.Dense(4), layers.BatchNormalization()])
            self.drop = layers.Dropout(0.1)
            self.out = layers.Dense(3)
            self._private = layers.Dense(3)
            self.inner = Inner()
            inputs = keras.Input((3,))
            self.backbone = keras.Model(inputs, layers.Dense(3)(layers.Dense(3, activation="relu")(inputs)))
            self.zeta = {"x": layers.Dense(3), "y": [layers.Dense(3), layers.Dense(3)]}

        def call(self, x):
            h = self.first(x)
            for dense in self.blocks:
                h = dense(h)
            h = self.block(self.drop(self.seq(h)))
            h = self.out(h) + self._private(h) + self.inner(h)
            h = self.zeta["y"][1](self.zeta["y"][0](self.zeta["x"](h)))
            return self.head(self.backbone(h))

    return Net
'''

ENTRIES = '''
def _entries(path):
    """The shapes of each entry of a tf.keras weights file, in the order of its layer_names."""
    import h5py
    with h5py.File(path) as file:
        names = [n.decode() if isinstance(n, bytes) else n for n in file.attrs["layer_names"]]
        return [[list(file[name][w].shape) for w in (v.decode() if isinstance(v, bytes) else v
                                                    for v in file[name].attrs["weight_names"])] for name in names]
'''

KERAS_SIDE = DEFINE + ENTRIES + r'''
import json, os, sys
import h5py
import numpy as np
import keras
from keras.src.legacy.saving import legacy_h5_format
task = json.loads(sys.stdin.read())
x = np.array(task["x"], dtype="float32")
keras.utils.set_random_seed(4)
model = define(keras, keras.layers)()
model(x[:2])
theirs = os.path.join(task["dir"], "keras.weights.h5")
model.save_weights(theirs)
model.save(os.path.join(task["dir"], "keras.keras"))
predicted = model.predict(x, verbose=0).tolist()
with h5py.File(os.path.join(task["dir"], "keras.h5"), "w") as file:  # tf.keras's save_weights("w.h5")
    legacy_h5_format.save_weights_to_hdf5_group(file, model)
fresh = define(keras, keras.layers)()
fresh(x[:2])
fresh.load_weights(os.path.join(task["dir"], "gpunn.weights.h5"))
legacy = define(keras, keras.layers)()
legacy(x[:2])
legacy.load_weights(os.path.join(task["dir"], "gpunn.h5"))
tree = {}
with h5py.File(theirs) as file:
    file.visititems(lambda name, item: tree.__setitem__(name, list(getattr(item, "shape", ()) or ())))
print(json.dumps({"predict": predicted, "predict_of_gpunn_file": fresh.predict(x, verbose=0).tolist(),
                  "predict_of_gpunn_h5": legacy.predict(x, verbose=0).tolist(), "tree": tree,
                  "h5_entries": _entries(os.path.join(task["dir"], "keras.h5"))}))
'''


_shared: dict = {}
exec(ENTRIES, _shared)  # the same function reads Keras's files in its process and gpunn's here
_entries = _shared["_entries"]


def _net():
    namespace: dict = {}
    exec(DEFINE, namespace)
    return namespace["define"](gpunn, layers)()


def _data():
    return np.random.default_rng(0).standard_normal((5, 5)).astype(np.float32)


def _tree(path) -> dict:
    tree = {}
    with h5py.File(path) as file:
        file.visititems(lambda name, item: tree.__setitem__(name, list(getattr(item, "shape", ()) or ())))
    return tree


def test_weights_files_are_keras_s_and_load_both_ways(tmp_path):
    x = _data()
    gpunn.utils.set_random_seed(9)
    model = _net()
    model(x[:2])
    model.save_weights(tmp_path / "gpunn.weights.h5")
    model.save_weights(tmp_path / "gpunn.h5")
    theirs = run_keras(KERAS_SIDE, {"x": x.tolist(), "dir": str(tmp_path)})
    # every group and dataset where Keras puts it ('head/vars/0', 'layers/sequential/layers/dense/vars/1', ...)
    ours = _tree(tmp_path / "gpunn.weights.h5")
    assert ours == theirs["tree"]
    assert "head/vars/0" in ours and "layers/sequential/layers/dense/vars/0" in ours and "inner/layers/dense/vars/0" \
        in ours and "blocks/dense_1/vars/0" in ours
    # Keras loads gpunn's file into its own instance of the class, gpunn loads Keras's
    np.testing.assert_allclose(theirs["predict_of_gpunn_file"], model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    fresh = _net()
    fresh(x[:2])
    fresh.load_weights(tmp_path / "keras.weights.h5")
    np.testing.assert_allclose(fresh.predict(x, verbose=0), theirs["predict"], rtol=1e-5, atol=1e-6)
    # tf.keras's HDF5 weights files: an entry per layer or model held, in the order the attributes were set (a
    # model's weights in one entry, the trainable ones first), matched by that order
    assert _entries(tmp_path / "gpunn.h5") == theirs["h5_entries"]
    np.testing.assert_allclose(theirs["predict_of_gpunn_h5"], model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    # and the weights of Keras's .keras file of the subclass (its class in the config)
    for name in ("keras.h5", "keras.keras"):
        again = _net()
        again(x[:2])
        again.load_weights(tmp_path / name)
        np.testing.assert_allclose(again.predict(x, verbose=0), theirs["predict"], rtol=1e-5, atol=1e-6)


def test_a_weights_file_reads_back_exactly_and_keeps_the_head_at_its_attribute(tmp_path):
    x = _data()
    model = _net()
    model(x[:2])
    model.save_weights(tmp_path / "w.weights.h5")
    with h5py.File(tmp_path / "w.weights.h5") as file:
        np.testing.assert_array_equal(file["head/vars/0"][()], model.head.get_weights()[0])
        np.testing.assert_array_equal(file["first/vars/0"][()], model.first.get_weights()[0])
    fresh = _net()
    fresh(x[:2])
    fresh.load_weights(tmp_path / "w.weights.h5")
    np.testing.assert_array_equal(fresh.predict(x, verbose=0), model.predict(x, verbose=0))
    for ours, again in zip(model.get_weights(), fresh.get_weights()):
        np.testing.assert_array_equal(ours, again)


def test_files_written_in_the_graph_s_layout_still_load(tmp_path, monkeypatch):
    """gpunn wrote a subclassed model's weights in its graph's layout ('layers/dense', in call order) before the
    layout attribute existed: such a file (gpunn's marker, no layout) still loads by the graph's places."""
    x = _data()
    model = _net()
    model(x[:2])
    monkeypatch.setattr(keras_format, "LAYOUT_ATTRIBUTE", "not_the_layout_attribute")
    data = keras_format.variables_hdf5(model, include_optimizer=False, marked=True, layout=keras_format.GRAPH_LAYOUT)
    monkeypatch.undo()
    atomic_write_bytes(str(tmp_path / "old.weights.h5"), data, overwrite=True)
    with h5py.File(tmp_path / "old.weights.h5") as file:
        assert "head" not in file and keras_format.LAYOUT_ATTRIBUTE not in file.attrs
    fresh = _net()
    fresh(x[:2])
    fresh.load_weights(tmp_path / "old.weights.h5")
    np.testing.assert_array_equal(fresh.predict(x, verbose=0), model.predict(x, verbose=0))


def test_tf_keras_weights_files_written_in_the_graph_s_order_still_load(tmp_path):
    """Likewise gpunn's tf.keras HDF5 weights files of a subclassed model, which listed the graph's layers."""
    x = _data()
    model = _net()
    model(x[:2])
    writer = HDF5Writer()
    h5_format._weights_group(writer, "", model, keras_format.GRAPH_LAYOUT)
    writer.attribute("", GPUNN_MARKER, keras_format.GPUNN_H5_VERSION)
    atomic_write_bytes(str(tmp_path / "old.h5"), writer.to_bytes(), overwrite=True)
    assert _entries(tmp_path / "old.h5")[0] == []  # the InputLayer first: the graph's order
    fresh = _net()
    fresh(x[:2])
    fresh.load_weights(tmp_path / "old.h5")
    np.testing.assert_array_equal(fresh.predict(x, verbose=0), model.predict(x, verbose=0))


class _MakesALayerInCall(gpunn.Model):
    def __init__(self):
        super().__init__()
        self.first = layers.Dense(3)

    def call(self, x):
        return layers.Dense(2)(self.first(x))


def test_a_layer_with_weights_that_no_attribute_holds_is_refused_by_name(tmp_path):
    model = _MakesALayerInCall()
    model.build((None, 4))
    for name in ("w.weights.h5", "w.h5"):
        with pytest.raises(ValueError, match="holds weights but no attribute of the model holds the layer"):
            model.save_weights(tmp_path / name)
        assert not (tmp_path / name).exists()


def _two_dense(names):
    class TwoDense(gpunn.Model):
        def __init__(self):
            super().__init__()
            setattr(self, names[1], layers.Dense(2))
            setattr(self, names[0], layers.Dense(3))

        def call(self, x):
            return getattr(self, names[1])(getattr(self, names[0])(x))

    model = TwoDense()
    model.build((None, 4))
    return model


def test_a_file_of_other_attributes_names_the_path_it_lacks(tmp_path):
    _two_dense(("first", "second")).save_weights(tmp_path / "w.weights.h5")
    with pytest.raises(ValueError, match=r"holds no weights at 'hidden'.*the file holds \['first', 'layers'\]"):
        _two_dense(("hidden", "out")).load_weights(tmp_path / "w.weights.h5")


RESUMED = '''
def define(keras, layers):
    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.head = layers.Dense(4)  # set first, called last: the optimizer's variables follow the attributes
            self.first = layers.Dense(4, activation="tanh")
            self.norm = layers.BatchNormalization()

        def call(self, x, training=None):
            return self.head(self.first(self.norm(x, training=training)))

    return Net
'''

KERAS_RESUMES = RESUMED + r'''
import json, os, sys
import numpy as np
import keras
task = json.loads(sys.stdin.read())
x, y = np.array(task["x"], dtype="float32"), np.array(task["y"], dtype="float32")


def model():
    made = define(keras, keras.layers)()
    made(x[:2])
    for name in ("head", "first", "norm"):
        getattr(made, name).set_weights([np.array(w, dtype="float32") for w in task["weights"][name]])
    made.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse")
    return made


def weights(made):
    return {name: [w.tolist() for w in getattr(made, name).get_weights()] for name in ("head", "first", "norm")}


fit = dict(batch_size=len(x), shuffle=False, verbose=0)
resumed = model()
resumed.fit(x, y, epochs=1, **fit)  # its optimizer built (Keras loads an optimizer's state into a built one only)
resumed.load_weights(os.path.join(task["dir"], "gpunn.weights.h5"))
iterations = int(resumed.optimizer.iterations)
resumed.fit(x, y, epochs=1, **fit)
trained = model()
trained.fit(x, y, epochs=2, **fit)
trained.save_weights(os.path.join(task["dir"], "keras.weights.h5"))
trained.fit(x, y, epochs=1, **fit)
print(json.dumps({"resumed": weights(resumed), "iterations": iterations, "continued": weights(trained)}))
'''


def test_the_optimizer_s_state_resumes_from_weights_files_both_ways(tmp_path):
    """``save_weights`` of a compiled model keeps its optimizer's variables (Keras's walk reaches
    ``model.optimizer``), in the order of Keras's ``trainable_variables``: for a subclass, its attributes' order.
    Keras resumes gpunn's Adam and gpunn resumes Keras's, when the optimizer has run (as Keras loads them)."""
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((16, 4)).astype(np.float32), rng.standard_normal((16, 4)).astype(np.float32)
    namespace: dict = {}
    exec(RESUMED, namespace)

    def model(initial=None):
        made = namespace["define"](gpunn, layers)()
        made(x[:2])
        if initial is not None:
            for name in ("head", "first", "norm"):
                getattr(made, name).set_weights([np.array(w, dtype=np.float32) for w in initial[name]])
        made.compile(optimizer=gpunn.optimizers.Adam(0.05), loss="mse")
        return made

    fit = dict(batch_size=len(x), shuffle=False, verbose=0)
    trained = model()
    initial = {name: [w.tolist() for w in getattr(trained, name).get_weights()] for name in ("head", "first", "norm")}
    trained.fit(x, y, epochs=2, **fit)
    trained.save_weights(tmp_path / "gpunn.weights.h5")
    with h5py.File(tmp_path / "gpunn.weights.h5") as file:
        assert file["optimizer/vars"].attrs["name"] == trained.optimizer.name and len(file["optimizer/vars"]) == 2 + 2 * 6
    trained.fit(x, y, epochs=1, **fit)
    theirs = run_keras(KERAS_RESUMES, {"x": x.tolist(), "y": y.tolist(), "weights": initial, "dir": str(tmp_path)})
    assert theirs["iterations"] == 2
    for name in ("head", "first", "norm"):  # Keras went on from gpunn's state as gpunn did
        for ours, keras_weight in zip(getattr(trained, name).get_weights(), theirs["resumed"][name]):
            np.testing.assert_allclose(ours, keras_weight, rtol=2e-5, atol=2e-6, err_msg=name)
    resumed = model(initial)
    resumed.fit(x, y, epochs=1, **fit)
    resumed.load_weights(tmp_path / "keras.weights.h5")
    assert resumed.optimizer.iterations == 2
    resumed.fit(x, y, epochs=1, **fit)
    for name in ("head", "first", "norm"):  # and gpunn from Keras's
        for ours, keras_weight in zip(getattr(resumed, name).get_weights(), theirs["continued"][name]):
            np.testing.assert_allclose(ours, keras_weight, rtol=2e-5, atol=2e-6, err_msg=name)


def test_an_optimizer_that_has_not_run_keeps_its_state_with_keras_s_warning(tmp_path):
    x = np.ones((4, 4), dtype=np.float32)
    trained = _two_dense(("first", "second"))
    trained.compile(optimizer="adam", loss="mse")
    trained.fit(x, np.ones((4, 2), dtype=np.float32), verbose=0)
    trained.save_weights(tmp_path / "w.weights.h5")
    fresh = _two_dense(("first", "second"))
    fresh.compile(optimizer="adam", loss="mse")
    with pytest.warns(UserWarning, match=r"has 10 variables, while this model's Adam has 2 \(it has not run yet\).*not loaded"):
        fresh.load_weights(tmp_path / "w.weights.h5")
    assert fresh.optimizer.iterations == 0
    np.testing.assert_array_equal(fresh.predict(x, verbose=0), trained.predict(x, verbose=0))


def test_a_file_without_an_optimizer_leaves_a_trained_one_as_it_is_with_keras_s_warning(tmp_path):
    """Keras 3.15 warns 'Skipping variable loading for optimizer ..., because it has 6 variables whereas the saved
    optimizer has 0 variables' for the weights of an uncompiled model loaded into a compiled one."""
    x = np.ones((4, 4), dtype=np.float32)
    uncompiled = _two_dense(("first", "second"))
    uncompiled(x)
    uncompiled.save_weights(tmp_path / "w.weights.h5")
    trained = _two_dense(("first", "second"))
    trained.compile(optimizer="adam", loss="mse")
    trained.fit(x, np.ones((4, 2), dtype=np.float32), verbose=0)
    slots = {name: np.array(value) for name, value in trained.optimizer.slots.items()}
    with pytest.warns(UserWarning, match=r"has 0 variables, while this model's Adam has 10; .*not loaded.*no optimizer"):
        trained.load_weights(tmp_path / "w.weights.h5")
    assert trained.optimizer.iterations == 1
    assert slots and all(np.any(value) for value in slots.values())
    for name, value in trained.optimizer.slots.items():
        np.testing.assert_array_equal(value, slots[name], err_msg=name)
    np.testing.assert_array_equal(trained.predict(x, verbose=0), uncompiled.predict(x, verbose=0))


LATE_LIST = '''
def define(keras, layers):
    class Inner(keras.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.y = layers.Dense(4)  # set first, called second
            self.x = layers.Dense(4, activation="tanh")

        def call(self, inputs):
            return self.y(self.x(inputs))

    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.hidden = []
            self.final = layers.Dense(4)  # set before the layers appended to the list: tracked before them
            self.hidden.append(layers.Dense(4, activation="tanh"))
            self.hidden.append(layers.Dense(4, activation="tanh"))
            self.inner = Inner()
            self.extra = layers.Dense(7)  # never called: no weights, an empty group

        def call(self, inputs):
            h = inputs
            for dense in self.hidden:
                h = dense(h)
            return self.final(self.inner(h))

    return Net
'''

KERAS_LATE_LIST = LATE_LIST + ENTRIES + r'''
import json, os, sys
import numpy as np
import keras
from keras.src.legacy.saving import legacy_h5_format
import h5py
task = json.loads(sys.stdin.read())
x, y = np.array(task["x"], dtype="float32"), np.array(task["y"], dtype="float32")
model = define(keras, keras.layers)()
model(x[:2])
model.set_weights([np.array(w, dtype="float32") for w in task["weights"]])
model.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse")
model.fit(x, y, batch_size=len(x), epochs=2, shuffle=False, verbose=0)
model.save_weights(os.path.join(task["dir"], "keras.weights.h5"))
with h5py.File(os.path.join(task["dir"], "keras.h5"), "w") as file:
    legacy_h5_format.save_weights_to_hdf5_group(file, model)
model.fit(x, y, batch_size=len(x), epochs=1, shuffle=False, verbose=0)
print(json.dumps({"weights": [w.tolist() for w in model.get_weights()], "predict": model.predict(x, verbose=0).tolist(),
                  "h5_entries": _entries(os.path.join(task["dir"], "keras.h5"))}))
'''


def test_layers_appended_to_a_list_later_and_a_held_subclass_follow_keras_s_order(tmp_path):
    """Keras tracks a layer appended to a list when it is appended (after ``self.final`` here), which orders
    ``get_weights``, the optimizer's variables and tf.keras files; a held subclass's entry lists its weights in its
    own attributes' order; a layer never called has an empty group."""
    rng = np.random.default_rng(8)
    x, y = rng.standard_normal((12, 4)).astype(np.float32), rng.standard_normal((12, 4)).astype(np.float32)
    namespace: dict = {}
    exec(LATE_LIST, namespace)

    def model():
        made = namespace["define"](gpunn, layers)()
        made(x[:2])
        return made

    first = model()
    assert first.get_weights()[0].shape == (4, 4)  # final's kernel first, as Keras orders them
    initial = [w.tolist() for w in first.get_weights()]
    theirs = run_keras(KERAS_LATE_LIST, {"x": x.tolist(), "y": y.tolist(), "weights": initial, "dir": str(tmp_path)})
    resumed = model()
    resumed.compile(optimizer=gpunn.optimizers.Adam(0.05), loss="mse")
    resumed.fit(x, y, batch_size=len(x), epochs=1, shuffle=False, verbose=0)  # its optimizer built
    resumed.load_weights(tmp_path / "keras.weights.h5")
    resumed.fit(x, y, batch_size=len(x), epochs=1, shuffle=False, verbose=0)
    for ours, keras_weight in zip(resumed.get_weights(), theirs["weights"]):
        np.testing.assert_allclose(ours, keras_weight, rtol=2e-5, atol=2e-6)
    legacy = model()
    legacy.load_weights(tmp_path / "keras.h5")
    legacy.save_weights(tmp_path / "gpunn.h5")
    assert _entries(tmp_path / "gpunn.h5") == theirs["h5_entries"]
    legacy.save_weights(tmp_path / "gpunn.weights.h5")
    with h5py.File(tmp_path / "gpunn.weights.h5") as file:
        assert "extra/vars" in file and len(file["extra/vars"]) == 0


def test_plain_sgd_s_state_loads_once_it_has_run(tmp_path):
    """Keras's SGD without momentum has only its step count and rate, built or not: they load."""
    x = np.ones((4, 4), dtype=np.float32)
    trained = _two_dense(("first", "second"))
    trained.compile(optimizer="sgd", loss="mse")
    trained.fit(x, np.ones((4, 2), dtype=np.float32), epochs=3, verbose=0)
    trained.save_weights(tmp_path / "w.weights.h5")
    fresh = _two_dense(("first", "second"))
    fresh.compile(optimizer="sgd", loss="mse")
    fresh.fit(x, np.ones((4, 2), dtype=np.float32), verbose=0)
    fresh.load_weights(tmp_path / "w.weights.h5")
    assert fresh.optimizer.iterations == 3


def test_a_subclass_s_weights_file_is_refused_by_a_functional_model(tmp_path):
    """gpunn's model file of a subclass holds the functional graph; its weights files hold the attributes' layout,
    which a functional model (what load_model gives back) cannot read without guessing."""
    model = _two_dense(("first", "second"))
    model.save(tmp_path / "m.keras")
    loaded = gpunn.models.load_model(tmp_path / "m.keras")
    for name in ("w.weights.h5", "w.h5"):
        model.save_weights(tmp_path / name)
        with pytest.raises(ValueError, match="holds a subclassed model's weights under the attributes"):
            loaded.load_weights(tmp_path / name)


def test_tf_keras_2_weights_files_of_a_subclassed_model_load(tmp_path):
    """tf.keras 2 (TensorFlow 2.13+) wrote a subclassed model's .weights.h5 with its layers under 'layers/' and
    their class names ('layers/dense', 'layers/dense_1'), where Keras 3 writes them under their attributes; Keras 3
    reads either, and so does gpunn."""
    model = _two_dense(("alpha", "beta"))  # both attributes sort before 'layers': written under them
    x = np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4)
    model.save_weights(tmp_path / "keras3.weights.h5")
    with h5py.File(tmp_path / "keras3.weights.h5", "r") as source, \
            h5py.File(tmp_path / "tf_keras_2.weights.h5", "w") as target:
        # model.layers lists 'beta' first (set first): tf.keras 2 names the layers in that order
        for attribute, listed in (("beta", "layers/dense"), ("alpha", "layers/dense_1")):
            source.copy(source[attribute], target, name=listed)
        target.create_group("vars")
    fresh = _two_dense(("alpha", "beta"))
    fresh.load_weights(tmp_path / "tf_keras_2.weights.h5")
    np.testing.assert_array_equal(fresh.predict(x, verbose=0), model.predict(x, verbose=0))
