"""The table ``model.summary()`` prints, as Keras 3 prints it.

Followed: keras/src/utils/summary_utils.py ``print_summary``: columns "Layer (type)", "Output Shape", "Param #"
(and "Trainable" with ``show_trainable``) at ``positions`` [0.45, 0.80, 1.0] of ``line_length`` (default
``min(88, terminal columns - 4)``); for a functional model that is not a chain, a "Connected to" column too, at
[0.3, 0.56, 0.74, 1.0] of 108, drawn as rich draws Keras's table (heavy head, a line between rows, long
cells wrapped), then " Total params: N (size)", " Trainable params", " Non-trainable params" and, once the
optimizer has its variables, " Optimizer params" (Total counts them too, as in Keras). Sizes as Keras's
``readable_memory_size``. gpunn adds one last line naming the backend. Drawn here rather than through rich,
which gpunn does not depend on; the column widths follow rich's rule for a table wider than its line.
"""
from __future__ import annotations

import re
import shutil
import textwrap

import numpy as np

from ..layers import several_outputs, wiring
from ..ops import get_ops
from .keras_variables import trained_weight_descriptions
from .model_entries import entries, exclusive, owners

# rich's box.HEAVY_HEAD, which Keras's table uses: (left, horizontal, cross, right) per line kind.
_TOP = ("┏", "━", "┳", "┓")
_HEAD = ("┃", " ", "┃", "┃")
_HEAD_RULE = ("┡", "━", "╇", "┩")
_ROW = ("│", " ", "│", "│")
_ROW_RULE = ("├", "─", "┼", "┤")
_BOTTOM = ("└", "─", "┴", "┘")


def readable_memory_size(size: float) -> str:
    """Keras's ``readable_memory_size``: '284.00 B', '1.89 KB', ... (powers of 1024)."""
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if size / 1024 < 1:
            return f"{size:.2f} {unit}"
        size /= 1024
    return f"{size:.2f} PB"


def _weights_size(weights) -> tuple[int, int]:
    """(count, bytes) of arrays, each counted once (as Keras's ``weight_memory_size`` does by id)."""
    unique = {id(w): w for w in weights}.values()
    return (sum(int(np.prod(w.shape)) for w in unique),
            sum(int(np.prod(w.shape)) * np.dtype(w.dtype).itemsize for w in unique))


def _optimizer_size(model) -> tuple[int, int] | None:
    """The optimizer's variables once it has them (Keras: ``model.optimizer.built``): its slots, plus the
    iteration count and the learning rate, the two scalar variables every Keras optimizer holds (int32 and
    float32 there; gpunn keeps them on the device too)."""
    if not (getattr(model, "compiled", False) and getattr(model, "_optimizer_built", False)):
        return None
    optimizer = model.optimizer
    count = size = 0
    shapes = [shape for _, shape in trained_weight_descriptions(model)]
    for name, slot in optimizer.slots.items():  # Keras's variables: some slots are for some weights only (Muon's)
        for index, (segment, shape) in enumerate(zip(model._store.segments, shapes)):
            if optimizer.keras_slot_kept(name, index):
                low, high, _ = optimizer.keras_slot_place(name, index, tuple(segment), shape)
                count += high - low
                size += (high - low) * np.dtype(slot.dtype).itemsize
    return count + 2, size + 8


def _column_widths(line_length: int, positions) -> list[int]:
    """Content widths (without the one-space padding) of the columns: Keras's widths from ``positions``, then
    rich's ``ratio_reduce`` of the excess, as rich fits Keras's table into ``line_length``."""
    widths, current = [], 0
    for position in positions:
        width = int(position * line_length) - current
        if width < 4:
            raise ValueError(f"line_length: {line_length} is too narrow to print the summary")
        widths.append(width)
        current += width
    padded = [w + 2 for w in widths]
    excess = sum(padded) - (line_length - (len(widths) + 1))
    if excess > 0:  # rich's ratio_reduce with equal ratios
        remaining, ratios = excess, len(padded)
        for i, width in enumerate(padded):
            cut = min(width, round(remaining / ratios))
            padded[i] = width - cut
            remaining -= cut
            ratios -= 1
    return [max(w - 2, 1) for w in padded]


def _wrap(text: str, width: int) -> list[str]:
    """rich's wrapping of a cell: at spaces, a word longer than the cell cut with an ellipsis."""
    lines = textwrap.wrap(text, width, break_long_words=False, break_on_hyphens=False) or [""]
    return [line if len(line) <= width else line[:width - 1] + "…" for line in lines]


def _rule(kind, widths) -> str:
    left, fill, cross, right = kind
    return left + cross.join(fill * (w + 2) for w in widths) + right


