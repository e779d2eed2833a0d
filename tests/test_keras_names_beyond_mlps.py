"""Keras 3 names gpunn leaves out say what they are for and that gpunn leaves them out (``gpunn/beyond_mlps.py``),
where Python's own message would read like a typo; other missing names keep Python's message and suggestion."""
from __future__ import annotations

import pytest

import gpunn
from helpers import run_keras

KERAS_NAMES = r'''
import json, sys
import keras
task = json.loads(sys.stdin.read())
print(json.dumps({space: [n for n in dir(getattr(keras, space)) if not n.startswith("_")] for space in task}))
'''
NAMESPACES = ("layers", "ops", "losses", "optimizers")


def test_every_name_of_keras_s_namespaces_exists_or_says_why_not():
    keras_names = run_keras(KERAS_NAMES, NAMESPACES)
    unexplained = []
    for space in NAMESPACES:
        ours = getattr(gpunn, space)
        for name in keras_names[space]:
            try:
                getattr(ours, name)
            except AttributeError as error:
                if not str(error).startswith(f"keras.{space}.{name}: gpunn "):
                    unexplained.append(f"{space}.{name}: {error}")
    assert not unexplained, "\n".join(unexplained)


@pytest.mark.parametrize("space, name, says", [
    ("layers", "Conv2D", "does not provide convolution and pooling layers .*layers.Flatten"),
    ("layers", "MaxPooling1D", "convolution and pooling layers"),
    ("layers", "LSTM", "does not provide recurrent layers"),
    ("layers", "MultiHeadAttention", "does not provide attention layers"),
    ("layers", "TorchModuleWrapper", "another framework's modules"),
    ("ops", "conv", "convolution and pooling operations"),
    ("losses", "CTC", "CTC .connectionist temporal classification"),
    ("optimizers", "MultiOptimizer", "gpunn has no optimizers per group of weights"),
    ("", "applications", "pretrained convolutional networks"),
])
def test_a_name_left_out_says_what_it_is(space, name, says):
    namespace = getattr(gpunn, space) if space else gpunn
    keras_name = "keras." + (space + "." if space else "") + name
    with pytest.raises(AttributeError, match=f"^{keras_name}: .*{says}"):
        getattr(namespace, name)
    assert not hasattr(namespace, name)


def test_other_missing_names_keep_python_s_message_and_suggestion():
    with pytest.raises(AttributeError, match="^module 'gpunn.layers' has no attribute 'Densse'$") as caught:
        gpunn.layers.Densse
    assert caught.value.name == "Densse" and caught.value.obj is gpunn.layers  # what "Did you mean" reads
    with pytest.raises(AttributeError, match="^module 'gpunn' has no attribute 'distributon'$"):
        gpunn.distributon


def test_loss_scale_optimizer_is_refused_where_keras_exports_it_too():
    with pytest.raises(ValueError, match="LossScaleOptimizer: loss scaling serves float16"):
        gpunn.optimizers.LossScaleOptimizer(gpunn.optimizers.Adam())
