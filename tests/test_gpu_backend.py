"""The CuPy backend against the NumPy one: same seed, same results within float32 tolerance.

Marked ``gpu``: skipped, with the reason, where CuPy finds no GPU (``python -m pytest -m gpu`` is the GPU suite).
"""
import numpy as np
import pytest

import gpunn
from gpunn import layers

pytestmark = pytest.mark.gpu


def _model(activation="relu", dropout=0.0, out_activation="softmax", units=10, dtype="float32"):
    stack = [gpunn.Input(shape=(64,)), layers.Dense(48, activation=activation, dtype=dtype)]
    if dropout:
        stack.append(layers.Dropout(dropout))
    stack += [layers.Dense(32, activation=activation, dtype=dtype),
              layers.Dense(units, activation=out_activation, dtype=dtype)]
    return gpunn.Sequential(stack)


def _train(backend, optimizer, activation="relu", dropout=0.0, epochs=2, dtype="float32"):
    (x, y), _ = gpunn.datasets.digits.load_data()
    x = x.reshape(len(x), -1)
    with gpunn.use_backend(backend):
        gpunn.utils.set_random_seed(7)
        model = _model(activation, dropout, dtype=dtype)
        model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        history = model.fit(x, y, batch_size=64, epochs=epochs, verbose=0)
        return model, history.history, model.predict(x[:100], verbose=0)


# RMSprop moves a weight by lr * g / sqrt(ms) whatever the size of g: a gradient at rounding level (a pixel that is
# almost always 0, a unit that is almost never active) still moves its weight by about 3 lr, the way its rounding
# points, and cuBLAS sums in another order than the CPU's BLAS. In float64 that level is 1e-16 rather than 1e-7.
COMPARED_IN = {"rmsprop": "float64"}


@pytest.mark.parametrize("optimizer", ["sgd", "rmsprop", "adagrad", "adam", "adamw", "nadam", "adamax", "adadelta",
                                       "lion", "ftrl", "lamb", "schedulefreeadamw"])
def test_training_matches_numpy(optimizer):
    dtype = COMPARED_IN.get(optimizer, "float32")
    cpu_model, cpu_hist, cpu_pred = _train("numpy", optimizer, dtype=dtype)
    gpu_model, gpu_hist, gpu_pred = _train("cupy", optimizer, dtype=dtype)
    assert gpu_model.ops.name == "cupy" and cpu_model.ops.name == "numpy"
    for a, b in zip(cpu_model.get_weights(), gpu_model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=2e-3, atol=2e-4)
    np.testing.assert_allclose(cpu_hist["loss"], gpu_hist["loss"], rtol=1e-3)
    np.testing.assert_allclose(cpu_pred, gpu_pred, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "elu", "gelu", "sigmoid", "tanh", "silu"])
def test_each_activation_matches_numpy(activation):
    cpu_model, _, _ = _train("numpy", "adam", activation, epochs=1)
    gpu_model, _, _ = _train("cupy", "adam", activation, epochs=1)
    for a, b in zip(cpu_model.get_weights(), gpu_model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=2e-3, atol=2e-4)


def test_dropout_mask_is_the_same_on_both_backends():
    cpu_model, _, _ = _train("numpy", "sgd", dropout=0.3, epochs=1)
    gpu_model, _, _ = _train("cupy", "sgd", dropout=0.3, epochs=1)
    for a, b in zip(cpu_model.get_weights(), gpu_model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=2e-3, atol=2e-4)


def test_binary_classifier_and_batchnorm_train_on_gpu():
    (x, y), (xt, yt) = gpunn.datasets.digits.load_data()
    x, xt = x.reshape(len(x), -1), xt.reshape(len(xt), -1)
    with gpunn.use_backend("cupy"):
        gpunn.utils.set_random_seed(5)
        model = gpunn.Sequential([gpunn.Input(shape=(64,)), layers.Dense(32, activation="relu"),
                                  layers.BatchNormalization(), layers.Dense(1, activation="sigmoid")])
        model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
        model.fit(x, (y % 2 == 0).astype("float32"), epochs=5, batch_size=32, verbose=0)
        _, accuracy = model.evaluate(xt, (yt % 2 == 0).astype("float32"), verbose=0)
    assert accuracy > 0.85  # the same recipe on NumPy: 0.90-0.93 over seeds


def test_save_on_gpu_load_on_cpu(tmp_path):
    gpu_model, _, gpu_pred = _train("cupy", "adam", epochs=1)
    gpu_model.save(tmp_path / "model.h5")
    with gpunn.use_backend("numpy"):
        restored = gpunn.models.load_model(tmp_path / "model.h5")
    (x, _), _ = gpunn.datasets.digits.load_data()
    np.testing.assert_allclose(restored.predict(x.reshape(len(x), -1)[:100], verbose=0), gpu_pred, rtol=1e-4,
                               atol=1e-5)


