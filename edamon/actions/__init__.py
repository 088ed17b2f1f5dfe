"""Things that change the world: DLQ redrive, behind one door (`redrive.Redriver`).

- `scan`: read dead letters from the broker (whole DLQ topics, or single records by address);
- `filters`: select dead letters (DLQ topic, original topic, group, exception, time);
- `plan`: the plan shown before a redrive and the summary after it (pure data);
- `redrive`: `Redriver.plan()` / `Redriver.execute()`;
- `headers`: which headers a redriven record keeps, and the retry trail it gets;
- `ledger`: every attempt, in a compacted topic, signed (`LedgerSigner`: readers ignore what
  edamon did not write); `decode_ledger_record` for readers;
- `ratelimit`: the bulk retry rate limit;
- `report`: plain-data views of dead letters for JSON and text output.

Importing this package imports none of them (no side effects, nothing heavy).
"""
