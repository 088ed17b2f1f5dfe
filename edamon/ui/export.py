"""Writing a flow to a JSON file from the dashboard (for an incident ticket)."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

from edamon.collector.api import CollectorView
from edamon.collector.jsonout import chain_export
from edamon.model.snapshot import ChainView

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def export_chain(view: CollectorView, chain: ChainView, directory: Path) -> Path:
    """Write `chain` to `directory/edamon-chain-<id>-<UTC time>.json` and return the path.
    Raises OSError when it can't be written."""
    safe = _UNSAFE.sub("_", chain.summary.correlation_id)[:64] or "flow"
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    path = directory / f"edamon-chain-{safe}-{stamp}.json"
    text = json.dumps(chain_export(view, chain), indent=2)  # ASCII: readable anywhere
    path.write_text(text + "\n", encoding="ascii")
    return path
