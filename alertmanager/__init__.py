"""The Alertmanager configuration and templates shipped with txwatch (data only)."""