def test_out_of_memory_names_the_batch_size():
    with gpunn.use_backend("cupy") as ops:
        hidden = 100_000
        # Small inputs, but the hidden activations alone would need twice the free device memory.
        batch = int(2 * ops.free_bytes() // (hidden * 4)) + 1
        model = gpunn.Sequential([gpunn.Input(shape=(16,)), layers.Dense(hidden, activation="relu"),
                                  layers.Dense(10, activation="softmax")])
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
        x = np.zeros((batch, 16), dtype="float32")
        y = np.zeros(batch, dtype="int64")
        with pytest.raises(MemoryError, match=f"batch_size={batch}"):
            model.train_on_batch(x, y)


def test_tf32_is_opt_in():
    with gpunn.use_backend("cupy") as ops:
        assert ops.allow_tf32 is False
        ops.set_tf32(True)
        try:
            assert ops.allow_tf32 is True
        finally:
            ops.set_tf32(False)


def _train_text_classifier(backend, jit=False):
    """The embedding-bag model of the text tutorials: padded ids, Embedding(mask_zero=True), the masked mean."""
    rng = np.random.default_rng(3)
    ids = rng.integers(1, 300, size=(600, 40))
    for row, length in enumerate(rng.integers(5, 41, size=600)):
        ids[row, length:] = 0
    y = (ids[:, :3].mean(axis=1) > 150).astype("float32")
    with gpunn.use_backend(backend):
        gpunn.utils.set_random_seed(5)
        model = gpunn.Sequential([gpunn.Input(shape=(40,)), layers.Embedding(300, 16, mask_zero=True),
                                  layers.GlobalAveragePooling1D(), layers.Dense(16, activation="relu"),
                                  layers.Dense(1, activation="sigmoid")])
        model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"], jit_compile=jit)
        history = model.fit(ids, y, batch_size=32, epochs=2, verbose=0)
        return model, history.history, model.predict(ids[:50], verbose=0)


def test_embedding_and_masked_pooling_match_numpy():
    cpu_model, cpu_hist, cpu_pred = _train_text_classifier("numpy")
    gpu_model, gpu_hist, gpu_pred = _train_text_classifier("cupy")
    assert gpu_model.ops.name == "cupy"
    for a, b in zip(cpu_model.get_weights(), gpu_model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=2e-3, atol=2e-4)  # the table's atomics add in any order
    np.testing.assert_allclose(cpu_hist["loss"], gpu_hist["loss"], rtol=1e-3)
    np.testing.assert_allclose(cpu_pred, gpu_pred, rtol=1e-3, atol=1e-4)


def test_embedding_model_captured_as_a_graph_trains_as_eager():
    import warnings

    from gpunn.trainer.train_step import GraphFallbackWarning

    eager = _train_text_classifier("cupy", jit=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", GraphFallbackWarning)  # a refused capture must fail here, not hide
        graph = _train_text_classifier("cupy", jit=True)
    for a, b in zip(eager[0].get_weights(), graph[0].get_weights()):
        np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-5)


def test_alpha_spatial_and_shaped_dropout_and_unit_norm_match_numpy():
    """Their masks come from the same counter-based hash on both backends: training agrees to float32 rounding."""
    rng = np.random.default_rng(8)
    x, y = rng.integers(0, 50, (300, 12)), rng.integers(0, 2, 300)
    results = []
    for backend in ("numpy", "cupy"):
        with gpunn.use_backend(backend):
            gpunn.utils.set_random_seed(8)
            model = gpunn.Sequential([
                gpunn.Input(shape=(12,)), layers.Embedding(50, 8), layers.SpatialDropout1D(0.3),
                layers.GlobalAveragePooling1D(), layers.Dense(16, activation="selu"), layers.AlphaDropout(0.1),
                layers.Dense(8), layers.UnitNormalization(), layers.Dropout(0.2, noise_shape=(None, 1)),
                layers.Dense(1, activation="sigmoid")])
            model.compile(optimizer="adam", loss="binary_crossentropy")
            history = model.fit(x, y, batch_size=32, epochs=2, verbose=0)
            results.append((model.get_weights(), history.history["loss"]))
    (cpu_weights, cpu_loss), (gpu_weights, gpu_loss) = results
    for a, b in zip(cpu_weights, gpu_weights):
        np.testing.assert_allclose(a, b, rtol=2e-3, atol=2e-4)
    np.testing.assert_allclose(cpu_loss, gpu_loss, rtol=1e-3)


def _train_graph(backend, jit=False):
    """A functional graph (skip connection, every merge layer, the input read again) trained on digits."""
    (x, y), _ = gpunn.datasets.digits.load_data()
    x = x.reshape(len(x), -1)
    with gpunn.use_backend(backend):
        gpunn.utils.set_random_seed(9)
        inputs = gpunn.Input(shape=(64,))
        h = layers.Dense(32, activation="relu")(inputs)
        r = layers.Dropout(0.2)(layers.BatchNormalization()(layers.Dense(32, activation="tanh")(h)))
        merged = [merge()([h, r]) for merge in (layers.Add, layers.Subtract, layers.Multiply, layers.Average,
                                                 layers.Maximum, layers.Minimum)]
        wide = layers.Concatenate()([inputs] + merged)
        model = gpunn.Model(inputs, layers.Dense(10, activation="softmax")(wide))
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", jit_compile=jit)
        history = model.fit(x, y, batch_size=64, epochs=2, verbose=0)
        return model, history.history, model.predict(x[:100], verbose=0)


def test_a_functional_graph_matches_numpy_and_its_captured_step_matches_eager():
    import warnings

    from gpunn.trainer.train_step import GraphFallbackWarning

    cpu_model, cpu_hist, cpu_pred = _train_graph("numpy")
    gpu_model, gpu_hist, gpu_pred = _train_graph("cupy")
    for a, b in zip(cpu_model.get_weights(), gpu_model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=2e-3, atol=2e-4)
    np.testing.assert_allclose(cpu_hist["loss"], gpu_hist["loss"], rtol=1e-3)
    np.testing.assert_allclose(cpu_pred, gpu_pred, rtol=1e-3, atol=1e-4)
    with warnings.catch_warnings():
        warnings.simplefilter("error", GraphFallbackWarning)  # a refused capture must fail here, not hide
        graph = _train_graph("cupy", jit=True)
    for a, b in zip(gpu_model.get_weights(), graph[0].get_weights()):
        np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-5)


