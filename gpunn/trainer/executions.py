"""Keras's callback batches under ``compile(steps_per_execution=K)``: evaluate and predict (fit's validation too)
tell callbacks of runs of K batches, a run's begin numbered by its first batch and its end by begin + K - 1, the
last run's end too, even when that run is shorter (keras/src/trainers/epoch_iterator.py). A callback's
``model.stop_evaluating`` / ``model.stop_predicting`` takes effect at the end of a run, as there."""
from __future__ import annotations


def executions(items, steps_per_execution: int):
    """(begin, end, run) for ``items`` taken in runs of ``steps_per_execution``; ``items`` is read one run
    ahead only, so a source a callback stops is not read past the run it stopped in."""
    run: list = []
    begin = 0
    for index, item in enumerate(items):
        if not run:
            begin = index
        run.append(item)
        if len(run) == steps_per_execution:
            yield begin, begin + steps_per_execution - 1, run
            run = []
    if run:
        yield begin, begin + steps_per_execution - 1, run
