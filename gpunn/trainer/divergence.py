"""A diverging fit is reported: a RuntimeWarning, once per fit, when the training loss becomes NaN or inf.

The check reads nothing from the device: it looks at the epoch's logs, which ``fit`` reads back at every
epoch end anyway. The running loss sum is reset each epoch and stays non-finite once a batch made it so, so
the epoch is exact; the batch is not known without reading the loss after every batch, which is what the
``TerminateOnNaN`` callback does (and when it is in the callbacks, it reports, not this).
"""
from __future__ import annotations

import math
import warnings

from ..user_stacklevel import user_stacklevel


class DivergenceWarning:
    def __init__(self, callbacks, is_chief: bool):
        from ..callbacks.terminate_on_nan import TerminateOnNaN

        # Rank 0 alone speaks, as for the progress bar: every rank holds the same (summed) epoch loss.
        self.armed = is_chief and not any(isinstance(cb, TerminateOnNaN) for cb in callbacks)
        self.validation_armed = is_chief

    def epoch_end(self, epoch: int, epochs: int, logs) -> None:
        """Warn (the first time only) when the epoch's training loss is NaN or inf; ``epoch`` counts from 0."""
        loss = logs.get("loss") if self.armed else None
        if loss is None or math.isfinite(loss):
            return
        self.armed = False
        warnings.warn(
            f"fit: the training loss became {_named(loss)} in epoch {epoch + 1}/{epochs} (the batch is not known: the "
            "loss is read back once per epoch); training diverged. Try a lower learning rate, or add "
            "gpunn.callbacks.TerminateOnNaN() to the callbacks to stop at the first such batch.",
            RuntimeWarning, stacklevel=user_stacklevel())

    def validation_end(self, epoch: int, epochs: int, logs) -> None:
        """Warn (the first time only) when the epoch's validation loss is NaN or inf while its training loss is
        not (that one is reported above): the validation data overflow the model's arithmetic, or hold values
        the training data did not."""
        loss, trained = logs.get("val_loss"), logs.get("loss")
        if not self.validation_armed or loss is None or math.isfinite(loss) or (
                trained is not None and not math.isfinite(trained)):
            return
        self.validation_armed = False
        warnings.warn(
            f"fit: the validation loss is {_named(loss)} in epoch {epoch + 1}/{epochs}, while the training loss is "
            "finite: the validation data give the model values its arithmetic overflows (data far larger than "
            "the training data?), or hold NaN or inf the checks of arrays do not see (a generator's batches).",
            RuntimeWarning, stacklevel=user_stacklevel())


def _named(value: float) -> str:
    return "NaN" if math.isnan(value) else ("inf" if value > 0 else "-inf")
