// The local board's segments page: the Grafana segments board's panels
// (GET /api/board/segments) with the shared chart code (charts.js). The tables rank the
// segments now; a row opens one segment (?dimension=...&segment=..., as Grafana's data link
// sets its variables), whose panels are the board's panels naming $dimension / $segment.
"use strict";

let board = null;
const chosen = Object.fromEntries(new URLSearchParams(location.search));

function variableNames() {
  return board.variables.map((v) => v.name);
}

// A panel of the one-segment part: one of its queries names a variable.
function forOneSegment(panel) {
  return panel.queries.some((q) => variableNames().some((n) => q.expr.includes(`$${n}`)));
}

function concrete(panel) {
  return { ...panel, title: substitute(panel.title, chosen),
           queries: panel.queries.map((q) => ({ ...q, expr: substitute(q.expr, chosen) })) };
}

function segmentURL(labels, drill) {
  const params = new URLSearchParams(drill.map((name) => [name, labels[name] ?? ""]));
  return `/segments?${params}#drill`;
}

function tableNode(panel, index) {
  const id = `table-${index}`;
  let node = document.getElementById(id);
  if (!node) {
    node = el("div", { id, class: "panel table", style: `grid-column: span ${panel.pos[1]}` },
      el("h3", { title: panel.description }, panel.title), el("table", {}));
    document.getElementById("panels").append(node);
  }
  return node;
}

async function drawTable(panel, index) {
  const node = tableNode(panel, index);
  const rows = await tableRows(panel);
  const head = el("tr", {}, ...panel.columns.map((c) => el("th", {}, c)),
    ...panel.queries.map((q) => el("th", { class: "number" }, q.legend)));
  const body = rows.map((row) => {
    const cells = panel.columns.map((c) => {
      const text = row.labels[c] ?? "";
      if (panel.drill.length && c === panel.drill[panel.drill.length - 1]) {
        return el("td", {}, el("a", { href: segmentURL(row.labels, panel.drill) }, text));
      }
      return el("td", {}, text);
    });
    const values = row.values.map((v, i) => el("td", { class: "number" },
      formatter(panel.queries[i].unit || panel.unit)(v)));
    const tr = el("tr", { "data-segment": row.labels.segment ?? "", "data-status": row.labels.status ?? "" },
      ...cells, ...values);
    if (panel.drill.every((name) => row.labels[name] === chosen[name])) tr.classList.add("chosen");
    if (panel.drill.length) {
      tr.classList.add("drill");
      tr.addEventListener("click", () => { location.href = segmentURL(row.labels, panel.drill); });
    }
    return tr;
  });
  if (!body.length) {
    body.push(el("tr", {}, el("td", { class: "muted", colspan: String(panel.columns.length + panel.queries.length) },
      "none now")));
  }
  node.querySelector("table").replaceChildren(el("thead", {}, head), el("tbody", {}, ...body));
  node.dataset.rows = String(rows.length);
}

// Each variable's values (its query, with the variables before it filled in); a variable
// not chosen yet takes its default, or for the dimension its first value.
async function refreshVariables() {
  for (const variable of board.variables) {
    const data = await prom("query", { query: substitute(variable.promql, chosen) });
    const values = data.result.map((r) => r.metric[variable.label]).filter(Boolean).sort();
    const select = document.getElementById(`var-${variable.name}`);
    const current = chosen[variable.name];
    const first = variable.name === variableNames()[0] ? (variable.default || values[0]) : "";
    if (!current && first) chosen[variable.name] = first;
    const options = chosen[variable.name] ? values : ["", ...values];
    if (chosen[variable.name] && !options.includes(chosen[variable.name])) options.unshift(chosen[variable.name]);
    select.replaceChildren(...options.map((v) => el("option", { value: v }, v || "(pick one)")));
    select.value = chosen[variable.name] || "";
  }
}

function onVariableChange(name, value) {
  const next = {};
  for (const n of variableNames()) {  // a later variable's value belongs to the earlier ones
    if (n === name) { next[n] = value; break; }
    next[n] = chosen[n] ?? "";
  }
  location.href = `/segments?${new URLSearchParams(next)}#drill`;
}

async function refreshCharts() {
  const frame = await chartFrame(board.clock);
  const picked = variableNames().every((n) => chosen[n]);
  document.getElementById("pick").hidden = picked;
  const drawn = board.panels.map((panel, index) => {
    if (panel.kind !== "timeseries") return null;
    if (!forOneSegment(panel)) return drawPanel(panel, placeNode(panel, index), frame, board);
    return picked ? drawPanel(concrete(panel), placeNode(panel, index), frame, board) : null;
  });
  await Promise.all(drawn.filter(Boolean));
}

// Every panel's place, in the board's order: the tables and the charts over all segments,
// then (once one is picked) that segment's charts under the selectors.
function placeNode(panel, index) {
  if (panel.kind === "table") return tableNode(panel, index);
  const one = forOneSegment(panel);
  const shown = one ? concrete(panel) : panel;
  return panelNode(shown, `panel-${index}`,
                   document.getElementById(one ? "drill-charts" : "panels"), panel.pos[1]);
}

async function refreshTables() {
  await Promise.all(board.panels.map((p, i) => (p.kind === "table" ? drawTable(p, i) : null)));
}

async function refresh() {
  const variables = refreshVariables();
  reportRound(await Promise.allSettled([refreshTables(), variables,
                                        variables.then(refreshCharts)]));
}

async function main() {
  board = await getJSON("/api/board/segments");
  board.panels.forEach((p) => { p.lines = p.lines || []; p.ref_lines = p.ref_lines || []; });
  document.getElementById("title").textContent = `${board.title} (local board)`;
  document.title = variableNames().every((n) => chosen[n])
    ? `${board.title}: ${variableNames().map((n) => chosen[n]).join(" ")}` : board.title;
  document.getElementById("range").addEventListener("change", refresh);
  const picked = variableNames().every((n) => chosen[n]);
  board.panels.forEach((p, i) => { if (picked || !forOneSegment(p)) placeNode(p, i); });
  for (const name of variableNames()) {
    document.getElementById(`var-${name}`).addEventListener(
      "change", (event) => onVariableChange(name, event.target.value));
  }
  await refresh();
  setInterval(refresh, REFRESH_MS);
}

main().catch((err) => {
  document.getElementById("updated").textContent = `board failed to load: ${err.message}`;
});
