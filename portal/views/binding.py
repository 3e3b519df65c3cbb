"""The personal dashboard and binding accounts, for a person or (admins) an organisation.

The same views serve /me/accounts/… and /org/<org>/accounts/…: under /org/ they are wrapped in
``org_member_required`` (portal/urls_org.py), which puts the person's membership on the request
(404 if they are not a member).
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import get_template, render_to_string
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from .. import binding as binding_services
from .. import fragments, selectors
from ..core.errors import BindingRefused, NotAllowed, RateLimited
from ..forms.binding import (
    BindByBillForm,
    BindByHolderForm,
    BindCodeConfirmForm,
    BindCodeRequestForm,
    RelabelForm,
)
from ..models import BindingChallenge, Scope
from ..phone import mask_phone


def _context(request):
    """(membership or None, url namespace) for the page's context."""
    membership = getattr(request, "membership", None)
    return membership, ("org" if membership else "me")


def _done_url(membership, binding):
    if membership is None:
        return redirect("me:account", binding=binding.uuid)
    return redirect("org:account", org=membership.organisation.uuid, binding=binding.uuid)


@login_required
def dashboard(request):
    """The person's account cards: what depends on their bills comes from the per-person
    fragment cache (portal/fragments.py), the outages are added afresh."""
    user = request.user
    bindings = list(selectors.binding_list_for(user=user))
    cards = ""
    if bindings:
        key = fragments.fragment_key(
            "account-cards", user_id=user.pk, parts=fragments.binding_parts(bindings)
        )
        cards = fragments.fragment(
            key,
            lambda: render_to_string(
                "portal/includes/account_cards.html",
                {"cards": selectors.account_cards_for(user=user, bindings=bindings, live=False)},
            ),
        )
        live = selectors.account_card_live_fields(bindings=bindings)
        outages = get_template("portal/includes/card_outages.html")
        for binding in bindings:
            shown = live.get(binding.account_id, {}).get("outages", [])
            cards = cards.replace(
                f"<!--live:outages:{binding.account_id}-->", outages.render({"outages": shown})
            )
        cards = mark_safe(cards)  # noqa: S308 (our templates' HTML)  # nosec
    memberships = selectors.membership_list_for_request(request=request)
    return render(
        request,
        "portal/dashboard.html",
        {"cards": cards, "bindings": bindings, "memberships": memberships},
    )


@login_required
def bind(request):
    membership, namespace = _context(request)
    organisation = membership.organisation if membership else None
    holder_form = BindByHolderForm(prefix="holder")
    bill_form = BindByBillForm(prefix="bill")
    code_form = BindCodeRequestForm(prefix="code")
    method = request.POST.get("method", "holder")
    if request.method == "POST":
        try:
            if method == "code":
                code_form = BindCodeRequestForm(request.POST, prefix="code")
                if code_form.is_valid():
                    challenge = binding_services.binding_challenge_start(
                        user=request.user,
                        organisation=organisation,
                        number=code_form.cleaned_data["number"],
                        channel=code_form.cleaned_data["channel"],
                    )
                    kwargs = {"challenge": challenge.uuid}
                    if membership:
                        kwargs["org"] = membership.organisation.uuid
                    return redirect(f"{namespace}:bind_code", **kwargs)
            else:
                if method == "bill":
                    form = bill_form = BindByBillForm(request.POST, prefix="bill")
                    service = binding_services.account_bind_with_bill
                else:
                    form = holder_form = BindByHolderForm(request.POST, prefix="holder")
                    service = binding_services.account_bind_with_holder
                if form.is_valid():
                    binding = service(
                        user=request.user, organisation=organisation, **form.cleaned_data
                    )
                    messages.success(
                        request, _("Account %(number)s is bound.") % {"number": binding.account}
                    )
                    return _done_url(membership, binding)
        except (BindingRefused, RateLimited, NotAllowed) as error:
            messages.error(request, error.message)
    return render(
        request,
        "portal/bind.html",
        {
            "holder_form": holder_form,
            "bill_form": bill_form,
            "code_form": code_form,
            "method": method,
            "membership": membership,
        },
    )


@login_required
def bind_code(request, challenge):
    membership, _namespace = _context(request)
    pending = get_object_or_404(
        BindingChallenge,
        uuid=challenge,
        user=request.user,
        organisation=membership.organisation if membership else None,
        used_at__isnull=True,
    )
    form = BindCodeConfirmForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            binding = binding_services.account_bind_with_code(
                user=request.user,
                challenge_uuid=pending.uuid,
                code=form.cleaned_data["code"],
                label=form.cleaned_data["label"],
            )
        except (BindingRefused, RateLimited, NotAllowed) as error:
            messages.error(request, error.message)
        else:
            messages.success(
                request, _("Account %(number)s is bound.") % {"number": binding.account}
            )
            return _done_url(membership, binding)
    return render(
        request,
        "portal/bind_code.html",
        {"form": form, "challenge": pending, "membership": membership},
    )


@login_required
def account_detail(request, binding):
    binding = selectors.binding_get_for(user=request.user, uuid=binding)
    return render(
        request,
        "portal/account_detail.html",
        {
            "binding": binding,
            "account": binding.account,
            "masked_phone": mask_phone(binding.account.phone) if binding.account.phone else "",
            "relabel_form": RelabelForm(initial={"label": binding.label}),
        },
    )


@login_required
@require_POST
def relabel(request, binding):
    binding = selectors.binding_get_for(user=request.user, uuid=binding)
    form = RelabelForm(request.POST)
    if form.is_valid():
        binding_services.binding_relabel(
            user=request.user, binding=binding, label=form.cleaned_data["label"]
        )
        messages.success(request, _("Label saved."))
    else:
        messages.error(request, _("A label has at most 40 characters."))
    return redirect("me:account", binding=binding.uuid)


@login_required
@require_POST
def unbind(request, binding):
    membership, _namespace = _context(request)
    if membership is None:
        found = selectors.binding_get_for(user=request.user, uuid=binding)
        target = redirect("me:dashboard")
    else:
        found = selectors.org_binding_get_for(
            membership=membership, uuid=binding, scope=Scope.MANAGE
        )
        target = redirect("org:accounts", org=membership.organisation.uuid)
    binding_services.binding_end(user=request.user, binding=found)
    messages.success(request, _("Account %(number)s is unbound.") % {"number": found.account})
    return target


@login_required
def history(request):
    return render(
        request,
        "portal/binding_history.html",
        {"bindings": selectors.binding_history_for(user=request.user)},
    )
