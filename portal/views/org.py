"""Organisation pages: registering one, accepting an invitation, members and what they may do.

Views parse input, call one service (portal/organisations.py) or selector, and turn the
service's errors into messages. Every page under /org/<org>/ runs under
``org_member_required``: a non-member gets 404, a member who is not an administrator gets 404
on the administrators' pages, and an administrator without two-factor authentication is sent to
set it up first.
"""

import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import BadRequest
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_http_methods, require_POST

from .. import organisations as services
from .. import selectors
from ..core import clock
from ..core.errors import PowerhallError
from ..forms.organisations import InvitationForm, OrganisationCreateForm, RoleForm
from ..models import Scope
from ..org_access import org_member_required

SCOPE_PAGE_SIZE = 100  # rows of four checkboxes: well under DATA_UPLOAD_MAX_NUMBER_FIELDS
EARLIER_INVITATIONS_SHOWN = 20


def _parse_uuid(value) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise BadRequest from None


# --- Registering an organisation ----------------------------------------------------------------
@login_required
@require_http_methods(["GET", "POST"])
def organisation_create(request):
    form = OrganisationCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            organisation = services.organisation_create(user=request.user, **form.cleaned_data)
        except (services.UsccInvalid, services.UsccTaken) as error:
            form.add_error("uscc", error.message)
        except PowerhallError as error:
            form.add_error(None, error.message)
        else:
            messages.success(
                request,
                _("%(name)s is registered, and you are its administrator.")
                % {"name": organisation.name},
            )
            return redirect("org:accounts", org=organisation.uuid)
    return render(request, "org/create.html", {"form": form})


# --- Accepting an invitation --------------------------------------------------------------------
@login_required
@require_http_methods(["GET", "POST"])
def invitation_accept(request, token):
    if request.method == "POST":
        try:
            membership = services.invitation_accept(user=request.user, token=token)
        except PowerhallError as error:
            return render(request, "org/invitation_refused.html", {"message": error.message})
        messages.success(
            request,
            _("You are now a member of %(name)s, as %(role)s.")
            % {"name": membership.organisation.name, "role": membership.get_role_display()},
        )
        return redirect("org:accounts", org=membership.organisation.uuid)
    try:
        invitation = services.invitation_preview(user=request.user, token=token)
    except PowerhallError as error:
        return render(request, "org/invitation_refused.html", {"message": error.message})
    return render(request, "org/invitation_accept.html", {"invitation": invitation})


# --- Members (administrators) -------------------------------------------------------------------
def _members_page(request, form):
    membership = request.membership
    members = selectors.org_members_for(membership=membership)
    invitations = selectors.org_invitations_for(membership=membership).select_related(
        "invited_by", "accepted_by"
    )
    now = clock.now()
    rows = [
        {
            "membership": member,
            "accounts": sum(
                1 for scope in member.scopes.all() if scope.can_view and scope.binding.is_active
            ),
        }
        for member in members
    ]
    open_invitations = [i for i in invitations if i.is_open]
    earlier = [i for i in invitations if not i.is_open][:EARLIER_INVITATIONS_SHOWN]
    return render(
        request,
        "org/members.html",
        {
            "membership": membership,
            "organisation": membership.organisation,
            "rows": rows,
            "open_invitations": open_invitations,
            "earlier_invitations": earlier,
            "form": form,
            "now": now,
        },
    )


@org_member_required(admin=True)
@require_http_methods(["GET", "POST"])
def members(request):
    """The list of members and invitations, and the invitation form. POST invites someone, or
    (``resend``) sends an open invitation again."""
    membership = request.membership
    form = InvitationForm()
    if request.method == "POST":
        try:
            if "resend" in request.POST:
                invitation = get_object_or_404(
                    selectors.org_invitations_for(membership=membership),
                    uuid=_parse_uuid(request.POST["resend"]),
                )
                invitation = services.invitation_resend(by=membership, invitation=invitation)
                messages.success(
                    request,
                    _("The invitation to %(email)s was sent again, with a new link.")
                    % {"email": invitation.email},
                )
                return redirect("org:members", org=membership.organisation.uuid)
            form = InvitationForm(request.POST)
            if form.is_valid():
                invitation = services.invitation_create(by=membership, **form.cleaned_data)
                messages.success(
                    request,
                    _("An invitation was sent to %(email)s. It expires in 7 days.")
                    % {"email": invitation.email},
                )
                return redirect("org:members", org=membership.organisation.uuid)
        except PowerhallError as error:
            messages.error(request, error.message)
    return _members_page(request, form)


