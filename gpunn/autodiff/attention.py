"""``keras.ops.nn.dot_product_attention`` (JAX's ``dot_product_attention``, as Keras's backends compute it):
``softmax(scale * query . key + bias, masked) . value`` over (batch, steps, heads, head size) arrays, composed of
``functions.py``'s einsum and softmax, so differentiable in the query, key, value and bias."""
from __future__ import annotations

import math

import numpy as np

from . import array_functions as af
from . import extra_functions as ef
from . import functions as f
from .functions import array_module


def dot_product_attention(query, key, value, bias=None, mask=None, scale=None, is_causal=False,
                          flash_attention=None, attn_logits_soft_cap=None):
    """Scaled dot-product attention of 4-D (batch, steps, heads, head size) inputs (``scale``: 1 / sqrt(head
    size) by default; ``mask``: True where a query may attend to a key; ``is_causal``: no key after the query)."""
    if flash_attention:
        raise ValueError("Flash attention is not supported here: gpunn computes attention with its einsum and "
                         "softmax (flash_attention=None or False)")
    if attn_logits_soft_cap is not None:
        raise ValueError("attn_logits_soft_cap is only supported for JAX on TPU. Set attn_logits_soft_cap=None "
                         "when not using JAX on TPU.")
    query, key, value = ef._floats(query), ef._floats(key), ef._floats(value)
    shapes = [f._shape(x) for x in (query, key, value)]
    if len(shapes[0]) != 4:
        raise ValueError(f"`dot_product_attention` only supports 4D inputs. Received: query.shape={shapes[0]}, "
                         f"key.shape={shapes[1]}, value.shape={shapes[2]}.")
    heads, kv_heads = shapes[0][2], shapes[1][2]
    if heads != kv_heads:
        # grouped-query attention (JAX's): query head n attends with key/value head n // (heads // kv_heads)
        if kv_heads == 0 or heads % kv_heads:
            raise ValueError(f"dot_product_attention: the number of query heads ({heads}, query.shape="
                             f"{shapes[0]}) must be a multiple of the number of key/value heads ({kv_heads}, "
                             f"key.shape={shapes[1]})")
        key, value = (af.repeat(x, heads // kv_heads, axis=2) for x in (key, value))
    # a Python number, weak beside the logits (a NumPy float64 scale would make float32 inputs' result float64)
    scale = 1.0 / math.sqrt(shapes[1][-1]) if scale is None else _weak(scale)
    logits = f.multiply(af.einsum("BTNH,BSNH->BNTS", query, key), scale)
    if bias is not None:
        logits = f.add(logits, bias)
    keep = None
    if mask is not None:
        keep = np.asarray(f.convert_to_numpy(mask)).astype(bool)
    if is_causal:
        steps, keys = f._shape(logits)[2:]
        causal = np.tril(np.ones((steps, keys), dtype=bool))[None, None]
        keep = causal if keep is None else keep & causal
    if keep is not None:
        xp = array_module(logits)
        large_negative = -0.7 * (65500.0 if f._value(logits).dtype == np.float16 else 3.38953e38)
        logits = f.where(xp.asarray(np.broadcast_to(keep, f._shape(logits))), logits, large_negative)
    return af.einsum("BNTS,BSNH->BTNH", f.softmax(logits, axis=-1), value)


def _weak(scale):
    """A NumPy scalar as the Python number it holds (weak in Keras's promotion); anything else as it is."""
    return scale.item() if isinstance(scale, np.generic) or getattr(scale, "shape", None) == () else scale
