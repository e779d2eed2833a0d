"""The string hashes Keras's ``Hashing`` and ``IntegerLookup`` apply to integers, without TensorFlow.

Keras hashes an integer as TensorFlow does: ``tf.strings.as_string`` (its decimal text, '-12'), then
``tf.strings.to_hash_bucket_fast`` (FarmHash's ``Fingerprint64``, which is ``farmhashna::Hash64``) or, with a
salt, ``tf.strings.to_hash_bucket_strong`` (SipHash-2-4 keyed by the two salt integers), and takes the hash
modulo the number of buckets. Both are written here over NumPy uint64 arrays (whose arithmetic wraps modulo
2**64, as C's does), one vectorised pass per text length, so a batch costs a few array operations.

The decimal text of an int64 is at most 20 bytes, so only FarmHash's branches for 0-16 and 17-32 bytes are
needed; longer texts are refused.
"""
from __future__ import annotations

import numpy as np

_U64 = np.uint64
_K0, _K1, _K2 = _U64(0xC3A5C85C97CB3127), _U64(0xB492B66FBE98F273), _U64(0x9AE16A3B2F90404F)
_KMUL = _U64(0x9DDFEA08EB382D69)
_SIP_CONSTANTS = (0x736F6D6570736575, 0x646F72616E646F6D, 0x6C7967656E657261, 0x7465646279746573)


def decimal_texts(values: np.ndarray) -> np.ndarray:
    """The decimal text of each int64 in ``values`` (a flat array), as bytes: what ``tf.strings.as_string``
    writes for an integer."""
    return np.char.encode(np.asarray(values, dtype=np.int64).astype(str), "ascii")


def fingerprint64(texts: np.ndarray) -> np.ndarray:
    """FarmHash ``Fingerprint64`` of each byte string in ``texts`` (a flat array of bytes), as uint64."""
    return _by_length(texts, _farmhash_of_length)


def siphash64(texts: np.ndarray, key) -> np.ndarray:
    """SipHash-2-4 of each byte string in ``texts``, keyed by ``key`` (two integers: TensorFlow's ``key``
    argument, highwayhash's ``SipHash(key, ...)``), as uint64."""
    k0, k1 = (_U64(int(k) & 0xFFFFFFFFFFFFFFFF) for k in key)
    return _by_length(texts, lambda block, length: _siphash_of_length(block, length, k0, k1))


def hash_buckets(values: np.ndarray, num_buckets: int, salt=None) -> np.ndarray:
    """The bucket in [0, ``num_buckets``) of each int64 in ``values`` (any shape), as TensorFlow assigns it to
    the integer's decimal text: FarmHash64 when ``salt`` is None, else SipHash64 keyed by ``salt`` (two ints)."""
    values = np.asarray(values, dtype=np.int64)
    # Hash each distinct value once: categorical columns repeat their values.
    distinct, where = np.unique(values.reshape(-1), return_inverse=True)
    texts = decimal_texts(distinct)
    hashes = fingerprint64(texts) if salt is None else siphash64(texts, salt)
    return (hashes % _U64(num_buckets)).astype(np.int64)[where].reshape(values.shape)


# ---- helpers ----------------------------------------------------------------------------------------------


def _by_length(texts: np.ndarray, hash_block) -> np.ndarray:
    """``hash_block(bytes matrix, length)`` applied to the texts of each length, gathered back in order."""
    texts = np.asarray(texts, dtype=bytes)
    lengths = np.char.str_len(texts) if texts.size else np.zeros(0, dtype=np.int64)
    if texts.size and lengths.max() > 32:
        raise ValueError(f"texts: hashes are written for texts of at most 32 bytes, got {int(lengths.max())}")
    out = np.empty(texts.shape, dtype=np.uint64)
    width = max(int(lengths.max()) if texts.size else 0, 1)
    # One byte matrix (rows padded with zeros): rows of one length are hashed together.
    matrix = np.frombuffer(texts.astype(f"S{width}").tobytes(), dtype=np.uint8).reshape(len(texts), width)
    for length in np.unique(lengths):
        rows = lengths == length
        out[rows] = hash_block(matrix[rows, :length], int(length))
    return out