def _row(cells, widths, alignment, kind=_ROW) -> list[str]:
    wrapped = [_wrap(cell, w) for cell, w in zip(cells, widths)]
    height = max(len(c) for c in wrapped)
    if kind is _HEAD:  # rich aligns header cells at the bottom, body cells at the top
        wrapped = [[""] * (height - len(c)) + c for c in wrapped]
    lines = []
    for i in range(height):
        parts = []
        for cell, width, align in zip(wrapped, widths, alignment):
            text = cell[i] if i < len(cell) else ""
            text = {"left": text.ljust, "right": text.rjust, "center": text.center}[align](width)
            parts.append(f" {text} ")
        lines.append(kind[0] + kind[2].join(parts) + kind[3])
    return lines


def _output_shape(layer) -> str:
    if several_outputs.of(layer):  # a call() of the user's returning several tensors: Keras's "?"
        return "?"
    # an input with axes of any length shows None there, as Keras's, and so do the layers keeping such an axis
    first = layer.__dict__.get("_first_call", (None, None))[1]
    shape = tuple(layer._sample_shape_with_variable_axes() if getattr(layer, "variable_axes", ()) else
                  first.shape[1:] if getattr(first, "variable_axes", ()) else layer.output_shape)
    if not hasattr(layer, "layers"):  # a layer's shapes leave out the batch dimension; a model's include it
        shape = (None,) + shape
    return "(" + ", ".join(str(s) for s in shape) + ")"


def _connections(model) -> dict | None:
    """Keras's "Connected to" cells (``get_connections``) by layer id, for a model whose graph is not a chain
    (None for a chain: Keras prints no such column there): the layers each reads, as ``name[node][tensor]``."""
    sources = getattr(model, "_sources", None)
    if sources is None or _chain_but_for_inputs_given_back(model._calls, sources):
        return None
    owner = owners(exclusive(model))  # a held model's layers: its call's output and reads

    def holder(s):
        return None if wiring.is_model_input(s) else owner.get(id(wiring.layer_of(model._calls[s])))

    names = {}
    for i, (call, node) in enumerate(zip(model._calls, model._nodes)):
        held = holder(i)
        names[i] = f"{held.name}[0][0]" if held is not None else f"{wiring.layer_of(call).name}[{node}][0]"
    cells, held_reads = {}, {}
    for k, source in enumerate(model._input_layers):
        names[wiring.input_source(k)], cells[id(source)] = f"{source.name}[0][0]", "-"
    for layer_id, nodes in wiring.nodes_by_layer(model._calls, sources, model._nodes).items():
        held = owner.get(layer_id)
        if held is None:
            cells[layer_id] = ", ".join(names[s] for reads in nodes for s in reads)  # every call's, as Keras
            continue
        outside = held_reads.setdefault(id(held), [])
        outside += [names[s] for reads in nodes for s in reads if holder(s) is not held and names[s] not in outside]
        cells[id(held)] = ", ".join(outside)
    return cells


def _chain_but_for_inputs_given_back(calls, sources) -> bool:
    """Whether the graph is a chain once the Identity layers giving an input back as an output are left out
    (Keras's model has no layer there: ``keras.Model(inp, [inp, out])`` is a chain to its summary)."""
    kept = [i for i, call in enumerate(calls) if not hasattr(wiring.layer_of(call), "_gives_back")]
    if len(kept) == len(calls):
        return False
    renumbered = {old: new for new, old in enumerate(kept)}
    return wiring.is_chain([[s if wiring.is_model_input(s) else renumbered.get(s, s) for s in sources[i]]
                            for i in kept])


def _unbuilt(layer) -> bool:
    """A layer, or a model held as a layer, not built yet (whose output shape a model would refuse to give)."""
    from .keras_attribute_paths import is_model

    return not layer.built if is_model(layer) else layer.output_shape is None


def _layer_rows(layer, expand_nested, show_trainable, level=0, connections=None) -> list[list[str]]:
    prefix = "   " * level + "└ " if level else ""
    kind = getattr(layer, "keras_class", None) or type(layer).__name__  # an operation: Keras's class of it
    if _unbuilt(layer):  # a layer of a model not built yet: Keras's "?" and "0 (unbuilt)"
        cells = [f"{prefix}{layer.name} ({kind})", "?", "0 (unbuilt)"]
    else:
        cells = [f"{prefix}{layer.name} ({kind})", _output_shape(layer), f"{layer.count_params():,}"]
    if connections is not None:
        cells.append(connections.get(id(layer), "-"))
    if show_trainable:
        cells.append("-" if not layer.weights else ("Y" if layer.trainable else "N"))
    rows = [cells]
    if expand_nested and getattr(layer, "layers", None):
        for inner in layer.layers:  # (Keras leaves their connections out: '-')
            rows += _layer_rows(inner, expand_nested, show_trainable, level + 1,
                                connections=None if connections is None else {})
    return rows


