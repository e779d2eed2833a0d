"""``keras.DTypePolicy``, ``keras.dtype_policies`` and ``keras.mixed_precision``: float policies as Keras's (names,
dtypes, repr, configs), a layer given one computes in it, and the half-precision and mixed policies, which gpunn
cannot compute, refused by name where they are made."""
from __future__ import annotations

import numpy as np
import pytest

import gpunn
from gpunn import dtype_policies, mixed_precision
from helpers import run_keras

KERAS_SIDE = '''
import json
import keras
policies = [keras.DTypePolicy("float64"), keras.DTypePolicy(), keras.FloatDTypePolicy("float32")]
print(json.dumps({"repr": [repr(p) for p in policies], "names": [p.name for p in policies],
                  "dtypes": [[p.compute_dtype, p.variable_dtype] for p in policies],
                  "configs": [p.get_config() for p in policies],
                  "serialized": keras.dtype_policies.serialize(policies[0]),
                  "global": repr(keras.mixed_precision.global_policy()),
                  "layer": repr(keras.layers.Dense(2, dtype=policies[0]).dtype_policy)}))
'''


def test_float_policies_are_keras_s():
    keras = run_keras(KERAS_SIDE, {})
    ours = [gpunn.DTypePolicy("float64"), gpunn.DTypePolicy(), gpunn.FloatDTypePolicy("float32")]
    assert [repr(p) for p in ours] == keras["repr"]
    assert [p.name for p in ours] == keras["names"]
    assert [[p.compute_dtype, p.variable_dtype] for p in ours] == keras["dtypes"]
    assert [p.get_config() for p in ours] == keras["configs"]
    assert dtype_policies.serialize(ours[0]) == keras["serialized"]
    assert dtype_policies.deserialize(keras["serialized"]) == ours[0]
    assert repr(mixed_precision.global_policy()) == keras["global"] == repr(gpunn.config.dtype_policy())
    assert repr(gpunn.layers.Dense(2, dtype=ours[0]).dtype_policy) == keras["layer"]
    assert mixed_precision.Policy is gpunn.DTypePolicy and dtype_policies.get("float64") == ours[0]


def test_a_layer_given_a_float64_policy_computes_as_one_given_float64():
    x = np.random.default_rng(0).standard_normal((16, 3))
    y = x[:, :1] * 2

    def trained(dtype):
        gpunn.utils.set_random_seed(1)
        model = gpunn.Sequential([gpunn.Input((3,)), gpunn.layers.Dense(4, activation="tanh", dtype=dtype),
                                  gpunn.layers.Dense(1, dtype=dtype)])
        model.compile(optimizer="adam", loss="mse")
        model.fit(x, y, epochs=2, batch_size=4, verbose=0)
        return model

    by_policy, by_name = trained(gpunn.DTypePolicy("float64")), trained("float64")
    assert gpunn.Input((3,), dtype=gpunn.DTypePolicy("float64")).dtype == "float64"  # Keras's Input takes one too
    assert by_policy.layers[0].compute_dtype == by_policy.layers[0].variable_dtype == "float64"
    assert by_policy.predict(x, verbose=0).dtype == np.float64
    for a, b in zip(by_policy.get_weights(), by_name.get_weights()):
        assert a.dtype == np.float64
        np.testing.assert_array_equal(a, b)


def test_half_precision_and_mixed_policies_are_refused_by_name():
    mixed_precision.set_global_policy("float32")  # accepted: it is gpunn's
    mixed_precision.set_global_policy(gpunn.DTypePolicy("float32"))
    with pytest.raises(ValueError, match="policy: the dtype policy 'mixed_float16' computes in half precision"):
        mixed_precision.set_global_policy("mixed_float16")
    with pytest.raises(ValueError, match="policy: expected the name of a policy .* got int 3"):
        mixed_precision.set_global_policy(3)
    for name in ("mixed_bfloat16", "float16", "bfloat16"):
        with pytest.raises(ValueError, match=f"name: the dtype policy '{name}' computes in half precision"):
            gpunn.DTypePolicy(name)
    with pytest.raises(ValueError, match="dtype: the dtype policy 'mixed_float16' computes in half precision"):
        gpunn.layers.Dense(2, dtype="mixed_float16")
    with pytest.raises(ValueError, match="name: gpunn's layers compute in a float dtype"):
        gpunn.DTypePolicy("int32")
    with pytest.raises(TypeError, match="name: expected a dtype policy name such as 'float32', got int 3"):
        gpunn.DTypePolicy(3)
    with pytest.raises(ValueError, match="LossScaleOptimizer: loss scaling serves float16"):
        mixed_precision.LossScaleOptimizer(gpunn.optimizers.Adam())


def test_a_float64_global_policy_makes_the_layers_made_after_it_float64():
    """Keras's ``config.set_dtype_policy("float64")`` (TensorFlow backend; on jax Keras narrows to float32):
    layers made afterwards keep and compute float64; ``clear_session`` forgets the policy, as Keras's does."""
    x = np.linspace(-1, 1, 12).reshape(4, 3)
    try:
        gpunn.config.set_dtype_policy("float64")
        assert gpunn.config.dtype_policy().name == mixed_precision.global_policy().name == "float64"
        assert gpunn.DTypePolicy().name == "float64"
        model = gpunn.Sequential([gpunn.Input((3,)), gpunn.layers.Dense(2)])
        assert model.layers[0].dtype == "float64" and model.predict(x, verbose=0).dtype == np.float64
        assert all(w.dtype == np.float64 for w in model.get_weights())
        gpunn.backend.clear_session()
        assert gpunn.config.dtype_policy().name == "float32" and gpunn.layers.Dense(2).dtype_policy.name == "float32"
        mixed_precision.set_global_policy(gpunn.DTypePolicy("float64"))
        assert gpunn.layers.Dense(2).dtype == "float64"
    finally:
        mixed_precision.set_global_policy(None)  # (tf.keras 2's reset; Keras 3's set_dtype_policy refuses None)
    assert gpunn.layers.Dense(2).dtype_policy.name == "float32"
