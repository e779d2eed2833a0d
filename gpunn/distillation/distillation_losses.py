"""``keras.distillation``'s losses: what a ``Distiller`` adds to the student's own loss, from the teacher's outputs
(or the features of one of the teacher's layers) and the student's outputs.

Followed: keras/src/distillation/distillation_loss.py. They compute with ``gpunn.ops`` on what the distiller's
``compute_loss`` hands them (``distiller.py``): the student's predictions, which gpunn's step differentiates, and
the teacher's outputs, constants of the step.
"""
from __future__ import annotations

from .. import losses, ops, tree
from ..serialization import deserialize_keras_object, serialize_keras_object


def loss_function(item):
    """A loss given by name (``"kl_divergence"``) as Keras's ``losses.get`` gives it; a loss object, a function or
    None as it is."""
    if isinstance(item, str):
        found = losses.get(item)
        if found is None:
            raise ValueError(f"Unknown loss function: '{item}'.")
        return found
    return item


def _one_value(values: list):
    """The sum of the losses of the outputs (Keras stacks them: one scalar)."""
    return ops.sum(ops.stack(values))


class DistillationLoss:
    """The base class of distillation losses: ``compute_loss(teacher_outputs, student_outputs)`` gives a scalar.
    Subclass it and override ``compute_loss`` for a loss of your own."""

    def compute_loss(self, teacher_outputs, student_outputs, **kwargs):
        raise NotImplementedError("Subclasses must implement compute_loss")

    def validate_outputs(self, teacher_outputs, student_outputs):
        """Refuse teacher and student outputs of different structures."""
        tree.assert_same_structure(teacher_outputs, student_outputs)

    def validate_model_compatibility(self, teacher, student):
        """Refuse a teacher and student this loss cannot compare (none, here)."""


class FeatureDistillation(DistillationLoss):
    """``loss`` (a name, a loss, a structure of them matching the outputs, None to skip one) between the features of
    the teacher's layer ``teacher_layer_name`` (None: its outputs) and the student's outputs (gpunn distills into
    the student's outputs: see ``Distiller``)."""

    def __init__(self, loss="mse", teacher_layer_name=None, student_layer_name=None):
        self.teacher_layer_name = teacher_layer_name
        self.student_layer_name = student_layer_name
        self.loss = tree.map_structure(loss_function, loss)
        if all(item is None for item in tree.flatten(self.loss)):
            raise ValueError("The `loss` argument in `FeatureDistillation` must contain at least one non-`None` "
                             "value.")

    def validate_model_compatibility(self, teacher, student):
        """As Keras: layer names need models with symbolic inputs (Sequential or functional), and layers of those
        names."""
        if self.teacher_layer_name is not None or self.student_layer_name is not None:
            subclassed = [role for role, model in (("teacher", teacher), ("student", student))
                          if getattr(model, "inputs", None) is None]
            if subclassed:
                raise ValueError(
                    f"FeatureDistillation with specific layer names requires Functional or Sequential models. The "
                    f"{' and '.join(subclassed)} model(s) appear to be subclassed (no symbolic inputs/outputs). "
                    "Either use Functional/Sequential models, or use FeatureDistillation without layer names (to "
                    "distill final outputs only), or use LogitsDistillation instead.")
        for role, model, name in (("teacher", teacher, self.teacher_layer_name),
                                  ("student", student, self.student_layer_name)):
            if name is not None:
                try:
                    model.get_layer(name=name)
                except ValueError as exc:
                    raise ValueError(f"In {role} model: {exc}") from None

    def validate_outputs(self, teacher_outputs, student_outputs):
        super().validate_outputs(teacher_outputs, student_outputs)
        try:
            tree.assert_same_structure(self.loss, teacher_outputs)
        except ValueError as exc:
            raise ValueError(f"Loss structure mismatch. Loss structure: {tree.structure(self.loss)}, Output "
                             f"structure: {tree.structure(teacher_outputs)}. Error: {exc}") from None

    def compute_loss(self, teacher_outputs, student_outputs, **kwargs):
        def apply(loss, teacher_features, student_features):
            return 0.0 if loss is None else ops.mean(loss(teacher_features, student_features))

        return _one_value(tree.flatten(tree.map_structure(apply, self.loss, teacher_outputs, student_outputs)))

    def get_config(self):
        return {"loss": serialize_keras_object(self.loss), "teacher_layer_name": self.teacher_layer_name,
                "student_layer_name": self.student_layer_name}

    @classmethod
    def from_config(cls, config):
        return cls(**{**config, "loss": deserialize_keras_object(config["loss"])})


class LogitsDistillation(DistillationLoss):
    """``loss`` between the teacher's and the student's outputs (logits), both divided by ``temperature``. The KL
    divergence compares their softmax probabilities, times temperature² (Hinton et al.); any other loss takes the
    scaled logits as they are.

    As documented and as its code's comment says ("KL divergence needs probabilities"), the KL divergence given by
    name, the default ``"kl_divergence"``, compares probabilities too. Keras 3.15 gets the function for the name,
    which its ``isinstance(loss, KLDivergence)`` test misses: it compares the scaled logits as if they were
    probabilities (a loss that can go negative). ``keras.losses.KLDivergence()`` gives the same numbers in both.
    """

    def __init__(self, temperature=3.0, loss="kl_divergence"):
        self.temperature = temperature
        self.loss = tree.map_structure(loss_function, loss)
        if all(item is None for item in tree.flatten(self.loss)):
            raise ValueError("At least one loss must be non-`None`.")
        if not isinstance(self.temperature, (int, float)):
            raise ValueError(f"temperature must be a number, got {type(self.temperature)}")
        if self.temperature <= 0.0:
            raise ValueError("temperature must be positive.")

    def compute_loss(self, teacher_outputs, student_outputs, **kwargs):
        def scaled(outputs):
            return tree.map_structure(lambda value: ops.divide(value, self.temperature), outputs)

        def apply(loss, teacher_logits, student_logits):
            if loss is None:
                return 0.0
            if isinstance(loss, losses.KLDivergence) or loss is losses.kl_divergence:
                divergence = ops.mean(loss(ops.softmax(teacher_logits, axis=-1), ops.softmax(student_logits, axis=-1)))
                return divergence * (self.temperature ** 2)
            return ops.mean(loss(teacher_logits, student_logits))

        values = tree.map_structure(apply, self.loss, scaled(teacher_outputs), scaled(student_outputs))
        return _one_value(tree.flatten(values))

    def get_config(self):
        return {"temperature": self.temperature, "loss": serialize_keras_object(self.loss)}

    @classmethod
    def from_config(cls, config):
        return cls(**{**config, "loss": deserialize_keras_object(config["loss"])})
