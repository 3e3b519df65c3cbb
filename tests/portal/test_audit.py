"""The project-wide audit log: what a row records, the HMAC chain, the append-only triggers, the
verify and publish commands, and the read-only viewer in the Wagtail admin.

Runs on SQLite and on PostgreSQL (DATABASE_URL=postgres://...). The test suite unlocks the
triggers for its flushes (tests/conftest.py); tests about refusal re-lock them with
audit_protection_enforced(). Tampering is done the way an attacker with database access would:
raw SQL, after dropping the triggers.
"""

import hashlib
import io
import json
import logging
import threading
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, connections, transaction

from portal.core import clock, request_context
from portal.core.audit import (
    GENESIS_MAC,
    audit_chain_verify,
    audit_events_by,
    audit_record,
    compute_mac,
    key_id_for,
)
from portal.core.audit_db import audit_protection_enforced, audit_triggers
from portal.models import AuditChainHead, AuditEvent, AuditLogIsAppendOnly
from tests.factories import StaffUserFactory, UserFactory, totp_enrol

pytestmark = pytest.mark.django_db

IS_POSTGRESQL = connection.vendor == "postgresql"


# --- Helpers ------------------------------------------------------------------------------------


@pytest.fixture
def in_request():
    """Run code as if inside a request that went through RequestContextMiddleware."""
    token = request_context.activate(
        request_context.RequestContext(
            request_id="req-0123456789", ip="203.0.113.7", user_agent="Mozilla/5.0 (test)"
        )
    )
    yield
    request_context.deactivate(token)


def record_many(count: int, action: str = "test.event") -> list[AuditEvent]:
    return [audit_record(action=action, data={"n": n}) for n in range(count)]


