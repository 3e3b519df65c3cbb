"""The site's shell, rendered with less template machinery: ``{% load shell %}``.

The header, footer and most pages draw a dozen line icons each; as an included template with a
twenty-way ``{% if %}`` each cost a context push and a dozen comparisons (docs/performance.md,
"Signed-in pages"). Here they are strings looked up in a dict.
"""

from django import template
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString, mark_safe

register = template.Library()

# Inline line icons drawn for powerhall on a 24-unit grid; decorative (aria-hidden), so the text
# next to them carries the meaning.
ICONS = {
    "pay": (
        '<rect x="3" y="5.5" width="18" height="13" rx="2"/><path d="M3 9.5h18"/>'
        '<path d="m9.5 12 2.5 2.6 2.5-2.6M12 14.6V17.5M10 15.3h4"/>'
    ),
    "account": (
        '<path d="M3.5 11.2 12 4l8.5 7.2"/><path d="M5.8 9.5V20h12.4V9.5"/>'
        '<path d="m12.9 10.8-2.6 4h3.4l-2.6 4"/>'
    ),
    "apply": (
        '<path d="M14 3H6.5A1.5 1.5 0 0 0 5 4.5v15A1.5 1.5 0 0 0 6.5 21h11a1.5 1.5 0 0 0'
        ' 1.5-1.5V8z"/><path d="M14 3v5h5"/><path d="M12 11v6M9 14h6"/>'
    ),
    "notice": (
        '<path d="M4 10v4a1 1 0 0 0 1 1h2.5L13 19V5L7.5 9H5a1 1 0 0 0-1 1z"/>'
        '<path d="M16.5 9.2a4 4 0 0 1 0 5.6M19 6.8a7.5 7.5 0 0 1 0 10.4"/>'
    ),
    "repair": (
        '<path d="M14.6 3.6a5 5 0 0 0-4.9 6.6l-6 6a2.1 2.1 0 0 0 3 3l6-6a5 5 0 0 0 6.6-4.9l-2.9'
        ' 2.9-2.9-.6-.6-2.9z"/>'
    ),
    "help": (
        '<circle cx="12" cy="12" r="9"/>'
        '<path d="M9.4 9.4a2.7 2.7 0 0 1 5.2 1c0 1.8-2.6 2.3-2.6 4.1"/>'
        '<path d="M12 17.6h.01" stroke-width="2.4"/>'
    ),
    "phone": (
        '<path d="M5.2 3.8h3.3l1.7 4.3-2.2 1.4a11.5 11.5 0 0 0 6.5 6.5l1.4-2.2 4.3 1.7v3.3a1.7'
        ' 1.7 0 0 1-1.8 1.7A16.6 16.6 0 0 1 3.5 5.6a1.7 1.7 0 0 1 1.7-1.8z"/>'
    ),
    "user": (
        '<circle cx="12" cy="8" r="4"/><path d="M4.5 20.5c1.3-3.8 4.2-5.8 7.5-5.8s6.2 2 7.5 5.8"/>'
    ),
    "menu": '<path d="M4 7h16M4 12h16M4 17h16"/>',
    "globe": (
        '<circle cx="12" cy="12" r="9"/>'
        '<path d="M3 12h18M12 3c2.5 2.6 3.7 5.6 3.7 9s-1.2 6.4-3.7 9c-2.5-2.6-3.7-5.6-3.7-9S9.5'
        ' 5.6 12 3z"/>'
    ),
    "success": '<circle cx="12" cy="12" r="9"/><path d="m8 12.3 2.7 2.7L16 9.5"/>',
    "warning": (
        '<path d="M10.3 4.3 2.8 17.5A2 2 0 0 0 4.5 20.5h15a2 2 0 0 0 1.7-3L13.7 4.3a2 2 0 0'
        ' 0-3.4 0z"/><path d="M12 9.5v4.5M12 17.2h.01"/>'
    ),
    "error": '<circle cx="12" cy="12" r="9"/><path d="m9 9 6 6M15 9l-6 6"/>',
    "arrow": '<path d="M5 12h14M13 6l6 6-6 6"/>',
    "shield": (
        '<path d="M12 3 4.5 6v5.5c0 4.4 3.1 8.2 7.5 9.5 4.4-1.3 7.5-5.1 7.5-9.5V6z"/>'
        '<path d="m8.8 12 2.3 2.3 4.1-4.3"/>'
    ),
    "lock": (
        '<rect x="4.5" y="10.5" width="15" height="10" rx="2"/>'
        '<path d="M8 10.5V7.5a4 4 0 0 1 8 0v3M12 14.5v2.5"/>'
    ),
    "mail": (
        '<rect x="3" y="5" width="18" height="14" rx="2"/><path d="m3.5 6.5 8.5 6.5 8.5-6.5"/>'
    ),
    "device": (
        '<rect x="3" y="4.5" width="18" height="12" rx="1.5"/><path d="M8.5 20h7M12 16.5V20"/>'
    ),
    "mobile": '<rect x="6.5" y="2.5" width="11" height="19" rx="2"/><path d="M11 18.2h2"/>',
    "data": (
        '<ellipse cx="12" cy="6" rx="7.5" ry="2.8"/>'
        '<path d="M4.5 6v12c0 1.5 3.4 2.8 7.5 2.8s7.5-1.3 7.5-2.8V6M4.5 12c0 1.5 3.4 2.8 7.5'
        ' 2.8s7.5-1.3 7.5-2.8"/>'
    ),
    "home": '<path d="M3.5 11.2 12 4l8.5 7.2M5.8 9.5V20h12.4V9.5"/>',
}
ICON_FALLBACK = '<circle cx="12" cy="12" r="9"/><path d="M12 11v5.5M12 7.6h.01"/>'  # "info"
SVG_OPEN = (
    '<svg class="icon icon--{name}" viewBox="0 0 24 24" width="24" height="24"'
    ' aria-hidden="true" focusable="false" fill="none" stroke="currentColor" stroke-width="1.8"'
    ' stroke-linecap="round" stroke-linejoin="round">'
)


