"""Background work of the payments app. Tasks call services; they hold no business logic."""

from django.tasks import task

from . import receipt_pdf


@task()
def receipt_render(*, receipt_id: int) -> None:
    """Render and store a receipt's (or refund note's) PDF after the payment committed. A
    receipt already rendered is left as it is, so running this twice changes nothing. A failure
    is left to the download, which renders a receipt the task did not (receipt_pdf.receipt_pdf)."""
    receipt_pdf.receipt_store_pdf(receipt_id=receipt_id)