def verify(*args) -> str:
    """Run audit_verify; return what it printed, or raise the CommandError the shell shows."""
    out = io.StringIO()
    call_command("audit_verify", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def drop_audit_triggers():
    """What an attacker with database access does first."""
    with connection.cursor() as cursor:
        for name in audit_triggers():
            if IS_POSTGRESQL:
                cursor.execute(f'DROP TRIGGER "{name}" ON portal_auditevent')
            else:
                cursor.execute(f'DROP TRIGGER "{name}"')


def raw(sql: str, params=()):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


# --- What a row records -------------------------------------------------------------------------


def test_event_records_actor_role_object_data_and_request_context(in_request, settings):
    user = UserFactory()

    event = audit_record(
        action="bill.paid",
        actor=user,
        obj=user,
        data={
            "amount": Decimal("128.30"),
            "currency": "CNY",
            "when": datetime(2026, 11, 1, tzinfo=UTC),
        },
    )

    event = AuditEvent.objects.get(seq=event.seq)
    assert event.actor_id == user.pk
    assert event.actor_role == "customer"
    assert event.action == "bill.paid"
    assert event.object_ref == f"portal.user:{user.uuid}"
    assert (event.ip, event.user_agent, event.request_id) == (
        "203.0.113.7",
        "Mozilla/5.0 (test)",
        "req-0123456789",
    )
    # Canonical JSON: sorted keys, no spaces, the Decimal as its exact string.
    assert event.data == '{"amount":"128.30","currency":"CNY","when":"2026-11-01T00:00:00Z"}'
    assert json.loads(event.data)["amount"] == "128.30"
    assert event.key_id == key_id_for(settings.AUDIT_KEY)


def test_event_holds_no_name_or_contact_data_of_the_actor():
    user = UserFactory(name="张三", phone="+8613900000001")

    event = audit_record(action="user.phone_changed", actor=user, obj=user)

    row = " ".join(str(v) for v in AuditEvent.objects.filter(seq=event.seq).values().get().values())
    for personal in (user.name, user.email, user.phone):
        assert personal not in row


def test_event_without_actor_or_request_is_recorded_as_the_system():
    event = audit_record(action="bills.generated", obj="billing-run:2026-11")

    assert event.actor_id is None
    assert event.actor_role == "system"
    assert event.object_ref == "billing-run:2026-11"
    assert (event.ip, event.user_agent, event.request_id) == ("", "", "")
    assert event.data == "{}"


def test_role_label_comes_from_the_user_unless_the_caller_names_one():
    staff = StaffUserFactory()

    assert audit_record(action="x.y", actor=staff).actor_role == "staff"
    assert audit_record(action="x.y", actor=staff, actor_role="service_staff").actor_role == (
        "service_staff"
    )


def test_object_without_uuid_is_referenced_by_primary_key():
    group = Group.objects.create(name="Service staff")

    assert audit_record(action="x.y", obj=group).object_ref == f"auth.group:{group.pk}"


def test_data_that_is_not_json_is_refused_before_anything_is_written():
    before = AuditEvent.objects.count()

    with pytest.raises((TypeError, ValueError)):
        audit_record(action="x.y", data={"ratio": float("nan")})
    with pytest.raises(TypeError):
        audit_record(action="x.y", data={"thing": object()})

    assert AuditEvent.objects.count() == before


def test_users_own_events_are_listed_for_their_data_export(in_request):
    user, other = UserFactory(), UserFactory()
    audit_record(action="auth.login", actor=user, obj=user)
    audit_record(action="auth.login", actor=other, obj=other)
    audit_record(action="user.password_changed", actor=user, obj=user)

    events = audit_events_by(user=user)

    assert [e["action"] for e in events] == ["auth.login", "user.password_changed"]
    assert set(events[0]) == {"time", "action", "ip", "object"}
    assert events[0]["ip"] == "203.0.113.7"
    assert events[0]["object"] == f"portal.user:{user.uuid}"
    assert datetime.fromisoformat(events[0]["time"]).tzinfo is not None


# --- The chain ----------------------------------------------------------------------------------


def test_each_event_is_chained_to_the_one_before_it():
    first, second, third = record_many(3)

    assert [second.seq, third.seq] == [first.seq + 1, first.seq + 2]
    assert second.prev_mac == first.mac
    assert third.prev_mac == second.mac
    head = AuditChainHead.objects.get()
    assert (head.seq, head.mac) == (third.seq, third.mac)


def test_first_event_of_an_empty_log_is_seq_1_chained_to_the_genesis_value():
    assert not AuditEvent.objects.exists()

    first = audit_record(action="x.first")

    assert (first.seq, first.prev_mac) == (1, GENESIS_MAC)


def test_mac_is_an_hmac_of_the_row_with_the_audit_key_and_a_stored_row_reproduces_it(settings):
    event = audit_record(action="x.y", data={"amount": Decimal("0.10"), "名": "值"})
    stored = AuditEvent.objects.get(seq=event.seq)
    fields = {
        name: getattr(stored, name)
        for name in (
            "seq",
            "occurred_at",
            "actor_id",
            "actor_role",
            "action",
            "object_ref",
            "ip",
            "user_agent",
            "request_id",
            "key_id",
            "data",
            "prev_mac",
        )
    }

    assert compute_mac(key=settings.AUDIT_KEY, **fields) == stored.mac
    # Without the key the MAC cannot be rebuilt: a plain hash or another key gives another value.
    assert compute_mac(key="somebody-elses-key", **fields) != stored.mac


def test_rolled_back_outer_transaction_leaves_no_event_and_no_gap():
    before = audit_record(action="x.before")
    user = UserFactory()

    with pytest.raises(RuntimeError), transaction.atomic():
        user.name = "changed"
        user.save(update_fields=["name"])
        audit_record(action="user.renamed", actor=user, obj=user)
        raise RuntimeError("the business change failed")

    user.refresh_from_db()
    assert user.name != "changed"
    assert not AuditEvent.objects.filter(action="user.renamed").exists()
    after = audit_record(action="x.after")
    assert after.seq == before.seq + 1
    assert after.prev_mac == before.mac
    assert audit_chain_verify().whole


def test_event_commits_with_the_callers_change_inside_an_outer_transaction():
    user = UserFactory()

    with transaction.atomic():
        user.name = "新名字"
        user.save(update_fields=["name"])
        event = audit_record(action="user.renamed", actor=user, obj=user)

    assert AuditEvent.objects.filter(seq=event.seq, action="user.renamed").exists()


def test_a_missing_head_row_is_rebuilt_from_the_last_event():
    # A test-suite flush empties the head table too; appends must carry on from the last row.
    last = record_many(2)[-1]
    raw("DELETE FROM portal_auditchainhead")

    event = audit_record(action="x.after_flush")

    assert (event.seq, event.prev_mac) == (last.seq + 1, last.mac)
    assert audit_chain_verify().whole


# --- Append-only --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE portal_auditevent SET action = 'edited'",
        "UPDATE portal_auditevent SET data = '{}' WHERE seq = %s",
        "DELETE FROM portal_auditevent WHERE seq = %s",
        "DELETE FROM portal_auditevent",
    ],
)
def test_database_refuses_to_change_or_delete_audit_rows(statement):
    event = audit_record(action="x.y", data={"n": 1})
    params = [event.seq] if "%s" in statement else []

    with (
        audit_protection_enforced(),
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
    ):
        raw(statement, params)

    assert AuditEvent.objects.get(seq=event.seq).mac == event.mac


