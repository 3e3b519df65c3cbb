"""The staff's application queue (/cms-admin/applications/) with 100,000 open cases, for
`make bench` (issue 13).

    .venv/bin/python benchmarks/application_queue.py                  # 100,000 open cases
    .venv/bin/python benchmarks/application_queue.py --open 20000

Builds, in the database the environment names (DATABASE_URL, else the SQLite file under
POWERHALL_VAR_DIR: whatever ``benchmarks/run.py`` serves), ``--open`` open cases and a third as
many closed ones: every kind and customer class the current kind versions have steps for, in the
shares a city's service centre sees (new connections and fault reports most), in 16 districts,
from three channels; a fifth waiting to be accepted, a sixth waiting on the customer (their
clocks stopped, so no deadline), the rest at one of their steps. A case whose step or whole
application has a time limit in the commitment set in use has its running ``StepClock`` rows
and its deadline; it was accepted up to 1.25 times that limit ago, so some are overdue (and
recorded missed, as the deadline watch would have). Forty members of staff hold four accepted
cases in five. The cases' history (``CaseEvent``) is not built: the queue never reads it.

The rows go in with COPY on PostgreSQL and ``executemany`` on SQLite, their values already in
the form the columns store: ``bulk_create`` prepares every value of every row through its model
field and took over a minute for the 133,000 cases on a two-core machine; this takes about 15
seconds there, most of it drawing the random rows.

It also makes the member of the Service staff group who reads the queue (with an authenticator,
as the back office requires) and signs them in. The last line printed is JSON: the counts, the
seconds the build took, the session cookie and the queue's URLs to measure (the default queue:
open, nearest deadline first; the queue filtered to overdue; a search for a contact's name, and
one for a whole reference). If that member of staff already exists (a PostgreSQL database reused
across runs), nothing is built again.
"""

import argparse
import functools
import json
import random
import sys
import time
import uuid
from datetime import UTC, timedelta
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
QUEUE = "/cms-admin/applications/"
READER = "queue@bench.powerhall.cn"
SEARCH_NAME = "王芳"  # a contact's name, as staff type it when a customer phones

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀英华"
DISTRICTS = {
    "朝阳区": 16, "海淀区": 14, "丰台区": 9, "昌平区": 9, "大兴区": 8, "通州区": 8, "西城区": 6,
    "东城区": 5, "顺义区": 5, "房山区": 5, "石景山区": 3, "门头沟区": 2, "怀柔区": 2,
    "平谷区": 2, "密云区": 2, "延庆区": 2,
}  # fmt: skip
ROADS = ["建国路", "学院路", "望京街", "南苑路", "运河东大街", "回龙观西大街", "黄村西大街"]
CATEGORIES = {
    "new_connection": 24, "fault_report": 15, "complaint": 12, "capacity_increase": 10,
    "meter_test": 9, "disputed_reading": 9, "transfer": 8, "suspension": 5, "closing": 5,
    "capacity_decrease": 3,
}  # fmt: skip
CLASSES = {"residential": 70, "lv_business": 20, "hv_single": 7, "hv_dual": 3}
CHANNELS = {"online": 70, "hotline": 20, "counter": 10}
OPEN = {"submitted": 20, "in_progress": 65, "waiting_customer": 15}
CLOSED = {"completed": 80, "rejected": 12, "withdrawn": 8}
STAFF = 40
CUSTOMERS = 5000
BATCH = 5000

CASE_COLUMNS = (
    "uuid", "reference", "kind_version", "category", "customer_class", "applicant", "channel",
    "opened_by", "contact_name", "contact_phone", "district", "address", "loads", "description",
    "status", "step", "assignee", "due_at", "close_reason", "created_at", "updated_at",
    "submitted_at", "accepted_at", "closed_at", "assigned_account_number",
)  # fmt: skip
CLOCK_COLUMNS = (
    "case", "step", "whole_case", "commitment", "rule_set", "amount", "unit", "started_at",
    "due_at", "paused_at", "paused_seconds", "missed_at", "missed_holder",
)  # fmt: skip


def _draw(rnd: random.Random, weights: dict, k: int) -> list:
    return rnd.choices(list(weights), weights=list(weights.values()), k=k)