def _train_two_inputs(backend, jit=False):
    (x, y), _ = gpunn.datasets.digits.load_data()
    x = x.reshape(len(x), -1).astype("float32")
    with gpunn.use_backend(backend):
        gpunn.utils.set_random_seed(10)
        left, right = gpunn.Input(shape=(40,)), gpunn.Input(shape=(24,))
        deep = layers.Dense(32, activation="relu")(layers.Dense(32, activation="relu")(right))
        model = gpunn.Model([left, right], layers.Dense(10, activation="softmax")(layers.Concatenate()([left, deep])))
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", jit_compile=jit)
        model.fit((x[:, :40], x[:, 40:]), y, batch_size=64, epochs=2, verbose=0)
        return model, model.predict([x[:100, :40], x[:100, 40:]], verbose=0)


def test_two_inputs_match_numpy_and_their_captured_step_matches_eager():
    import warnings

    from gpunn.trainer.train_step import GraphFallbackWarning

    cpu_model, cpu_pred = _train_two_inputs("numpy")
    gpu_model, gpu_pred = _train_two_inputs("cupy")
    np.testing.assert_allclose(cpu_pred, gpu_pred, rtol=1e-3, atol=1e-4)
    with warnings.catch_warnings():
        warnings.simplefilter("error", GraphFallbackWarning)  # a refused capture must fail here, not hide
        graph_model, graph_pred = _train_two_inputs("cupy", jit=True)
    for a, b in zip(gpu_model.get_weights(), graph_model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-5)


def _train_two_outputs(backend, jit=False, variant="plain"):
    """``variant`` "untrained": a third output left without a loss, and sample weights per output (each output's
    column of the weights copied on the device)."""
    (x, y), _ = gpunn.datasets.digits.load_data()
    x = x.reshape(len(x), -1).astype("float32")
    rng = np.random.default_rng(5)
    weights = [rng.uniform(0.5, 2.0, len(x)), rng.uniform(0.5, 2.0, len(x))]
    with gpunn.use_backend(backend):
        gpunn.utils.set_random_seed(12)
        inputs = gpunn.Input(shape=(64,))
        hidden = layers.Dense(32, activation="relu")(inputs)
        digit = layers.Dense(10, activation="softmax", name="digit")(layers.Dense(32, activation="relu")(hidden))
        ink = layers.Dense(1, name="ink")(hidden)  # an auxiliary regression head: how much ink the image has
        targets, extra = [y, x.mean(axis=1, keepdims=True)], {}
        if variant == "plain":
            model = gpunn.Model(inputs, [digit, ink])
            model.compile(optimizer="adam", loss=["sparse_categorical_crossentropy", "mse"], loss_weights=[1.0, 0.1],
                          metrics=[["accuracy"], ["mae"]], jit_compile=jit)
        else:
            model = gpunn.Model(inputs, [digit, ink, layers.Dense(2, name="spare")(hidden)])
            model.compile(optimizer="adam", loss=["sparse_categorical_crossentropy", "mse", None],
                          loss_weights=[1.0, 0.1, None], weighted_metrics=[["accuracy"], ["mae"], None],
                          jit_compile=jit)
            extra = {"sample_weight": weights}
        history = model.fit(x, targets, batch_size=64, epochs=2, verbose=0, **extra)
        return model, history.history, model.predict(x[:100], verbose=0)


