/* The dashboard's charts: uPlot (vendored) fed by the JSON each page embeds in #page-data.
   Hover shows the values in each chart's legend; drag across a chart zooms its x axis,
   double-click resets. Every chart is kept in window.aibackendCharts. */
(function () {
  "use strict";
  var source = document.getElementById("page-data");
  var page = source ? JSON.parse(source.textContent) : {};
  var COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf"];
  var LABELS = {ttft: "TTFT", tpot: "TPOT", itl: "ITL", e2el: "E2EL", ttfb: "TTFB"};
  window.aibackendCharts = [];

  function number(v, unit) {
    if (v === null || v === undefined || isNaN(v)) return "n/a";
    var text = Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toPrecision(3);
    return unit ? text + " " + unit : text;
  }
  function valueFormatter(unit) { return function (u, v) { return number(v, unit); }; }
  function widthOf(node) { return Math.max(320, Math.min(node.clientWidth || 640, 1100)); }

  function draw(node, opts, data) {
    if (!node) return null;
    opts.width = widthOf(node);
    opts.height = opts.height || 300;
    opts.title = node.getAttribute("data-title") || "";
    opts.cursor = opts.cursor || {drag: {x: true, y: false}, focus: {prox: 24}};
    var chart = new uPlot(opts, data, node);
    node.setAttribute("data-ready", "true");
    window.aibackendCharts.push(chart);
    return chart;
  }
  window.addEventListener("resize", function () {
    window.aibackendCharts.forEach(function (c) {
      c.setSize({width: widthOf(c.root.parentNode), height: c.height});
    });
  });

  function line(label, color, scale, unit) {
    return {label: label, stroke: color, width: 2, scale: scale, spanGaps: false,
            points: {show: true, size: 6}, value: valueFormatter(unit)};
  }

  // Percentile curves: x is the percentile (50, 90, 95, 99 ...), one line per metric.
  function percentilePoints(row) {
    var points = {};
    Object.keys(row || {}).forEach(function (stat) {
      if (stat === "median") { if (!(50 in points)) points[50] = row[stat]; }
      else if (/^p\d+(\.\d+)?$/.test(stat)) points[parseFloat(stat.slice(1))] = row[stat];
    });
    return points;
  }
  function percentileChart(node, rows) {  // rows: [{label, row}]
    var xs = {};
    var curves = rows.map(function (r) { var p = percentilePoints(r.row); Object.keys(p).forEach(function (k) { xs[k] = true; }); return p; });
    var x = Object.keys(xs).map(parseFloat).sort(function (a, b) { return a - b; });
    if (!x.length || !rows.length) { if (node) node.remove(); return null; }
    var data = [x].concat(curves.map(function (c) { return x.map(function (k) { return k in c ? c[k] : null; }); }));
    var series = [{label: "percentile", value: function (u, v) { return v == null ? "-" : "p" + v; }}].concat(
      rows.map(function (r, i) { return line(r.label, COLORS[i % COLORS.length], "ms", "ms"); }));
    return draw(node, {scales: {x: {time: false}}, series: series,
                       axes: [{label: "percentile", values: function (u, vals) { return vals.map(function (v) { return "p" + v; }); }},
                              {scale: "ms", label: "ms"}]}, data);
  }
  function metricRows(metrics, names) {
    return names.filter(function (m) { return metrics && metrics[m]; }).map(function (m) { return {label: LABELS[m] || m, row: metrics[m]}; });
  }

  function runCharts() {
    var metrics = (page.percentiles || {}).metrics || {};
    percentileChart(document.getElementById("chart-percentiles-request"), metricRows(metrics, ["ttft", "e2el", "ttfb"]));
    percentileChart(document.getElementById("chart-percentiles-token"), metricRows(metrics, ["tpot", "itl"]));
    var t = page.timeline;
    if (!t) return;
    draw(document.getElementById("chart-throughput"), {
      scales: {x: {time: false}},
      series: [{label: "second", value: function (u, v) { return v == null ? "-" : v + " s"; }},
               line("completed/s", COLORS[0], "rps", "req/s"), line("failed/s", COLORS[1], "rps", "req/s"),
               line("output tok/s", COLORS[2], "tps", "tok/s")],
      axes: [{label: "seconds into the run"}, {scale: "rps", label: "requests/s"},
             {scale: "tps", label: "tokens/s", side: 1, grid: {show: false}}]
    }, [t.t, t.completed_per_s, t.failed_per_s, t.output_tokens_per_s]);
    draw(document.getElementById("chart-latency"), {
      scales: {x: {time: false}},
      series: [{label: "second", value: function (u, v) { return v == null ? "-" : v + " s"; }},
               line("TTFT p50", COLORS[0], "ms", "ms"), line("E2EL p50", COLORS[3], "ms", "ms")],
      axes: [{label: "seconds into the run"}, {scale: "ms", label: "ms"}]
    }, [t.t, t.ttft_p50_ms, t.e2el_p50_ms]);
  }

  function compareCharts() {
    var nodes = document.querySelectorAll(".chart[data-metric]");
    Array.prototype.forEach.call(nodes, function (node) {
      var m = node.getAttribute("data-metric");
      var rows = [];
      if (page.a && page.a.metrics[m]) rows.push({label: "A: run " + page.ids[0], row: page.a.metrics[m]});
      if (page.b && page.b.metrics[m]) rows.push({label: "B: run " + page.ids[1], row: page.b.metrics[m]});
      percentileChart(node, rows);
    });
  }

  // Trends: x is the time of each run; latency figures on the left axis (ms), throughput on the right;
  // marker series put a large point on runs that broke a gate or regressed.
  function trendCharts() {
    (page.trends || []).forEach(function (trend, index) {
      var node = document.getElementById("trend-" + index);
      var points = trend.points;
      var x = points.map(function (p) { return p.when; });
      var data = [x];
      var series = [{label: "run", value: function (u, v, s, i) { return i == null ? "-" : "run " + points[i].id + ", " + new Date(points[i].when * 1000).toLocaleString(); }}];
      trend.figures.forEach(function (f, i) {
        var scale = f.unit === "ms" ? "ms" : "tps";
        series.push(line(f.label, COLORS[i % COLORS.length], scale, f.unit));
        data.push(points.map(function (p) { return p.values[f.label]; }));
      });
      var anchor = trend.figures[0].label;  // markers sit on the first figure's line
      // A run both failed and regressed shows both: the smaller orange point inside the larger red one.
      [["gate failed", "gate_failed", "#d00000", 20], ["regressed", "regressed", "#ff8c00", 10]].forEach(function (m) {
        series.push({label: m[0], stroke: m[2], fill: m[2], scale: "ms", paths: function () { return null; },
                     points: {show: true, size: m[3], stroke: m[2], fill: m[2]},
                     value: function (u, v, s, i) { return i == null ? "-" : (v == null ? "no" : "yes"); }});
        data.push(points.map(function (p) {
          var hit = m[1] === "regressed" ? p.regressed.length > 0 : p.gate_failed;
          return hit ? p.values[anchor] : null;
        }));
      });
      draw(node, {scales: {x: {time: true}}, series: series,
                  axes: [{}, {scale: "ms", label: "ms"}, {scale: "tps", label: "tokens/s", side: 1, grid: {show: false}}]},
           data);
    });
  }

  function overview() {
    fetch("api/health").then(function (r) { return r.json(); }).then(function (data) {
      (data.results || []).forEach(function (result) {
        if (result.kind === "gateway") {
          var g = document.getElementById("health-gateway");
          if (g) {
            g.textContent = "gateway health: " + result.state + (result.latency_ms != null ? " in " + number(result.latency_ms, "ms") : "") + " (" + result.detail + ", " + result.url + ")";
            g.setAttribute("data-state", result.state);
          }
          return;
        }
        var row = document.querySelector('tr[data-provider="' + CSS.escape(result.name) + '"]');
        if (!row) return;
        var cell = row.querySelector(".health");
        cell.textContent = result.state;
        cell.setAttribute("data-state", result.state);
        row.querySelector(".latency").textContent = result.latency_ms == null ? "-" : number(result.latency_ms, "ms");
        row.querySelector(".detail").textContent = result.detail;
      });
      document.body.setAttribute("data-health", "done");
    }).catch(function (err) {
      document.body.setAttribute("data-health", "failed: " + err);
    });
  }

  var kinds = {run: runCharts, compare: compareCharts, trends: trendCharts, overview: overview};
  if (kinds[page.kind]) kinds[page.kind]();
  document.body.setAttribute("data-charts", String(window.aibackendCharts.length));
})();
