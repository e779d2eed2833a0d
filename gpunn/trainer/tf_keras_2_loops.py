"""tf.keras 2's ways of feeding a ``keras.utils.Sequence`` (a PyDataset): ``fit_generator``, ``evaluate_generator``
and ``predict_generator`` (deprecated aliases in tf.keras 2, gone from Keras 3), its ``predict_classes`` and
``predict_proba`` (tf.keras up to 2.5, with their warnings), and ``workers``,
``use_multiprocessing`` and ``max_queue_size`` given to ``fit``, ``evaluate`` and ``predict``. Keras 3 takes the
latter on the PyDataset itself (``MyDataset(workers=4)``), and so does gpunn: given to the loop they change
nothing but speed, and a warning says where they belong."""
from __future__ import annotations

import warnings

from ..unknown_arguments import refuse_unknown, unknown_arguments_message

READING = {"workers": 1, "use_multiprocessing": False, "max_queue_size": 10}  # tf.keras 2's defaults


def take_reading_arguments(method: str, kwargs: dict) -> None:
    """Take tf.keras 2's reading arguments out of ``kwargs`` (warning where one is not its default), and refuse
    what else is left, as an unexpected keyword argument."""
    given = {name: kwargs.pop(name) for name in list(kwargs) if name in READING}
    if kwargs:
        raise TypeError(unknown_arguments_message(method, kwargs))
    changed = sorted(name for name, value in given.items() if value != READING[name])
    if changed:
        warnings.warn(f"{method}: {changed} are tf.keras 2's arguments of the loop; Keras 3 and gpunn take them on "
                      "the PyDataset (MyDataset(workers=4, use_multiprocessing=True, max_queue_size=10), its "
                      "super().__init__(**kwargs)), which reads its batches as it was made to", UserWarning,
                      stacklevel=3)


def _deprecated(old: str, new: str) -> None:
    warnings.warn(f"`Model.{old}` is deprecated and will be removed in a future version. Please use "
                  f"`Model.{new}`, which supports generators.", UserWarning, stacklevel=3)  # tf.keras 2's words


class TfKeras2Loops:
    """tf.keras 2's generator methods, with its signatures, on gpunn's ``fit``, ``evaluate`` and ``predict``."""

    def fit_generator(self, generator, steps_per_epoch=None, epochs=1, verbose=1, callbacks=None,
                      validation_data=None, validation_steps=None, validation_freq=1, class_weight=None,
                      max_queue_size=10, workers=1, use_multiprocessing=False, shuffle=True, initial_epoch=0,
                      **kwargs):
        refuse_unknown("fit_generator", kwargs)  # (Keras 1's samples_per_epoch, nb_epoch: their Keras 2 names)
        _deprecated("fit_generator", "fit")
        return self.fit(generator, steps_per_epoch=steps_per_epoch, epochs=epochs, verbose=verbose,
                        callbacks=callbacks, validation_data=validation_data, validation_steps=validation_steps,
                        validation_freq=validation_freq, class_weight=class_weight, max_queue_size=max_queue_size,
                        workers=workers, use_multiprocessing=use_multiprocessing, shuffle=shuffle,
                        initial_epoch=initial_epoch)

    def evaluate_generator(self, generator, steps=None, callbacks=None, max_queue_size=10, workers=1,
                           use_multiprocessing=False, verbose=0):
        _deprecated("evaluate_generator", "evaluate")
        return self.evaluate(generator, steps=steps, callbacks=callbacks, verbose=verbose,
                             max_queue_size=max_queue_size, workers=workers, use_multiprocessing=use_multiprocessing)

    def predict_generator(self, generator, steps=None, callbacks=None, max_queue_size=10, workers=1,
                          use_multiprocessing=False, verbose=0):
        _deprecated("predict_generator", "predict")
        return self.predict(generator, steps=steps, callbacks=callbacks, verbose=verbose,
                            max_queue_size=max_queue_size, workers=workers, use_multiprocessing=use_multiprocessing)

    def predict_classes(self, x, batch_size=32, verbose=0):
        """tf.keras up to 2.5's: the argmax of each row of ``predict``, or for an output of one unit 1 where it is
        above 0.5 (int32), with its deprecation warning."""
        warnings.warn("`model.predict_classes()` is deprecated and will be removed after 2021-01-01. Please use "
                      "instead:* `np.argmax(model.predict(x), axis=-1)`,   if your model does multi-class "
                      "classification   (e.g. if it uses a `softmax` last-layer activation).* `(model.predict(x) > "
                      "0.5).astype(\"int32\")`,   if your model does binary classification   (e.g. if it uses a "
                      "`sigmoid` last-layer activation).", UserWarning, stacklevel=2)  # tf.keras 2.5's words
        proba = self.predict(x, batch_size=batch_size, verbose=verbose)
        if proba.shape[-1] > 1:
            return proba.argmax(axis=-1)
        return (proba > 0.5).astype("int32")

    def predict_proba(self, x, batch_size=32, verbose=0):
        """tf.keras up to 2.5's: ``predict``, with its deprecation warning."""
        warnings.warn("`model.predict_proba()` is deprecated and will be removed after 2021-01-01. Please use "
                      "`model.predict()` instead.", UserWarning, stacklevel=2)
        return self.predict(x, batch_size=batch_size, verbose=verbose)
