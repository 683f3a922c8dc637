"""The operator's web pages, served by the notification sink: the local board (panels and
colours shared with the Grafana boards), the runbook page and the sink's own API."""
