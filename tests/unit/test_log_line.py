"""The invocation log line is built by hand (it is written for every invocation): it must stay JSON."""

from __future__ import annotations

import json

from turnout.domain.config import FunctionConfig
from turnout.gateway.invoke import Record
from turnout.gateway.logs import _line, iso
from turnout.runtime.supervisor import Outcome, Target

TARGET = Target("thumbs", 3, FunctionConfig(handler="app.handler"), "a" * 64)


def test_a_plain_success_reads_back_with_every_field() -> None:
    record = Record("9f1c2a4e-7b3d-4c8e-9a1f-0e2d4c6b8a10", TARGET, "prod", Outcome("3", duration_ms=1.23456))
    line = _line(1_700_000_000.25, record)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert json.loads(line) == {
        "time": "2023-11-14T22:13:20.250Z",
        "request_id": "9f1c2a4e-7b3d-4c8e-9a1f-0e2d4c6b8a10",
        "function": "thumbs",
        "version": "3",
        "qualifier": "prod",
        "duration_ms": 1.235,
        "text": "",
    }


def test_text_and_error_codes_from_the_function_are_escaped() -> None:
    error = {"code": 'Odd"Code\n', "type": "ValueError", "message": 'bad "qty"', "trace": ['  File "x"\n']}
    outcome = Outcome("$LATEST", error=error, logs='héllo "world"\n\ttab \\ \x00\n', cold=True, init_ms=2.5)
    record = Record("id-1", TARGET, None, outcome)
    parsed = json.loads(_line(1_700_000_000.0, record))
    assert parsed["qualifier"] is None and parsed["version"] == "$LATEST"
    assert parsed["error"] == 'Odd"Code\n' and parsed["init_ms"] == 2.5
    assert parsed["text"].startswith('héllo "world"\n\ttab \\ \x00\n[ERROR] ValueError: bad "qty"\n')
    assert parsed["text"].endswith('  File "x"\n')


def test_iso_times_are_fixed_width_and_ordered_within_and_across_seconds() -> None:
    times = [1_700_000_000.0, 1_700_000_000.0004, 1_700_000_000.999, 1_700_000_001.0, 1_700_000_061.5]
    texts = [iso(t) for t in times]
    assert texts == sorted(texts)
    assert {len(t) for t in texts} == {24}
    assert texts[2] == "2023-11-14T22:13:20.999Z" and texts[4] == "2023-11-14T22:14:21.500Z"
