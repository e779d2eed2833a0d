"""Keras layer arguments for what gpunn does not compute (LoRA, quantization, batch renormalization, synchronized
batch statistics, the deprecated RMS scaling of LayerNormalization): taken at the values that leave them unused,
as Keras's own signatures and configs spell them (``Dense(..., lora_rank=None)``, a config read back with
``quantization_config: None``), and refused by name at any other value, since gpunn would compute something
other than what was asked."""
from __future__ import annotations


def refuse_used(layer: str, what: str, **arguments) -> None:
    """A ValueError naming the first of ``arguments`` (name=value) that is set: as Keras tests them (``if
    self.lora_rank:``), None, False, 0 and an empty config leave them unused."""
    for argument, value in arguments.items():
        if value:
            raise ValueError(f"{layer}: {argument}={value!r} is not supported: gpunn {what}; leave it "
                             f"{'False' if argument in _FLAGS else 'None'}")


_FLAGS = ("renorm", "synchronized", "rms_scaling")
FULL_PRECISION = "trains the full weights in floating point (no LoRA, no quantization)"
