"""gpunn's warnings point at the user's line (the fit, train_on_batch or evaluate call), however deep in gpunn
they are issued, so that Python's once-per-place filter keys on the user's code."""

import inspect
import warnings

import numpy as np

import gpunn as keras


def _model(activation="sigmoid"):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, activation=activation)])
    model.compile("sgd", "binary_crossentropy")
    return model


def _places(caught):
    return [(w.filename, w.lineno) for w in caught]


def test_a_target_warning_points_at_fit_and_at_train_on_batch():
    model, x, y = _model(), np.ones((4, 3), "float32"), np.full((4, 1), 2.0, "float32")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit_line = inspect.currentframe().f_lineno + 1
        model.fit(x, y, verbose=0)
        batch_line = inspect.currentframe().f_lineno + 1
        model.train_on_batch(x, y)
    assert _places(caught) == [(__file__, fit_line), (__file__, batch_line)]


def test_a_warning_raised_by_an_evaluate_inside_a_callback_points_at_the_callback():
    model, x, y = _model(), np.ones((4, 3), "float32"), np.full((4, 1), 2.0, "float32")
    lines = []

    class EvaluateAtEpochEnd(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            lines.append(inspect.currentframe().f_lineno + 1)
            self.model.evaluate(x, y, verbose=0)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit_line = inspect.currentframe().f_lineno + 1
        model.fit(x, y, verbose=0, callbacks=[EvaluateAtEpochEnd()])
    assert _places(caught) == [(__file__, fit_line), (__file__, lines[0])]


def test_the_changed_trainable_warning_points_at_fit():
    model, x, y = _model(), np.ones((4, 3), "float32"), np.ones((4, 1), "float32")
    model.fit(x, y, verbose=0)
    model.layers[0].trainable = False
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit_line = inspect.currentframe().f_lineno + 1
        model.fit(x, y, verbose=0)
    assert (__file__, fit_line) in _places(caught)
    assert all(place == (__file__, fit_line) for place in _places(caught)), _places(caught)
