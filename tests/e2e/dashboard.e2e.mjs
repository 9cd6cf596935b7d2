// Browser test of the fedpress dashboard (web/), against a real server with
// real clients: headless Debian chromium driven by playwright-core.
//
// Environment:
//   FEDPRESS_URL          base URL serving the dashboard, with /api reaching the server (required)
//   FEDPRESS_TOKEN        admin token (optional; given to the page as #token=...)
//   FEDPRESS_CLIENTS      connected clients expected on the clients page (default 2)
//   FEDPRESS_E2E_ROUNDS   rounds of the job created from the form (default 2)
//   FEDPRESS_E2E_CPR      clients_per_round (default 2)
//   FEDPRESS_E2E_MODEL    model (default mlp)
//   FEDPRESS_E2E_TIMEOUT  overall limit in seconds (default 120)
//   FEDPRESS_E2E_PATH_ROUTES  1 (default) also opens the path form /jobs/{id}; 0 skips it
//                         (needs the server's index.html fallback for client routes)
//   FEDPRESS_ARTIFACTS    screenshot folder (default tests/e2e/artifacts)
//   CHROMIUM              browser binary (default /usr/bin/chromium)
//
// Exit code 0 when every check passes; otherwise 1 and a message naming the
// failed check. Prints "e2e: N passed, M failed" last.
import { chromium } from 'playwright-core';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const env = process.env;
const BASE = (env.FEDPRESS_URL ?? '').replace(/\/+$/, '');
const TOKEN = env.FEDPRESS_TOKEN ?? '';
const CLIENTS = Number(env.FEDPRESS_CLIENTS ?? 2);
const ROUNDS = Number(env.FEDPRESS_E2E_ROUNDS ?? 2);
const CPR = Number(env.FEDPRESS_E2E_CPR ?? 2);
const MODEL = env.FEDPRESS_E2E_MODEL ?? 'mlp';
const TIMEOUT_S = Number(env.FEDPRESS_E2E_TIMEOUT ?? 120);
const PATH_ROUTES = (env.FEDPRESS_E2E_PATH_ROUTES ?? '1') !== '0';
const ARTIFACTS = env.FEDPRESS_ARTIFACTS ?? join(here, 'artifacts');
const CHROMIUM = env.CHROMIUM ?? '/usr/bin/chromium';

if (!BASE) {
  console.error('e2e: FEDPRESS_URL is not set (e.g. http://127.0.0.1:8080)');
  process.exit(2);
}

const started = Date.now();
const remainingMs = () => Math.max(1000, TIMEOUT_S * 1000 - (Date.now() - started));
let passed = 0;
let failed = 0;
let browser = null;
let userDir = null;
const consoleErrors = [];

class CheckFailed extends Error {}

function log(msg) {
  console.log(`[${((Date.now() - started) / 1000).toFixed(1).padStart(5)} s] ${msg}`);
}

async function check(name, fn) {
  try {
    await fn();
    passed++;
    log(`ok   ${name}`);
  } catch (e) {
    failed++;
    log(`FAIL ${name}: ${e instanceof CheckFailed ? e.message : (e?.message ?? e)}`);
    throw new CheckFailed(`${name}: ${e?.message ?? e}`);
  }
}

function expect(cond, msg) {
  if (!cond) throw new CheckFailed(msg);
}

const tid = (id) => `[data-testid="${id}"]`;

async function shot(page, name) {
  const path = join(ARTIFACTS, name);
  await page.screenshot({ path, fullPage: true });
  log(`     screenshot ${path}`);
}

async function noHorizontalScroll(page) {
  const { sw, vw } = await page.evaluate(() => ({
    sw: document.documentElement.scrollWidth,
    vw: window.innerWidth,
  }));
  expect(sw <= vw + 1, `page is ${sw}px wide in a ${vw}px viewport (horizontal scroll)`);
}

