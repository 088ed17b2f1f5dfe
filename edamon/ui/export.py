"""Writing a flow to a JSON file from the dashboard (for an incident ticket)."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def export_chain(flow: dict[str, Any], correlation_id: str, directory: Path) -> Path:
    """Write `flow` (SafeView.export) to `directory/edamon-chain-<id>-<UTC time>.json` and
    return the path. The file is ASCII: every control or non-ASCII character of a record is
    a JSON escape (`\\u001b`), so the file is safe to `cat`. Raises OSError when it can't be
    written."""
    safe = _UNSAFE.sub("_", correlation_id)[:64] or "flow"
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    path = directory / f"edamon-chain-{safe}-{stamp}.json"
    text = json.dumps(flow, indent=2, ensure_ascii=True)
    path.write_text(text + "\n", encoding="ascii")
    return path
