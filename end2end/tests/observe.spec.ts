import fs from 'node:fs';
import path from 'node:path';
import { expect, test } from '@playwright/test';
import { Dashboard } from './dashboard';
import { type Started, observedShop, start, stop, stopAll } from './processes';

// A server of its own started with --observe, and `blastradius demo` running the shop
// template as real processes that send it their spans; both stopped by their own ids.
const port = Number(process.env.E2E_OBSERVE_PORT ?? '8766');
const base = `http://127.0.0.1:${port}`;

// A test that timed out never reached its `finally`: what it started is stopped here.
test.afterEach(stopAll);

test('a real shop, observed live: its graph, availability, and a kill -9 shown down', async ({ page }) => {
  test.setTimeout(90_000);
  // A third of the template's load: 28 processes of a debug build share two cores with the
  // browser and the server here.
  const { dir, shop, server } = await observedShop('blastradius-observe-', port, 1 / 3);
  let demo: Started | undefined;
  try {
    // Before any span: the page says how to send them.
    const dashboard = new Dashboard(page);
    await page.goto(base);
    await expect(page.getByTestId('connection')).toHaveAttribute('data-state', 'live');
    await expect(page.getByTestId('source-observed')).toHaveAttribute('aria-pressed', 'true');
    await expect(page.getByTestId('observe-empty')).toContainText('OTEL_EXPORTER_OTLP_ENDPOINT');
    await page.screenshot({ path: path.join(dir, 'empty.png') });

    demo = await start(['demo', shop, '--server', base], /Ctrl-C stops every process/);
    // The real shop appears: every service of the file, with its links, as it runs.
    for (const service of ['web', 'mobile-api', 'catalog', 'catalog-db', 'cart', 'payments']) {
      await expect(dashboard.node(service)).toBeVisible({ timeout: 10_000 });
    }
    await expect(dashboard.edge('catalog', 'catalog-db')).toBeVisible();
    await expect(dashboard.edge('web', 'checkout')).toBeVisible();
    await expect(page.getByTestId('observe-empty')).toHaveCount(0);
    await dashboard.expectAvailability((a) => a > 0.97);
    await dashboard.expectAvailability((a) => a > 0.97, 'availability-web');
    // Simulation-only controls are out of the way, and say why.
    await expect(page.getByTestId('observing')).toBeVisible();
    await expect(page.getByTestId('template-select')).toBeHidden();
    await page.getByTestId('tab-chaos').click();
    await expect(page.getByTestId('observed-chaos-note')).toBeVisible();
    await expect(page.getByTestId('experiment-card')).toBeVisible();
    await page.getByTestId('tab-inspect').click();

    // kill -9 one catalog process: a real crash, shown down within 5 s.
    const pid = Number(/catalog#1\s+pid (\d+)/.exec(demo.output())?.[1]);
    expect(pid).toBeGreaterThan(0);
    // A whole second before the crash whose frame has every catalog instance up, to scrub
    // back to (the first frames may predate some instances' first spans).
    const before = { last_s: 0 };
    await expect
      .poll(async () => {
        const run = await (await page.request.get(`${base}/api/runs/observed?epochs=false`)).json();
        if (!run.last_s) return 0;
        const frame = await (await page.request.get(`${base}/api/runs/observed/frames/${run.last_s}`)).json();
        before.last_s = run.last_s;
        return frame.services?.catalog?.up ?? 0;
      }, { timeout: 10_000 })
      .toBe(3);
    const killedAt = Date.now();
    process.kill(pid, 'SIGKILL');
    await expect(dashboard.node('catalog').locator('.instance.down')).toHaveCount(1, { timeout: 5_000 });
    await expect(dashboard.node('catalog')).toHaveAttribute('data-health', 'degraded');
    console.log(`catalog#1 shown down ${Date.now() - killedAt} ms after kill -9`);
    await page.screenshot({ path: path.join(dir, 'killed.png') });

    // Replay: scrub back to before the crash, where every catalog instance was up.
    await dashboard.screen('replay');
    await expect(page.getByTestId('replay-bar')).toContainText('observed system');
    await expect(page.getByTestId('replay-export')).toBeHidden();
    await dashboard.scrubTo(before.last_s);
    const clock = `${Math.floor(before.last_s / 60)}:${String(before.last_s % 60).padStart(2, '0')}`;
    await expect(page.getByTestId('replay-time')).toContainText(`t = ${clock} of`);
    await expect(dashboard.node('catalog').locator('.instance.down')).toHaveCount(0);
    await expect(dashboard.node('catalog').locator('.instance.up')).toHaveCount(3);
    if (process.env.SCREENSHOT_DIR) {
      await page.screenshot({ path: path.join(process.env.SCREENSHOT_DIR, 'dashboard-observed-replay.png') });
    }
    await dashboard.screen('live');
    await expect(dashboard.node('catalog').locator('.instance.down')).toHaveCount(1);
    if (process.env.SCREENSHOT_DIR) {
      await page.screenshot({ path: path.join(process.env.SCREENSHOT_DIR, 'dashboard-observed.png') });
      await page.setViewportSize({ width: 420, height: 800 });
      await page.waitForTimeout(500);
      await page.screenshot({ path: path.join(process.env.SCREENSHOT_DIR, 'dashboard-observed-narrow.png') });
    }

  } finally {
    if (demo) await stop(demo.child);
    await stop(server.child);
    fs.rmSync(dir, { recursive: true, force: true });
  }
  // The demo stopped every process it started.
  expect(demo?.output()).toContain('every process stopped');
});
