"""Keras configs that hold a model as a layer: a Sequential added to a Sequential, or a model called in a functional
model (``x = base_model(inputs, training=False)``). Keras keeps such a model as one layer entry whose config
holds its own layers (a Sequential's list, or a functional model's graph), and its weights under that entry's
path (``layers/sequential/layers/dense/vars``). gpunn makes the model from that entry and adds or calls it as
the script did (``keras_config.layers_of``; ``model_entries.py``)."""
from __future__ import annotations

MODEL_CLASSES = ("Sequential", "Functional", "Model")


def is_model_entry(entry: dict) -> bool:
    """Whether a config's layer entry is a model: Keras's own classes, or a keras.Model subclass of the user's that
    the load can make (registered, or in ``custom_objects``), as Keras writes one held by a functional model (its
    class, its ``get_config()`` and its build shape)."""
    from .subclassed_config import model_class

    return entry.get("class_name") in MODEL_CLASSES or model_class(entry) is not None


def check_called_once(config: dict) -> None:
    """Refuse, by name, a model called as a layer more than once or on several inputs, which gpunn's functional
    models do not take from a config."""
    for entry in config.get("layers", []):
        if not is_model_entry(entry):
            continue
        name = entry.get("name") or entry["config"].get("name")
        nodes = entry.get("inbound_nodes") or []
        if len(nodes) > 1:
            raise ValueError(f"layer {name!r}: a model called {len(nodes)} times; gpunn's functional models call each "
                             "layer once")
        if nodes and _tensor_count(nodes[0]) > 1:
            raise ValueError(f"layer {name!r}: a called model of several inputs; gpunn calls models of one input "
                             "inside another")


def _tensor_count(node) -> int:
    """How many tensors a node reads (Keras 3's {"args", "kwargs"}, or tf.keras 2's [[name, node, tensor, kwargs],
    ...])."""
    if isinstance(node, dict):
        found = []

        def visit(value):
            if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
                found.append(value)
            elif isinstance(value, dict):
                for item in value.values():
                    visit(item)
            elif isinstance(value, list):
                for item in value:
                    visit(item)

        visit(node.get("args"))
        return len(found)
    return len(node)
