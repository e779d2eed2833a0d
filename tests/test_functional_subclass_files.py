"""A keras.Model subclass whose ``__init__`` builds a functional model (``super().__init__(inputs=..., outputs=...)``,
keras-io's "packaging Keras models for wide distribution" recipe) saved and loaded as Keras does: as its class, made
again from the arguments it was made with, its graph's weights restored; the files of either library load in both."""
from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import numpy_backend, run_keras, run_script_both_ways  # noqa: F401  (fixture)

DEFINE = r'''
def define(keras):
    @keras.saving.register_keras_serializable(package="FunctionalSubclass")
    class Classifier(keras.Model):
        def __init__(self, **kwargs):
            inputs = keras.Input(shape=(4,), name="features")
            hidden = keras.layers.Dense(5, activation="relu", name="hidden")(inputs)
            outputs = keras.layers.Dense(2, activation="softmax", name="head")(hidden)
            super().__init__(inputs=inputs, outputs=outputs, **kwargs)
            self.units = 5

        def describe(self):
            return f"{self.units} hidden units"

    return Classifier
'''

SCRIPT = DEFINE + r'''
import json, sys
import numpy as np

def run(keras, folder):
    Classifier = define(keras)
    x = np.linspace(-1, 1, 24, dtype="float32").reshape(6, 4)
    y = np.array([0, 1, 1, 0, 1, 0])
    model = Classifier()
    model.set_weights([np.full(w.shape, 0.1 * (k + 1), "float32") for k, w in enumerate(model.get_weights())])
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=1, batch_size=3, shuffle=False, verbose=0)
    out = {"config": {k: v for k, v in model.get_config().items() if k != "dtype"}}
    model.save(f"{folder}/classifier.keras")
    loaded = keras.models.load_model(f"{folder}/classifier.keras")
    out["loaded"] = [type(loaded).__name__, loaded.describe(), loaded.units, [layer.name for layer in loaded.layers]]
    out["same_predictions"] = bool(np.allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6))
    out["resumed"] = [int(loaded.optimizer.iterations),
                      np.round(loaded.fit(x, y, epochs=1, batch_size=3, shuffle=False, verbose=0).history["loss"],
                               5).tolist(),
                      np.round(model.fit(x, y, epochs=1, batch_size=3, shuffle=False, verbose=0).history["loss"],
                               5).tolist()]
    out["folder"] = folder
    return out
'''


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    return run_script_both_ways(SCRIPT, tmp_path_factory)


@pytest.mark.parametrize("case", ["config", "loaded", "same_predictions", "resumed"])
def test_as_in_keras(both, case):
    ours, theirs = both
    assert ours[case] == theirs[case]


def test_each_librarys_file_loads_in_the_other(both, numpy_backend):
    import gpunn

    ours, theirs = both
    x = np.linspace(-1, 1, 24, dtype="float32").reshape(6, 4)
    classifier = gpunn.saving.get_registered_object("FunctionalSubclass>Classifier")  # (the script's, registered)
    from_keras = gpunn.models.load_model(theirs["folder"] + "/classifier.keras")
    assert type(from_keras) is classifier and from_keras.units == 5
    keras_side = run_keras(DEFINE + '''
import json, sys
import numpy as np
import keras

define(keras)
path = json.loads(sys.stdin.read())
model = keras.models.load_model(path)
x = np.linspace(-1, 1, 24, dtype="float32").reshape(6, 4)
print(json.dumps([type(model).__name__, model.units, model.predict(x, verbose=0).tolist()]))
''', ours["folder"] + "/classifier.keras")
    assert keras_side[:2] == ["Classifier", 5]
    mine = gpunn.models.load_model(ours["folder"] + "/classifier.keras")
    np.testing.assert_allclose(keras_side[2], mine.predict(x, verbose=0), atol=1e-6)


def test_the_arguments_it_was_made_with_make_it_again(numpy_backend, tmp_path):
    """gpunn's config of such a model holds its arguments (Keras's Model.get_config, whose auto-config Keras 3.15
    loses for a functional subclass: its own file of ``Sized(units=5)`` then fails to load)."""
    import gpunn

    @gpunn.saving.register_keras_serializable(package="FunctionalSubclassTest")
    class Sized(gpunn.Model):
        def __init__(self, units=3, **kwargs):
            inputs = gpunn.Input(shape=(4,))
            outputs = gpunn.layers.Dense(units)(inputs)
            super().__init__(inputs=inputs, outputs=outputs, **kwargs)

    model = Sized(units=5)
    assert model.get_config()["units"] == 5
    model.save(str(tmp_path / "sized.keras"))
    loaded = gpunn.models.load_model(str(tmp_path / "sized.keras"))
    assert type(loaded) is Sized and loaded.output_shape == (None, 5)
    np.testing.assert_array_equal(loaded.get_weights()[0], model.get_weights()[0])


def test_without_its_class_the_file_loads_as_its_graph_with_a_warning(numpy_backend, tmp_path):
    import gpunn

    class Classifier(gpunn.Model):
        def __init__(self, units=3, **kwargs):
            inputs = gpunn.Input(shape=(4,))
            outputs = gpunn.layers.Dense(2)(gpunn.layers.Dense(units)(inputs))
            super().__init__(inputs=inputs, outputs=outputs, **kwargs)

    model = Classifier()
    path = str(tmp_path / "unregistered.keras")
    model.save(path)
    with pytest.warns(UserWarning, match="loaded as the functional model of its layers"):
        loaded = gpunn.models.load_model(path)
    x = np.ones((2, 4), "float32")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert json.dumps(model.get_config())  # Keras's Model.get_config: the arguments it was made with


def test_a_class_without_kwargs_and_one_of_keras_functional_signature_load_back(numpy_backend, tmp_path):
    """Made again only with what its ``__init__`` takes; a class taking Keras's Functional arguments
    ``(inputs, outputs, name=None, **kwargs)`` is a functional model, its graph saved (Keras's
    ``functional_like_constructor``)."""
    import gpunn

    @gpunn.saving.register_keras_serializable(package="FunctionalSubclassTest")
    class Explicit(gpunn.Model):
        def __init__(self, units=3):
            inputs = gpunn.Input((4,))
            super().__init__(inputs=inputs, outputs=gpunn.layers.Dense(units)(inputs))

    @gpunn.saving.register_keras_serializable(package="FunctionalSubclassTest")
    class KerasSignature(gpunn.Model):
        def __init__(self, inputs, outputs, name=None, **kwargs):
            super().__init__(inputs, outputs, name=name, **kwargs)

    explicit = Explicit(5)
    assert explicit.get_config() == {"units": 5}
    explicit.save(str(tmp_path / "explicit.keras"))
    assert gpunn.models.load_model(str(tmp_path / "explicit.keras")).output_shape == (None, 5)
    inputs = gpunn.Input((4,))
    functional_like = KerasSignature(inputs, gpunn.layers.Dense(2)(inputs))
    assert "layers" in functional_like.get_config()
    functional_like.save(str(tmp_path / "functional_like.keras"))
    loaded = gpunn.models.load_model(str(tmp_path / "functional_like.keras"))
    np.testing.assert_array_equal(loaded.get_weights()[0], functional_like.get_weights()[0])
