// Statistics charts on the publisher pages, drawn with the vendored uPlot from the JSON the page embeds
// (<script type="application/json" id="stats-data">). The page also shows the same numbers as tables, so a chart
// whose container or data is missing is simply left out.
(function () {
  "use strict";
  var source = document.getElementById("stats-data");
  if (!source || typeof window.uPlot !== "function") { return; }
  var data;
  try { data = JSON.parse(source.textContent || "null"); } catch (error) { return; }
  if (!data || typeof data !== "object") { return; }
  var uPlot = window.uPlot;
  var HEIGHT = 260;
  // Legible on the white background (contrast of 4.5:1 or more) and told apart by dash as well as by hue.
  var COLOURS = { downloads: "#0550ae", installs: "#1a7f37", updates: "#9a6700", uninstalls: "#cf222e",
                  p50: "#0550ae", p95: "#8250df" };
  var AXIS = { stroke: "#57606a", grid: { stroke: "#eaeef2", width: 1 }, ticks: { stroke: "#d0d7de", width: 1 } };
  var charts = [];

  function numbers(values, length) {
    var out = [];
    for (var i = 0; i < length; i++) {
      var value = Array.isArray(values) ? values[i] : null;
      out.push(typeof value === "number" && isFinite(value) ? value : null);
    }
    return out;
  }
  function sum(values) { return values.reduce(function (total, value) { return total + (value || 0); }, 0); }
  function hasPoint(values) { return values.some(function (value) { return value !== null; }); }
  function count(n, one, many) { return n.toLocaleString("en") + " " + (n === 1 ? one : many); }
  function seconds(day) {
    var parts = /^(\d{4})-(\d{2})-(\d{2})$/.exec(String(day));
    return parts ? Date.UTC(+parts[1], +parts[2] - 1, +parts[3]) / 1000 : null;
  }
  function utc(ts) { return uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"); }
  function width(container) { return Math.max(container.clientWidth || 0, 240); }
  function axis(extra) {
    var out = { stroke: AXIS.stroke, grid: AXIS.grid, ticks: AXIS.ticks };
    Object.keys(extra || {}).forEach(function (key) { out[key] = extra[key]; });
    return out;
  }
  // The value axis starts at zero and ends a little above the largest value, at a round number.
  function fromZero(u, min, max) { return [0, uPlot.rangeNum(0, Math.max(max || 0, 1), 0.1, true)[1]]; }
  function line(label, colour, dash) {
    var series = { label: label, stroke: colour, width: 2, points: { show: false } };
    if (dash) { series.dash = dash; }
    return series;
  }

  function draw(id, summary, options, columns) {
    var container = document.getElementById(id);
    if (!container) { return; }
    container.setAttribute("role", "img");
    container.setAttribute("aria-label", summary);
    container.replaceChildren();
    options.width = width(container);
    options.height = HEIGHT;
    charts.push({ container: container, plot: new uPlot(options, columns, container) });
  }

  function days() {
    var list = Array.isArray(data.days) ? data.days : [];
    var xs = list.map(seconds);
    return xs.every(function (x) { return x !== null; }) ? { labels: list, xs: xs } : { labels: [], xs: [] };
  }
  function dayValue(labels) {
    return function (u, value, seriesIdx, idx) { return idx == null ? "—" : labels[idx]; };
  }
  function span(labels) {
    return labels.length === 1 ? "on " + labels[0] : "from " + labels[0] + " to " + labels[labels.length - 1];
  }

  function daily() {
    var axisDays = days();
    var series = data.series || {};
    var n = axisDays.xs.length;
    if (!n) { return; }
    var names = ["downloads", "installs", "updates", "uninstalls"];
    var columns = names.map(function (name) { return numbers(series[name], n); });
    if (!columns.some(hasPoint)) { return; }
    var totals = names.map(function (name, i) { return count(sum(columns[i]), name.slice(0, -1), name); });
    var summary = "Daily downloads, installs, updates and uninstalls for the last " + (n === 1 ? "day" : n + " days") +
      " (" + span(axisDays.labels) + "): " + totals.join(", ") + " in all.";
    draw("chart-daily", summary, {
      tzDate: utc,
      scales: { x: { time: true }, y: { range: fromZero } },
      axes: [axis(), axis({ size: 60 })],
      series: [
        { label: "Day", value: dayValue(axisDays.labels) },
        line("Downloads", COLOURS.downloads),
        line("Installs", COLOURS.installs, [8, 4]),
        line("Updates", COLOURS.updates, [2, 3]),
        line("Uninstalls", COLOURS.uninstalls, [10, 3, 2, 3])
      ]
    }, [axisDays.xs].concat(columns));
  }

  function activation() {
    var block = data.activation || {};
    var list = Array.isArray(block.days) ? block.days : [];
    var xs = list.map(seconds);
    var n = xs.length;
    if (!n || !xs.every(function (x) { return x !== null; })) { return; }
    var p50 = numbers(block.p50_ms, n);
    var p95 = numbers(block.p95_ms, n);
    if (!hasPoint(p50) && !hasPoint(p95)) { return; }
    var last = -1;
    for (var i = n - 1; i >= 0 && last < 0; i--) { if (p50[i] !== null || p95[i] !== null) { last = i; } }
    var ms = function (value) { return value === null ? "no data" : Math.round(value).toLocaleString("en") + " ms"; };
    var summary = "Activation time in milliseconds, median (p50) and 95th percentile (p95), for " +
      count(n, "day", "days") + " (" + span(list) + "); on " + list[last] + " the median was " + ms(p50[last]) +
      " and the 95th percentile " + ms(p95[last]) + ".";
    var msValue = function (u, value) { return value == null ? "—" : Math.round(value).toLocaleString("en") + " ms"; };
    var p50Series = line("p50 (median)", COLOURS.p50);
    var p95Series = line("p95", COLOURS.p95, [8, 4]);
    p50Series.value = p95Series.value = msValue;
    draw("chart-activation", summary, {
      tzDate: utc,
      scales: { x: { time: true }, y: { range: fromZero } },
      axes: [axis(), axis({ size: 70, values: function (u, splits) {
        return splits.map(function (v) { return v.toLocaleString("en") + " ms"; });
      } })],
      series: [{ label: "Day", value: dayValue(list) }, p50Series, p95Series]
    }, [xs, p50, p95]);
  }

  function versions() {
    var list = (Array.isArray(data.versions) ? data.versions : []).filter(function (entry) {
      return entry && typeof entry === "object";
    });
    var n = list.length;
    if (!n) { return; }
    var labels = list.map(function (entry) { return String(entry.version); });
    var pick = function (name) { return numbers(list.map(function (entry) { return entry[name]; }), n); };
    var downloads = pick("downloads"), installs = pick("installs"), updates = pick("updates");
    var totals = labels.map(function (label, i) { return (downloads[i] || 0) + (installs[i] || 0) + (updates[i] || 0); });
    if (!hasPoint(downloads) && !hasPoint(installs) && !hasPoint(updates)) { return; }
    var top = 0;
    totals.forEach(function (total, i) { if (total > totals[top]) { top = i; } });
    var summary = "Downloads, installs and updates per version for " + count(n, "version", "versions") +
      "; the most were for " + labels[top] + " with " + totals[top].toLocaleString("en") + " in all.";
    // Stacked bars: each series holds the running total and is drawn over the taller one before it.
    var withInstalls = downloads.map(function (value, i) { return (value || 0) + (installs[i] || 0); });
    var raw = { 1: updates, 2: installs, 3: downloads };
    var rawValue = function (u, value, seriesIdx, idx) {
      var values = raw[seriesIdx];
      return idx == null || values[idx] === null ? "—" : values[idx].toLocaleString("en");
    };
    var bar = function (label, colour) {
      return { label: label, stroke: colour, fill: colour, width: 0, value: rawValue,
               paths: uPlot.paths.bars({ size: [0.6, 64] }), points: { show: false } };
    };
    var wide = n > 8;
    draw("chart-versions", summary, {
      scales: {
        x: { time: false, range: function () { return [-0.5, n - 0.5]; } },
        y: { range: fromZero }
      },
      axes: [
        axis({ grid: { show: false }, rotate: wide ? -45 : 0, size: wide ? 80 : 50,
               splits: function () { return labels.map(function (label, i) { return i; }); },
               values: function (u, splits) { return splits.map(function (i) { return labels[i] || ""; }); } }),
        axis({ size: 60 })
      ],
      series: [
        { label: "Version", value: function (u, value, seriesIdx, idx) { return idx == null ? "—" : labels[idx]; } },
        bar("Updates", COLOURS.updates),
        bar("Installs", COLOURS.installs),
        bar("Downloads", COLOURS.downloads)
      ]
    }, [labels.map(function (label, i) { return i; }), totals, withInstalls, downloads.map(function (v) { return v || 0; })]);
  }

  [daily, activation, versions].forEach(function (chart) {
    try { chart(); } catch (error) { /* the table on the page still shows the numbers */ }
  });

  var pending = false;
  window.addEventListener("resize", function () {
    if (pending) { return; }
    pending = true;
    window.requestAnimationFrame(function () {
      pending = false;
      charts.forEach(function (chart) {
        var next = width(chart.container);
        if (next !== chart.plot.width) { chart.plot.setSize({ width: next, height: HEIGHT }); }
      });
    });
  });
})();
