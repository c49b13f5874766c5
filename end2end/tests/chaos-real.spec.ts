import path from 'node:path';
import { expect, test } from '@playwright/test';
import { Dashboard } from './dashboard';
import { stopAll, withRealShop } from './processes';

// The real shop (`blastradius demo`, every call through the server's fault proxies),
// observed, and broken from the page: the faults are real, the figures come from its spans.
const port = Number(process.env.E2E_CHAOS_PORT ?? '8769');

/** The share the text `12.5%` shows, NaN for `—`. */
const share = (text: string | null) => Number.parseFloat(text ?? '') / 100;

// A test that timed out never reached its `finally`: what it started is stopped here.
test.afterEach(stopAll);

test('the real shop broken from the page: kill, revive, partition, heal, an experiment', async ({ page }) => {
  test.setTimeout(120_000);
  // A sixth of the template's load: each call crosses two proxies in the (debug) server.
  await withRealShop('blastradius-chaos-real-', port, 1 / 6, async (base, demo) => {
    expect(demo.output()).toContain('fault proxies registered');
    const dashboard = new Dashboard(page);
    await page.goto(base);
    await expect(page.getByTestId('connection')).toHaveAttribute('data-state', 'live');
    await expect(dashboard.node('catalog-db')).toBeVisible({ timeout: 10_000 });
    await dashboard.expectAvailability((a) => a > 0.97);

    // Kill catalog-db from the page: its proxies refuse, every page needing the catalog
    // fails for real. Before: what the model of the traces predicts (every page needs it).
    await dashboard.select('catalog-db');
    await expect(page.getByTestId('observed-faults-note')).toBeVisible();
    const prediction = page.getByTestId('blast-radius');
    await expect(prediction).toContainText('the model of its traces predicts', { timeout: 15_000 });
    await expect(prediction).toContainText('web 0.0%');
    const clicked = Date.now();
    await dashboard.kill();
    await expect(page.getByTestId('fault-list')).toContainText(/kill\s*catalog-db/);
    await dashboard.expectAvailability((a) => a < 0.5);
    console.log(`availability under 50% ${Date.now() - clicked} ms after the Kill click`);
    await expect(dashboard.node('catalog-db')).toHaveAttribute('data-health', 'down', { timeout: 10_000 });
    await expect(page.getByTestId('event-log')).toContainText('kill catalog-db (real)');
    // The prediction and what really happened, side by side.
    await expect(prediction).toContainText('the model predicted → really now');
    await expect(page.getByTestId('observed-web')).toContainText('→ 0.0%');
    if (process.env.SCREENSHOT_DIR) {
      await page.screenshot({ path: path.join(process.env.SCREENSHOT_DIR, 'dashboard-real-kill.png') });
      await page.setViewportSize({ width: 420, height: 800 });
      await page.waitForTimeout(500);
      await page.screenshot({ path: path.join(process.env.SCREENSHOT_DIR, 'dashboard-real-kill-narrow.png'), fullPage: true });
      await page.setViewportSize({ width: 1280, height: 800 });
    }

    // Revive: the proxies start again and the shop recovers.
    await dashboard.revive();
    await expect(page.getByTestId('fault-list')).not.toContainText(/kill\s*catalog-db/);
    await dashboard.expectAvailability((a) => a > 0.95);
    await expect(dashboard.node('catalog-db')).not.toHaveAttribute('data-health', 'down', { timeout: 10_000 });

    // Partition web → cart: web's calls to cart time out and fail.
    await dashboard.selectEdge('web', 'cart');
    await page.getByTestId('partition').click();
    await expect(page.getByTestId('fault-list')).toContainText(/partition\s*web\s*→?\s*(->)?\s*cart/);
    await expect
      .poll(async () => share(await page.getByTestId('link-failing').textContent()), { timeout: 15_000 })
      .toBeGreaterThan(0.9);
    await expect(page.getByTestId('edge-card')).toContainText('cut');
    await page.getByTestId('heal').click();
    await expect(page.getByTestId('fault-list')).not.toContainText('partition');
    await expect
      .poll(async () => share(await page.getByTestId('link-failing').textContent()), { timeout: 15_000 })
      .toBeLessThan(0.05);

    // An experiment against the real system: catalog-db killed 2 s in; the hypothesis
    // (99% over 2 s) breaks and it aborts, its fault reverted.
    await dashboard.tab('chaos');
    await expect(page.getByTestId('observed-chaos-note')).toBeVisible();
    await dashboard.runExperiment({
      name: 'catalog-db dies for real',
      at: '2',
      kind: 'kill',
      target: 'catalog-db',
      duration: '',
      min: '99',
      over: '2',
      runFor: '20',
    });
    const verdict = page.getByTestId('experiment-verdict');
    await expect(verdict).toHaveText('RUNNING');
    await expect(page.getByTestId('experiment-card')).toContainText('on the real system');
    await expect(verdict).toHaveAttribute('data-verdict', 'aborted', { timeout: 20_000 });
    await expect(page.getByTestId('experiment-reason')).toContainText('broke at');
    const reports = await (await page.request.get(`${base}/api/experiments`)).json();
    const report = await (await page.request.get(`${base}/api/experiments/${reports[0].id}`)).json();
    expect(report.real).toBe(true);
    expect(report.verdict).toBe("aborted");
    // Its fault is gone, and the shop recovers.
    await expect.poll(async () => (await (await page.request.get(`${base}/api/faults`)).json()).length).toBe(0);
    await dashboard.expectAvailability((a) => a > 0.95);
  });
});
