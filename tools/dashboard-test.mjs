// tools/dashboard-test.mjs MONITOR_URL API_URL SCREENSHOT [--no-charts]
//
// The dashboard in a real browser (issue 10): Debian's headless Chromium driven by playwright-core
// (npm, tools/deps installs both) loads MONITOR_URL/dashboard, sends traffic to the plain-HTTP
// API_URL, and checks that the figures move and agree with MONITOR_URL/metrics; then saves a
// screenshot to SCREENSHOT. With --no-charts the chart library is expected to be missing: the
// page must say so and the text figures must still work. Run by tests/e2e/test_dashboard.c,
// which starts the stack. Prints one "ok"/"FAIL" line per check; exits 0 when all passed.
//
// The packages are looked up in DASHBOARD_NODE_MODULES, else CONTRACT_NODE_PREFIX/node_modules,
// else .tools/node/node_modules (where tools/deps installs them).
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const [monitor, api, shot, flag] = process.argv.slice(2);
if (!monitor || !api || !shot) {
  console.error('usage: tools/dashboard-test.mjs MONITOR_URL API_URL SCREENSHOT [--no-charts]');
  process.exit(2);
}
const expectCharts = flag !== '--no-charts';
const modules = process.env.DASHBOARD_NODE_MODULES ||
  path.resolve(process.env.CONTRACT_NODE_PREFIX || '.tools/node', 'node_modules');
const require = createRequire(modules + '/');
const { chromium } = require('playwright-core');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const TRAFFIC = 40; // requests of the health class sent while the page watches

let failed = 0;
function check(ok, what, detail) {
  console.log((ok ? 'ok   ' : 'FAIL ') + what + (ok || !detail ? '' : ': ' + detail));
  if (!ok) failed++;
  return ok;
}

// The value of one sample of the Prometheus page, or undefined.
async function metric(name, labels) {
  const text = await (await fetch(monitor + '/metrics')).text();
  const want = labels ? name + '{' + labels + '} ' : name + ' ';
  const line = text.split('\n').find((l) => l.startsWith(want));
  return line === undefined ? undefined : Number(line.slice(want.length));
}

async function pageNumber(page, id) {
  const t = await page.textContent('#' + id);
  return Number(String(t).replace(/[^0-9.]/g, ''));
}

// Polls cond() (async) every 250 ms until it holds or ms pass.
async function until(cond, ms) {
  const end = Date.now() + ms;
  for (;;) {
    if (await cond()) return true;
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 250));
  }
}

