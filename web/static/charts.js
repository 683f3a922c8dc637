// What every page of the local board shares: Prometheus through the sink, the data-time
// axis, uPlot charts of a panel (txwatch.web.spec) and tables of instant queries.
// Colours come from the sink (txwatch.web.palette): board.css[name] for a series with a
// named colour, board.palette for the others; the pages' own styles read /palette.css.
"use strict";

const REFRESH_MS = 15000;
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

// A board's variables ($dimension) replaced by their values, as Grafana does in queries
// and titles; a name without a value is left as it is.
function substitute(text, values) {
  return text.replace(/\$(\w+)/g, (whole, name) => values[name] ?? whole);
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

function panelNode(panel, id, container, span) {
  let node = document.getElementById(id);
  if (!node) {
    node = el("div", { id, class: "panel", style: `grid-column: span ${span}` },
      el("h3", { title: panel.description }, panel.title), el("div", { class: "plot" }));
    container.append(node);
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

async function drawPanel(panel, node, frame, board) {
  const { start, end, step, kept, xs } = frame;
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
        const stroke = board.css[line.colour] || board.palette[i % board.palette.length];
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
async function dataSpan(clock, end) {
  const longest = 43200;
  const step = 60;
  const data = await prom("query_range", { query: clock, start: end - longest, end, step });
  const first = data.result.length ? Number(data.result[0].values[0][0]) : end;
  return Math.min(longest, Math.max(300, end - first + 2 * step));
}

// The charts' time frame for the range picked in #range: wall-time steps and the data
// time of each kept point; the line #clock names the newest data minute.
async function chartFrame(clock) {
  const choice = document.getElementById("range").value;
  const end = Math.floor(Date.now() / 1000);
  const range = choice === "data" ? await dataSpan(clock, end) : Number(choice);
  const step = Math.max(5, Math.ceil(range / 240));
  const start = end - range;
  const count = Math.floor((end - start) / step) + 1;
  const found = await prom("query_range", { query: clock, start, end, step });
  const times = found.result.length ? grid(found.result[0], start, step, count)
                                    : new Array(count).fill(null);
  const kept = dataTimes(times);
  const xs = kept.map((i) => times[i]);
  document.getElementById("clock").textContent = xs.length
    ? `Time axis: data time (UTC), newest data minute ${utc(xs[xs.length - 1], true)}.`
    : "No data minute yet: the charts wait for the first push.";
  return { start, end, step, kept, xs };
}

// A table panel with columns: a row per series of its first query (largest first), the
// column labels, then each query's value for the same labels.
async function tableRows(panel) {
  const results = await Promise.all(panel.queries.map((q) => prom("query", { query: q.expr })));
  const key = (metric) => JSON.stringify(panel.columns.map((c) => metric[c] ?? ""));
  const byKey = results.map((r) => new Map(r.result.map((s) => [key(s.metric), Number(s.value[1])])));
  return results[0].result
    .map((s) => ({ labels: s.metric, values: byKey.map((m) => m.get(key(s.metric)) ?? null) }))
    .sort((a, b) => b.values[0] - a.values[0]);
}

// Report the outcome of one refresh round in #updated (and count rounds for the tests).
let rounds = 0;
function reportRound(outcomes) {
  const status = document.getElementById("updated");
  const failed = outcomes.filter((o) => o.status === "rejected").map((o) => o.reason.message);
  rounds += 1;
  document.body.dataset.rounds = String(rounds);
  status.textContent = failed.length ? `update failed: ${failed.join("; ")}`
                                     : `updated ${new Date().toLocaleTimeString()}`;
  status.className = failed.length ? "error" : "muted";
}
