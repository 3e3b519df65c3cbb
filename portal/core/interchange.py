"""Reading interchange files from the billing system, CSV or JSON Lines, streamed, and running an
import of them: the one runner behind the account, bill and payment imports (``import_run``),
their commands and the integration API, so a file and an API call are judged by the same rules
(docs/integration.md):

- CSV has a header row; the header is line 1, so the first record is line 2. In JSON Lines every
  line is a record, so the first record is line 1.
- UTF-8 (with or without a byte-order mark) and GBK/GB18030, which Excel on Chinese Windows
  writes, are read; anything else (UTF-16, Latin-1, …) is refused with a message saying which
  encodings are accepted. The encoding is decided by the first line that is not plain ASCII, so
  a GBK file whose first thousand rows happen to be ASCII is still read as GBK.
- An unknown, missing or repeated column refuses the whole file.
- Every record is handed over with its line number; validation is the caller's.
- Memory stays flat whatever the file's size: one physical line at a time (at most
  MAX_LINE_BYTES), and duplicate keys are remembered on disk (``SeenKeys``), not in a Python set.
- The runner: one transaction per file, queued behind other imports of the same kind (an
  advisory lock on PostgreSQL), rows checked one by one with line-numbered rejects, written in
  batches, ``--strict`` rolling the whole file back on one bad row, progress per batch, and one
  audit record per run as the transaction's last write.
- The column parsers (``text_value``, ``decimal_value``, ``date_value``) every kind shares, and
  the plausibility bounds of dates and amounts (``Bounds``, from the settings).
- Whatever the bytes, reading raises nothing but ``InterchangeError`` (the whole file) and
  hands over nothing but records and ``RowError`` (one line): a JSON Lines record goes through
  ``portal.core.safejson`` (depth, digits, NaN, lone surrogates, NUL), so neither the commands
  nor the API can be made to crash by what they are sent (the property tests in
  tests/portal/test_interchange_properties.py).
"""

import codecs
import csv
import hashlib
import io
import os
import queue
import re
import sqlite3
import tempfile
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import cached_property
from typing import Protocol

from django.conf import settings
from django.db import connection, transaction
from django.utils import translation
from django.utils.translation import gettext as _

from . import clock, safejson
from .audit import audit_record
from .errors import PowerhallError

MAX_REPORTED_ERRORS = 1000
# No record of ours comes near this; a longer "line" is a binary file or a missing newline, and
# reading it whole would defeat the flat-memory promise.
MAX_LINE_BYTES = 1024 * 1024
FORMATS = ("csv", "jsonl")

