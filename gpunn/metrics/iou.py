"""Intersection over union (keras/src/metrics/iou_metrics.py): IoU, BinaryIoU, MeanIoU, OneHotIoU, OneHotMeanIoU.

A confusion matrix (rows: the true class, columns: the predicted one) adds up over the batches, as one matmul of
one-hot rows per batch; the value is each target class's tp / (tp + fp + fn), averaged over the target classes
that occurred (in float32, as Keras computes it).

As in Keras 3: class ids are integers (a float id is truncated toward zero), a pair with an id outside
[0, num_classes) or a true id equal to ``ignore_class`` counts for nothing, and with the default integer dtype
the sample weights are truncated to integers too (Keras warns that a weight of 0.3 then counts 0); a float
``dtype`` ("float32") takes them as they are.
"""
from __future__ import annotations

import numbers
import warnings

import numpy as np

from .. import fuzz_factor
from ..autodiff.functions import convert_to_numpy
from .base import Metric, add_into, one_hot_rows



def _count(argument, value, low):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{argument}: expected an integer >= {low}, got {value!r}")
    return int(value)


class IoU(Metric):
    """The mean IoU of the classes ``target_class_ids`` (one id: that class's IoU). ``sparse_y_true`` /
    ``sparse_y_pred``: labels / predictions are class ids (else one-hot or scores, whose argmax is taken)."""

    direction = "up"

    def __init__(self, num_classes, target_class_ids, name=None, dtype=None, ignore_class=None, sparse_y_true=True,
                 sparse_y_pred=True, axis=-1):
        super().__init__(name=name, dtype="int32" if dtype is None else dtype)
        self.num_classes = _count("num_classes", num_classes, 1)
        try:
            ids = [_count("target_class_ids", k, 0) for k in target_class_ids]
        except TypeError:
            raise ValueError(f"target_class_ids: expected a list of class ids, got {target_class_ids!r}") from None
        if not ids:
            raise ValueError("target_class_ids: expected at least one class id, got none")
        if max(ids) >= self.num_classes:  # Keras's message
            raise ValueError(f"Target class id {max(ids)} is out of range, which is [0, {self.num_classes}).")
        self.target_class_ids = ids
        if ignore_class is not None and (isinstance(ignore_class, bool) or not isinstance(ignore_class,
                                                                                           numbers.Integral)):
            raise ValueError(f"ignore_class: expected an integer class id or None, got {ignore_class!r}")
        self.ignore_class = None if ignore_class is None else int(ignore_class)
        self.sparse_y_true, self.sparse_y_pred = bool(sparse_y_true), bool(sparse_y_pred)
        if axis not in (-1, 1):
            raise ValueError(f"axis: expected -1 (the classes of a model's (batch, classes) output), got {axis!r}")
        self.axis = axis
        self._integer_weights = np.dtype(self.dtype).kind in "iu"

    @property
    def label_layout(self):
        return "class_ids" if self.sparse_y_true else "dense"

    def check_layout(self, width: int, sparse_labels: bool) -> None:
        super().check_layout(width, sparse_labels)
        if self.sparse_y_pred and width != 1:
            raise ValueError(
                f"metrics: {type(self).__name__} ({self.name!r}) with sparse_y_pred=True takes one predicted class id "
                f"per sample, but the model's output is {width} values wide; pass sparse_y_pred=False to take each "
                "row's argmax")

    def state_shapes(self, width):
        return {"total_confusion_matrix": (self.num_classes, self.num_classes)}

    # ---- one batch -------------------------------------------------------------------------------------------
    def _ids(self, ops, ws, role, values, sparse):
        """(N,) integer class ids: the argmax of each row, or the values themselves, truncated toward zero."""
        if not sparse:
            return ops.argmax(values, -1, self._buffer(ws, role, values.shape[:1], np.intp))
        flat = values.reshape(-1)
        if flat.dtype.kind in "iu":
            return flat
        return ops.cast_into(flat, self._buffer(ws, role, flat.shape, np.intp))

    def _predicted_ids(self, ops, ws, predictions):
        return self._ids(ops, ws, "predicted_ids", predictions, self.sparse_y_pred)

    def _weights(self, ops, ws, sample_weight, rows, dtype):
        """(rows,) weights in ``dtype`` (a 0-d one without sample weights), truncated as Keras does where the
        metric's dtype is an integer one."""
        if sample_weight is None:
            return self._constant(ws, "one", 1, dtype)
        if self._integer_weights and sample_weight.dtype.kind == "f":
            warnings.warn("You are passing weight as `float`, but dtype is `int`. This may result in an incorrect "
                          "weight due to type casting Consider using integer weights.", stacklevel=5)
            sample_weight = ops.cast_into(sample_weight, self._buffer(ws, "whole_weights", (rows,), np.int64))
        if sample_weight.dtype == dtype:
            return sample_weight
        return ops.copy_into(sample_weight, self._buffer(ws, "weights", (rows,), dtype))

    def accumulate(self, ops, ws, y_true, predictions, state, sample_weight=None):
        dtype = predictions.dtype
        true = self._ids(ops, ws, "true_ids", y_true, self.sparse_y_true)
        predicted = self._predicted_ids(ops, ws, predictions)
        if len(true) != len(predicted):
            raise ValueError(f"y_pred: {type(self).__name__} ({self.name!r}) pairs each true class id with a "
                             f"predicted one, but there are {len(true)} true ids and {len(predicted)} predicted ones")
        rows = len(true)
        weights = self._weights(ops, ws, sample_weight, rows, dtype)
        # pairs inside [0, num_classes) (and not of the ignored class) count; the others weigh 0, at class 0
        n = self._constant(ws, "num_classes", self.num_classes, np.intp)
        zero = self._constant(ws, "zero", 0, np.intp)
        valid = self._buffer(ws, "valid", (rows,), np.bool_)
        check = self._buffer(ws, "check", (rows,), np.bool_)
        ops.greater_equal(true, zero, valid)
        for ids in (true, predicted):
            ops.logical_and(valid, ops.greater(n, ids, check), valid)
        ops.logical_and(valid, ops.greater_equal(predicted, zero, check), valid)
        if self.ignore_class is not None:
            ignored = ops.equal(true, self._constant(ws, "ignore_class", self.ignore_class, np.intp), check)
            ops.logical_and(valid, ops.equal(ignored, self._constant(ws, "false", False, np.bool_), check), valid)
        kept_true = ops.multiply(true, valid, self._buffer(ws, "kept_true", (rows,), np.intp))
        kept_predicted = ops.multiply(predicted, valid, self._buffer(ws, "kept_predicted", (rows,), np.intp))
        kept_weights = ops.multiply(weights, valid, self._buffer(ws, "kept_weights", (rows,), dtype))
        true_rows = one_hot_rows(self, ops, ws, kept_true, self.num_classes, dtype, role="true_rows")
        predicted_rows = one_hot_rows(self, ops, ws, kept_predicted, self.num_classes, dtype, role="predicted_rows")
        ops.multiply(predicted_rows, kept_weights.reshape(-1, 1), predicted_rows)
        matrix = ops.matmul(true_rows.T, predicted_rows,
                            self._buffer(ws, "confusion", (self.num_classes, self.num_classes), dtype))
        add_into(ops, ws, self, "total_confusion_matrix", matrix, state["total_confusion_matrix"])

    # ---- the value -------------------------------------------------------------------------------------------
    def finalize(self, state):
        matrix = np.asarray(state["total_confusion_matrix"])
        true_positives = np.diag(matrix)
        denominator = matrix.sum(axis=0) + matrix.sum(axis=1) - true_positives
        targets = self.target_class_ids
        denominator = denominator[targets].astype(np.float32)
        true_positives = true_positives[targets].astype(np.float32)
        valid = denominator > np.float32(1e-9)
        iou = np.where(valid, true_positives / (denominator + np.float32(fuzz_factor.epsilon())), np.float32(0.0))
        return float(np.sum(iou, dtype=np.float32) / (np.float32(valid.sum()) + np.float32(fuzz_factor.epsilon())))

    # ---- standalone updates ------------------------------------------------------------------------------------
    def _host_inputs(self, y_true, y_pred, sample_weight):
        """Keras's update_state: class ids (or rows to take the argmax of) flattened, the weights with them."""
        y_true, y_pred = np.asarray(convert_to_numpy(y_true)), np.asarray(convert_to_numpy(y_pred))
        if y_pred.dtype not in (np.float32, np.float64):
            y_pred = y_pred.astype(np.float64)
        y_pred = y_pred.reshape(-1, 1) if self.sparse_y_pred else y_pred.reshape(-1, y_pred.shape[-1])
        y_true = y_true.reshape(-1) if self.sparse_y_true else y_true.reshape(-1, y_true.shape[-1])
        if y_true.dtype.kind not in "iuf":
            y_true = y_true.astype(np.float64)
        rows = len(y_true)
        if len(y_pred) != rows:
            raise ValueError(f"y_pred: expected {rows} predictions (one per true class id), got shape "
                             f"{np.shape(y_pred)}")
        weights = None
        if sample_weight is not None:
            weights = np.asarray(convert_to_numpy(sample_weight))
            weights = np.broadcast_to(weights.reshape(-1) if weights.ndim else weights, (rows,))
            if weights.dtype.kind not in "iuf":
                weights = weights.astype(np.float64)
            weights = np.ascontiguousarray(weights)  # integers stay integers: only float weights are warned about
        return np.ascontiguousarray(y_true), np.ascontiguousarray(y_pred), weights

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "num_classes": self.num_classes,
                "target_class_ids": list(self.target_class_ids), "ignore_class": self.ignore_class,
                "sparse_y_true": self.sparse_y_true, "sparse_y_pred": self.sparse_y_pred, "axis": self.axis}


