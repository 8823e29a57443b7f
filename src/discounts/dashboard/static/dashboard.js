// The dashboard's own script: the form's time zone and its kind of discount, and the charts.
// Everything works without it (the form posts in UTC, both kinds show); it only adds to the page.
(function () {
  "use strict";

  function fillTimeZone() {
    var zone = "UTC";
    try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC"; } catch (e) { /* keep UTC */ }
    document.querySelectorAll("input[data-timezone]").forEach(function (input) {
      if (!input.value || input.value === "UTC") { input.value = zone; }
      document.querySelectorAll("[data-tz-name]").forEach(function (el) { el.textContent = input.value; });
    });
  }

  function showChosenFields() {
    var kind = document.querySelector("input[data-kind]:checked");
    document.querySelectorAll("[data-kind-fields]").forEach(function (el) {
      el.hidden = Boolean(kind) && el.getAttribute("data-kind-fields") !== kind.value;
    });
    var choice = document.querySelector("select[data-rule-choice]");
    var newRule = document.querySelector("[data-new-rule]");
    if (choice && newRule) { newRule.hidden = choice.value !== "new"; }
  }

  var charts = {};

  // A bar covers its whole period (it starts at its hour or day), the last one included.
  function padded(step) {
    return function (u) {
      var xs = u.data[0];
      return xs.length ? [xs[0], xs[xs.length - 1] + step] : [0, step];
    };
  }

  function chartOptions(width, step) {
    var axis = { stroke: "#2f3540", grid: { stroke: "#dde1e6" }, ticks: { stroke: "#c9ced6" } };
    return {
      width: width,
      height: 200,
      tzDate: function (ts) { return uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"); },
      scales: { x: { time: true, range: padded(step) }, y: { range: function (u, min, max) { return [0, Math.max(1, max)]; } } },
      axes: [axis, Object.assign({}, axis, { size: 44, incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000,
        10000, 20000, 50000, 100000, 200000, 500000, 1000000] })],
      legend: { show: false },
      cursor: { drag: { x: false, y: false } },
      series: [{}, {
        label: "Uses",
        stroke: "#0b5394",
        fill: "rgba(11, 83, 148, 0.25)",
        width: 1,
        points: { show: false },
        paths: uPlot.paths.bars({ size: [0.85, 48], align: 1 })
      }]
    };
  }

  function drawCharts() {
    var source = document.getElementById("chart-data");
    if (!source || !window.uPlot) { return; }
    var data = JSON.parse(source.getAttribute("data-series"));
    document.querySelectorAll("[data-chart]").forEach(function (el) {
      var series = data[el.getAttribute("data-chart")];
      if (!series) { return; }
      var values = [series.x, series.y];
      var existing = charts[el.id];
      if (existing) { existing.setData(values); return; }
      var step = el.getAttribute("data-chart") === "daily" ? 86400 : 3600;
      charts[el.id] = new uPlot(chartOptions(el.clientWidth || 300, step), values, el);
    });
  }

  function resizeCharts() {
    Object.keys(charts).forEach(function (id) {
      var el = document.getElementById(id);
      if (el) { charts[id].setSize({ width: el.clientWidth || 300, height: 200 }); }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    fillTimeZone();
    showChosenFields();
    document.addEventListener("change", function (event) {
      if (event.target.matches("input[data-kind], select[data-rule-choice]")) { showChosenFields(); }
    });
    var problem = document.getElementById("problem");
    if (problem) { problem.focus(); }
    drawCharts();
    window.addEventListener("resize", resizeCharts);
  });
  document.addEventListener("htmx:afterSettle", drawCharts);
})();
