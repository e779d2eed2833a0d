"""``keras.utils.model_to_dot`` and ``keras.utils.plot_model``: a model's layers as a Graphviz graph.

Followed: keras/src/utils/model_visualization.py (Keras 3): the same signatures, defaults and keyword checks,
graph attributes, HTML-like node labels, edges, errors and messages, and ``plot_model``'s rule for the file
format (the extension, png without one) and its IPython ``Image`` return.

What differs is only where gpunn's models differ: their layers keep sample shapes without the batch axis (the
labels put it back, as Keras prints its tensors' shapes), a functional model's connections are its ``_sources``
(``layers/wiring.py``) rather than Keras's nodes, and ``expand_nested`` draws a held model's layers in its place
(gpunn runs them there, ``models/model_entries.py``) where Keras boxes them in a cluster of their own.

pydot is optional (``pip install 'gpunn[plot]'``) and imported on first use, through ``_compat.pydot``;
rendering an image also needs Graphviz's ``dot`` program.
"""
from __future__ import annotations

import os
import sys

from .. import _compat
from ..layers import wiring
from ..layers.input_layer import InputLayer
from ..models.model_entries import exclusive, owners, top_level

_PYDOT_MISSING = "You must install pydot (`pip install pydot`) for `plot_model` to work."
_GRAPHVIZ_MISSING = ("You must install graphviz (see instructions at https://graphviz.gitlab.io/download/) "
                     "for `plot_model` to work.")
_NOT_BUILT = ("This model has not yet been built. Build the model first by calling `build()` or by calling the "
              "model on a batch of data.")


def check_pydot() -> bool:
    """Returns True if PyDot is available."""
    return _compat.pydot() is not None


def check_graphviz() -> bool:
    """Returns True if both PyDot and Graphviz are available (Keras's check: render a blank graph)."""
    pydot = _compat.pydot()
    if pydot is None:
        return False
    try:
        pydot.Dot.create(pydot.Dot())
        return True
    except (OSError, pydot.PydotException):
        return False


# ---- shapes and dtypes, as Keras prints its tensors' -------------------------------------------------------

def _with_batch(shape, batch) -> tuple:
    """A gpunn sample shape as Keras's tensor shape: the batch axis first, plain ints (Keras's repr)."""
    return (batch,) + tuple(None if d is None else int(d) for d in shape)


def _batch_size(model):
    """The batch axis Keras's tensors carry through the model: what its inputs declare (None unless given). When
    several inputs declare different ones there is no one answer, and None is shown."""
    inputs = _input_layers(model)
    sizes = {layer.batch_size for layer in inputs}
    return sizes.pop() if len(sizes) == 1 else None


def _input_layers(model) -> list:
    if getattr(model, "is_functional", False):
        return list(model.inputs)
    held = getattr(model, "_input_layer", None)
    return [held] if held is not None else []


def _format_shape(shape) -> str:
    """Keras's ``format_shape``: the repr of the shape (a list of them for several inputs), '?' when unknown."""
    return "?" if shape is None else f"{shape}".replace("}", "").replace("{", "")


def _input_shape(layer, batch):
    """What Keras's ``layer.input`` shapes are: one shape, or the list of them for a merge layer."""
    if layer.input_shape is None:
        return None
    if _is_model(layer):  # a model held as a layer: its shapes carry their batch axis
        return tuple(layer.input_shape)
    if wiring.takes_list(layer):
        return [_with_batch(shape, batch) for shape in layer.input_shape]
    return _with_batch(layer.input_shape, batch)


def _output_shape(layer, batch):
    if isinstance(layer, InputLayer):
        return _with_batch(layer.declared_input_shape, layer.batch_size)
    if _is_model(layer):
        return tuple(layer.output_shape)
    return None if layer.output_shape is None else _with_batch(layer.output_shape, batch)


