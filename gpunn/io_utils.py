"""Where gpunn's progress and summaries go (keras/src/utils/io_utils.py): to stdout while interactive logging is
on (the default: progress bars, ``evaluate``'s line, ``summary()``), or, after ``disable_interactive_logging()``,
to Python's logging as INFO records of the ``gpunn`` logger, one per epoch and no progress bar: what a training
job on a server wants in its logs. (Keras sends them to absl's logging, which is Python's logging too.)"""
from __future__ import annotations

import logging
import sys

_interactive = [True]
LOGGER = logging.getLogger("gpunn")


def enable_interactive_logging() -> None:
    """Progress bars and messages to stdout (the default)."""
    _interactive[0] = True


def disable_interactive_logging() -> None:
    """Messages to the ``gpunn`` logger (INFO), an epoch's progress as one record at its end."""
    _interactive[0] = False


def is_interactive_logging_enabled() -> bool:
    return _interactive[0]


def print_msg(message, line_break: bool = True) -> None:
    """``message`` to stdout (a live progress bar is redrawn around it), or to the ``gpunn`` logger."""
    message = str(message)
    if not _interactive[0]:
        LOGGER.info(message)
        return
    if line_break:
        from tqdm import tqdm

        tqdm.write(message, file=sys.stdout)  # sys.stdout looked up now, so redirections apply
    else:
        sys.stdout.write(message)
    sys.stdout.flush()
