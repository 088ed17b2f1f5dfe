"""Writing a flow to a JSON file from the dashboard (for an incident ticket)."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def export_chain(data: dict[str, Any], correlation_id: str, directory: Path) -> Path:
    """Write a flow's export (`DataSource.export_chain`) to
    `directory/edamon-chain-<id>-<UTC time>.json` and return the path. Raises OSError when it
    can't be written."""
    safe = _UNSAFE.sub("_", correlation_id)[:64] or "flow"
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    path = directory / f"edamon-chain-{safe}-{stamp}.json"
    text = json.dumps(data, indent=2, ensure_ascii=True)  # ASCII: readable anywhere
    path.write_text(text + "\n", encoding="ascii")
    return path
