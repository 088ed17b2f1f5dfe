"""`--attach URL` for the commands that can read from a running `edamon serve` instead of the
cluster: the options, the token, and running a client body with clear errors.

The token: `--token-file` (a service token file with `viewer`/`operator` keys, or a file holding
just the token), else $EDAMON_TOKEN, else the default service token file when it exists
(a service on this machine). Never printed.
"""

from __future__ import annotations

import asyncio
import os
import tomllib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from edamon.cli import EXIT_FAILED, EXIT_USAGE, fail

if TYPE_CHECKING:
    from edamon.client import EdamonClient

F = TypeVar("F", bound=Callable[..., Any])

TOKEN_ENV = "EDAMON_TOKEN"


def attach_options(func: F) -> F:
    """--attach and --token-file."""
    func = click.option(
        "--token-file",
        type=click.Path(path_type=Path, dir_okay=False),
        help=f"Token for --attach (default: ${TOKEN_ENV}, else the local service's token file).",
    )(func)
    func = click.option(
        "--attach",
        metavar="URL",
        help="Ask a running `edamon serve` (http(s)://host:port or unix:/path) instead.",
    )(func)
    return func


def token_for(token_file: Path | None, *, operator: bool) -> str:
    """The token to send (see the module doc); `operator`: prefer the operator's token of a
    service token file. Exits 2 when there is none."""
    if token_file is None and os.environ.get(TOKEN_ENV):
        return os.environ[TOKEN_ENV].strip()
    if token_file is None:
        from edamon.service.auth import default_token_file

        token_file = default_token_file()
        if not token_file.is_file():
            fail(f"--attach needs a token: --token-file FILE or ${TOKEN_ENV}", EXIT_USAGE)
    try:
        text = token_file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read token file {token_file}: {exc}", EXIT_USAGE)
        raise  # unreachable
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        data = {}
    order = ("operator", "viewer") if operator else ("viewer", "operator")
    for role in order:
        value = data.get(role)
        if isinstance(value, str) and value:
            return value
    token = text.strip()
    if not token or "\n" in token or "=" in token:
        fail(f"token file {token_file} holds no token", EXIT_USAGE)
    return token


def run_client(
    url: str, token: str, body: Callable[[EdamonClient], Awaitable[int]], *, verify: bool = True
) -> int:
    """Run `body` with a client of `url`; a client error exits 1 (2 when refused) with its
    message."""
    from edamon.client import ClientError, EdamonClient, Forbidden

    async def main() -> int:
        async with EdamonClient(url, token, verify=verify) as client:
            return await body(client)

    try:
        return asyncio.run(main())
    except Forbidden as exc:
        fail(str(exc), EXIT_USAGE)
    except ClientError as exc:
        fail(str(exc), EXIT_FAILED)
    except KeyboardInterrupt:
        fail("interrupted", EXIT_FAILED)
    raise AssertionError("unreachable")
