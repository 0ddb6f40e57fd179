"""API tokens: who may ingest, read, administer and approve.

The tokens file is YAML: ``tokens: [{name, token, scopes: [...]}]``. Without a
tokens file every endpoint is open (and the collector binds loopback only).
Tokens are bearer tokens (RFC 6750: letters, digits and ``-._~+/``, ``=`` at the end), at least
16 characters and each used once; a header's value is trimmed of ASCII spaces and tabs only, then
compared exactly, in constant time. Tokens are never logged.
"""

from __future__ import annotations

import hmac
import re
from enum import StrEnum
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

MIN_TOKEN_LENGTH = 16
"""Shortest token accepted: shorter ones can be guessed."""
_BEARER = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
"""RFC 6750's b64token: what a bearer token may hold."""
_HEADER_SPACE = " \t"
"""What is trimmed around a header's token: ASCII spaces and tabs, nothing else."""


class Scope(StrEnum):
    INGEST = "ingest"
    READ = "read"
    DEPLOY = "deploy"
    """Pipelines: record what a deployment resolved to (bindings), and read."""
    PROPOSE = "propose"
    """Team admins: change the catalog documents their team owns, and read."""
    ADMIN = "admin"
    APPROVE = "approve"


class Token(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, description="Who holds the token; recorded as the actor in the audit log.")
    token: SecretStr = Field(description="The bearer token itself.")
    scopes: list[Scope] = Field(min_length=1, description="What the token may do.")
    groups: list[str] = Field(default_factory=list, description="Approval groups the holder belongs to.")


class TokensFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tokens: list[Token]

    @model_validator(mode="after")
    def _usable_tokens(self) -> TokensFile:
        seen: dict[str, str] = {}
        for index, entry in enumerate(self.tokens):
            where = f"tokens[{index}] ({entry.name})"
            problem = _token_problem(entry.token.get_secret_value())
            if problem:
                raise ValueError(f"{where}: {problem}")
            earlier = seen.setdefault(entry.token.get_secret_value(), where)
            if earlier != where:
                raise ValueError(f"{where}: the same token as {earlier}; give each holder a token of their own")
        return self


def _token_problem(token: str) -> str | None:
    """Why ``token`` cannot be used, or None."""
    if not token:
        return "the token is empty"
    if not _BEARER.fullmatch(token):
        return "a token holds letters, digits and -._~+/ only (= at the end), no spaces"
    if len(token) < MIN_TOKEN_LENGTH:
        return f"the token is shorter than {MIN_TOKEN_LENGTH} characters"
    return None


class TokensFileError(ValueError):
    """The tokens file cannot be read; the message names the file and the field."""


class AuthError(Exception):
    """A request without the right token: status 401 (none or unknown) or 403 (wrong scope)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def read_tokens(path: Path) -> TokensFile:
    """Read and validate a tokens file."""
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise TokensFileError(f"{path}: cannot read the tokens file: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise TokensFileError(f"{path}: not valid YAML: {exc}") from None
    try:
        tokens = TokensFile.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        if not where and "error" in first.get("ctx", {}):
            raise TokensFileError(f"{path}: {first['ctx']['error']}") from None
        raise TokensFileError(f"{path}: {f'field {where}' if where else 'the file'}: {first['msg']}") from None
    names = [t.name for t in tokens.tokens]
    if len(set(names)) != len(names):
        raise TokensFileError(f"{path}: token names must be unique")
    return tokens


class Authenticator:
    """Checks bearer tokens against the tokens file; open when there is none."""

    def __init__(self, tokens: TokensFile | None) -> None:
        self._tokens = tokens.tokens if tokens else None

    @property
    def enabled(self) -> bool:
        return self._tokens is not None

    def groups(self) -> dict[str, set[str]]:
        """Approval groups and the token names in each."""
        members: dict[str, set[str]] = {}
        for token in self._tokens or []:
            for group in token.groups:
                members.setdefault(group, set()).add(token.name)
        return members

    def holders(self, scope: Scope) -> set[str] | None:
        """The names of the tokens granted ``scope``; None when there is no tokens file (nobody is identified)."""
        if self._tokens is None:
            return None
        return {token.name for token in self._tokens if grants(token.scopes, scope)}

    def identify(self, authorization: str | None) -> Token | None:
        """The token an Authorization header names, or None."""
        if not authorization or self._tokens is None:
            return None
        scheme, _, value = authorization.partition(" ")
        value = value.strip(_HEADER_SPACE)
        if scheme.lower() != "bearer" or not value:
            return None
        given = value.encode()
        for token in self._tokens:
            if hmac.compare_digest(given, token.token.get_secret_value().encode()):
                return token
        return None

    def require(self, authorization: str | None, scope: Scope) -> str | None:
        """The caller's name if it may use ``scope``; raises AuthError otherwise."""
        if self._tokens is None:
            return None
        token = self.identify(authorization)
        if token is None:
            missing = not authorization
            raise AuthError(401, "a bearer token is required" if missing else "the bearer token is not valid")
        if not grants(token.scopes, scope):
            raise AuthError(403, f"token {token.name!r} lacks the {scope.value!r} scope")
        return token.name


_IMPLIES = {
    Scope.ADMIN: (Scope.READ, Scope.INGEST, Scope.DEPLOY, Scope.PROPOSE),
    Scope.DEPLOY: (Scope.READ,),
    Scope.PROPOSE: (Scope.READ,),
}
"""Admin includes reading, ingesting, deploying and proposing; deploying and proposing include reading;
approving is always a scope of its own."""


def grants(scopes: list[Scope], wanted: Scope) -> bool:
    return wanted in scopes or any(wanted in _IMPLIES.get(scope, ()) for scope in scopes)


__all__ = [
    "MIN_TOKEN_LENGTH",
    "AuthError",
    "Authenticator",
    "Scope",
    "Token",
    "TokensFile",
    "TokensFileError",
    "grants",
    "read_tokens",
]
