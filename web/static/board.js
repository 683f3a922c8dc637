// The local board: the overview board's panels (GET /api/board), drawn with uPlot from
// Prometheus' HTTP API through the sink, plus what is firing and the notifications.
// Colours come from the sink (txwatch.web.palette): board.css[name] for a series with a
// named colour, board.palette for the others; the page's own styles read /palette.css.
"use strict";

const REFRESH_MS = 15000;
let board = null;
let rounds = 0;
const plots = new Map();  // panel title -> its uPlot chart (read by the tests)

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
  if (unit === "s") return (v) => (v == null ? "-" : `${+v.toFixed(v < 10 ? 1 : 0)} s`);
  return (v) => (v == null ? "-" : Math.abs(v) >= 1000 ? `${(v / 1000).toFixed(1)}k`
                                                        : `${+v.toFixed(2)}`);
}

// Data time is shown in UTC, as the alert messages print the newest data minute.
function utc(seconds, withDate) {
  const text = new Date(seconds * 1000).toISOString();
  return withDate ? `${text.slice(0, 10)} ${text.slice(11, 16)}` : text.slice(11, 16);
}

const SEVERITY = { critical: 0, warning: 1, info: 2 };

async function refreshFiring() {
  const table = board.panels.find((p) => p.kind === "table");
  const data = await prom("query", { query: table.queries[0].expr });
  showFiring(data.result.map((r) => r.metric));
}

function showFiring(alerts) {
  const rows = alerts.slice()
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

// Each chart point at the data time Prometheus had then (the newest data minute): of the
// evaluations that saw the same minute the last is kept, points without data time are
// dropped, and only the newest run of increasing data time is shown (a replay restarted
// from older data starts a new one).
function dataTimes(clock) {
  const kept = [];
  for (let i = clock.length - 1; i >= 0; i -= 1) {
    if (clock[i] == null) continue;
    const next = kept.length ? clock[kept[kept.length - 1]] : Infinity;
    if (clock[i] > next) break;
    if (clock[i] < next) kept.push(i);
  }
  return kept.reverse();
}

function grid(result, start, step, count) {
  const values = new Array(count).fill(null);
  for (const [t, v] of result.values) {
    const value = Number(v);
    values[Math.round((t - start) / step)] = Number.isFinite(value) ? value : null;
  }
  return values;
}

function lineOf(panel, name, ref) {
  return Object.fromEntries(panel.lines)[name] || Object.fromEntries(panel.ref_lines)[ref] || {};
}

async function drawPanel(panel, index, frame) {
  const { start, end, step, kept, xs } = frame;
  const node = panelNode(panel, index);
  const results = await Promise.all(panel.queries.map(
    (q) => prom("query_range", { query: q.expr, start, end, step })));
  const count = Math.floor((end - start) / step) + 1;
  const series = [];
  panel.queries.forEach((q, qi) => results[qi].result.forEach((r) => {
    const values = grid(r, start, step, count);
    series.push({ name: legend(q.legend, r.metric), line: lineOf(panel, legend(q.legend, r.metric), q.ref),
                  values: kept.map((i) => values[i]) });
  }));
  const plot = node.querySelector(".plot");
  const shown = series.filter((s) => s.values.some((v) => v != null));
  node.dataset.series = String(shown.length);
  if (!shown.length) {
    plots.delete(panel.title);
    plot.replaceChildren(el("div", { class: "empty" }, "no data in this range yet (a line over a window starts once its window is full)"));
    return;
  }
  const raw = shown.map((s) => s.values);
  let drawn = raw;
  if (panel.stacked) {  // cumulative sums, drawn top first so lower areas stay visible
    const sums = new Array(xs.length).fill(0);
    drawn = raw.map((values) => values.map((v, i) => (sums[i] += v ?? 0)));
  }
  const order = panel.stacked ? shown.map((_, i) => shown.length - 1 - i) : shown.map((_, i) => i);
  const fmt = formatter(panel.unit);
  const opts = {
    width: Math.max(200, plot.clientWidth || node.clientWidth - 16), height: 200,
    scales: { x: { time: true } },
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"),
    axes: [{ values: (u, ticks) => {
      const labels = ticks.map((t, i) => utc(t, i === 0 || utc(t, true).slice(0, 10)
                                                    !== utc(ticks[i - 1], true).slice(0, 10)));
      node.dataset.xticks = labels.join("|");  // what the axis shows, for the tests
      return labels;
    }, space: 70 }, { values: (u, ticks) => ticks.map(fmt), size: 72 }],
    series: [{ label: "data time (UTC)", value: (u, v) => (v == null ? "-" : utc(v, true)) },
      ...order.map((i) => {
        const line = shown[i].line;
        const stroke = panel.css[line.colour] || board.palette[i % board.palette.length];
        return { label: shown[i].name, stroke, width: line.width || 1,
                 dash: line.dash && line.dash.length ? line.dash : undefined,
                 fill: panel.stacked ? stroke : undefined,  // opaque: each band stays its colour
                 value: (u, v, si, idx) => fmt(idx == null ? v : raw[i][idx]) };
      })],
  };
  plot.replaceChildren();
  plots.set(panel.title, new uPlot(opts, [xs, ...order.map((i) => drawn[i])], plot));
}

// The wall-time span of the data in the last 12 hours: the default range shows all of it
// (the demo replays many data minutes a real minute, an hour would squeeze them right).
async function dataSpan(end) {
  const longest = 43200;
  const step = 60;
  const data = await prom("query_range", { query: board.clock, start: end - longest, end, step });
  const first = data.result.length ? Number(data.result[0].values[0][0]) : end;
  return Math.min(longest, Math.max(300, end - first + 2 * step));
}

async function refreshCharts() {
  const choice = document.getElementById("range").value;
  const end = Math.floor(Date.now() / 1000);
  const range = choice === "data" ? await dataSpan(end) : Number(choice);
  const step = Math.max(5, Math.ceil(range / 240));
  const start = end - range;
  const count = Math.floor((end - start) / step) + 1;
  const clock = await prom("query_range", { query: board.clock, start, end, step });
  const times = clock.result.length ? grid(clock.result[0], start, step, count)
                                    : new Array(count).fill(null);
  const kept = dataTimes(times);
  const xs = kept.map((i) => times[i]);
  document.getElementById("clock").textContent = xs.length
    ? `Time axis: data time (UTC), newest data minute ${utc(xs[xs.length - 1], true)}.`
    : "No data minute yet: the charts wait for the first push.";
  await Promise.all(board.panels.filter((p) => p.kind === "timeseries")
    .map((panel) => drawPanel({ ...panel, css: board.css }, board.panels.indexOf(panel),
                              { start, end, step, kept, xs })));
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
  board.panels.forEach((p) => { p.lines = p.lines || []; p.ref_lines = p.ref_lines || []; });
  document.getElementById("title").textContent = `${board.title} (local board)`;
  document.title = board.title;
  document.getElementById("range").addEventListener("change", refresh);
  await refresh();
  setInterval(refresh, REFRESH_MS);
}

main().catch((err) => {
  document.getElementById("updated").textContent = `board failed to load: ${err.message}`;
});
