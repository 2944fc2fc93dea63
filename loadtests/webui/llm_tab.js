// Live charts for the "LLM metrics" tab of Locust's web UI (loadtests/plugin.py serves this file
// and adds it to Locust's page). Locust's React UI gives an extended tab a table only; this script
// adds, while that tab is open, three charts under the table: TTFT and TPOT percentiles and the
// throughput, per 2 s of the run, from /llm/history (exact figures from the raw records).
(function () {
  "use strict";
  var W = 560, H = 220, L = 56, R = 16, T = 28, B = 34;
  var COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e"];
  var CHARTS = [
    {id: "llm-chart-ttft", title: "TTFT over time (ms)", series: [["p50", "ttft_p50_ms"], ["p90", "ttft_p90_ms"], ["p99", "ttft_p99_ms"]]},
    {id: "llm-chart-tpot", title: "TPOT over time (ms per token)", series: [["p50", "tpot_p50_ms"], ["p99", "tpot_p99_ms"]]},
    {id: "llm-chart-throughput", title: "Throughput over time (per second)", series: [["requests/s", "requests_per_s"], ["output tokens/s", "output_tokens_per_s"]]}
  ];
  var SVG = "http://www.w3.org/2000/svg";

  function el(name, attrs, text) {
    var node = document.createElementNS(SVG, name);
    Object.keys(attrs).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function draw(box, chart, data) {
    var svg = el("svg", {width: W, height: H, "font-family": "sans-serif", "font-size": 11, "data-chart": chart.id});
    svg.appendChild(el("text", {x: W / 2, y: 16, "text-anchor": "middle", "font-size": 13, "font-weight": "bold", fill: "currentColor"}, chart.title));
    var xs = data.t || [];
    var top = 0;
    chart.series.forEach(function (s) { (data[s[1]] || []).forEach(function (v) { if (v !== null && v > top) top = v; }); });
    top = top > 0 ? top * 1.1 : 1;
    var x1 = xs.length ? xs[xs.length - 1] : 1;
    function px(x) { return L + (W - L - R) * x / x1; }
    function py(y) { return H - B - (H - T - B) * y / top; }
    for (var i = 0; i <= 4; i++) {
      var y = top * i / 4;
      svg.appendChild(el("line", {x1: L, x2: W - R, y1: py(y), y2: py(y), stroke: "#8884"}));
      svg.appendChild(el("text", {x: L - 4, y: py(y) + 4, "text-anchor": "end", fill: "currentColor"}, y.toPrecision(3)));
      svg.appendChild(el("text", {x: px(x1 * i / 4), y: H - B + 14, "text-anchor": "middle", fill: "currentColor"}, (x1 * i / 4).toFixed(0)));
    }
    svg.appendChild(el("text", {x: W / 2, y: H - 4, "text-anchor": "middle", fill: "currentColor"}, "seconds into the run"));
    chart.series.forEach(function (s, k) {
      var points = [];
      (data[s[1]] || []).forEach(function (v, j) { if (v !== null) points.push(px(xs[j]).toFixed(1) + "," + py(v).toFixed(1)); });
      svg.appendChild(el("polyline", {points: points.join(" "), fill: "none", stroke: COLORS[k], "stroke-width": 2, "data-series": s[0]}));
      svg.appendChild(el("rect", {x: W - R - 130, y: T + 2 + 14 * k, width: 10, height: 10, fill: COLORS[k]}));
      svg.appendChild(el("text", {x: W - R - 115, y: T + 11 + 14 * k, fill: "currentColor"}, s[0]));
    });
    box.replaceChildren(svg);
  }

  function container() {
    var box = document.getElementById("llm-charts");
    if (!box) {
      box = document.createElement("div");
      box.id = "llm-charts";
      box.style.cssText = "display:flex;flex-wrap:wrap;gap:12px;margin:16px 0";
      CHARTS.forEach(function (c) { var d = document.createElement("div"); d.id = c.id; box.appendChild(d); });
    }
    // Right after the LLM table, inside the tab's panel; below Locust's whole page if it is not found.
    var anchor = null;
    document.querySelectorAll("table").forEach(function (t) {
      if (t.textContent.indexOf("Metric (ms)") >= 0) anchor = t.closest(".MuiTableContainer-root") || t;
    });
    if (anchor && box.previousSibling !== anchor) anchor.parentNode.insertBefore(box, anchor.nextSibling);
    else if (!anchor && !box.parentNode) document.body.appendChild(box);
    return box;
  }

  function onLlmTab() { return new URLSearchParams(window.location.search).get("tab") === "llm"; }

  function tick() {
    if (!onLlmTab()) {
      var old = document.getElementById("llm-charts");
      if (old) old.remove();
      return;
    }
    var box = container();
    fetch("./llm/history").then(function (r) { return r.json(); }).then(function (data) {
      CHARTS.forEach(function (c) { var d = box.querySelector("#" + c.id); if (d) draw(d, c, data); });
      box.setAttribute("data-completed", data.completed || 0);
    }).catch(function () { /* the next tick tries again */ });
  }

  setInterval(tick, 2000);
  tick();
})();
