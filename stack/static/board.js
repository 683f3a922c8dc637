// The local board: the overview board's panels (GET /api/board), drawn with uPlot from
// Prometheus' HTTP API through the sink, plus what is firing and the notifications.
"use strict";

const REFRESH_MS = 15000;
const PALETTE = ["#7eb26d", "#eab839", "#6ed0e0", "#ef843c", "#e24d42", "#1f78c1", "#ba43a9"];
let board = null;
let rounds = 0;

async function getJSON(url) {
  const answer = await fetch(url);
  const body = await answer.json();
  if (!answer.ok) throw new Error(`${url}: ${body.message || body.error || answer.status}`);
  return body;
}

async function prom(endpoint, params) {
  const body = await getJSON(`/prometheus/api/v1/${endpoint}?${new URLSearchParams(params)}`);
  if (body.status !== "success") throw new Error(body.error || "Prometheus query failed");
  return body.data;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  for (const child of children) node.append(child);  // text is set as text, never as HTML
  return node;
}

function legend(format, labels) {
  return format.replace(/\{\{\s*(\w+)\s*\}\}/g, (_, key) => labels[key] ?? "");
}

function formatter(unit) {
  if (unit === "percentunit") return (v) => (v == null ? "-" : `${(v * 100).toFixed(2)}%`);
  return (v) => (v == null ? "-" : Math.abs(v) >= 1000 ? `${(v / 1000).toFixed(1)}k`
                                                        : `${+v.toFixed(2)}`);
}

const SEVERITY = { critical: 0, warning: 1, info: 2 };

async function refreshFiring() {
  const table = board.panels.find((p) => p.kind === "table");
  const data = await prom("query", { query: table.queries[0].expr });
  const rows = data.result.map((r) => r.metric)
    .sort((a, b) => (SEVERITY[a.severity] ?? 3) - (SEVERITY[b.severity] ?? 3));
  const list = document.getElementById("firing");
  list.replaceChildren(...rows.map((m) => el("li", { class: m.severity || "", "data-alert": m.alertname },
    el("span", { class: "sev" }, m.severity || "-"), `${m.alertname} `,
    el("span", { class: "muted" }, `status=${m.status || "-"}`))));
  if (!rows.length) list.append(el("li", { class: "muted quiet" }, "Nothing is firing."));
  list.dataset.state = rows.length ? "firing" : "quiet";
  list.dataset.count = String(rows.length);
}

function ago(seconds) {
  if (seconds < 90) return `${Math.round(seconds)} s ago`;
  return seconds < 5400 ? `${Math.round(seconds / 60)} min ago` : `${(seconds / 3600).toFixed(1)} h ago`;
}

async function refreshMessages() {
  const rows = await getJSON("/api/alerts?limit=300");
  const now = Date.now() / 1000;
  const watchdog = rows.find((r) => r.labels.alertname === "Watchdog");
  document.getElementById("watchdog").textContent = watchdog
    ? `Dead man's switch: last Watchdog notification ${ago(now - watchdog.received_at)}.`
    : "No Watchdog notification yet (it arrives within a minute or two of the start).";
  const shown = rows.filter((r) => r.labels.alertname !== "Watchdog").slice(0, 60);
  const list = document.getElementById("messages");
  list.replaceChildren(...shown.map((r) => {
    const firing = r.status === "firing";
    const when = new Date(r.received_at * 1000).toLocaleTimeString();
    return el("li", { class: firing ? "firing" : "resolved" },
      el("div", {}, el("span", { class: "who" }, `#${r.receiver || "sink"}`), " ",
         el("span", { class: "when" }, when)),
      el("div", { class: "text" },
         `${firing ? "FIRING" : "RESOLVED"} [${r.labels.severity || "-"}] ${r.labels.alertname} `
         + `status=${r.labels.status || "-"}: ${r.annotations.summary || ""}`));
  }));
  if (!shown.length) list.append(el("li", { class: "muted" }, "No notification yet."));
}

function columns(panel) {
  // The table panel is drawn as "Firing now" above: its row neighbour takes its columns.
  const [, w, , y] = panel.pos;
  const table = board.panels.find((p) => p.kind === "table" && p.pos[3] === y);
  return table ? w + table.pos[1] : w;
}

