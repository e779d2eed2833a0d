"""Where a warning issued inside gpunn points: at the user's line (``model.fit(...)``, ``train_on_batch`` in a
loop), however deep in gpunn it was issued. A fixed ``stacklevel`` points into gpunn whenever the same check is
reached through a different path (fit, evaluate, train_on_batch, a callback's evaluate), and Python's once-per-place
warning filter then keys on gpunn's line instead of the user's."""

import os
import sys

_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep


def user_stacklevel() -> int:
    """The ``stacklevel`` for a ``warnings.warn`` called by the caller of this function, naming the first frame
    outside gpunn (1 would name the caller itself)."""
    frame, level = sys._getframe(1), 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE):
        frame, level = frame.f_back, level + 1
    return level
