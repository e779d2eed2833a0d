"""A Loss subclass of the user's, called on predictions that carry a padding mask (an Embedding's
``mask_zero=True`` through a Dense), counts the unmasked steps alone in every reduction, as Keras's
``Loss.__call__`` applies the mask to any loss."""
from __future__ import annotations

import numpy as np
from helpers import run_script_both_ways

SCRIPT = r'''
import json, sys
import numpy as np

def run(keras, folder):
    class Squares(keras.losses.Loss):
        def call(self, y_true, y_pred):
            return (y_true - y_pred) ** 2

    embedding = keras.layers.Embedding(5, 2, mask_zero=True,
                                       embeddings_initializer=keras.initializers.Constant(0.3))
    dense = keras.layers.Dense(1, kernel_initializer=keras.initializers.Constant(0.5))
    predictions = dense(embedding(np.array([[1, 0, 2, 3], [0, 0, 1, 4]])))
    targets = np.array([[[1.0], [5.0], [0.0], [1.0]]] * 2)
    found = {}
    for reduction in ("sum_over_batch_size", "sum", None, "mean_with_sample_weight"):
        for weights in (None, np.array([[1.0, 2.0, 1.0, 3.0], [2.0, 1.0, 1.0, 1.0]])):
            key = f"{reduction} {weights is not None}"
            found[key] = [np.asarray(loss(reduction=reduction)(targets, predictions, sample_weight=weights)).tolist()
                          for loss in (Squares, keras.losses.MeanSquaredError)]
    return found
'''


def test_a_loss_of_the_user_s_takes_the_predictions_mask_as_keras_s_does(tmp_path_factory):
    ours, theirs = run_script_both_ways(SCRIPT, tmp_path_factory)
    assert set(ours) == set(theirs)
    for key in ours:
        np.testing.assert_allclose(ours[key][0], theirs[key][0], rtol=1e-5, err_msg=key)
        np.testing.assert_allclose(ours[key][0], ours[key][1], rtol=1e-6, err_msg=key)  # as the built-in MSE
