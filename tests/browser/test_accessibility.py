"""Accessibility to WCAG 2.2 AA, as a person with a screen reader, a keyboard alone, a magnifier or
a phone meets the site, in a real browser:

- axe-core (tests/browser/package.json, installed by ``make setup``) finds nothing on every key page
  of every role (public, resident, business administrator, staff and editor in the back office,
  and the resident's key pages in the elder-friendly mode),
  in Chinese and in English, at 1280 and at 390 pixels wide (SQLite checks each page at one of
  the two and PostgreSQL at the other: ``widths_of``); no page scrolls sideways on the phone;
  the small targets the audit found are at least 24 × 24 pixels;
- focus indicators stand out at 3:1 or better against what is around them;
- the payment and the new-application journeys can be completed with the keyboard alone, focus
  visible at every step;
- a bad submission of the sign-in, binding and application forms is announced: an error summary
  with role=alert that takes the focus, each wrong field aria-invalid and described by its error.

The pages' people and data are seed_demo's (what a newcomer's ``make run`` shows): a resident with
two years of bills (one overdue, with a penalty) and applications in every state, an organisation
and its administrator, staff, an editor, notices, guides and the FAQ.
"""

import io
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from allauth.account.adapter import get_adapter
from django.core.management import call_command
from django.db import connection
from django.urls import reverse
from django.utils import translation
from playwright.sync_api import expect

from applications.cases import case_create
from applications.kinds import kind_versions_current
from applications.models import Case, CaseStatus
from cms.models import FaqPage, GuidePage, NoticePage
from payments.models import AttemptStatus, Bill, BillStatus, PaymentAttempt
from portal.core import clock
from portal.models import Binding, Organisation, User
from tests.applications.documents import pdf_bytes, png_bytes
from tests.browser.journey import LANGUAGES, path_of, settled, sign_in_by_cookie
from tests.factories import PASSWORD, BillFactory, BindingFactory, UserFactory

AXE = Path(__file__).resolve().parent / "node_modules" / "axe-core" / "axe.min.js"
WCAG_22_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
WIDTHS = {"1280": DESKTOP, "390": PHONE}

# Violations inside Wagtail's own admin chrome (its sidebar, header and editor), which the site
# does not render and cannot reasonably change: (axe rule, CSS selector of the element), each
# with why. Everything the site renders itself, in the back office too, is checked in full.
WAGTAIL_CHROME = [
    (
        "aria-input-field-name",
        ".public-DraftEditor-content",
        "the rich text editor (Draftail) labels the hidden input it replaces, not the text box a "
        "screen reader meets: wagtail/wagtail#14205, open upstream",
    ),
]

# The targets the audit of issue 21 found too small, wherever they appear: the header's language
# buttons, bill-number links, the organisation table's checkboxes.
SMALL_TARGETS = (
    ".lang-switch__option",
    "main td a",
    "main th a",
    "main td input[type=checkbox]",
    "main th input[type=checkbox]",
)


# ---- Measuring in the page ----------------------------------------------------------------------

# axe starts in every open page at once (each page's renderer works in parallel), then each
# page's violations are collected; Wagtail chrome's excused elements are left out.
_AXE_START = """([tags, chrome]) => {
  const excused = (rule, target) => {
    const element = document.querySelector(target);
    return element !== null
      && chrome.some(([id, selector]) => id === rule && element.closest(selector));
  };
  // After a tick, so that this call returns at once and the next page's axe starts too.
  window.axeFound = new Promise(resolve => setTimeout(resolve)).then(() => axe.run(document, {
    runOnly: {type: "tag", values: tags}, resultTypes: ["violations"],
  })).then(results => results.violations
    .map(v => ({
      id: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.filter(n => !(n.target.length === 1 && excused(v.id, n.target[0])))
        .map(n => n.target.join(" ") + " — " + n.failureSummary.replace(/\\s+/g, " ")),
    }))
    .filter(v => v.nodes.length));
}"""