_UTF16_BOMS = (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


class InterchangeError(PowerhallError):
    """The file as a whole cannot be read (encoding, header, format). Nothing is imported."""


@dataclass
class RowError:
    line: int
    reason: str

    def __str__(self):
        return _("line %(line)s: %(reason)s") % {"line": self.line, "reason": self.reason}


@dataclass
class ImportReport:
    """What an import did. Counts are complete; errors are kept up to MAX_REPORTED_ERRORS (a
    caller that must show every one, like the command, passes ``on_reject`` to the import)."""

    file_name: str = ""
    format: str = ""
    sha256: str = ""
    strict: bool = False
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    flagged: int = 0
    errors: list[RowError] = field(default_factory=list)
    committed: bool = True

    def reject(self, line: int, reason: str) -> RowError:
        self.rejected += 1
        error = RowError(line, reason)
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append(error)
        return error

    @property
    def counts(self) -> dict[str, int]:
        return {
            "rows": self.rows,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": self.rejected,
            "flagged": self.flagged,
        }

    def discard(self) -> None:
        """Nothing was kept (--strict and a row was rejected): only the rejects still count."""
        self.committed = False
        self.created = self.updated = self.unchanged = self.flagged = 0

    def audit_data(self) -> dict:
        """What the run's one audit record holds about the file and what happened to it."""
        return {
            "file": self.file_name,
            "sha256": self.sha256,
            "format": self.format,
            "strict": self.strict,
            "counts": self.counts,
        }

    def as_dict(self) -> dict:
        return {
            "file_name": self.file_name,
            "format": self.format,
            "sha256": self.sha256,
            "strict": self.strict,
            "committed": self.committed,
            **self.counts,
            "errors": [{"line": e.line, "reason": e.reason} for e in self.errors],
            "errors_truncated": self.rejected > len(self.errors),
        }


def printable_name(file_name: str) -> str:
    """A file's name as the audit log, the ledger's memos and the summary can hold it: control
    characters (a NUL from an API's ``file_name``) and lone surrogates (the bytes of a name
    that is not UTF-8, as Python hands them over) become "?"."""
    return _CONTROL_RE.sub("?", file_name).encode("utf-8", "replace").decode("utf-8")


def format_for(file_name: str) -> str | None:
    """The format a file name's extension suggests: "csv", "jsonl" or None."""
    extension = os.path.splitext(file_name)[1].lower()
    return {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}.get(extension)


# --- Bytes in: hashing while reading ------------------------------------------------------------


class HashingReader(io.RawIOBase):
    """A raw binary stream over ``source`` that hashes every byte it hands out, so the file is
    read once for both the import and its SHA-256. ``finish()`` reads what the import left
    unread (it may stop early) and returns the hash of the whole file."""

    def __init__(self, source):
        self._source = source
        self._sha256 = hashlib.sha256()
        self.bytes_read = 0

    def readable(self):
        return True

    def readinto(self, buffer):
        data = self._source.read(len(buffer))
        if not data:
            return 0
        size = len(data)
        buffer[:size] = data
        self._sha256.update(data)
        self.bytes_read += size
        return size

    def finish(self) -> str:
        while chunk := self._source.read(1024 * 1024):
            self._sha256.update(chunk)
            self.bytes_read += len(chunk)
        return self._sha256.hexdigest()


# --- Bytes to text: encoding ---------------------------------------------------------------------


def _encoding_refused() -> InterchangeError:
    return InterchangeError(
        _(
            "The file is neither UTF-8 nor GBK. Save it as UTF-8 (or GBK) and send it again. "
            "Nothing was imported."
        )
    )


def _refuse_utf16(raw: bytes, number: int) -> None:
    # UTF-16/32 put a NUL byte next to every ASCII character; no UTF-8 or GBK text has one.
    if (number == 1 and raw.startswith(_UTF16_BOMS)) or b"\x00" in raw:
        raise _encoding_refused()


def _physical_lines(stream) -> Iterator[tuple[int, bytes]]:
    number = 0
    while raw := stream.readline(MAX_LINE_BYTES + 1):
        number += 1
        if len(raw) > MAX_LINE_BYTES:
            raise InterchangeError(
                _("Line %(line)s is longer than %(limit)s bytes. Nothing was imported.")
                % {"line": number, "limit": MAX_LINE_BYTES}
            )
        yield number, raw


def decoded_lines(stream) -> Iterator[tuple[int, str]]:
    """Yield (line number, text) for each physical line of a binary stream.

    The encoding is UTF-8 until a line says otherwise: the first line that is not plain ASCII
    decides between UTF-8 and GBK (GB18030, its superset), and every later line must be in the
    same encoding. UTF-8 is tried first because GBK bytes are almost never valid UTF-8, while
    UTF-8 bytes are often valid GBK (as nonsense).
    """
    encoding = None  # not decided yet: every line so far was ASCII
    for number, raw in _physical_lines(stream):
        if number == 1 and raw.startswith(codecs.BOM_UTF8):
            raw, encoding = raw[len(codecs.BOM_UTF8) :], "utf-8"
        _refuse_utf16(raw, number)
        if encoding is None:
            if raw.isascii():
                yield number, raw.decode("ascii")
                continue
            for candidate in ("utf-8", "gb18030"):
                try:
                    text = raw.decode(candidate)
                except UnicodeDecodeError:
                    continue
                encoding = candidate
                yield number, text
                break
            else:
                raise _encoding_refused()
            continue
        try:
            yield number, raw.decode(encoding)
        except UnicodeDecodeError:
            raise InterchangeError(
                _(
                    "Line %(line)s is not valid %(encoding)s although the lines before it were: "
                    "the file mixes encodings. Nothing was imported."
                )
                % {"line": number, "encoding": "GBK" if encoding == "gb18030" else "UTF-8"}
            ) from None


# --- Text to records ----------------------------------------------------------------------------


_MAX_NAMES_SHOWN = 10


def _quoted(names: Iterable[str]) -> str:
    # Names come from the file: each is shortened, and only the first few are listed, so a
    # header of a hundred thousand unknown columns makes a message, not a megabyte.
    names = list(names)
    quoted = ", ".join(f'"{shown(name)}"' for name in names[:_MAX_NAMES_SHOWN])
    return quoted + (" …" if len(names) > _MAX_NAMES_SHOWN else "")


def _check_columns(found: list[str], *, required: set[str], optional: set[str]) -> None:
    known = required | optional
    unknown = [c for c in found if c not in known]
    if unknown:
        raise InterchangeError(
            _("Unknown column(s): %(columns)s. Expected: %(expected)s. Nothing was imported.")
            % {"columns": _quoted(unknown), "expected": _quoted(sorted(known))}
        )
    missing = sorted(required - set(found))
    if missing:
        raise InterchangeError(
            _("Missing column(s): %(columns)s. Nothing was imported.")
            % {"columns": _quoted(missing)}
        )
    repeated = sorted(c for c, count in Counter(found).items() if count > 1)
    if repeated:
        raise InterchangeError(
            _("Column(s) %(columns)s appear more than once in the header. Nothing was imported.")
            % {"columns": _quoted(repeated)}
        )


def read_records(
    stream, *, fmt: str, required: set[str], optional: set[str] = frozenset()
) -> Iterator[tuple[int, dict | RowError]]:
    """Yield (line, record) or (line, RowError) for a malformed record; raise InterchangeError
    when the file as a whole is unreadable (it may do so after some records were yielded: a line
    in another encoding further down).

    ``stream`` is a binary stream with ``readline``. Values are stripped strings in CSV and
    whatever JSON holds in JSON Lines (strings stripped); checking them is the caller's work.
    """
    if fmt not in FORMATS:
        raise InterchangeError(_("Unknown format %(fmt)s: use csv or jsonl.") % {"fmt": fmt})
    lines = decoded_lines(stream)
    if fmt == "csv":
        yield from _read_csv(lines, required=required, optional=optional)
    else:
        yield from _read_jsonl(lines, required=required, optional=optional)


def _read_csv(lines, *, required, optional):
    current = {"line": 0}

    def text_lines():
        for number, text in lines:
            current["line"] = number
            yield text

    reader = csv.reader(text_lines(), strict=True)
    try:
        header = next(reader)
    except StopIteration:
        raise InterchangeError(_("The file is empty. Nothing was imported.")) from None
    except csv.Error as exc:
        raise InterchangeError(
            _("The header row is not valid CSV (%(error)s). Nothing was imported.") % {"error": exc}
        ) from None
    columns = [c.strip() for c in header]
    _check_columns(columns, required=required, optional=optional)
    while True:
        start = current["line"] + 1
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield start, RowError(start, _("malformed CSV: %(error)s") % {"error": exc})
            continue
        if not any(v.strip() for v in values):
            continue  # a blank line
        if len(values) != len(columns):
            yield (
                start,
                RowError(
                    start,
                    _("expected %(expected)s fields, found %(found)s")
                    % {"expected": len(columns), "found": len(values)},
                ),
            )
            continue
        yield start, {c: v.strip() for c, v in zip(columns, values, strict=True)}


def _read_jsonl(lines, *, required, optional):
    empty = True
    for number, text in lines:
        if not text.strip():
            continue
        empty = False
        try:
            record = safejson.loads(text)
        except safejson.UnsafeJSON as error:
            yield number, RowError(number, str(error.message))
            continue
        if not isinstance(record, dict):
            yield number, RowError(number, _("each line must be a JSON object"))
            continue
        unknown = sorted(set(record) - required - optional)
        if unknown:
            yield (
                number,
                RowError(number, _("unknown key(s): %(keys)s") % {"keys": _quoted(unknown)}),
            )
            continue
        missing = sorted(required - set(record))
        if missing:
            yield (
                number,
                RowError(number, _("missing key(s): %(keys)s") % {"keys": _quoted(missing)}),
            )
            continue
        yield number, {k: (v.strip() if isinstance(v, str) else v) for k, v in record.items()}
    if empty:
        raise InterchangeError(_("The file is empty. Nothing was imported."))


# --- Duplicate keys -----------------------------------------------------------------------------


class SeenKeys:
    """Remembers which keys a run has seen, on disk, so memory stays flat on huge files.

    A private SQLite file in the temp directory (never the project's database: it must not take
    part in the import's transaction), deleted on close.
    """

    def __init__(self):
        fd, self._path = tempfile.mkstemp(prefix="powerhall-keys-", suffix=".sqlite3")
        os.close(fd)
        self._db = sqlite3.connect(self._path)
        self._db.execute("PRAGMA journal_mode=OFF")
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.execute("CREATE TABLE seen (key TEXT PRIMARY KEY, line INTEGER) WITHOUT ROWID")

    def first_line(self, key: str, line: int) -> int | None:
        """Record key at line; return the line where it was first seen if it is a repeat."""
        row = self._db.execute("SELECT line FROM seen WHERE key = ?", (key,)).fetchone()
        if row:
            return row[0]
        self._db.execute("INSERT INTO seen VALUES (?, ?)", (key, line))
        return None

    def close(self):
        self._db.close()
        os.unlink(self._path)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def import_finish(report: ImportReport, *, action: str, actor=None, client=None) -> ImportReport:
    """End an import run, inside its transaction, once the whole file has been read: under
    --strict with a rejected row, roll everything back; otherwise write the run's one audit
    record, as the transaction's last write. ``actor`` (a staff user) or ``client`` (an
    integration client) is who asked; neither means the command line."""
    if report.strict and report.rejected:
        transaction.set_rollback(True)
        report.discard()
        return report
    audit_record(
        action=action,
        actor=actor,
        obj=client,
        actor_role="integration" if client is not None else None,
        data=report.audit_data() | {"client": client.name if client is not None else None},
    )
    return report


# --- The runner ----------------------------------------------------------------------------------
def import_lock(name: str) -> None:
    """Queue behind any other import holding the lock ``name`` until this transaction ends
    (PostgreSQL's advisory lock; SQLite starts every write transaction with BEGIN IMMEDIATE,
    which already lets one writer in at a time)."""
    if connection.vendor == "postgresql":
        key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], signed=True)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])