@register.simple_tag
def icon(name) -> SafeString:
    """An icon by name (``{% icon "pay" %}``); an unknown name draws the "info" circle."""
    paths = ICONS.get(name, ICON_FALLBACK)
    # The trailing newline is the one the former included template ended with: inline, it is the
    # space between an icon and the text after it.
    svg = SVG_OPEN.format(name=conditional_escape(name)) + paths + "</svg>\n"
    return mark_safe(svg)  # noqa: S308 - our own constants, and the name escaped  # nosec


class CaptureNode(template.Node):
    def __init__(self, nodelist, name: str):
        self.nodelist = nodelist
        self.name = name

    def render(self, context) -> str:
        context[self.name] = mark_safe(self.nodelist.render(context))  # noqa: S308 - rendered by the template engine, escaped there  # nosec
        return ""


@register.tag
def capture(parser, token) -> CaptureNode:
    """``{% capture name %}…{% endcapture %}``: render the block once, into the variable
    ``name``, to be shown as often as needed (the header draws its navigation and user links
    twice: the wide header and the small-screen menu)."""
    bits = token.split_contents()
    if len(bits) != 2:
        raise template.TemplateSyntaxError("capture takes one variable name")
    nodelist = parser.parse(("endcapture",))
    parser.delete_first_token()
    return CaptureNode(nodelist, bits[1])


NIL_UUID = "00000000-0000-0000-0000-000000000000"


@register.filter
def with_uuid(url: str, uuid) -> str:
    """``url`` (reversed once with the nil UUID ``00000000-0000-0000-0000-000000000000`` in
    place of a row's) with ``uuid`` put in its place: a table of fifty rows then reverses a URL
    once rather than fifty times (each reverse costs more than the rest of the cell)."""
    return url.replace(NIL_UUID, str(uuid), 1)
