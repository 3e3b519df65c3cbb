"""The business calendar of bills: which day it is where the bills are issued and paid.

Due dates, penalty days and ledger postings are Asia/Shanghai dates (docs/bills.md), whatever
time zone a request, a worker or the server runs in. A payment at 00:30 in Beijing is paid
"today" there, although it is still yesterday in UTC.
"""

from datetime import date
from zoneinfo import ZoneInfo

from django.utils import timezone

BUSINESS_TIME_ZONE = ZoneInfo("Asia/Shanghai")


def business_today() -> date:
    """Today's date in Asia/Shanghai: the day a penalty is counted to and a payment posts on."""
    return timezone.now().astimezone(BUSINESS_TIME_ZONE).date()
