"""txwatch: real-time monitoring of payment transaction flows, the Prometheus way.

Every Python folder at the top of the repository is one subpackage of this namespace
(``exporter/`` is ``txwatch.exporter``, ``engines/`` is ``txwatch.engines``, ...); this folder
holds only what all of them share: the metric contract and where the shipped configs live.
"""
