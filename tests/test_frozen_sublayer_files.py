"""A layer of the user's whose sublayer is frozen after it was built: a tf.keras HDF5 file lists that layer's
weights as Keras's ``trainable_weights + non_trainable_weights`` (legacy_h5_format.py ``_legacy_weights``), the
frozen sublayer's after the others, since Keras's ``trainable`` setter makes each of its variables non-trainable.
Checked both ways against Keras 3, in a functional model (the graph's entries) and in a subclassed model (the
entries of the layers it holds)."""
from __future__ import annotations

import h5py
import numpy as np
import pytest

import gpunn
from helpers import numpy_backend, run_keras  # noqa: F401

DEFINE = '''
def define(keras, subclassed):
    import numpy as np
    layers = keras.layers

    class Block(layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.a = layers.Dense(3)
            self.b = layers.Dense(3)

        def call(self, x):
            return self.b(self.a(x))

    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.block = Block(name="block")  # named: the file's entry, whatever layers the process made before
            self.head = layers.Dense(2)

        def call(self, x, training=False):
            return self.head(self.block(x))

    x = np.linspace(-1, 1, 12, dtype="float32").reshape(4, 3)
    if subclassed:
        model = Net()
        model(x)
        block = model.block
    else:
        inputs = keras.Input((3,))
        block = Block(name="block")
        model = keras.Model(inputs, layers.Dense(2)(block(inputs)))
    block.a.trainable = False
    rng = np.random.default_rng(7)
    model.set_weights([rng.standard_normal(w.shape).astype("float32") for w in model.get_weights()])
    return model, x
'''

KERAS_SIDE = DEFINE + r'''
import json, os, sys
import h5py
import numpy as np
import keras
from keras.src.legacy.saving import legacy_h5_format
task = json.loads(sys.stdin.read())
model, x = define(keras, task["subclassed"])
with h5py.File(os.path.join(task["dir"], "keras.h5"), "w") as file:
    legacy_h5_format.save_weights_to_hdf5_group(file, model)
reader, _ = define(keras, task["subclassed"])
reader.set_weights([np.zeros_like(w) for w in reader.get_weights()])
with h5py.File(os.path.join(task["dir"], "gpunn.h5")) as file:
    legacy_h5_format.load_weights_from_hdf5_group(file, reader)
print(json.dumps({"predict": model.predict(x, verbose=0).tolist(),
                  "predict_of_gpunn_file": reader.predict(x, verbose=0).tolist()}))
'''


def _define(subclassed):
    namespace: dict = {}
    exec(DEFINE, namespace)
    return namespace["define"](gpunn, subclassed)


@pytest.mark.parametrize("subclassed", [False, True], ids=["functional", "subclassed"])
def test_a_frozen_sublayer_s_weights_go_last_both_ways(tmp_path, subclassed):
    model, x = _define(subclassed)
    model.save_weights(str(tmp_path / "gpunn.h5"))
    with h5py.File(tmp_path / "gpunn.h5") as file:
        names = [name.decode() for name in file["block"].attrs["weight_names"]]
    assert names == ["block/b/kernel:0", "block/b/bias:0", "block/a/kernel:0", "block/a/bias:0"]
    keras_side = run_keras(KERAS_SIDE, {"dir": str(tmp_path), "subclassed": subclassed})
    expected = np.array(keras_side["predict"], dtype=np.float32)
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(keras_side["predict_of_gpunn_file"], expected, rtol=1e-5, atol=1e-6)
    reader, _ = _define(subclassed)
    reader.set_weights([np.zeros_like(w) for w in reader.get_weights()])
    reader.load_weights(str(tmp_path / "keras.h5"))
    np.testing.assert_allclose(reader.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)
