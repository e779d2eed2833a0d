"""Keras's per-layer saving hooks (``save_own_variables`` / ``load_own_variables``, ``save_assets`` /
``load_assets``), which a layer of the user's may define to write state of its own into a ``.keras`` file (the
guide "Customizing Saving and Serialization"). gpunn writes every layer's weights itself, at Keras's paths, and
keeps a layer's vocabularies as its assets; it would not call such hooks, and the state they carry would be lost
without a word. So saving or loading a model whose layers define one is refused, naming the hook."""
from __future__ import annotations

from .. import overrides
from ..layers import sublayers

HOOKS = ("save_own_variables", "load_own_variables", "save_assets", "load_assets")


def refuse_own_hooks(model, what: str) -> None:
    """Raise for the first layer of ``model`` (or inside one) whose class defines one of the hooks."""
    for layer in getattr(model, "_layers", ()):
        for _, owner in sublayers.owners(layer):
            for hook in HOOKS:
                if overrides.user_definition(type(owner), hook):
                    overrides.refuse(type(owner), hook, what,
                                     "gpunn writes each weight the layer made (add_weight, keras.Variable) at "
                                     "Keras's paths and restores it: keep the state to save in weights of the "
                                     "layer, and drop the hook")
