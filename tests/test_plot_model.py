"""``gpunn.utils.model_to_dot`` / ``plot_model`` (``utils/model_visualization.py``) against Keras 3's own.

The same models, built from one source in both libraries, give the same graph for each set of options: node
labels by layer name, edges as pairs of layer names, graph attributes, and the whole dot text once node ids
(``id(layer)``, different in each process) are replaced by layer names. Keras's errors and messages are checked
against Keras itself. No test needs Graphviz's ``dot`` program: it is kept off the PATH, and where an image
would be rendered, pydot's ``create`` is replaced.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import types

import pytest
from helpers import numpy_backend, run_keras  # noqa: F401

import gpunn
from gpunn import _compat, layers
from gpunn.utils import model_visualization

BUILD = '''
def build(keras, layers):
    seq = keras.Sequential([
        keras.Input(shape=(16,), name="x"),
        layers.Dense(32, activation="relu", name="hidden"),
        layers.BatchNormalization(name="norm"),
        layers.Dropout(0.1, name="drop"),
        layers.Dense(8, activation="swish", trainable=False, name="frozen"),
        layers.Dense(4, activation="softmax", name="probs"),
    ], name="mlp")
    built = keras.Sequential([layers.Dense(6, name="d1"), layers.Activation("tanh", name="act"),
                              layers.Dense(2, name="d2")], name="built_later")
    built.build((None, 5))
    chain_in = keras.Input(shape=(7,), name="chain_in")
    chain_out = layers.Dense(2, name="chain_out")(layers.Dense(3, activation="elu", name="chain_h")(chain_in))
    chain = keras.Model(chain_in, chain_out, name="chain")
    ids = keras.Input(shape=(4,), dtype="int32", name="ids")
    feats = keras.Input(shape=(8,), name="feats")
    embedded = layers.Flatten(name="flat")(layers.Embedding(20, 3, name="emb")(ids))
    h1 = layers.Dense(12, activation="relu", name="h1")(feats)
    h2 = layers.Dense(12, activation="tanh", name="h2")(embedded)
    summed = layers.Add(name="add")([h1, h2])
    joined = layers.Concatenate(name="cat")([summed, feats, summed])
    graph = keras.Model([ids, feats], layers.Dense(1, name="out")(joined), name="graph")
    t_in = keras.Input(shape=(6,), name="t_in")
    trunk = layers.Dense(5, activation="relu", name="trunk")(t_in)
    gate = layers.Dense(2, activation="sigmoid", name="gate")(trunk)
    value = layers.Dense(1, name="value")(layers.Concatenate(name="gated")([trunk, gate]))
    heads = keras.Model(t_in, [gate, value], name="heads")  # two outputs, one of them read again
    o_in = keras.Input(shape=(6,), name="o_in")
    o_h = layers.Dense(4, activation="relu", name="o_h")(o_in)
    mixed = keras.ops.concatenate([o_h * 2.0, keras.ops.exp(o_in[:, :2])], axis=-1)
    with_ops = keras.Model(o_in, layers.Dense(1, name="o_out")(mixed), name="with_ops")  # keras.ops between
    inner = keras.Sequential([keras.Input(shape=(5,)), layers.Dense(4, name="in1"), layers.Dense(3, name="in2")],
                             name="inner")
    nested = keras.Sequential([inner, layers.Dense(2, name="head")], name="nested")
    c_in = keras.Input(shape=(5,), name="c_in")
    block = keras.Sequential([layers.Dense(4, name="b1"), layers.Dense(3, name="b2")], name="block")
    called = keras.Model(c_in, layers.Dense(2, name="c_out")(block(c_in)), name="called")
    return {"mlp": seq, "built_later": built, "chain": chain, "graph": graph, "heads": heads, "with_ops": with_ops,
            "nested": nested, "called": called}

OPTIONS = [
    {},
    {"show_shapes": True},
    {"show_shapes": True, "show_dtype": True, "show_layer_activations": True, "show_trainable": True},
    {"show_dtype": True},
    {"show_trainable": True, "show_layer_activations": True},
    {"show_layer_names": False, "rankdir": "LR", "dpi": 96, "splines": "curved"},
    {"show_shapes": True, "subgraph": True},
]

def describe(dot, model):
    """The graph with layer names for node ids: labels, edges, attributes and the whole dot text."""
    import re
    names = {str(id(layer)): layer.name for layer in list(model.layers) + list(getattr(model, "operations", []))}
    text = re.sub(r"\\b\\d{6,}\\b", lambda m: names.get(m.group(0), m.group(0)), dot.to_string())
    out = {"labels": {names[n.get_name()]: n.get_label() for n in dot.get_nodes() if n.get_name() in names},
           "edges": sorted([names[e.get_source()], names[e.get_destination()]] for e in dot.get_edges()),
           "attributes": dot.get_attributes(), "text": text, "class": type(dot).__name__}
    if out["class"] == "Dot":
        out["getters"] = [dot.get_rankdir(), dot.get_dpi(), dot.get_splines(), dot.get_concentrate()]
    return json.loads(json.dumps(out))

def error(call):
    try:
        call()
    except Exception as exc:
        return [type(exc).__name__, str(exc)]
    return None
'''

KERAS_SIDE = "import json\n" + BUILD + r'''
import keras
from keras import layers
from keras.src.utils import model_visualization as mv
models = build(keras, layers)
out = {"graphs": {name: [describe(keras.utils.model_to_dot(model, **options), model) for options in OPTIONS]
                  for name, model in models.items()}}
unbuilt = keras.Sequential([layers.Dense(2)])
mlp = models["mlp"]
out["errors"] = {
    "unbuilt": error(lambda: keras.utils.model_to_dot(unbuilt)),
    "unbuilt_plot": error(lambda: keras.utils.plot_model(unbuilt)),
    "unknown": error(lambda: keras.utils.model_to_dot(mlp, colour="red")),
    "layer_range": error(lambda: keras.utils.model_to_dot(mlp, layer_range=["hidden", "probs"])),
}
import os, tempfile
os.environ["PATH"] = tempfile.mkdtemp()  # Graphviz's dot out of reach, whether installed or not
out["errors"]["no_graphviz"] = error(lambda: keras.utils.plot_model(mlp, "m.png"))
mv.pydot = None
out["errors"]["no_pydot"] = error(lambda: keras.utils.plot_model(mlp, "m.png"))
out["errors"]["no_pydot_dot"] = error(lambda: keras.utils.model_to_dot(mlp))
print(json.dumps(out))
'''


def _namespace() -> dict:
    namespace: dict = {"json": json}
    exec(BUILD, namespace)
    return namespace


def _models() -> dict:
    gpunn.backend.clear_session()  # the operations' names as a fresh Keras gives them
    return _namespace()["build"](gpunn, layers)


@pytest.fixture
def no_graphviz(monkeypatch, tmp_path):
    """Graphviz's ``dot`` program out of reach (it is not installed here nor in CI; this makes sure)."""
    monkeypatch.setenv("PATH", str(tmp_path))
    assert shutil.which("dot") is None


