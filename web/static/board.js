// The local board's overview page: the overview board's panels (GET /api/board), drawn
// with the shared chart code (charts.js) from Prometheus' HTTP API through the sink, plus
// what is firing and the notifications.
"use strict";

let board = null;

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
    el("span", { class: "muted" }, `status=${m.status || "-"}`),
    ...(m.segment ? [" ", el("a", { href: `/segments?${new URLSearchParams(
      { dimension: m.dimension, segment: m.segment })}#drill` }, `${m.dimension}=${m.segment}`)] : []))));
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
    const where = r.labels.segment ? ` ${r.labels.dimension}=${r.labels.segment}` : "";
    return el("li", { class: firing ? "firing" : "resolved" },
      el("div", {}, el("span", { class: "who" }, `#${r.receiver || "sink"}`), " ",
         el("span", { class: "when" }, when)),
      el("div", { class: "text" },
         `${firing ? "FIRING" : "RESOLVED"} [${r.labels.severity || "-"}] ${r.labels.alertname} `
         + `status=${r.labels.status || "-"}${where}: ${r.annotations.summary || ""}`));
  }));
  if (!shown.length) list.append(el("li", { class: "muted" }, "No notification yet."));
}

function columns(panel) {
  // The table panel is drawn as "Firing now" above: its row neighbour takes its columns.
  const [, w, , y] = panel.pos;
  const table = board.panels.find((p) => p.kind === "table" && p.pos[3] === y);
  return table ? w + table.pos[1] : w;
}

async function refreshCharts() {
  const frame = await chartFrame(board.clock);
  const charts = document.getElementById("charts");
  await Promise.all(board.panels.filter((p) => p.kind === "timeseries").map((panel) => {
    const node = panelNode(panel, `panel-${board.panels.indexOf(panel)}`, charts, columns(panel));
    return drawPanel(panel, node, frame, board);
  }));
}

async function refresh() {
  reportRound(await Promise.allSettled([refreshFiring(), refreshMessages(), refreshCharts()]));
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
