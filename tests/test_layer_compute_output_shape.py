"""A layer's public ``compute_output_shape`` takes and gives Keras's shapes, batch axis first (the batch size kept),
and ``model.build`` takes a batch shape of any batch size (``model.build(x_train.shape)``), as Keras's."""
from __future__ import annotations

import numpy as np
import pytest
from helpers import numpy_backend, run_script_both_ways  # noqa: F401  (fixture)

SCRIPT = r'''
import json, sys

def run(keras, folder):
    L = keras.layers
    cases = [
        ("Dense", lambda: L.Dense(4), [(None, 3), (8, 3), (None, 5, 3)]),
        ("Flatten", lambda: L.Flatten(), [(None, 3), (8, 4, 3), (None, 2, 3, 4), (None, None, 3)]),
        ("Reshape", lambda: L.Reshape((-1, 2)), [(None, 4), (8, 6), (None, None)]),
        ("Reshape fixed", lambda: L.Reshape((2, 3)), [(None, 6), (5, 3, 2)]),
        ("RepeatVector", lambda: L.RepeatVector(3), [(None, 4), (7, 4)]),
        ("Permute", lambda: L.Permute((2, 1)), [(None, 3, 4), (6, 3, 4)]),
        ("Embedding", lambda: L.Embedding(10, 4), [(None,), (None, 5), (3, 5, 2)]),
        ("CategoryEncoding", lambda: L.CategoryEncoding(5), [(None,), (None, 3), (None, 1), ()]),
        ("CategoryEncoding one_hot", lambda: L.CategoryEncoding(5, output_mode="one_hot"),
         [(None,), (None, 1), (None, 3), (4,)]),
        ("Discretization one_hot", lambda: L.Discretization(bin_boundaries=[0.0], output_mode="one_hot"),
         [(None, 3), (None, 1), (None,)]),
        ("Discretization multi_hot", lambda: L.Discretization(bin_boundaries=[0.0], output_mode="multi_hot"),
         [(None, 3), (None,)]),
        ("GlobalAveragePooling1D", lambda: L.GlobalAveragePooling1D(keepdims=True), [(None, 5, 2), (3, 5, 2)]),
        ("Concatenate", lambda: L.Concatenate(), [[(None, 3), (None, 2)], [(4, 2, 3), (4, 2, 4)]]),
        ("Dot", lambda: L.Dot(1), [[(None, 3), (None, 3)], [(5, 3), (5, 3)]]),
        ("EinsumDense", lambda: L.EinsumDense("ab,bc->ac", output_shape=4), [(None, 3), (5, 3)]),
        ("TimeDistributed", lambda: L.TimeDistributed(L.Dense(2)), [(None, 4, 3), (6, 4, 3)]),
        ("LayerNormalization", lambda: L.LayerNormalization(), [(None, 3, 2)]),
    ]
    found = {}
    for name, make, shapes in cases:
        for shape in shapes:
            out = make().compute_output_shape(shape)
            found[f"{name} {shape}"] = [list(s) for s in out] if isinstance(out, list) else list(out)

    class Wrapper(L.Layer):  # a layer of the user's asking its sublayer, as Keras's guides write it
        def __init__(self):
            super().__init__()
            self.flatten = L.Flatten()

        def compute_output_shape(self, input_shape):
            return self.flatten.compute_output_shape(input_shape)

        def call(self, x):
            return self.flatten(x)

    found["user layer asking a sublayer"] = list(Wrapper().compute_output_shape((None, 4, 3)))
    found["Dense of one axis"] = list(L.Dense(3).compute_output_shape((4,)))

    class Half(L.Layer):  # no compute_output_shape of its own: Keras's Layer has none to give
        def call(self, x):
            return x[:, :2]

    try:
        Half().compute_output_shape((None, 7))
    except NotImplementedError as error:
        found["a layer without one"] = type(error).__name__

    class LoggedDropout(L.Dropout):  # its own compute_output_shape, asking the built-in's
        def compute_output_shape(self, input_shape):
            return super().compute_output_shape(input_shape)

    chain = keras.Sequential([keras.Input((4,)), LoggedDropout(0.5), L.Dense(2)])
    found["subclass asking super()"] = [list(chain.output_shape),
                                        list(LoggedDropout(0.5).compute_output_shape((None, 4)))]
    model = keras.Sequential([L.Flatten(), L.Dense(3)])
    model.build((16, 4, 5))  # model.build(x_train.shape)
    found["built for a batch shape"] = [list(w.shape) for w in model.weights]
    return found
'''


def test_compute_output_shape_and_build_take_keras_batch_shapes(tmp_path_factory):
    ours, theirs = run_script_both_ways(SCRIPT, tmp_path_factory)
    assert ours == theirs


def test_a_model_built_for_the_training_arrays_shape_trains_on_them(numpy_backend):
    """``model.build(x_train.shape)``: the first axis is the batch, whatever its size, as in Keras; a model reading
    it as a sample shape would hold weights for 16-sample inputs and refuse the data."""
    import gpunn

    x = np.random.default_rng(0).standard_normal((16, 4, 5)).astype(np.float32)
    model = gpunn.Sequential([gpunn.layers.Flatten(), gpunn.layers.Dense(3)])
    model.build(x.shape)
    assert model.input_shape == (None, 4, 5)
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, np.zeros((16, 3), np.float32), epochs=1, verbose=0)
    assert model.predict(x, verbose=0).shape == (16, 3)


def test_a_shape_without_batch_axis_is_refused_by_name(numpy_backend):
    from gpunn import layers

    with pytest.raises(ValueError, match="input_shape: .*batch axis first"):
        layers.Flatten().compute_output_shape(())
