"""The manager's dashboard: how well applications are handled (the handbook's chapter 6;
docs/applications.md, "Quality"), for one month and, if chosen, one district.

- **On time** per commitment and per kind: of the step clocks with a deadline that finished in
  the month, those finished by their deadline with no missed deadline recorded.
- **Working days per step**: the average, over the clocks that finished in the month, of the
  working days from the day the step started to the day it finished (``working_days_between``
  on the business calendar; the start day never counts, a weekend or holiday in between does
  not count, time waiting on the customer does).
- **Open cases by age** at the end of the month (or now, for the current month): handed in
  before then and not closed by then, by calendar days since they were handed in.
- **Satisfaction (CSAT)**: the average score and the number of survey answers given in the month
  (``applications.survey``), with how many gave each score, and the latest comments.
- **Complaints per 1,000 accounts**: complaints handed in during the month, per thousand
  electricity accounts (of the district, when one is chosen).

Everything is counted in the database, a fixed number of queries whatever the number of cases:
the working days too, as the difference of two sums (each day's working-day number, weighted by
how many clocks started or finished that day), so the calendar is walked once per distinct day,
never once per clock. ``bar_chart`` lays the figures out for the template's inline SVG, as
``payments/usage_chart.py`` does; the template shows the same figures in tables.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import partial

from django.db.models import Avg, Count, F, Q
from django.db.models.functions import TruncDate
from django.utils.translation import gettext as _

from portal.core import clock
from portal.core.calendar import business_calendar
from portal.models import ServiceAccount

from .models import Case, Category, Commitment, Step, StepClock, SurveyAnswer

PER = Decimal("1000")
TENTH = Decimal("0.1")
# Open cases by calendar days since they were handed in: (lower bound, upper bound or None).
AGE_BUCKETS = ((0, 7), (7, 30), (30, 90), (90, None))
COMMENTS_SHOWN = 20


def _tenth(value) -> Decimal:
    return Decimal(value).quantize(TENTH, rounding=ROUND_HALF_UP)


def month_start(day: date) -> date:
    return day.replace(day=1)


def next_month(first: date) -> date:
    return (first + timedelta(days=32)).replace(day=1)


@dataclass(frozen=True)
class Rate:
    """On time out of ``total`` finished clocks with a deadline."""

    key: str
    label: str
    total: int
    on_time: int

    @property
    def missed(self) -> int:
        return self.total - self.on_time

    @property
    def percent(self) -> Decimal | None:
        return _tenth(Decimal(self.on_time * 100) / self.total) if self.total else None


@dataclass(frozen=True)
class StepDays:
    step: str
    label: str
    count: int
    average: Decimal
    """Working days, to one decimal."""


@dataclass(frozen=True)
class AgeBucket:
    label: str
    count: int


@dataclass(frozen=True)
class Csat:
    count: int
    average: Decimal | None
    """The average score, 1 to 5, to one decimal (None: no answer)."""
    by_score: list[tuple[int, int]]
    """(score, answers) for 5 down to 1."""


@dataclass(frozen=True)
class Comment:
    reference: str
    score: int
    text: str
    answered_at: datetime


@dataclass(frozen=True)
class Complaints:
    complaints: int
    accounts: int

    @property
    def per_thousand(self) -> Decimal | None:
        if not self.accounts:
            return None
        return (Decimal(self.complaints) * PER / self.accounts).quantize(Decimal("0.01"))


@dataclass(frozen=True)
class Dashboard:
    month: date
    """The first day of the month counted."""
    district: str
    """"" : every district."""
    open_as_of: datetime
    by_commitment: list[Rate]
    by_kind: list[Rate]
    step_days: list[StepDays]
    open_by_age: list[AgeBucket]
    csat: Csat
    comments: list[Comment]
    """The month's latest survey comments (at most ``COMMENTS_SHOWN``)."""
    complaints: Complaints

    @property
    def on_time(self) -> Rate:
        """Every commitment together."""
        return Rate(
            key="",
            label=_("All"),
            total=sum(r.total for r in self.by_commitment),
            on_time=sum(r.on_time for r in self.by_commitment),
        )

    @property
    def open_total(self) -> int:
        return sum(bucket.count for bucket in self.open_by_age)


def dashboard_districts() -> list[str]:
    """The districts cases were made for (the filter's choices)."""
    return list(
        Case.objects.exclude(district="")
        .order_by("district")
        .values_list("district", flat=True)
        .distinct()
    )


def _label(choices, key: str) -> str:
    """The label of ``key`` (a value no longer in the code's choices is shown as it is)."""
    return str(choices(key).label) if key in choices.values else key or "—"


