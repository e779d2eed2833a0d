"""``keras.Variable(...)``: made on its own, a host array with Keras's Variable API; set as a layer's attribute,
one of the layer's weights (Keras 3 tracks it so), trained and counted as Keras does. Compared with Keras 3 itself
(a Keras process on jax)."""
from __future__ import annotations

import numpy as np
import pytest

import gpunn
from helpers import run_keras

SCRIPT = r'''
def run(keras):
    import numpy as np
    keras.utils.set_random_seed(1)
    v = keras.Variable(3.0)
    w = keras.Variable(np.arange(4.0).reshape(2, 2), name="w")
    z = keras.Variable("zeros", shape=(3,), trainable=False)
    out = {"v": [str(v.dtype), float(v.numpy()), v.path, v.trainable, list(v.shape)],
           "w": [str(w.dtype), w.path, np.asarray(w * 2).tolist()],
           "z": [str(z.dtype), z.trainable, np.asarray(z).tolist()]}
    v.assign(5.0)
    w.assign_add(np.ones((2, 2)))
    out["after"] = [float(v.numpy()), np.asarray(w).tolist()]
    out["isinstance"] = isinstance(v, keras.Variable)

    class Counter(keras.layers.Layer):  # a count kept in a non-trainable variable, a trainable scale
        def __init__(self, **kw):
            super().__init__(**kw)
            self.total = keras.Variable(0.0, trainable=False, name="total")
            self.scale = keras.Variable(np.full((3,), 2.0), name="scale")

        def call(self, x):
            self.total.assign_add(keras.ops.sum(x))
            return x * self.scale
    c = Counter()
    y = c(np.ones((2, 3), "float32"))
    out["layer"] = [np.asarray(y).tolist(), float(np.asarray(c.total)), [w.name for w in c.weights],
                    [w.name for w in c.trainable_weights], isinstance(c.weights[0], keras.Variable)]
    m = keras.Sequential([keras.Input((3,)), Counter(), keras.layers.Dense(1)])
    m.compile("sgd", "mse")
    m.fit(np.ones((4, 3), "float32"), np.ones((4, 1), "float32"), verbose=0, epochs=1, batch_size=4)
    out["model"] = [len(m.weights), len(m.trainable_weights), [list(np.shape(w)) for w in m.get_weights()]]
    return out
'''

KERAS_SIDE = SCRIPT + r'''
import json
import keras
print(json.dumps(run(keras)))
'''


def test_variables_made_on_their_own_and_in_layers_are_kerass():
    namespace: dict = {}
    exec(SCRIPT, namespace)
    ours = namespace["run"](gpunn)
    assert ours["layer"][2] == ["scale", "total"] and ours["model"][:2] == [4, 3]
    assert ours == run_keras(KERAS_SIDE, {})


def test_a_variable_held_by_a_model_subclass_is_a_weight_of_the_model():
    class Net(gpunn.Model):
        def __init__(self):
            super().__init__()
            self.w = gpunn.Variable(np.full((3, 2), 0.5), name="w")

        def call(self, x):
            return gpunn.ops.matmul(x, self.w)

    net = Net()
    np.testing.assert_allclose(net.predict(np.ones((2, 3), "float32"), verbose=0), np.full((2, 2), 1.5))
    assert [w.name for w in net.weights] == ["w"] and net.w.trainable


def test_what_a_variable_cannot_be():
    class Steps(gpunn.layers.Layer):
        def __init__(self):
            super().__init__()
            self.steps = gpunn.Variable(0, dtype="int64")

    with pytest.raises(ValueError, match="steps: layer .* keeps its weights in the model's float buffers"):
        Steps()
    with pytest.raises(ValueError, match="shape: a Variable made by the initializer 'zeros' needs its shape"):
        gpunn.Variable("zeros")
    with pytest.raises(ValueError, match="cannot contain character `/`"):
        gpunn.Variable(1.0, name="a/b")
    with pytest.raises(TypeError, match=r"unexpected keyword argument\(s\) \['initial_value'\] \(tf\.Variable's "
                                        r"initial_value is keras\.Variable's initializer=\)"):
        gpunn.Variable(initial_value=[1.0])
    assert gpunn.Variable([1.0, 2.0], layout=None).numpy().tolist() == [1.0, 2.0]  # (Keras's argument, left unused)


def test_unnamed_variables_take_the_layer_s_free_names_and_stay_the_weight():
    """A layer mixing ``add_weight()`` and ``keras.Variable(...)`` without names: Keras's 'variable',
    'variable_1'; the Variable the script made is then the layer's weight (assigning it changes the layer's
    output), and ``clear_session()`` starts the names again."""

    class Scaled(gpunn.layers.Layer):
        def build(self, input_shape):
            self.k = self.add_weight(shape=(input_shape[-1],), initializer="ones")
            self.t = gpunn.Variable(np.float32(2.0), trainable=False)

        def call(self, x):
            return x * self.k * self.t

    layer = Scaled()
    np.testing.assert_array_equal(layer(np.ones((2, 3), "float32")), 2.0)
    assert [w.name for w in layer.weights] == ["variable", "variable_1"]

    class Shared(gpunn.layers.Layer):
        def __init__(self, variable, **kwargs):
            super().__init__(**kwargs)
            self.shared = variable

        def call(self, x):
            return x * self.shared

    scale = gpunn.Variable(np.ones((3,)), name="scale")
    shared = Shared(scale)
    shared(np.ones((1, 3), "float32"))
    scale.assign(np.full((3,), 2.0))
    np.testing.assert_array_equal(shared(np.ones((1, 3), "float32")), [[2.0, 2.0, 2.0]])
    gpunn.backend.clear_session()
    assert gpunn.Variable(1.0).name == "variable"
