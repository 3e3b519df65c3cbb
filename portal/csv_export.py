"""Streaming CSV downloads that open correctly in Excel on Chinese Windows and cannot smuggle
formulas into a spreadsheet. Used by every export (organisation accounts, bill statements)."""

import csv
from collections.abc import Iterable

from django.http import StreamingHttpResponse

# A cell that starts with one of these is read as a formula by spreadsheets (OWASP "CSV
# Injection"), so it is written with a leading apostrophe.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class _Echo:
    """csv.writer writes each row here and gets the text back, so rows can be streamed."""

    def write(self, value):
        return value


def csv_safe(value) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _lines(header: list[str], rows: Iterable[Iterable]):
    writer = csv.writer(_Echo())
    # A UTF-8 byte order mark: without it Excel on Chinese Windows reads the file as GBK.
    yield "\ufeff" + writer.writerow(header)
    for row in rows:
        yield writer.writerow([csv_safe(value) for value in row])


def csv_download(*, filename: str, header: list[str], rows: Iterable[Iterable]):
    """A streamed CSV attachment. ``header`` is translated by the caller while the request's
    language is active; ``rows`` is consumed lazily, after the view has returned."""
    response = StreamingHttpResponse(_lines(header, rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "private, no-store"
    return response
