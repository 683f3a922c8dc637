"""The backtest engine: what a rule set would have done on a history, evaluated by Prometheus
itself, scored against labelled incidents and charted."""