@pytest.mark.skipif(not IS_POSTGRESQL, reason="TRUNCATE exists on PostgreSQL only")
def test_postgresql_refuses_to_truncate_the_audit_table():
    record_many(1)

    with (
        audit_protection_enforced(),
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
    ):
        raw("TRUNCATE portal_auditevent")

    assert AuditEvent.objects.exists()


def test_triggers_are_armed_by_default_and_unlocked_only_for_the_test_suite(settings):
    from portal.settings import base

    assert base.AUDIT_ALLOW_MAINTENANCE is False
    # tests/conftest.py unlocks the test connections so that flushes can empty the table.
    assert settings.AUDIT_ALLOW_MAINTENANCE is True
    record_many(2)

    raw("DELETE FROM portal_auditevent")  # rolled back with the test

    assert not AuditEvent.objects.exists()


def test_orm_refuses_to_change_or_delete_events():
    event = audit_record(action="x.y")

    with pytest.raises(AuditLogIsAppendOnly):
        event.save()
    with pytest.raises(AuditLogIsAppendOnly):
        event.delete()
    with pytest.raises(AuditLogIsAppendOnly):
        AuditEvent.objects.filter(seq=event.seq).update(action="edited")
    with pytest.raises(AuditLogIsAppendOnly):
        AuditEvent.objects.all().delete()


def test_migration_installs_the_append_only_triggers():
    expected = (
        ["portal_auditevent_no_truncate", "portal_auditevent_no_update_delete"]
        if IS_POSTGRESQL
        else ["portal_auditevent_no_delete", "portal_auditevent_no_update"]
    )
    assert audit_triggers() == expected


# --- audit_verify -------------------------------------------------------------------------------


def test_verify_passes_on_a_whole_chain_and_prints_count_and_head():
    events = record_many(5)
    last = events[-1]

    output = verify("--chunk-size", "2")  # several round trips, as on a long log

    assert f"{last.seq} events" in output
    assert f"head {last.seq}:{last.mac}" in output
    assert verify("--head", f"{events[1].seq}:{events[1].mac}")


def test_verify_names_a_row_edited_with_raw_sql_after_the_triggers_were_dropped():
    events = record_many(5)
    target = events[2]

    with audit_protection_enforced():
        drop_audit_triggers()
        raw(
            "UPDATE portal_auditevent SET data = %s WHERE seq = %s",
            ['{"n":999}', target.seq],
        )

    with pytest.raises(CommandError, match=rf"seq {target.seq}: MAC does not match.*edited") as e:
        verify()
    assert e.value.returncode == 3  # done, and a person must look (docs/operations.md)


def test_verify_warns_when_the_triggers_are_missing():
    record_many(1)
    drop_audit_triggers()
    errors = io.StringIO()

    call_command("audit_verify", stdout=io.StringIO(), stderr=errors)

    assert "triggers missing" in errors.getvalue()


def test_verify_names_the_gap_left_by_a_row_deleted_in_the_middle():
    events = record_many(5)
    target = events[2]

    with audit_protection_enforced():
        drop_audit_triggers()
        raw("DELETE FROM portal_auditevent WHERE seq = %s", [target.seq])

    with pytest.raises(CommandError, match=rf"at seq {target.seq}: row missing"):
        verify()


