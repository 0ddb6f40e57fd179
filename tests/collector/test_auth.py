"""Tokens: every endpoint needs the right scope, bad tokens files stop the collector with one
readable line, open collectors stay on loopback, and tokens never reach the log."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import grpc
import httpx
import pytest
import yaml
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2_grpc import MetricsServiceStub
from pydantic import ValidationError

from tests.collector.otlp_payloads import (
    JSON,
    assert_example_stored,
    example_json,
    example_message,
    metrics_request,
    row_counts,
    to_message,
    unique,
)
from tests.conftest import ROOT, TOKENS, bearer
from trellis.collector.auth import Authenticator, Scope, Token, TokensFile
from trellis.testing import RunningCollector, free_ports, start_collector

pytestmark = pytest.mark.slow

UNKNOWN_TOKEN = "tok-unknown-SECRET-0987654321"


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory, tokens_file: Path) -> Iterator[RunningCollector]:
    """A collector that needs tokens, logging at debug level."""
    running = start_collector(
        tmp_path_factory.mktemp("auth") / "trellis.duckdb",
        "--tokens-file",
        str(tokens_file),
        "--log-level",
        "debug",
        headers=bearer("admin"),
    )
    yield running
    running.stop()


OTLP = ["/v1/metrics", "/v1/logs", "/v1/traces"]
API = ["/api/v1/health", "/api/v1/stats", "/api/v1/query", "/api/v1/snapshot"]
EXAMPLE_OF = {"/v1/metrics": "metrics", "/v1/logs": "logs", "/v1/traces": "trace"}


def call(collector: RunningCollector, path: str, headers: dict[str, str], service: str = "auth") -> httpx.Response:
    """One request to ``path`` as a client would make it."""
    if path in OTLP:
        body = example_json(EXAMPLE_OF[path], service)
        return httpx.post(f"{collector.otlp_http}{path}", content=body, headers={"Content-Type": JSON, **headers})
    url = f"{collector.api}{path}"
    if path == "/api/v1/query":
        return httpx.post(url, json={"sql": "SELECT 42 AS answer"}, headers=headers)
    if path == "/api/v1/snapshot":
        return httpx.post(url, headers=headers, timeout=30)
    return httpx.get(url, headers=headers)


def error_message(path: str, response: httpx.Response) -> str:
    """The refusal's message: ``{"error"}`` from the API, a JSON google.rpc.Status from OTLP."""
    body = response.json()
    if path in OTLP:
        assert set(body) == {"code", "message"}
        assert body["code"] == {401: 16, 403: 7}[response.status_code]
        return str(body["message"])
    assert set(body) == {"error"}
    return str(body["error"])


@pytest.mark.parametrize("path", OTLP + API)
@pytest.mark.parametrize(
    ("authorization", "message"),
    [
        (None, "a bearer token is required"),
        (f"Bearer {UNKNOWN_TOKEN}", "the bearer token is not valid"),
        (TOKENS["admin"][0], "the bearer token is not valid"),
        (f"Basic {TOKENS['admin'][0]}", "the bearer token is not valid"),
        ("Bearer", "the bearer token is not valid"),
    ],
    ids=["none", "unknown", "no-scheme", "basic", "empty"],
)
def test_requests_without_a_valid_token_get_401(
    guarded: RunningCollector, path: str, authorization: str | None, message: str
) -> None:
    before = row_counts(guarded.api, bearer("reader"))

    response = call(guarded, path, {"Authorization": authorization} if authorization else {})

    assert response.status_code == 401
    assert error_message(path, response) == message
    assert row_counts(guarded.api, bearer("reader")) == before


@pytest.mark.parametrize(
    ("path", "holder", "scope"),
    [
        *((p, "reader", "ingest") for p in OTLP),
        *((p, "approver", "ingest") for p in OTLP),
        *((p, "ingester", "read") for p in API),
    ],
)
def test_tokens_without_the_scope_get_403(guarded: RunningCollector, path: str, holder: str, scope: str) -> None:
    before = row_counts(guarded.api, bearer("reader"))

    response = call(guarded, path, bearer(holder))

    assert response.status_code == 403
    assert error_message(path, response) == f"token {holder!r} lacks the {scope!r} scope"
    assert row_counts(guarded.api, bearer("reader")) == before


@pytest.mark.parametrize("holder", ["ingester", "admin"])
@pytest.mark.parametrize("path", OTLP)
def test_ingest_and_admin_tokens_can_export(guarded: RunningCollector, path: str, holder: str) -> None:
    service = unique(holder)

    response = call(guarded, path, bearer(holder), service)

    assert response.status_code == 200, response.text
    assert response.json() == {}
    assert_example_stored(guarded.api, EXAMPLE_OF[path], service, bearer("reader"))


