"""What a kind of application asks of a customer of a given class: its steps in order, the moves
between them, and the documents to upload, from the kind's version (docs/applications.md)."""

from portal.core.transitions import Workflow

from .models import KindDocument, KindStep, KindVersion


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