def build(*, open_cases: int, seed: int = 20261206, grow: bool = False) -> dict:
    """Make the queue's reader and ``open_cases`` open cases (plus closed ones); return counts.
    If the reader exists, nothing is built, unless ``grow``: then ``open_cases`` more are added
    (benchmarks/scale.py; give each call its own ``seed``, as the cases' UUIDs come from it)."""
    from django.db import connection, transaction
    from django.db.models import Max

    from applications.commitments import deadline, rule_for, rule_set_in_use
    from applications.kinds import kind_versions_current, steps_for
    from applications.models import Case, StepClock
    from portal.core import clock
    from portal.models import User

    started = time.perf_counter()
    if User.objects.filter(email=READER).exists() and not grow:
        return {"built": False, "build_s": 0.0}

    rnd = random.Random(seed)
    now = clock.now()
    rule_set = rule_set_in_use()
    versions = kind_versions_current()
    # Per kind and class: the steps, each with the rule of its commitment, and the rule of the
    # whole application's commitment, read once.
    plans = {}
    for category, version in versions.items():
        for customer_class in CLASSES:
            steps = [
                (s.step, s.commitment and rule_for(
                    commitment=s.commitment, customer_class=customer_class, rule_set=rule_set
                ))
                for s in steps_for(version=version, customer_class=customer_class)
            ]  # fmt: skip
            whole = version.commitment and rule_for(
                commitment=version.commitment, customer_class=customer_class, rule_set=rule_set
            )
            if len(steps) > 1:
                plans[category, customer_class] = (version.pk, steps, whole or None)
    categories = {c: w for c, w in CATEGORIES.items() if c in versions}

    @functools.cache
    def span(rule) -> timedelta:
        """How long ``rule`` gives, roughly (from a Monday morning, whatever its unit)."""
        monday = clock.day_start(clock.today() - timedelta(days=clock.today().weekday() + 7))
        return deadline(rule=rule, start=monday) - monday

    @functools.cache
    def day_due(rule, day):
        return deadline(rule=rule, start=clock.day_start(day))

    def due(rule, start):
        if rule.unit in ("hours", "minutes"):
            return deadline(rule=rule, start=start)
        return day_due(rule, clock.business_date(start))

    db_time = connection.ops.adapt_datetimefield_value
    if connection.vendor == "sqlite":  # what its adapter does, without a check per value
        db_time = lambda moment: str(moment.astimezone(UTC).replace(tzinfo=None))  # noqa: E731
    db_uuid = (lambda u: u) if connection.features.has_native_uuid_field else (lambda u: u.hex)

    with transaction.atomic():
        holders, customers = _people()
        taken = set(Case.objects.values_list("reference", flat=True))
        before = Case.objects.aggregate(last=Max("pk"))["last"] or 0
        per_day: dict = {}

        def reference(day) -> str:
            n = per_day.get(day, 500_000)
            while (ref := f"A{day:%Y%m%d}{n:06d}") in taken:
                n += 1
            per_day[day] = n + 1
            return ref

        total = open_cases + open_cases // 3
        statuses = _draw(rnd, OPEN, open_cases) + _draw(rnd, CLOSED, total - open_cases)
        kinds = _draw(rnd, categories, total)
        classes = _draw(rnd, CLASSES, total)
        channels = _draw(rnd, CHANNELS, total)
        districts = _draw(rnd, DISTRICTS, total)
        rows, clocks = [], []
        for n in range(total):
            status, category, customer_class = statuses[n], kinds[n], classes[n]
            while (category, customer_class) not in plans:
                customer_class = rnd.choice(list(CLASSES))
            version, steps, whole = plans[category, customer_class]
            # At which step: never the last while open (reaching it completes the case).
            reached = None
            if status in ("in_progress", "waiting_customer", "rejected"):
                reached = rnd.randrange(len(steps) - 1)
            elif status == "completed":
                reached = len(steps) - 1
            step, rule = steps[reached] if reached is not None else ("", None)
            # Accepted up to 1.25 times the time its clock gives (so some are overdue), else up
            # to two weeks ago; closed ones up to two months ago.
            limit = span(whole or rule) if (whole or rule) else timedelta(days=14)
            if status in CLOSED:
                limit = timedelta(days=60)
            age = limit * rnd.uniform(0.0, 1.25)
            accepted_at = now - age if reached is not None else None
            step_at = now - age * rnd.uniform(0.0, 1.0) if accepted_at else None
            submitted_at = (accepted_at or now - age) - timedelta(minutes=rnd.randint(10, 1800))
            assignee = rnd.choice(holders) if accepted_at and rnd.random() < 0.8 else None
            due_at = None
            if status in OPEN and accepted_at:
                paused_at = None
                if status == "waiting_customer":
                    paused_at = max(now - timedelta(hours=rnd.randint(1, 72)), step_at)
                for clock_rule, since, whole_case in (
                    (rule, step_at, False),
                    (whole, accepted_at, True),
                ):
                    if not clock_rule:
                        continue
                    clock_due = due(clock_rule, since)
                    missed = clock_due < (paused_at or now)
                    clocks.append([
                        n, "" if whole_case else step, whole_case, clock_rule.commitment,
                        rule_set.code, clock_rule.amount, clock_rule.unit, db_time(since),
                        db_time(clock_due), paused_at and db_time(paused_at), 0,
                        db_time(clock_due + timedelta(minutes=5)) if missed else None,
                        assignee if missed else None,
                    ])  # fmt: skip
                    if not paused_at:  # the nearest deadline of the clocks that run
                        due_at = min(due_at, clock_due) if due_at else clock_due
            closed_at = min(step_at or submitted_at, now) if status in CLOSED else None
            district = districts[n]
            name = rnd.choice(SURNAMES) + "".join(rnd.choices(GIVEN, k=rnd.choice((1, 2))))
            online = channels[n] == "online"
            rows.append((
                db_uuid(uuid.UUID(int=rnd.getrandbits(128), version=4)),
                reference(clock.business_date(submitted_at)),
                version, category, customer_class,
                rnd.choice(customers) if online else None,
                channels[n],
                None if online else rnd.choice(holders),
                name, f"139{rnd.randrange(10**8):08d}", district,
                f"{district}{rnd.choice(ROADS)} {rnd.randint(1, 999)} 号", "[]", "",
                status, step, assignee, due_at and db_time(due_at), "",
                db_time(submitted_at - timedelta(minutes=20)),  # created (the draft)
                db_time(closed_at or step_at or submitted_at),  # updated
                db_time(submitted_at), accepted_at and db_time(accepted_at),
                closed_at and db_time(closed_at), "",
            ))  # fmt: skip
        _insert(connection, Case, CASE_COLUMNS, rows)
        ids = dict(Case.objects.filter(pk__gt=before).values_list("reference", "pk"))
        case_ids = [ids[row[1]] for row in rows]
        for row in clocks:
            row[0] = case_ids[row[0]]
        _insert(connection, StepClock, CLOCK_COLUMNS, clocks)
    # Planner statistics and (PostgreSQL) the visibility map, as autovacuum keeps them on a live
    # database: without it a count cannot be answered from an index alone.
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE")
    return {
        "built": True,
        "build_s": round(time.perf_counter() - started, 1),
        "step_clocks": len(clocks),
    }


