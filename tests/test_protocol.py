"""The agent protocol's messages (ferry.protocol): what both sides build and read."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from ferry.protocol import Completion, Counters, Lease, ProgressReport, RunStatus, UnitOutcome

LEASE = {
    "leaseId": "l-1",
    "expiresAt": "2026-12-08T10:01:00+00:00",
    "leaseSeconds": 60,
    "run": {"name": "r1", "id": "/x/jobRuns/r1", "copyMode": "Mirror"},
    "unit": {"path": "a/b", "recursive": False, "attempt": 2},
    "source": {"address": "/src"},
    "target": {"address": "s3://bucket/p", "env": {"AWS_ACCESS_KEY_ID": "k"}},
}


def test_counters_take_the_twelve_names_and_add_up() -> None:
    counters = Counters.of({"itemsScanned": 3, "bytesTransferred": 10, "itemsDeleted": 9})
    assert counters.named()["itemsScanned"] == 3 and "itemsDeleted" not in counters.named()
    assert len(Counters.names()) == 12
    assert (counters + counters).named()["bytesTransferred"] == 20
    with pytest.raises(ValidationError):
        Counters.of({"itemsFailed": -1})


def test_a_lease_reads_back_what_the_server_writes() -> None:
    lease = Lease.model_validate({**LEASE, "somethingNewer": True})  # unknown fields ignored
    assert lease.run.kind == "Copy" and lease.run.copy_mode == "Mirror"
    assert lease.unit.path == "a/b" and not lease.unit.recursive
    assert lease.upload_limit_schedule.weekly_recurrences == []
    assert Lease.model_validate(lease.wire()) == lease
    # a kind this side does not know still reads, so the agent can refuse it with a reason
    assert (
        Lease.model_validate({**LEASE, "run": {**LEASE["run"], "kind": "Scan"}}).run.kind == "Scan"
    )


def test_messages_refuse_what_no_side_may_send() -> None:
    with pytest.raises(ValidationError):
        ProgressReport.model_validate({"status": "Dancing"})
    with pytest.raises(ValidationError):
        Completion.model_validate({"status": "Running"})  # not a way to end a unit
    with pytest.raises(ValidationError):
        Completion.model_validate({"status": "Failed", "error": {"code": "X", "message": "a\x00"}})
    report = ProgressReport.model_validate({"status": "PausedByBandwidthManagement"})
    assert report.status is RunStatus.PAUSED_BY_BANDWIDTH and report.counters is None
    done = Completion(status=UnitOutcome.SUCCEEDED, subdirs=["a"]).wire()
    assert done["status"] == "Succeeded" and done["subdirs"] == ["a"] and done["scanStatus"] is None