@pytest.mark.parametrize("holder", ["reader", "admin", "approver"])
@pytest.mark.parametrize("path", API)
def test_read_admin_and_approver_tokens_can_read(
    guarded: RunningCollector, tmp_path: Path, path: str, holder: str
) -> None:
    response = call(guarded, path, bearer(holder))

    assert response.status_code == 200, response.text
    if path == "/api/v1/health":
        assert response.json()["status"] == "ok"
    elif path == "/api/v1/stats":
        assert "otel_traces" in response.json()["tables"]
    elif path == "/api/v1/query":
        assert response.json()["rows"] == [[42]]
    else:
        snapshot = tmp_path / "snapshot.duckdb"
        snapshot.write_bytes(response.content)
        with duckdb.connect(str(snapshot), read_only=True) as con:
            tables = {name for (name,) in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        assert {"otel_metrics_sum", "otel_logs", "otel_traces"} <= tables


def test_the_bearer_scheme_is_case_insensitive(guarded: RunningCollector) -> None:
    response = httpx.get(f"{guarded.api}/api/v1/health", headers={"Authorization": f"bearer {TOKENS['reader'][0]}"})

    assert response.status_code == 200


def test_tokens_never_appear_in_the_log(guarded: RunningCollector) -> None:
    secrets = [token for token, _ in TOKENS.values()] + [UNKNOWN_TOKEN]
    attempts = [{}, {"Authorization": f"Bearer {UNKNOWN_TOKEN}"}, {"Authorization": UNKNOWN_TOKEN}]
    attempts += [bearer(name) for name in TOKENS]
    for headers in attempts:
        for path in OTLP + API:
            call(guarded, path, headers)
    half_empty = metrics_request([{"asDouble": 1}, {}], name="half.empty", service_name=unique())
    for name in ("ingester", "reader"):
        response = httpx.post(f"{guarded.otlp_http}/v1/metrics", json=half_empty, headers=bearer(name))
        assert response.status_code in (200, 403)
    with grpc.insecure_channel(guarded.otlp_grpc) as channel:
        stub = MetricsServiceStub(channel)
        for token in secrets:
            with contextlib.suppress(grpc.RpcError):
                stub.Export(example_message("metrics", unique()), metadata=[("authorization", f"Bearer {token}")])

    log = guarded.log()

    assert "rejected 1 metrics items: metric 'half.empty': a data point has no value" in log, log
    for secret in secrets:
        assert secret not in log


SECRET = "tok-do-not-echo-1234567890"
REFUSALS: dict[str, tuple[str | dict[str, object] | None, list[str], dict[str, str], list[str]]] = {
    # id: (tokens file content or None, extra flags, environment, what the error line must say)
    "bad-yaml": ("tokens: [unclosed\n", [], {}, ["not valid YAML"]),
    "missing-token": ({"tokens": [{"name": "ci", "scopes": ["ingest"]}]}, [], {}, ["field tokens.0.token", "required"]),
    "unknown-field": (
        {"tokens": [{"name": "ci", "token": SECRET, "scopes": ["ingest"], "expires": "2030-01-01"}]},
        [],
        {},
        ["field tokens.0.expires", "Extra inputs are not permitted"],
    ),
    "unknown-scope": (
        {"tokens": [{"name": "ci", "token": SECRET, "scopes": ["ingest", "superuser"]}]},
        [],
        {},
        ["field tokens.0.scopes.1", "'ingest', 'read', 'deploy', 'propose', 'admin' or 'approve'"],
    ),
    "unknown-top-level-field": (
        {"tokens": [{"name": "ci", "token": SECRET, "scopes": ["read"]}], "extra": 1},
        [],
        {},
        ["field extra"],
    ),
    "duplicate-names": (
        {
            "tokens": [
                {"name": "ci", "token": SECRET, "scopes": ["read"]},
                {"name": "ci", "token": "tok-another-1234567890", "scopes": ["read"]},
            ]
        },
        [],
        {},
        ["token names must be unique"],
    ),
    "empty-token": (
        {
            "tokens": [
                {"name": "ci", "token": SECRET, "scopes": ["read"]},
                {"name": "ops", "token": "", "scopes": ["admin"]},
            ]
        },
        [],
        {},
        ["tokens[1] (ops)", "the token is empty"],
    ),
    "short-token": (
        {"tokens": [{"name": "ops", "token": "abc123", "scopes": ["admin"]}]},
        [],
        {},
        ["tokens[0] (ops)", "shorter than 16 characters"],
    ),
    "repeated-token": (
        {
            "tokens": [
                {"name": "ci", "token": SECRET, "scopes": ["read"]},
                {"name": "ops", "token": SECRET, "scopes": ["admin"]},
            ]
        },
        [],
        {},
        ["tokens[1] (ops)", "the same token as tokens[0] (ci)"],
    ),
    "token-with-spaces": (
        {"tokens": [{"name": "ops", "token": "tok with spaces 1234567890", "scopes": ["admin"]}]},
        [],
        {},
        ["tokens[0] (ops)", "letters, digits and -._~+/ only"],
    ),
    "missing-file": (None, [], {}, ["cannot read the tokens file"]),
    "host-0.0.0.0": (None, ["--host", "0.0.0.0"], {}, ["refusing to bind 0.0.0.0 without --tokens-file", "loopback"]),
    "host-::": (None, ["--host", "::"], {}, ["refusing to bind :: without --tokens-file", "loopback"]),
    "host-from-env": (None, [], {"TRELLIS_HOST": "0.0.0.0"}, ["refusing to bind 0.0.0.0 without --tokens-file"]),
}


@dataclass
class Refusal:
    tokens: Path | None
    db: Path
    result: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def refusals(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Refusal]:
    """``trellis serve`` run once per case of REFUSALS, all at the same time (each should stop at once)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TRELLIS_")}
    running: dict[str, tuple[Path | None, Path, list[str], subprocess.Popen[str]]] = {}
    for case, (content, flags, env, _) in REFUSALS.items():
        folder = tmp_path_factory.mktemp("refused")
        tokens: Path | None = None
        if content is not None or case == "missing-file":
            tokens = folder / ("nowhere/tokens.yaml" if content is None else "tokens.yaml")
            if content is not None:
                tokens.write_text(content if isinstance(content, str) else yaml.safe_dump(content))
            flags = [*flags, "--tokens-file", str(tokens)]
        ports = [str(port) for port in free_ports(3)]
        command = [
            sys.executable, "-m", "trellis", "serve", "--db", str(folder / "refused.duckdb"),
            "--otlp-grpc-port", ports[0], "--otlp-http-port", ports[1], "--api-port", ports[2], *flags,
        ]  # fmt: skip
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env={**clean, **env}
        )
        running[case] = (tokens, folder / "refused.duckdb", command, process)
    results = {}
    for case, (tokens, db, command, process) in running.items():
        try:
            stdout, stderr = process.communicate(timeout=180)  # 14 start at once: slow on a loaded machine
        except subprocess.TimeoutExpired:
            process.kill()
            stdout, stderr = process.communicate()
        results[case] = Refusal(tokens, db, subprocess.CompletedProcess(command, process.returncode, stdout, stderr))
    return results


@pytest.mark.parametrize("case", REFUSALS)
def test_refused_settings_stop_serve_with_one_error_line_and_no_traceback(
    refusals: dict[str, Refusal], case: str
) -> None:
    refusal, fragments = refusals[case], REFUSALS[case][3]
    result = refusal.result

    assert result.returncode not in (0, None, -9), "the collector started (and was killed)"
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert line.startswith("error: ")
    if refusal.tokens is not None:
        assert line.startswith(f"error: {refusal.tokens}: "), "the error names the tokens file"
    for fragment in fragments:
        assert fragment in line
    assert SECRET not in line
    assert "Trellis collector on" not in result.stdout
    assert not refusal.db.exists()


def _authenticator(token: str = SECRET) -> Authenticator:
    return Authenticator(TokensFile(tokens=[Token(name="ops", token=token, scopes=[Scope.ADMIN])]))  # type: ignore[arg-type]


@pytest.mark.parametrize("space", ["\u00a0", "\u2003", "\u3000", "\x85", "\u200b"])
def test_non_ascii_whitespace_around_a_token_is_part_of_it(space: str) -> None:
    """Only ASCII spaces and tabs are trimmed: a header padded with other spaces names no token."""
    auth = _authenticator()
    assert auth.identify(f"Bearer {space}") is None
    assert auth.identify(f"Bearer {space}{SECRET}") is None
    assert auth.identify(f"Bearer {SECRET}{space}") is None


def test_ascii_spaces_and_tabs_around_a_token_are_trimmed() -> None:
    auth = _authenticator()
    found = auth.identify(f"Bearer  \t{SECRET} \t")
    assert found is not None and found.name == "ops"
    assert auth.identify("Bearer ") is None and auth.identify("Bearer \t ") is None


@pytest.mark.parametrize("token", ["", "short-token-15ch", "\u00a0" * 20])
def test_an_empty_short_or_unprintable_token_is_refused_when_built_in_code(token: str) -> None:
    with pytest.raises(ValidationError, match=r"tokens\[0\] \(ops\)"):
        _authenticator(token[:15] if token.startswith("short") else token)


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_grpc_refuses_a_missing_token_before_reading_the_message(guarded: RunningCollector) -> None:
    """Eight unauthenticated 40 MiB exports at once: each is refused from its metadata, and the
    collector does not take the messages in (it grew by 8 x 40 MiB when it read them first)."""
    padding = "x" * (40 * 1024 * 1024)
    request = metrics_request([{"asDouble": 1.0, "timeUnixNano": "1"}], name="big", service_name=padding)
    message = to_message("metrics", request)
    before = _rss_mib(guarded.process.pid)
    codes: list[grpc.StatusCode] = []

    def send() -> None:
        with grpc.insecure_channel(guarded.otlp_grpc, options=[("grpc.max_send_message_length", -1)]) as channel:
            try:
                MetricsServiceStub(channel).Export(message, timeout=60)
            except grpc.RpcError as exc:
                codes.append(exc.code())

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert codes == [grpc.StatusCode.UNAUTHENTICATED] * 8
    assert _rss_mib(guarded.process.pid) - before < 100
