"""RemoteMonitor (keras/src/callbacks/remote_monitor.py): each epoch's logs posted to a server as it ends.

Keras posts with ``requests``; gpunn with the standard library's ``urllib`` (no extra dependency), the same
request: the form field ``field`` holding the logs as JSON, or (``send_as_json=True``) a JSON body. Where Keras
waits for a server that does not answer, gpunn gives up after ``timeout`` seconds, with Keras's warning, and
training goes on. In a data-parallel run only the chief rank posts.
"""
from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
import warnings

import numpy as np

from ._common import _is_chief
from .base import Callback


class RemoteMonitor(Callback):
    """Post ``{"epoch": epoch, **logs}`` to ``root + path`` at the end of every epoch. ``headers``: extra HTTP
    headers (a dict)."""

    def __init__(self, root="http://localhost:9000", path="/publish/epoch/end/", field="data", headers=None,
                 send_as_json=False, timeout=10.0):
        super().__init__()
        self.root = root
        self.path = path
        self.field = field
        self.headers = headers
        self.send_as_json = send_as_json
        self.timeout = timeout

    def on_epoch_end(self, epoch, logs=None):
        if not _is_chief(self.model):
            return
        send = {"epoch": epoch}
        for key, value in (logs or {}).items():
            # NumPy arrays and scalars are not JSON types: their values are (Keras's unwrapping)
            send[key] = value.item() if isinstance(value, (np.ndarray, np.generic)) else value
        headers = dict(self.headers or {})
        if self.send_as_json:
            body = json.dumps(send).encode()
            headers.setdefault("Content-Type", "application/json")
        else:
            body = urllib.parse.urlencode({self.field: json.dumps(send)}).encode()
            headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        request = urllib.request.Request(self.root + self.path, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout):
                pass
        except urllib.error.HTTPError:
            pass  # the server answered, with an error status: as requests.post, which raises for none
        except (urllib.error.URLError, OSError, ValueError):  # unreachable, refused, timed out, a bad URL
            warnings.warn(f"Could not reach RemoteMonitor root server at {self.root}", stacklevel=2)
