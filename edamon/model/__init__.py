"""Plain data: records, envelopes, chains, sagas, lag, snapshots. No I/O, no UI."""
