"""txwatch local stack: launcher for exporter + Prometheus + Alertmanager + notification sink."""
