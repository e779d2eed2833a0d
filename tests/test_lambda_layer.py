"""``keras.layers.Lambda`` called on several inputs (a list or tuple of a functional model's values), against
Keras 3 itself."""
from __future__ import annotations


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
