"""Embedding, GlobalAveragePooling1D, GlobalMaxPooling1D and the padding mask between them (Keras 3's
``keras/src/layers/core/embedding.py``, ``keras/src/layers/pooling/global_*_pooling1d.py``).

Checked against Keras 3 itself (run in a subprocess on the same weights and batches), against finite
differences in float64, eager against replayed steps bit for bit, and on the errors a user meets first."""
from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from helpers import assert_gradients_close, numerical_gradient, numpy_backend, run_keras  # noqa: F401

import gpunn
from gpunn import layers

V, T, D = 23, 7, 5  # vocabulary, steps, width: small and odd


def token_ids(rng, rows=12, padded=True):
    """Ids in [1, V) with repeats (so the maximum has ties), the tails of some rows padded with 0."""
    ids = rng.integers(1, V, size=(rows, T))
    ids[:, 1] = ids[:, 0]  # a repeated token: equal embeddings, a tie for the maximum in every feature
    if padded:
        for row, length in enumerate(rng.integers(2, T + 1, size=rows)):
            ids[row, length:] = 0
    return ids


def pooling_model(pooling="average", mask_zero=False, keepdims=False, dtype=None, units=3):
    stack = [layers.Embedding(V, D, mask_zero=mask_zero, dtype=dtype)]
    pool = layers.GlobalAveragePooling1D if pooling == "average" else layers.GlobalMaxPooling1D
    stack.append(pool(keepdims=keepdims))
    if keepdims:
        stack.append(layers.Flatten())
    stack.append(layers.Dense(units, dtype=dtype))
    return gpunn.Sequential([gpunn.Input(shape=(T,), dtype=dtype)] + stack)


# ------------------------------------------------------------------------------------------- values


def test_lookup_gives_the_table_rows_and_the_output_shape_of_keras(rng):
    layer = layers.Embedding(V, D)
    ids = token_ids(rng, rows=4)
    out = np.asarray(layer(ids))
    table = layer.get_weights()[0]
    assert out.shape == (4, T, D)
    np.testing.assert_array_equal(out, table[ids])
    assert layer.compute_output_shape((T,)) == (T, D)
    np.testing.assert_array_equal(np.asarray(layer(np.array([3, 0, 5]))), table[[3, 0, 5]])  # one sample


def test_default_initializer_is_keras_uniform_and_weights_argument_sets_the_table(rng):
    model = gpunn.Sequential([gpunn.Input(shape=(T,)), layers.Embedding(V, D)])
    table = model.get_weights()[0]
    assert table.shape == (V, D) and np.abs(table).max() <= 0.05 and table.std() > 0.01
    given = rng.standard_normal((V, D))
    model = gpunn.Sequential([gpunn.Input(shape=(T,)), layers.Embedding(V, D, weights=[given])])
    np.testing.assert_allclose(model.get_weights()[0], given.astype(np.float32))


def test_average_pooling_with_and_without_mask_follows_keras_formulas(rng):
    ids = token_ids(rng)
    for mask_zero in (False, True):
        model = pooling_model(mask_zero=mask_zero, units=1)
        table = model.layers[0].get_weights()[0]
        kernel, bias = model.layers[-1].get_weights()
        hidden = np.asarray(model.layers[1].mask_source is not None)
        assert hidden == mask_zero
        vectors = table[ids].astype(np.float64)
        if mask_zero:
            keep = (ids != 0)[..., None]
            pooled = (vectors * keep).sum(1) / keep.sum(1)
        else:
            pooled = vectors.mean(1)
        np.testing.assert_allclose(model.predict(ids, verbose=0), pooled @ kernel + bias, rtol=1e-5, atol=1e-6)


