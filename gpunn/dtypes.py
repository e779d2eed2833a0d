"""Keras's dtype names and type promotion (keras/src/backend/common/variables.py ``standardize_dtype``,
keras/src/backend/common/dtypes.py ``result_type``): ``keras.backend.standardize_dtype``, ``is_float_dtype``,
``is_int_dtype`` and ``result_type``.

Keras promotes on a lattice adapted from JAX's: a Python ``int`` or ``float`` is a weak type that takes the other
operand's precision (int8 + 1 is int8, bfloat16 + 1.0 is bfloat16), ints meet floats at the float's width
(int64 + float32 is float32). One difference, stated: Keras's JAX, Torch and NumPy backends then narrow 64-bit
results to 32 bits (JAX's default); gpunn computes float64 where it is asked to (a layer's ``dtype="float64"``),
so ``result_type`` keeps 64-bit types as they are, as Keras's TensorFlow backend does.
"""
from __future__ import annotations

import functools

from .autodiff.legacy_backend import floatx

BOOL_TYPES = ("bool",)
INT_TYPES = ("uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32", "int64")
FLOAT_TYPES = ("bfloat16", "float16", "float32", "float64")
WEAK_TYPES = ("int", "float")
COMPLEX_TYPES = ("complex64", "complex128")
FLOAT8_TYPES = ("float8_e4m3fn", "float8_e5m2")  # no implicit conversion to or from them
ALLOWED_DTYPES = ("float16", "float32", "float64", "uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32",
                  "int64", "bfloat16", "bool", "string", "float8_e4m3fn", "float8_e5m2", "complex64", "complex128")
# Python's types by Keras's names on its JAX, Torch and NumPy backends (TensorFlow's: int64, complex128)
PYTHON_DTYPES = {bool: "bool", int: "int32", float: "float32", str: "string", "int": "int32", complex: "complex64"}


def standardize_dtype(dtype) -> str:
    """A dtype's Keras name ("float32", "int32"...) from a name, a NumPy / CuPy dtype or scalar type, or a
    Python type; None is ``floatx()``. A ValueError names any other."""
    if dtype is None:
        return floatx()
    try:
        dtype = PYTHON_DTYPES.get(dtype, dtype)
    except TypeError:  # unhashable
        raise ValueError(f"Invalid dtype: {dtype!r}") from None
    if hasattr(dtype, "name"):
        dtype = dtype.name
    elif hasattr(dtype, "__name__"):
        dtype = dtype.__name__
    elif "torch" in str(dtype) or "jax.numpy" in str(dtype):
        dtype = str(dtype).split(".")[-1]
    if dtype not in ALLOWED_DTYPES:
        raise ValueError(f"Invalid dtype: {dtype}")
    return dtype


def is_float_dtype(dtype) -> bool:
    dtype = standardize_dtype(dtype)
    return dtype.startswith(("float", "bfloat"))


def is_int_dtype(dtype) -> bool:
    dtype = standardize_dtype(dtype)
    return dtype.startswith(("int", "uint"))


def _promotion_lattice() -> dict:
    """Each type -> the types immediately above it (Keras's ``_type_promotion_lattice``)."""
    (b1,) = BOOL_TYPES
    u1, u2, u4, u8, i1, i2, i4, i8 = INT_TYPES
    bf, f2, f4, f8 = FLOAT_TYPES
    i_, f_ = WEAK_TYPES
    c64, c128 = COMPLEX_TYPES
    return {b1: [i_], u1: [i2, u2], u2: [i4, u4], u4: [i8, u8], u8: [f_], i_: [u1, i1, c64], i1: [i2], i2: [i4],
            i4: [i8], i8: [f_], f_: [bf, f2], bf: [f4], f2: [f4], f4: [f8, c64], f8: [c128], c64: [c128],
            c128: []}


def _upper_bounds() -> dict:
    lattice = _promotion_lattice()
    bounds = {node: {node} for node in lattice}
    for node in lattice:
        while True:
            above = set().union(*(lattice[b] for b in bounds[node]))
            if above <= bounds[node]:
                break
            bounds[node] |= above
    return bounds


UPPER_BOUNDS = _upper_bounds()


@functools.lru_cache(maxsize=512)
def _least_upper_bound(*nodes) -> str:
    unknown = [n for n in nodes if n not in UPPER_BOUNDS]
    if unknown:
        raise ValueError(f"dtype={unknown[0]!r} is not a valid dtype for Keras type promotion.")
    nodes = set(nodes)
    common = set.intersection(*(UPPER_BOUNDS[n] for n in nodes))
    least = (common & nodes) or {c for c in common if common <= UPPER_BOUNDS[c]}
    if len(least) != 1:
        raise ValueError(f"Input dtypes {tuple(sorted(nodes))} have no available implicit dtype promotion path. "
                         "Try explicitly casting inputs to the desired output type.")
    return least.pop()


def _weak(dtype: str) -> str:
    """The weak type of ``dtype`` (a Python scalar's: "int", "float"; bool stays bool)."""
    if dtype == "bool":
        return dtype
    for kind in ("float", "int", "complex"):
        if kind in dtype:
            return kind
    raise ValueError(f"Invalid value for argument `dtype`. Expected one of {ALLOWED_DTYPES}. Received: dtype={dtype}")


def _resolve_weak(dtype: str, precision: str) -> str:
    """A weak result at ``floatx()``'s precision: "int" -> int32 under float32."""
    indicator = "f" if dtype == "bfloat16" else dtype[:1]
    if indicator == "b":
        return "bool"
    if indicator == "i":
        return f"int{precision}"
    if indicator == "u":
        return f"uint{precision}"
    return f"float{precision}"  # a complex one too, as in Keras


def result_type(*dtypes) -> str:
    """``keras.backend.result_type``: the dtype Keras's promotion rules give these (names, dtypes, Python types
    ``int`` / ``float`` / ``bool`` as weak types; None is ``floatx()``; none at all is ``floatx()``)."""
    if not dtypes:
        return floatx()
    if any(isinstance(d, str) and d in FLOAT8_TYPES for d in dtypes):
        raise ValueError(f"There is no implicit conversions from float8 dtypes to others. You must cast it "
                         f"internally. Received: {dtypes}")
    dtypes = tuple(floatx() if d is None else d for d in dtypes)
    weak = tuple(d is int or d is float for d in dtypes)
    names = tuple(standardize_dtype(d) for d in dtypes)
    if len(names) == 1:
        out, out_weak = names[0], weak[0]
    elif len(set(names)) == 1 and not all(weak):
        out, out_weak = names[0], False
    elif all(weak):
        out, out_weak = _least_upper_bound(*set(names)), True
    else:
        out = _least_upper_bound(*{_weak(n) if w else n for n, w in zip(names, weak)})
        out_weak = out in WEAK_TYPES
    if out != "bool" and out_weak:
        out = _resolve_weak(out, floatx()[-2:])
    return out
