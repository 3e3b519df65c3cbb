"""The customer's side of applications, under /me/applications/ (docs/applications.md): the list,
starting one (with every document it needs listed first: 一次性告知), the draft's details and
documents, review and submit, the case's timeline with its deadline, answering a request,
withdrawing, and downloading a document. An organisation's list and start page are under
/org/<uuid>/applications/ (``urls_org``); its cases open at the same /me/applications/<uuid>/
pages. Every case is read through ``selectors.case_get_for``: another person's case, or an
organisation's the member may not see, is "not found"."""

from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST, require_safe

from portal import selectors as portal_selectors
from portal.core import ratelimit
from portal.core.errors import PowerhallError
from portal.models import Scope
from portal.org_access import admin_mfa_redirect, org_member_required

from . import cases, selectors
from .forms import AnswerForm, DetailsForm, DocumentForm, StartForm, WithdrawForm
from .kinds import documents_for, kind_versions_current, steps_for
from .models import Case, CaseStatus, Category, CustomerClass

UPLOADS_PER_HOUR = 60


def _upload_allowed(user) -> bool:
    return ratelimit.hit(
        ratelimit.Limit(
            scope="applications:upload",
            key=str(user.pk),
            max_attempts=UPLOADS_PER_HOUR,
            window_seconds=3600,
        )
    )


def case_view(*, draft: bool = False):
    """Resolve the ``uuid`` URL argument into the case the signed-in person may see (404
    otherwise) and pass it on. An organisation's case is an organisation page: its
    administrators need two factors first. ``draft``: only the applicant's own draft."""

    def decorator(view):
        @login_required
        @wraps(view)
        def wrapped(request, uuid, *args, **kwargs):
            case = selectors.case_get_for(user=request.user, uuid=uuid)
            if draft and (case.status != CaseStatus.DRAFT or case.applicant_id != request.user.pk):
                raise Http404
            if refused := admin_mfa_redirect(request, case.membership):
                return refused
            return view(request, case, *args, **kwargs)

        return wrapped

    return decorator


def _list_path(case: Case) -> str:
    """Where the case's "back to the list" link goes: the organisation's list, or the person's."""
    if case.membership is not None:
        return reverse("org:applications", kwargs={"org": case.membership.organisation.uuid})
    return reverse("applications:list")


@login_required
@require_safe
def case_list(request):
    return render(
        request,
        "applications/case_list.html",
        {
            "cases": selectors.case_list_for(user=request.user),
            "memberships": portal_selectors.membership_list_for(user=request.user),
        },
    )


@org_member_required
@require_safe
def org_case_list(request):
    """The organisation's applications this member may see (selectors' module docstring)."""
    membership = request.membership
    return render(
        request,
        "applications/org_case_list.html",
        {
            "membership": membership,
            "organisation": membership.organisation,
            "cases": selectors.org_case_list_for(membership=membership),
            "may_apply": selectors.may_apply_for(membership=membership),
        },
    )


@login_required
def case_start(request):
    """Pick the kind and the class; the page lists every document the kind needs for that class
    before anything is created (一次性告知)."""
    bindings = list(portal_selectors.binding_list_for(user=request.user))
    return _start(request, bindings=bindings, membership=None)


@org_member_required
def org_case_start(request):
    """Apply for the organisation: for one of its accounts the member holds the ``apply`` scope
    on (administrators: any), or for none (a new connection), which any member who may apply
    for the organisation at all may do. A member who may not is told so, and shown no form."""
    membership = request.membership
    bindings = list(
        portal_selectors.org_bindings_for(membership=membership, scope=Scope.APPLY)
        .select_related("account")
        .order_by("created_at")
    )
    if not (membership.is_admin or bindings):
        return render(
            request,
            "applications/case_start.html",
            {"membership": membership, "organisation": membership.organisation, "refused": True},
        )
    return _start(request, bindings=bindings, membership=membership)


