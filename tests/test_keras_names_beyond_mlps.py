"""Keras 3 names gpunn leaves out say what they are for and that gpunn leaves them out (``gpunn/beyond_mlps.py``),
where Python's own message would read like a typo: a layer, op or function is a stand-in that raises saying so when
made or called (so a notebook importing more than it uses imports); other missing names keep Python's message and
suggestion."""
from __future__ import annotations

import pytest

import gpunn
from gpunn.beyond_mlps import LeftOutError
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
                found = getattr(ours, name)
            except AttributeError as error:
                unexplained.append(f"{space}.{name}: {error}")
                continue
            if (getattr(found, "__doc__", None) or "").startswith(f"keras.{space}.{name}: gpunn "):  # a stand-in
                with pytest.raises(LeftOutError, match=f"^keras.{space}.{name}: gpunn "):
                    found()
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
    ("", "export", r"gpunn has no export module: model.export\(path, format=...\).*keras.export.ExportArchive"),
])
def test_a_name_left_out_says_what_it_is(space, name, says):
    namespace = getattr(gpunn, space) if space else gpunn
    keras_name = "keras." + (space + "." if space else "") + name
    if not space:  # (a module of Keras's: the AttributeError says it)
        with pytest.raises(AttributeError, match=f"^{keras_name}: .*{says}"):
            getattr(namespace, name)
        return
    stand_in = getattr(namespace, name)  # imported as a name; made or called, it says why it is not there
    with pytest.raises(LeftOutError, match=f"^{keras_name}: .*{says}"):
        stand_in(1, 2)


def test_a_notebook_importing_more_than_it_uses_imports():
    from gpunn.layers import Conv2D, Dense, MaxPooling2D  # noqa: F401  (only Dense used, as notebooks do)

    model = gpunn.Sequential([gpunn.Input((3,)), Dense(2)])
    assert not isinstance(model.layers[0], Conv2D)
    with pytest.raises(LeftOutError, match="keras.layers.MaxPooling2D: gpunn trains multilayer perceptrons"):
        MaxPooling2D(2)


def test_other_missing_names_keep_python_s_message_and_suggestion():
    with pytest.raises(AttributeError, match="^module 'gpunn.layers' has no attribute 'Densse'$") as caught:
        gpunn.layers.Densse
    assert caught.value.name == "Densse" and caught.value.obj is gpunn.layers  # what "Did you mean" reads
    with pytest.raises(AttributeError, match="^module 'gpunn' has no attribute 'distributon'$"):
        gpunn.distributon


def test_loss_scale_optimizer_is_refused_where_keras_exports_it_too():
    with pytest.raises(ValueError, match="LossScaleOptimizer: loss scaling serves float16"):
        gpunn.optimizers.LossScaleOptimizer(gpunn.optimizers.Adam())
