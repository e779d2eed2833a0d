"""The layout of a benchmark record (the JSON file), and a check that a record follows it.

Top level: ``schema``, ``date``, ``command`` (as typed), ``reproduce`` (every option spelled out),
``config``, ``machine`` (``gpunn info``'s facts), ``threads``, ``ranks``, ``peaks`` (per device: the
measured float32 matmul peak and each library's measurement), ``results`` (one row per case and backend,
below), ``failures`` (contenders that failed validation or ran out of memory, not timed), ``skipped``
(backends this machine cannot run, with the reason), ``duration_s``.

A result row: the case (``size``, ``layers``, ``batch``), who ran it (``backend``, ``library``, ``device``,
``ranks``, ``clock``), ``step_s`` (per-step seconds: median, min, max, quartiles, spread, repeats,
steps_per_repeat), ``samples_per_s`` (batch / median step), ``flops_per_step`` and ``flops_per_s`` (matmul
work, see cases.flops_per_step), ``peak_fraction``, ``speedup_vs_numpy``, ``ratio_vs_torch`` (None where
that contender did not run) and ``validation`` (the comparison with the NumPy reference, None if skipped).

Fields added since the first records, optional so that older records still check (typed when present):
``progress`` ({state: running, complete, time limit or interrupted; cases_done; cases_total}: a record is
written after every case, so a file may hold a run still going or one that was stopped) and ``not_run`` (cases
never started, each with its ``size``, ``batch`` and ``reason``); per row, ``host_s_per_step``,
``ops_calls_per_step`` and ``host_s_per_ops_call`` (visits.py; None where not measured) and, inside
``validation``, the ``tolerance`` it used; per failure, the ``stage`` it failed in and the full ``traceback``;
per peak, ``copy_bytes_per_s`` and ``copy_measurements`` (GPUs).
"""
from __future__ import annotations

SCHEMA = "gpunn-bench/1"

_NUMBER = (int, float)
_OPTIONAL_NUMBER = (int, float, type(None))

RECORD = {"schema": str, "date": str, "command": str, "reproduce": str, "config": dict, "machine": dict,
          "threads": dict, "ranks": int, "ranks_note": (str, type(None)), "peaks": dict, "results": list,
          "failures": list, "skipped": list, "duration_s": _NUMBER}
ROW = {"size": str, "layers": list, "batch": int, "backend": str, "library": str, "device": str, "ranks": int,
       "clock": str, "step_s": dict, "samples_per_s": _NUMBER, "flops_per_step": int, "flops_per_s": _NUMBER,
       "peak_fraction": _OPTIONAL_NUMBER, "speedup_vs_numpy": _OPTIONAL_NUMBER,
       "ratio_vs_torch": _OPTIONAL_NUMBER, "validation": (dict, type(None))}
STEP = {"median": _NUMBER, "min": _NUMBER, "max": _NUMBER, "q1": _NUMBER, "q3": _NUMBER, "spread": _NUMBER,
        "repeats": int, "steps_per_repeat": int}
PEAK = {"peak_flops_per_s": _NUMBER, "measurements": list}
ISSUE = {"backend": str, "reason": str}

_OPTIONAL_INT = (int, type(None))
OPTIONAL_RECORD = {"progress": dict, "not_run": list}
OPTIONAL_ROW = {"host_s_per_step": _OPTIONAL_NUMBER, "ops_calls_per_step": _OPTIONAL_INT,
                "host_s_per_ops_call": _OPTIONAL_NUMBER}
OPTIONAL_PEAK = {"copy_bytes_per_s": _NUMBER, "copy_measurements": list}
OPTIONAL_FAILURE = {"stage": str, "traceback": str, "size": (str, type(None)), "batch": _OPTIONAL_INT}
PROGRESS = {"state": str, "cases_done": int, "cases_total": int}
PROGRESS_STATES = ("running", "complete", "time limit", "interrupted")
NOT_RUN = {"size": str, "batch": int, "reason": str}


def _check(where: str, obj, spec: dict, problems: list, optional: dict | None = None) -> None:
    if not isinstance(obj, dict):
        problems.append(f"{where}: expected an object, got {type(obj).__name__}")
        return
    for key, types in spec.items():
        if key not in obj:
            problems.append(f"{where}: missing {key!r}")
        elif not isinstance(obj[key], types) or isinstance(obj[key], bool):
            problems.append(f"{where}.{key}: unexpected type {type(obj[key]).__name__}")
    for key, types in (optional or {}).items():
        if key in obj and (not isinstance(obj[key], types) or isinstance(obj[key], bool)):
            problems.append(f"{where}.{key}: unexpected type {type(obj[key]).__name__}")


def problems(record) -> list[str]:
    """Every way ``record`` departs from the schema (empty: it follows it)."""
    found: list[str] = []
    _check("record", record, RECORD, found, OPTIONAL_RECORD)
    if found:
        return found
    if record["schema"] != SCHEMA:
        found.append(f"record.schema: expected {SCHEMA!r}, got {record['schema']!r}")
    if isinstance(record.get("progress"), dict):
        _check("progress", record["progress"], PROGRESS, found)
        if record["progress"].get("state") not in PROGRESS_STATES:
            found.append(f"progress.state: expected one of {PROGRESS_STATES}, got {record['progress'].get('state')!r}")
    for i, item in enumerate(record.get("not_run", [])):
        _check(f"not_run[{i}]", item, NOT_RUN, found)
    for device, peak in record["peaks"].items():
        _check(f"peaks[{device!r}]", peak, PEAK, found, OPTIONAL_PEAK)
    for i, row in enumerate(record["results"]):
        _check(f"results[{i}]", row, ROW, found, OPTIONAL_ROW)
        if isinstance(row, dict) and isinstance(row.get("step_s"), dict):
            step = row["step_s"]
            _check(f"results[{i}].step_s", step, STEP, found)
            if all(isinstance(step.get(k), _NUMBER) for k in ("min", "median", "max")) and not (
                    0 < step["min"] <= step["median"] <= step["max"]):
                found.append(f"results[{i}].step_s: expected 0 < min <= median <= max, got {step}")
    for i, item in enumerate(record["failures"]):
        _check(f"failures[{i}]", item, ISSUE, found, OPTIONAL_FAILURE)
    for i, item in enumerate(record["skipped"]):
        _check(f"skipped[{i}]", item, ISSUE, found)
    return found


def check(record) -> dict:
    """``record`` unchanged if it follows the schema; a ValueError listing the problems otherwise."""
    found = problems(record)
    if found:
        raise ValueError("benchmark record does not follow " + SCHEMA + ":\n  " + "\n  ".join(found))
    return record
