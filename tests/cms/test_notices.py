"""Notices: the index lists the live ones, newest first, by kind and by district (a feeder's
district included); a notice shows its times and places; an outage must say where and when, and a
planned outage announced less than 7 days ahead must say why, and is flagged."""

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.utils import translation

from cms.models import NoticeIndexPage, NoticeKind, NoticePage
from tests.cms.notices import beijing, notice_publish
from tests.factories import ServiceAccountFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


@pytest.fixture(autouse=True)
def places():
    ServiceAccountFactory(district="浦东新区", feeder="张江 10kV 1号线")
    ServiceAccountFactory(district="静安区", feeder="静安 10kV 3号线")


def test_the_index_lists_live_notices_filtered_by_kind_and_district(client):
    with time_machine.travel(beijing(2026, 12, 1, 9, 0), tick=False):
        by_district = notice_publish(
            title="浦东新区计划停电",
            districts=["浦东新区"],
            starts_at=beijing(2026, 12, 10, 8, 0),
            ends_at=beijing(2026, 12, 10, 17, 0),
            reason="线路检修",
        )
        by_feeder = notice_publish(
            title="张江线路抢修",
            kind=NoticeKind.FAULT_OUTAGE,
            feeders=["张江 10kV 1号线"],
            starts_at=beijing(2026, 12, 1, 8, 30),
        )
        general = notice_publish(title="春节营业时间调整", kind=NoticeKind.GENERAL)
    index = NoticeIndexPage.objects.get()
    draft = index.add_child(instance=NoticePage(title="草稿公告", live=False))

    everything = client.get("/notices/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    for notice in (by_district, by_feeder, general):
        assert notice.title in everything
    assert draft.title not in everything

    pudong = client.get("/notices/", {"district": "浦东新区"}).content.decode()
    assert by_district.title in pudong and by_feeder.title in pudong
    assert general.title not in pudong
    jingan = client.get("/notices/", {"district": "静安区"}).content.decode()
    assert by_district.title not in jingan and by_feeder.title not in jingan

    faults = client.get("/notices/", {"kind": "fault_outage"}).content.decode()
    assert by_feeder.title in faults and by_district.title not in faults

    page = client.get(by_district.url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "2026-12-10 08:00" in page and "线路检修" in page and "Planned outage" in page


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({}, "districts", "Name the districts or the feeders the outage cuts off."),
        ({"districts": ["浦东新区"]}, "starts_at", "Give the time the outage starts."),
        (
            {"districts": ["浦东新区"], "starts_at": beijing(2026, 12, 20, 8, 0)},
            "ends_at",
            "Give the time supply is planned to be back.",
        ),
        (
            {
                "districts": ["浦东新区"],
                "starts_at": beijing(2026, 12, 20, 8, 0),
                "ends_at": beijing(2026, 12, 20, 7, 0),
            },
            "ends_at",
            "The end must come after the start.",
        ),
    ],
)
def test_an_outage_must_say_where_and_when(fields, field, message):
    with time_machine.travel(beijing(2026, 12, 1, 9, 0), tick=False):
        notice = NoticePage(title="停电", kind=NoticeKind.PLANNED_OUTAGE, slug="x", **fields)
        with pytest.raises(ValidationError) as refused:
            notice.clean()
    assert refused.value.message_dict[field] == [message]


def test_a_planned_outage_less_than_7_days_ahead_needs_a_reason_and_is_flagged():
    fields = {
        "districts": ["浦东新区"],
        "starts_at": beijing(2026, 12, 7, 8, 0),
        "ends_at": beijing(2026, 12, 7, 12, 0),
    }
    with time_machine.travel(beijing(2026, 12, 1, 9, 0), tick=False):
        late = NoticePage(title="停电", kind=NoticeKind.PLANNED_OUTAGE, slug="late", **fields)
        with pytest.raises(ValidationError) as refused:
            late.clean()
        assert "less than 7 days" in refused.value.message_dict["short_notice_reason"][0]

        notice = notice_publish(
            title="紧急检修", short_notice_reason="设备缺陷须尽快处理", **fields
        )
        on_time = notice_publish(
            title="按期检修",
            **(
                fields
                | {"starts_at": beijing(2026, 12, 8, 9, 1), "ends_at": beijing(2026, 12, 8, 12)}
            ),
        )
    assert (notice.short_notice, on_time.short_notice) == (True, False)
