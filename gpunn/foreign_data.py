"""Data from pandas and scipy.sparse, recognised without importing either library.

An object can only be a pandas or scipy.sparse object if that library is already imported, so both are
looked up in ``sys.modules``: gpunn never imports them, and never depends on them.

- pandas: each column is converted on its own, nullable dtypes (``Float32``, ``Int64``, ``boolean``) to their
  NumPy dtype; a column with missing values, or one that is not numeric, is refused by name (NumPy alone would
  turn a frame of nullable columns into an object array, or a missing value into an anonymous NaN).
- scipy.sparse: refused, saying how to densify; the steps compute on dense batches.
"""
from __future__ import annotations

import sys

import numpy as np


def _pandas():
    return sys.modules.get("pandas")


def is_pandas_series(data) -> bool:
    pd = _pandas()
    return pd is not None and isinstance(data, pd.Series)


def is_scipy_sparse(data) -> bool:
    sparse = sys.modules.get("scipy.sparse")
    return sparse is not None and sparse.issparse(data)


def refuse_sparse(argument: str, data) -> None:
    if is_scipy_sparse(data):
        raise TypeError(
            f"{argument}: scipy.sparse input ({type(data).__name__} of shape {data.shape}) is not supported; "
            f"convert it to a dense array first with {argument}.toarray() (it needs "
            f"{data.shape[0]} x {int(np.prod(data.shape[1:]))} values in memory)"
        )


def refuse_masked(argument: str, data) -> None:
    """A NumPy masked array with entries masked out: ``np.asarray`` would hand the model the values hidden
    under the mask, without a word (Keras on jax refuses every masked array)."""
    if isinstance(data, np.ma.MaskedArray) and np.ma.count_masked(data):
        first = tuple(int(i) for i in np.argwhere(np.ma.getmaskarray(data))[0])
        raise ValueError(
            f"{argument}: a masked array with {np.ma.count_masked(data)} masked value(s), the first at index "
            f"{first}; the model would read the values under the mask. Fill them ({argument}.filled(value)) or "
            "drop the samples holding them from every array alike (keep = ~np.ma.getmaskarray("
            f"{argument}){'.any(axis=1)' if data.ndim == 2 else ''}; then x[keep], y[keep])"
        )


def from_pandas(argument: str, data):
    """A DataFrame or Series as a NumPy array (a Series stays 1-D); anything else is returned as it is."""
    pd = _pandas()
    if pd is None:
        return data
    if isinstance(data, pd.Series):
        return _column(argument, f"the Series {data.name!r}" if data.name is not None else "the Series", data)
    if isinstance(data, pd.DataFrame):
        if data.shape[1] == 0:
            raise ValueError(f"{argument}: expected at least one column, got a DataFrame with none")
        columns = [_column(argument, f"column {name!r}", data.iloc[:, i]) for i, name in enumerate(data.columns)]
        return np.column_stack(columns)
    return data


def _column(argument: str, what: str, column) -> np.ndarray:
    pd = _pandas()
    dtype = column.dtype
    if not (pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype)):
        hint = ("one-hot it (pd.get_dummies) or take its codes (.cat.codes)" if isinstance(
            dtype, pd.CategoricalDtype) else "convert it (pd.to_numeric) if it holds numbers; one-hot text "
            "categories (pd.get_dummies) or map them with a StringLookup layer")
        raise TypeError(f"{argument}: {what} has dtype {dtype}; expected numeric columns (float, int or bool): "
                        f"{hint}")
    missing = column.isna().to_numpy()
    if missing.any():
        raise ValueError(
            f"{argument}: {what} has {int(missing.sum())} missing value(s) (NaN/NA), the first at row "
            f"{int(np.argmax(missing))}; fill or drop them first (e.g. {argument}.fillna(...) or "
            f"{argument}.dropna())"
        )
    # Masked (nullable) dtypes name their NumPy twin; with no missing value the conversion is exact.
    return column.to_numpy(dtype=getattr(dtype, "numpy_dtype", None))
