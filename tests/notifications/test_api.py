"""trellis/notifications/api.py in a running collector: a restart neither repeats nor loses a notification,
the listing's errors, and a wrong notifications file stops the collector with one line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from tests.dashboard.scenario import bearer
from tests.notifications.conftest import HttpReceiver, SmtpServer, wait_for
from tests.notifications.test_service import fill_catalog, listed, propose_redis, start, write_rules
from trellis.testing import finish, trellis


def test_a_notification_pending_at_a_stop_is_sent_after_the_restart_and_nothing_repeats(
    make_collector: Any, tmp_path: Path, http_receiver: HttpReceiver, smtp_server: SmtpServer
) -> None:
    rules = [{"name": "approvals", "on": "approval.requested", "channels": ["hook"]}]
    rules_file = write_rules(tmp_path / "n.yaml", http_receiver, smtp_server, rules, max_attempts=20)
    http_receiver.fail_first["/hook"] = 10_000
    collector = start(make_collector, tmp_path, rules_file)
    fill_catalog(collector)
    propose_redis(collector)
    wait_for(lambda: http_receiver.at("/hook", 500), what="a failed attempt")
    assert collector.stop() == 0
    [row] = listed_file(tmp_path)
    assert row["status"] == "pending" and row["last_error"] == "the receiver answered HTTP 500"

    http_receiver.fail_first["/hook"] = 0
    again = start(make_collector, tmp_path, rules_file)
    wait_for(lambda: http_receiver.at("/hook", 200), what="the delivery after the restart")
    wait_for(lambda: listed(again)[0]["status"] == "sent", what="the row marked sent")
    assert len(listed(again)) == 1 and len(http_receiver.at("/hook", 200)) == 1


def listed_file(tmp_path: Path) -> list[dict[str, Any]]:
    """The notifications table of the stopped collector's database file, read-only."""
    import duckdb

    with duckdb.connect(str(tmp_path / "trellis.duckdb"), read_only=True) as con:
        cursor = con.execute("SELECT status, attempts, last_error FROM notifications")
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def test_the_listing_refuses_a_limit_out_of_range(
    make_collector: Any, tmp_path: Path, http_receiver: HttpReceiver, smtp_server: SmtpServer
) -> None:
    rules_file = write_rules(tmp_path / "n.yaml", http_receiver, smtp_server, [])
    collector = start(make_collector, tmp_path, rules_file)
    for limit in ("0", "501", "ten"):
        response = httpx.get(f"{collector.api}/api/v1/notifications?limit={limit}", headers=bearer("reader"))
        assert response.status_code == 400 and "limit must be a whole number from 1 to 500" in response.text
    answer = httpx.get(f"{collector.api}/api/v1/notifications", headers=bearer("reader")).json()
    assert answer == {"configured": True, "notifications": []}
    assert httpx.get(f"{collector.api}/api/v1/notifications").status_code == 401


def test_a_wrong_notifications_file_stops_serve_with_one_line(tmp_path: Path) -> None:
    path = tmp_path / "n.yaml"
    path.write_text("channels: {}\nrules:\n  - {name: a, on: gate.denied, channels: [nowhere]}\n")
    code, _, err = finish(trellis("serve", "--db", str(tmp_path / "t.duckdb"), "--notifications-file", str(path)))
    assert code == 1 and "Traceback" not in err
    assert err.strip() == f"error: {path}: field rules.0.channels: channel 'nowhere' is not defined under channels"
