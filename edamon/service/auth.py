"""Access tokens and roles: `viewer` reads, `operator` also retries.

Tokens come from the environment (EDAMON_SERVICE__VIEWER_TOKEN / __OPERATOR_TOKEN, through
settings) or from a token file (TOML, mode 0600) created with fresh random tokens when missing.
They are compared in constant time and never logged, printed or put in an error message.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from edamon.config import ServiceSettings
from edamon.model.api import ROLE_OPERATOR, ROLE_VIEWER

TOKEN_BYTES = 32
"""Random bytes in a generated token (43 URL-safe characters)."""


class TokenError(Exception):
    """The tokens cannot be had (unreadable or unsafe file); the message names the file only."""


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


@dataclass(frozen=True)
class Tokens:
    """The token of each role (None: nobody has that role)."""

    viewer: str | None
    operator: str | None
    source: str = field(default="", compare=False)
    """Where they came from, for people: the file's path or `environment`. Never a token."""

    def __repr__(self) -> str:  # never show a token, even in a traceback
        return f"Tokens(source={self.source!r})"

    def role_of(self, authorization: str | None) -> str | None:
        """The role of an `Authorization: Bearer <token>` header, or None. Compares against
        every role's token in constant time, whatever matches."""
        if not authorization:
            return None
        scheme, _, given = authorization.partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            return None
        # digests first: equal lengths, so not even a token's length shows in the timing
        presented = _digest(given.strip().encode("utf-8", "surrogateescape"))
        role: str | None = None
        for name, token in ((ROLE_OPERATOR, self.operator), (ROLE_VIEWER, self.viewer)):
            expected = _digest((token or "").encode("utf-8"))
            if hmac.compare_digest(presented, expected) and token and role is None:
                role = name
        return role


def _digest(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def default_token_file() -> Path:
    xdg = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return xdg / "edamon" / "service-tokens.toml"


def load_tokens(settings: ServiceSettings) -> Tokens:
    """The tokens from settings (environment) when any is set, else from the token file,
    created with new random tokens when missing. Raises TokenError."""
    viewer = settings.viewer_token.get_secret_value() if settings.viewer_token else None
    operator = settings.operator_token.get_secret_value() if settings.operator_token else None
    if viewer or operator:
        return Tokens(viewer or None, operator or None, source="environment")
    path = settings.token_file or default_token_file()
    if not path.exists():
        write_token_file(path, Tokens(new_token(), new_token()))
    return read_token_file(path)


def write_token_file(path: Path, tokens: Tokens) -> None:
    """Write `tokens` to a new file readable by its owner only (0600)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    lines = [
        "# edamon serve: access tokens (keep this file private). Send one as",
        "# `Authorization: Bearer <token>`; the viewer reads, the operator also retries.",
    ]
    for name, token in ((ROLE_VIEWER, tokens.viewer), (ROLE_OPERATOR, tokens.operator)):
        if token:
            lines.append(f'{name} = "{token}"')
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")
    except OSError as exc:
        raise TokenError(f"cannot create token file {path}: {exc.strerror or exc}") from None


def read_token_file(path: Path) -> Tokens:
    """The tokens in `path`; refuses a file others may read or write."""
    try:
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise TokenError(
                f"token file {path} is readable or writable by others "
                f"(mode {stat.S_IMODE(mode):04o}): chmod 600 it"
            )
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise TokenError(f"cannot read token file {path}: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError):
        raise TokenError(f"token file {path} is not valid TOML") from None
    unknown = sorted(set(data) - {ROLE_VIEWER, ROLE_OPERATOR})
    if unknown:
        raise TokenError(f"token file {path}: unknown keys {', '.join(unknown)}")
    found: dict[str, str | None] = {}
    for name in (ROLE_VIEWER, ROLE_OPERATOR):
        value = data.get(name)
        if value is not None and (not isinstance(value, str) or len(value) < 16):
            raise TokenError(f"token file {path}: {name} must be a string of 16+ characters")
        found[name] = value
    if not found[ROLE_VIEWER] and not found[ROLE_OPERATOR]:
        raise TokenError(f"token file {path} holds no token")
    return Tokens(found[ROLE_VIEWER], found[ROLE_OPERATOR], source=str(path))
