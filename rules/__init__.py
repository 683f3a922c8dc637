"""The Prometheus rule files (YAML) shipped with txwatch; a package so an installed txwatch
carries them (``txwatch.resources.rules_dir``)."""