def _output_dtype(layer, model) -> str:
    """Keras's output dtype: an InputLayer's own (an int one stays int), else the dtype the model computes in
    (a gpunn model computes in one dtype throughout)."""
    if isinstance(layer, InputLayer):
        return layer.input_dtype or layer.declared_dtype or model.dtype
    return model.dtype


# ---- labels and nodes -------------------------------------------------------------------------------------

def get_layer_activation_name(layer) -> str:
    """Keras's: the activation's ``name``, else its ``__name__``, else its string (gpunn's ActivationSpec has a
    ``name``, Keras's function name: 'relu', 'silu' for 'swish'...)."""
    if hasattr(layer.activation, "name"):
        return layer.activation.name
    if hasattr(layer.activation, "__name__"):
        return layer.activation.__name__
    return str(layer.activation)


def _cell(text: str) -> str:
    return f'<td bgcolor="white"><font point-size="14">{text}</font></td>'


def _title_row(layer, class_name, colspan, show_layer_names) -> str:
    title = f"<b>{layer.name}</b> ({class_name})" if show_layer_names else f"<b>{class_name}</b>"
    return (f'<tr><td colspan="{colspan}" bgcolor="black"><font point-size="16" color="white">{title}'
            "</font></td></tr>")


def _activation_row(layer, colspan) -> str:
    return (f'<tr><td bgcolor="white" colspan="{colspan}"><font point-size="14">'
            f"Activation: <b>{get_layer_activation_name(layer)}</b></font></td></tr>")


def _trainable_cell(layer) -> str:
    if layer.trainable:
        return '<td bgcolor="forestgreen"><font point-size="14" color="white"><b>Trainable</b></font></td>'
    return '<td bgcolor="firebrick"><font point-size="14" color="white"><b>Non-trainable</b></font></td>'


def _shape_cells(layer, class_name, shapes) -> list[str]:
    input_shape, output_shape = shapes
    cells = [] if class_name == "InputLayer" else [_cell(f"Input shape: <b>{_format_shape(input_shape)}</b>")]
    return cells + [_cell(f"Output shape: <b>{_format_shape(output_shape)}</b>")]


def make_layer_label(layer, shapes=(None, None), dtype=None, **kwargs) -> str:
    """Keras's ``make_layer_label``: an HTML-like table of the layer's name and class, its activation, then one
    row of its shapes, output dtype and trainable state, as the options ask. ``shapes``: (input shape, output
    shape) as Keras prints them, None where unknown ('?'); ``dtype``: the output dtype, None where unknown."""
    class_name = getattr(layer, "keras_class", None) or layer.__class__.__name__  # an operation: Keras's class
    show_layer_names = kwargs.pop("show_layer_names")
    show_layer_activations = kwargs.pop("show_layer_activations")
    show_dtype = kwargs.pop("show_dtype")
    show_shapes = kwargs.pop("show_shapes")
    show_trainable = kwargs.pop("show_trainable")
    if kwargs:
        raise ValueError(f"Invalid kwargs: {kwargs}")

    # The title spans the columns the last row may have (Keras counts them before knowing which appear).
    colspan = max(1, int(show_dtype) + int(show_trainable) + (2 if show_shapes else 0))
    table = '<<table border="0" cellborder="1" bgcolor="black" cellpadding="10">'
    table += _title_row(layer, class_name, colspan, show_layer_names)
    if show_layer_activations and getattr(layer, "activation", None) is not None:
        table += _activation_row(layer, colspan)
    cells = []
    if show_shapes:
        cells += _shape_cells(layer, class_name, shapes)
    if show_dtype:
        cells.append(_cell(f"Output dtype: <b>{dtype or '?'}</b>"))
    if show_trainable and hasattr(layer, "trainable") and layer.weights:
        cells.append(_trainable_cell(layer))
    if cells:
        table += f"<tr>{''.join(cells)}</tr>"
    return table + "</table>>"


