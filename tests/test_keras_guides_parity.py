"""Code of Keras's guides and recipes, run by Keras 3 and by gpunn from one script: ``run_eagerly``,
``get_compile_config`` / ``compile_from_config``, ``keras.utils.to_categorical``'s dtype, ``_keras_mask`` on
symbolic values and on each tensor of a layer returning several, and a ``.keras`` file of a layer whose
``get_config`` does not call ``super().get_config()`` loading in Keras."""
from __future__ import annotations

import numpy as np
import pytest
from helpers import numpy_backend, run_script_both_ways  # noqa: F401  (fixture)

SCALE = r'''
def define_scale(keras):
    # the serialization guide's layer, whose get_config() does not call super().get_config()
    @keras.saving.register_keras_serializable(package="GuideParity")
    class Scale(keras.layers.Layer):
        def __init__(self, factor):
            super().__init__()
            self.factor = factor

        def call(self, x):
            return x * self.factor

        def get_config(self):
            return {"factor": self.factor}

    return Scale
'''

SCRIPT = SCALE + r'''
import json, sys
import numpy as np

def run(keras, folder):
    out = {"folder": folder}
    ops, layers = keras.ops, keras.layers
    model = keras.Sequential([keras.Input((3,)), layers.Dense(2)])
    out["compile_config_before_compile"] = model.get_compile_config()
    model.compile(keras.optimizers.Adam(0.5), "mse", metrics=["mae"], run_eagerly=True, steps_per_execution=2)
    out["run_eagerly"] = [model.run_eagerly, model.jit_compile]
    model.run_eagerly = False
    out["run_eagerly_set"] = model.run_eagerly
    config = model.get_compile_config()
    out["compile_config_keys"] = sorted(config)
    out["compile_config"] = [config["optimizer"]["class_name"], config["metrics"], config["run_eagerly"],
                             config["steps_per_execution"]]
    other = keras.Sequential([keras.Input((3,)), layers.Dense(2)])
    other.compile_from_config(config)
    out["compiled_from_config"] = [type(other.optimizer).__name__, float(other.optimizer.learning_rate),
                                   other.steps_per_execution, other.run_eagerly]

    out["to_categorical"] = [str(keras.utils.to_categorical(labels, 4).dtype)
                             for labels in ([0, 3], np.array([1, 2], "uint8"), np.array([[1], [0]]))]

    class MyActivation(layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.supports_masking = True

        def call(self, inputs):
            return ops.relu(inputs)

    inputs = keras.Input((None,), dtype="int32")
    embedded = layers.Embedding(50, 4, mask_zero=True)(inputs)
    activated = MyActivation()(embedded)
    pooled = layers.GlobalAveragePooling1D()(activated)
    out["symbolic_masks"] = [None if getattr(value, "_keras_mask", None) is None else
                             [list(value._keras_mask.shape), str(value._keras_mask.dtype)]
                             for value in (inputs, embedded, activated, pooled)]
    fixed = layers.Masking()(keras.Input((6, 3)))
    out["masking_mask_shape"] = list(fixed._keras_mask.shape)

    class TemporalSplit(layers.Layer):
        def call(self, inputs):
            return ops.split(inputs, 2, axis=1)

        def compute_mask(self, inputs, mask=None):
            if mask is None:
                return None
            return ops.split(mask, 2, axis=1)

    padded = keras.utils.pad_sequences([[7, 6, 7], [7, 8, 3, 5, 9], [8, 9, 1, 6, 1, 9]], padding="post")
    masked = layers.Masking()(ops.cast(ops.tile(ops.expand_dims(padded, -1), [1, 1, 2]), "float32"))
    halves = TemporalSplit()(masked)
    out["eager_split_masks"] = [np.asarray(half._keras_mask).astype(int).tolist() for half in halves]

    Scale = define_scale(keras)
    x = keras.Input((4,))
    scaled = keras.Model(x, layers.Dense(1, kernel_initializer="ones")(Scale(0.5)(x)))
    scaled.save(f"{folder}/scaled.keras")
    import zipfile
    with zipfile.ZipFile(f"{folder}/scaled.keras") as archive:
        entries = json.loads(archive.read("config.json"))["config"]["layers"]
    out["custom_config_in_file"] = [entry["config"] for entry in entries if entry["class_name"] == "Scale"]
    out["custom_reloaded"] = keras.models.load_model(f"{folder}/scaled.keras").predict(
        np.ones((1, 4), "float32"), verbose=0).tolist()

    # The functional guide's mix-and-match: a layer holding a model of input (None, units), called on 5 steps
    units = 4
    seq_inputs = keras.Input((None, units))
    classifier = keras.Model(seq_inputs, layers.Dense(1)(layers.GlobalAveragePooling1D()(seq_inputs)))

    class CustomRNN(layers.Layer):
        def __init__(self):
            super().__init__()
            self.units = units
            self.projection_1 = layers.Dense(units=units, activation="tanh")
            self.projection_2 = layers.Dense(units=units, activation="tanh")
            self.classifier = classifier

        def call(self, inputs):
            outputs = []
            state = ops.zeros(shape=(inputs.shape[0], self.units))
            for t in range(inputs.shape[1]):
                y = self.projection_1(inputs[:, t, :]) + self.projection_2(state)
                state = y
                outputs.append(y)
            return self.classifier(ops.stack(outputs, axis=1))

    rnn = CustomRNN()
    rng = np.random.default_rng(3)
    sequences = rng.normal(size=(6, 5, 3)).astype("float32")
    rnn(sequences[:1])
    rnn.set_weights([0.5 * rng.normal(size=w.shape).astype("float32") for w in rnn.get_weights()])
    out["mix_and_match"] = np.round(np.asarray(rnn(sequences), "float64"), 5).tolist()

    # The saving guide's build() taking more than the shape, called by the user before the layer joins a model
    class LayerWithCustomBuild(layers.Layer):
        def __init__(self, units=32, **kwargs):
            super().__init__(**kwargs)
            self.units = units

        def call(self, inputs):
            return ops.matmul(inputs, self.w) + self.b

        def build(self, input_shape, layer_init):
            super().build(input_shape)
            self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer=layer_init, trainable=True)
            self.b = self.add_weight(shape=(self.units,), initializer=layer_init, trainable=True)

    custom_layer = LayerWithCustomBuild(units=3)
    custom_layer.build(input_shape=(8,), layer_init=keras.initializers.Constant(0.25))
    built_model = keras.Sequential([custom_layer, layers.Dense(1, kernel_initializer="ones")])
    out["custom_build_arguments"] = np.asarray(built_model(np.ones((2, 8), "float32"))).tolist()

    # Layers held in a dict assigned empty and filled afterwards (keras-io's variable selection network): their
    # weights where Keras lists them, so that set_weights(keras_model.get_weights()) puts each where it belongs
    class Block(layers.Layer):
        def __init__(self):
            super().__init__()
            self.by_name = {}
            self.by_name["a"] = layers.Dense(2, name="in_dict")
            self.by_name.update({"b": layers.Dense(2, name="updated")})
            self.plain = layers.Dense(2, name="plain")

        def call(self, x):
            return self.plain(self.by_name["b"](self.by_name["a"](x)))

    class Holder(keras.Model):
        def __init__(self):
            super().__init__()
            self.heads = {}
            self.heads["first"] = layers.Dense(3, name="head")
            self.block = Block()

        def call(self, x):
            return self.block(self.heads["first"](x))

    block_input = keras.Input((2,))
    out["dict_tracking"] = [[w.path for w in keras.Model(block_input, Block()(block_input)).weights]]
    holder = Holder()
    holder(np.ones((1, 2), "float32"))
    out["dict_tracking"].append([w.path for w in holder.weights])

    # Axes of any length: shown as None by the values that keep them, and in summary(), as Keras shows them
    tokens = keras.Input((None,), dtype="int32")
    embedded_tokens = layers.Embedding(10, 4)(tokens)
    dense_tokens = layers.Dense(3)(embedded_tokens)
    joined_tokens = layers.Concatenate()([dense_tokens, layers.Activation("relu")(dense_tokens)])
    pooled_tokens = layers.GlobalAveragePooling1D()(joined_tokens)
    out["variable_shapes"] = [list(value.shape) for value in
                              (embedded_tokens, dense_tokens, joined_tokens, pooled_tokens)]
    lines = []
    keras.Model(tokens, layers.Dense(1)(pooled_tokens)).summary(print_fn=lambda line, *a, **k: lines.append(line))
    rows = [line.split("\u2502")[1:-1] for line in "\n".join(lines).splitlines() if line.startswith("\u2502")]
    out["variable_summary_shapes"] = [cells[1].strip() for cells in rows if cells[1].strip()]

    # The debugging tips' counting layer: called on its own, its call() runs once per call
    class Probe(layers.Layer):
        calls = 0

        def build(self, input_shape):
            self.kernel = self.add_weight(shape=(input_shape[-1], 3), initializer="ones", name="kernel")

        def call(self, inputs):
            Probe.calls += 1
            return ops.matmul(inputs, self.kernel)

    probe = Probe()
    counts = []
    for _ in range(2):
        result = probe(np.ones((2, 5), "float32"))
        counts.append(Probe.calls)
    out["eager_call_counts"] = [counts, np.asarray(result).tolist()]

    # A subclassed model's summary lists the layers it holds (the subclassing guide's VAE, in small)
    class Encoder(layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.mean = layers.Dense(2)
            self.log_var = layers.Dense(2)

        def call(self, x):
            return self.mean(x), self.log_var(x)

    class VAE(keras.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.encoder = Encoder()
            self.decoder = layers.Dense(4)

        def call(self, x):
            z_mean, z_log_var = self.encoder(x)
            self.add_loss(-0.5 * ops.mean(z_log_var - ops.square(z_mean) - ops.exp(z_log_var) + 1))
            return self.decoder(z_mean)

    vae = VAE()
    vae(np.zeros((1, 4), "float32"))
    lines = []
    vae.summary(print_fn=lambda line, *args, **kwargs: lines.append(line))
    text = "\n".join(lines)
    rows = [line.split("\u2502")[1:-1] for line in text.splitlines() if line.startswith("\u2502")]
    out["subclassed_summary"] = [[cells[0].strip(), cells[-1].strip()] for cells in rows]
    out["subclassed_summary_columns"] = "Connected to" in text
    return out
'''


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    return run_script_both_ways(SCRIPT, tmp_path_factory)


