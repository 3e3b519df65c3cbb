"""The satisfaction survey after a completed case: one e-mail per case with a signed link that
works without signing in, answered once, an altered or expired link refused with a page that
says so, and answers limited per address."""

import re
from datetime import datetime, timedelta

import pytest
import time_machine

from applications.cases import (
    case_accept,
    case_advance,
    case_create,
    case_open_for_customer,
    case_reject,
    case_submit,
)
from applications.kinds import kind_versions_current
from applications.models import SurveyAnswer
from applications.survey import SURVEY_POSTS_PER_IP, survey_send
from portal.core.clock import BUSINESS_TIME_ZONE
from portal.core.errors import NotAllowed
from portal.models import Notification, NotificationKind
from tests.applications.documents import with_required_documents
from tests.factories import StaffUserFactory, UserFactory

pytestmark = pytest.mark.django_db

STEPS = (
    "site_survey",
    "supply_plan_reply",
    "completion_inspection",
    "contract_signed",
    "energised",
    "archived",
)
LINK = re.compile(r"https?://\S+/survey/\S+/")


def beijing(*args) -> datetime:
    return datetime(*args, tzinfo=BUSINESS_TIME_ZONE)


@pytest.fixture(autouse=True)
def _english(client):
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"


def completed(applicant, staff=None):
    """A resident's new connection carried through every step to completed."""
    staff = staff or StaffUserFactory()
    case = case_create(
        version=kind_versions_current()["new_connection"],
        customer_class="residential",
        applicant=applicant,
        details={"address": "世纪大道 100 号", "district": "浦东新区"},
    )
    case = case_submit(case=with_required_documents(case), actor=applicant)
    case = case_accept(case=case, actor=staff)
    for step in STEPS:
        case = case_advance(case=case, to=step, actor=staff)
    return case


def surveys(mailoutbox, case) -> list:
    return [m for m in mailoutbox if m.subject == f"How did we do? Application {case.reference}"]


@pytest.fixture
def answered_by_mail(mailoutbox, django_capture_on_commit_callbacks):
    """A completed case of an English-reading resident, and the survey link from their e-mail."""
    resident = UserFactory(language="en")
    with django_capture_on_commit_callbacks(execute=True):
        case = completed(resident)
    [message] = surveys(mailoutbox, case)
    return case, LINK.search(message.body).group(0)


def test_a_completed_case_sends_one_survey_email(mailoutbox, django_capture_on_commit_callbacks):
    resident, staff = UserFactory(language="en"), StaffUserFactory()
    with time_machine.travel(beijing(2026, 6, 1, 10, 0), tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            case = completed(resident, staff)
            with pytest.raises(NotAllowed):  # a second click: refused, nothing new
                case_advance(case=case, to="archived", actor=staff)
        with django_capture_on_commit_callbacks(execute=True):
            survey_send(case=case)  # sent again by hand: still one

    [message] = surveys(mailoutbox, case)
    assert message.to == [resident.email]
    assert "is completed. How did we do?" in message.body
    assert "The link works until 2026-07-01, once." in message.body
    assert LINK.search(message.body)
    sent = Notification.objects.filter(user=resident, kind=NotificationKind.APPLICATION_SURVEY)
    assert sent.count() == 1


def test_only_a_completed_case_with_an_applicant_is_surveyed(
    mailoutbox, django_capture_on_commit_callbacks
):
    resident, staff = UserFactory(), StaffUserFactory()
    with django_capture_on_commit_callbacks(execute=True):
        case = case_create(
            version=kind_versions_current()["new_connection"],
            customer_class="residential",
            applicant=resident,
        )
        case = case_submit(case=with_required_documents(case), actor=resident)
        case_reject(case=case_accept(case=case, actor=staff), actor=staff, reason="Not here.")
        phoned = case_open_for_customer(
            version=kind_versions_current()["new_connection"],
            customer_class="residential",
            account=None,
            channel="hotline",
            staff=staff,
            details={"contact_name": "王先生"},
        )
        phoned = case_accept(case=phoned, actor=staff)
        for step in STEPS:
            phoned = case_advance(case=phoned, to=step, actor=staff)

    assert phoned.status == "completed"
    assert not Notification.objects.filter(kind=NotificationKind.APPLICATION_SURVEY).exists()


def test_the_link_answers_once_without_signing_in(client, answered_by_mail):
    case, link = answered_by_mail

    page = client.get(link)
    assert page.status_code == 200
    assert f"Your application {case.reference}" in page.content.decode()
    assert "5 – very good" in page.content.decode()

    sent = client.post(link, {"score": "4", "comment": "  Quick and friendly.  "})
    assert sent.status_code == 302
    answer = SurveyAnswer.objects.get(case=case)
    assert (answer.score, answer.comment) == (4, "Quick and friendly.")

    again = client.post(link, {"score": "1", "comment": "Changed my mind."}, follow=True)
    assert "We have your answer" in again.content.decode()
    answer.refresh_from_db()
    assert (answer.score, answer.comment) == (4, "Quick and friendly.")
    assert SurveyAnswer.objects.count() == 1
    assert "We have your answer" in client.get(link).content.decode()


def test_a_score_out_of_range_or_a_long_comment_is_refused_and_nothing_stored(
    client, answered_by_mail
):
    _case, link = answered_by_mail

    for data in ({"score": "6"}, {"score": ""}, {"score": "3", "comment": "x" * 1001}):
        page = client.post(link, data)
        assert page.status_code == 200
        assert 'aria-invalid="true"' in page.content.decode()
    assert not SurveyAnswer.objects.exists()


def test_an_altered_link_is_not_valid(client, answered_by_mail):
    case, link = answered_by_mail
    token = link.rstrip("/").rsplit("/", 1)[1]
    altered = link.replace(token, token[:-2] + ("AA" if token[-2:] != "AA" else "BB"))

    for url in (altered, "/survey/not-a-token-anybody-was-sent/", link.replace(token, "")):
        page = client.get(url)
        assert page.status_code == 404
        if url != link.replace(token, ""):
            assert "This survey link is not valid" in page.content.decode()
        assert case.reference not in page.content.decode()
    assert client.post(altered, {"score": "5"}).status_code == 404
    assert not SurveyAnswer.objects.exists()


def test_an_expired_link_says_the_survey_has_closed(client, answered_by_mail):
    case, link = answered_by_mail

    with time_machine.travel(timedelta(days=29)):
        assert client.get(link).status_code == 200
    with time_machine.travel(timedelta(days=31)):
        page = client.get(link)
        assert page.status_code == 410
        assert "This survey has closed" in page.content.decode()
        assert client.post(link, {"score": "5"}).status_code == 410
    assert not SurveyAnswer.objects.exists()


def test_answers_are_limited_per_address(client, answered_by_mail):
    _case, link = answered_by_mail

    for _ in range(SURVEY_POSTS_PER_IP):
        assert client.post(link, {"score": "9"}).status_code == 200  # refused, but counted
    limited = client.post(link, {"score": "5"})
    assert limited.status_code == 429
    assert "Too many answers" in limited.content.decode()
    assert not SurveyAnswer.objects.exists()
    other = client.post(link, {"score": "5"}, REMOTE_ADDR="10.0.0.8")
    assert other.status_code == 302