def make_node(layer, shapes=(None, None), dtype=None, **kwargs):
    pydot = _compat.pydot()
    node = pydot.Node(str(id(layer)), label=make_layer_label(layer, shapes, dtype, **kwargs))
    node.set("fontname", "Helvetica")
    node.set("border", "0")
    node.set("margin", "0")
    return node


def _layer_node(model, layer, batch, **kwargs):
    shapes = (_input_shape(layer, batch), _output_shape(layer, batch))
    return make_node(layer, shapes, _output_dtype(layer, model), **kwargs)


# ---- edges ------------------------------------------------------------------------------------------------

def add_edge(dot, src, dst) -> None:
    """Keras's ``add_edge``: one edge per pair (a layer reading one value twice gets one)."""
    src_id, dst_id = str(id(src)), str(id(dst))
    if not dot.get_edge(src_id, dst_id):
        edge = _compat.pydot().Edge(src_id, dst_id)
        edge.set("penwidth", "2")
        dot.add_edge(edge)


def _drawn(model) -> list:
    """What Keras draws of a model: its layers, and a functional model's keras.ops operations among them."""
    return list(model._keras_layers) if getattr(model, "is_functional", False) else model._graph_layers


def _edges(model) -> list[tuple]:
    """(source, destination) layer pairs in Keras's order: for each layer in order, what it reads in order. A
    chain (a Sequential, or a functional model whose layers each read the one before) joins consecutive
    entries of ``model.layers`` (a functional one starts with its InputLayer); a graph follows ``_sources``,
    where ``-1 - k`` is the model's input k."""
    if model._sources is None:
        layers = _drawn(model)
        return list(zip(layers[:-1], layers[1:]))
    inputs = model.inputs
    nodes = wiring.nodes_by_layer(model._calls, model._sources, model._nodes)
    pairs = []
    for layer in model._layers:  # each layer's calls in turn, as Keras walks its inbound nodes
        for reads in nodes[id(layer)]:
            for source in reads:
                origin = inputs[-1 - source] if wiring.is_model_input(source) else \
                    wiring.layer_of(model._calls[source])
                pairs.append((origin, layer))
    return pairs


# ---- the graph --------------------------------------------------------------------------------------------

def _new_graph(model, subgraph, rankdir, dpi, splines):
    pydot = _compat.pydot()
    if subgraph:
        dot = pydot.Cluster(style="dashed", graph_name=model.name)
        dot.set("label", model.name)
        dot.set("labeljust", "l")
        return dot
    dot = pydot.Dot()
    dot.set("rankdir", rankdir)
    dot.set("concentrate", True)
    dot.set("dpi", dpi)
    dot.set("splines", splines)
    dot.set_node_defaults(shape="record")
    return dot


def _check_kwargs(kwargs: dict) -> None:
    if kwargs.pop("layer_range", None) is not None:
        raise ValueError("Argument `layer_range` is no longer supported.")
    if kwargs:
        raise ValueError(f"Unrecognized keyword arguments: {kwargs}")


def _is_model(model) -> bool:
    from ..models.sequential import Sequential

    return isinstance(model, Sequential)  # a Functional is one too