@pytest.mark.parametrize("case", ["compile_config_before_compile", "run_eagerly", "run_eagerly_set",
                                  "compile_config_keys", "compile_config", "compiled_from_config", "to_categorical",
                                  "symbolic_masks", "masking_mask_shape", "eager_split_masks",
                                  "custom_config_in_file", "custom_reloaded", "mix_and_match",
                                  "subclassed_summary", "subclassed_summary_columns", "custom_build_arguments",
                                  "eager_call_counts", "dict_tracking", "variable_shapes",
                                  "variable_summary_shapes"])
def test_as_in_keras(both, case):
    ours, theirs = both
    assert ours[case] == theirs[case]


def test_a_file_of_gpunn_with_a_minimal_custom_config_loads_in_keras(both):
    """What Keras's guide does with the file it saved, done with gpunn's file (the script's ``Scale``): Keras's
    load_model calls Scale(**config), so no key Scale.__init__ does not take may be added to its config."""
    from helpers import run_keras

    ours, _ = both
    loaded = run_keras(SCALE + '''
import json, sys
import numpy as np
import keras

define_scale(keras)
path = json.loads(sys.stdin.read())
print(json.dumps(keras.models.load_model(path).predict(np.ones((1, 4), "float32"), verbose=0).tolist()))
''', ours["folder"] + "/scaled.keras")
    assert loaded == [[2.0]]