def test_max_pooling_channels_first_and_keepdims_shapes(rng):
    x = rng.standard_normal((4, D, T)).astype(np.float32)  # (batch, features, steps)
    for keepdims, shape in ((False, (4, D)), (True, (4, D, 1))):
        out = np.asarray(layers.GlobalMaxPooling1D(data_format="channels_first", keepdims=keepdims)(x))
        assert out.shape == shape
        np.testing.assert_array_equal(out.reshape(4, D), x.max(axis=2))
        out = np.asarray(layers.GlobalAveragePooling1D(data_format="channels_first", keepdims=keepdims)(x))
        np.testing.assert_allclose(out.reshape(4, D), x.mean(axis=2), rtol=1e-6)
    assert layers.GlobalAveragePooling1D(keepdims=True).compute_output_shape((None, T, D)) == (None, 1, D)
    assert layers.GlobalAvgPool1D is layers.GlobalAveragePooling1D
    assert layers.GlobalMaxPool1D is layers.GlobalMaxPooling1D


def test_an_all_padding_sample_averages_to_nan_as_in_keras(rng):
    model = pooling_model(mask_zero=True, units=1)
    ids = token_ids(rng, rows=3)
    ids[1] = 0
    out = model.predict(ids, verbose=0)
    assert np.isnan(out[1]).all() and np.isfinite(out[[0, 2]]).all()


# --------------------------------------------------------------------------------- against Keras 3

KERAS_TRAINING = r'''
import json, sys
import numpy as np
import keras
task = json.loads(sys.stdin.read())
results = []
for case in task["cases"]:
    stack = [keras.Input(shape=(case["steps"],)),
             keras.layers.Embedding(case["vocabulary"], case["width"], mask_zero=case["mask_zero"])]
    if case["pooling"] == "flatten":
        stack.append(keras.layers.Flatten())
    else:
        pool = {"average": keras.layers.GlobalAveragePooling1D, "max": keras.layers.GlobalMaxPooling1D}[case["pooling"]]
        stack.append(pool(keepdims=case["keepdims"]))
        if case["keepdims"]:
            stack.append(keras.layers.Flatten())
    stack += [keras.layers.Dense(4, activation="relu"), keras.layers.Dense(1, activation="sigmoid")]
    model = keras.Sequential(stack)
    model.set_weights([np.array(w, dtype="float32") for w in case["weights"]])
    model.compile(optimizer=keras.optimizers.SGD(0.5, momentum=0.9), loss="binary_crossentropy")
    x, y = np.array(case["x"]), np.array(case["y"], dtype="float32")
    before = model.predict(x, verbose=0).tolist()
    history = model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0).history["loss"]
    results.append({"before": before, "loss": history, "weights": [w.tolist() for w in model.get_weights()]})
print(json.dumps(results))
'''

KERAS_CASES = [("average", False, False), ("average", True, False), ("average", True, True), ("max", False, False),
               ("max", True, False), ("flatten", False, False)]


def gpunn_model(pooling, mask_zero, keepdims):
    stack = [gpunn.Input(shape=(T,)), layers.Embedding(V, D, mask_zero=mask_zero)]
    if pooling == "flatten":
        stack.append(layers.Flatten())
    else:
        pool = layers.GlobalAveragePooling1D if pooling == "average" else layers.GlobalMaxPooling1D
        stack.append(pool(keepdims=keepdims))
        if keepdims:
            stack.append(layers.Flatten())
    stack += [layers.Dense(4, activation="relu"), layers.Dense(1, activation="sigmoid")]
    return gpunn.Sequential(stack)


