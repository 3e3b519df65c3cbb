import logging

from . import request_context


class RequestContextFilter(logging.Filter):
    """Put the request id on every log line, so an error id shown to a customer finds its log."""

    def filter(self, record):
        context = request_context.current()
        record.request_id = context.request_id if context else "-"
        return True
