"""Commands and scheduled jobs: the exit statuses they all share (docs/operations.md).

A scheduler, a pipeline or a person reading ``$?`` must tell "done" from "done, but some rows
need a person" from "could not run at all" from "crashed", whichever command it ran.
"""

from enum import IntEnum


class ExitStatus(IntEnum):
    DONE = 0
    """Did all its work; nothing needs a person."""
    CRASHED = 1
    """An unexpected error stopped it: Python's own status for an uncaught exception, with the
    traceback on stderr and in the log. Work already committed stays committed."""
    COULD_NOT_RUN = 2
    """Nothing was done: a wrong command line, a file that cannot be read, a service that is
    down. Running it again once the cause is fixed is safe."""
    NEEDS_PERSON = 3
    """Done, but some rows were rejected or skipped, or something needs a person: the summary
    lists them. The rest of the work is done and committed."""
    REFUSED = 4
    """``--strict`` and at least one row was rejected, so nothing was kept."""