_SIDEWAYS = """() => {
  const root = document.documentElement, width = root.clientWidth;
  if (root.scrollWidth <= width) return [];
  // What sticks out: elements past the right edge that no scroll box of theirs clips (an
  // absolutely placed one escapes the scroll boxes that are not its containing block).
  const clipped = (e) => {
    for (let a = e.parentElement; a && a !== document.body; a = a.parentElement) {
      const box = getComputedStyle(a);
      if (box.overflowX !== "visible")
        return getComputedStyle(e).position !== "absolute" || box.position !== "static";
    }
    return false;
  };
  return [...document.body.querySelectorAll("*")]
    .filter(e => e.getBoundingClientRect().right > width + 1 && !clipped(e))
    .slice(0, 5).map(e => e.outerHTML.slice(0, 120));
}"""

_SMALL = """(selectors) => [...document.querySelectorAll(selectors.join(","))]
  .filter(e => e.offsetParent !== null || e.getClientRects().length)
  .map(e => [e.outerHTML.slice(0, 100), e.getBoundingClientRect()])
  .filter(([html, box]) => box.width > 0 && (box.width < 23.5 || box.height < 23.5))
  .map(([html, box]) => `${html} is ${box.width.toFixed(0)}×${box.height.toFixed(0)}`)"""

_FOCUS_RING = """async (selector) => {
  const element = document.activeElement;
  if (element === document.body) return null;  // past the last stop: the browser has the focus
  await Promise.all(element.getAnimations().map(a => a.finished));  // a ring that fades in
  const style = getComputedStyle(element);
  const background = (start) => {
    for (let e = start; e; e = e.parentElement) {
      const colour = getComputedStyle(e).backgroundColor;
      if (colour.startsWith("rgb(")) return colour;  // the first opaque one
    }
    return "rgb(255, 255, 255)";
  };
  return {
    tag: element.outerHTML.slice(0, 100),
    focusVisible: element.matches(":focus-visible"),
    outline: style.outlineStyle !== "none" && parseFloat(style.outlineWidth) >= 2
      ? style.outlineColor : null,
    shadow: style.boxShadow !== "none" ? style.boxShadow : null,
    around: background(element.parentElement),
    matches: element.matches(selector),
  };
}"""


def _rgba(text: str) -> tuple[float, float, float, float]:
    """A computed CSS colour, "rgb(r, g, b)" or "rgba(r, g, b, a)" (also the first of a
    box-shadow), as numbers."""
    inside = text[text.index("(") + 1 : text.index(")")].replace("/", ",").replace(" ", ",")
    numbers = [float(part.rstrip("%")) for part in inside.split(",") if part]
    red, green, blue, *alpha = numbers
    return red, green, blue, alpha[0] if alpha else 1.0