def _rates(clocks, field: str, label) -> list[Rate]:
    on_time = Q(finished_at__lte=F("due_at"), missed_at__isnull=True)
    rows = (
        clocks.values(field)
        .annotate(total=Count("pk"), on_time=Count("pk", filter=on_time))
        .order_by(field)
    )
    return sorted(
        (Rate(row[field], label(row[field]), row["total"], row["on_time"]) for row in rows),
        key=lambda r: (r.percent, r.label),
    )


def _step_days(clocks) -> list[StepDays]:
    """The average working days per step, from two grouped counts (clocks per step and start
    day, per step and finish day): Σ(finish − start) = Σ finish − Σ start, each day's working-day
    number taken from one walk of the calendar."""
    tz = clock.BUSINESS_TIME_ZONE

    def per_day(field):
        return (
            clocks.annotate(day=TruncDate(field, tzinfo=tz))
            .values("step", "day")
            .annotate(n=Count("pk"))
            .order_by()
        )

    starts, finishes = list(per_day("started_at")), list(per_day("finished_at"))
    if not finishes:
        return []
    days = sorted({row["day"] for row in starts + finishes})
    calendar = business_calendar()
    number, count, day = {}, 0, days[0]
    while day <= days[-1]:
        count += calendar.is_working_day(day)
        number[day] = count
        day += timedelta(days=1)
    total, clocks_of = defaultdict(int), defaultdict(int)
    for row in finishes:
        total[row["step"]] += row["n"] * number[row["day"]]
        clocks_of[row["step"]] += row["n"]
    for row in starts:
        total[row["step"]] -= row["n"] * number[row["day"]]
    order = {step: index for index, step in enumerate(Step.values)}
    return [
        StepDays(step, _label(Step, step), clocks_of[step], _tenth(Decimal(total[step]) / n))
        for step, n in sorted(clocks_of.items(), key=lambda item: order.get(item[0], 99))
    ]


def _age_label(low: int, high: int | None) -> str:
    if high is None:
        return _("%(low)d days or more") % {"low": low}
    return _("%(low)d to %(high)d days") % {"low": low, "high": high - 1}


def _open_by_age(cases, as_of: datetime) -> list[AgeBucket]:
    open_then = cases.filter(submitted_at__lte=as_of).filter(
        Q(closed_at__isnull=True) | Q(closed_at__gt=as_of)
    )
    buckets = {}
    for low, high in AGE_BUCKETS:
        within = Q(submitted_at__lte=as_of - timedelta(days=low))
        if high is not None:
            within &= Q(submitted_at__gt=as_of - timedelta(days=high))
        buckets[f"age_{low}"] = Count("pk", filter=within)
    counts = open_then.aggregate(**buckets)
    return [AgeBucket(_age_label(low, high), counts[f"age_{low}"]) for low, high in AGE_BUCKETS]


def _csat(answers) -> Csat:
    scores = {f"s{score}": Count("pk", filter=Q(score=score)) for score in range(1, 6)}
    row = answers.aggregate(count=Count("pk"), average=Avg("score"), **scores)
    average = _tenth(row["average"]) if row["average"] is not None else None
    return Csat(
        count=row["count"],
        average=average,
        by_score=[(score, row[f"s{score}"]) for score in range(5, 0, -1)],
    )


def dashboard_figures(*, month: date, district: str = "") -> Dashboard:
    """The dashboard's figures for the month that ``month`` falls in, in ``district`` ("": all)."""
    first = month_start(month)
    start, end = clock.day_start(first), clock.day_start(next_month(first))
    cases = Case.objects.all()
    clocks = StepClock.objects.filter(finished_at__gte=start, finished_at__lt=end)
    answers = SurveyAnswer.objects.filter(answered_at__gte=start, answered_at__lt=end)
    accounts = ServiceAccount.objects.all()
    if district:
        cases = cases.filter(district=district)
        clocks = clocks.filter(case__district=district)
        answers = answers.filter(case__district=district)
        accounts = accounts.filter(district=district)
    with_deadline = clocks.filter(due_at__isnull=False)
    open_as_of = min(end, clock.now())
    return Dashboard(
        month=first,
        district=district,
        open_as_of=open_as_of,
        by_commitment=_rates(with_deadline, "commitment", partial(_label, Commitment)),
        by_kind=_rates(with_deadline, "case__category", partial(_label, Category)),
        step_days=_step_days(clocks.filter(whole_case=False)),
        open_by_age=_open_by_age(cases, open_as_of),
        csat=_csat(answers),
        comments=[
            Comment(*row)
            for row in answers.exclude(comment="")
            .order_by("-answered_at", "-pk")
            .values_list("case__reference", "score", "comment", "answered_at")[:COMMENTS_SHOWN]
        ],
        complaints=Complaints(
            complaints=cases.filter(
                category=Category.COMPLAINT, submitted_at__gte=start, submitted_at__lt=end
            ).count(),
            accounts=accounts.count(),
        ),
    )


