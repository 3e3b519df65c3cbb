"""Handing work to the task queue from inside a transaction: the task runs only after the
transaction commits, and never for one that rolls back (docs/performance.md, "Webhooks and
receipts").

``enqueue_after_commit(task, **kwargs)``:

- With the database queue (``django_tasks_db``, production) in the database of the open
  transaction, the task's row is written now, in that transaction. A worker reads only committed
  rows, so it cannot take the task before the data the task reads is committed; a rollback takes
  the row away with the rest. It costs one INSERT in the transaction already open, instead of a
  round trip and a commit of its own afterwards. A failure to write it fails the transaction, as
  any of its other statements would (the same database: nothing else could have failed there).
- With any other backend (the in-process backend of the embedded default runs the task at once;
  a queue elsewhere cannot take part in the transaction), or a queue in another database, the
  task is enqueued by ``transaction.on_commit``, robustly: a failure to enqueue is logged and
  leaves the transaction's work standing (what cannot be queued is found again later: receipts
  render on download, notifications are re-queued by ``notifications_requeue``).
- Outside a transaction the task is enqueued at once (robustly, as ``on_commit`` does).
"""

from django.db import DEFAULT_DB_ALIAS, connections, router, transaction


def _queued_in(using: str, task) -> bool:
    """Whether ``task``'s backend writes its row through the connection ``using``."""
    from django_tasks_db.backend import DatabaseBackend
    from django_tasks_db.models import DBTaskResult

    return (
        isinstance(task.get_backend(), DatabaseBackend)
        and router.db_for_write(DBTaskResult) == using
    )


def enqueue_after_commit(task, /, *, using: str = DEFAULT_DB_ALIAS, **kwargs) -> None:
    """Enqueue ``task`` with ``kwargs`` to run after the transaction open on ``using`` commits
    (at once when none is open)."""
    if connections[using].in_atomic_block and _queued_in(using, task):
        task.enqueue(**kwargs)
    else:
        transaction.on_commit(lambda: task.enqueue(**kwargs), using=using, robust=True)