def test_training_equals_keras_for_each_pooling_and_mask(rng):
    cases, runs = [], []
    for pooling, mask_zero, keepdims in KERAS_CASES:
        ids = token_ids(rng, rows=24)
        y = (rng.random(24) < 0.5).astype(np.float32)
        gpunn.utils.set_random_seed(1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # GlobalMaxPooling1D drops the mask with Keras's warning
            model = gpunn_model(pooling, mask_zero, keepdims)
        weights = [w * (8.0 if i == 0 else 1.0) for i, w in enumerate(model.get_weights())]  # larger embeddings
        model.set_weights(weights)
        cases.append({"vocabulary": V, "width": D, "steps": T, "mask_zero": mask_zero, "pooling": pooling,
                      "keepdims": keepdims, "weights": [w.tolist() for w in weights], "x": ids.tolist(),
                      "y": y.tolist()})
        before = model.predict(ids, verbose=0)
        model.compile(optimizer=gpunn.optimizers.SGD(0.5, momentum=0.9), loss="binary_crossentropy")
        history = model.fit(ids, y, batch_size=8, epochs=3, shuffle=False, verbose=0).history["loss"]
        runs.append((before, history, model.get_weights()))
    keras_results = run_keras(KERAS_TRAINING, {"cases": cases})
    for (pooling, mask_zero, keepdims), (before, history, weights), expected in zip(KERAS_CASES, runs, keras_results):
        what = f"{pooling} mask_zero={mask_zero} keepdims={keepdims}"
        np.testing.assert_allclose(before, expected["before"], rtol=1e-5, atol=1e-6, err_msg=what)
        np.testing.assert_allclose(history, expected["loss"], rtol=1e-4, err_msg=what)
        for ours, theirs in zip(weights, expected["weights"]):
            np.testing.assert_allclose(ours, np.array(theirs), rtol=1e-3, atol=2e-5, err_msg=what)
        moved = np.abs(weights[0] - np.array(cases[KERAS_CASES.index((pooling, mask_zero, keepdims))]["weights"][0]))
        assert moved.max() > 1e-3, f"{what}: the embeddings did not train"


# ----------------------------------------------------------------------------- finite differences


@pytest.mark.parametrize("pooling,mask_zero,keepdims", [
    ("average", False, False), ("average", True, False), ("average", True, True), ("max", False, False),
    ("max", False, True),
])
def test_gradients_match_finite_differences(pooling, mask_zero, keepdims, rng):
    model = pooling_model(pooling, mask_zero, keepdims, dtype="float64")
    model.compile(optimizer=gpunn.optimizers.SGD(1.0), loss="mse")
    ids = token_ids(rng, rows=6)
    y = rng.standard_normal((6, 3))
    params = np.asarray(model.params).copy()
    model.train_on_batch(ids, y)
    analytic = np.asarray(model.grads).copy()
    model.params[...] = params

    def loss(_):
        return model.evaluate(ids, y, batch_size=6, verbose=0)

    numeric = numerical_gradient(loss, model.params)
    assert_gradients_close(analytic, numeric, what=f"{pooling} mask_zero={mask_zero} d loss / d params")
    table_grad = analytic[:V * D].reshape(V, D)
    unused = np.setdiff1d(np.arange(V), ids)
    assert np.all(table_grad[unused] == 0)  # rows no id picked get no gradient
    if mask_zero:
        assert np.all(table_grad[0] == 0)  # padding contributes nothing to the masked mean


def test_pooling_gradients_on_their_own_channels_first(rng):
    from test_gradients import build, check_layer

    for pool in (layers.GlobalAveragePooling1D, layers.GlobalMaxPooling1D):
        layer = build(pool(data_format="channels_first"), input_shape=(3, 4))
        check_layer(layer, rng.standard_normal((5, 3, 4)), rng)


def test_max_pooling_shares_the_gradient_between_tied_steps():
    layer = layers.GlobalMaxPooling1D()
    gpunn.Sequential([gpunn.Input(shape=(3, 2), dtype="float64"), layer]).build()
    x = np.array([[[1.0, 5.0], [1.0, 2.0], [0.0, 5.0]]])
    _, backprop = layer.forward(x, True)
    dx = np.asarray(backprop(np.array([[6.0, 4.0]])))
    np.testing.assert_array_equal(dx, [[[3.0, 2.0], [3.0, 0.0], [0.0, 2.0]]])


# ------------------------------------------------------------------------------- static steps


def _train(mask_zero, pooling, jit, steps_per_execution=1):
    gpunn.utils.set_random_seed(4)
    rng = np.random.default_rng(4)
    ids = token_ids(rng, rows=40)
    y = rng.integers(0, 2, 40)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = gpunn_model(pooling, mask_zero, False)
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"], jit_compile=jit,
                  steps_per_execution=steps_per_execution)
    history = model.fit(ids, y, batch_size=16, epochs=3, verbose=0)  # a partial last batch too
    return model, history.history


