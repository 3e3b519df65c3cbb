"""The notice editor's form: districts and feeders are chosen from the values the electricity
accounts carry, so a notice can only name places that customers are attached to; an outage needs
its places and its times; a planned outage announced less than 7 days ahead needs its reason.
On a translation, the outage's facts are the Chinese notice's (``translation_shared_fields``,
cms/translation.py): shown, but disabled."""

from django import forms
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from wagtail.admin.forms import WagtailAdminPageForm

from portal.models import ServiceAccount

from .outages import known_places

SHARED_HELP = gettext_lazy(
    "As the Chinese notice has it: change it there. It is copied here whenever the Chinese "
    "notice is published."
)


class NoticePageForm(WagtailAdminPageForm):
    districts = forms.MultipleChoiceField(
        label=gettext_lazy("Districts affected"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    feeders = forms.CharField(
        label=gettext_lazy("Feeders affected"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=gettext_lazy(
            "One feeder or transformer area (台区) per line, as the accounts carry it. Empty: "
            "every account in the districts affected."
        ),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        districts = known_places()["districts"]
        chosen = list(self.initial.get("districts") or [])
        self.fields["districts"].choices = [(d, d) for d in sorted({*districts, *chosen})]
        self.initial["feeders"] = "\n".join(self.initial.get("feeders") or [])
        if self.instance.find_original() is not None:
            # Whatever is posted for them is ignored (Django keeps a disabled field's initial
            # value), and the model copies them from the Chinese notice anyway.
            for name in self.instance.translation_shared_fields:
                if name in self.fields:
                    self.fields[name].disabled = True
                    self.fields[name].help_text = SHARED_HELP

    def clean_feeders(self) -> list[str]:
        if self.fields["feeders"].disabled:
            return list(self.instance.feeders or [])
        lines = [line.strip() for line in self.cleaned_data["feeders"].splitlines()]
        feeders = list(dict.fromkeys(line for line in lines if line))
        known = set(
            ServiceAccount.objects.filter(feeder__in=feeders).values_list("feeder", flat=True)
        )
        unknown = [feeder for feeder in feeders if feeder not in known]
        if unknown:
            raise forms.ValidationError(
                _("No account is on these feeders: %(feeders)s.")
                % {"feeders": _(", ").join(unknown)}
            )
        return feeders
