"""The text table ``model.summary()`` prints, laid out like Keras's."""
from __future__ import annotations


def format_summary(model) -> str:
    rows = [(f"{layer.name} ({type(layer).__name__})", str((None,) + tuple(layer.output_shape)),
             f"{layer.count_params():,}") for layer in model.layers]
    header = ("Layer (type)", "Output Shape", "Param #")
    widths = [max(len(r[i]) for r in rows + [header]) + 2 for i in range(3)]
    line = "".join(h.ljust(w) for h, w in zip(header, widths))
    rule = "=" * len(line)
    body = ["".join(c.ljust(w) for c, w in zip(row, widths)) for row in rows]
    total = model.count_params()
    trainable = sum(int(w.size) for w in model.trainable_weights)
    return "\n".join([
        f'Model: "{model.name}"', rule, line, rule, *body, rule,
        f"Total params: {total:,}", f"Trainable params: {trainable:,}", f"Non-trainable params: {total - trainable:,}",
        f"Backend: {model.ops!r}",
    ])
