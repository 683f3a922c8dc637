"""Where to look: addresses that answer with the versions actually installed.

Debian's Prometheus 2.42 has no React UI (``/alerts`` is a 404; the pages are under
``/classic/``) and Debian's Alertmanager has no web UI at all (its ``/`` says to use
``amtool``), while the upstream builds in docker-compose have both. Rather than guess from
version numbers, the demo asks each server which pages it serves.
"""

from __future__ import annotations

from typing import Any

import requests


def answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=3, allow_redirects=False).status_code == 200
    except requests.RequestException:
        return False


def prometheus_page(base: str, page: str) -> str:
    """The URL of a Prometheus page (``alerts``, ``graph``) in whichever UI it serves."""
    for path in (f"/{page}", f"/classic/{page}"):
        if answers(base + path):
            return base + path
    return f"{base}/api/v1/{'alerts' if page == 'alerts' else 'query'}"


def alertmanager_has_ui(base: str) -> bool:
    """True if Alertmanager serves its web application (its script answers)."""
    return answers(base + "/script.js")


def where_lines(urls: dict[str, Any], sink_log: str) -> list[str]:
    """The lines the demo prints, the local board first."""
    prom, am = urls["prometheus"], urls["alertmanager"]
    if alertmanager_has_ui(am):
        alertmanager = [f"  Alertmanager  {am}/#/alerts"]
    else:
        alertmanager = [
            f"  Alertmanager  {am}/api/v2/alerts   (this build has no web UI; use amtool:)",
            f"                amtool --alertmanager.url={am} alert query"]
    if "vmalert" in urls:  # the VictoriaMetrics engine: its UI, and vmalert's own API
        engine = [f"  VictoriaMetrics {prom}/vmui/   (queries and graphs)",
                  f"  vmalert       {urls['vmalert']}/api/v1/alerts   (rules: "
                  f"{urls['vmalert']}/api/v1/rules)"]
    else:
        engine = [f"  Prometheus    {prometheus_page(prom, 'alerts')}   (rules and alerts; "
                  f"graphs: {prometheus_page(prom, 'graph')})"]
    return [
        f"  board         {urls['sink']}/   (firing now, notifications, charts)",
        *engine,
        *alertmanager,
        *(f"  exporter      {url}/metrics" for url in urls.get("exporters", [urls['exporter']])),
        f"  notifications {urls['sink']}/api/alerts   (log: {sink_log})",
    ]
