"""What TensorFlow's tutorials of the tf.keras 2 years wrote, which tf.keras 2 ran (checked with tf-keras 2.21) and
Keras 3 refuses: one metric given alone (``metrics=tf.metrics.BinaryAccuracy(threshold=0.0)``), a whole number of
steps as a float (``steps_per_epoch=np.ceil(2.0 * neg / BATCH_SIZE)``), ``super().__init__(self)`` in a subclassed
model. And TensorFlow functions called on a model's symbolic values are refused with Keras's reason."""
from __future__ import annotations

import numpy as np
import pytest
from helpers import numpy_backend  # noqa: F401  (fixture)

import gpunn
from gpunn import layers


def _model():
    model = gpunn.Sequential([gpunn.Input((3,)), layers.Dense(1, kernel_initializer="ones")])
    return model


def _data():
    x = np.linspace(-1, 1, 24, dtype="float32").reshape(8, 3)
    return x, (x.sum(axis=1) > 0).astype("float32")


@pytest.mark.parametrize("alone, listed", [
    (lambda: "accuracy", lambda: ["accuracy"]),
    (lambda: gpunn.metrics.BinaryAccuracy(threshold=0.0), lambda: [gpunn.metrics.BinaryAccuracy(threshold=0.0)]),
    (lambda: "mae", lambda: ["mae"]),
])
def test_one_metric_given_alone_is_a_list_of_it(numpy_backend, alone, listed):
    x, y = _data()
    histories = []
    for make in (alone, listed):
        model = _model()
        model.compile("sgd", gpunn.losses.BinaryCrossentropy(from_logits=True), metrics=make(),
                      weighted_metrics=make())
        histories.append(model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0).history)
    assert histories[0] == histories[1]


def test_whole_numbers_of_steps_given_as_floats(numpy_backend):
    x, y = _data()
    model = _model()
    model.compile("sgd", "mse")
    history = model.fit(x, y, batch_size=2, steps_per_epoch=np.ceil(3.2), epochs=1, verbose=0,
                        validation_data=(x, y), validation_steps=2.0)
    assert model.optimizer.iterations == 4 and len(history.history["val_loss"]) == 1
    assert model.predict(x, steps=np.float64(2.0), verbose=0).shape == (8, 1)
    assert np.isfinite(model.evaluate(x, y, steps=2.0, verbose=0))
    with pytest.raises(ValueError, match=r"steps_per_epoch: expected a positive integer, got 2.5"):
        model.fit(x, y, steps_per_epoch=2.5, verbose=0)


def test_a_subclassed_model_passing_itself_to_super_init(numpy_backend):
    class MyModel(gpunn.Model):
        def __init__(self):
            super().__init__(self)  # (TensorFlow's pandas tutorial of 2023)
            self.dense = layers.Dense(1)

        def call(self, x):
            return self.dense(x)

    x, y = _data()
    model = MyModel()
    model.compile("sgd", "mse")
    model.fit(x, y, verbose=0)
    assert model.predict(x, verbose=0).shape == (8, 1)


def test_tensorflow_functions_on_symbolic_values_are_refused_with_keras_s_reason(numpy_backend):
    inputs = gpunn.Input((3,))
    for value in (inputs, layers.Dense(2)(inputs)):
        with pytest.raises(TypeError, match="cannot be used as input to a TensorFlow function"):
            value.__tf_tensor__()  # what tf.cast / tf.concat call first


def test_tensorflow_itself_gets_the_reason(numpy_backend):
    tf = pytest.importorskip("tensorflow", reason="TensorFlow's own conversion")
    with pytest.raises(TypeError, match="keras.ops.concatenate"):
        tf.concat([gpunn.Input((3,)), gpunn.Input((3,))], axis=-1)


def test_tf_keras_2_argument_names_keras_still_reads(numpy_backend):
    """VarianceScaling(distribution="normal") is the truncated normal (Keras 3 maps it so too);
    ReduceLROnPlateau(epsilon=) is tf.keras 2's old name of min_delta, taken with its warning."""
    assert gpunn.initializers.VarianceScaling(distribution="normal").distribution == "truncated_normal"
    with pytest.warns(UserWarning, match="`epsilon` argument is deprecated"):
        assert gpunn.callbacks.ReduceLROnPlateau(epsilon=0.01).min_delta == 0.01
    with pytest.warns(UserWarning, match=r"ignoring keyword argument\(s\) \['epsylon'\]"):  # (Keras ignores it)
        gpunn.callbacks.ReduceLROnPlateau(epsylon=0.01)


def test_tf_keras_2_generator_methods_and_reading_arguments(numpy_backend):
    """fit_generator / evaluate_generator / predict_generator (tf.keras 2's deprecated aliases, with its warning
    and signatures) train as fit does; workers= and use_multiprocessing= given to the loop are taken with a
    warning saying they belong to the PyDataset (Keras 3's place), and change nothing but speed."""
    x, y = _data()

    class Batches(gpunn.utils.PyDataset):
        def __len__(self):
            return 2

        def __getitem__(self, index):
            return x[index * 4:(index + 1) * 4], y[index * 4:(index + 1) * 4]

    histories = []
    for generator_method in (True, False):
        model = _model()
        model.compile("sgd", "mse")
        if generator_method:
            with pytest.warns(UserWarning) as caught:
                histories.append(model.fit_generator(Batches(), epochs=2, verbose=0, workers=3, shuffle=False))
            messages = " ".join(str(w.message) for w in caught)
            assert "`Model.fit_generator` is deprecated" in messages and "take them on the PyDataset" in messages
            with pytest.warns(UserWarning, match="evaluate_generator"):
                evaluated = model.evaluate_generator(Batches())
            with pytest.warns(UserWarning, match="predict_generator"):
                assert model.predict_generator(Batches()).shape == (8, 1)
        else:
            histories.append(model.fit(Batches(), epochs=2, verbose=0, shuffle=False))
            assert model.evaluate(Batches(), verbose=0) == evaluated
    assert histories[0].history == histories[1].history
    with pytest.raises(TypeError, match=r"fit: unexpected keyword argument\(s\) \['verbos'\]"):
        _model().fit(x, y, verbos=0)