def _people() -> tuple[list[int], list[int]]:
    """The ids of the staff who hold cases (the reader first) and of the customers who apply
    online: made the first time, read back after."""
    from allauth.account.models import EmailAddress
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
    from django.contrib.auth.hashers import make_password

    from portal.models import User
    from portal.roles import SERVICE_STAFF, roles_ensure

    reader = User.objects.filter(email=READER).first()
    if reader:
        staff = User.objects.filter(
            email__startswith="staff", email__endswith="@bench.powerhall.cn"
        )
        customers = User.objects.filter(
            email__startswith="customer", email__endswith="@bench.example.cn"
        )
        holders = [reader.pk, *staff.order_by("pk").values_list("pk", flat=True)]
        return holders, list(customers.order_by("pk").values_list("pk", flat=True))
    group = roles_ensure()[SERVICE_STAFF]
    unusable = make_password(None)
    reader = User.objects.create_user(email=READER, password=None, is_staff=True)
    EmailAddress.objects.create(user=reader, email=READER, verified=True, primary=True)
    TOTP.activate(reader, generate_totp_secret())  # the back office requires two factors
    staff = User.objects.bulk_create(
        User(
            email=f"staff{n}@bench.powerhall.cn",
            name=f"{SURNAMES[n % 20]}{GIVEN[n // 2]}",
            password=unusable,
        )
        for n in range(STAFF)
    )
    reader.groups.add(group)
    group.user_set.add(*staff)
    customers = User.objects.bulk_create(
        User(email=f"customer{n}@bench.example.cn", password=unusable) for n in range(CUSTOMERS)
    )
    return [reader.pk] + [u.pk for u in staff], [u.pk for u in customers]


def _insert(connection, model, fields, rows) -> None:
    """``rows`` (values in ``fields``' order, as their columns store them) into ``model``'s
    table: COPY on PostgreSQL (an INSERT a row waits for the server each time), else
    ``executemany``."""
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    columns = ", ".join(quote(model._meta.get_field(f).column) for f in fields)
    # The names are the model's own, quoted; the values are parameters or COPY data.
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            return
        sql = f"INSERT INTO {table} ({columns}) VALUES ({', '.join(['%s'] * len(fields))})"  # noqa: S608
        for first in range(0, len(rows), BATCH):
            cursor.executemany(sql, rows[first : first + BATCH])


def session_and_pages() -> dict:
    """The reader's session cookie and the queue's URLs to measure."""
    from django.test import Client

    from applications.models import OPEN_STATUSES, Case
    from portal.core import clock
    from portal.models import User

    client = Client()
    client.force_login(User.objects.get(email=READER))
    open_cases = Case.objects.filter(status__in=OPEN_STATUSES)
    # A case halfway down the queue, as a customer on the phone would read out its reference.
    middle = open_cases.order_by("pk")[open_cases.count() // 2]
    return {
        "cookie": client.cookies["sessionid"].value,
        "cases": Case.objects.count(),
        "open_cases": open_cases.count(),
        "overdue_cases": open_cases.filter(due_at__lt=clock.now()).count(),
        "pages": {
            "queue": QUEUE,
            "queue_overdue": f"{QUEUE}?{urlencode({'state': 'overdue'})}",
            "queue_search_name": f"{QUEUE}?{urlencode({'q': SEARCH_NAME})}",
            "queue_search_reference": f"{QUEUE}?{urlencode({'q': middle.reference})}",
        },
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--open", type=int, default=100_000, help="open cases to build")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    result = build(open_cases=args.open)
    result.update(session_and_pages())
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
