"""The Prometheus server configuration shipped with txwatch (data only)."""
