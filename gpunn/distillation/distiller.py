"""``keras.distillation.Distiller``: a model training a student on its targets and on a frozen teacher's outputs.

Followed: keras/src/distillation/distiller.py. The distiller's ``call()`` is the student's, so gpunn's step runs
the student's layers and differentiates the loss ``compute_loss`` returns with respect to the student's outputs
(``trainer/own_compute_loss.py``); the teacher, frozen, runs inside ``compute_loss`` on the batch's inputs, its
outputs (or a teacher layer's features, through a feature extractor made here) constants of the step. The total
loss is ``student_loss_weight * student loss + (1 - student_loss_weight) * sum(weight * distillation loss)``, and
its three parts are logged as ``student_loss``, ``distillation_loss`` and ``total_loss`` beside ``loss``.

Where gpunn differs: Keras also distills into the features of a student's inner layer (``FeatureDistillation``
with ``student_layer_name``), differentiating a second run of the student's layers; gpunn's step differentiates
the student's outputs only, so such a loss is refused when the distiller is made.
"""
from __future__ import annotations

from .. import metrics, ops, tree
from ..models import Model
from ..models.functional import Functional
from ..models.subclassed_config import KERAS_MODEL_CLASSES
from ..serialization import deserialize_keras_object, serialize_keras_object
from .distillation_losses import loss_function

_FINAL = "final_output"  # the key of a model's outputs among the features a feature extractor gives


