"""What the tests of an optimizer against Keras itself share (test_optimizer_muon.py, test_optimizer_adafactor.py):
one small classifier trained by either library, Keras's script that trains it with each set of arguments and round
trips a file of gpunn's, and the checks that follow (training equal to Keras's, gpunn resuming where its file left
off as Keras does, the configuration's keys Keras's)."""
from __future__ import annotations

import numpy as np
from helpers import run_keras

import gpunn

TRAIN = '''
def data():
    x = np.linspace(-1, 1, 288, dtype="float32").reshape(48, 6)
    return x, (np.sin(4 * x[:, 0]) * x[:, 1] > 0).astype("int64")


def model_for(keras, arguments, jit=None, steps_per_execution=1):
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(9, activation="tanh", name="wide"),
                              keras.layers.Dense(4, activation="NARROW_ACTIVATION", name="narrow"),
                              keras.layers.Dense(2, activation="softmax", name="OUTPUT_NAME")], name="net")
    model.set_weights([np.linspace(-0.6, 0.6, w.size, dtype="float32").reshape(w.shape) for w in model.get_weights()])
    model.compile(keras.optimizers.OPTIMIZER(**arguments), "sparse_categorical_crossentropy",
                  steps_per_execution=steps_per_execution, **({} if jit is None else {"jit_compile": jit}))
    return model


def train(keras, arguments, jit=None, steps_per_execution=1, epochs=3):
    model = model_for(keras, arguments, jit, steps_per_execution)
    x, y = data()
    history = model.fit(x, y, batch_size=8, epochs=epochs, shuffle=False, verbose=0)
    return model, history.history
'''

# Keras's side: train with each set of arguments; load gpunn's file saved mid-training (READ: what the test reads
# of its optimizer variables into runs["read"]), train one more epoch, save that in Keras's own file.
KERAS_SCRIPT = '''
import json, sys
import numpy as np
import keras
TRAIN_SOURCE
task = json.loads(sys.stdin.read())
runs = {}
for name, arguments in task["arguments"].items():
    model, history = train(keras, arguments, False)
    runs[name] = [[w.tolist() for w in model.get_weights()], history["loss"]]
model = keras.models.load_model(task["ours"])  # gpunn's file, saved mid-training
READ
model.fit(*data(), batch_size=8, epochs=1, shuffle=False, verbose=0)
runs["continued"] = [w.tolist() for w in model.get_weights()]
model.save(task["theirs"])
runs["saved"] = [np.asarray(v).tolist() for v in model.optimizer.variables]
runs["config_keys"] = sorted(keras.optimizers.OPTIMIZER().get_config())
print(json.dumps(runs))
'''


class OptimizerAgainstKeras:
    """The classifier trained with ``optimizer`` (a name in keras.optimizers and gpunn.optimizers), its narrow
    layer's activation and output layer's name given."""

    def __init__(self, optimizer: str, narrow_activation: str, output_name: str):
        self.optimizer = optimizer
        self.train_source = (TRAIN.replace("OPTIMIZER", optimizer).replace("NARROW_ACTIVATION", narrow_activation)
                             .replace("OUTPUT_NAME", output_name))
        self.namespace = {"np": np}
        exec(self.train_source, self.namespace)

    def train(self, arguments, **kwargs):
        """(model, history) of gpunn's training (``train``'s keyword arguments: jit, steps_per_execution, epochs)."""
        return self.namespace["train"](gpunn, arguments, **kwargs)

    def run_keras(self, arguments: dict, ours_path: str, theirs_path: str, read: str) -> dict:
        """Keras's runs: per name of ``arguments`` its [weights, losses]; then, of gpunn's file at ``ours_path``,
        what ``read`` (lines of the script, with ``model`` loaded) puts into runs["read"], the weights after one more
        epoch ("continued"), the optimizer variables of Keras's file saved to ``theirs_path`` ("saved"), and its
        config's keys ("config_keys")."""
        script = KERAS_SCRIPT.replace("TRAIN_SOURCE", self.train_source).replace("READ", read).replace(
            "OPTIMIZER", self.optimizer)
        return run_keras(script, {"arguments": arguments, "ours": ours_path, "theirs": theirs_path})

    def assert_training_equals_keras(self, arguments: dict, keras_runs: dict) -> None:
        for name, each in arguments.items():
            model, history = self.train(each, jit=False)
            weights, losses = keras_runs[name]
            for ours, theirs in zip(model.get_weights(), weights):
                np.testing.assert_allclose(ours, np.asarray(theirs), rtol=1e-4, atol=3e-5, err_msg=name)
            np.testing.assert_allclose(history["loss"], losses, rtol=1e-4, err_msg=name)

    def assert_resumes_as_keras(self, ours_path: str, keras_runs: dict) -> None:
        """gpunn, loading its own file, goes on training as Keras did from it."""
        resumed = gpunn.models.load_model(ours_path)
        resumed.fit(*self.namespace["data"](), batch_size=8, epochs=1, shuffle=False, verbose=0)
        for ours, theirs in zip(resumed.get_weights(), keras_runs["continued"]):
            np.testing.assert_allclose(ours, np.asarray(theirs), rtol=1e-4, atol=3e-5)

    def assert_config_keys_are_keras_s(self, keras_runs: dict) -> None:
        """gpunn's config keys are Keras's, the base options at their defaults included."""
        ours = set(getattr(gpunn.optimizers, self.optimizer)().get_config())
        assert ours == set(keras_runs["config_keys"])
