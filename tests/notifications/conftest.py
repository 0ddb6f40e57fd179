"""Real receivers for the notifications' tests: a local SMTP server (aiosmtpd) and a local HTTP server that
records what it is sent and can answer 500 to the first requests."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from trellis.testing import free_port

HOOK_SECRET = "notify-signing-secret-0123"


@pytest.fixture(autouse=True)
def hook_secret(monkeypatch: pytest.MonkeyPatch) -> str:
    """The generic webhook channel's signing secret, in the variable the notifications files name."""
    monkeypatch.setenv("NOTIFY_HOOK_SECRET", HOOK_SECRET)
    return HOOK_SECRET


@dataclass
class Received:
    """One HTTP request the receiver got."""

    path: str
    headers: dict[str, str]
    body: bytes
    status: int


@dataclass
class HttpReceiver:
    """A threaded ``http.server`` on a free port; ``fail_first[path]`` requests to a path get 500."""

    server: ThreadingHTTPServer
    fail_first: dict[str, int] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def answer(self, path: str) -> int:
        with self.lock:
            failed = sum(1 for r in self.received if r.path == path and r.status == 500)
            return 500 if failed < self.fail_first.get(path, 0) else 200

    def at(self, path: str, status: int | None = None) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.path == path and (status is None or r.status == status)]


def _handler(receiver: HttpReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            status = receiver.answer(self.path)
            with receiver.lock:
                receiver.received.append(Received(self.path, dict(self.headers), body, status))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def http_receiver() -> Iterator[HttpReceiver]:
    receiver = HttpReceiver(ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler))
    receiver.server.RequestHandlerClass = _handler(receiver)
    thread = threading.Thread(target=receiver.server.serve_forever, daemon=True)
    thread.start()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


class Mailbox:
    """What the SMTP server accepted: (envelope recipients, the parsed message)."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], Message]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((list(envelope.rcpt_tos), message_from_bytes(envelope.content)))
        return "250 Message accepted for delivery"


SMTP_LOGIN = ("trellis", "smtp-password-0123")


@dataclass
class SmtpServer:
    port: int
    mailbox: Mailbox
    logins: list[tuple[str, str]] = field(default_factory=list)

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        """Accept only SMTP_LOGIN, and remember every login tried."""
        tried = (auth_data.login.decode(), auth_data.password.decode())
        self.logins.append(tried)
        return AuthResult(success=tried == SMTP_LOGIN)


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A local SMTP server; a client that logs in must give SMTP_LOGIN (no TLS: it is local)."""
    server = SmtpServer(free_port(), Mailbox())
    controller = Controller(
        server.mailbox, hostname="127.0.0.1", port=server.port, authenticator=server.authenticate,
        auth_require_tls=False,
    )  # fmt: skip
    controller.start()
    yield server
    controller.stop()


def wait_for(found: Callable[[], Any], timeout: float = 30, what: str = "it") -> Any:
    """Poll until ``found()`` is truthy; fail the test naming ``what`` otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = found()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"{what} did not happen within {timeout:g} s")
