"""keras-io's "Image classification with modern MLP models" (MLP-Mixer, FNet, gMLP on CIFAR-100), in its Keras 3
form, runs on gpunn unchanged but for the import: its augmentation model (Normalization adapted to the images,
Resizing, RandomFlip, RandomZoom), its patches (``keras.ops.image.extract_patches``), its blocks (Sequentials held
by layers of the script's, ``keras.ops.fft2``, ``keras.ops.split``, a position embedding of the script's), AdamW,
its metrics and callbacks. The data are a small random stand-in of CIFAR-100's shape; the same script also runs
under Keras itself (its FNet experiment), and both give finite losses and the same history keys."""
from __future__ import annotations

import json

import numpy as np

import gpunn
from helpers import numpy_backend, run_keras  # noqa: F401  (fixture)

SCRIPT = r'''
from keras import layers

num_classes = 100
input_shape = (32, 32, 3)
rng = np.random.default_rng(0)
x_train = rng.integers(0, 256, (96, 32, 32, 3)).astype("uint8")
y_train = rng.integers(0, num_classes, (96, 1))
x_test = rng.integers(0, 256, (32, 32, 32, 3)).astype("uint8")
y_test = rng.integers(0, num_classes, (32, 1))

weight_decay = 0.0001
batch_size = 32
num_epochs = 2
dropout_rate = 0.2
image_size = 16  # (64 in the tutorial)
patch_size = 8
num_patches = (image_size // patch_size) ** 2
embedding_dim = 16  # (256)
num_blocks = 2  # (4)


def build_classifier(blocks, positional_encoding=False):
    inputs = layers.Input(shape=input_shape)
    augmented = data_augmentation(inputs)
    patches = Patches(patch_size)(augmented)
    x = layers.Dense(units=embedding_dim)(patches)
    if positional_encoding:
        x = x + PositionEmbedding(sequence_length=num_patches)(x)
    x = blocks(x)
    representation = layers.GlobalAveragePooling1D()(x)
    representation = layers.Dropout(rate=dropout_rate)(representation)
    logits = layers.Dense(num_classes)(representation)
    return keras.Model(inputs=inputs, outputs=logits)


def run_experiment(model):
    optimizer = keras.optimizers.AdamW(learning_rate=learning_rate, weight_decay=weight_decay)
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[
            keras.metrics.SparseCategoricalAccuracy(name="acc"),
            keras.metrics.SparseTopKCategoricalAccuracy(5, name="top5-acc"),
        ],
    )
    reduce_lr = keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=5)
    early_stopping = keras.callbacks.EarlyStopping(monitor="val_loss", patience=10, restore_best_weights=True)
    history = model.fit(x=x_train, y=y_train, batch_size=batch_size, epochs=num_epochs, validation_split=0.1,
                        callbacks=[early_stopping, reduce_lr], verbose=0)
    _, accuracy, top_5_accuracy = model.evaluate(x_test, y_test, verbose=0)
    return history, accuracy, top_5_accuracy


data_augmentation = keras.Sequential(
    [
        layers.Normalization(),
        layers.Resizing(image_size, image_size),
        layers.RandomFlip("horizontal"),
        layers.RandomZoom(height_factor=0.2, width_factor=0.2),
    ],
    name="data_augmentation",
)
data_augmentation.layers[0].adapt(x_train)


class Patches(layers.Layer):
    def __init__(self, patch_size, **kwargs):
        super().__init__(**kwargs)
        self.patch_size = patch_size

    def call(self, x):
        patches = keras.ops.image.extract_patches(x, self.patch_size)
        batch_size = keras.ops.shape(patches)[0]
        num_patches = keras.ops.shape(patches)[1] * keras.ops.shape(patches)[2]
        patch_dim = keras.ops.shape(patches)[3]
        out = keras.ops.reshape(patches, (batch_size, num_patches, patch_dim))
        return out


class PositionEmbedding(keras.layers.Layer):
    def __init__(self, sequence_length, initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        if sequence_length is None:
            raise ValueError("`sequence_length` must be an Integer, received `None`.")
        self.sequence_length = int(sequence_length)
        self.initializer = keras.initializers.get(initializer)

    def build(self, input_shape):
        feature_size = input_shape[-1]
        self.position_embeddings = self.add_weight(
            name="embeddings",
            shape=[self.sequence_length, feature_size],
            initializer=self.initializer,
            trainable=True,
        )
        super().build(input_shape)

    def call(self, inputs, start_index=0):
        shape = keras.ops.shape(inputs)
        feature_length = shape[-1]
        sequence_length = shape[-2]
        position_embeddings = keras.ops.convert_to_tensor(self.position_embeddings)
        position_embeddings = keras.ops.slice(
            position_embeddings, (start_index, 0), (sequence_length, feature_length))
        return keras.ops.broadcast_to(position_embeddings, shape)

    def compute_output_shape(self, input_shape):
        return input_shape


class MLPMixerLayer(layers.Layer):
    def __init__(self, num_patches, hidden_units, dropout_rate, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.mlp1 = keras.Sequential(
            [
                layers.Dense(units=num_patches, activation="gelu"),
                layers.Dense(units=num_patches),
                layers.Dropout(rate=dropout_rate),
            ]
        )
        self.mlp2 = keras.Sequential(
            [
                layers.Dense(units=num_patches, activation="gelu"),
                layers.Dense(units=hidden_units),
                layers.Dropout(rate=dropout_rate),
            ]
        )
        self.normalize = layers.LayerNormalization(epsilon=1e-6)

    def build(self, input_shape):
        return super().build(input_shape)

    def call(self, inputs):
        x = self.normalize(inputs)
        x_channels = keras.ops.transpose(x, axes=(0, 2, 1))
        mlp1_outputs = self.mlp1(x_channels)
        mlp1_outputs = keras.ops.transpose(mlp1_outputs, axes=(0, 2, 1))
        x = mlp1_outputs + inputs
        x_patches = self.normalize(x)
        mlp2_outputs = self.mlp2(x_patches)
        x = x + mlp2_outputs
        return x


class FNetLayer(layers.Layer):
    def __init__(self, embedding_dim, dropout_rate, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.ffn = keras.Sequential(
            [
                layers.Dense(units=embedding_dim, activation="gelu"),
                layers.Dropout(rate=dropout_rate),
                layers.Dense(units=embedding_dim),
            ]
        )
        self.normalize1 = layers.LayerNormalization(epsilon=1e-6)
        self.normalize2 = layers.LayerNormalization(epsilon=1e-6)

    def call(self, inputs):
        real_part = inputs
        im_part = keras.ops.zeros_like(inputs)
        x = keras.ops.fft2((real_part, im_part))[0]
        x = x + inputs
        x = self.normalize1(x)
        x_ffn = self.ffn(x)
        x = x + x_ffn
        return self.normalize2(x)


class gMLPLayer(layers.Layer):
    def __init__(self, num_patches, embedding_dim, dropout_rate, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.channel_projection1 = keras.Sequential(
            [
                layers.Dense(units=embedding_dim * 2, activation="gelu"),
                layers.Dropout(rate=dropout_rate),
            ]
        )
        self.channel_projection2 = layers.Dense(units=embedding_dim)
        self.spatial_projection = layers.Dense(units=num_patches, bias_initializer="Ones")
        self.normalize1 = layers.LayerNormalization(epsilon=1e-6)
        self.normalize2 = layers.LayerNormalization(epsilon=1e-6)

    def spatial_gating_unit(self, x):
        u, v = keras.ops.split(x, indices_or_sections=2, axis=2)
        v = self.normalize2(v)
        v_channels = keras.ops.transpose(v, axes=(0, 2, 1))
        v_projected = self.spatial_projection(v_channels)
        v_projected = keras.ops.transpose(v_projected, axes=(0, 2, 1))
        return u * v_projected

    def call(self, inputs):
        x = self.normalize1(inputs)
        x_projected = self.channel_projection1(x)
        x_spatial = self.spatial_gating_unit(x_projected)
        x_projected = self.channel_projection2(x_spatial)
        return x + x_projected


experiments = {
    "mlpmixer": (0.005, lambda: keras.Sequential(
        [MLPMixerLayer(num_patches, embedding_dim, dropout_rate) for _ in range(num_blocks)]), False),
    "fnet": (0.001, lambda: keras.Sequential([FNetLayer(embedding_dim, dropout_rate) for _ in range(num_blocks)]),
             True),
    "gmlp": (0.003, lambda: keras.Sequential(
        [gMLPLayer(num_patches, embedding_dim, dropout_rate) for _ in range(num_blocks)]), False),
}
results = {}
for name in EXPERIMENTS:
    learning_rate, blocks, positional_encoding = experiments[name]
    results[name] = run_experiment(build_classifier(blocks(), positional_encoding=positional_encoding))
summary = {name: {"history": {k: [float(v) for v in values] for k, values in history.history.items()},
                  "accuracy": float(accuracy), "top5": float(top5)}
           for name, (history, accuracy, top5) in results.items()}
'''


