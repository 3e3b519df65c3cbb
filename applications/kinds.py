"""What a kind of application asks of a customer of a given class: its steps in order, the moves
between them, and the documents to upload, from the kind's version (docs/applications.md); and
what staff editing a version in the back office are held to (``version_problems``,
``version_next_draft``)."""

from collections import Counter
from collections.abc import Iterable

from django.db.models import Max
from django.utils.translation import gettext as _

from portal.core.transitions import Workflow
from portal.models import CustomerClass

from .models import ApplicationKind, DocumentType, KindDocument, KindStep, KindVersion, Step


def kind_versions_current() -> dict[str, KindVersion]:
    """The newest version of every kind open to applications, by category (two queries)."""
    versions: dict[str, KindVersion] = {}
    for version in (
        KindVersion.objects.filter(kind__active=True)
        .select_related("kind")
        .order_by("kind__category", "-number")
    ):
        versions.setdefault(version.kind.category, version)
    return versions


def steps_for(*, version: KindVersion, customer_class: str) -> list[KindStep]:
    """The version's steps a case of ``customer_class`` goes through, in order: a residential
    new connection has no design review, a high-voltage one has."""
    return [step for step in version.steps.order_by("position") if step.applies_to(customer_class)]


def documents_for(*, version: KindVersion, customer_class: str) -> list[KindDocument]:
    """Every document the version asks a customer of ``customer_class`` for, required first: the
    list shown once and completely before they start (一次性告知)."""
    documents = [doc for doc in version.documents.all() if doc.applies_to(customer_class)]
    return sorted(documents, key=lambda doc: not doc.required)


def step_workflow(*, version: KindVersion, customer_class: str) -> Workflow:
    """The moves between the steps of a case: each step to the next that applies, the last one
    final. (Waiting on the customer, rejecting and withdrawing are the case's status, not
    steps.)"""
    steps = [step.step for step in steps_for(version=version, customer_class=customer_class)]
    moves = {
        step: ({steps[i + 1]} if i + 1 < len(steps) else set()) for i, step in enumerate(steps)
    }
    return Workflow("application.step", moves, status_field="step")


# --- Editing kinds (the back office) --------------------------------------------------------------
def version_in_use(version: KindVersion) -> bool:
    """Whether any case was opened with ``version``, whatever its status: a draft was shown its
    documents and steps, and a closed case's timeline and clocks still name its steps, so such a
    version is history and is never changed in place."""
    return version.cases.exists()


def version_next_draft(*, kind: ApplicationKind) -> KindVersion:
    """An unsaved next version of ``kind`` holding copies of its newest version's whole-case
    commitment, steps and documents, so staff change only what differs. (Its number is only
    provisional: ``version_number_take`` gives the one it is saved with.)"""
    newest = kind.versions.order_by("-number").first()
    if newest is None:
        return KindVersion(kind=kind, number=1)
    draft = KindVersion(kind=kind, number=newest.number + 1, commitment=newest.commitment)
    draft.steps = [
        KindStep(
            position=step.position,
            step=step.step,
            customer_classes=list(step.customer_classes),
            commitment=step.commitment,
            billing_message=step.billing_message,
        )
        for step in newest.steps.order_by("position")
    ]
    draft.documents = [
        KindDocument(
            document=doc.document,
            customer_classes=list(doc.customer_classes),
            required=doc.required,
        )
        for doc in newest.documents.all()
    ]
    return draft


def version_number_take(*, kind: ApplicationKind) -> int:
    """The number a new version of ``kind`` is saved with: one more than the highest. Locks the
    kind's row until the caller's transaction ends, so two people adding a version at once get
    two numbers instead of one of them an error."""
    ApplicationKind.objects.select_for_update().filter(pk=kind.pk).first()
    highest = kind.versions.aggregate(highest=Max("number"))["highest"]
    return (highest or 0) + 1


def version_problems(
    *, steps: Iterable[tuple[int, str, list[str]]], documents: Iterable[str]
) -> list[str]:
    """Why a version with these steps (position, step, customer classes; no class: every class)
    and documents could not be worked, in words staff read; empty if it can.

    Each class needs at least two steps: accepting puts a case at its class's first step, and only
    moving it on to the last completes it (``applications.cases``). Whether that last step is
    "archived" is the company's choice."""
    steps = list(steps)
    problems = []
    if not steps:
        return [_("Add the steps: a case starts at the first and is completed at the last.")]
    for position, count in Counter(position for position, _step, _classes in steps).items():
        if count > 1:
            problems.append(
                _("Two steps have position %(position)s: give each step its own place.")
                % {"position": position}
            )
    for step, count in Counter(step for _position, step, _classes in steps).items():
        if count > 1:
            problems.append(
                _("%(step)s is listed more than once: list each step once.")
                % {"step": Step(step).label}
            )
    for customer_class in CustomerClass:
        applying = [s for s in steps if not s[2] or customer_class in s[2]]
        if len(applying) < 2:
            problems.append(
                _(
                    "%(class)s customers would have fewer than two steps: a case starts at the "
                    "first step of its class and is completed at the last, so every class needs "
                    "at least two."
                )
                % {"class": customer_class.label}
            )
    for document, count in Counter(documents).items():
        if count > 1:
            problems.append(
                _("%(document)s is listed more than once: list each document once.")
                % {"document": DocumentType(document).label}
            )
    return problems
