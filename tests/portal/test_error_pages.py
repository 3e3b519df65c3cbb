"""Error pages: friendly, in the site's look, with a short error id and never a stack trace.

This module is also the URLconf of its tests (pytest.mark.urls): the project's URLs plus views
that fail on purpose, and the project's error handlers.
"""

import io
import json
import logging

import pytest
from django.core.exceptions import PermissionDenied, SuspiciousOperation
from django.template import loader
from django.test import Client
from django.urls import include, path

from portal.core.logging import JsonFormatter, RequestContextFilter

SECRET_DETAIL = "the ledger exploded at row 4711"


def _fail(request):
    raise RuntimeError(SECRET_DETAIL)


def _deny(request):
    raise PermissionDenied(SECRET_DETAIL)


def _bad(request):
    raise SuspiciousOperation(SECRET_DETAIL)


urlpatterns = [
    path("test-errors/fail/", _fail),
    path("test-errors/deny/", _deny),
    path("test-errors/bad/", _bad),
    path("", include("portal.urls")),
]
handler400 = "portal.views.site.bad_request"
handler403 = "portal.views.site.permission_denied"
handler404 = "portal.views.site.page_not_found"
handler500 = "portal.views.site.server_error"

pytestmark = [pytest.mark.urls(__name__), pytest.mark.django_db]


@pytest.fixture(autouse=True)
def _production_like(settings):
    settings.DEBUG = False


def _assert_no_failure_detail(content: str):
    assert "Traceback" not in content
    assert 'File "' not in content
    assert SECRET_DETAIL not in content
    assert "RuntimeError" not in content


def test_a_missing_page_shows_the_error_id_and_no_traceback(client):
    response = client.get("/no-such-page/")

    assert response.status_code == 404
    content = response.content.decode()
    request_id = response["X-Request-ID"]
    assert request_id
    assert f"<code>{request_id}</code>" in content
    assert 'class="site-header"' in content  # the site's own look
    _assert_no_failure_detail(content)


def test_a_failing_view_shows_a_500_page_whose_error_id_is_the_request_id():
    client = Client(raise_request_exception=False)

    response = client.get("/test-errors/fail/")

    assert response.status_code == 500
    content = response.content.decode()
    request_id = response["X-Request-ID"]
    assert request_id
    assert f"<code>{request_id}</code>" in content
    assert 'class="site-header"' in content
    _assert_no_failure_detail(content)


@pytest.mark.parametrize(
    ("url", "status"), [("/test-errors/deny/", 403), ("/test-errors/bad/", 400)]
)
def test_refused_and_bad_requests_show_the_error_id_and_no_detail(url, status):
    response = Client(raise_request_exception=False).get(url)

    assert response.status_code == status
    content = response.content.decode()
    assert f"<code>{response['X-Request-ID']}</code>" in content
    _assert_no_failure_detail(content)


@pytest.mark.django_db(False)
def test_the_500_template_renders_without_request_context_or_database():
    # server_error renders with a plain dict: no request, user, messages or context processors,
    # and without the database (this test has no database access: a query would fail it).
    html = loader.get_template("errors/500.html").render({"error_id": "abc123", "status": 500})

    assert "<code>abc123</code>" in html
    assert 'class="site-header"' in html
    assert "set_language" not in html and "/i18n/setlang/" not in html  # needs the request


def test_a_json_log_line_carries_the_error_id_the_customer_was_shown():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestContextFilter())
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("django.request")
    logger.addHandler(handler)
    try:
        response = Client(raise_request_exception=False).get(
            "/test-errors/fail/", HTTP_X_REQUEST_ID="req-4242abcd"
        )
    finally:
        logger.removeHandler(handler)

    assert response.status_code == 500
    assert "<code>req-4242abcd</code>" in response.content.decode()
    line = json.loads(stream.getvalue().strip().splitlines()[-1])
    assert line["request_id"] == "req-4242abcd"
    assert line["level"] == "ERROR"
    assert line["message"] == "Internal Server Error: /test-errors/fail/"
    # The operator gets the traceback in the log; the customer never saw it (tests above).
    assert f"RuntimeError: {SECRET_DETAIL}" in line["exception"]
