import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type Page, expect, test } from '@playwright/test';
import { type Started, start, stop, stopAll } from './processes';

// The page follows the lean stream (`/api/stream`: quantised figures, only what changed);
// the JSON tick on `/api/events` stays the contract. What the page shows must be the JSON
// tick's figures at the page's precision, nothing lost — and again after a reconnect.

const port = Number(process.env.E2E_STREAM_PORT ?? '8771');
const base = `http://127.0.0.1:${port}`;

// A test that timed out never reached its `finally`: what it started is stopped here.
test.afterEach(stopAll);

/** The current JSON tick, from the contract stream (its first snapshot's state). */
async function jsonTick(page: Page): Promise<any> {
  // On the page's origin (whichever server it shows).
  return page.evaluate(
    () =>
      new Promise((resolve, reject) => {
        const source = new EventSource('/api/events');
        source.addEventListener('snapshot', (event) => {
          source.close();
          resolve(JSON.parse((event as MessageEvent).data).state);
        });
        source.onerror = () => reject(new Error('no snapshot from /api/events'));
      }),
  );
}

/** A figure as the page writes it (`170/s`, `99.2%`, `4.2 ms`, `12.5 s`, `—`) → a number. */
function figure(text: string): number | null {
  if (text.trim() === '—') return null;
  const value = Number.parseFloat(text);
  return text.trim().endsWith(' s') ? value * 1000 : value;
}

/** Whether `shown` is `exact` at the page's precision: within half its last place. */
function same(shown: string, exact: number | null, kind: 'rate' | 'percent' | 'millis'): boolean {
  const value = figure(shown);
  if (exact === null || exact === undefined) return value === null;
  if (value === null) return false;
  const x = kind === 'percent' ? exact * 100 : exact;
  const unit =
    kind === 'percent' ? 0.1 : kind === 'rate' ? (x < 10 ? 0.1 : 1) : x < 10 ? 0.1 : x < 10_000 ? 1 : 100;
  return Math.abs(value - x) <= unit / 2 + 1e-9;
}

/** Every service's, link's and entry's figures on the page against the JSON tick's. */
async function expectPageShows(page: Page, tick: any) {
  const mismatches: string[] = [];
  for (const [name, f] of Object.entries<any>(tick.services)) {
    const title = (await page.getByTestId(`node-${name}`).locator(':scope > title').textContent()) ?? '';
    const m = title.match(/(\S+) · (\S+) succeeding · p50 (\S+(?: s| ms)?) · p99 (\S+(?: s| ms)?) · (\S+) busy/);
    if (!m) {
      mismatches.push(`${name}: no figures in "${title}"`);
      continue;
    }
    const [, rps, ok, p50, p99, busy] = m;
    if (!same(rps, f.rps, 'rate')) mismatches.push(`${name} rps ${rps} vs ${f.rps}`);
    if (!same(ok, f.success_rate, 'percent')) mismatches.push(`${name} success ${ok} vs ${f.success_rate}`);
    if (!same(p50, f.p50_ms, 'millis')) mismatches.push(`${name} p50 ${p50} vs ${f.p50_ms}`);
    if (!same(p99, f.p99_ms, 'millis')) mismatches.push(`${name} p99 ${p99} vs ${f.p99_ms}`);
    if (!same(busy, f.utilization, 'percent')) mismatches.push(`${name} busy ${busy} vs ${f.utilization}`);
    if (!title.includes(`${f.health}: ${f.up} of ${f.replicas} instances up`)) {
      mismatches.push(`${name}: "${title}" is not ${f.health} with ${f.up} of ${f.replicas} up`);
    }
  }
  for (const link of tick.links) {
    const title =
      (await page.getByTestId(`edge-${link.from}-${link.to}`).locator(':scope > title').textContent()) ?? '';
    const m = title.match(/: (\S+) calls, (\S+) failing/);
    if (!m || !same(m[1], link.rps, 'rate') || !same(m[2], link.error_rate, 'percent')) {
      mismatches.push(`${link.from}->${link.to}: "${title}" vs ${link.rps}/s, ${link.error_rate}`);
    }
  }
  for (const [name, e] of Object.entries<any>(tick.entries)) {
    const shown = (await page.getByTestId(`availability-${name}`).textContent()) ?? '';
    if (!same(shown, e.availability, 'percent')) mismatches.push(`entry ${name} ${shown} vs ${e.availability}`);
  }
  const overall = (await page.getByTestId('availability').textContent()) ?? '';
  if (!same(overall, tick.availability, 'percent')) mismatches.push(`availability ${overall} vs ${tick.availability}`);
  expect(mismatches).toEqual([]);
}