def test_verify_with_a_published_head_catches_a_row_removed_from_the_end():
    events = record_many(4)
    published = f"{events[-1].seq}:{events[-1].mac}"
    survivor = events[-2]

    with audit_protection_enforced():
        drop_audit_triggers()
        raw("DELETE FROM portal_auditevent WHERE seq = %s", [events[-1].seq])
        # A careful attacker also winds the head row back, so the remaining chain looks whole.
        raw(
            "UPDATE portal_auditchainhead SET seq = %s, mac = %s",
            [survivor.seq, survivor.mac],
        )

    assert f"head {survivor.seq}:{survivor.mac}" in verify()
    with pytest.raises(CommandError, match=rf"at seq {events[-1].seq}: row missing.*end"):
        verify("--head", published)


def test_verify_catches_a_row_removed_from_the_end_when_the_head_row_was_left_alone():
    events = record_many(3)

    with audit_protection_enforced():
        drop_audit_triggers()
        raw("DELETE FROM portal_auditevent WHERE seq = %s", [events[-1].seq])

    with pytest.raises(CommandError, match=rf"at seq {events[-1].seq}: row missing"):
        verify()


def test_verify_catches_a_row_inserted_with_a_forged_mac():
    last = record_many(3)[-1]
    forged_seq = last.seq + 1
    occurred_at = datetime.now(UTC)
    # Everything an attacker can see is right (key id, prev_mac, seq); only the key is missing.
    forged_mac = hashlib.sha256(f"{forged_seq}{last.mac}".encode()).hexdigest()
    raw(
        "INSERT INTO portal_auditevent (seq, occurred_at, actor_id, actor_role, action, "
        "object_ref, ip, user_agent, request_id, data, key_id, prev_mac, mac) "
        "VALUES (%s, %s, NULL, 'system', 'refund.approved', '', '', '', '', '{}', %s, %s, %s)",
        [forged_seq, occurred_at, last.key_id, last.mac, forged_mac],
    )
    raw("UPDATE portal_auditchainhead SET seq = %s, mac = %s", [forged_seq, forged_mac])

    with pytest.raises(CommandError, match=rf"seq {forged_seq}: MAC does not match"):
        verify()


def test_verify_refuses_a_head_that_the_log_does_not_contain():
    events = record_many(2)

    with pytest.raises(CommandError, match=rf"seq {events[0].seq}: MAC differs"):
        verify("--head", f"{events[0].seq}:{'a' * 64}")
    with pytest.raises(CommandError, match="SEQ:MAC") as refused:
        verify("--head", "not-a-head")
    assert refused.value.returncode == 2  # could not run


def test_rotated_key_still_verifies_old_rows_when_kept_as_a_previous_key(settings):
    old = record_many(2)
    old_key = settings.AUDIT_KEY
    settings.AUDIT_KEY = "a-new-audit-key-after-rotation-0123456789"
    new = audit_record(action="x.after_rotation")

    assert new.key_id != old[0].key_id
    assert new.prev_mac == old[-1].mac
    with pytest.raises(CommandError, match="unknown key"):
        verify()

    settings.AUDIT_PREVIOUS_KEYS = [old_key]
    assert f"head {new.seq}:{new.mac}" in verify()


# --- audit_publish_head -------------------------------------------------------------------------


def test_publish_head_prints_and_logs_the_current_head(caplog):
    last = record_many(2)[-1]
    out = io.StringIO()

    with caplog.at_level(logging.INFO, logger="powerhall.audit"):
        call_command("audit_publish_head", stdout=out)

    printed = out.getvalue()
    assert printed.startswith(f"{last.seq}:{last.mac} ")
    datetime.fromisoformat(printed.split()[1])
    assert any(
        r.name == "powerhall.audit" and f"{last.seq}:{last.mac}" in r.getMessage()
        for r in caplog.records
    )


# --- Concurrency (PostgreSQL: SQLite lets one writer in at a time anyway) -----------------------