class BinaryIoU(IoU):
    """IoU over two classes: a prediction >= ``threshold`` is class 1; the labels are 0 or 1."""

    def __init__(self, target_class_ids=(0, 1), threshold=0.5, name=None, dtype=None):
        super().__init__(num_classes=2, target_class_ids=target_class_ids, name=name, dtype=dtype)
        if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real):
            raise ValueError(f"threshold: expected a number, got {threshold!r}")
        self.threshold = float(threshold)

    label_layout = "dense"

    def check_layout(self, width: int, sparse_labels: bool) -> None:
        Metric.check_layout(self, width, sparse_labels)

    def _predicted_ids(self, ops, ws, predictions):
        flat = predictions.reshape(-1)
        # Keras compares in float32
        above = ops.greater_equal(flat, self._constant(ws, "threshold", np.float32(self.threshold), flat.dtype),
                                  self._buffer(ws, "above", flat.shape, np.bool_))
        return ops.copy_into(above, self._buffer(ws, "predicted_ids", flat.shape, np.intp))

    def get_config(self):
        return {"target_class_ids": list(self.target_class_ids), "threshold": self.threshold, "name": self.name,
                "dtype": self.dtype}


class MeanIoU(IoU):
    """The mean of every class's IoU."""

    def __init__(self, num_classes, name=None, dtype=None, ignore_class=None, sparse_y_true=True,
                 sparse_y_pred=True, axis=-1):
        super().__init__(num_classes=num_classes, target_class_ids=list(range(_count("num_classes", num_classes, 1))),
                         name=name, dtype=dtype, ignore_class=ignore_class, sparse_y_true=sparse_y_true,
                         sparse_y_pred=sparse_y_pred, axis=axis)

    def get_config(self):
        config = super().get_config()
        del config["target_class_ids"]
        return config


class OneHotIoU(IoU):
    """IoU of one-hot labels and per-class scores (their argmaxes)."""

    def __init__(self, num_classes, target_class_ids, name=None, dtype=None, ignore_class=None, sparse_y_pred=False,
                 axis=-1):
        super().__init__(num_classes=num_classes, target_class_ids=target_class_ids, name=name, dtype=dtype,
                         ignore_class=ignore_class, sparse_y_true=False, sparse_y_pred=sparse_y_pred, axis=axis)

    def get_config(self):
        config = super().get_config()
        del config["sparse_y_true"]
        return config


class OneHotMeanIoU(MeanIoU):
    """MeanIoU of one-hot labels and per-class scores (their argmaxes)."""

    def __init__(self, num_classes, name=None, dtype=None, ignore_class=None, sparse_y_pred=False, axis=-1):
        super().__init__(num_classes=num_classes, name=name, dtype=dtype, ignore_class=ignore_class,
                         sparse_y_true=False, sparse_y_pred=sparse_y_pred, axis=axis)

    def get_config(self):
        config = super().get_config()
        del config["sparse_y_true"]
        return config
