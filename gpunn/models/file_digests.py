"""SHA-256 digests stored in a model file, so that a damaged file is refused on load and the error says what
is damaged.

The metadata entry ``DIGESTS_KEY`` holds, as JSON::

    {"tensors": {name: {"dtype": "float32", "shape": [64, 16], "sha256": hex}, ...},
     "metadata": {key: hex, ...}}

one SHA-256 per tensor, of its bytes as stored (little-endian, C order), and one per other metadata entry (the
model config, the compile config, the format version, ...), of its UTF-8 text. A tensor's dtype and shape are
recorded with its digest: a header whose dtype changed ('float32' to 'int32', same size) would otherwise
reinterpret intact bytes. Together with the safetensors reader's own checks of the header (valid JSON, offsets
that tile the data exactly), any changed byte of the file is caught. The key and this layout keep their
meaning across format versions; a new layout would get a new key.
"""
from __future__ import annotations

import hashlib
import json

import numpy as np

DIGESTS_KEY = "gpunn_sha256"

# How an error names the metadata entries that matter most to a user.
_METADATA_NAMES = {"model_config": "the model config", "compile_config": "the compile config"}


def _sha256(array: np.ndarray) -> str:
    array = np.ascontiguousarray(array)
    if array.dtype.byteorder == ">":  # safetensors stores little-endian; hash what it stores
        array = array.astype(array.dtype.newbyteorder("<"))
    return hashlib.sha256(array.reshape(-1).view(np.uint8)).hexdigest()


def _text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _tensor_record(array: np.ndarray) -> dict:
    return {"dtype": array.dtype.name, "shape": list(array.shape), "sha256": _sha256(array)}


def digest_record(tensors: dict, metadata: dict) -> str:
    """The ``DIGESTS_KEY`` entry for a file of ``tensors`` and ``metadata`` (which must not hold that key)."""
    return json.dumps({
        "tensors": {name: _tensor_record(value) for name, value in sorted(tensors.items())},
        "metadata": {key: _text_sha256(value) for key, value in sorted(metadata.items())},
    }, separators=(",", ":"))


def _metadata_name(key: str) -> str:
    return f"{_METADATA_NAMES[key]} (metadata {key!r})" if key in _METADATA_NAMES else f"metadata entry {key!r}"


def find_damage(record: str, tensors: dict, metadata: dict) -> list[str]:
    """What in a file of ``tensors`` and ``metadata`` (less the record) does not match its digest ``record``:
    one phrase per damaged item, none for an intact file."""
    try:
        parsed = json.loads(record)
        tensor_records, metadata_digests = parsed["tensors"], parsed["metadata"]
        if not isinstance(tensor_records, dict) or not isinstance(metadata_digests, dict):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        return [f"its digest record (metadata {DIGESTS_KEY!r}) is not readable"]
    damage = []
    for key in sorted(set(metadata) | set(metadata_digests)):
        if key not in metadata_digests:
            damage.append(f"{_metadata_name(key)} was not in the file when it was saved (a damaged name?)")
        elif key not in metadata:
            damage.append(f"{_metadata_name(key)} is missing")
        elif _text_sha256(metadata[key]) != metadata_digests[key]:
            damage.append(f"{_metadata_name(key)} does not match its SHA-256 digest")
    for name in sorted(set(tensors) | set(tensor_records)):
        if name not in tensor_records:
            damage.append(f"tensor {name!r} was not in the file when it was saved (a damaged name?)")
            continue
        if name not in tensors:
            damage.append(f"tensor {name!r} is missing")
            continue
        saved, now = tensor_records[name], _tensor_record(tensors[name])
        if not isinstance(saved, dict):
            damage.append(f"the digest of tensor {name!r} is not readable")
        elif (saved.get("dtype"), saved.get("shape")) != (now["dtype"], now["shape"]):
            damage.append(f"tensor {name!r} has dtype {now['dtype']} and shape {now['shape']} in the header, "
                          f"{saved.get('dtype')} and {saved.get('shape')} when saved")
        elif saved.get("sha256") != now["sha256"]:
            damage.append(f"tensor {name!r} does not match its SHA-256 digest")
    return damage