def layer_range_bounds(layers, layer_range) -> tuple[int, int]:
    """Keras's ``get_layer_index_bound_by_layer_name``: the first layer whose name matches ``layer_range[0]``
    to the last matching ``layer_range[1]`` (regular expressions), both included."""
    if layer_range is None:
        return 0, len(layers)
    if not isinstance(layer_range, (list, tuple)) or len(layer_range) != 2:
        raise ValueError(f"layer_range: expected a list or tuple of 2 layer names, got {layer_range!r}")
    if not all(isinstance(name, str) for name in layer_range):
        raise ValueError(f"layer_range: expected 2 strings, got {layer_range!r}")
    lower = [i for i, layer in enumerate(layers) if re.match(layer_range[0], layer.name)]
    upper = [i for i, layer in enumerate(layers) if re.match(layer_range[1], layer.name)]
    if not lower or not upper:
        raise ValueError(f"layer_range: {layer_range!r} matches no layer names of the model "
                         f"({[layer.name for layer in layers]})")
    return min(lower), max(upper) + 1


def format_summary(model, line_length=None, positions=None, expand_nested=False, show_trainable=False,
                   layer_range=None) -> str:
    """``model.summary()``'s text (Keras 3's table and totals), ending with a newline as Keras's does."""
    # A subclassed model: the layers it holds, as Keras lists them (its call()'s graph is gpunn's own business)
    subclassed = "_internal_attributes" in vars(model)
    connections = None if subclassed else _connections(model)
    if connections is None:
        default_line_length = 88
        positions = list(positions) if positions is not None else [0.45, 0.80, 1.0]
        header = ["Layer (type)", "Output Shape", "Param #"]
        alignment = ["left", "left", "right"]
    else:
        default_line_length = 108
        positions = list(positions) if positions is not None else [0.3, 0.56, 0.74, 1.0]
        header = ["Layer (type)", "Output Shape", "Param #", "Connected to"]
        alignment = ["left", "left", "right", "left"]
    if show_trainable:
        default_line_length += 12
        positions = [p * 0.90 for p in positions] + [1.0]
        header.append("Trainable")
        alignment.append("center")
    if len(positions) != len(header):
        raise ValueError(f"positions: expected {len(header)} column positions, got {positions!r}")
    if line_length is None:
        line_length = min(default_line_length, shutil.get_terminal_size().columns - 4)
    elif isinstance(line_length, bool) or not isinstance(line_length, (int, np.integer)) or line_length <= 0:
        raise ValueError(f"line_length: expected a positive integer, got {line_length!r}")
    widths = _column_widths(int(line_length), positions)

    lines = [f'Model: "{model.name}"', _rule(_TOP, widths), *_row(header, widths, alignment, _HEAD),
             _rule(_HEAD_RULE, widths)]
    repeats = model._call_list is not None and not getattr(model, "is_functional", False)
    if not model.built or subclassed or repeats:  # (repeats: a Sequential calling a layer again, listed again)
        listed = list(model.layers)
    else:  # with the keras.ops calls; a model held as a layer is one row (expand_nested: its layers below it)
        listed = entries(model, model.operations if getattr(model, "is_functional", False) else model._graph_layers)
    first, last = layer_range_bounds(listed, layer_range)
    rows = [row for layer in listed[first:last]
            for row in _layer_rows(layer, expand_nested, show_trainable, connections=connections)]
    for i, row in enumerate(rows):
        if i:
            lines.append(_rule(_ROW_RULE, widths))
        lines += _row(row, widths, alignment)
    lines.append(_rule(_BOTTOM, widths))

    if model.built:
        trainable = _weights_size(model.trainable_weights)
        non_trainable = _weights_size(model.non_trainable_weights)
    else:  # (the weights of the layers built already: an adapted Normalization's)
        built = [layer for layer in listed if not _unbuilt(layer)]
        trainable = _weights_size([w for layer in built for w in layer.trainable_weights])
        non_trainable = _weights_size([w for layer in built for w in layer.non_trainable_weights])
    optimizer = _optimizer_size(model) if model.built else None
    total = [a + b + (optimizer[i] if optimizer else 0) for i, (a, b) in enumerate(zip(trainable, non_trainable))]
    totals = [("Total params", total), ("Trainable params", trainable), ("Non-trainable params", non_trainable)]
    if optimizer is not None:
        totals.append(("Optimizer params", optimizer))
    lines += [f" {label}: {count:,} ({readable_memory_size(size)})" for label, (count, size) in totals]
    lines.append(f" Backend: {model.ops or get_ops()!r}")
    return "\n".join(lines) + "\n"