@pytest.mark.parametrize("mask_zero,pooling", [(False, "average"), (True, "average"), (False, "max")])
def test_replayed_steps_equal_eager_bit_for_bit(mask_zero, pooling):
    from helpers import assert_same_training

    eager = _train(mask_zero, pooling, jit=False)
    assert_same_training(eager, _train(mask_zero, pooling, jit=True))
    assert_same_training(eager, _train(mask_zero, pooling, jit=True, steps_per_execution=2))


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "replay"])
@pytest.mark.parametrize("pooling", ["average", "max"])
def test_a_training_step_allocates_nothing_after_the_first(pooling, jit, rng):
    from test_step_allocations import assert_later_steps_allocate_nothing

    model = gpunn_model(pooling, pooling == "average", False)
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"], jit_compile=jit)
    ids = token_ids(rng, rows=48)
    assert_later_steps_allocate_nothing(model, ids, rng.integers(0, 2, 48).astype(np.float32), batch_size=16)


# ---------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("bad,match", [
    (lambda ids: ids.__setitem__((2, 3), V), rf"x: expected token ids, integers in \[0, {V}\).*got {V} at index \(2, 3\)"),
    (lambda ids: ids.__setitem__((0, 0), -1), r"got -1 at index \(0, 0\)"),
])
def test_ids_out_of_range_are_refused_before_training(bad, match, rng):
    model = gpunn_model("average", False, False)
    model.compile(optimizer="adam", loss="binary_crossentropy")
    ids = token_ids(rng)
    bad(ids)
    before = model.get_weights()
    with pytest.raises(ValueError, match=match):
        model.fit(ids, np.zeros(len(ids)), verbose=0)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="inputs: expected token ids"):
        model(ids)
    with pytest.raises(ValueError, match="x: expected token ids"):
        model.predict(ids, verbose=0)


@pytest.mark.parametrize("jit", [True, False], ids=["replayed", "eager"])
def test_ids_computed_inside_the_model_out_of_range_are_refused_not_clipped(jit):
    """keras.io's quotient-remainder embedding divides its input ids: a quotient past the table would read its
    last row on NumPy (a clip) and train on it; Keras's TensorFlow backend raises, its JAX backend gives NaN."""
    ids_in = gpunn.Input(shape=(), dtype="int32")
    embedding = layers.Embedding(3, 1)
    model = gpunn.Model(ids_in, embedding(gpunn.ops.floor_divide(ids_in, 2)))
    embedding.set_weights([np.array([[10.0], [20.0], [30.0]], "float32")])
    np.testing.assert_array_equal(model.predict(np.array([0, 2, 4, 5]), verbose=0).ravel(), [10, 20, 30, 30])
    with pytest.raises(ValueError, match=r"layer 'embedding\S*': token ids computed inside the model must be in "
                                         r"\[0, input_dim=3\); they range from -1 to 4"):
        model.predict(np.array([0, 2, 4, 8, -2]), verbose=0)
    model.compile(optimizer=gpunn.optimizers.SGD(0.5), loss="mse", jit_compile=jit)
    good, bad = np.array([0, 1, 2, 3, 4, 5]), np.array([0, 1, 2, 3, 4, 6])  # the third batch holds 6 // 2 = 3
    model.fit(good, np.zeros(6), batch_size=2, shuffle=False, verbose=0)
    with pytest.raises(ValueError, match=r"they range from 2 to 3"):
        model.fit(bad, np.zeros(6), batch_size=2, shuffle=False, verbose=0)


def test_non_integer_ids_are_refused(rng):
    model = gpunn_model("average", False, False)
    ids = token_ids(rng).astype(np.float64)
    ids[1, 1] = 2.5
    with pytest.raises(ValueError, match=r"got 2.5 at index \(1, 1\)"):
        model.predict(ids, verbose=0)
    with pytest.raises(ValueError, match="inputs: expected token ids"):
        layers.Embedding(V, D)(np.array([[1, V + 3]]))