async function main() {
  mkdirSync(ARTIFACTS, { recursive: true });
  userDir = mkdtempSync(join(tmpdir(), 'fedpress-e2e-'));
  const context = await chromium.launchPersistentContext(userDir, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 800 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    timeout: 30000,
  });
  browser = context;
  context.setDefaultTimeout(15000);
  const page = context.pages()[0] ?? (await context.newPage());
  page.on('pageerror', (e) => consoleErrors.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    // The events WebSocket may be absent (the page then polls): not an error.
    // HTTP errors the test provokes (400 on the bad field) and an absent
    // events WebSocket (the page then polls) are logged by the browser but
    // are not page errors.
    if (m.type() === 'error' && !/api\/events|WebSocket|Failed to load resource/i.test(m.text()))
      consoleErrors.push(m.text());
  });
  page.on('dialog', (d) => d.accept());

  await check('jobs page opens with the token', async () => {
    const url = TOKEN ? `${BASE}/#token=${encodeURIComponent(TOKEN)}` : `${BASE}/#/jobs`;
    await page.goto(url, { waitUntil: 'domcontentloaded' });
    await page.waitForSelector(tid('page-jobs'));
    await page.waitForSelector(
      '[data-testid^="job-row-"], [data-testid="jobs-empty"], [data-testid="auth-error"]:not([hidden])',
    );
    expect(!(await page.isVisible(tid('auth-error'))), 'the page shows an authorisation error');
    expect(!page.url().includes('token='), 'the token stays in the address bar');
    if (TOKEN) {
      const stored = await page.evaluate(() => localStorage.getItem('fedpress.token'));
      expect(stored === TOKEN, 'the token was not stored in localStorage');
    }
  });

  await check('bad field: the server validation message shows next to it', async () => {
    await page.click(tid('new-job-button'));
    await page.waitForSelector(tid('new-job-form'));
    await page.fill(tid('field-name'), `e2e-invalid-${Date.now()}`);
    await page.fill(tid('field-rounds'), '0');
    await page.click(tid('submit-job'));
    const err = page.locator(tid('error-rounds'));
    await err.waitFor({ state: 'visible' });
    const text = (await err.textContent()) ?? '';
    expect(/\S/.test(text), 'empty error message for rounds');
    expect(/0|between|must/i.test(text), `unexpected message for rounds: "${text}"`);
    expect(await page.isVisible(tid('form-error')), 'no form-level summary of the rejection');
    expect(/#\/jobs\/new/.test(page.url()), `left the form after a rejected submit: ${page.url()}`);
    const cls = (await page.getAttribute(tid('field-rounds'), 'class')) ?? '';
    expect(cls.includes('invalid'), 'the rounds input is not marked invalid');
    log(`     rounds error: "${text}"`);
    await shot(page, 'new-job-validation-1280.png');
  });

  let jobId = 0;
  await check('create a job from the form', async () => {
    await page.fill(tid('field-name'), `e2e-${Date.now()}`);
    await page.selectOption(tid('field-model'), MODEL);
    await page.fill(tid('field-rounds'), String(ROUNDS));
    await page.fill(tid('field-clients_per_round'), String(CPR));
    await page.selectOption(tid('field-compression'), 'none');
    const est = (await page.textContent(tid('compression-estimate'))) ?? '';
    expect(/estimate/i.test(est), `no estimate label: "${est}"`);
    await page.click(tid('submit-job'));
    await page.waitForURL(/#\/jobs\/\d+$/);
    jobId = Number(page.url().match(/#\/jobs\/(\d+)$/)[1]);
    await page.waitForSelector(tid('page-job'));
    expect(jobId > 0, 'no job id in the URL');
    log(`     job #${jobId}`);
  });

  await check('rounds appear live in the table and the charts', async () => {
    await page.waitForFunction(
      () => document.querySelectorAll('[data-testid="round-row"]').length >= 1,
      null,
      { timeout: Math.min(90000, remainingMs() - 20000) },
    );
    // Pipelined evaluation: a round's accuracy arrives after its row.
    await page.waitForFunction(
      () => Number(document.querySelector('[data-testid="chart-accuracy"]')?.getAttribute('data-points')) >= 1,
      null,
      { timeout: Math.min(60000, remainingMs() - 20000) },
    );
    const chart = page.locator(tid('chart-accuracy'));
    const pts = Number(await chart.getAttribute('data-points'));
    expect(pts >= 1, `accuracy chart has ${pts} points`);
    expect((await chart.locator('canvas').count()) >= 1, 'accuracy chart has no canvas');
    for (const c of ['chart-upload', 'chart-download', 'chart-saved', 'chart-duration']) {
      expect(Number(await page.getAttribute(tid(c), 'data-points')) >= 1, `${c} has no data`);
    }
    const rows = await page.locator(tid('participant-row')).count();
    expect(rows >= 1, 'participants table is empty');
  });

  await check(`job runs to completion (${ROUNDS} rounds) without a reload`, async () => {
    await page.waitForFunction(
      () => {
        const s = document.querySelector('[data-testid="job-status"]')?.textContent;
        return s === 'completed' || s === 'failed' || s === 'cancelled';
      },
      null,
      { timeout: Math.max(5000, remainingMs() - 25000) },
    );
    const status = await page.textContent(tid('job-status'));
    const err = (await page.isVisible(tid('job-error'))) ? await page.textContent(tid('job-error')) : '';
    expect(status === 'completed', `job ended ${status} ${err}`);
    await page.waitForFunction(
      (n) => document.querySelectorAll('[data-testid="round-row"]').length >= n,
      ROUNDS,
      { timeout: 10000 },
    );
    const first = await page.getAttribute(`${tid('round-row')} >> nth=0`, 'data-round');
    expect(Number(first) === ROUNDS, `newest round is not first (first row is round ${first})`);
    // Every round's accuracy reached the page (pipelined ones by round_evaluated).
    await page.waitForFunction(
      () => [...document.querySelectorAll('[data-testid="round-accuracy"]')].every((td) => /%/.test(td.textContent ?? '')),
      null,
      { timeout: 15000 },
    );
    await page.waitForTimeout(300); // let the charts settle
    await shot(page, 'job-1280.png');
  });

  await check('a shared job link opens that job', async () => {
    const p2 = await context.newPage();
    p2.on('pageerror', (e) => consoleErrors.push(`page error: ${e.message}`));
    const urls = [`${BASE}/#/jobs/${jobId}`];
    if (PATH_ROUTES) urls.push(`${BASE}/jobs/${jobId}`);
    for (const u of urls) {
      await p2.goto(u, { waitUntil: 'domcontentloaded' });
      await p2.waitForSelector(`${tid('page-job')}[data-job-id="${jobId}"]`);
      await p2.waitForSelector(tid('round-row'));
    }
    await p2.close();
  });

  await check(`clients page lists ${CLIENTS} connected clients`, async () => {
    await page.click(tid('nav-clients'));
    await page.waitForSelector(tid('page-clients'));
    await page.waitForFunction(
      (n) => document.querySelectorAll('[data-testid="client-row"][data-connected="true"]').length >= n,
      CLIENTS,
    );
    await shot(page, 'clients-1280.png');
    await page.click(tid('nav-jobs'));
    await page.waitForSelector(`${tid('job-row-' + jobId)}`);
    await shot(page, 'jobs-1280.png');
  });

  if (TOKEN) {
    await check('a wrong token shows a clear 401 message', async () => {
      const p3 = await context.newPage();
      await p3.goto(`${BASE}/#token=wrong-${Date.now()}`, { waitUntil: 'domcontentloaded' });
      await p3.waitForSelector(tid('auth-error'), { state: 'visible' });
      const t = (await p3.textContent(tid('auth-error'))) ?? '';
      expect(/401/.test(t), `auth message does not mention 401: "${t}"`);
      // Put the right token back for the rest of the run.
      await p3.evaluate((t) => localStorage.setItem('fedpress.token', t), TOKEN);
      await p3.close();
    });
  }

  await check('phone width (375×812): no page-level horizontal scroll', async () => {
    await page.setViewportSize({ width: 375, height: 812 });
    await page.goto(`${BASE}/#/jobs`, { waitUntil: 'domcontentloaded' });
    await page.waitForSelector(tid(`job-row-${jobId}`));
    await noHorizontalScroll(page);
    await shot(page, 'jobs-375.png');
    await page.goto(`${BASE}/#/jobs/${jobId}`);
    await page.waitForSelector(tid('round-row'));
    await page.waitForTimeout(300);
    await noHorizontalScroll(page);
    await shot(page, 'job-375.png');
    await page.goto(`${BASE}/#/jobs/new`);
    await page.waitForSelector(tid('new-job-form'));
    await noHorizontalScroll(page);
    await shot(page, 'new-job-375.png');
    await page.goto(`${BASE}/#/clients`);
    await page.waitForSelector(`${tid('client-row')}[data-connected="true"]`);
    await noHorizontalScroll(page);
    await shot(page, 'clients-375.png');
  });

  await check('no uncaught errors in the page', async () => {
    expect(consoleErrors.length === 0, consoleErrors.join(' | '));
  });
}

async function cleanup() {
  try {
    await browser?.close();
  } catch {
    /* already gone */
  }
  if (userDir) rmSync(userDir, { recursive: true, force: true });
}

const timer = setTimeout(async () => {
  console.error(`e2e: FAILED: overall timeout of ${TIMEOUT_S} s exceeded`);
  console.log(`e2e: ${passed} passed, ${failed + 1} failed`);
  await cleanup();
  process.exit(1);
}, TIMEOUT_S * 1000);

let code = 0;
try {
  await main();
} catch (e) {
  code = 1;
  if (!(e instanceof CheckFailed)) {
    failed++;
    console.error(`e2e: error: ${e?.stack ?? e}`);
  }
  console.error(`e2e: FAILED: ${e?.message ?? e}`);
  if (consoleErrors.length) console.error(`e2e: page console errors: ${consoleErrors.join(' | ')}`);
}
clearTimeout(timer);
await cleanup();
console.log(`e2e: ${passed} passed, ${failed} failed`);
process.exit(code);