def test_masks_of_several_tensors_in_a_model_are_refused_by_name(numpy_backend):
    """gpunn cannot carry a mask per tensor of a layer returning several: an error, not a mean over the padding."""
    import gpunn
    from gpunn import layers, ops

    class TemporalSplit(layers.Layer):
        def call(self, inputs):
            return ops.split(inputs, 2, axis=1)

        def compute_mask(self, inputs, mask=None):
            return None if mask is None else ops.split(mask, 2, axis=1)

    inputs = gpunn.Input((6,), dtype="int32")
    first, second = TemporalSplit()(layers.Embedding(10, 2, mask_zero=True)(inputs))
    pooled = layers.Concatenate()([layers.GlobalAveragePooling1D()(first), layers.GlobalAveragePooling1D()(second)])
    with pytest.raises(ValueError, match="temporal_split.*returns several tensors and its compute_mask gives them "
                                         "masks"):
        gpunn.Model(inputs, pooled)(np.array([[1, 2, 3, 4, 0, 0]]))


def test_metrics_names_are_known_from_compile_before_any_data(numpy_backend, tmp_path):
    """keras-io's structured-data examples zip ``metrics_names`` with what ``evaluate`` returns on a model just
    loaded: the names are those of the logs from compile on, not only after a first evaluation. (Keras 3 names
    the compiled metrics 'compile_metrics' as one; gpunn names each, as its logs do.) Not compiled: none."""
    import gpunn
    from gpunn import layers

    model = gpunn.Sequential([gpunn.Input((4,)), layers.Dense(3, activation="softmax")])
    assert model.metrics_names == []
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy", "sparse_top_k_categorical_accuracy"],
                  weighted_metrics=["accuracy"])
    before = model.metrics_names
    x, y = np.ones((4, 4), "float32"), np.array([0, 1, 2, 0])
    results = model.evaluate(x, y, verbose=0)
    assert before == model.metrics_names == ["loss", "accuracy", "sparse_top_k_categorical_accuracy",
                                             "weighted_accuracy"]
    model.save(tmp_path / "model.keras")
    loaded = gpunn.models.load_model(tmp_path / "model.keras")
    assert dict(zip(loaded.metrics_names, loaded.evaluate(x, y, verbose=0))) == dict(zip(before, results))

    inputs = gpunn.Input((4,))
    two = gpunn.Model(inputs, [layers.Dense(2, name="a")(inputs), layers.Dense(1, name="b")(inputs)])
    two.compile("sgd", ["mse", "mse"], metrics=[["mae"], ["mse", "mae"]])
    before = two.metrics_names
    two.evaluate(np.ones((4, 4)), [np.ones((4, 2)), np.ones((4, 1))], verbose=0)
    assert before == two.metrics_names == ["loss", "a_loss", "b_loss", "a_mae", "b_mae", "b_mse"]