class Run:
    """One import run as a kind of import sees it: the report, the rejection of a row, and
    whether what it writes will be kept."""

    def __init__(self, report: ImportReport, on_reject: Callable[[RowError], None] | None):
        self.report = report
        self._on_reject = on_reject

    def reject(self, line: int, reason: str) -> None:
        error = self.report.reject(line, reason)
        if self._on_reject:
            self._on_reject(error)

    @property
    def keeping(self) -> bool:
        """False once --strict has met a rejected row: nothing will be kept, so writing is
        pointless (the rows are still checked, to report every error)."""
        return not (self.report.strict and self.report.rejected)


class RowImport[T](Protocol):
    """One kind of interchange file (accounts, bills, payments), as ``import_run`` drives it."""

    lock: str
    """The advisory lock: imports that touch the same rows share one."""
    audit_action: str
    required: frozenset[str]

    def optional(self, fmt: str) -> frozenset[str]: ...

    def begin(self, run: Run) -> None:
        """Under the lock, in the transaction, before the first row: read what the rows are
        judged against (known tariffs, penalty rules …)."""

    def clean(self, line: int, record: dict) -> tuple[T | None, str, list[str]]:
        """A record as a typed row, its key ("" if it has none) and its problems."""

    def duplicate(self, key: str, first: int) -> str:
        """Why a key seen before, on line ``first``, is refused."""

    def write(self, batch: list[T]) -> None:
        """Check the batch against the database (rejecting rows through ``run.reject``) and
        write what is to be kept (``run.keeping``)."""


