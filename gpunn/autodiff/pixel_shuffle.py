"""``keras.ops.nn.depth_to_space`` and ``space_to_depth`` (pixel shuffle and unshuffle): channels moved into
blocks of pixels and back, by the reshapes and transposes Keras uses (so gradients come with them)."""
from __future__ import annotations

from . import functions as f


def _checked(name: str, x, block_size, data_format):
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(f"{name}: data_format must be 'channels_last' or 'channels_first', got {data_format!r}")
    if isinstance(block_size, bool) or not isinstance(block_size, int):
        raise ValueError(f"{name}: block_size must be an integer, got {block_size!r}")
    if block_size < 2:
        raise ValueError(f"`block_size` must be at least 2. Received: block_size={block_size}")
    shape = f._shape(x)
    if len(shape) != 4:
        raise ValueError(f"{name}: expected a 4-D input (a batch of images), got shape {shape}")
    return shape


def depth_to_space(x, block_size, data_format="channels_last"):
    """(N, H, W, C) -> (N, H * b, W * b, C / b**2) (or the channels-first equivalent)."""
    n, a, b, c = _checked("depth_to_space", x, block_size, data_format)
    s = block_size
    if data_format == "channels_last":
        if c % (s * s):
            raise ValueError(f"depth_to_space: channels {c} are not a multiple of block_size**2 = {s * s}")
        x = f.transpose(f.reshape(x, (n, a, b, s, s, c // (s * s))), (0, 1, 3, 2, 4, 5))
        return f.reshape(x, (n, a * s, b * s, c // (s * s)))
    channels, h, w = a, b, c
    if channels % (s * s):
        raise ValueError(f"depth_to_space: channels {channels} are not a multiple of block_size**2 = {s * s}")
    x = f.transpose(f.reshape(x, (n, channels // (s * s), s, s, h, w)), (0, 1, 4, 2, 5, 3))
    return f.reshape(x, (n, channels // (s * s), h * s, w * s))


def space_to_depth(x, block_size, data_format="channels_last"):
    """(N, H, W, C) -> (N, H / b, W / b, C * b**2) (or the channels-first equivalent)."""
    n, a, b, c = _checked("space_to_depth", x, block_size, data_format)
    s = block_size
    h, w = (a, b) if data_format == "channels_last" else (b, c)
    if h % s or w % s:
        raise ValueError(f"space_to_depth: height {h} and width {w} must be multiples of block_size {s}")
    if data_format == "channels_last":
        x = f.transpose(f.reshape(x, (n, h // s, s, w // s, s, c)), (0, 1, 3, 2, 4, 5))
        return f.reshape(x, (n, h // s, w // s, c * s * s))
    channels = a
    x = f.transpose(f.reshape(x, (n, channels, h // s, s, w // s, s)), (0, 1, 3, 5, 2, 4))
    return f.reshape(x, (n, channels * s * s, h // s, w // s))
