"""``keras.distillation``: knowledge distillation, a student model trained on a frozen teacher's outputs."""
from .distillation_losses import DistillationLoss, FeatureDistillation, LogitsDistillation
from .distiller import Distiller

__all__ = ["DistillationLoss", "FeatureDistillation", "LogitsDistillation", "Distiller"]