/** Seconds the page's clock shows. */
async function clock(page: Page): Promise<number> {
  const text = (await page.locator('.clock').textContent()) ?? '';
  const m = text.match(/(\d+):(\d\d)/);
  return m ? Number(m[1]) * 60 + Number(m[2]) : Number.NaN;
}

test('the page shows the JSON tick’s figures through the lean stream, after a stall and after a server restart', async ({
  page,
}) => {
  test.setTimeout(90_000);
  // A server of its own: this test stops it, freezes it and starts it again.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'blastradius-stream-'));
  const args = ['serve', '--bind', `127.0.0.1:${port}`, '--dist', '../dist', '--data-dir', path.join(dir, 'data')];
  let server: Started = await start(args, /serving on/);
  const violations: string[] = [];
  page.on('console', (message) => {
    if (/Content.Security.Policy/i.test(message.text())) violations.push(message.text());
  });
  try {
    const api = (method: string, url: string, data?: unknown) =>
      page.request.fetch(`${base}${url}`, { method, data });
    const shop = await (await api('GET', '/api/templates/shop')).json();
    expect((await api('PUT', '/api/topology', shop)).ok()).toBe(true);
    await page.goto(base);
    await expect(page.getByTestId('connection')).toHaveAttribute('data-state', 'live');
    await expect(page.getByTestId('node-catalog-db')).toBeVisible();
    // A kill, so some figures are far from round; then hold the run still.
    await api('POST', '/api/faults', { kind: 'kill', service: 'cart', instance: 1 });
    await page.waitForTimeout(2_500);
    expect((await api('PUT', '/api/session', { paused: true })).ok()).toBe(true);
    await page.waitForTimeout(500);
    await expectPageShows(page, await jsonTick(page));

    // A stall: the server frozen (its connections open, silent). After 10 s the page
    // opens its stream again, and once the server wakes it resynchronises.
    const before = await clock(page);
    server.child.kill('SIGSTOP');
    try {
      await expect(page.getByTestId('connection')).toHaveAttribute('data-state', 'reconnecting', { timeout: 20_000 });
    } finally {
      server.child.kill('SIGCONT');
    }
    await expect(page.getByTestId('connection')).toHaveAttribute('data-state', 'live', { timeout: 15_000 });
    expect((await api('POST', '/api/session/step', { seconds: 3 })).ok()).toBe(true);
    await expect.poll(() => clock(page)).toBeGreaterThanOrEqual(before + 3);
    await page.waitForTimeout(300);
    await expectPageShows(page, await jsonTick(page));

    // A restart: the stream ends, the browser reconnects to the new server by itself and
    // shows its run from a fresh snapshot.
    await stop(server.child);
    await expect(page.getByTestId('connection')).toHaveAttribute('data-state', 'reconnecting', { timeout: 10_000 });
    server = await start(args, /serving on/);
    await expect(page.getByTestId('connection')).toHaveAttribute('data-state', 'live', { timeout: 20_000 });
    await page.waitForTimeout(1_500);
    expect((await api('PUT', '/api/session', { paused: true })).ok()).toBe(true);
    await page.waitForTimeout(500);
    await expectPageShows(page, await jsonTick(page));
    expect(violations).toEqual([]);
  } finally {
    await stop(server.child);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('the page runs under a policy that allows no inline script but its own loader, by hash', async ({
  page,
  request,
}) => {
  const answer = await request.get('/');
  const policy = answer.headers()['content-security-policy'] ?? '';
  const scriptSrc = policy.split(';').find((d) => d.trim().startsWith('script-src')) ?? '';
  expect(scriptSrc).not.toContain('unsafe-inline');
  expect(scriptSrc).toMatch(/'sha256-[A-Za-z0-9+/]+=*'/);
  const blocked: string[] = [];
  await page.exposeFunction('reportViolation', (what: string) => blocked.push(what));
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (event) =>
      (window as any).reportViolation(`${event.violatedDirective} ${event.blockedURI}`),
    );
  });
  await page.goto('/');
  await expect(page.getByTestId('connection')).toHaveAttribute('data-state', 'live');
  await expect(page.getByTestId('node-catalog-db')).toBeVisible();
  // An inline script a page might inject is refused.
  await page.evaluate(() => {
    const script = document.createElement('script');
    script.textContent = 'window.injected = true;';
    document.body.appendChild(script);
  });
  expect(await page.evaluate(() => (window as any).injected)).toBeUndefined();
  expect(blocked.some((b) => b.startsWith('script-src'))).toBe(true);
  expect(blocked.filter((b) => !b.includes('inline'))).toEqual([]);
});
