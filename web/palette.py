"""The boards' colours, defined once for Grafana and the local board.

Grafana draws the named colours itself (``scripts/dashboards.py`` writes the names into its
boards) and gives a series with no fixed colour its classic palette. The local board reads
the same definitions from the sink: the hex value of each name and the fallback palette in
``GET /api/board`` (``static/board.js`` draws with them), and the names as CSS custom
properties in ``GET /palette.css`` (``static/board.css`` colours the page with them).
"""

from __future__ import annotations

# Grafana's named colour of each status the boards draw in a fixed colour.
COLOURS = {"approved": "green", "denied": "orange", "failed": "red", "reversed": "purple",
           "backend_reversed": "dark-red", "refunded": "blue"}
# The hex value the local board draws for each Grafana colour name.
CSS = {"green": "#56a64b", "orange": "#ff780a", "red": "#e02f44", "purple": "#a352cc",
       "dark-red": "#c4162a", "blue": "#3274d9", "dark-orange": "#fa6400",
       "light-blue": "#8ab8ff"}
# A series with no named colour: the first colours of Grafana's classic palette, the i-th
# series of a panel the i-th colour (cycled), as Grafana draws such a series.
PALETTE = ("#7eb26d", "#eab839", "#6ed0e0", "#ef843c", "#e24d42", "#1f78c1", "#ba43a9")


def stylesheet() -> str:
    """The named colours as CSS custom properties (``var(--dark-red)``) for the page."""
    return ":root {\n" + "".join(f"  --{name}: {value};\n" for name, value in CSS.items()) + "}\n"
