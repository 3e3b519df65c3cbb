"""/me/notifications/: what a person is told, on which channel, in which language, and what was
sent to them lately (portal/notifications.py)."""

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .. import notifications as service
from ..core.errors import InvalidInput
from ..models import Channel, NotificationKind
from ..phone import mask_phone


class NotificationPreferencesForm(forms.Form):
    enabled = forms.MultipleChoiceField(
        required=False,
        choices=[
            (f"{kind}:{channel}", f"{kind}:{channel}")
            for kind, channel in service.preference_pairs()
        ],
    )
    language = forms.ChoiceField(
        label=gettext_lazy("Language of e-mails and text messages"),
        choices=settings.LANGUAGES,
    )


def _table(user, form) -> list[dict]:
    """One row per kind: its label and a checkbox per channel, checked as saved (or as just
    submitted, when the form is shown again)."""
    if form.is_bound:
        checked = set(form.data.getlist("enabled"))
    else:
        preferences = service.preferences_for(user_ids=[user.pk])
        checked = {f"{k}:{c}" for (_user, k, c), on in preferences.items() if on}
    return [
        {
            "kind": kind,
            "label": label,
            "channels": [
                {
                    "value": f"{kind}:{channel}",
                    "label": channel_label,
                    "checked": f"{kind}:{channel}" in checked,
                }
                for channel, channel_label in Channel.choices
            ],
        }
        for kind, label in NotificationKind.choices
    ]


@login_required
def notifications(request):
    user = request.user
    form = NotificationPreferencesForm(
        request.POST if request.method == "POST" else None,
        initial={"language": service.language_for(user=user)},
    )
    if request.method == "POST" and form.is_valid():
        try:
            service.notification_preferences_set(
                user=user,
                enabled=form.cleaned_data["enabled"],
                language=form.cleaned_data["language"],
            )
        except InvalidInput as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, _("Your notification choices are saved."))
            return redirect("me:notifications")
    return render(
        request,
        "portal/notifications.html",
        {
            "form": form,
            "rows": _table(user, form),
            "channels": Channel.choices,
            "masked_phone": mask_phone(user.phone) if user.phone else "",
            "recent": service.notifications_recent_for(user=user),
        },
    )
