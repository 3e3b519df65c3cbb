"""The public satisfaction survey page, /survey/<token>/ (namespace "survey"): no sign-in, the
signed link is the key (``applications.survey``). A link that was altered answers 404 and an old
one 410, each with a page that says so; a case answered before shows the thanks and changes
nothing; sending answers is limited per IP (429)."""

from django import forms
from django.conf import settings
from django.shortcuts import redirect, render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csp import csp_override
from django.views.decorators.http import require_http_methods

from portal.core.errors import InvalidInput, RateLimited
from portal.middleware import client_ip

from .models import SURVEY_COMMENT_MAX, SurveyAnswer
from .survey import (
    SCORES,
    SurveyLinkExpired,
    SurveyLinkInvalid,
    survey_answer,
    survey_case_for,
    survey_post_allowed,
)

# A page of ours only: no script, style or frame from anywhere else, and not framed.
SURVEY_CSP = settings.STRICT_CSP

SCORE_LABELS = {
    1: _("1 – very poor"),
    2: _("2 – poor"),
    3: _("3 – fair"),
    4: _("4 – good"),
    5: _("5 – very good"),
}


class SurveyForm(forms.Form):
    score = forms.TypedChoiceField(
        label=_("How satisfied are you with how we handled your application?"),
        choices=[(score, SCORE_LABELS[score]) for score in SCORES],
        coerce=int,
        widget=forms.RadioSelect,
    )
    comment = forms.CharField(
        label=_("Anything you would like to tell us?"),
        required=False,
        max_length=SURVEY_COMMENT_MAX,
        widget=forms.Textarea(attrs={"rows": 4}),
    )


def _refused(request, *, status: int, heading, message):
    context = {"status": status, "heading": heading, "message": message}
    return render(request, "applications/survey_closed.html", context, status=status)


@never_cache
@csp_override(SURVEY_CSP)
@require_http_methods(["GET", "HEAD", "POST"])
def survey_page(request, token):
    if request.method == "POST" and not survey_post_allowed(ip=client_ip(request)):
        return _refused(
            request, status=429, heading=_("Too many answers"), message=RateLimited().message
        )
    try:
        case = survey_case_for(token=token)
    except SurveyLinkExpired as error:
        return _refused(
            request, status=410, heading=_("This survey has closed"), message=error.message
        )
    except SurveyLinkInvalid as error:
        return _refused(
            request, status=404, heading=_("Not a valid survey link"), message=error.message
        )
    answered = SurveyAnswer.objects.filter(case=case).exists()
    form = SurveyForm(request.POST if request.method == "POST" and not answered else None)
    if form.is_bound and form.is_valid():
        try:
            survey_answer(
                case=case, score=form.cleaned_data["score"], comment=form.cleaned_data["comment"]
            )
        except InvalidInput as error:
            form.add_error(None, error.message)
        else:
            return redirect(request.path)
    if answered:
        return render(request, "applications/survey_thanks.html", {"case": case})
    return render(request, "applications/survey.html", {"case": case, "form": form})
