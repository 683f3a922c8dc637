"""Prometheus and promtool from Python: child processes, a throwaway server, remote write,
TSDB blocks and ``promtool test rules`` runs. Shared by the backtest, the stack, bench and
tests; knows nothing of transactions."""