class Distiller(Model):
    """Train ``student`` on its targets and on a frozen ``teacher``'s outputs through ``distillation_losses``
    (a distillation loss, or a list of them with ``distillation_loss_weights``, 1 each by default), the student's
    own loss (given to ``compile``) weighted ``student_loss_weight`` (0 to 1) and the distillation
    ``1 - student_loss_weight``. After ``fit``, ``distiller.student`` is the trained student."""

    # (written as a script's subclass of Model: gpunn runs its call() and compute_loss as it runs a script's)
    _written_as_a_subclass = True
    _keras_module = "keras.distillation"  # (what Keras's files name it by)

    def __init__(self, teacher, student, distillation_losses, distillation_loss_weights=None, student_loss_weight=0.5,
                 name="distiller", **kwargs):
        super().__init__(name=name, **kwargs)
        self._validate_models(teacher, student)
        self.teacher = teacher
        self.student = student
        if not isinstance(student_loss_weight, (int, float)):
            raise ValueError(f"student_loss_weight must be a number, got {type(student_loss_weight)}")
        if student_loss_weight < 0.0 or student_loss_weight > 1.0:
            raise ValueError(f"student_loss_weight must be between 0.0 and 1.0, got {student_loss_weight}")
        self.student_loss_weight = student_loss_weight
        if distillation_losses is None:
            raise ValueError("'distillation_losses' cannot be `None`. Provide a distillation loss (e.g., "
                             "LogitsDistillation or FeatureDistillation) or a list of distillation losses.")
        if not isinstance(distillation_losses, (list, tuple)):  # (one loss: its weight is 1, whatever was given)
            self.distillation_losses, self.distillation_loss_weights = [distillation_losses], [1.0]
        else:
            self.distillation_losses = distillation_losses
            if distillation_loss_weights is None:
                distillation_loss_weights = [1.0] * len(distillation_losses)
            elif len(distillation_loss_weights) != len(distillation_losses):
                raise ValueError(f"Number of distillation_loss_weights ({len(distillation_loss_weights)}) must match "
                                 f"number of distillation_losses ({len(distillation_losses)})")
            self.distillation_loss_weights = distillation_loss_weights
        for distillation_loss in self.distillation_losses:
            distillation_loss.validate_model_compatibility(teacher, student)
        _refuse_student_features(self.distillation_losses)
        self._teacher_feature_extractor = _feature_extractor(teacher, self.distillation_losses)
        self.teacher.trainable = False
        self.student_loss_tracker = metrics.Mean(name="student_loss")
        self.distillation_loss_tracker = metrics.Mean(name="distillation_loss")
        self.total_loss_tracker = metrics.Mean(name="total_loss")

    # ---- checks, as Keras makes them ----------------------------------------------------------------------
    def _validate_models(self, teacher, student):
        for role, model in (("Teacher", teacher), ("Student", student)):
            if not isinstance(model, Model):
                raise ValueError(f"{role} must be a keras.Model, got {type(model)}")
        for kind in ("inputs", "outputs"):
            theirs, ours = getattr(teacher, kind, None), getattr(student, kind, None)
            if theirs is None or ours is None:
                continue
            context = kind[:-1]
            tree.map_structure(lambda t, s: _compatible_shapes(t.shape, s.shape, context), theirs, ours)
            tree.map_structure(lambda t, s: _same_dtype(t.dtype, s.dtype, context), theirs, ours)

    # ---- training ------------------------------------------------------------------------------------------
    def compile(self, optimizer="adam", loss=None, metrics=None, **kwargs):
        """``loss``: the student's loss against the targets (required); ``metrics`` a list or tuple."""
        if loss is None:
            raise ValueError("'loss' cannot be `None`.")
        self._student_loss = tree.map_structure(loss_function, loss)
        self._student_loss_for_serialization = loss
        if metrics is not None and not isinstance(metrics, (list, tuple)):
            raise ValueError(f"metrics must be a list or tuple, got {type(metrics)}")
        super().compile(optimizer=optimizer, loss=None, metrics=metrics, **kwargs)

    def call(self, inputs, training=None):
        return self.student(inputs, training=training)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The weighted sum of the student's loss and the distillation losses (sample weights unused, as in
        Keras); the three parts go to their trackers."""
        if y_pred is None:
            y_pred = self(x, training=training)
        student_loss = 0.0
        if self.student_loss_weight > 0.0 and y is not None:
            values = tree.flatten(tree.map_structure(lambda loss, target, predicted: loss(target, predicted),
                                                     self._student_loss, y, y_pred))
            student_loss = ops.sum(ops.stack(values)) if len(values) > 1 else values[0]
            if len(getattr(student_loss, "shape", ())) > 0:
                student_loss = ops.mean(student_loss)
        distillation_loss = 0.0
        if self.student_loss_weight < 1.0:
            teacher_features = self._teacher_features(x)
            for distillation, weight in zip(self.distillation_losses, self.distillation_loss_weights):
                layer_name = getattr(distillation, "teacher_layer_name", None)
                teacher_outputs = teacher_features[layer_name or _FINAL]
                distillation.validate_outputs(teacher_outputs, y_pred)
                value = distillation.compute_loss(teacher_outputs, y_pred)
                if len(getattr(value, "shape", ())) > 0:
                    raise ValueError(f"Distillation loss {type(distillation).__name__} returned a non-scalar loss "
                                     f"with shape {value.shape}. The compute_loss method must return a scalar tensor.")
                distillation_loss = ops.add(distillation_loss, ops.multiply(weight, value))
        total_loss = ops.add(ops.multiply(self.student_loss_weight, student_loss),
                             ops.multiply(ops.subtract(1.0, self.student_loss_weight), distillation_loss))
        self.student_loss_tracker.update_state(student_loss)
        self.distillation_loss_tracker.update_state(distillation_loss)
        self.total_loss_tracker.update_state(total_loss)
        return total_loss

    def _teacher_features(self, x) -> dict:
        """{"final_output": the teacher's outputs, and the features of each teacher layer a loss names}, from one
        run of the teacher in inference mode."""
        if self._teacher_feature_extractor is not None:
            return self._teacher_feature_extractor(x, training=False)
        return {_FINAL: self.teacher(x, training=False)}

    # ---- files ---------------------------------------------------------------------------------------------
    def get_config(self):
        config = super().get_config()
        config.update({
            "teacher": serialize_keras_object(self.teacher), "student": serialize_keras_object(self.student),
            "distillation_losses": [serialize_keras_object(loss) for loss in self.distillation_losses],
            "distillation_loss_weights": self.distillation_loss_weights,
            "student_loss_weight": self.student_loss_weight})
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("teacher", "student"):
            config[key] = deserialize_keras_object(config[key])
        config["distillation_losses"] = [deserialize_keras_object(loss) for loss in config["distillation_losses"]]
        return cls(**config)


def _compatible_shapes(teacher_shape, student_shape, context: str) -> None:
    if len(teacher_shape) != len(student_shape):
        raise ValueError(f"Teacher and student {context} shapes have different dimensions. Teacher: "
                         f"{teacher_shape}, Student: {student_shape}.")
    for a, b in zip(teacher_shape, student_shape):
        if a is not None and b is not None and a != b:
            raise ValueError(f"Teacher and student {context} shapes are incompatible. Teacher: {teacher_shape}, "
                             f"Student: {student_shape}. All dimensions must match.")


def _same_dtype(teacher_dtype, student_dtype, context: str) -> None:
    if teacher_dtype != student_dtype:
        raise ValueError(f"Teacher and student {context} dtypes must match. Teacher: {teacher_dtype}, Student: "
                         f"{student_dtype}.")


def _refuse_student_features(distillation_losses) -> None:
    for distillation in distillation_losses:
        name = getattr(distillation, "student_layer_name", None)
        if name is not None:
            raise ValueError(
                f"{type(distillation).__name__}(student_layer_name={name!r}): gpunn distills into the student's "
                "outputs only (its training step differentiates the loss with respect to them, and the features "
                "of a student's inner layer would need a second, differentiated run of the student's layers, which "
                "Keras makes); give student_layer_name=None, the teacher's layer then compared with the student's "
                "outputs, or make that layer's features an output of the student")


def _feature_extractor(teacher, distillation_losses):
    """A model of the teacher's inputs giving {"final_output": its outputs, layer name: that layer's features}
    for the teacher layers the losses name; None when they name none."""
    names = []
    for distillation in distillation_losses:
        name = getattr(distillation, "teacher_layer_name", None)
        if name and name not in names:
            names.append(name)
    if not names:
        return None
    if getattr(teacher, "inputs", None) is None:
        raise ValueError(f"Cannot create feature extractor for {teacher.name}. The model has no symbolic inputs "
                         "attribute.")
    final = teacher.output if isinstance(teacher, Functional) else teacher.layers[-1].output  # (as Keras)
    outputs = {_FINAL: final, **{name: teacher.get_layer(name=name).output for name in names}}
    return Model(inputs=teacher.inputs, outputs=outputs, name=f"{teacher.name}_multi_feature_extractor")


KERAS_MODEL_CLASSES["keras.distillation", "Distiller"] = Distiller