@pytest.mark.skipif(not IS_POSTGRESQL, reason="row locks only matter on PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_concurrent_appends_form_one_contiguous_verifiable_chain():
    threads_count, per_thread = 8, 15
    total = threads_count * per_thread
    start = threading.Barrier(threads_count)
    errors = []

    def append(worker: int):
        try:
            start.wait()
            for n in range(per_thread):
                # Half inside a caller's transaction with a business write before the audit row,
                # half on their own, as views and receivers do.
                if n % 2:
                    with transaction.atomic():
                        Group.objects.create(name=f"worker-{worker}-{n}")
                        audit_record(action="test.concurrent", data={"w": worker, "n": n})
                else:
                    audit_record(action="test.concurrent", data={"w": worker, "n": n})
        except Exception as error:  # noqa: BLE001  (reported to the main thread)
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=append, args=(w,)) for w in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    seqs = list(AuditEvent.objects.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))
    assert AuditEvent.objects.filter(action="test.concurrent").count() == total
    report = audit_chain_verify()
    assert report.whole, report.broken
    assert report.count == len(seqs)


# --- The read-only viewer in the Wagtail admin --------------------------------------------------


@pytest.fixture
def superuser_client(client):
    admin = StaffUserFactory(is_superuser=True)
    totp_enrol(admin)
    client.force_login(admin)
    return client


def test_superuser_lists_filters_and_opens_audit_events(superuser_client):
    paid = audit_record(action="bill.paid", data={"amount": Decimal("88.00")})
    audit_record(action="application.submitted")

    listing = superuser_client.get("/cms-admin/audit-log/")
    assert listing.status_code == 200
    assert b"bill.paid" in listing.content and b"application.submitted" in listing.content

    by_action = superuser_client.get("/cms-admin/audit-log/", {"action": "bill."})
    assert b"bill.paid" in by_action.content
    assert b"application.submitted" not in by_action.content

    today = clock.localtime(paid.occurred_at).date().isoformat()
    by_date = superuser_client.get(
        "/cms-admin/audit-log/", {"occurred_at_from": today, "occurred_at_to": today}
    )
    assert b"bill.paid" in by_date.content
    another_day = superuser_client.get(
        "/cms-admin/audit-log/",
        {"occurred_at_from": "2000-01-01", "occurred_at_to": "2000-01-02"},
    )
    assert b"bill.paid" not in another_day.content

    detail = superuser_client.get(f"/cms-admin/audit-log/inspect/{paid.seq}/")
    assert detail.status_code == 200
    assert paid.mac.encode() in detail.content
    assert b"88.00" in detail.content
    assert b"/edit/" not in detail.content and b"/delete/" not in detail.content


def test_audit_viewer_offers_no_way_to_create_edit_or_delete(superuser_client):
    event = audit_record(action="bill.paid")

    for url in (
        "/cms-admin/audit-log/new/",
        f"/cms-admin/audit-log/edit/{event.seq}/",
        f"/cms-admin/audit-log/delete/{event.seq}/",
        f"/cms-admin/audit-log/copy/{event.seq}/",
    ):
        assert superuser_client.get(url).status_code == 404, url
        assert superuser_client.post(url).status_code == 404, url
    assert AuditEvent.objects.get(seq=event.seq).mac == event.mac


def test_staff_see_the_audit_log_only_with_the_view_permission(client):
    staff = StaffUserFactory()
    totp_enrol(staff)
    group = Group.objects.create(name="Auditors")
    group.permissions.add(
        Permission.objects.get(content_type__app_label="wagtailadmin", codename="access_admin")
    )
    staff.groups.add(group)
    client.force_login(staff)

    assert client.get("/cms-admin/audit-log/").status_code in (302, 403)

    group.permissions.add(Permission.objects.get(codename="view_auditevent"))
    staff = type(staff).objects.get(pk=staff.pk)  # drop the cached permissions
    client.force_login(staff)
    assert client.get("/cms-admin/audit-log/").status_code == 200


def test_customers_cannot_reach_the_audit_log(client):
    audit_record(action="bill.paid")
    client.force_login(UserFactory())

    response = client.get("/cms-admin/audit-log/")

    assert response.status_code in (302, 403)
    assert b"bill.paid" not in response.content
