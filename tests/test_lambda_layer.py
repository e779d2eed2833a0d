"""``keras.layers.Lambda`` called on several inputs (a list or tuple of a functional model's values), against
Keras 3 itself."""
from __future__ import annotations

import numpy as np
import pytest
from helpers import numpy_backend  # noqa: F401  (fixture)

LAMBDA_ON_SEVERAL = r'''
import numpy as np

def run(keras, case, extra_compile=None):
    """``Lambda(f)([a, b])``, as the VAE's sampling and the Siamese distance are written: trained from the same
    weights."""
    ops, layers = keras.ops, keras.layers
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 3)).astype("float32")
    y = rng.normal(size=(16, 1)).astype("float32")
    inputs = keras.Input((3,))
    mean, log_var = layers.Dense(2)(inputs), layers.Dense(2)(inputs)
    joined = layers.Lambda(lambda t: t[0] + ops.exp(0.5 * t[1]))([mean, log_var])
    distance = layers.Lambda(lambda t: ops.sqrt(ops.sum(ops.square(t[0] - t[1]), axis=1, keepdims=True) + 1e-6))(
        (mean, log_var))
    model = keras.Model(inputs, layers.Dense(1)(layers.concatenate([joined, distance])))
    model.set_weights([0.5 * rng.normal(size=w.shape).astype("float32") for w in model.get_weights()])
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse", **(extra_compile or {}))
    return model.fit(x, y, epochs=3, batch_size=4, shuffle=False, verbose=0).history["loss"]
'''


def test_a_lambda_called_on_several_inputs_trains_as_keras_s():
    from helpers import assert_close_to_keras, run_case_both_ways

    ours, theirs = run_case_both_ways(LAMBDA_ON_SEVERAL, [{}])
    assert_close_to_keras(ours[0], theirs[0], "Lambda([a, b])", rtol=1e-5, atol=1e-6)


def test_a_function_of_another_library_on_inputs_that_need_no_gradient(numpy_backend):
    """keras-io's feature engineering with Lambda: ``Lambda(lambda t: tf.cast(t[0] * t[1], tf.float32))`` on a
    model's inputs, as Keras's TensorFlow backend runs it (NumPy stands in for TensorFlow here): nothing above
    the Lambda is trained, so its inputs need no gradient and may leave gpunn. After a trained layer they may
    not (the gradient would be lost): refused by name."""
    import gpunn
    from gpunn import layers

    a, b = gpunn.Input((1,), name="a"), gpunn.Input((1,), name="b")
    crossed = layers.Lambda(lambda t: np.asarray(t[0] * t[1], dtype=np.float32), name="cross")((a, b))
    model = gpunn.Model({"a": a, "b": b}, layers.Dense(1, kernel_initializer="ones")(
        layers.concatenate([crossed, a])))
    x = {"a": np.full((4, 1), 2.0, "float32"), "b": np.full((4, 1), 3.0, "float32")}
    np.testing.assert_allclose(model.predict(x, verbose=0), np.full((4, 1), 8.0))  # 2 * 3 + 2
    model.compile(optimizer="sgd", loss="mse")
    assert np.isfinite(model.fit(x, np.ones((4, 1), "float32"), verbose=0).history["loss"][0])

    inputs = gpunn.Input((2,))
    after_dense = layers.Lambda(lambda t: np.log1p(np.abs(np.asarray(t))))(layers.Dense(2)(inputs))
    trained = gpunn.Model(inputs, layers.Dense(1)(after_dense))
    trained.compile(optimizer="sgd", loss="mse")
    with pytest.raises(TypeError, match="needs a gradient was converted to a NumPy array"):
        trained.fit(np.ones((4, 2), "float32"), np.ones((4, 1), "float32"), verbose=0)


def test_a_call_returning_none_is_named(numpy_backend):
    """keras-io's variable selection network branches on keras.backend.backend() and falls through: say so."""
    import gpunn

    class BranchesOnBackend(gpunn.layers.Layer):
        def call(self, x):
            if gpunn.backend.backend() == "jax":
                return x

    inputs = gpunn.Input((3,))
    with pytest.raises(ValueError, match="call\\(\\) returned None.*backend\\(\\) is 'numpy'"):
        gpunn.Model(inputs, BranchesOnBackend()(inputs))


