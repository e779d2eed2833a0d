"""A ReLU output under a probability cross-entropy (a learner's slip): a row whose outputs are all 0 has a 0/0
loss, NaN, in Keras as here. ReLU's gradient is a select in jax (and in gpunn's CUDA kernel): that row passes 0
where the units are off, and the weights stay finite. A multiply by the mask made every weight NaN for good."""

import numpy as np
import pytest
from helpers import run_script_both_ways

SCRIPT = '''
import json, sys
import numpy as np

def run(keras, folder):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3, activation="relu")])
    model.set_weights([np.array([[1., 1., 1.], [0.5, -0.5, 0.2]], "float32"), np.zeros(3, "float32")])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    x = np.array([[1.0, 0.0], [-1.0, 0.0], [2.0, 1.0], [1.0, -1.0]], "float32")  # row 1: every output 0
    history = model.fit(x, np.array([0, 1, 2, 0]), batch_size=2, epochs=3, verbose=0, shuffle=False).history
    return {"losses_nan": [bool(np.isnan(v)) for v in history["loss"]],
            "weights": [np.round(w, 4).tolist() for w in model.get_weights()],
            "predictions": np.round(model.predict(x[2:], verbose=0), 4).tolist()}
'''


def test_a_nan_row_under_a_relu_output_leaves_the_weights_finite_as_in_keras(tmp_path_factory):
    ours, theirs = run_script_both_ways(SCRIPT, tmp_path_factory)
    assert ours["losses_nan"] == theirs["losses_nan"] == [True, True, True]
    for mine, keras_s in zip(ours["weights"], theirs["weights"]):
        np.testing.assert_allclose(mine, keras_s, rtol=1e-3, atol=2e-4)
    np.testing.assert_allclose(ours["predictions"], theirs["predictions"], rtol=1e-3, atol=2e-4)
    assert np.all(np.isfinite(ours["predictions"]))


VARIANTS_SCRIPT = '''
import json, sys
import numpy as np

def run(keras, folder):
    layers, ops = keras.layers, keras.ops
    x = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 2.0]], "float32")

    def root_square_error(y_true, y_pred):  # d/dy_pred is 0/0 where an output equals its target
        return ops.mean(ops.sqrt(ops.square(y_pred - y_true)), axis=-1)

    results = {}
    for name, activation, after in [("relu6", "relu6", []), ("threshold", None, [layers.ReLU(threshold=0.5)]),
                                    ("max_value", None, [layers.ReLU(max_value=1.0)]),
                                    ("max_value_6", None, [layers.ReLU(max_value=6.0)])]:
        model = keras.Sequential([keras.Input((2,)), layers.Dense(3, activation=activation)] + after)
        model.set_weights([np.array([[0.3, -1.0, 2.0], [0.0, 0.7, -0.5]], "float32"), np.zeros(3, "float32")])
        predicted = model.predict(x, verbose=0)
        targets = np.where(predicted == 0, 0.0, predicted + 1.0).astype("float32")  # 0/0 where a unit is off
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss=root_square_error)
        model.fit(x, targets, epochs=1, verbose=0, shuffle=False)
        results[name] = [np.round(w, 5).tolist() for w in model.get_weights()]
    return results
'''


def test_relu6_and_the_relu_layers_variants_pass_0_where_flat_as_in_keras(tmp_path_factory):
    ours, theirs = run_script_both_ways(VARIANTS_SCRIPT, tmp_path_factory)
    assert ours.keys() == theirs.keys()
    for name in ours:
        for mine, keras_s in zip(ours[name], theirs[name]):
            assert np.all(np.isfinite(mine)), name
            np.testing.assert_allclose(mine, keras_s, rtol=1e-4, atol=1e-5, err_msg=name)


@pytest.mark.parametrize("activation, flat_top", [("relu", 0.0), ("relu6", 6.0)])
def test_the_numpy_twin_selects_as_the_compiled_loop(activation, flat_top):
    from gpunn.kernels.activations import activation_backward_numpy

    dy = np.array([[np.nan, 1.0, np.nan], [2.0, np.nan, 3.0]], "float32")
    y = np.array([[0.0, 1.0, 2.0], [flat_top, flat_top, 5.0]], "float32")
    out = np.empty_like(dy)
    activation_backward_numpy(dy, y, None, activation, out)
    np.testing.assert_array_equal(out, [[0.0, 1.0, np.nan], [0.0, 0.0, 3.0]])
    in_place = dy.copy()
    activation_backward_numpy(in_place, y, None, activation, in_place)
    np.testing.assert_array_equal(in_place, out)
