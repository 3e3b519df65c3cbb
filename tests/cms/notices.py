"""Making notices in tests the way the admin does: a page added under the notice index, saved as a
revision and published."""

from datetime import datetime

from cms.models import NoticeIndexPage, NoticeKind, NoticePage
from portal.core.clock import BUSINESS_TIME_ZONE


def beijing(*args) -> datetime:
    return datetime(*args, tzinfo=BUSINESS_TIME_ZONE)


def notice_publish(*, title: str, kind=NoticeKind.PLANNED_OUTAGE, user=None, **fields):
    index = NoticeIndexPage.objects.get()
    page = index.add_child(instance=NoticePage(title=title, kind=kind, live=False, **fields))
    page.full_clean()
    page.save_revision(user=user).publish(user=user)
    page.refresh_from_db()
    return page