def dashboard_rows(figures: Dashboard) -> list[list]:
    """The dashboard as the CSV export's rows: figure, item, count, value (in the request's
    language; numbers without units so a spreadsheet can use them)."""
    rows = [
        [_("Month"), f"{figures.month:%Y-%m}", "", ""],
        [_("District"), figures.district or _("All districts"), "", ""],
    ]
    for title, rates in (
        (_("On-time rate (%) by commitment"), figures.by_commitment),
        (_("On-time rate (%) by kind"), figures.by_kind),
    ):
        rows += [[title, r.label, r.total, r.percent] for r in rates]
    rows += [
        [_("Average working days per step"), s.label, s.count, s.average] for s in figures.step_days
    ]
    as_of = clock.localtime(figures.open_as_of)
    open_title = _("Open cases by age, as of %(moment)s") % {"moment": f"{as_of:%Y-%m-%d %H:%M}"}
    rows += [[open_title, b.label, b.count, ""] for b in figures.open_by_age]
    csat = figures.csat
    rows.append([_("Satisfaction (CSAT)"), _("Average score (1 to 5)"), csat.count, csat.average])
    rows += [
        [_("Satisfaction (CSAT)"), _("Score %(score)d") % {"score": score}, n, ""]
        for score, n in csat.by_score
    ]
    c = figures.complaints
    rows.append([_("Complaints per 1,000 accounts"), _("Complaints"), c.complaints, c.per_thousand])
    rows.append([_("Complaints per 1,000 accounts"), _("Electricity accounts"), c.accounts, ""])
    return [["" if value is None else value for value in row] for row in rows]


# --- Charts --------------------------------------------------------------------------------------
# Horizontal bars, one row each: the label above its bar, the value after it. Labels get the
# whole width, so long commitment names are never cut.
CHART_WIDTH = 720
ROW_HEIGHT = 44
BAR_TOP, BAR_HEIGHT = 20, 16
VALUE_ROOM = 90
TONES = {"good": "#1c6b44", "fair": "#8a5a00", "poor": "#b42318", "": "#00665f"}


@dataclass(frozen=True)
class ChartBar:
    label: str
    text: str
    """The value as written after the bar."""
    y: int
    width: float
    tone: str
    """"good", "fair" or "poor"; "" for a plain bar."""

    @property
    def fill(self) -> str:
        # Drawn in the back office, which does not load the portal's stylesheet: the colours
        # are the SVG's own (contrast at least 4.5:1 on white).
        return TONES.get(self.tone, TONES[""])


@dataclass(frozen=True)
class BarChart:
    width: int
    height: int
    bars: list[ChartBar]
    bar_top: int = BAR_TOP
    bar_height: int = BAR_HEIGHT


def bar_chart(items, *, top: float, tone=lambda value: "") -> BarChart | None:
    """``items``: (label, value or None, text). Bars scaled to ``top``; None when nothing has a
    value (the template then says there is nothing to draw)."""
    items = [item for item in items if item[1] is not None]
    if not items:
        return None
    room = CHART_WIDTH - VALUE_ROOM
    bars = [
        ChartBar(
            label=str(label),
            text=text,
            y=index * ROW_HEIGHT,
            width=round(room * min(float(value) / top, 1.0), 1) if top else 0.0,
            tone=tone(value),
        )
        for index, (label, value, text) in enumerate(items)
    ]
    return BarChart(width=CHART_WIDTH, height=len(bars) * ROW_HEIGHT, bars=bars)


def _rate_tone(percent) -> str:
    return "good" if percent >= 95 else "fair" if percent >= 80 else "poor"


def dashboard_charts(figures: Dashboard) -> dict[str, BarChart | None]:
    """The pictures a manager would rather look at than read (the tables hold the same)."""

    def rates(items):
        return bar_chart(
            [(r.label, r.percent, f"{r.percent}%") for r in items], top=100, tone=_rate_tone
        )

    longest = max((float(s.average) for s in figures.step_days), default=0)
    oldest = max((b.count for b in figures.open_by_age), default=0)
    most = max((n for _score, n in figures.csat.by_score), default=0)
    return {
        "by_commitment": rates(figures.by_commitment),
        "by_kind": rates(figures.by_kind),
        "step_days": bar_chart(
            [(s.label, s.average, str(s.average)) for s in figures.step_days], top=longest or 1
        ),
        "open_by_age": bar_chart(
            [(b.label, b.count, str(b.count)) for b in figures.open_by_age]
            if figures.open_total
            else [],
            top=oldest or 1,
        ),
        "csat": bar_chart(
            [(f"{score} ★", n, str(n)) for score, n in figures.csat.by_score]
            if figures.csat.count
            else [],
            top=most or 1,
        ),
    }
