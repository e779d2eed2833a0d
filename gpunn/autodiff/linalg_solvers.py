"""More of ``keras.ops.linalg`` (and of its matrix functions elsewhere): the pseudo-inverse, least squares,
triangular solves, the inverse from a Cholesky factor, the rank, the LU factorization, ``logdet`` and the
pairwise distances ``cdist``. ``pinv`` carries its own gradient (that of a matrix of constant rank);
``lstsq``, ``solve_triangular`` and ``cholesky_inverse`` are composed of differentiable functions; the rank and
the LU factors have no gradient."""
from __future__ import annotations

import numpy as np

from . import array_functions as af
from . import extra_functions as ef
from . import functions as f
from .functions import _make, array_module
from .tensor import Tensor

_floats, _array = ef._floats, ef._array


def _at_least_matrices(name: str, x):
    shape = f._shape(x)
    if len(shape) < 2:
        raise ValueError(f"Expected input to have rank >= 2. Received input with shape {shape}.")
    return shape


def _swap(xp, a):
    return xp.swapaxes(a, -1, -2)


def pinv(x, rcond=None):
    """The Moore-Penrose pseudo-inverse by SVD: singular values at most ``rcond`` times the largest (by default
    10 * max(M, N) * the dtype's epsilon, JAX's) are taken as 0. Batched over leading axes."""
    x = _floats(x)
    shape = _at_least_matrices("pinv", x)
    xp = array_module(x)
    value = _array(x, xp)
    if rcond is None:
        rcond = 10 * max(shape[-2:]) * np.finfo(value.dtype).eps
    u, s, vh = xp.linalg.svd(value, full_matrices=False)
    cutoff = float(np.asarray(rcond)) * s.max(axis=-1, keepdims=True) if s.shape[-1] else s
    inverse_s = xp.where(s > cutoff, 1 / xp.where(s > cutoff, s, 1), 0).astype(value.dtype)
    out = xp.matmul(_swap(xp, vh) * inverse_s[..., None, :], _swap(xp, u))

    def gradient(g):
        # the derivative of the pseudo-inverse of a matrix of constant rank (Golub and Pereyra)
        out_t = _swap(xp, out)
        rows = xp.eye(shape[-2], dtype=value.dtype) - xp.matmul(value, out)      # I - A A+
        columns = xp.eye(shape[-1], dtype=value.dtype) - xp.matmul(out, value)   # I - A+ A
        g_t = _swap(xp, g)
        return (-xp.matmul(xp.matmul(out_t, g), out_t)
                + xp.matmul(xp.matmul(rows, g_t), xp.matmul(out, out_t))
                + xp.matmul(xp.matmul(out_t, out), xp.matmul(g_t, columns)))

    return _make(out, [x], [gradient])


def lstsq(a, b, rcond=None):
    """The least-squares solution ``x`` of ``a @ x = b`` of least norm (``a``: (M, N), ``b``: (M,) or (M, K)),
    singular values of ``a`` at most ``rcond`` times the largest (by default max(M, N) * epsilon, JAX's) taken
    as 0."""
    a, b = _floats(a), _floats(b)
    shape = f._shape(a)
    if len(shape) != 2:
        raise ValueError(f"lstsq: `a` must be a matrix (M, N), got shape {shape}")
    if len(f._shape(b)) not in (1, 2) or f._shape(b)[0] != shape[0]:
        raise ValueError(f"lstsq: `b` must have shape ({shape[0]},) or ({shape[0]}, K), got {f._shape(b)}")
    if rcond is None:
        rcond = max(shape) * np.finfo(_array(a, array_module(a)).dtype).eps
    return f.matmul(pinv(a, rcond=rcond), b)


def solve_triangular(a, b, lower=False):
    """The solution ``x`` of ``a @ x = b`` reading only the lower (``lower=True``) or upper triangle of ``a``."""
    a, b = _floats(a), _floats(b)
    _at_least_matrices("solve_triangular", a)
    return ef.solve(af.tril(a) if lower else af.triu(a), b)


def cholesky_inverse(x, upper=False):
    """The inverse of ``L @ L.T`` from its lower Cholesky factor ``L`` (of ``U.T @ U`` from the upper one
    ``U`` when ``upper``), as Keras computes it."""
    x = _floats(x)
    shape = f._shape(x)
    if len(shape) != 2:
        raise ValueError(f"Expected input to have rank 2. Received input with shape {shape}.")
    if shape[0] != shape[1]:
        raise ValueError(f"Expected a square matrix. Received non-square input with shape {shape}.")
    xp = array_module(x)
    inverse_factor = solve_triangular(x, xp.eye(shape[0], dtype=_array(x, xp).dtype), lower=not upper)
    if upper:
        return f.matmul(inverse_factor, f.transpose(inverse_factor))
    return f.matmul(f.transpose(inverse_factor), inverse_factor)


def matrix_rank(x, tol=None):
    """The number of singular values above ``tol`` (by default the largest times max(M, N) times the dtype's
    epsilon), in int32. Batched over leading axes."""
    x = _floats(x)
    shape = _at_least_matrices("matrix_rank", x)
    xp = array_module(x)
    value = _array(x, xp)
    s = xp.linalg.svd(value, compute_uv=False)
    if tol is None:
        tol = s.max(axis=-1, keepdims=True) * max(shape[-2:]) * np.finfo(value.dtype).eps
    return Tensor(xp.sum(s > tol, axis=-1).astype(np.int32))


def lu_factor(x):
    """(LU, pivots) as LAPACK's getrf and SciPy's ``lu_factor`` give them: L's multipliers below the diagonal
    and U on and above it, and ``pivots[i]``, the row swapped with row i (int32). Batched over leading axes."""
    x = _floats(x)
    shape = _at_least_matrices("lu_factor", x)
    xp = array_module(x)
    host = np.array(f.convert_to_numpy(x), copy=True)
    rows, columns = shape[-2:]
    pivots = np.zeros(shape[:-2] + (min(rows, columns),), dtype=np.int32)
    for index in np.ndindex(*shape[:-2]):
        lu = host[index]
        for k in range(min(rows, columns)):
            p = k + int(np.argmax(np.abs(lu[k:, k])))
            pivots[index + (k,)] = p
            if p != k:
                lu[[k, p]] = lu[[p, k]]
            if lu[k, k] != 0:
                lu[k + 1:, k] /= lu[k, k]
                lu[k + 1:, k + 1:] -= np.outer(lu[k + 1:, k], lu[k, k + 1:])
    return Tensor(xp.asarray(host)), Tensor(xp.asarray(pivots))


def logdet(x):
    """The log of the determinant of a symmetric positive-definite matrix (``slogdet``'s second part)."""
    return ef.slogdet(x)[1]


def cdist(x, y):
    """The Euclidean distances between the rows of ``x`` (..., m, d) and those of ``y`` (..., n, d): (..., m, n)."""
    x, y = _floats(x), _floats(y)
    if len(f._shape(x)) < 2 or len(f._shape(y)) < 2:
        raise ValueError("`cdist` inputs must have rank >= 2")
    if f._shape(x)[-1] != f._shape(y)[-1]:
        raise ValueError("Last dimension of inputs to `cdist` must match")
    difference = f.subtract(f.expand_dims(x, -2), f.expand_dims(y, -3))
    return f.sqrt(f.sum(f.multiply(difference, difference), axis=-1))
