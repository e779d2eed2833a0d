"""DeviceWatchdog: notices GPU collectives that never finish.

NCCL calls return at once and run on a stream; when a peer is gone the kernel spins on the GPU and the host
blocks at its next synchronisation, forever. The host cannot poll there without stalling the pipeline, so a
daemon thread does: each collective registers an event recorded after it, and the thread checks the oldest
unfinished one; past the timeout it calls ``on_timeout(what, seconds)`` (which aborts the job).
"""
from __future__ import annotations

import collections
import threading
import time


class DeviceWatchdog:
    """Args:
        timeout: seconds a registered event may stay unfinished.
        on_timeout: called once, from the watchdog thread, with (description, seconds waited).
        poll_s: how often the thread looks.
        thread_setup: called first in the watchdog thread (e.g. make the rank's GPU current there).
    """

    def __init__(self, timeout: float, on_timeout, poll_s: float = 0.5, thread_setup=None):
        self.timeout, self.on_timeout, self.poll_s = timeout, on_timeout, poll_s
        self._thread_setup = thread_setup
        self._pending: collections.deque = collections.deque()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="gpunn-collective-watchdog", daemon=True)
        self._thread.start()

    def watch(self, event, what: str) -> None:
        """Track ``event`` (a ``cupy.cuda.Event``: its ``done`` property is True once the device passed it),
        recorded after collective ``what``."""
        with self._lock:
            self._pending.append((event, what, time.monotonic()))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5 * self.poll_s)

    def _oldest_unfinished(self):
        with self._lock:
            # Events on one stream finish in order, so finished ones leave from the front.
            while self._pending and self._pending[0][0].done:
                self._pending.popleft()
            return self._pending[0] if self._pending else None

    def _run(self) -> None:
        if self._thread_setup is not None:
            self._thread_setup()
        while not self._stop.wait(self.poll_s):
            oldest = self._oldest_unfinished()
            if oldest is None:
                continue
            _event, what, since = oldest
            waited = time.monotonic() - since
            if waited > self.timeout:
                self.on_timeout(what, waited)
                return
