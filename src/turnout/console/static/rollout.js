// The rollout live view: polls the status every 1.5 s and redraws state, gates, history and the uPlot charts.
(function () {
  "use strict";
  var live = document.getElementById("live");
  if (!live) return;
  var url = live.dataset.status, charts = {}, COLORS = ["#0550ae", "#cf222e"], TERMINAL = /^(succeeded|rolled-back|failed|aborted)$/;

  function text(id, value) { document.getElementById(id).textContent = value; }
  function fmt(v) {
    if (v === null || v === undefined) return "—";
    if (typeof v === "number" && v !== 0 && Math.abs(v) < 0.001) return v.toExponential(2);
    return typeof v === "number" ? (Math.round(v * 10000) / 10000).toString() : String(v);
  }
  function cell(row, value) { var td = document.createElement("td"); td.textContent = value; row.appendChild(td); return td; }

  function gates(rows) {
    var body = document.querySelector("#gates tbody");
    body.replaceChildren();
    rows.forEach(function (g) {
      var tr = document.createElement("tr");
      tr.dataset.gate = g.gate;
      tr.className = g.ok ? "" : "bad";
      cell(tr, g.gate); cell(tr, fmt(g.figure)); cell(tr, fmt(g.limit)); cell(tr, g.ok ? "within" : "FAILING");
      body.appendChild(tr);
    });
  }

  function history(items) {
    var body = document.querySelector("#history tbody");
    body.replaceChildren();
    items.slice().reverse().forEach(function (h) {
      var tr = document.createElement("tr");
      cell(tr, h.at.slice(0, 19).replace("T", " ")); cell(tr, h.action); cell(tr, h.state);
      cell(tr, h.routing || ""); cell(tr, h.reason);
      body.appendChild(tr);
    });
  }

  function verdict(data) {
    var box = document.getElementById("verdict");
    if (!data.verdict) { box.hidden = true; return; }
    var last = data.verdict, figures = last.figures || {};
    var parts = Object.keys(figures).sort().map(function (k) { return k + " = " + fmt(figures[k]); });
    box.textContent = "Rolled back automatically: " + last.reason + (parts.length ? " (" + parts.join(", ") + ")" : "");
    box.hidden = false;
  }

  function chart(metric, data) {
    var versions = Object.keys(data.series.versions);
    var columns = [data.series.t].concat(versions.map(function (v) { return data.series.versions[v][metric]; }));
    var el = document.getElementById("chart-" + metric);
    if (!charts[metric]) {
      var series = [{}].concat(versions.map(function (v, i) {
        return { label: (i === 0 ? "baseline " : "candidate ") + v, stroke: COLORS[i % 2], width: 2, spanGaps: true };
      }));
      charts[metric] = new uPlot({ width: Math.max(280, el.clientWidth), height: 180, series: series }, columns, el);
    } else {
      charts[metric].setData(columns);
    }
  }

  function draw(data) {
    text("state", data.state); document.getElementById("state").dataset.state = data.state;
    text("step", data.step); text("steps", data.steps); text("percent", data.candidate_percent);
    text("reason", data.reason);
    gates(data.gate_rows); history(data.history); verdict(data);
    if (window.uPlot) ["invocations", "error_rate", "p99_ms"].forEach(function (m) { chart(m, data); });
    return data;
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) { if (data) draw(data); if (!data || !TERMINAL.test(data.state)) setTimeout(poll, 1500); })
      .catch(function () { setTimeout(poll, 3000); });
  }
  poll();
})();
