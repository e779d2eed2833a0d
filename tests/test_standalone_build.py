"""``layer.build(shape)`` with Keras's shapes (batch axis first), as a layer of the user's calls it on the
layers it holds in its own build(), and the weights a layer built alone has (Keras's build makes them)."""
from __future__ import annotations

import numpy as np
import pytest

import gpunn
from gpunn import layers
from helpers import numpy_backend, run_keras  # noqa: F401

COMPOSITE = r'''
def composite(keras):
    class Block(keras.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.first = keras.layers.Dense(5, activation="relu")
            self.second = keras.layers.Dense(2)
            self.norm = keras.layers.BatchNormalization()

        def build(self, input_shape):  # the sublayers built by hand, with the batch axis
            self.first.build(input_shape)
            self.norm.build((None, 5))
            self.second.build((None, 5))

        def call(self, inputs, training=False):
            return self.second(self.norm(self.first(inputs), training=training))

    return Block
'''

KERAS_SIDE = COMPOSITE + r'''
import json, sys
import numpy as np
import pytest
import keras
task = json.loads(sys.stdin.read())
x = np.array(task["x"], "float32")
block = composite(keras)()
block.build((None, 4))
inputs = keras.Input((4,))
model = keras.Model(inputs, block(inputs))
model.set_weights([np.array(w, "float32") for w in task["weights"]])
print(json.dumps({"shapes": [list(w.shape) for w in block.weights], "predict": model.predict(x, verbose=0).tolist()}))
'''


def test_a_layer_of_the_user_s_building_its_layers_by_hand_as_in_keras():
    namespace: dict = {}
    exec(COMPOSITE, namespace)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((6, 4)).astype(np.float32)
    block = namespace["composite"](gpunn)()
    block.build((None, 4))
    assert block.built and [tuple(w.shape) for w in block.weights][:2] == [(4, 5), (5,)]
    inputs = gpunn.Input((4,))
    model = gpunn.Model(inputs, block(inputs))
    weights = [rng.standard_normal(w.shape).astype(np.float32) for w in model.get_weights()]
    variance = [k for k, w in enumerate(model.weights) if "moving_variance" in w.path]
    assert len(variance) == 1
    weights[variance[0]] = np.abs(weights[variance[0]]) + 0.5
    model.set_weights(weights)
    theirs = run_keras(KERAS_SIDE, {"x": x.tolist(), "weights": [w.tolist() for w in weights]})
    assert [list(w.shape) for w in block.weights] == theirs["shapes"]
    np.testing.assert_allclose(model.predict(x, verbose=0), theirs["predict"], rtol=1e-5, atol=1e-6)
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, np.zeros((6, 2), np.float32), verbose=0)
    assert not np.array_equal(model.get_weights()[0], weights[0])


def test_a_layer_built_alone_has_its_weights_and_a_model_keeps_them():
    dense = layers.Dense(3)
    dense.build((None, 5))
    assert dense.input_shape == (5,) and [w.shape for w in dense.get_weights()] == [(5, 3), (3,)]
    kernel = dense.kernel.numpy()
    assert np.any(kernel) and not np.any(dense.bias.numpy())  # Glorot-uniform and zeros, as Keras initialises
    model = gpunn.Sequential([gpunn.Input((5,)), dense])
    np.testing.assert_array_equal(model.get_weights()[0], kernel)
    norm = layers.BatchNormalization()
    norm.build((None, 4))
    np.testing.assert_array_equal(norm.moving_variance.numpy(), np.ones(4, np.float32))


EMBEDDING_BUILT_ALONE = r'''
import json, sys
import numpy as np
import pytest
import keras
task = json.loads(sys.stdin.read())
embedding = keras.layers.Embedding(6, 3)
embedding.build()  # Keras's input_shape=None: the table alone
embedding.set_weights([np.array(task["table"], "float32")])
print(json.dumps({"count": len(embedding.weights),
                  "looked_up": np.asarray(embedding(np.array(task["ids"]))).tolist()}))
'''


def test_an_embedding_or_text_vectorization_builds_without_a_shape_as_in_keras():
    table = np.arange(18, dtype=np.float32).reshape(6, 3)
    ids = [[1, 5], [0, 2]]
    embedding = layers.Embedding(6, 3)
    embedding.build()
    embedding.set_weights([table])
    theirs = run_keras(EMBEDDING_BUILT_ALONE, {"table": table.tolist(), "ids": ids})
    assert len(embedding.weights) == theirs["count"] == 1
    np.testing.assert_array_equal(np.asarray(embedding(np.array(ids))), theirs["looked_up"])
    vectorizer = layers.TextVectorization(output_sequence_length=3)
    vectorizer.build()
    vectorizer.adapt(np.array(["a b b", "c c c"]))  # vocabulary by count: c, b, a
    np.testing.assert_array_equal(np.asarray(vectorizer(np.array(["b a", "c"]))), [[3, 4, 0], [2, 0, 0]])
    with pytest.raises(TypeError, match=r"build\(\) missing 1 required positional argument: 'input_shape'"):
        layers.Dense(2).build()


def test_a_built_layer_is_not_rebuilt_for_inputs_its_weights_do_not_fit():
    """Keras's input spec: a Dense built for 2 features refuses 3, in a Sequential or a functional graph, rather
    than being made again under the graph that already calls it; a layer whose weights fit any length takes it."""
    dense = gpunn.layers.Dense(2)
    dense.build((None, 2))
    with pytest.raises(ValueError, match=r"Input 0 of layer 'dense\w*' is incompatible .* built for samples of "
                                         r"shape \(2,\).* got samples of shape \(3,\)|holds weights for inputs "
                                         r"of shape \(None, 2\)"):
        gpunn.Sequential([gpunn.Input((3,)), dense])
    assert [w.shape for w in dense.get_weights()] == [(2, 2), (2,)]
    called = gpunn.layers.Dense(2)
    first = gpunn.Model(two := gpunn.Input((2,)), called(two))
    with pytest.raises(ValueError, match="shared layers take one input shape|holds weights for inputs"):
        called(gpunn.Input((3,)))
    alone = gpunn.layers.Dense(2)
    alone(gpunn.Input((2,)))  # called in a graph no model holds yet: this second call was a silent rebuild
    with pytest.raises(ValueError, match="shared layers take one input shape"):
        alone(gpunn.Input((3,)))
    assert first.predict(np.ones((1, 2)), verbose=0).shape == (1, 2)
    dropout = gpunn.layers.Dropout(0.5)
    dropout(gpunn.Input((2,)))
    assert dropout(gpunn.Input((3,))).shape == (None, 3)  # no weights: any shape
