"""A new customer in a real browser: registers, binds two accounts (a wrong proof first), creates
an organisation, binds two of its accounts, invites a colleague, and gives the colleague one
account; the colleague sees exactly that one.

Elements are found by field names, form actions and URLs, not by wording or CSS classes.
"""

import re
from urllib.parse import urlsplit

import pytest
from django.urls import reverse

from portal.models import AuditEvent, Organisation
from tests.factories import PASSWORD, ServiceAccountFactory, UserFactory

EMAIL = "wang.fang@example.cn"


def path_of(page) -> str:
    return urlsplit(page.url).path


def submit(page, form_selector: str) -> None:
    with page.expect_navigation():
        page.locator(f"main {form_selector} button[type=submit]").first.click()


def bind_by_holder(page, url, number, holder, last4, label=""):
    page.goto(url)
    page.fill('input[name="holder-number"]', number)
    page.fill('input[name="holder-holder_name"]', holder)
    page.fill('input[name="holder-meter_last4"]', last4)
    page.fill('input[name="holder-label"]', label)
    submit(page, 'form:has(input[name="method"][value="holder"])')


@pytest.mark.browser
def test_customer_binds_accounts_creates_an_organisation_and_shares_one_account(
    page, browser, live_server, screenshot, mail_code, mail_text, sms_messages, totp_code
):
    ServiceAccountFactory(number="3100000101", holder_name="王芳", meter_number="11000000101")
    ServiceAccountFactory(
        number="3100000102", holder_name="王建国", phone="+8613500135000", meter_number="1100102"
    )
    for number in ("5200000201", "5200000202"):
        ServiceAccountFactory(
            number=number,
            holder_name="示例商贸有限公司",
            meter_number=f"52{number}",
            customer_class="lv_business",
            tariff_code="LV-BIZ-FLAT",
        )
    colleague = UserFactory(email="li.na@example.cn", name="李娜")

    # Register and verify the e-mail address.
    page.goto(reverse("account_signup"))
    page.fill('input[name="name"]', "王芳")
    page.fill('input[name="email"]', EMAIL)
    page.fill('input[name="password1"]', PASSWORD)
    page.fill('input[name="password2"]', PASSWORD)
    page.check('input[name="privacy_accepted"]')
    submit(page, f'form[action="{reverse("account_signup")}"]')
    page.fill('input[name="code"]', mail_code(EMAIL))
    submit(page, "form")
    assert path_of(page) == reverse("me:dashboard")

    # A wrong meter number is refused and binds nothing; the right one binds.
    bind_by_holder(page, reverse("me:bind"), "3100000101", "王芳", "9999")
    assert path_of(page) == reverse("me:bind")
    assert page.locator('[role="alert"], .alert--error').count() >= 1
    bind_by_holder(page, reverse("me:bind"), "3100000101", "王芳", "0101", label="家")
    assert re.fullmatch(r"/me/accounts/[0-9a-f-]{36}/", path_of(page))

    # The parents' account, proven with a code texted to the phone on file.
    page.goto(reverse("me:bind"))
    page.fill('input[name="code-number"]', "3100000102")
    page.check('input[name="code-channel"][value="phone_code"]')
    submit(page, 'form:has(input[name="method"][value="code"])')
    code = re.search(r"\b(\d{6})\b", sms_messages("+8613500135000")[-1]["body"]).group(1)
    page.fill('input[name="code"]', code)
    page.fill('input[name="label"]', "父母家")
    submit(page, "form")
    page.goto(reverse("me:dashboard"))
    dashboard = page.content()
    assert "3100000101" in dashboard and "3100000102" in dashboard
    screenshot("accounts-1-dashboard")

    # Register an organisation: its administrator must first set up an authenticator app.
    page.goto(reverse("org:create"))
    page.fill('input[name="name"]', "示例商贸有限公司")
    page.fill('input[name="uscc"]', "91110105MA01ABCD6J")
    submit(page, f'form[action="{reverse("org:create")}"], form:has(input[name="uscc"])')
    organisation = Organisation.objects.get(uscc="91110105MA01ABCD6J")
    if path_of(page) == reverse("account_reauthenticate"):
        page.fill('input[name="password"]', PASSWORD)
        submit(page, "form")
    assert path_of(page) == reverse("mfa_activate_totp")
    page.fill('input[name="code"]', totp_code(page.input_value("#authenticator_secret")))
    submit(page, f'form[action="{reverse("mfa_activate_totp")}"]')

    # Bind two of the company's accounts for the organisation.
    org_bind = reverse("org:bind", args=[organisation.uuid])
    bind_by_holder(page, org_bind, "5200000201", "示例商贸有限公司", "0201", label="门店 1")
    bind_by_holder(page, org_bind, "5200000202", "示例商贸有限公司", "0202", label="门店 2")
    page.goto(reverse("org:accounts", args=[organisation.uuid]))
    assert "5200000201" in page.content() and "5200000202" in page.content()
    screenshot("accounts-2-organisation")

    # Invite the colleague.
    page.goto(reverse("org:members", args=[organisation.uuid]))
    page.fill('input[name="email"]', colleague.email)
    page.check('input[name="role"][value="member"]')
    submit(page, 'form:has(input[name="email"])')
    link = re.search(r"https?://\S+/org/invitations/\S+/", mail_text(colleague.email)).group(0)

    # The colleague accepts in their own browser and sees no account yet.
    other = browser.new_context(base_url=live_server.url, locale="zh-CN")
    colleague_page = other.new_page()
    colleague_page.goto(reverse("account_login"))
    colleague_page.fill('input[name="login"]', colleague.email)
    colleague_page.fill('input[name="password"]', PASSWORD)
    submit(colleague_page, f'form[action="{reverse("account_login")}"]')
    colleague_page.goto(urlsplit(link).path)
    submit(colleague_page, "form")
    org_page = reverse("org:accounts", args=[organisation.uuid])
    assert path_of(colleague_page) == org_page
    assert "5200000201" not in colleague_page.content()

    # The administrator gives the colleague one account to view.
    page.goto(reverse("org:members", args=[organisation.uuid]))
    page.locator(f'a[href*="/members/"]:near(:text("{colleague.name}"))').first.click()
    page.wait_for_load_state()
    row = page.locator('tr:has(input[name="binding"]):has-text("5200000201")')
    row.locator('input[type="checkbox"][value="view"]').check()
    submit(page, 'form:has(input[name="action"][value="scopes"])')

    colleague_page.goto(org_page)
    seen = colleague_page.content()
    assert "5200000201" in seen
    assert "5200000202" not in seen
    colleague_page.screenshot(path=screenshot("accounts-3-colleague-view"), full_page=True)
    other.close()

    recorded = set(AuditEvent.objects.values_list("action", flat=True))
    assert {
        "binding.refused",
        "binding.code_requested",
        "binding.created",
        "organisation.created",
        "invitation.created",
        "invitation.accepted",
        "member.scopes_changed",
    } <= recorded
