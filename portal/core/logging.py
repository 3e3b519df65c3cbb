import json
import logging
from datetime import UTC, datetime

from . import request_context


class RequestContextFilter(logging.Filter):
    """Put the request id on every log line, so an error id shown to a customer finds its log."""

    def filter(self, record):
        context = request_context.current()
        record.request_id = context.request_id if context else "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line, for the log collector (LOG_FORMAT=json, production's default):
    time (UTC, ISO 8601), level, logger, request id, message, and the traceback when there is
    one. Nothing of the request's body or headers: a line holds only what the code logged."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", "-"),
            "message": record.getMessage(),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False)
