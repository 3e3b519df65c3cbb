"""Publish the audit chain's head, so rows removed from the end can be detected later.

Run it from cron or a systemd timer (docs/audit.md, "Publishing the head"). The log line must go
somewhere the database's administrators cannot rewrite: a central log service, an e-mail, a
ticket. Later, ``manage.py audit_verify --head SEQ:MAC`` checks the log still reaches that row.
"""

import logging

from django.core.management.base import BaseCommand

from portal.core import clock
from portal.core.audit import audit_head, format_head

logger = logging.getLogger("powerhall.audit")


class Command(BaseCommand):
    help = "Write the audit log's current head (SEQ:MAC) and the time to the log and to stdout."

    def handle(self, *args, **options):
        seq, mac = audit_head()
        now = clock.now().isoformat(timespec="seconds")
        head_text = format_head(seq, mac)
        logger.info("audit head %s at %s", head_text, now)
        self.stdout.write(f"{head_text} {now}")