def _start(request, *, bindings, membership):
    versions = kind_versions_current()
    accounts = [
        (str(b.uuid), f"{b.label or b.account.number} · {b.account.address}") for b in bindings
    ]
    form = StartForm(
        request.POST or request.GET or None,
        kinds=list(versions),
        accounts=accounts,
        initial={"customer_class": CustomerClass.LV_BUSINESS} if membership else None,
    )
    checklist = None
    if form.is_bound and form.is_valid():
        version = versions[form.cleaned_data["kind"]]
        customer_class = form.cleaned_data["customer_class"]
        checklist = documents_for(version=version, customer_class=customer_class)
        if request.method == "POST":
            binding = next(
                (b for b in bindings if str(b.uuid) == form.cleaned_data["account"]), None
            )
            account = binding.account if binding else None
            try:
                case = cases.case_create(
                    version=version,
                    customer_class=account.customer_class if account else customer_class,
                    applicant=request.user,
                    organisation=membership.organisation if membership else None,
                    account=account,
                    details=(
                        {"address": account.address, "district": account.district}
                        if account
                        else {"contact_name": request.user.get_full_name()[:100]}
                    ),
                )
            except PowerhallError as error:
                messages.error(request, error.message)
            else:
                return redirect("applications:draft", uuid=case.uuid)
    return render(
        request,
        "applications/case_start.html",
        {
            "form": form,
            "checklist": checklist,
            "steps": (
                steps_for(
                    version=versions[form.cleaned_data["kind"]],
                    customer_class=form.cleaned_data["customer_class"],
                )
                if checklist is not None
                else None
            ),
            "kinds": [(k, Category(k).label) for k in versions],
            "membership": membership,
            "organisation": membership.organisation if membership else None,
        },
    )


def _draft_context(case: Case, details_form, document_form) -> dict:
    needed = documents_for(version=case.kind_version, customer_class=case.customer_class)
    uploaded = list(case.documents.order_by("uploaded_at"))
    have = {doc.document for doc in uploaded}
    return {
        "case": case,
        "list_path": _list_path(case),
        "details_form": details_form,
        "document_form": document_form,
        "needed": [(doc, doc.document in have) for doc in needed],
        "uploaded": uploaded,
        "missing": cases.documents_missing(case),
        "is_business": case.customer_class != CustomerClass.RESIDENTIAL,
    }


def _needed_documents(case: Case) -> list[str]:
    return [
        doc.document
        for doc in documents_for(version=case.kind_version, customer_class=case.customer_class)
    ]


def _details_initial(case: Case) -> dict:
    return {
        "contact_name": case.contact_name,
        "contact_phone": case.contact_phone,
        "address": case.address,
        "district": case.district,
        "capacity_kva": case.capacity_kva,
        "loads": "\n".join(case.loads),
        "description": case.description,
    }


@case_view(draft=True)
def case_draft(request, case):
    """The draft: its details (saved as often as the customer likes) and its documents."""
    details_form = DetailsForm(request.POST or None, initial=_details_initial(case))
    if request.method == "POST" and details_form.is_valid():
        cases.case_details_save(case=case, details=details_form.cleaned_data, actor=request.user)
        messages.success(request, _("Your draft is saved."))
        if "review" in request.POST:
            return redirect("applications:review", uuid=case.uuid)
        return redirect("applications:draft", uuid=case.uuid)
    document_form = DocumentForm(documents=_needed_documents(case))
    return render(
        request, "applications/case_draft.html", _draft_context(case, details_form, document_form)
    )


@require_POST
@case_view(draft=True)
def document_upload(request, case):
    document_form = DocumentForm(request.POST, request.FILES, documents=_needed_documents(case))
    if document_form.is_valid():
        if not _upload_allowed(request.user):
            document_form.add_error(None, _("Too many uploads. Please wait a while and try again."))
        else:
            try:
                cases.case_document_add(
                    case=case,
                    document=document_form.cleaned_data["document"],
                    upload=document_form.cleaned_data["file"],
                    actor=request.user,
                )
            except PowerhallError as error:
                document_form.add_error("file", error.message)
            else:
                messages.success(request, _("The document is uploaded."))
                return redirect("applications:draft", uuid=case.uuid)
    details_form = DetailsForm(initial=_details_initial(case))
    return render(
        request,
        "applications/case_draft.html",
        _draft_context(case, details_form, document_form),
        status=400,
    )


