"""The satisfaction survey after a completed case (the handbook's chapter 6; docs/applications.md,
"Quality").

- **Sent once per case.** When a case completes, ``case_advance`` calls ``survey_schedule``: after
  the commit, the applicant (a case staff opened for nobody has none) gets an
  ``application_survey`` notice with a link to the public survey page. The notice's key is the
  case's UUID, so however often it is scheduled, one is recorded per channel.
- **The link is signed** (``django.core.signing``, salted for this use) and carries nothing but
  the case's UUID and when it was made; it works without signing in and for ``SURVEY_MAX_AGE``.
  A link that was altered, or that names no completed case, is ``SurveyLinkInvalid``; an old one
  ``SurveyLinkExpired``.
- **Answered once.** ``survey_answer`` stores a ``SurveyAnswer`` (a score of 1 to 5 and a bounded
  comment) if the case has none; a second answer, even at the same moment (the one-per-case
  constraint), changes nothing.
- **Sending answers is limited per IP** (``survey_post_allowed``), so the page cannot be used to
  hammer the database.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.core import signing
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from portal.core import clock, ratelimit
from portal.core.errors import InvalidInput, PowerhallError
from portal.models import NotificationKind
from portal.notifications import language_for, notify

from .models import SURVEY_COMMENT_MAX, Case, CaseStatus, SurveyAnswer

SURVEY_MAX_AGE = timedelta(days=30)
SURVEY_SALT = "applications.survey"
# A person answers once; a few tries for typing errors, then the address waits.
SURVEY_POSTS_PER_IP = 20
SURVEY_WINDOW_SECONDS = 3600
SCORES = range(1, 6)


class SurveyLinkInvalid(PowerhallError):
    """The link was altered, cut short, or names no completed case."""

    default_message = _(
        "This survey link is not valid. Please open the link exactly as it was in our e-mail."
    )


class SurveyLinkExpired(PowerhallError):
    default_message = _(
        "This survey link has expired: a survey stays open for a month after the application is "
        "completed. Thank you all the same."
    )


# --- Sending -------------------------------------------------------------------------------------
def survey_token(case: Case) -> str:
    """The signed part of the survey link of ``case`` (valid for ``SURVEY_MAX_AGE`` from now)."""
    return signing.dumps(str(case.uuid), salt=SURVEY_SALT)


def survey_url(case: Case) -> str:
    token = survey_token(case)
    return settings.SITE_URL.rstrip("/") + reverse("survey:answer", kwargs={"token": token})


def survey_send(*, case: Case) -> None:
    """Send the applicant of completed ``case`` the survey link, once (the notice's key is the
    case). Nothing for a case that is not completed or has no applicant."""
    case = Case.objects.select_related("kind_version__kind", "applicant").get(pk=case.pk)
    user = case.applicant
    if user is None or case.status != CaseStatus.COMPLETED:
        return
    if SurveyAnswer.objects.filter(case=case).exists():
        return
    until = clock.business_date(clock.now() + SURVEY_MAX_AGE)
    with translation.override(language_for(user=user)):
        context = {
            "application": {
                "reference": case.reference,
                "title": str(case.kind_version.kind),
                "url": survey_url(case),
                "until": until.isoformat(),
            }
        }
    notify(user=user, kind=NotificationKind.APPLICATION_SURVEY, key=str(case.uuid), context=context)


def survey_schedule(case: Case) -> None:
    """Send the survey of ``case`` once the current transaction commits (``case_advance`` calls
    this when the case completes)."""
    transaction.on_commit(partial(survey_send, case=case), robust=True)


# --- Answering -----------------------------------------------------------------------------------
def survey_case_for(*, token: str) -> Case:
    """The completed case whose survey link carries ``token``; raises ``SurveyLinkExpired`` or
    ``SurveyLinkInvalid``."""
    try:
        value = signing.loads(token, salt=SURVEY_SALT, max_age=SURVEY_MAX_AGE)
    except signing.SignatureExpired:
        raise SurveyLinkExpired from None
    except signing.BadSignature:
        raise SurveyLinkInvalid from None
    case = (
        Case.objects.select_related("kind_version__kind")
        .filter(uuid=value, status=CaseStatus.COMPLETED)
        .first()
        if isinstance(value, str)
        else None
    )
    if case is None:
        raise SurveyLinkInvalid
    return case


def survey_post_allowed(*, ip: str) -> bool:
    """Count one answer sent from ``ip``: False past ``SURVEY_POSTS_PER_IP`` in the window."""
    limit = ratelimit.Limit("survey:ip", ip, SURVEY_POSTS_PER_IP, SURVEY_WINDOW_SECONDS)
    return ratelimit.hit(limit)


@dataclass(frozen=True)
class Answered:
    answer: SurveyAnswer
    created: bool
    """False: the case had been answered before, and nothing changed."""


def survey_answer(*, case: Case, score: int, comment: str = "", at: datetime | None = None):
    """Store the answer to the survey of ``case``, unless it has one already (then the first
    stands). ``score`` is 1 to 5; ``comment`` at most ``SURVEY_COMMENT_MAX`` characters."""
    if score not in SCORES:
        raise InvalidInput(_("Choose a score from 1 to 5."))
    comment = (comment or "").strip()
    if len(comment) > SURVEY_COMMENT_MAX:
        raise InvalidInput(
            _("Please keep the comment within %(max)d characters.") % {"max": SURVEY_COMMENT_MAX}
        )
    if case.status != CaseStatus.COMPLETED:
        raise SurveyLinkInvalid
    existing = SurveyAnswer.objects.filter(case=case).first()
    if existing is not None:
        return Answered(existing, created=False)
    try:
        with transaction.atomic():
            answer = SurveyAnswer.objects.create(
                case=case, score=score, comment=comment, answered_at=at or clock.now()
            )
    except IntegrityError:
        # Answered at the same moment in another tab: the first answer stands.
        return Answered(SurveyAnswer.objects.get(case=case), created=False)
    return Answered(answer, created=True)