def _parsed_batches[T](
    kind: RowImport[T], reader, *, fmt: str, batch_size: int
) -> Iterator[tuple[int, list[tuple[int, str]], list[T]]]:
    """The file read and each row checked on its own (``kind.clean``, repeated keys), as
    (rows read, (line, reason) of each refused row in order, the batch of good rows): one per
    batch of ``batch_size`` good rows, then one for the rest. Touches no database but its own
    ``SeenKeys``, so it may run in another thread (``_ahead``)."""
    with SeenKeys() as seen:
        batch: list[T] = []
        rejects: list[tuple[int, str]] = []
        rows = 0
        records = read_records(
            io.BufferedReader(reader, buffer_size=256 * 1024),
            fmt=fmt,
            required=set(kind.required),
            optional=set(kind.optional(fmt)),
        )
        for line, record in records:
            rows += 1
            if isinstance(record, RowError):
                row, key, problems = None, "", [record.reason]
            else:
                row, key, problems = kind.clean(line, record)
            if key and (first := seen.first_line(key, line)) is not None:
                problems.append(kind.duplicate(key, first))
            if problems:
                rejects.append((line, "; ".join(problems)))
                continue
            batch.append(row)
            if len(batch) >= batch_size:
                yield rows, rejects, batch
                batch, rejects, rows = [], [], 0
        if rows or batch or rejects:
            yield rows, rejects, batch


