"""The customer's forms for an application: choosing the kind, the details, a document, an
answer to a request (docs/applications.md)."""

from decimal import Decimal

from django import forms
from django.core.validators import MaxValueValidator, MinValueValidator
from django.utils.translation import gettext_lazy as _

from portal.models import CustomerClass

from .models import Category, DocumentType

MAX_LOAD_LINES = 200


class StartForm(forms.Form):
    kind = forms.ChoiceField(label=_("What would you like to apply for?"), choices=())
    customer_class = forms.ChoiceField(
        label=_("Type of supply"),
        choices=CustomerClass.choices,
        initial=CustomerClass.RESIDENTIAL,
        help_text=_("Homes are residential; shops, offices and factories are business."),
    )
    account = forms.ChoiceField(
        label=_("Electricity account"),
        required=False,
        help_text=_("For a change to an existing supply. A new connection needs none."),
    )

    def __init__(self, *args, kinds: list[str], accounts: list[tuple[str, str]], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = [(k, Category(k).label) for k in kinds]
        self.fields["account"].choices = [("", _("None"))] + accounts


class DetailsForm(forms.Form):
    contact_name = forms.CharField(label=_("Contact name"), max_length=100)
    contact_phone = forms.RegexField(
        label=_("Contact phone"),
        regex=r"^\+?[0-9 -]{7,20}$",
        max_length=20,
        error_messages={"invalid": _("Enter a phone number of 7 to 20 digits.")},
        widget=forms.TextInput(attrs={"inputmode": "tel", "autocomplete": "tel"}),
    )
    address = forms.CharField(label=_("Address of the premises"), max_length=300)
    district = forms.CharField(label=_("District"), max_length=100)
    capacity_kva = forms.DecimalField(
        label=_("Capacity requested (kVA)"),
        required=False,
        max_digits=10,
        decimal_places=1,
        validators=[MinValueValidator(Decimal("0.1")), MaxValueValidator(Decimal("100000"))],
        help_text=_("For a new connection or a change of capacity. A home usually needs 8 to 16."),
    )
    loads = forms.CharField(
        label=_("Electrical loads"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text=_(
            "Businesses: one appliance or machine per line, with its power, e.g. "
            '"Air conditioner, 5 kW".'
        ),
    )
    description = forms.CharField(
        label=_("Anything else we should know"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def clean_loads(self):
        lines = [line.strip() for line in self.cleaned_data["loads"].splitlines() if line.strip()]
        if len(lines) > MAX_LOAD_LINES:
            raise forms.ValidationError(
                _("List at most %(count)s loads; attach a longer list as a document.")
                % {"count": MAX_LOAD_LINES}
            )
        if any(len(line) > 200 for line in lines):
            raise forms.ValidationError(_("Keep each line under 200 characters."))
        return lines


class DocumentForm(forms.Form):
    document = forms.ChoiceField(label=_("Document"), choices=DocumentType.choices)
    file = forms.FileField(
        label=_("File"),
        help_text=_("PDF, JPEG or PNG, up to 10 MB."),
        widget=forms.ClearableFileInput(attrs={"accept": ".pdf,.jpg,.jpeg,.png"}),
    )

    def __init__(self, *args, documents: list[str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        if documents is not None:
            self.fields["document"].choices = [(d, DocumentType(d).label) for d in documents]


class AnswerForm(forms.Form):
    text = forms.CharField(
        label=_("Your answer"), max_length=2000, widget=forms.Textarea(attrs={"rows": 4})
    )
    document = forms.ChoiceField(
        label=_("Document"), choices=[("", "—"), *DocumentType.choices], required=False
    )
    file = forms.FileField(
        label=_("File"),
        required=False,
        help_text=_("PDF, JPEG or PNG, up to 10 MB."),
        widget=forms.ClearableFileInput(attrs={"accept": ".pdf,.jpg,.jpeg,.png"}),
    )

    def clean(self):
        data = super().clean()
        if data.get("file") and not data.get("document"):
            self.add_error("document", _("Say which document the file is."))
        return data


class WithdrawForm(forms.Form):
    reason = forms.CharField(label=_("Reason (optional)"), max_length=500, required=False)
