"""``keras.utils.Progbar`` for loops of one's own: the text it writes equals Keras's own (in a subprocess on jax)
for the same updates and the same clock, with and without a target, averaged and stateful values, verbose 1 and
2; and with interactive logging off it writes to the ``gpunn`` logger."""
from __future__ import annotations

import io
import logging
import sys

import gpunn
from helpers import run_keras

SESSION = '''
def session(Progbar, module):
    ticks = iter(100.0 + 0.37 * k for k in range(1000))
    module.time.time = lambda: next(ticks)  # the bar's clock: a fixed sequence, one tick per read
    written = []
    for kwargs, updates in [
        ({"target": 5}, [(1, [("loss", 0.5)]), (2, [("loss", 0.25)]), (5, [("loss", 0.125)])]),
        ({"target": 12, "stateful_metrics": ["acc"], "width": 10}, [(3, [("acc", 0.7), ("loss", 2e-4)]),
                                                                      (12, [("acc", 0.9), ("loss", 1e-4)])]),
        ({"target": None, "unit_name": "sample"}, [(40, [("mae", 1.5)]), (90, None)]),
        ({"target": 4, "verbose": 2}, [(2, [("loss", 1.0)]), (4, [("loss", 3.0)])]),
        ({"target": 3, "stateless_metrics": ["loss"]}, [("add", 1, [("loss", 4.0), ("lr", 0.1)]),
                                                        ("add", 2, [("loss", 1.0), ("lr", 0.01)])]),
    ]:
        bar = Progbar(interval=0.0, **kwargs)
        for update in updates:
            if update[0] == "add":
                bar.add(update[1], update[2])
            else:
                bar.update(update[0], update[1])
        written.append(sys.stdout.getvalue())
        sys.stdout.seek(0)
        sys.stdout.truncate()
    return written
'''
KERAS_SCRIPT = '''
import io, json, sys
import keras
from keras.src.utils import progbar
''' + SESSION + '''
real, sys.stdout = sys.stdout, io.StringIO()
written = session(keras.utils.Progbar, progbar)
sys.stdout = real
print(json.dumps(written))
'''


def _ours():
    from gpunn.utils import progbar

    namespace = {"sys": sys}
    exec(SESSION, namespace)
    saved_clock, real = progbar.time.time, sys.stdout
    sys.stdout = io.StringIO()
    try:
        return namespace["session"](gpunn.utils.Progbar, progbar)
    finally:
        sys.stdout = real
        progbar.time.time = saved_clock


def test_the_bar_writes_what_keras_s_writes():
    keras = run_keras(KERAS_SCRIPT, None)
    ours = _ours()
    assert ours == keras
    assert all(ours), "every session wrote something"


def test_with_interactive_logging_off_the_bar_goes_to_the_logger(caplog):
    gpunn.config.disable_interactive_logging()
    try:
        with caplog.at_level(logging.INFO, logger="gpunn"):
            bar = gpunn.utils.Progbar(2, verbose=2)
            bar.update(1, [("loss", 1.0)])
            bar.update(2, [("loss", 2.0)])
    finally:
        gpunn.config.enable_interactive_logging()
    records = [r.getMessage() for r in caplog.records if r.name == "gpunn"]
    assert len(records) == 1 and records[0].startswith("2/2 - ") and "loss: 2.0000" in records[0]