SIAMESE_DISTANCE = r'''
import json, os, sys
import numpy as np


def euclidean_distance(vects):
    import keras_module_of_this_run as keras
    x, y = vects
    sum_square = keras.ops.sum(keras.ops.square(x - y), axis=1, keepdims=True)
    return keras.ops.sqrt(keras.ops.maximum(sum_square, keras.backend.epsilon()))


def run(keras, folder):
    """keras.io's Siamese contrastive example: ``Lambda(euclidean_distance)([tower_1, tower_2])``, saved and
    loaded; the other library's file read too, where the other run left one."""
    sys.modules["keras_module_of_this_run"] = keras
    a, b = keras.Input((4,)), keras.Input((4,))
    distance = keras.layers.Lambda(euclidean_distance, output_shape=(1,))([a, b])
    model = keras.Model([a, b], keras.layers.Dense(1, kernel_initializer="ones", bias_initializer="ones")(distance))
    x = [np.arange(8, dtype="float32").reshape(2, 4), np.ones((2, 4), "float32")]
    path = os.path.join(folder, "siamese.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, custom_objects={"euclidean_distance": euclidean_distance}, safe_mode=False)
    return {"predicted": model.predict(x, verbose=0).tolist(), "loaded": loaded.predict(x, verbose=0).tolist(),
            "inputs": [list(map(list, (t.shape for t in loaded.inputs)))]}
'''


def test_a_lambda_over_two_inputs_loads_from_a_keras_file_as_in_keras(tmp_path_factory):
    from helpers import run_script_both_ways

    ours, theirs = run_script_both_ways(SIAMESE_DISTANCE, tmp_path_factory)
    assert ours["inputs"] == theirs["inputs"]
    np.testing.assert_allclose(ours["loaded"], ours["predicted"], rtol=1e-6)
    np.testing.assert_allclose(ours["predicted"], theirs["predicted"], rtol=1e-6)
    np.testing.assert_allclose(theirs["loaded"], theirs["predicted"], rtol=1e-6)


PAIR_FROM_CONFIG = r'''
import json, os, sys
import numpy as np


def run(keras, folder):
    @keras.saving.register_keras_serializable("pair_test")
    class Pair(keras.layers.Layer):
        def call(self, a, b=None):  # called as Pair()(a, b): two arguments, the second with a default
            return a - (0.0 if b is None else b)

    a, b = keras.Input((3,), name="a"), keras.Input((3,), name="b")
    model = keras.Model([a, b], Pair(name="pair")(a, b))
    x = [np.arange(6, dtype="float32").reshape(2, 3), np.ones((2, 3), "float32")]
    path = os.path.join(folder, "pair.keras")
    model.save(path)
    return {"predicted": model.predict(x, verbose=0).tolist(),
            "from_config": keras.Model.from_config(model.get_config()).predict(x, verbose=0).tolist(),
            "loaded": keras.models.load_model(path).predict(x, verbose=0).tolist()}
'''


def test_a_layer_called_with_two_arguments_is_called_so_again_from_a_config(tmp_path_factory):
    from helpers import run_script_both_ways

    ours, theirs = run_script_both_ways(PAIR_FROM_CONFIG, tmp_path_factory)
    for key in ours:
        np.testing.assert_allclose(ours[key], theirs["predicted"], rtol=1e-6, err_msg=key)


OUTPUT_SHAPES = r'''
import json, sys
import numpy as np


def run(keras, folder):
    layers, ops = keras.layers, keras.ops

    def doubled(t):
        return ops.concatenate([t, -t], axis=1)

    def distance_shape(shapes):  # the Keras 2 siamese example's eucl_dist_output_shape
        shape1, shape2 = shapes
        return (shape1[0], 1)

    a, b = keras.Input((8,)), keras.Input((8,))
    dense = layers.Dense(4)
    distance = layers.Lambda(lambda v: ops.sqrt(ops.sum(ops.square(v[0] - v[1]), axis=1, keepdims=True) + 1e-6),
                             output_shape=distance_shape)([dense(a), dense(b)])
    built = layers.Lambda(doubled)
    keras.Sequential([keras.Input((8,)), built])
    return {"inferred": list(layers.Lambda(doubled).compute_output_shape((None, 8))),
            "given": list(layers.Lambda(doubled, output_shape=(16,)).compute_output_shape((None, 8))),
            "function": list(layers.Lambda(doubled, output_shape=lambda s: (s[0], 2 * s[1]))
                             .compute_output_shape((None, 8))),
            "built": list(built.compute_output_shape((None, 8))),
            "built_other": list(built.compute_output_shape((None, 5))),
            "several": list(distance.shape)}
'''


def test_a_lambda_s_output_shape_is_kerass_and_its_function_takes_a_list_of_shapes(tmp_path_factory):
    """``Lambda.compute_output_shape`` is what its function returns (it was the input's shape), and an
    ``output_shape`` function of a Lambda on several inputs takes their batch shapes as a list, as Keras hands
    them (Keras 2's siamese example)."""
    from helpers import run_script_both_ways

    ours, theirs = run_script_both_ways(OUTPUT_SHAPES, tmp_path_factory)
    assert ours == theirs
    assert ours["inferred"] == [None, 16] and ours["several"] == [None, 1]