_DONE = object()


def _ahead[B](batches: Iterator[B], *, depth: int = 2) -> Iterator[B]:
    """``batches`` produced by a thread of their own, at most ``depth`` ahead of the caller:
    the next batch is read and checked in Python while the database writes this one (the
    driver lets go of the interpreter while it waits). The thread speaks the caller's language,
    for the reasons it writes, and anything it raises is raised here, where it would have been.
    Memory stays flat: at most ``depth`` batches wait."""
    out: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    language = translation.get_language()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                out.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce():
        with translation.override(language):
            try:
                for item in batches:
                    if not put((None, item)):
                        return
            except BaseException as error:  # handed to the caller, raised there
                put((error, None))
                return
            finally:
                batches.close()
            put((None, _DONE))

    thread = threading.Thread(target=produce, name="import-reader", daemon=True)
    thread.start()
    try:
        while True:
            error, item = out.get()
            if error is not None:
                raise error
            if item is _DONE:
                return
            yield item
    finally:
        stop.set()
        thread.join()


def import_run[T](
    kind: RowImport[T],
    *,
    stream,
    fmt: str,
    report: ImportReport,
    actor=None,
    client=None,
    on_reject: Callable[[RowError], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
    batch_size: int,
) -> ImportReport:
    """Import ``stream`` (binary, CSV or JSON Lines) as ``kind``; ``report`` is filled in.

    Raises ``InterchangeError`` when the file cannot be read at all (encoding, header), even
    part-way through: nothing is imported then. ``on_reject`` sees every rejected row as it is
    found (the report keeps the first MAX_REPORTED_ERRORS); ``on_progress`` gets the number of
    rows handled since its last call, once per batch. ``actor`` (a staff user) or ``client`` (an
    integration client) is who asked; neither means the command line.
    """
    reader = HashingReader(stream)
    run = Run(report, on_reject)
    with transaction.atomic():
        import_lock(kind.lock)
        kind.begin(run)
        batches = _parsed_batches(kind, reader, fmt=fmt, batch_size=batch_size)
        if getattr(kind, "parse_ahead", False):
            batches = _ahead(batches)
        with closing(batches):  # the reader thread and the seen keys end with the run
            for rows, rejects, batch in batches:
                report.rows += rows
                for line, reason in rejects:
                    run.reject(line, reason)
                if batch:
                    kind.write(batch)
                if on_progress and rows:
                    on_progress(rows)
        report.sha256 = reader.finish()
        import_finish(report, action=kind.audit_action, actor=actor, client=client)
    return report


# --- Column parsers ------------------------------------------------------------------------------
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_NUMBER_RE = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
MONEY_DIGITS = 12
"""Integer digits a money column holds (``DecimalField(max_digits=14, decimal_places=2)``)."""
# An int with more bits than this has more digits than any column holds; checked before str(),
# which refuses integers of more than 4,300 digits with a ValueError.
_MAX_INT_BITS = 256


def shown(value) -> str:
    """A value as quoted in a message: short, and without line breaks."""
    text = str(value)[:41]
    text = _CONTROL_RE.sub(" ", text)
    return text if len(text) <= 40 else text[:39] + "…"


def _is_text(value: str) -> bool:
    """No lone surrogate: the value can be encoded as UTF-8 and stored. Decoded bytes never hold
    one and safejson refuses them; this keeps any other caller honest."""
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def text_value(column: str, value, problems: list[str], *, max_length: int) -> str:
    """A required text value, or "" with the problem recorded."""
    if value is not None and not isinstance(value, str):
        problems.append(_("%(column)s must be text (in quotes)") % {"column": column})
        return ""
    if not value:
        problems.append(_("%(column)s is empty") % {"column": column})
        return ""
    if _CONTROL_RE.search(value):
        problems.append(
            _("%(column)s contains a line break or another control character") % {"column": column}
        )
        return ""
    if len(value) > max_length:
        problems.append(
            _("%(column)s is longer than %(limit)s characters")
            % {"column": column, "limit": max_length}
        )
        return ""
    if not _is_text(value):
        problems.append(
            _("%(column)s contains a lone surrogate (such as \\ud800), not a character")
            % {"column": column}
        )
        return ""
    return value


def decimal_value(
    column: str,
    value,
    problems: list[str],
    *,
    places: int = 2,
    digits: int = MONEY_DIGITS,
    positive: bool = False,
    maximum: Decimal | None = None,
) -> Decimal | None:
    """A number written with at most ``places`` decimals and ``digits`` before the point, not
    negative (above zero if ``positive``) and at most ``maximum`` (the plausibility bound,
    ``Bounds``). JSON Lines may send it as a string or a number."""
    if isinstance(value, str):
        text = value
    elif isinstance(value, int) and not isinstance(value, bool):
        if value.bit_length() > _MAX_INT_BITS:
            problems.append(_("%(column)s is too large") % {"column": column})
            return None
        text = str(value)
    elif isinstance(value, float):
        # The shortest text that reads back as this float: what the sender wrote, for any
        # amount a bill can hold (at most 15 significant digits survive a float exactly).
        text = repr(value)
    elif value is None:
        text = ""
    else:
        problems.append(_("%(column)s must be a number") % {"column": column})
        return None
    if not text:
        problems.append(_("%(column)s is empty") % {"column": column})
        return None
    if not _NUMBER_RE.fullmatch(text):
        problems.append(
            _('%(column)s must be a number like 123.45, not "%(value)s"')
            % {"column": column, "value": shown(text)}
        )
        return None
    if text.startswith("-"):
        problems.append(_("%(column)s must not be negative") % {"column": column})
        return None
    whole, _point, fraction = text.partition(".")
    if len(fraction) > places:
        problems.append(
            _("%(column)s has more than %(places)s decimal places (%(value)s)")
            % {"column": column, "places": places, "value": shown(text)}
        )
        return None
    if len(whole.lstrip("0")) > digits:
        problems.append(_("%(column)s is too large") % {"column": column})
        return None
    number = Decimal(text)
    if positive and not number:
        problems.append(_("%(column)s must be more than 0") % {"column": column})
        return None
    if maximum is not None and number > maximum:
        problems.append(
            _("%(column)s %(value)s is more than %(maximum)s, the most accepted")
            % {"column": column, "value": shown(text), "maximum": maximum}
        )
        return None
    return number


def date_value(column: str, value, problems: list[str]) -> date | None:
    """An ISO 8601 calendar date (YYYY-MM-DD) that exists."""
    if not isinstance(value, str) or not value:
        problems.append(
            _("%(column)s must be a date written YYYY-MM-DD") % {"column": column}
            if value
            else _("%(column)s is empty") % {"column": column}
        )
        return None
    if not _DATE_RE.fullmatch(value):
        problems.append(
            _('%(column)s must be a date written YYYY-MM-DD, not "%(value)s"')
            % {"column": column, "value": shown(value)}
        )
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        problems.append(
            _("%(column)s: %(value)s is not a date that exists")
            % {"column": column, "value": value}
        )
        return None


def date_within(
    column: str,
    day: date,
    problems: list[str],
    *,
    earliest: date,
    latest: date,
    rule: Callable[[], str],
) -> bool:
    """Whether ``day`` lies in ``earliest`` … ``latest``; if not, the problem says the window
    and the ``rule`` it comes from ("from period_start to 180 days after period_end"). The rule
    is a callable, translated only for a row that breaks it: a gettext per row and column costs
    more than the rest of the check."""
    if earliest <= day <= latest:
        return True
    problems.append(
        _(
            "%(column)s %(value)s is outside the accepted window, %(earliest)s to %(latest)s "
            "(%(rule)s)"
        )
        % {
            "column": column,
            "value": day.isoformat(),
            "earliest": earliest.isoformat(),
            "latest": latest.isoformat(),
            "rule": rule(),
        }
    )
    return False


# --- Plausibility bounds -------------------------------------------------------------------------
# The defaults, and why, are in docs/integration.md ("Bounds"); each has a setting of the same
# name without DEFAULT_ (portal/settings/base.py).
DEFAULT_IMPORT_BILL_YEARS_BACK = 10
DEFAULT_IMPORT_BILL_YEARS_AHEAD = 1
DEFAULT_IMPORT_BILL_DUE_DAYS = 180
DEFAULT_IMPORT_PAYMENT_YEARS_BACK = 10
DEFAULT_IMPORT_PAYMENT_CLOCK_SKEW_SECONDS = 300
DEFAULT_IMPORT_MAX_AMOUNT = 1_000_000_000
DEFAULT_IMPORT_MAX_KWH = 10_000_000_000


def years_before(day: date, years: int) -> date:
    """The same day ``years`` earlier (29 February: the 28th)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def years_after(day: date, years: int) -> date:
    return years_before(day, -years)


@dataclass(frozen=True)
class Bounds:
    """What an import accepts as plausible, read from the settings at the start of a run and
    judged against the business clock of that moment (docs/integration.md, "Bounds")."""

    today: date
    now: datetime
    bill_years_back: int = DEFAULT_IMPORT_BILL_YEARS_BACK
    bill_years_ahead: int = DEFAULT_IMPORT_BILL_YEARS_AHEAD
    due_days: int = DEFAULT_IMPORT_BILL_DUE_DAYS
    payment_years_back: int = DEFAULT_IMPORT_PAYMENT_YEARS_BACK
    clock_skew: timedelta = timedelta(seconds=DEFAULT_IMPORT_PAYMENT_CLOCK_SKEW_SECONDS)
    max_amount: Decimal = Decimal(DEFAULT_IMPORT_MAX_AMOUNT)
    max_kwh: Decimal = Decimal(DEFAULT_IMPORT_MAX_KWH)

    @classmethod
    def current(cls) -> "Bounds":
        def setting(name: str, default: int) -> int:
            return getattr(settings, name, default)

        return cls(
            today=clock.today(),
            now=clock.now(),
            bill_years_back=setting("IMPORT_BILL_YEARS_BACK", DEFAULT_IMPORT_BILL_YEARS_BACK),
            bill_years_ahead=setting("IMPORT_BILL_YEARS_AHEAD", DEFAULT_IMPORT_BILL_YEARS_AHEAD),
            due_days=setting("IMPORT_BILL_DUE_DAYS", DEFAULT_IMPORT_BILL_DUE_DAYS),
            payment_years_back=setting(
                "IMPORT_PAYMENT_YEARS_BACK", DEFAULT_IMPORT_PAYMENT_YEARS_BACK
            ),
            clock_skew=timedelta(
                seconds=setting(
                    "IMPORT_PAYMENT_CLOCK_SKEW_SECONDS", DEFAULT_IMPORT_PAYMENT_CLOCK_SKEW_SECONDS
                )
            ),
            max_amount=Decimal(setting("IMPORT_MAX_AMOUNT", DEFAULT_IMPORT_MAX_AMOUNT)),
            max_kwh=Decimal(setting("IMPORT_MAX_KWH", DEFAULT_IMPORT_MAX_KWH)),
        )

    @cached_property
    def period_earliest(self) -> date:
        """The first day a bill's period may start on."""
        return years_before(self.today, self.bill_years_back)

    @cached_property
    def period_latest(self) -> date:
        """The last day a bill's period may end on."""
        return years_after(self.today, self.bill_years_ahead)

    def period_rule(self) -> str:
        return _("from %(back)s year(s) before today to %(ahead)s year(s) after") % {
            "back": self.bill_years_back,
            "ahead": self.bill_years_ahead,
        }

    def due_latest(self, period_end: date) -> date:
        """The last day a bill of this period may be issued or fall due."""
        return period_end + timedelta(days=self.due_days)

    def due_rule(self) -> str:
        return _("from period_start to %(days)s days after period_end") % {"days": self.due_days}

    @cached_property
    def paid_earliest(self) -> date:
        """The first business date a payment may have been made on."""
        return years_before(self.today, self.payment_years_back)

    @cached_property
    def paid_latest(self) -> datetime:
        """The last instant a payment may say it was made: now, give or take clock skew."""
        return self.now + self.clock_skew