const profile = mkdtempSync(path.join(tmpdir(), 'dashboard-chromium-'));
let context;
try {
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 1000 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const page = context.pages()[0] || await context.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push('page error: ' + e.message));
  // failed loads are judged by their address below (the browser's own /favicon.ico is no
  // part of the page), everything else on the console that is an error counts
  page.on('console', (m) => {
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource'))
      problems.push('console: ' + m.text());
  });
  page.on('response', (r) => {
    const u = new URL(r.url());
    if (r.status() >= 400 && u.pathname !== '/favicon.ico' &&
        (expectCharts || !u.pathname.startsWith('/vendor/')))
      problems.push(r.status() + ' for ' + u.pathname);
  });

  const res = await page.goto(monitor + '/dashboard', { waitUntil: 'load' });
  check(res && res.status() === 200, 'the page loads', res ? 'status ' + res.status() : 'no response');
  const csp = res ? res.headers()['content-security-policy'] || '' : '';
  check(csp.includes("default-src 'self'"), 'the page has a strict CSP', csp);

  const first = await until(async () =>
    Number(await page.getAttribute('body', 'data-updates') || 0) >= 1, 15000);
  check(first, 'the figures arrive from /dashboard.json');

  const charts = await page.getAttribute('body', 'data-charts');
  if (expectCharts) {
    check(charts === 'yes', 'the chart library is loaded', 'data-charts=' + charts);
    // drawn once the monitor has two samples (one point a second)
    const drawn = await until(async () => (await page.locator('canvas').count()) >= 3, 10000);
    check(drawn, 'three charts are drawn', (await page.locator('canvas').count()) + ' canvases');
  } else {
    check(charts === 'no', 'without the chart library the page knows it', 'data-charts=' + charts);
    const note = (await page.textContent('#chart-status')) || '';
    check(await page.isVisible('#chart-status') && note.includes('not installed'),
      'the page says the chart library is not installed', note);
  }

  // traffic, then the figures must move
  const before = await pageNumber(page, 'total-health');
  // in four bursts, so the charts have a shape; unknown paths add a second class (other)
  let sent = 0, unknown = 0;
  for (let i = 0; i < TRAFFIC; i++) {
    const r = await fetch(api + '/api/v1/health/live');
    await r.arrayBuffer();
    if (r.status === 200) sent++;
    if (i % 4 === 0) {
      const u = await fetch(api + '/api/v1/no-such-route');
      await u.arrayBuffer();
      if (u.status === 404) unknown++;
    }
    if (i % 10 === 9) await new Promise((res) => setTimeout(res, 600));
  }
  check(sent === TRAFFIC && unknown === TRAFFIC / 4, 'the traffic is answered',
    sent + ' of ' + TRAFFIC + ' health, ' + unknown + ' 404');
  const moved = await until(async () =>
    (await pageNumber(page, 'total-health')) >= before + TRAFFIC, 10000);
  check(moved, 'the health total moves by the traffic', 'from ' + before + ' to ' +
    await pageNumber(page, 'total-health'));
  const windowed = await until(async () =>
    (await pageNumber(page, 'window-health')) >= TRAFFIC &&
    (await pageNumber(page, 'rate-health')) > 0, 10000);
  check(windowed, 'the last minute counts the traffic and its rate',
    'window ' + await pageNumber(page, 'window-health'));
  const p99 = await page.textContent('#p99-health');
  check(/^[0-9]+\.[0-9]{3}$/.test(String(p99)), 'the health p99 is shown', p99);

  // agreement with /metrics: nothing else is sent now, so both settle on the same numbers
  let last = '';
  const agree = await until(async () => {
    const m = await metric('enterprise_http_request_duration_seconds_count', 'class="health"');
    const p = await pageNumber(page, 'total-health');
    last = 'page ' + p + ', /metrics ' + m;
    return m !== undefined && p === m;
  }, 5000);
  check(agree, 'the health total equals /metrics', last);

  const names = ['CLOSED', 'OPEN', 'HALF_OPEN'];
  for (const dep of ['mongodb', 'redis']) {
    const m = await metric('enterprise_circuit_breaker_state', 'dependency="' + dep + '"');
    const p = await page.textContent('#breaker-' + dep);
    check(p === names[m], 'the ' + dep + ' breaker state equals /metrics', 'page ' + p + ', /metrics ' + m);
  }
  const restarts = await metric('enterprise_worker_restarts_total');
  check(await pageNumber(page, 'restarts') === restarts, 'worker restarts equal /metrics');
  const workers = await metric('enterprise_workers');
  check(await pageNumber(page, 'workers-live') === workers, 'live workers equal /metrics');

  const json = await (await fetch(monitor + '/dashboard.json')).json();
  if (json.slowQueries.recent.length > 0) {
    const listed = await until(async () =>
      (await page.locator('#slow-recent tbody tr').count()) > 0, 5000);
    check(listed, 'the recent slow queries are listed');
  }
  const series = json.series.classes.health;
  const charted = series ? series.rate.reduce((a, b) => a + b, 0) : 0;
  check(charted >= TRAFFIC, 'the rate series holds the traffic', 'sum ' + charted);

  // a chart drawn after the traffic, for the screenshot
  await new Promise((r) => setTimeout(r, 1500));
  mkdirSync(path.dirname(shot), { recursive: true });
  await page.screenshot({ path: shot, fullPage: true });
  check(true, 'screenshot saved to ' + shot);

  check(problems.length === 0, 'no script error, CSP violation or failed load', problems.join('; '));
} catch (e) {
  check(false, 'the browser run', e && e.stack ? e.stack : String(e));
} finally {
  if (context) await context.close().catch(() => {});
  rmSync(profile, { recursive: true, force: true });
}
console.log('dashboard browser test: ' + (failed === 0 ? 'passed' : failed + ' failed'));
process.exit(failed === 0 ? 0 : 1);
