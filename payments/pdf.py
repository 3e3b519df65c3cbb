"""Rendering PDFs (receipts, refund notes, statements) with WeasyPrint.

Chinese needs a CJK font on the machine: ``make`` installs ``fonts-wqy-microhei`` and
``libharfbuzz-subset0`` (fast font subsetting), and the stylesheet names the font
(templates/payments/pdf/base.html). A PDF is rendered from a template and a context that holds
everything printed, so the same context always gives the same document.
"""

import functools
import threading

from django.template.loader import render_to_string
from django.utils import translation

_local = threading.local()


@functools.cache
def _weasyprint():
    """WeasyPrint's parts, imported at the first render: importing WeasyPrint (Pango, fontTools)
    costs seconds of CPU, which every process that imports this module (every app server, task
    worker and manage.py command) would otherwise pay at start, rendering or not."""
    from weasyprint import HTML
    from weasyprint.text.fonts import FontConfiguration
    from weasyprint.urls import URLFetcher

    class NothingFetched(URLFetcher):
        """Documents are self-contained (fonts from the system, images inline): a template can
        never make the renderer read a file or call a server. It also skips building urllib's
        handlers, whose SSL context (the CA bundle, read again for every document) cost 20-60 ms
        a render."""

        _fail_on_errors = False  # WeasyPrint logs a refused fetch and renders without it

        def __init__(self):
            pass

        def fetch(self, url, headers=None):
            raise ValueError(f"PDF documents fetch nothing: {url[:80]}")

    return HTML, FontConfiguration, NothingFetched


def _font_config():
    """This thread's font configuration, made once: building one asks fontconfig for a fresh
    configuration and Pango for a font map, a few milliseconds of every render
    (docs/receipts.md). Our stylesheets load no web fonts (``@font-face``), so it holds the
    system's fonts only, the same for every document; one per thread, as Pango's font map is
    not shared across threads."""
    config = getattr(_local, "font_config", None)
    if config is None:
        config = _local.font_config = _weasyprint()[1]()
    return config


def render_pdf(template: str, context: dict, *, language: str = "zh-hans") -> bytes:
    """``template`` rendered to a PDF, in ``language`` (documents are Chinese by default)."""
    with translation.override(language):
        html = render_to_string(template, context)
    html_document, _, nothing_fetched = _weasyprint()
    return html_document(string=html, base_url=None, url_fetcher=nothing_fetched()).write_pdf(
        font_config=_font_config()
    )