def test_ids_beyond_float32_exactness_are_refused():
    layer = layers.Embedding(2 ** 24 + 8, 1)
    model = gpunn.Sequential([gpunn.Input(shape=(1,)), layer])
    with pytest.raises(ValueError, match="largest the model's dtype holds exactly"):
        model.predict(np.array([[2 ** 24 + 3]]), verbose=0)


@pytest.mark.parametrize("make,match", [
    (lambda: layers.Embedding(0, 4), "input_dim: expected a positive integer"),
    (lambda: layers.Embedding(10, 2.5), "output_dim: expected a positive integer"),
    (lambda: layers.Embedding(10, 4, mask_zero="yes"), "mask_zero"),
    (lambda: layers.Embedding(10, 4, lora_rank=4), "lora_rank"),
    (lambda: layers.Embedding(10, 4, weights=np.zeros((9, 4))), r"weights: expected a numeric matrix of shape \(10, 4\)"),
    (lambda: layers.GlobalAveragePooling1D(data_format="nhwc"), "data_format"),
    (lambda: layers.GlobalMaxPooling1D(keepdims=1), "keepdims"),
])
def test_bad_arguments_are_refused_by_name(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_pooling_needs_sequences():
    with pytest.raises(ValueError, match=r"expected inputs of shape \(batch, steps, features\)"):
        gpunn.Sequential([gpunn.Input(shape=(6,)), layers.GlobalAveragePooling1D()])


def test_input_length_is_deprecated_as_in_keras():
    with pytest.warns(UserWarning, match="input_length"):
        layer = layers.Embedding(V, D, input_length=T)
    assert "input_length" not in layer.get_config()


# ------------------------------------------------------------------------------------- masks


def test_a_layer_without_mask_support_drops_the_mask_with_keras_warning(rng):
    with pytest.warns(UserWarning, match="does not support masking"):
        model = gpunn.Sequential([gpunn.Input(shape=(T,)), layers.Embedding(V, D, mask_zero=True),
                                  layers.Flatten(), layers.Dense(1)])
    assert model._output_mask_source is None
    model = gpunn.Sequential([gpunn.Input(shape=(T,)), layers.Embedding(V, D, mask_zero=True),
                              layers.Dense(4), layers.Dropout(0.5), layers.GlobalAveragePooling1D(), layers.Dense(1)])
    assert model.layers[3].mask_source is model.layers[0]  # passed on by Dense and Dropout, as in Keras


def test_the_masked_average_after_dense_on_sequences(rng):
    model = gpunn.Sequential([gpunn.Input(shape=(T,)), layers.Embedding(V, D, mask_zero=True),
                              layers.Dense(4), layers.GlobalAveragePooling1D()])
    ids = token_ids(rng, rows=5)
    table = model.layers[0].get_weights()[0]
    kernel, bias = model.layers[1].get_weights()
    steps = table[ids] @ kernel + bias
    keep = (ids != 0)[..., None]
    np.testing.assert_allclose(model.predict(ids, verbose=0), (steps * keep).sum(1) / keep.sum(1), rtol=1e-5)


@pytest.mark.parametrize("layer,match", [(layers.BatchNormalization, "mean and variance"),
                                         (layers.Softmax, "softmax")])
def test_layers_that_would_use_the_mask_differently_refuse_it(layer, match):
    with pytest.raises(ValueError, match=match):
        gpunn.Sequential([gpunn.Input(shape=(T,)), layers.Embedding(V, D, mask_zero=True), layer()])


def test_a_mask_reaching_the_loss_leaves_the_padding_out(rng):
    """(Keras's apply_mask; compared with Keras itself in test_masked_step_losses.py)"""
    model = gpunn.Sequential([gpunn.Input(shape=(T,)), layers.Embedding(V, D, mask_zero=True), layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    ids = token_ids(rng)
    targets = rng.standard_normal((12, T, 1)).astype(np.float32)
    model.fit(ids, targets, verbose=0)
    predicted = model.predict(ids, verbose=0)
    kept = ids != 0
    masked_mse = ((predicted[..., 0] - targets[..., 0]) ** 2 * kept).sum() / kept.sum()
    assert model.evaluate(ids, targets, batch_size=12, verbose=0) == pytest.approx(masked_mse, rel=1e-5)


def test_a_pooling_layer_called_alone_after_a_model_uses_no_stale_mask(rng):
    model = pooling_model(mask_zero=True)
    ids = token_ids(rng, rows=4)
    model.predict(ids, verbose=0)
    pool = model.layers[1]
    x = rng.standard_normal((4, T, D)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(pool(x)), x.mean(1), rtol=1e-6)
    masked = model.predict(ids, verbose=0)  # and the model links it again
    assert pool.mask_source is model.layers[0]
    assert np.isfinite(masked).all()


# ------------------------------------------------------------------------------- configs and files


def test_configs_round_trip_with_keras_names():
    embedding = layers.Embedding(V, D, mask_zero=True, embeddings_regularizer="l2", name="emb")
    config = embedding.get_config()
    assert config["input_dim"] == V and config["output_dim"] == D and config["mask_zero"] is True
    again = layers.Embedding.from_config(config)
    assert again.get_config() == config
    pool = layers.GlobalAveragePooling1D(keepdims=True)
    assert pool.get_config()["data_format"] == "channels_last" and pool.get_config()["keepdims"] is True
    model = pooling_model(mask_zero=True)
    copy = gpunn.models.model_from_json(model.to_json())
    assert [type(layer).__name__ for layer in copy.layers] == [type(layer).__name__ for layer in model.layers]
    assert copy.layers[0].input_dim == V and copy.layers[0].mask_zero


KERAS_FILES = r'''
import json, sys
import numpy as np
import keras
task = json.loads(sys.stdin.read())
ids = np.array(task["ids"])
mine = keras.saving.load_model(task["gpunn_file"])
out = {"gpunn_file_in_keras": mine.predict(ids, verbose=0).tolist()}
model = keras.Sequential([keras.Input(shape=(ids.shape[1],), dtype="int32"),
                          keras.layers.Embedding(task["vocabulary"], 3, mask_zero=True),
                          keras.layers.GlobalAveragePooling1D(), keras.layers.Dense(2)])
model.save(task["keras_file"])
model.save(task["keras_h5"])
out["keras_prediction"] = model.predict(ids, verbose=0).tolist()
print(json.dumps(out))
'''


def test_model_files_load_both_ways_with_keras(tmp_path, rng):
    ids = token_ids(rng, rows=5)
    model = gpunn.Sequential([gpunn.Input(shape=(T,), dtype="int32"), layers.Embedding(V, 3, mask_zero=True),
                              layers.GlobalAveragePooling1D(), layers.Dense(2)])
    assert model.dtype == "float32"  # the ids' dtype; the model computes in float32
    mine = tmp_path / "mine.keras"
    model.save(mine)
    result = run_keras(KERAS_FILES, {"ids": ids.tolist(), "gpunn_file": str(mine), "vocabulary": V,
                                     "keras_file": str(tmp_path / "theirs.keras"),
                                     "keras_h5": str(tmp_path / "theirs.h5")})
    np.testing.assert_allclose(result["gpunn_file_in_keras"], model.predict(ids, verbose=0), rtol=1e-5, atol=1e-7)
    for name in ("theirs.keras", "theirs.h5"):
        loaded = gpunn.models.load_model(tmp_path / name)
        assert loaded.layers[0].mask_zero and loaded.dtype == "float32"
        assert loaded.get_config()["layers"][0]["config"]["dtype"] == "int32"
        np.testing.assert_allclose(loaded.predict(ids, verbose=0), result["keras_prediction"], rtol=1e-5, atol=1e-7,
                                   err_msg=name)
    config = json.loads(model.to_json())["config"]
    assert config["layers"][0]["config"]["dtype"] == "int32" and config["layers"][1]["config"]["input_dim"] == V
    clone = gpunn.models.clone_model(model)
    assert clone.get_config()["layers"][0]["config"]["dtype"] == "int32"
