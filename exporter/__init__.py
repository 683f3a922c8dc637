"""txwatch exporter: receives pushed payment counts and exposes them to Prometheus."""
