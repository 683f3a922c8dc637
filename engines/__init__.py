"""Python that runs and talks to the Prometheus binaries (child processes, a throwaway server,
remote write, TSDB blocks, ``promtool test rules`` runs), while the Prometheus configs they
load are in ``prometheus/``."""
