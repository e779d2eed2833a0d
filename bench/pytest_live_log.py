"""A pytest plugin for runs that may be cut off (a GPU visit's test stages run under a time cap): each test's
start, its outcome and duration, and each failure's traceback go to a file the moment they happen, so that a run
killed part-way still says what passed, what failed and why, and which tests were running when it stopped.

    GPUNN_LIVE_LOG=<file> python -m pytest -p pytest_live_log ...     (with bench/ on PYTHONPATH)
    python bench/pytest_live_log.py <file>                            (one line: counts, failures, cut off)

Under pytest-xdist only the controller writes: it receives every worker's reports.
"""
from __future__ import annotations

import os
import sys
from collections import Counter

ENV = "GPUNN_LIVE_LOG"
OUTCOMES = ("passed", "failed", "skipped", "error")


class LiveLog:
    def __init__(self, path: str):
        self.file = open(path, "a", buffering=1, encoding="utf-8")  # line-buffered: a kill loses nothing written

    def _write(self, text: str) -> None:
        self.file.write(text + "\n")

    def pytest_runtest_logstart(self, nodeid, location):
        self._write(f"start {nodeid}")

    def pytest_runtest_logreport(self, report):
        # One outcome per test: the call's, or the setup's or teardown's when that failed (or skipped the test).
        if report.when == "call":
            outcome = report.outcome
        elif report.failed:
            outcome = "error"
        elif report.when == "setup" and report.skipped:
            outcome = "skipped"
        else:
            return
        self._write(f"{outcome} {report.nodeid} {report.duration:.2f}s")
        if report.failed:
            self._write("    " + report.longreprtext.replace("\n", "\n    "))

    def pytest_runtest_logfinish(self, nodeid, location):
        self._write(f"end {nodeid}")

    def pytest_unconfigure(self, config):
        self.file.close()


def pytest_configure(config):
    path = os.environ.get(ENV)
    if path and not hasattr(config, "workerinput"):  # an xdist worker's reports reach the controller
        config.pluginmanager.register(LiveLog(path), "gpunn_live_log")


def summarize(text: str) -> str:
    """One line from a live log: counts per outcome, the failed tests and the tests started but never ended (each
    by name, sorted: under xdist the order is the workers')."""
    counts: Counter = Counter()
    failed, running = [], {}
    for line in text.splitlines():
        word, _, rest = line.partition(" ")
        nodeid = rest.split(" ", 1)[0]
        if word == "start":
            running[nodeid] = True
        elif word == "end":
            running.pop(nodeid, None)
        elif word in OUTCOMES:
            counts[word] += 1
            if word in ("failed", "error"):
                failed.append(nodeid.rsplit("::", 1)[-1])
    parts = [", ".join(f"{counts[o]} {o}" for o in OUTCOMES if counts[o]) or "no test ended"]
    if failed:
        parts.append("failed: " + ", ".join(sorted(failed)))
    if running:
        parts.append("cut off while running: " + ", ".join(sorted(n.rsplit("::", 1)[-1] for n in running)))
    return "; ".join(parts)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python bench/pytest_live_log.py <live log file>")
    try:
        with open(sys.argv[1], encoding="utf-8") as f:
            print(summarize(f.read()))
    except FileNotFoundError:
        print("no live log (the run did not start)")