function panelNode(panel, index) {
  const id = `panel-${index}`;
  let node = document.getElementById(id);
  if (!node) {
    const w = columns(panel);
    node = el("div", { id, class: "panel", style: `grid-column: span ${w}` },
      el("h3", { title: panel.description }, panel.title), el("div", { class: "plot" }));
    document.getElementById("charts").append(node);
  }
  return node;
}

async function drawPanel(panel, index, start, end, step) {
  const node = panelNode(panel, index);
  const results = await Promise.all(panel.queries.map(
    (q) => prom("query_range", { query: q.expr, start, end, step })));
  const count = Math.floor((end - start) / step) + 1;
  const xs = Array.from({ length: count }, (_, i) => start + i * step);
  const colours = Object.fromEntries(panel.colours);
  const series = [];
  panel.queries.forEach((q, qi) => results[qi].result.forEach((r) => {
    const values = new Array(count).fill(null);
    for (const [t, v] of r.values) {
      const value = Number(v);
      values[Math.round((t - start) / step)] = Number.isFinite(value) ? value : null;
    }
    series.push({ name: legend(q.legend, r.metric), values });
  }));
  const plot = node.querySelector(".plot");
  node.dataset.series = String(series.length);
  if (!series.length) {
    plot.replaceChildren(el("div", { class: "empty" }, "no data in this range yet"));
    return;
  }
  const raw = series.map((s) => s.values);
  let drawn = raw;
  if (panel.stacked) {  // cumulative sums, drawn top first so lower areas stay visible
    const sums = new Array(count).fill(0);
    drawn = raw.map((values) => values.map((v, i) => (sums[i] += v ?? 0)));
  }
  const order = panel.stacked ? series.map((_, i) => series.length - 1 - i) : series.map((_, i) => i);
  const fmt = formatter(panel.unit);
  const opts = {
    width: Math.max(200, plot.clientWidth || node.clientWidth - 16), height: 200,
    scales: { x: { time: true } },
    axes: [{}, { values: (u, ticks) => ticks.map(fmt), size: 72 }],
    series: [{}, ...order.map((i) => {
      const stroke = panel.css[colours[series[i].name]] || PALETTE[i % PALETTE.length];
      return { label: series[i].name, stroke, width: 1,
               dash: panel.dashed.includes(series[i].name) ? [10, 10] : undefined,
               fill: panel.stacked ? stroke : undefined,  // opaque: each band stays its colour
               value: (u, v, si, idx) => fmt(idx == null ? v : raw[i][idx]) };
    })],
  };
  plot.replaceChildren();
  new uPlot(opts, [xs, ...order.map((i) => drawn[i])], plot);
}

async function refreshCharts() {
  const range = Number(document.getElementById("range").value);
  const end = Math.floor(Date.now() / 1000);
  const step = Math.max(15, Math.ceil(range / 240));
  const start = end - range;
  await Promise.all(board.panels.filter((p) => p.kind === "timeseries")
    .map((panel) => drawPanel({ ...panel, css: board.css }, board.panels.indexOf(panel),
                              start, end, step)));
}

async function refresh() {
  const status = document.getElementById("updated");
  const outcomes = await Promise.allSettled([refreshFiring(), refreshMessages(), refreshCharts()]);
  const failed = outcomes.filter((o) => o.status === "rejected").map((o) => o.reason.message);
  rounds += 1;
  document.body.dataset.rounds = String(rounds);
  status.textContent = failed.length ? `update failed: ${failed.join("; ")}`
                                     : `updated ${new Date().toLocaleTimeString()}`;
  status.className = failed.length ? "error" : "muted";
}

async function main() {
  board = await getJSON("/api/board");
  board.panels.forEach((p) => { p.colours = p.colours || []; p.dashed = p.dashed || []; });
  document.getElementById("title").textContent = `${board.title} (local board)`;
  document.title = board.title;
  document.getElementById("range").addEventListener("change", refresh);
  await refresh();
  setInterval(refresh, REFRESH_MS);
}

main().catch((err) => {
  document.getElementById("updated").textContent = `board failed to load: ${err.message}`;
});
