"""The string hashes Keras's ``Hashing`` and ``IntegerLookup`` apply to integers, and ``StringLookup`` to the
strings outside its vocabulary, without TensorFlow.

Keras hashes an integer as TensorFlow does: ``tf.strings.as_string`` (its decimal text, '-12'), then
``tf.strings.to_hash_bucket_fast`` (FarmHash's ``Fingerprint64``, which is ``farmhashna::Hash64``) or, with a
salt, ``tf.strings.to_hash_bucket_strong`` (SipHash-2-4 keyed by the two salt integers), and takes the hash
modulo the number of buckets. Both are written here over NumPy uint64 arrays (whose arithmetic wraps modulo
2**64, as C's does), one vectorised pass per text length, so a batch costs a few array operations.

The decimal text of an int64 is at most 20 bytes; strings may be of any length, so FarmHash's branches for
33-64 bytes and its loop over 64-byte blocks are here too.
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


def text_hash_buckets(texts: np.ndarray, num_buckets: int, salt=None) -> np.ndarray:
    """The bucket in [0, ``num_buckets``) of each ``str`` in ``texts`` (any shape), as TensorFlow's
    ``to_hash_bucket_fast`` (``salt`` None) or ``to_hash_bucket_strong`` assigns its UTF-8 bytes."""
    texts = np.asarray(texts)
    distinct, where = np.unique(texts.reshape(-1), return_inverse=True)
    encoded = [text.encode("utf-8") for text in distinct.tolist()]
    hashes = fingerprint64(encoded) if salt is None else siphash64(encoded, salt)
    return (hashes % _U64(num_buckets)).astype(np.int64)[where].reshape(texts.shape)


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


def _by_length(texts, hash_block) -> np.ndarray:
    """``hash_block(bytes matrix, length)`` applied to the texts (byte strings) of each length, gathered back in
    order."""
    texts = list(texts)
    lengths = np.array([len(text) for text in texts], dtype=np.int64)
    out = np.empty(len(texts), dtype=np.uint64)
    for length in np.unique(lengths):
        rows = np.flatnonzero(lengths == length)
        # The texts of one length as one byte matrix, hashed together (NumPy's bytes arrays would drop
        # trailing NUL bytes, so the matrix is joined from the bytes themselves)
        joined = b"".join(texts[row] for row in rows)
        block = np.frombuffer(joined, dtype=np.uint8).reshape(len(rows), int(length))
        out[rows] = hash_block(block, int(length))
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
    """farmhashna::Hash64 of rows of ``length`` bytes."""
    if length > 64:
        return _farmhash_long(block, length)
    if length > 32:
        return _farmhash_33_to_64(block, length)
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


def _farmhash_33_to_64(block: np.ndarray, length: int) -> np.ndarray:
    """farmhashna's HashLen33to64."""
    with np.errstate(over="ignore"):
        mul = _K2 + _U64(2 * length)
        a = _little_endian(block, 0, 8) * _K2
        b = _little_endian(block, 8, 8)
        c = _little_endian(block, length - 8, 8) * mul
        d = _little_endian(block, length - 16, 8) * _K2
        y = _rotate_right(a + b, 43) + _rotate_right(c, 30) + d
        z = _hash_len16(y, a + _rotate_right(b + _K2, 18) + c, mul)
        e = _little_endian(block, 16, 8) * mul
        f = _little_endian(block, 24, 8)
        g = (y + _little_endian(block, length - 32, 8)) * mul
        h = (z + _little_endian(block, length - 24, 8)) * mul
        return _hash_len16(_rotate_right(e + f, 43) + _rotate_right(g, 30) + h, e + _rotate_right(f + a, 18) + g, mul)


def _weak_hash_len32_with_seeds(block: np.ndarray, start: int, a, b):
    """farmhashna's WeakHashLen32WithSeeds of the 32 bytes at ``start``, seeded with ``a`` and ``b``."""
    w, x, y, z = (_little_endian(block, start + 8 * i, 8) for i in range(4))
    a = a + w
    b = _rotate_right(b + a + z, 21)
    c = a
    a = a + x + y
    b = b + _rotate_right(a, 44)
    return a + z, b + c


def _farmhash_long(block: np.ndarray, length: int) -> np.ndarray:
    """farmhashna's Hash64 for more than 64 bytes: a state of 56 bytes through every 64-byte block, then the
    last 64 bytes."""
    n = len(block)
    with np.errstate(over="ignore"):
        seed = _U64(81)
        x = np.full(n, seed, dtype=np.uint64)
        y = np.full(n, seed * _K1 + _U64(113), dtype=np.uint64)
        z = _shift_mix(y * _K2 + _U64(113)) * _K2
        v = (np.zeros(n, np.uint64), np.zeros(n, np.uint64))
        w = (np.zeros(n, np.uint64), np.zeros(n, np.uint64))
        x = x * _K2 + _little_endian(block, 0, 8)
        end = ((length - 1) // 64) * 64
        for s in range(0, end, 64):
            x = _rotate_right(x + y + v[0] + _little_endian(block, s + 8, 8), 37) * _K1
            y = _rotate_right(y + v[1] + _little_endian(block, s + 48, 8), 42) * _K1
            x = x ^ w[1]
            y = y + v[0] + _little_endian(block, s + 40, 8)
            z = _rotate_right(z + w[0], 33) * _K1
            v = _weak_hash_len32_with_seeds(block, s, v[1] * _K1, x + w[0])
            w = _weak_hash_len32_with_seeds(block, s + 32, z + w[1], y + _little_endian(block, s + 16, 8))
            z, x = x, z
        mul = _K1 + ((z & _U64(0xFF)) << _U64(1))
        s = length - 64
        w0 = w[0] + _U64((length - 1) & 63)
        v0 = v[0] + w0
        w0 = w0 + v0
        v, w = (v0, v[1]), (w0, w[1])
        x = _rotate_right(x + y + v[0] + _little_endian(block, s + 8, 8), 37) * mul
        y = _rotate_right(y + v[1] + _little_endian(block, s + 48, 8), 42) * mul
        x = x ^ (w[1] * _U64(9))
        y = y + v[0] * _U64(9) + _little_endian(block, s + 40, 8)
        z = _rotate_right(z + w[0], 33) * mul
        v = _weak_hash_len32_with_seeds(block, s, v[1] * mul, x + w[0])
        w = _weak_hash_len32_with_seeds(block, s + 32, z + w[1], y + _little_endian(block, s + 16, 8))
        z, x = x, z
        return _hash_len16(_hash_len16(v[0], w[0], mul) + _shift_mix(y) * _K0 + z, _hash_len16(v[1], w[1], mul) + x,
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
