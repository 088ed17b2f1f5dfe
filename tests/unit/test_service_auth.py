"""Tokens and roles of the service: constant-time role lookup, the token file's creation and
checks, the environment's precedence. No secrets in reprs or messages."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from pydantic import SecretStr

from edamon.config import ServiceSettings
from edamon.service.auth import TokenError, Tokens, load_tokens, read_token_file

VIEWER = "viewer-token-0123456789abcdef"
OPERATOR = "operator-token-0123456789abcdef"


class TestRoles:
    tokens = Tokens(VIEWER, OPERATOR, source="test")

    @pytest.mark.parametrize(
        ("header", "role"),
        [
            (f"Bearer {VIEWER}", "viewer"),
            (f"bearer {OPERATOR}", "operator"),
            (f"Bearer  {OPERATOR} ", "operator"),
            (f"Bearer {VIEWER}x", None),
            (f"Bearer {VIEWER[:-1]}", None),
            (f"Basic {VIEWER}", None),
            ("Bearer ", None),
            ("", None),
            (None, None),
            ("Bearer \udcff", None),
        ],
    )
    def test_role_of(self, header: str | None, role: str | None) -> None:
        assert self.tokens.role_of(header) == role

    def test_a_missing_role_matches_no_empty_token(self) -> None:
        only_viewer = Tokens(VIEWER, None)
        assert only_viewer.role_of("Bearer ") is None
        assert only_viewer.role_of(f"Bearer {OPERATOR}") is None

    def test_repr_shows_no_token(self) -> None:
        assert VIEWER not in repr(self.tokens) and OPERATOR not in repr(self.tokens)


class TestTokenFile:
    def test_created_private_with_fresh_tokens_then_reused(self, tmp_path: Path) -> None:
        path = tmp_path / "sub" / "tokens.toml"
        first = load_tokens(ServiceSettings(token_file=path))
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert first.viewer and first.operator and first.viewer != first.operator
        assert len(first.viewer) >= 40
        again = load_tokens(ServiceSettings(token_file=path))
        assert (again.viewer, again.operator) == (first.viewer, first.operator)
        other = load_tokens(ServiceSettings(token_file=tmp_path / "other.toml"))
        assert other.viewer != first.viewer

    def test_a_file_others_can_read_is_refused(self, tmp_path: Path) -> None:
        path = tmp_path / "tokens.toml"
        path.write_text(f'viewer = "{VIEWER}"\n')
        path.chmod(0o644)
        with pytest.raises(TokenError, match="chmod 600") as caught:
            read_token_file(path)
        assert VIEWER not in str(caught.value)

    @pytest.mark.parametrize(
        "text", ['viewer = "short"\n', 'admin = "x"\n', "viewer = [\n", "# nothing\n"]
    )
    def test_bad_files(self, tmp_path: Path, text: str) -> None:
        path = tmp_path / "tokens.toml"
        path.write_text(text)
        path.chmod(0o600)
        with pytest.raises(TokenError):
            read_token_file(path)

    def test_the_environment_wins_and_no_file_is_made(self, tmp_path: Path) -> None:
        path = tmp_path / "tokens.toml"
        settings = ServiceSettings(token_file=path, operator_token=SecretStr(OPERATOR))
        tokens = load_tokens(settings)
        assert (tokens.viewer, tokens.operator, tokens.source) == (None, OPERATOR, "environment")
        assert not path.exists()
