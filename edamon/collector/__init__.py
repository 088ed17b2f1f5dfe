"""The engine: tails topics and DLQs, samples lag, rebuilds chains and sagas, owns the state."""
