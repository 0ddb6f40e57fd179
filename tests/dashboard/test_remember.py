"""Remembering a sign-in: only a genuine, current cookie names a kept sign-in (the browser test covers the
round trip through a real browser: a reload and a second tab stay signed in, signing out forgets)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from trellis.dashboard import remember


@pytest.fixture
def kept() -> Any:
    expires = int(time.time()) + 600
    remember._kept["sid-1"] = ("tok-kept-1234567890", float(expires))
    yield f"sid-1.{expires}.{remember._signature('sid-1', expires)}"
    remember._kept.clear()


def _recall(monkeypatch: pytest.MonkeyPatch, cookie: str | None) -> str | None:
    monkeypatch.setattr(remember, "_cookie", lambda: cookie)
    return remember.recall()


def test_a_genuine_cookie_finds_the_kept_token(kept: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert _recall(monkeypatch, kept) == "tok-kept-1234567890"


@pytest.mark.parametrize(
    "tamper",
    [
        lambda c: c[:-1] + ("0" if c[-1] != "0" else "1"),  # another signature
        lambda c: "sid-2." + c.split(".", 1)[1],  # another id under the same signature
        lambda c: c.split(".")[0] + f".{int(time.time()) + 10**6}." + c.split(".")[2],  # a later expiry
        lambda c: "no-dots",
        lambda c: "",
    ],
    ids=["signature", "id", "expiry", "shape", "empty"],
)
def test_a_forged_cookie_names_nobody(kept: str, monkeypatch: pytest.MonkeyPatch, tamper: Any) -> None:
    assert _recall(monkeypatch, tamper(kept)) is None


def test_an_expired_sign_in_is_forgotten(kept: str, monkeypatch: pytest.MonkeyPatch) -> None:
    token, _ = remember._kept["sid-1"]
    remember._kept["sid-1"] = (token, time.time() - 1)

    assert _recall(monkeypatch, kept) is None
    assert "sid-1" not in remember._kept
