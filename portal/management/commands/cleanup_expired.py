"""Remove expired sessions, binding codes and other expired one-time records
(portal/services.py, ``expired_cleanup``; docs/operations.md, "Cleanup of expired records").
Run once a day.

Idempotent and safe to run twice at once: each run deletes what has expired by then, a chunk at a
time; a second run finds nothing left. A step that fails is skipped, counted and kept under Job
problems; the other steps run.

Exit status (portal.core.jobs.ExitStatus; docs/operations.md): 0 done; 3 done, but a step was
skipped on an error (listed); 1 crashed.
"""

from django.conf import settings
from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from portal.core import clock
from portal.core.jobs import command_finish
from portal.services import expired_cleanup


class Command(BaseCommand):
    help = (
        "Remove expired sessions, the session list's entries of sessions that are gone, binding "
        "codes expired more than BINDING_CHALLENGE_RETENTION_DAYS ago and expired e-mail "
        "confirmation keys; organisation invitations are kept (their administrators see them). "
        "Safe to run twice at once. Exit status: 0 done; 3 done with a step skipped (listed); 1 "
        "crashed."
    )

    def handle(self, *args, **options):
        report = expired_cleanup()
        run = report.run
        when = clock.localtime(report.at).strftime("%Y-%m-%d %H:%M")
        self.stdout.write(_("Cleanup of expired records at %(when)s:") % {"when": when})
        if report.sessions is None:
            self.stdout.write(_("Expired sessions: cleared by the session store"))
        else:
            self.stdout.write(_("Expired sessions removed: %(count)s") % {"count": report.sessions})
        self.stdout.write(
            _("Session list entries of ended sessions removed: %(count)s")
            % {"count": report.user_sessions}
        )
        self.stdout.write(
            _("Binding codes expired more than %(days)s days ago removed: %(count)s")
            % {
                "days": settings.BINDING_CHALLENGE_RETENTION_DAYS,
                "count": report.binding_challenges,
            }
        )
        self.stdout.write(
            _("Expired e-mail confirmation keys removed: %(count)s")
            % {"count": report.email_confirmations}
        )
        self.stdout.write(_("Skipped on an error: %(count)s") % {"count": len(run.skipped)})
        for line in run.skipped_lines():
            self.stdout.write(f"  {line}")
        command_finish(run, write=self.stdout.write)