@pytest.mark.parametrize("variant", ["plain", "untrained"])
def test_two_outputs_match_numpy_and_their_captured_step_matches_eager(variant):
    """Two outputs: the packed targets split on the device (class ids cast to int64), both losses' gradients
    into one backward pass, both outputs' loss and metric sums, inside one captured graph."""
    import warnings

    from gpunn.trainer.train_step import GraphFallbackWarning

    cpu_model, cpu_hist, cpu_pred = _train_two_outputs("numpy", variant=variant)
    gpu_model, gpu_hist, gpu_pred = _train_two_outputs("cupy", variant=variant)
    for key in cpu_hist:
        np.testing.assert_allclose(cpu_hist[key], gpu_hist[key], rtol=1e-3, atol=1e-4, err_msg=key)
    for a, b in zip(cpu_pred, gpu_pred):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4)
    with warnings.catch_warnings():
        warnings.simplefilter("error", GraphFallbackWarning)  # a refused capture must fail here, not hide
        graph_model, graph_hist, _ = _train_two_outputs("cupy", jit=True, variant=variant)
    for a, b in zip(gpu_model.get_weights(), graph_model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-5)
    for key in gpu_hist:
        np.testing.assert_allclose(gpu_hist[key], graph_hist[key], rtol=1e-4, atol=1e-5, err_msg=key)


def test_custom_losses_metrics_and_layers_match_numpy_and_replay_between_graphs():
    import warnings

    from test_graph_segments import train_with_users_own_objects

    from gpunn.trainer.train_step import GraphFallbackWarning

    cpu_model, cpu_hist = train_with_users_own_objects("numpy")
    gpu_model, gpu_hist = train_with_users_own_objects("cupy")
    for key in cpu_hist:
        np.testing.assert_allclose(cpu_hist[key], gpu_hist[key], rtol=1e-3, atol=1e-4, err_msg=key)
    with warnings.catch_warnings():
        warnings.simplefilter("error", GraphFallbackWarning)  # graphs split around the host calls, not refused
        graph_model, graph_hist = train_with_users_own_objects("cupy", jit=True)
    for a, b in zip(gpu_model.get_weights(), graph_model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-5)
    for key in gpu_hist:
        np.testing.assert_allclose(gpu_hist[key], graph_hist[key], rtol=1e-4, atol=1e-5, err_msg=key)


def test_a_predict_step_of_ones_own_gets_device_outputs_back_as_host_arrays():
    class Scored(gpunn.Model):
        def __init__(self):
            super().__init__()
            self.dense = layers.Dense(3, activation="softmax")

        def call(self, x):
            return self.dense(x)

        def predict_step(self, data):
            probabilities = self(data)
            return {"probabilities": probabilities, "label": gpunn.ops.argmax(probabilities, axis=-1)}

    x = np.random.default_rng(3).normal(size=(37, 5)).astype("float32")
    outputs = {}
    for backend in ("numpy", "cupy"):
        with gpunn.use_backend(backend):
            gpunn.utils.set_random_seed(8)
            outputs[backend] = Scored().predict(x, batch_size=8, verbose=0)
    assert isinstance(outputs["cupy"]["probabilities"], np.ndarray)
    np.testing.assert_allclose(outputs["cupy"]["probabilities"], outputs["numpy"]["probabilities"], rtol=1e-5,
                               atol=1e-6)
    np.testing.assert_array_equal(outputs["cupy"]["label"], outputs["numpy"]["label"])


def test_keras_ops_between_layers_train_on_cupy_as_on_numpy_and_replay_between_graphs():
    import warnings

    from test_symbolic_ops import _built, _data

    from gpunn.trainer.train_step import GraphFallbackWarning

    x, y = _data(40)
    runs = {}
    for backend, jit in (("numpy", False), ("cupy", False), ("cupy", True)):
        with gpunn.use_backend(backend), warnings.catch_warnings():
            warnings.simplefilter("error", GraphFallbackWarning)  # graphs split around the operations' host calls
            model = _built()
            model.compile(optimizer="adam", loss="mse", jit_compile=jit)
            history = model.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
            runs[backend, jit] = (model.get_weights(), history.history["loss"])
    for key in (("cupy", False), ("cupy", True)):
        np.testing.assert_allclose(runs[key][1], runs["numpy", False][1], rtol=1e-4, err_msg=str(key))
        for ours, reference in zip(runs[key][0], runs["numpy", False][0]):
            np.testing.assert_allclose(ours, reference, rtol=2e-4, atol=2e-5, err_msg=str(key))