@require_POST
@case_view(draft=True)
def document_remove(request, case, document):
    doc = case.documents.filter(uuid=document).first()
    if doc is None:
        raise Http404
    cases.case_document_remove(case=case, document=doc, actor=request.user)
    messages.success(request, _("The document is removed."))
    return redirect("applications:draft", uuid=case.uuid)


@case_view(draft=True)
def case_review(request, case):
    if request.method == "POST":
        try:
            cases.case_submit(case=case, actor=request.user)
        except PowerhallError as error:
            messages.error(request, error.message)
        else:
            messages.success(
                request,
                _(
                    "Your application %(reference)s is submitted. We will tell you when it is "
                    "accepted."
                )
                % {"reference": case.reference},
            )
            return redirect("applications:detail", uuid=case.uuid)
    return render(
        request,
        "applications/case_review.html",
        {
            "case": case,
            "documents": case.documents.order_by("uploaded_at"),
            "missing": cases.documents_missing(case),
        },
    )


@require_safe
@case_view()
def case_detail(request, case):
    """The case's timeline: where it stands, the deadline and the time left, every message and
    request, the documents; answering a request and withdrawing from here."""
    if case.status == CaseStatus.DRAFT and case.applicant_id == request.user.pk:
        return redirect("applications:draft", uuid=case.uuid)
    return render(request, "applications/case_detail.html", _detail_context(case))


def _detail_context(case: Case, answer_form=None) -> dict:
    steps = steps_for(version=case.kind_version, customer_class=case.customer_class)
    position = next((i for i, s in enumerate(steps) if s.step == case.step), -1)
    running = selectors.running_clock(case) if case.is_open else None
    return {
        "case": case,
        "list_path": _list_path(case),
        "steps": [
            {
                "label": s.get_step_display(),
                "done": i < position or case.status == "completed",
                "current": i == position and case.is_open,
            }
            for i, s in enumerate(steps)
        ],
        "left": selectors.time_left(running),
        "whole_left": selectors.time_left(selectors.whole_clock(case)) if case.is_open else None,
        "paused": running is not None and running.paused_at is not None,
        "events": selectors.timeline_for_customer(case),
        "documents": case.documents.order_by("uploaded_at"),
        "answer_form": answer_form or AnswerForm(),
        "withdraw_form": WithdrawForm(),
        "can_answer": case.status == CaseStatus.WAITING_CUSTOMER,
        "can_withdraw": case.is_open and case.accepted_at is None,
    }


@require_POST
@case_view()
def case_answer(request, case):
    form = AnswerForm(request.POST, request.FILES)
    if form.is_valid():
        upload = form.cleaned_data.get("file")
        if upload and not _upload_allowed(request.user):
            form.add_error(None, _("Too many uploads. Please wait a while and try again."))
        else:
            try:
                cases.case_answer(
                    case=case,
                    actor=request.user,
                    text=form.cleaned_data["text"],
                    document=form.cleaned_data.get("document") or "",
                    upload=upload,
                )
            except PowerhallError as error:
                form.add_error("file" if upload else None, error.message)
            else:
                messages.success(request, _("Thank you: your answer is with us."))
                return redirect("applications:detail", uuid=case.uuid)
    return render(request, "applications/case_detail.html", _detail_context(case, form), status=400)


@require_POST
@case_view()
def case_withdraw(request, case):
    form = WithdrawForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    try:
        cases.case_withdraw(case=case, actor=request.user, reason=reason)
    except PowerhallError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("Your application is withdrawn."))
    return redirect("applications:detail", uuid=case.uuid)


def document_response(doc) -> FileResponse:
    """A stored document as a download: never shown inline, never sniffed, never cached."""
    response = FileResponse(
        doc.file.open("rb"), as_attachment=True, filename=doc.name, content_type=doc.content_type
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; frame-ancestors 'none'; sandbox"
    response["Cache-Control"] = "private, no-store"
    return response


@require_safe
@case_view()
def document_download(request, case, document):
    doc = case.documents.filter(uuid=document).first()
    if doc is None:
        raise Http404
    return document_response(doc)
