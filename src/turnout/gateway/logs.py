"""Invocation logs: one JSON line per invocation, appended to ``<logs_dir>/<function>.jsonl``.

The gateway calls :class:`LogSink` (an observer) on the event loop for every invocation; that call only
puts the record on a queue. One writer thread turns queued records into JSON lines and appends them, a
batch per function per wake-up, with one ``write`` each (no fsync: a crash may lose the last moments of
logs, never the invocation itself). Past ``max_bytes`` a file is renamed to ``<function>.jsonl.1``
(replacing the older one) and a new one is started, always between records.

Cursors are *logical* byte offsets that survive rotation: each file starts with a header line
``{"turnout_log":1,"base":N}`` giving the logical offset of its first byte, so the current file's base
is the rotated file's base plus its size. A reader asks for records after a cursor and gets the next
cursor back; a cursor older than anything kept restarts at the oldest record kept.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from turnout.errors import InvalidInput
from turnout.gateway.invoke import Record
from turnout.runtime.bootstrap import LOG_LIMIT

log = logging.getLogger(__name__)

SUFFIX = ".jsonl"
HEADER_KEY = "turnout_log"
MAX_TEXT = LOG_LIMIT + 1024  # the worker's cap plus its "… dropped" notice; more is cut here
MAX_PENDING = 10_000  # records queued for the writer; past this new records are dropped (and counted)
MAX_OPEN_FILES = 64
BATCH_SECONDS = 0.02  # the writer wakes at most this often: records may show up that much later
CHUNK = 64 * 1024
_STOP = object()
_DROP = object()  # (_DROP, function) on the queue: delete that function's logs
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


_second: tuple[int, str] = (-1, "")  # the last whole second formatted, and its text up to the dot


def iso(timestamp: float) -> str:
    """``2024-05-01T12:00:00.123Z``: fixed width, so times compare as strings."""
    global _second
    whole = int(timestamp)
    if whole != _second[0]:  # formatting a datetime costs microseconds: once a second, not per record
        _second = (whole, datetime.fromtimestamp(whole, UTC).strftime("%Y-%m-%dT%H:%M:%S."))
    return f"{_second[1]}{int((timestamp - whole) * 1000):03d}Z"


def _format(moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_since(text: str, now: float | None = None) -> str:
    """An ISO 8601 time, or an age (``90``, ``30s``, ``10m``, ``2h``, ``1d``) -> the ISO form of records."""
    text = text.strip()
    unit = text[-1:].lower()
    number = text[:-1] if unit in _UNITS else text
    try:
        return iso((time.time() if now is None else now) - float(number) * _UNITS.get(unit, 1))
    except (ValueError, OverflowError, OSError):
        pass
    try:
        moment = datetime.fromisoformat(text)
        return _format(moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC))
    except (ValueError, OverflowError) as exc:
        raise InvalidInput(
            f"since={text!r} is neither an ISO 8601 time nor an age like 90, 30s, 10m, 2h or 1d"
        ) from exc


@dataclass(frozen=True)
class Page:
    """Records oldest-first, and the cursor to ask for what comes after them.

    ``positions`` (forward reads only) holds, for each record, the cursor just after it: a reader that
    keeps only the first records of a page (a merge across nodes) goes on from there.
    """

    records: list[dict[str, Any]]
    next: int
    positions: list[int] = field(default_factory=list)


@dataclass
class _Open:
    handle: IO[bytes]
    base: int
    start: int  # the size of the header: a file this size holds no record yet
    size: int


@dataclass
class _Segment:
    """One file of a function's log, opened for reading: its logical base and its complete size."""

    handle: IO[bytes]
    base: int
    start: int  # first byte after the header line
    size: int

    @property
    def end(self) -> int:
        return self.base + self.size


