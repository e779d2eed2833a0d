"""Training: the Keras API (``Trainer``), the step objects it runs and the data side of an epoch."""
from .epoch_iterator import Batch, BatchSlot, DeviceDataset, EpochIterator
from .test_step import TestStep
from .train_step import TrainStep
from .trainer import Trainer

__all__ = ["Batch", "BatchSlot", "DeviceDataset", "EpochIterator", "TestStep", "TrainStep", "Trainer"]