def test_dicts_and_lists_a_layer_holds_deep_copy_as_plain_ones(numpy_backend, tmp_path):
    """A get_config returning ``copy.deepcopy(self.cfg)`` of a dict or list the layer holds: plain copies, not
    copies of the layer (whose buffers cannot be copied), before and after the model trains."""
    import copy

    import gpunn
    from gpunn import layers

    class Holds(layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.cfg = {"scale": 2.0}
            self.extra = [1, 2]

        def call(self, x):
            return x * self.cfg["scale"]

        def get_config(self):
            return {**super().get_config(), "cfg": copy.deepcopy(self.cfg), "extra": copy.deepcopy(self.extra)}

    model = gpunn.Sequential([gpunn.Input((2,)), Holds(), layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    model.fit(np.ones((4, 2), "float32"), np.ones((4, 1), "float32"), verbose=0)
    config = model.layers[0].get_config()
    assert type(config["cfg"]) is dict and config["cfg"] == {"scale": 2.0} and type(config["extra"]) is list
    model.save(tmp_path / "holds.keras")


def test_metrics_names_of_a_model_not_built_yet(numpy_backend):
    import gpunn

    model = gpunn.Sequential([gpunn.layers.Dense(1)])
    model.compile("adam", "mse", metrics=["mae"])
    assert model.metrics_names == ["loss", "mae"]
    model.evaluate(np.ones((4, 3)), np.ones((4, 1)), verbose=0)
    assert model.metrics_names == ["loss", "mae"]


# The Keras 3 guides' patterns found differing once: weights made in __init__, a mask given to a layer inside a
# call(), a layer's own build config and a model's own compile config through a .keras file.
GUIDES_SCRIPT = r'''
import json, sys
import numpy as np

def run(keras, folder):
    out = {}
    ops, layers = keras.ops, keras.layers

    # The subclassing guide's first Linear: weights made in __init__ exist before any call
    class Linear(layers.Layer):
        def __init__(self, units=4, input_dim=2):
            super().__init__()
            self.w = self.add_weight(shape=(input_dim, units), initializer="random_normal")
            self.b = self.add_weight(shape=(units,), initializer="zeros")

        def call(self, inputs):
            return ops.matmul(inputs, self.w) + self.b

    linear = Linear()
    out["init_weights_before_call"] = [linear.built, [list(w.shape) for w in linear.get_weights()],
                                       len(linear.weights), len(linear.trainable_weights),
                                       np.asarray(linear.b).tolist()]
    linear.set_weights([np.full((2, 4), 0.5, "float32"), np.arange(4, dtype="float32")])
    linear.w.assign(linear.w * 2.0)
    out["init_weights_set_then_called"] = np.asarray(linear(np.ones((1, 2), "float32"))).tolist()
    model = keras.Sequential([keras.Input((2,)), linear])
    out["init_weights_in_a_model"] = model.predict(np.ones((1, 2), "float32"), verbose=0).tolist()

    # The masking guide's MyLayer, its LSTM a pooling: a mask handed to a layer inside call()
    class MyLayer(layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.embedding = layers.Embedding(input_dim=20, output_dim=3, mask_zero=True)
            self.pool = layers.GlobalAveragePooling1D()

        def call(self, inputs):
            x = self.embedding(inputs)
            return self.pool(x, mask=self.embedding.compute_mask(inputs))

    tokens = np.array([[3, 5, 0, 0], [1, 2, 3, 0], [4, 4, 4, 4]])
    my_layer = MyLayer()
    my_layer(tokens)
    table = np.random.default_rng(0).normal(size=(20, 3)).astype("float32")  # (the same on both sides)
    my_layer.set_weights([table])
    pooled = np.asarray(my_layer(tokens))
    by_hand = [table[row[row > 0]].mean(axis=0) for row in tokens]
    out["mask_inside_call"] = bool(np.allclose(pooled, by_hand, atol=1e-6))
    inputs = keras.Input((4,), dtype="int32")
    head = layers.Dense(1, kernel_initializer="ones")
    classifier = keras.Model(inputs, head(MyLayer()(inputs)))
    classifier.compile("sgd", "mse")
    classifier.set_weights([table, np.ones((3, 1), "float32"), np.zeros(1, "float32")])
    out["mask_inside_call_in_a_model"] = bool(np.allclose(
        classifier.predict(tokens, verbose=0)[:, 0], np.sum(by_hand, axis=1), atol=1e-5))
    history = classifier.fit(tokens, np.ones((3, 1), "float32"), epochs=2, batch_size=3, shuffle=False, verbose=0)
    out["mask_inside_call_trained"] = np.round(history.history["loss"], 5).tolist()

    # One pooling called twice inside call(), each call with its own mask (given by keyword, then by position)
    class TwoMasks(layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dense = layers.Dense(6, kernel_initializer="ones")
            self.pool = layers.GlobalAveragePooling1D()

        def call(self, inputs):
            steps = ops.reshape(self.dense(inputs), (-1, 3, 2))
            first = ops.reshape(inputs, (-1, 3, 2))[:, :, 0]
            return ops.concatenate([self.pool(steps, mask=ops.greater(first, -0.5)),
                                    self.pool(steps, ops.greater(first, 0.5))], axis=-1)

    rows = np.array([[1.0, 0.2, -1.0, 0.3, 0.8, 0.1], [0.0, 1.0, 2.0, -2.0, 0.6, 0.4]], "float32")
    out["masks_of_two_calls"] = np.round(np.asarray(TwoMasks()(rows), "float64"), 5).tolist()

    # The customizing-saving guide: a layer's own build config, a model's own compile config
    @keras.saving.register_keras_serializable(package="GuidesParity")
    class LayerWithCustomBuild(layers.Layer):
        def __init__(self, units=32, **kwargs):
            super().__init__(**kwargs)
            self.units = units

        def call(self, inputs):
            return ops.matmul(inputs, self.w) + self.b

        def get_config(self):
            return dict(units=self.units, **super().get_config())

        def build(self, input_shape, layer_init):
            super().build(input_shape)
            self._input_shape = input_shape
            self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer=layer_init)
            self.b = self.add_weight(shape=(self.units,), initializer=layer_init)
            self.layer_init = layer_init

        def get_build_config(self):
            return {"layer_init": self.layer_init, "input_shape": self._input_shape}

        def build_from_config(self, config):
            self.build(config["input_shape"], config["layer_init"])

    custom = LayerWithCustomBuild(units=3)
    custom.build(input_shape=(5,), layer_init="random_normal")
    built = keras.Sequential([custom, layers.Dense(1)])
    x = np.linspace(-1, 1, 10, dtype="float32").reshape(2, 5)
    predicted = built(x)
    built.save(f"{folder}/custom_build.keras")
    loaded = keras.models.load_model(f"{folder}/custom_build.keras")
    out["own_build_config"] = [loaded.layers[0].layer_init,
                               bool(np.allclose(loaded.predict(x, verbose=0), predicted, atol=1e-6))]

    @keras.saving.register_keras_serializable(package="GuidesParity")
    class ModelWithCustomCompile(keras.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dense = layers.Dense(4, activation="softmax")

        def call(self, inputs):
            return self.dense(inputs)

        def compile(self, optimizer, loss_fn):
            super().compile(optimizer=optimizer, loss=loss_fn)
            self.model_optimizer = optimizer
            self.loss_fn = loss_fn

        def get_compile_config(self):
            return {"model_optimizer": self.model_optimizer, "loss_fn": self.loss_fn}

        def compile_from_config(self, config):
            optimizer = keras.utils.deserialize_keras_object(config["model_optimizer"])
            loss_fn = keras.utils.deserialize_keras_object(config["loss_fn"])
            self.compile(optimizer=optimizer, loss_fn=loss_fn)

    own = ModelWithCustomCompile()
    own.compile(optimizer="SGD", loss_fn="mse")
    own.fit(np.ones((4, 8), "float32"), np.ones((4, 4), "float32"), verbose=0)
    own.save(f"{folder}/custom_compile.keras")
    reloaded = keras.models.load_model(f"{folder}/custom_compile.keras")
    out["own_compile_config"] = [reloaded.model_optimizer, reloaded.loss_fn, int(reloaded.optimizer.iterations)]
    return out
'''


@pytest.fixture(scope="module")
def guides(tmp_path_factory):
    return run_script_both_ways(GUIDES_SCRIPT, tmp_path_factory)


@pytest.mark.parametrize("case", ["init_weights_before_call", "init_weights_set_then_called",
                                  "init_weights_in_a_model", "mask_inside_call", "mask_inside_call_in_a_model",
                                  "mask_inside_call_trained", "masks_of_two_calls",
                                  "own_build_config", "own_compile_config"])
def test_guides_patterns_as_in_keras(guides, case):
    ours, theirs = guides
    assert ours[case] == theirs[case]


def test_text_vectorization_int_output_is_a_row_of_tokens_per_text(numpy_backend):
    """Keras's TextVectorization.compute_output_shape for "int" (text_vectorization.py): (batch,
    output_sequence_length), None without one, whatever the input's rank; so a dataset mapped through the layer
    declares batches of rows (the preprocessing guide's ``ds.batch(2).map(lambda x, y: (vectorizer(x), y))``)."""
    from gpunn import layers
    from gpunn.layers import tf_pipeline

    free, fixed = layers.TextVectorization(output_mode="int"), layers.TextVectorization(output_sequence_length=6)
    assert [free.compute_output_shape(shape) for shape in ((None,), (None, 1))] == [(None, None), (None, None)]
    assert fixed.compute_output_shape((None,)) == (None, 6)
    assert tf_pipeline._output_shape(free, [None]) == [None, None]
    assert tf_pipeline._output_shape(fixed, [None, 1]) == [None, 6]