def model_to_dot(model, show_shapes=False, show_dtype=False, show_layer_names=True, rankdir="TB",
                 expand_nested=False, dpi=200, subgraph=False, show_layer_activations=False, show_trainable=False,
                 splines="ortho", **kwargs):
    """Convert a model to dot format, as Keras's ``model_to_dot``.

    Args:
        model: A gpunn model.
        show_shapes: whether to display shape information.
        show_dtype: whether to display layer dtypes.
        show_layer_names: whether to display layer names.
        rankdir: `rankdir` argument passed to PyDot: `"TB"` a vertical plot, `"LR"` a horizontal one.
        expand_nested: whether to draw the layers of a model held as a layer (in the outer graph, where Keras
            draws them in a box of their own) rather than the model as one node.
        dpi: Image resolution in dots per inch.
        subgraph: whether to return a `pydot.Cluster` instance.
        show_layer_activations: Display layer activations (only for layers that have an `activation`).
        show_trainable: whether to display if a layer is trainable.
        splines: Controls how edges are drawn: `"ortho"` (right-angle lines), `"curved"`, `"polyline"`,
            `"spline"`, `"line"`.

    Returns:
        A `pydot.Dot` instance, or a `pydot.Cluster` if `subgraph=True`.
    """
    if not model.built:
        raise ValueError(_NOT_BUILT)
    if not check_pydot():
        raise ImportError("You must install pydot (`pip install pydot`) for model_to_dot to work.")
    dot = _new_graph(model, subgraph, rankdir, dpi, splines)
    _check_kwargs(kwargs)
    options = {"show_layer_names": show_layer_names, "show_layer_activations": show_layer_activations,
               "show_dtype": show_dtype, "show_shapes": show_shapes, "show_trainable": show_trainable}
    if not _is_model(model):  # as Keras treats a model that is neither Sequential nor functional: one node
        dot.add_node(make_node(model, **options))
        return dot
    batch = _batch_size(model)
    held = () if expand_nested else exclusive(model)
    owner = owners(held)  # not expanded: a model held as a layer is one node, as Keras draws it
    for layer in top_level(_drawn(model), held):
        dot.add_node(_layer_node(model, layer, batch, **options))
    for source, destination in _edges(model):
        source, destination = owner.get(id(source), source), owner.get(id(destination), destination)
        if source is not destination:
            add_edge(dot, source, destination)
    return dot


def _missing(message: str):
    """Keras's way with a missing dependency: in a notebook (IPython's magics loaded) the message is printed so
    the notebook runs on; elsewhere it is raised."""
    if "IPython.core.magics.namespace" in sys.modules:
        print(message)
        return
    raise ImportError(message)


def _file_format(to_file: str) -> str:
    _, extension = os.path.splitext(to_file)
    return extension[1:] if extension else "png"


def _notebook_image(to_file: str, extension: str):
    """The image as a Jupyter ``Image``, when IPython is installed (Keras cannot tell whether it runs in a
    notebook, so it returns one whenever it can; never for a pdf)."""
    if extension == "pdf":
        return None
    try:
        from IPython import display
    except ImportError:
        return None
    return display.Image(filename=to_file)


def plot_model(model, to_file="model.png", show_shapes=False, show_dtype=False, show_layer_names=False,
               rankdir="TB", expand_nested=False, dpi=200, show_layer_activations=False, show_trainable=False,
               splines="ortho", **kwargs):
    """Convert a model to dot format and save it to a file, as Keras's ``plot_model``.

    ``keras.utils.plot_model(model, "my_first_model.png", show_shapes=True)``. The file's extension is the
    format Graphviz writes (png when there is none; "raw" writes the dot source). Arguments as
    ``model_to_dot``'s. Needs pydot and Graphviz's ``dot`` program.

    Returns:
        An IPython ``Image`` of the plot when IPython is installed (for in-line display in notebooks).
    """
    if not model.built:
        raise ValueError(_NOT_BUILT)
    if not check_pydot():
        return _missing(_PYDOT_MISSING)
    if not check_graphviz():
        return _missing(_GRAPHVIZ_MISSING)
    _check_kwargs(kwargs)
    dot = model_to_dot(model, show_shapes=show_shapes, show_dtype=show_dtype, show_layer_names=show_layer_names,
                       rankdir=rankdir, expand_nested=expand_nested, dpi=dpi,
                       show_layer_activations=show_layer_activations, show_trainable=show_trainable,
                       splines=splines)
    to_file = str(to_file)
    extension = _file_format(to_file)
    dot.write(to_file, format=extension)
    return _notebook_image(to_file, extension)


__all__ = ["model_to_dot", "plot_model"]