def _member_get(request, membership_uuid):
    """A member of the requester's organisation (404 if not, or if the requester is not an
    administrator: the selector refuses them)."""
    return get_object_or_404(
        selectors.org_members_for(membership=request.membership), uuid=membership_uuid
    )


def _parse_grants(post) -> dict:
    """{binding uuid: set of scopes} for the rows that were on the submitted page."""
    grants = {}
    for value in post.getlist("binding"):
        binding_uuid = _parse_uuid(value)
        grants[binding_uuid] = set(post.getlist(f"scope-{binding_uuid}"))
    return grants


@org_member_required(admin=True)
@require_http_methods(["GET", "POST"])
def member_detail(request, membership):
    """Who the member is, their role, and what they may do on each account (one row per account,
    four checkboxes, saved in one POST per page of accounts)."""
    admin = request.membership
    member = _member_get(request, membership)
    back = redirect(request.get_full_path())
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if action == "role":
                role_form = RoleForm(request.POST)
                if not role_form.is_valid():
                    raise BadRequest
                member = services.member_role_set(
                    by=admin, member=member, role=role_form.cleaned_data["role"]
                )
                messages.success(
                    request,
                    _("%(who)s is now %(role)s.")
                    % {"who": member.user, "role": member.get_role_display()},
                )
                if member.pk == admin.pk and not member.is_admin:
                    # They demoted themselves: the members' pages are no longer theirs.
                    return redirect("org:accounts", org=admin.organisation.uuid)
            elif action == "grant_view_all":
                changed = services.member_scopes_grant_view_all(by=admin, member=member)
                messages.success(
                    request,
                    ngettext(
                        "%(who)s can now see every account (%(count)s account changed).",
                        "%(who)s can now see every account (%(count)s accounts changed).",
                        changed,
                    )
                    % {"who": member.user, "count": changed},
                )
            elif action == "scopes":
                changed = services.member_scopes_set(
                    by=admin, member=member, grants=_parse_grants(request.POST)
                )
                messages.success(
                    request,
                    ngettext(
                        "Saved: %(count)s account changed.",
                        "Saved: %(count)s accounts changed.",
                        changed,
                    )
                    % {"count": changed},
                )
            else:
                raise BadRequest
        except PowerhallError as error:
            messages.error(request, error.message)
        return back

    page = None
    scopes = {}
    if not member.is_admin:
        bindings = (
            selectors.org_bindings_for(membership=admin)
            .select_related("account")
            .order_by("account__number", "pk")
        )
        page = Paginator(bindings, SCOPE_PAGE_SIZE).get_page(request.GET.get("page"))
        scopes = selectors.member_scopes_on(member=member, bindings=list(page.object_list))
    rows = (
        [{"binding": b, "scopes": scopes.get(b.pk, set())} for b in page.object_list]
        if page
        else []
    )
    return render(
        request,
        "org/member_detail.html",
        {
            "membership": admin,
            "organisation": admin.organisation,
            "member": member,
            "is_self": member.pk == admin.pk,
            "role_form": RoleForm(initial={"role": member.role}),
            "page": page,
            "rows": rows,
            "scope_choices": Scope.choices,
        },
    )


@org_member_required
@require_http_methods(["GET", "POST"])
def member_remove(request, membership):
    """An administrator removes a member; anyone may leave (their own membership). GET asks to
    confirm; POST does it."""
    own = request.membership
    leaving = membership == own.uuid
    member = own if leaving else _member_get(request, membership)
    organisation = own.organisation
    if request.method == "POST":
        try:
            services.membership_remove(by=own, member=member)
        except PowerhallError as error:
            messages.error(request, error.message)
            if leaving:
                return redirect("org:accounts", org=organisation.uuid)
            return redirect("org:member", org=organisation.uuid, membership=member.uuid)
        if leaving:
            messages.success(request, _("You have left %(name)s.") % {"name": organisation.name})
            return redirect("me:dashboard")
        messages.success(
            request,
            _("%(who)s no longer has access to %(name)s.")
            % {"who": member.user, "name": organisation.name},
        )
        return redirect("org:members", org=organisation.uuid)
    return render(
        request,
        "org/member_remove.html",
        {
            "membership": own,
            "organisation": organisation,
            "member": member,
            "leaving": leaving,
        },
    )


@org_member_required(admin=True)
@require_POST
def invitation_revoke(request, invitation):
    membership = request.membership
    found = get_object_or_404(selectors.org_invitations_for(membership=membership), uuid=invitation)
    try:
        services.invitation_revoke(by=membership, invitation=found)
    except PowerhallError as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request,
            _("The invitation to %(email)s is withdrawn; its link no longer works.")
            % {"email": found.email},
        )
    return redirect("org:members", org=membership.organisation.uuid)