def _check(summary: dict) -> None:
    for name, result in summary.items():
        history = result["history"]
        assert sorted(history) == ["acc", "learning_rate", "loss", "top5-acc", "val_acc", "val_loss", "val_top5-acc"], \
            (name, sorted(history))
        assert all(len(values) == 2 and np.all(np.isfinite(values)) for values in history.values()), (name, history)
        assert 0 <= result["accuracy"] <= result["top5"] <= 1


def test_the_tutorial_runs_on_gpunn_as_on_keras(numpy_backend):
    # Keras runs the FNet experiment only (JAX compiles each model's steps: ~25 s each on two cores)
    theirs = run_keras("import json\nimport numpy as np\nimport keras\nEXPERIMENTS = ['fnet']\n" + SCRIPT
                       + "print(json.dumps(summary))\n", {})
    _check(theirs)
    namespace = {"np": np, "keras": gpunn, "EXPERIMENTS": ["mlpmixer", "fnet", "gmlp"]}
    gpunn.utils.set_random_seed(1)
    exec(compile(SCRIPT.replace("from keras import layers", "from gpunn import layers"), "mlp_image.py", "exec"),
         namespace)
    ours = json.loads(json.dumps(namespace["summary"]))
    _check(ours)
    assert sorted(ours["fnet"]["history"]) == sorted(theirs["fnet"]["history"])
