// dashboard.js: fetches /dashboard.json every second and draws it (src/dashboard.c serves both).
// Text figures need nothing else; the charts need uPlot (/vendor/uPlot.iife.min.js, installed by
// tools/deps), and without it the page says so and keeps the text figures. Everything from the
// server is written with textContent, never as markup.
'use strict';

(function () {
  const REFRESH_MS = 1000;
  const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b',
    '#e377c2', '#7f7f7f', '#bcbd22', '#17becf', '#393b79'];
  const charts = {};
  let updates = 0;

  function $(id) { return document.getElementById(id); }

  function fmt(v, digits) {
    if (v === null || v === undefined) return '\u2013';
    return typeof v === 'number' ? v.toFixed(digits === undefined ? 0 : digits) : String(v);
  }

  function cell(tr, text, id, cls) {
    const td = document.createElement('td');
    td.textContent = text;
    if (id) td.id = id;
    if (cls) td.className = cls;
    tr.appendChild(td);
    return td;
  }

  // Replaces the rows of table `id` with one row per item, built by fill(tr, item).
  function rows(id, items, fill) {
    const body = $(id).tBodies[0];
    const fresh = document.createElement('tbody');
    items.forEach((item) => {
      const tr = document.createElement('tr');
      fill(tr, item);
      fresh.appendChild(tr);
    });
    body.replaceWith(fresh);
  }

  function duration(s) {
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
    return h > 0 ? h + ' h ' + m + ' min' : m > 0 ? m + ' min ' + (s % 60) + ' s' : s + ' s';
  }

  function renderFigures(d) {
    let rate = 0;
    d.classes.forEach((c) => { rate += c.ratePerSecond; });
    $('rate-total').textContent = fmt(rate, 1);
    $('inflight').textContent = fmt(d.inflight);
    $('workers-live').textContent = fmt(d.workers.live);
    $('restarts').textContent = fmt(d.workers.restarts);
    $('slow').textContent = fmt(d.slowQueries.total) + ' / ' + fmt(d.slowQueries.window);
    $('uptime').textContent = duration(d.uptimeSeconds);
    $('window').textContent = '(last minute: ' + d.windowSeconds + ' s of samples)';

    rows('classes', d.classes, (tr, c) => {
      tr.id = 'class-' + c.class;
      cell(tr, c.class);
      cell(tr, fmt(c.total), 'total-' + c.class);
      cell(tr, fmt(c.windowRequests), 'window-' + c.class);
      cell(tr, fmt(c.ratePerSecond, 2), 'rate-' + c.class);
      cell(tr, c.windowRequests ? fmt(c.p50, 3) : '\u2013', 'p50-' + c.class);
      cell(tr, c.windowRequests ? fmt(c.p95, 3) : '\u2013', 'p95-' + c.class);
      cell(tr, c.windowRequests ? fmt(c.p99, 3) : '\u2013', 'p99-' + c.class);
    });
    rows('cache', d.cache, (tr, c) => {
      const s = c.sinceStart, w = c.window;
      cell(tr, c.resource);
      cell(tr, fmt(s.memoryHits), 'cache-memory-' + c.resource);
      cell(tr, fmt(s.redisHits), 'cache-redis-' + c.resource);
      cell(tr, fmt(s.misses), 'cache-misses-' + c.resource);
      cell(tr, s.hitRate === null ? '\u2013' : fmt(s.hitRate, 2) + ' %', 'cache-rate-' + c.resource);
      cell(tr, w.hitRate === null ? '\u2013' : fmt(w.hitRate, 2) + ' %');
    });
    $('slow-threshold').textContent = '(commands slower than ' + d.slowQueries.thresholdMs +
      ' ms, newest first)';
    rows('slow-recent', d.slowQueries.recent, (tr, q) => {
      cell(tr, new Date(q.at).toLocaleTimeString());
      cell(tr, fmt(q.ms, 1));
      cell(tr, q.command, null, 'slow-command');
      cell(tr, q.collection);
      cell(tr, q.requestId);
    });
    rows('breakers', d.breakers, (tr, b) => {
      cell(tr, b.dependency);
      cell(tr, b.state, 'breaker-' + b.dependency, 'state-' + b.state);
      cell(tr, fmt(b.opens), 'opens-' + b.dependency);
    });
  }

  // One uPlot per chart, made again when its set of series changes.
  function drawChart(id, names, x, ys, unit) {
    const el = $(id);
    const key = names.join(',');
    const data = [x].concat(ys);
    const width = Math.max(300, el.clientWidth || 420);
    let c = charts[id];
    if (c && c.key === key) {
      c.plot.setData(data);
      return;
    }
    if (c) c.plot.destroy();
    const series = [{}].concat(names.map((n, i) => ({
      label: n,
      stroke: COLORS[i % COLORS.length],
      width: 1.5,
      spanGaps: false,
      value: (u, v) => (v === null || v === undefined ? '\u2013' : v.toFixed(unit === 'ms' ? 2 : 0)),
    })));
    const plot = new window.uPlot({
      width: width, height: 200, series: series,
      // whole seconds on the time axis, however short the history
      axes: [{ incrs: [1, 5, 10, 15, 30, 60, 120, 300] }, { label: unit, size: 55 }],
      scales: { y: { range: (u, min, max) => [0, Math.max(1, max * 1.1)] } },
      legend: { live: false },
    }, data, el);
    charts[id] = { key: key, plot: plot };
  }

  function renderCharts(d) {
    const s = d.series;
    const names = Object.keys(s.classes);
    if (s.t.length === 0) return;
    drawChart('chart-rate', names.length ? names : ['none'], s.t,
      names.length ? names.map((n) => s.classes[n].rate) : [s.t.map(() => 0)], 'req/s');
    drawChart('chart-p99', names.length ? names : ['none'], s.t,
      names.length ? names.map((n) => s.classes[n].p99) : [s.t.map(() => null)], 'ms');
    drawChart('chart-inflight', ['in flight'], s.t, [s.inflight], 'requests');
  }

  function chartsAvailable(d) {
    const ok = typeof window.uPlot === 'function' && d.chartLibrary;
    const note = $('chart-status');
    if (!ok) {
      note.hidden = false;
      note.textContent = 'chart library not installed: run tools/deps (uplot from npm) or set ' +
        'monitor { dashboard_vendor_dir }; the figures below still update';
    } else {
      note.hidden = true;
    }
    document.body.dataset.charts = ok ? 'yes' : 'no';
    return ok;
  }

  async function refresh() {
    try {
      const res = await fetch('/dashboard.json', { cache: 'no-store' });
      if (!res.ok) throw new Error('HTTP ' + res.status);
      const d = await res.json();
      renderFigures(d);
      if (chartsAvailable(d)) renderCharts(d);
      updates++;
      document.body.dataset.updates = String(updates);
      $('status').textContent = 'updated ' + new Date(d.nowMs).toLocaleTimeString() +
        ' (refresh ' + updates + ')';
    } catch (e) {
      $('status').textContent = 'monitor unreachable: ' + e.message;
    } finally {
      setTimeout(refresh, REFRESH_MS);
    }
  }

  refresh();
}());