@pytest.fixture
def fake_render(monkeypatch):
    """pydot's rendering replaced: ``create`` returns fixed bytes and records the format asked for."""
    pydot = _compat.pydot()
    formats = []

    def create(self, prog=None, format="ps", encoding=None):
        formats.append(format)
        return b"rendered " + format.encode()

    monkeypatch.setattr(pydot.Dot, "create", create)
    return formats


@pytest.fixture(scope="module")
def keras_side():
    return run_keras(KERAS_SIDE, {})


def test_graphs_equal_keras_for_every_option_set(keras_side):
    namespace = _namespace()
    models = _models()
    assert sorted(keras_side["graphs"]) == sorted(models)
    for name, model in models.items():
        assert len(keras_side["graphs"][name]) == len(namespace["OPTIONS"])
        for options, theirs in zip(namespace["OPTIONS"], keras_side["graphs"][name]):
            mine = namespace["describe"](gpunn.utils.model_to_dot(model, **options), model)
            what = f"{name} {options}"
            assert set(mine["labels"]) == {layer.name for layer in getattr(model, "operations", model.layers)}, what
            assert mine["labels"] == theirs["labels"], what
            assert mine["edges"] == theirs["edges"], what
            assert mine["attributes"] == theirs["attributes"], what
            assert mine.get("getters") == theirs.get("getters"), what
            assert mine["class"] == theirs["class"], what
            assert mine["text"] == theirs["text"], what


def test_errors_and_messages_are_keras_own(keras_side, no_graphviz, monkeypatch):
    theirs = keras_side["errors"]
    mlp = _models()["mlp"]
    unbuilt = gpunn.Sequential([layers.Dense(2)])
    error = _namespace()["error"]
    assert error(lambda: gpunn.utils.model_to_dot(unbuilt)) == theirs["unbuilt"]
    assert error(lambda: gpunn.utils.plot_model(unbuilt)) == theirs["unbuilt_plot"]
    assert error(lambda: gpunn.utils.model_to_dot(mlp, colour="red")) == theirs["unknown"]
    assert error(lambda: gpunn.utils.model_to_dot(mlp, layer_range=["hidden", "probs"])) == theirs["layer_range"]
    assert error(lambda: gpunn.utils.plot_model(mlp, "m.png")) == theirs["no_graphviz"]
    assert theirs["no_graphviz"][0] == "ImportError" and "install graphviz" in theirs["no_graphviz"][1]
    monkeypatch.setattr(_compat, "pydot", lambda: None)
    assert error(lambda: gpunn.utils.plot_model(mlp, "m.png")) == theirs["no_pydot"]
    assert theirs["no_pydot"] == ["ImportError",
                                  "You must install pydot (`pip install pydot`) for `plot_model` to work."]
    assert error(lambda: gpunn.utils.model_to_dot(mlp)) == theirs["no_pydot_dot"]