def _luminance(colour: tuple[float, float, float]) -> float:
    def channel(value: float) -> float:
        value /= 255
        return value / 12.92 if value <= 0.04045 else ((value + 0.055) / 1.055) ** 2.4

    red, green, blue = (channel(c) for c in colour)
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def contrast(foreground: str, background: str) -> float:
    """WCAG's contrast ratio of two computed CSS colours, a translucent foreground laid over the
    (opaque) background first."""
    *fg, alpha = _rgba(foreground)
    bg = _rgba(background)[:3]
    laid = tuple(alpha * f + (1 - alpha) * b for f, b in zip(fg, bg, strict=True))
    lighter, darker = sorted((_luminance(laid), _luminance(bg)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def focus_ring_contrast(ring: dict) -> float:
    """How the focused element's indicator (its outline, else its box-shadow ring) stands out
    from the background around it; 0 when it has none."""
    outline = ring["outline"] if ring["outline"] and _rgba(ring["outline"])[3] > 0 else None
    colour = outline or ring["shadow"]
    return contrast(colour, ring["around"]) if colour else 0.0


def assert_focus_visible(page, selector: str = "*") -> dict | None:
    """The focused element shows its focus at 3:1 or better; what _FOCUS_RING measured (whether
    it matches ``selector`` too), None when no element of the page has the focus."""
    ring = page.evaluate(_FOCUS_RING, selector)
    if ring is not None:
        ratio = focus_ring_contrast(ring)
        assert ring["focusVisible"] and ratio >= 3, f"focus hard to see ({ratio:.2f}:1): {ring}"
    return ring


def problems_on(page, name: str, width: str) -> list[str]:
    """What axe found on the page (started by _AXE_START), what sticks out sideways on a phone
    and which small targets there are, each a line naming the page and width."""
    found = [
        f"{name} @{width}: {v['id']} ({v['impact']}): {v['help']}\n      "
        + "\n      ".join(v["nodes"])
        for v in page.evaluate("() => window.axeFound")
    ]
    if width == "390":
        found += [f"{name} @390: scrolls sideways: {e}" for e in page.evaluate(_SIDEWAYS)]
    if "/cms-admin/" not in page.url:
        found += [
            f"{name} @{width}: target under 24×24: {e}"
            for e in page.evaluate(_SMALL, SMALL_TARGETS)
        ]
    return found


@pytest.fixture(scope="module", autouse=True)
def _axe_installed():
    if not AXE.exists():
        pytest.fail(
            f"{AXE} is missing: `make setup` installs it "
            "(npm ci --prefix tests/browser, from tests/browser/package-lock.json)"
        )


def new_context(browser, live_server, locale: str, viewport=DESKTOP):
    """A browser context whose every page gets axe-core as it loads (an init script, which the
    page's Content-Security-Policy does not apply to, parsed once per page before its own)."""
    context = browser.new_context(base_url=live_server.url, locale=locale, viewport=viewport)
    context.set_default_timeout(15_000)
    context.add_init_script(path=str(AXE))
    return context


OPEN = "(selector) => document.querySelectorAll(selector).forEach(d => { d.open = true; })"


# ---- Every key page of every role ---------------------------------------------------------------


def key_pages() -> dict[str, tuple[User | None, list[tuple[str, str]]]]:
    """Role → (who, [(name, path)]) over seed_demo's data."""
    resident = User.objects.get(email="resident@demo.powerhall.cn")
    home = Binding.objects.get(user=resident, account__number="3100000001")
    overdue = (
        Bill.objects.filter(
            account=home.account, status=BillStatus.OPEN, due_date__lt=clock.today()
        )
        .order_by("due_date")
        .first()
    )
    draft = Case.objects.filter(applicant=resident, status=CaseStatus.DRAFT).first()
    running = Case.objects.filter(applicant=resident, status=CaseStatus.IN_PROGRESS).first()
    organisation = Organisation.objects.get()
    org = {"org": organisation.uuid}
    notice = NoticePage.objects.live().filter(locale__language_code="zh-hans").first()
    return {
        "public": (
            None,
            [
                ("home", "/"),
                ("notice list", "/notices/"),
                ("notice", notice.url),
                (
                    "guide",
                    GuidePage.objects.live().filter(locale__language_code="zh-hans").first().url,
                ),
                ("FAQ", FaqPage.objects.live().filter(locale__language_code="zh-hans").first().url),
                ("sign in", reverse("account_login")),
                ("sign up", reverse("account_signup")),
            ],
        ),
        "resident": (
            resident,
            [
                ("dashboard", reverse("me:dashboard")),
                ("bill list", reverse("me:bills")),
                ("overdue bill", reverse("bills:detail", kwargs={"bill": overdue.uuid})),
                ("usage", reverse("me:usage", kwargs={"binding": home.uuid})),
                ("pay", reverse("pay:bills")),
                ("payments and receipts", reverse("pay:history")),
                ("notifications", reverse("me:notifications")),
                ("bind an account", reverse("me:bind")),
                ("applications", reverse("applications:list")),
                (
                    "new application",
                    reverse("applications:start")
                    + "?kind=new_connection&customer_class=residential",
                ),
                ("application draft", reverse("applications:draft", kwargs={"uuid": draft.uuid})),
                (
                    "application timeline",
                    reverse("applications:detail", kwargs={"uuid": running.uuid}),
                ),
            ],
        ),
        "business administrator": (
            User.objects.get(email="bizadmin@demo.powerhall.cn"),
            [
                ("organisation accounts", reverse("org:accounts", kwargs=org)),
                ("members and invitations", reverse("org:members", kwargs=org)),
                ("bills and statement export", reverse("org:bills", kwargs=org)),
            ],
        ),
        "staff": (
            User.objects.get(email="staff@demo.powerhall.cn"),
            [
                ("application queue", "/cms-admin/applications/"),
                ("case in the back office", f"/cms-admin/applications/inspect/{running.pk}/"),
            ],
        ),
        "editor": (
            User.objects.get(email="editor@demo.powerhall.cn"),
            [("notice editor", reverse("wagtailadmin_pages:edit", args=[notice.pk]))],
        ),
        # The elder-friendly mode (portal/preferences.py) on the key pages: larger type, other
        # colours, other wording, a header of its own; checked like the others.
        ELDER: (
            resident,
            [
                ("home", "/"),
                ("dashboard", reverse("me:dashboard")),
                ("bill list", reverse("me:bills")),
                ("overdue bill", reverse("bills:detail", kwargs={"bill": overdue.uuid})),
                ("pay", reverse("pay:bills")),
                ("applications", reverse("applications:list")),
            ],
        ),
    }


ELDER = "resident in the elder-friendly view"


SQLITE_LEFT_OUT = ("staff", "editor")


def widths_of(role: str, n: int) -> list[str]:
    """The widths the n-th page of a role is checked at. axe's findings do not depend on the
    database, and CI runs the suite on both: SQLite checks each page at one of the two widths,
    the desktop and the phone in turn, and PostgreSQL at the other, so between them every page
    is checked at both, each run taking half the time. The back office's pages, which only
    PostgreSQL checks (``SQLITE_LEFT_OUT``), are checked there at both."""
    widths = list(WIDTHS)
    if role in SQLITE_LEFT_OUT:
        return widths
    return [widths[(n + (connection.vendor != "sqlite")) % len(widths)]]


@pytest.mark.browser
def test_every_key_page_of_every_role_has_no_wcag_22_aa_violation(browser, live_server):
    call_command("seed_demo", stdout=io.StringIO())
    chrome = [rule[:2] for rule in WAGTAIL_CHROME]
    found = []
    resident = User.objects.get(email="resident@demo.powerhall.cn")

    def check(views: dict, name: str, width: str) -> None:
        """axe in each language's page at once, then what each found."""
        for view in views.values():
            view.set_viewport_size(WIDTHS[width])
            view.evaluate(_AXE_START, [WCAG_22_AA, chrome])
        for language, view in views.items():
            found.extend(problems_on(view, f"{name} [{language}]", width))

    for role, (who, pages) in key_pages().items():
        if role in SQLITE_LEFT_OUT and connection.vendor == "sqlite":
            # The back office pings the server while it is open (Wagtail's editing sessions),
            # and the live server's threads share one in-memory SQLite connection: overlapping
            # requests break its transactions now and then (as in the back-office journeys).
            # CI checks these pages on PostgreSQL.
            continue
        User.objects.filter(pk=resident.pk).update(elder_mode=role == ELDER)
        # A browser context per language, the person signed in; each page at its widths.
        views = {}
        for locale, language in LANGUAGES.items():
            views[language] = new_context(browser, live_server, locale).new_page()
            if who is not None:
                sign_in_by_cookie(views[language].context, who, live_server.url)
        for n, (name, path) in enumerate(pages):
            for view in views.values():
                view.set_viewport_size(DESKTOP)
                response = view.goto(path)
                assert response.ok, f"{role}: {name}: {path} answered {response.status}"
                if path.startswith("/cms-admin/"):
                    settled(view)
                # What a details element holds (the statement form, the usage table) is
                # checked open.
                view.evaluate(OPEN, "main details")
            for width in widths_of(role, n):
                check(views, f"{role}: {name} ({path})", width)
            if n == 0 and not path.startswith("/cms-admin/"):
                # The phone's menu, open, on the first page of each role (whose links differ).
                for view in views.values():
                    view.evaluate(OPEN, "details.menu")
                check(views, f"{role}: the menu open on {name} ({path})", "390")
        for view in views.values():
            view.context.close()
    assert not found, f"{len(found)} accessibility problems:\n" + "\n".join(found)


# ---- Focus indicators ---------------------------------------------------------------------------


@pytest.mark.browser
def test_focus_indicators_stand_out_at_3_to_1(page):
    """A text field, a button and a link in the page, and a button and a link of the dark top
    bar, each focused as a keyboard would: its ring against the background around it."""
    page.goto(reverse("account_login"))
    for selector in (
        "main input[name=login]",
        "main input[name=password]",
        "main button[type=submit]",
        "main a[href]",
        ".topbar .lang-switch__option",
        ".topbar a[href]",
        ".site-nav--wide a[href]",
        ".site-footer a[href]",
    ):
        page.locator(selector).first.focus()
        ring = page.evaluate(_FOCUS_RING, selector)
        ratio = focus_ring_contrast(ring)
        assert ring["focusVisible"], f"{selector}: no focus indicator shown: {ring}"
        assert ratio >= 3, f"{selector}: focus indicator at {ratio:.2f}:1 only: {ring}"


# ---- With the keyboard alone --------------------------------------------------------------------


def tab_to(page, selector: str, *, backwards: bool = False, limit: int = 150) -> None:
    """Press Tab (Shift+Tab backwards) until the focus is on an element matching ``selector``,
    checking at each stop that the focused element shows its focus at 3:1 or better."""
    key = "Shift+Tab" if backwards else "Tab"
    for _ in range(limit):
        page.keyboard.press(key)
        ring = assert_focus_visible(page, selector)
        if ring is not None and ring["matches"]:
            return
    pytest.fail(f"{limit} × {key} never reached {selector} on {page.url}")


def skip_to_main(page) -> None:
    """The first stop of every page, the skip link: Enter moves the focus past the header to the
    main content, where the next Tab goes on."""
    tab_to(page, "a.skip-link")
    page.keyboard.press("Enter")
    assert page.evaluate("() => document.activeElement.id") == "main"


def press_and_wait(page, key: str) -> None:
    with page.expect_navigation():
        page.keyboard.press(key)


def choose(page, select: str, value: str) -> None:
    """Tab to a closed <select> and move through its options with the arrow keys to ``value``."""
    tab_to(page, select)
    page.keyboard.press("Home")
    for _ in range(30):
        if page.evaluate("() => document.activeElement.value") == value:
            return
        page.keyboard.press("ArrowDown")
    pytest.fail(f"{select} has no option {value}")


def type_into(page, field: str, text: str) -> None:
    tab_to(page, field)
    page.keyboard.press("ControlOrMeta+A")
    page.keyboard.type(text)


@pytest.mark.browser
def test_a_bill_is_paid_with_the_keyboard_alone(page, live_server):
    user = UserFactory(email="chen.jing@example.cn", name="陈静")
    home = BindingFactory(user=user, label="家")
    bill = BillFactory(
        account=home.account, amount=Decimal("186.40"), due_date=clock.today() - timedelta(days=12)
    )
    sign_in_by_cookie(page.context, user, live_server.url)
    page.goto(reverse("me:dashboard"))

    # The main menu's "Pay bills", the bill ticked with Space, on to the payment.
    tab_to(page, f'.site-nav--wide a[href="{reverse("pay:bills")}"]')
    press_and_wait(page, "Enter")
    assert path_of(page) == reverse("pay:bills")
    box = f'main input[name="bill"][value="{bill.uuid}"]'
    tab_to(page, box)
    if page.locator(box).is_checked():
        page.keyboard.press("Space")  # untick it, to tick it again
    assert not page.locator(box).is_checked()
    page.keyboard.press("Space")
    assert page.locator(box).is_checked()
    tab_to(page, "main form[data-pay-selection] button[type=submit]")
    press_and_wait(page, "Enter")
    attempt = PaymentAttempt.objects.get(created_by=user)
    assert path_of(page) == reverse("pay:attempt", kwargs={"attempt": attempt.uuid})

    # The local test gateway: its "succeed" button, then the page that says it is paid.
    tab_to(page, f'main a[href="{reverse("pay:test_gateway", kwargs={"attempt": attempt.uuid})}"]')
    press_and_wait(page, "Enter")
    tab_to(page, 'main button[name="outcome"][value="succeed"]')
    press_and_wait(page, "Space")
    assert path_of(page) == reverse("pay:done", kwargs={"attempt": attempt.uuid})
    assert page.locator("main [data-pay-status]").get_attribute("data-status") == (
        AttemptStatus.SUCCEEDED
    )
    bill.refresh_from_db()
    assert bill.status == BillStatus.PAID


@pytest.mark.browser
def test_a_new_connection_is_applied_for_with_the_keyboard_alone(page, live_server, tmp_path):
    user = UserFactory(email="zhao.lei@example.cn", name="赵磊")
    photo, scan = tmp_path / "身份证.png", tmp_path / "房产证.pdf"
    photo.write_bytes(png_bytes((640, 400)))
    scan.write_bytes(pdf_bytes())
    sign_in_by_cookie(page.context, user, live_server.url)
    # Playwright takes over the file picker only while someone listens for it, and starts to
    # without waiting: listen from the start, so that no Space below meets the picker untaken.
    page.on("filechooser", lambda chooser: None)
    page.goto(reverse("applications:list"))

    # Past the header with the skip link on each page, then Tab through the main content.
    skip_to_main(page)
    tab_to(page, f'main a[href="{reverse("applications:start")}"]')
    press_and_wait(page, "Enter")
    skip_to_main(page)
    choose(page, 'main select[name="kind"]', "new_connection")
    choose(page, 'main select[name="customer_class"]', "residential")
    tab_to(page, 'main form[method="get"] button[type=submit]')
    press_and_wait(page, "Enter")
    skip_to_main(page)
    tab_to(page, 'main form[method="post"] button[type=submit]')
    press_and_wait(page, "Enter")
    case = Case.objects.get(applicant=user)
    draft = reverse("applications:draft", kwargs={"uuid": case.uuid})
    assert path_of(page) == draft

    # The details, saved with Enter in the last field (the form's first button: save the draft).
    skip_to_main(page)
    type_into(page, 'main input[name="contact_phone"]', "+8613800138111")
    type_into(page, 'main input[name="address"]', "朝阳区望京西园三区 318 号楼 1 单元 101")
    type_into(page, 'main input[name="district"]', "朝阳区")
    type_into(page, 'main input[name="capacity_kva"]', "12")
    press_and_wait(page, "Enter")
    assert path_of(page) == draft

    # Each document: its kind, then the file chosen from the picker Space opens.
    upload = reverse("applications:upload", kwargs={"uuid": case.uuid})
    for document, path in (("identity", photo), ("property_proof", scan)):
        skip_to_main(page)
        choose(page, f'main form[action="{upload}"] select[name="document"]', document)
        tab_to(page, f'main form[action="{upload}"] input[name="file"]')
        with page.expect_file_chooser() as chooser:
            page.keyboard.press("Space")
        chooser.value.set_files(str(path))
        tab_to(page, f'main form[action="{upload}"] button[type=submit]')
        press_and_wait(page, "Enter")
        assert path_of(page) == draft
    assert case.documents.count() == 2

    # Review: its link is the page's last in the main content, nearer from the end (Shift+Tab
    # from the top goes round to the footer first); then submit.
    review = reverse("applications:review", kwargs={"uuid": case.uuid})
    tab_to(page, f'main a[href="{review}"]', backwards=True)
    press_and_wait(page, "Enter")
    skip_to_main(page)
    tab_to(page, "main form.form--bare button[type=submit]")
    press_and_wait(page, "Enter")
    assert path_of(page) == reverse("applications:detail", kwargs={"uuid": case.uuid})
    case.refresh_from_db()
    assert case.status == CaseStatus.SUBMITTED


# ---- Forms: labels, and errors a screen reader announces ---------------------------------------

_FIELDS = """() => [...document.querySelectorAll(
    "main input:not([type=hidden]), main select, main textarea")]
  .map(f => ({
    name: f.name,
    labelled: f.labels.length > 0 || f.hasAttribute("aria-labelledby"),
    invalid: f.getAttribute("aria-invalid") === "true",
    described: (f.getAttribute("aria-describedby") || "").split(/\\s+/).filter(Boolean)
      .map(id => document.getElementById(id)).filter(Boolean).map(e => e.innerText).join(" "),
  }))"""


def assert_errors_announced(page, wrong: list[str], message: str | None = None) -> None:
    """After a bad submission: an error summary with role=alert holds the focus (a screen reader
    reads it out at once) and links to each wrong field; each wrong field is aria-invalid and
    described by its error text; every field has a label."""
    summary = page.locator("main [role=alert][data-error-summary]")
    assert summary.count() == 1
    expect(summary).to_be_focused()  # autofocus: at the page's first rendering after it loads
    assert_focus_visible(page)
    if message:
        assert message in summary.inner_text()
    fields = {f["name"]: f for f in page.evaluate(_FIELDS)}
    assert all(f["labelled"] for f in fields.values()), fields
    for name in wrong:
        field = page.locator(f'main [name="{name}"]')
        assert fields[name]["invalid"], f"{name} is not marked aria-invalid: {fields[name]}"
        error = page.locator(f"#{field.get_attribute('id')}_error").inner_text()
        assert error and error in fields[name]["described"], fields[name]
        assert summary.locator(f'a[href="#{field.get_attribute("id")}"]').count() == 1


@pytest.mark.browser
def test_form_errors_are_announced_and_every_field_labelled(page, live_server):
    # Sign-in with a wrong password: the message that belongs to no field, in the summary.
    user = UserFactory(email="wang.fang@example.cn")
    page.goto(reverse("account_login"))
    fields = page.evaluate(_FIELDS)
    assert fields and all(f["labelled"] for f in fields), fields
    type_into(page, 'main input[name="login"]', user.email)
    type_into(page, 'main input[name="password"]', PASSWORD + "x")
    press_and_wait(page, "Enter")
    with translation.override("zh-hans"):
        wrong = str(get_adapter().error_messages["email_password_mismatch"])
    assert_errors_announced(page, [], wrong)

    # Binding with nothing filled in, then the application's details with a bad phone number.
    sign_in_by_cookie(page.context, user, live_server.url)
    page.goto(reverse("me:bind"))
    tab_to(page, 'main form:has(input[name="method"][value="holder"]) button[type=submit]')
    press_and_wait(page, "Enter")
    assert_errors_announced(page, ["holder-number", "holder-holder_name", "holder-meter_last4"])

    case = case_create(
        version=kind_versions_current()["new_connection"],
        customer_class="residential",
        applicant=user,
        organisation=None,
        account=None,
        details={},
    )
    page.goto(reverse("applications:draft", kwargs={"uuid": case.uuid}))
    type_into(page, 'main input[name="contact_phone"]', "call me")
    press_and_wait(page, "Enter")
    assert_errors_announced(page, ["contact_phone", "address", "district"])