def _little_endian(block: np.ndarray, start: int, size: int) -> np.ndarray:
    """The unsigned little-endian integer of ``size`` bytes at ``start`` of each row (FarmHash's Fetch)."""
    value = np.zeros(len(block), dtype=np.uint64)
    for i in range(size):
        value |= block[:, start + i].astype(np.uint64) << _U64(8 * i)
    return value


def _rotate_right(value, shift: int):
    return (value >> _U64(shift)) | (value << _U64(64 - shift))


def _rotate_left(value, shift: int):
    return (value << _U64(shift)) | (value >> _U64(64 - shift))


def _shift_mix(value):
    return value ^ (value >> _U64(47))


def _hash_len16(u, v, mul):
    a = (u ^ v) * mul
    a ^= a >> _U64(47)
    b = (v ^ a) * mul
    b ^= b >> _U64(47)
    return b * mul


def _farmhash_of_length(block: np.ndarray, length: int) -> np.ndarray:
    """farmhashna::Hash64 of rows of ``length`` bytes (HashLen0to16 and HashLen17to32)."""
    n = len(block)
    with np.errstate(over="ignore"):
        if length == 0:
            return np.full(n, _K2, dtype=np.uint64)
        mul = _K2 + _U64(2 * length)
        if length < 4:
            a = block[:, 0].astype(np.uint64)
            b = block[:, length >> 1].astype(np.uint64)
            c = block[:, length - 1].astype(np.uint64)
            y = a + (b << _U64(8))
            z = _U64(length) + (c << _U64(2))
            return _shift_mix((y * _K2) ^ (z * _K0)) * _K2
        if length < 8:
            a = _little_endian(block, 0, 4)
            return _hash_len16(_U64(length) + (a << _U64(3)), _little_endian(block, length - 4, 4), mul)
        if length <= 16:
            a = _little_endian(block, 0, 8) + _K2
            b = _little_endian(block, length - 8, 8)
            c = _rotate_right(b, 37) * mul + a
            d = (_rotate_right(a, 25) + b) * mul
            return _hash_len16(c, d, mul)
        a = _little_endian(block, 0, 8) * _K1
        b = _little_endian(block, 8, 8)
        c = _little_endian(block, length - 8, 8) * mul
        d = _little_endian(block, length - 16, 8) * _K2
        return _hash_len16(_rotate_right(a + b, 43) + _rotate_right(c, 30) + d, a + _rotate_right(b + _K2, 18) + c,
                           mul)


def _sip_rounds(v, rounds: int):
    v0, v1, v2, v3 = v
    for _ in range(rounds):
        v0 = v0 + v1
        v1 = _rotate_left(v1, 13) ^ v0
        v0 = _rotate_left(v0, 32)
        v2 = v2 + v3
        v3 = _rotate_left(v3, 16) ^ v2
        v0 = v0 + v3
        v3 = _rotate_left(v3, 21) ^ v0
        v2 = v2 + v1
        v1 = _rotate_left(v1, 17) ^ v2
        v2 = _rotate_left(v2, 32)
    return v0, v1, v2, v3


def _siphash_of_length(block: np.ndarray, length: int, k0, k1) -> np.ndarray:
    """SipHash-2-4 of rows of ``length`` bytes: 8-byte words, then the last word holding the remaining bytes
    and the length in its top byte."""
    n = len(block)
    with np.errstate(over="ignore"):
        v = [np.full(n, _U64(c), dtype=np.uint64) ^ k for c, k in zip(_SIP_CONSTANTS, (k0, k1, k0, k1))]
        full = length - length % 8
        words = [_little_endian(block, start, 8) for start in range(0, full, 8)]
        last = _little_endian(block, full, length - full) | (_U64(length & 0xFF) << _U64(56))
        for word in words + [last]:
            v[3] ^= word
            v = list(_sip_rounds(v, 2))
            v[0] ^= word
        v[2] ^= _U64(0xFF)
        v0, v1, v2, v3 = _sip_rounds(v, 4)
        return v0 ^ v1 ^ v2 ^ v3
