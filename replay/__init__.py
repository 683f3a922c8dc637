"""txwatch replay: push history, generate demo data, backfill and backtest the rules."""
