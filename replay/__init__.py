"""The replay client and the ``txwatch-replay`` command: push history to the exporter in time
order; the command also fronts generate, backfill, backtest and analyze."""
