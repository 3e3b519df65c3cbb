import json
import logging
from datetime import UTC, datetime

from . import request_context


class RequestContextFilter(logging.Filter):
    """Put the request id on every log line, so an error id shown to a customer finds its log.

    Django logs a 4xx or 5xx answer ("Bad Request: /pay/webhooks/stripe/", logger
    ``django.request``) after the whole middleware chain has returned, so after
    ``RequestContextMiddleware`` has left the request's context; that record carries the request
    itself, and the middleware put the id on it."""

    def filter(self, record):
        context = request_context.current()
        if context is not None:
            record.request_id = context.request_id
        else:
            request = getattr(record, "request", None)
            record.request_id = getattr(request, "request_id", None) or "-"
        return True


class UnsafeDebugFilter(logging.Filter):
    """Keep out of the log the DEBUG records of the loggers whose DEBUG output carries secrets,
    whatever level a logger is set to:

    - ``django.template`` writes the whole template context when a variable is missing, and the
      context of an e-mail holds the one-time code or the invitation link it sends;
    - ``stripe`` (the SDK) writes every request's parameters and every response's body, and a
      PaymentIntent's body holds its client secret.

    Their INFO and above (a request to Stripe and its status) stay. tests/portal/test_log_secrets.py
    turns every logger to DEBUG and proves no secret reaches a line."""

    LOGGERS = ("django.template", "stripe")

    def filter(self, record):
        if record.levelno >= logging.INFO:
            return True
        return not any(
            record.name == name or record.name.startswith(name + ".") for name in self.LOGGERS
        )


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