class LogSink:
    """The gateway observer that keeps every invocation's captured output, and reads it back."""

    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.directory = directory
        self.max_bytes = max(max_bytes, 4096)
        self.dropped = 0  # records dropped because the writer fell MAX_PENDING behind
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._files: OrderedDict[str, _Open] = OrderedDict()
        self._lock = threading.Lock()  # rotation vs. a reader opening both files
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"LogSink({str(self.directory)!r})"

    # ------------------------------------------------------------------------------------------ writing

    def __call__(self, record: Record) -> None:
        """On the event loop, for every invocation: an append to a queue, nothing more."""
        if self._queue.qsize() >= MAX_PENDING:
            self.dropped += 1
            return
        self._queue.put((time.time(), record))

    def forget(self, function: str) -> None:
        """Delete a function's logs (it was deleted: a function made later under its name starts
        empty). Records queued before this are written first, then removed with the rest."""
        self._queue.put((_DROP, function))

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="turnout-logs", daemon=True)
            self._thread.start()

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued, then stop the writer."""
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join(timeout)
            self._thread = None
        self._forget()

    def _forget(self) -> None:
        for state in self._files.values():
            state.handle.close()
        self._files.clear()

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            time.sleep(BATCH_SECONDS)  # let records gather: one wake-up per batch, not per invocation
            while True:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            stop = any(item is _STOP for item in batch)
            try:
                self._write([item for item in batch if item is not _STOP])
            except Exception:  # noqa: BLE001 - a full disk must not kill the writer for good
                log.exception("could not write invocation logs")
                self._forget()  # sizes may be off now: read them from the files again
            if stop:
                return

    def _write(self, batch: list[tuple[Any, Any]]) -> None:
        lines: dict[str, list[bytes]] = {}
        for when, record in batch:
            if when is _DROP:  # write what came before, then remove the function's files
                for function, chunk in lines.items():
                    self._append(function, chunk)
                lines.clear()
                self._drop(record)
                continue
            lines.setdefault(record.target.function, []).append(_line(when, record))
        for function, chunk in lines.items():
            self._append(function, chunk)

    def _drop(self, function: str) -> None:
        state = self._files.pop(function, None)
        path = self.path(function)
        with self._lock:
            if state is not None:
                state.handle.close()
            for old in (path, path.with_name(path.name + ".1")):
                old.unlink(missing_ok=True)

    def _append(self, function: str, lines: list[bytes]) -> None:
        state = self._state(function)
        pending: list[bytes] = []
        size = state.size
        for line in lines:
            if size + len(line) > self.max_bytes and size > state.start:
                if pending:
                    _write_all(state.handle, b"".join(pending))
                    state.size, pending = size, []
                state = self._rotate(function, state)
                size = state.size
            pending.append(line)
            size += len(line)
        if pending:
            _write_all(state.handle, b"".join(pending))
            state.size = size

    def _state(self, function: str) -> _Open:
        state = self._files.get(function)
        if state is not None:
            self._files.move_to_end(function)
            return state
        path = self.path(function)
        handle = open(path, "ab", buffering=0)  # noqa: SIM115 - kept open across batches
        size = handle.seek(0, os.SEEK_END)
        if size == 0:
            base = 0
            size = start = _write_all(handle, _header(base))
        else:
            with open(path, "rb") as reader:
                base, start = _read_header(reader)
                reader.seek(size - 1)
                torn = reader.read(1) != b"\n"
            if torn:  # a crash mid-line: the next record starts on a line of its own
                size += _write_all(handle, b"\n")
        state = self._files[function] = _Open(handle, base, start, size)
        while len(self._files) > MAX_OPEN_FILES:
            _, oldest = self._files.popitem(last=False)
            oldest.handle.close()
        return state

    def _rotate(self, function: str, state: _Open) -> _Open:
        path = self.path(function)
        base = state.base + state.size
        with self._lock:
            state.handle.close()
            os.replace(path, path.with_name(path.name + ".1"))
            handle = open(path, "ab", buffering=0)  # noqa: SIM115 - kept open across batches
            size = _write_all(handle, _header(base))
        fresh = self._files[function] = _Open(handle, base, size, size)
        return fresh

    # ------------------------------------------------------------------------------------------ reading

    def path(self, function: str) -> Path:
        return self.directory / f"{function}{SUFFIX}"

    def read(
        self,
        function: str,
        *,
        version: str | None = None,
        request_id: str | None = None,
        since: str | None = None,
        after: int | None = None,
        limit: int = 100,
    ) -> Page:
        """With ``after``: the first ``limit`` matching records after that cursor. Without: the newest
        ``limit``. Either way oldest-first, with the cursor that follows them (or the end of the log)."""
        segments = self._open(function)
        try:
            if not segments:
                return Page([], 0)
            wanted = _Filter(version, request_id, since)
            if after is None:
                return _tail(segments, wanted, limit)
            return _forward(segments, wanted, after, limit)
        finally:
            for segment in segments:
                segment.handle.close()

    def _open(self, function: str) -> list[_Segment]:
        """The rotated file then the current one, opened together so a rotation cannot slip between."""
        path = self.path(function)
        segments = []
        with self._lock:
            handles = []
            for candidate in (path.with_name(path.name + ".1"), path):
                try:
                    handles.append(open(candidate, "rb"))  # noqa: SIM115 - closed by read()
                except FileNotFoundError:
                    continue
        for handle in handles:
            base, start = _read_header(handle)
            size = handle.seek(0, os.SEEK_END)
            segments.append(_Segment(handle, base, start, size))
        return segments


@dataclass(frozen=True)
class _Filter:
    version: str | None
    request_id: str | None
    since: str | None

    def quick(self, line: bytes) -> bool:
        """False when the line surely does not match (a substring test; json.loads confirms)."""
        if self.version is not None and f'"version":{json.dumps(self.version)}'.encode() not in line:
            return False
        return self.request_id is None or self.request_id.encode() in line

    def matches(self, record: dict[str, Any]) -> bool:
        return (
            (self.version is None or record.get("version") == self.version)
            and (self.request_id is None or record.get("request_id") == self.request_id)
            and (self.since is None or str(record.get("time", "")) >= self.since)
        )


def _tail(segments: list[_Segment], wanted: _Filter, limit: int) -> Page:
    """Newest first, backwards through the files, until ``limit`` matches or records older than since."""
    found: list[dict[str, Any]] = []
    end = segments[-1].base + _complete(segments[-1])
    for segment in reversed(segments):
        for line in _backward(segment.handle, segment.start, _complete(segment)):
            record = _parse(line)
            if record is None:
                continue
            if wanted.since is not None and str(record.get("time", "")) < wanted.since:
                return Page(found[::-1], end)
            if wanted.quick(line) and wanted.matches(record):
                found.append(record)
                if len(found) >= limit:
                    return Page(found[::-1], end)
    return Page(found[::-1], end)


def _forward(segments: list[_Segment], wanted: _Filter, after: int, limit: int) -> Page:
    oldest = segments[0].base + segments[0].start
    end = segments[-1].base + _complete(segments[-1])
    cursor = oldest if after < oldest or after > end else after
    found: list[dict[str, Any]] = []
    positions: list[int] = []
    for segment in segments:
        if cursor >= segment.end:
            continue
        local = max(cursor - segment.base, segment.start)
        for stop, line in _lines(segment.handle, local, segment.size):
            cursor = segment.base + stop
            if not wanted.quick(line):
                continue
            record = _parse(line)
            if record is not None and wanted.matches(record):
                found.append(record)
                positions.append(cursor)
                if len(found) >= limit:
                    return Page(found, cursor, positions)
        cursor = max(cursor, segment.base + _complete(segment))
    return Page(found, cursor, positions)


# ---------------------------------------------------------------------------------------------- lines


def _line(when: float, record: Record) -> bytes:
    outcome = record.outcome
    text = outcome.logs
    if outcome.error is not None:  # as Lambda does: the failure, at the end of what the function wrote
        error = outcome.error
        text += f"[ERROR] {error.get('type') or outcome.error_code}: {error.get('message', '')}\n"
        trace = error.get("trace")
        if trace and isinstance(trace, list):
            text += "Traceback (most recent call last):\n" + "".join(str(line) for line in trace)
    if len(text) > MAX_TEXT:
        text = text[:MAX_TEXT] + f"\n[turnout: {len(text) - MAX_TEXT} more characters were dropped]\n"
    # Written out by hand: json.dumps of the whole dict costs twice as much, on every invocation.
    # Strings from outside (the function's output, its error code) go through json.dumps.
    qualifier = "null" if record.qualifier is None else _string(record.qualifier)
    line = (
        f'{{"time":"{iso(when)}","request_id":{_string(record.request_id)},'
        f'"function":{_string(record.target.function)},"version":{_string(outcome.version)},'
        f'"qualifier":{qualifier},"duration_ms":{round(outcome.duration_ms, 3)!r}'
    )
    if outcome.cold:
        line += f',"init_ms":{round(outcome.init_ms, 3)!r}'
    if outcome.error is not None:
        line += f',"error":{_string(outcome.error_code)}'
    line += f',"text":{_string(text) if text else chr(34) * 2}}}\n'
    return line.encode()


_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.$:")


def _string(text: str | None) -> str:
    """``text`` as a JSON string; names, versions and ids need no escaping, so skip the encoder."""
    if text is None:
        return "null"
    if len(text) < 80 and _SAFE.issuperset(text):
        return f'"{text}"'
    return json.dumps(text, ensure_ascii=False)


def _header(base: int) -> bytes:
    return json.dumps({HEADER_KEY: 1, "base": base}, separators=(",", ":")).encode() + b"\n"


def _read_header(handle: IO[bytes]) -> tuple[int, int]:
    """(base, size of the header line); a file without one (written by someone else) starts at 0."""
    handle.seek(0)
    first = handle.readline(4096)
    try:
        header = json.loads(first)
        return int(header["base"]), len(first)
    except (ValueError, KeyError, TypeError):
        return 0, 0


def _parse(line: bytes) -> dict[str, Any] | None:
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return record if isinstance(record, dict) and HEADER_KEY not in record else None


def _write_all(handle: IO[bytes], data: bytes) -> int:
    view = memoryview(data)
    while view:
        written = handle.write(view)
        view = view[written or 0 :]
    return len(data)


def _complete(segment: _Segment) -> int:
    """The segment's size up to and including its last newline (a line being written is not yet in)."""
    handle, position = segment.handle, segment.size
    while position > segment.start:
        step = min(CHUNK, position - segment.start)
        handle.seek(position - step)
        chunk = handle.read(step)
        newline = chunk.rfind(b"\n")
        if newline >= 0:
            return position - step + newline + 1
        position -= step
    return segment.start


def _lines(handle: IO[bytes], start: int, end: int) -> Iterator[tuple[int, bytes]]:
    """Complete lines from ``start`` (skipping a partial first one) to ``end``: (offset after, line)."""
    position = start
    if start > 0:
        handle.seek(start - 1)
        if handle.read(1) != b"\n":  # landed inside a line: resume at the next one
            handle.seek(start)
            skipped = handle.readline()
            if not skipped.endswith(b"\n"):
                return
            position = start + len(skipped)
    handle.seek(position)
    while position < end:
        line = handle.readline()
        if not line.endswith(b"\n"):
            return
        position += len(line)
        yield position, line[:-1]


def _backward(handle: IO[bytes], start: int, end: int) -> Iterator[bytes]:
    """Complete lines between ``start`` and ``end`` (which ends with a newline), last line first."""
    position, tail = end, b""
    while position > start:
        step = min(CHUNK, position - start)
        position -= step
        handle.seek(position)
        chunk = handle.read(step) + tail
        parts = chunk.split(b"\n")
        tail = parts[0]
        for line in reversed(parts[1:]):
            if line:
                yield line
    if tail:
        yield tail