def test_missing_pydot_or_graphviz_is_printed_in_a_notebook(no_graphviz, monkeypatch, capsys):
    """As Keras: with IPython's magics loaded, the message is printed and nothing is raised."""
    monkeypatch.setitem(sys.modules, "IPython.core.magics.namespace", types.ModuleType("namespace"))
    mlp = _models()["mlp"]
    assert gpunn.utils.plot_model(mlp, "m.png") is None
    assert "You must install graphviz" in capsys.readouterr().out
    monkeypatch.setattr(_compat, "pydot", lambda: None)
    assert gpunn.utils.plot_model(mlp, "m.png") is None
    assert capsys.readouterr().out.strip() == model_visualization._PYDOT_MISSING


def test_plot_model_checks_its_keywords(fake_render):
    mlp = _models()["mlp"]
    with pytest.raises(ValueError, match=r"^Argument `layer_range` is no longer supported\.$"):
        gpunn.utils.plot_model(mlp, layer_range=["hidden", "probs"])
    with pytest.raises(ValueError, match=r"^Unrecognized keyword arguments: \{'colour': 'red'\}$"):
        gpunn.utils.plot_model(mlp, colour="red")


def test_plot_model_writes_the_format_of_the_extension(fake_render, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    model = _models()["graph"]
    assert gpunn.utils.plot_model(model, "my_first_model.png", show_shapes=True) is None  # no IPython here
    assert (tmp_path / "my_first_model.png").read_bytes() == b"rendered png"
    gpunn.utils.plot_model(model)  # Keras's default file
    assert (tmp_path / "model.png").read_bytes() == b"rendered png"
    gpunn.utils.plot_model(model, tmp_path / "no_extension")
    assert (tmp_path / "no_extension").read_bytes() == b"rendered png"
    gpunn.utils.plot_model(model, tmp_path / "vector.svg")
    assert (tmp_path / "vector.svg").read_bytes() == b"rendered svg"
    assert fake_render[1::2] == ["png", "png", "png", "svg"]  # each write follows the graphviz check's render


def test_plot_model_raw_writes_the_dot_source(fake_render, tmp_path):
    model = _models()["graph"]
    gpunn.utils.plot_model(model, tmp_path / "graph.raw", show_shapes=True, rankdir="LR")
    expected = gpunn.utils.model_to_dot(model, show_shapes=True, show_layer_names=False, rankdir="LR").to_string()
    assert (tmp_path / "graph.raw").read_text() == expected  # plot_model's default: no layer names
    assert "Input shape: <b>[(None, 12), (None, 8), (None, 12)]</b>" in expected


def test_plot_model_returns_an_ipython_image_when_it_can(fake_render, tmp_path, monkeypatch):
    shown = []
    display = types.SimpleNamespace(Image=lambda filename: shown.append(filename) or ("Image", filename))
    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(display=display))
    model = _models()["mlp"]
    assert gpunn.utils.plot_model(model, tmp_path / "m.png") == ("Image", str(tmp_path / "m.png"))
    assert gpunn.utils.plot_model(model, tmp_path / "m.pdf") is None  # Keras returns no Image for a pdf
    assert shown == [str(tmp_path / "m.png")]


def test_expand_nested_draws_the_layers_of_a_held_model():
    """Not expanded, a held model is one node (compared with Keras above); expanded, its layers are drawn in its
    place (Keras boxes them in a cluster of their own)."""
    outer = _models()["nested"]
    expanded = gpunn.utils.model_to_dot(outer, show_shapes=True, expand_nested=True)
    names = {str(id(layer)): layer.name for layer in outer._graph_layers}
    assert [(names[e.get_source()], names[e.get_destination()]) for e in expanded.get_edges()] == [
        ("in1", "in2"), ("in2", "head")]


def test_input_batch_size_is_shown_as_keras_shows_it():
    x = gpunn.Input(shape=(3,), batch_size=8, name="x")
    model = gpunn.Model(x, layers.Dense(2, name="d")(x))
    labels = {n.get_name(): n.get_label() for n in gpunn.utils.model_to_dot(model, show_shapes=True).get_nodes()}
    assert "Output shape: <b>(8, 3)</b>" in labels[str(id(x))]
    assert "Input shape: <b>(8, 3)</b>" in labels[str(id(model.layers[1]))]


def test_pydot_accessor_takes_keras_forks_in_order(monkeypatch):
    tried = []

    def fake_import(name):
        tried.append(name)
        return "pydotplus module" if name == "pydotplus" else None

    _compat.pydot.cache_clear()
    monkeypatch.setattr(_compat, "_try_import", fake_import)
    try:
        assert _compat.pydot() == "pydotplus module"
        assert tried == ["pydot", "pydot_ng", "pydotplus"]
    finally:
        _compat.pydot.cache_clear()


def test_importing_gpunn_does_not_import_pydot():
    code = "import sys, gpunn, gpunn.utils; print('pydot' in sys.modules)"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip().splitlines()[-1] == "False"
