import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect, test } from '@playwright/test';
import { Dashboard, resetServer } from './dashboard';

test.beforeEach(async ({ request }) => resetServer(request));

test('the compare view shows how much the routing design changes the damage of a kill', async ({ page, request }) => {
  const dashboard = new Dashboard(page);
  await dashboard.open();
  await dashboard.screen('compare');
  for (const mode of ['dns', 'lb', 'smart']) {
    await expect(page.getByTestId(`compare-node-${mode}-auth`)).toHaveAttribute('data-health', 'healthy');
  }
  expect((await request.put('/api/session', { data: { speed: 5 } })).ok()).toBe(true);
  // One of auth's two instances killed, through the panel, as a person would.
  await page.getByTestId('compare-node-dns-auth').click();
  await page.getByTestId('instance-1').click();
  await dashboard.kill();
  for (const mode of ['dns', 'lb', 'smart']) {
    await expect(page.getByTestId(`compare-node-${mode}-auth`)).toHaveAttribute('data-health', 'degraded');
  }
  // DNS clients keep calling the dead instance until their cached answer expires; smart
  // clients drop it within seconds: the curves part and the losses differ by far.
  await expect
    .poll(async () => {
      const [dns, smart] = [await dashboard.compareLost('dns'), await dashboard.compareLost('smart')];
      return dns > 100 && dns > 5 * smart;
    }, { timeout: 20_000, intervals: [500], message: 'the losses never diverged' })
    .toBe(true);
  const lowest = async (mode: string) => {
    const points = (await page.getByTestId(`compare-line-${mode}`).getAttribute('points')) ?? '';
    return Math.max(...points.trim().split(' ').map((p) => Number(p.split(',')[1])));
  };
  // In SVG y grows downwards: the DNS curve dips further than the smart one.
  expect(await lowest('dns')).toBeGreaterThan(await lowest('smart'));
  // Leaving the view closes the comparison on the server.
  await dashboard.screen('live');
  await expect.poll(async () => (await request.get('/api/compare')).status()).toBe(404);
});

test('on a narrow screen the compare view ends before the side panel starts', async ({ page }) => {
  await page.setViewportSize({ width: 420, height: 900 });
  const dashboard = new Dashboard(page);
  await dashboard.open();
  await dashboard.screen('compare');
  await expect(page.locator('.compare-table')).toBeVisible();
  // Stacked, its graphs, chart and table are taller than the screen: they must push the
  // side panel down, not run over it.
  const compare = (await page.getByTestId('compare').boundingBox())!;
  const table = (await page.locator('.compare-table').boundingBox())!;
  const side = (await page.locator('.side').boundingBox())!;
  expect(table.y + table.height).toBeLessThanOrEqual(compare.y + compare.height + 1);
  expect(side.y).toBeGreaterThanOrEqual(compare.y + compare.height - 1);
});

test('a kill shows the predicted blast radius beside the observed one', async ({ page }) => {
  const dashboard = new Dashboard(page);
  await dashboard.open();
  await dashboard.select('cart');
  await dashboard.kill();
  await expect(page.getByTestId('blast-radius')).toContainText('predicted → observed');
  // Predicted 66.5% for web; observed within a few points once the kill has settled.
  await expect
    .poll(async () => {
      const text = (await page.getByTestId('observed-web').textContent()) ?? '';
      const observed = Number(text.replace(/[^\d.]/g, '')) / 100;
      return Math.abs(observed - 0.665) < 0.1;
    }, { timeout: 10_000, intervals: [250] })
    .toBe(true);
});

test('replay scrubs back to a past second, and a run exported here loads and replays', async ({ page, request }) => {
  const dashboard = new Dashboard(page);
  await dashboard.open();
  expect((await request.put('/api/session', { data: { paused: true } })).ok()).toBe(true);
  expect((await request.post('/api/session/step', { data: { seconds: 3 } })).ok()).toBe(true);
  const kill = await request.post('/api/faults', { data: { kind: 'kill', service: 'catalog-db' } });
  expect(kill.status()).toBe(201);
  expect((await request.post('/api/session/step', { data: { seconds: 4 } })).ok()).toBe(true);
  const { id } = await kill.json();
  expect((await request.delete(`/api/faults/${id}`)).status()).toBe(204);
  expect((await request.post('/api/session/step', { data: { seconds: 4 } })).ok()).toBe(true);
  await expect(dashboard.node('catalog-db')).toHaveAttribute('data-health', 'healthy');

  await dashboard.screen('replay');
  await expect(page.getByTestId('connection')).toContainText('Replaying');
  // Paused a moment after the reset: 11 s and a fraction.
  await expect(page.getByTestId('replay-time')).toContainText(/of 0:1[12]/);
  await dashboard.scrubTo(5);
  await expect(page.getByTestId('replay-time')).toContainText('t = 0:05');
  await expect(dashboard.node('catalog-db')).toHaveAttribute('data-health', 'down');
  await dashboard.scrubTo(2);
  await expect(dashboard.node('catalog-db')).toHaveAttribute('data-health', 'healthy');

  // Export, then load the file back, as someone else would: the same run, second by second.
  const recording = await (await request.get('/api/runs/live/recording')).text();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'blastradius-run-'));
  const file = path.join(dir, 'shop-run.json');
  fs.writeFileSync(file, recording);
  await page.getByTestId('replay-file').setInputFiles(file);
  // The page reads the file after the input changes: remove it only once it is loaded.
  await expect(page.getByTestId('replay-bar')).toContainText('loaded run');
  fs.rmSync(dir, { recursive: true, force: true });
  await dashboard.scrubTo(6);
  await expect(dashboard.node('catalog-db')).toHaveAttribute('data-health', 'down');

  await page.getByTestId('replay-exit').click();
  await expect(page.getByTestId('replay-bar')).toHaveCount(0);
  await expect(page.getByTestId('connection')).toHaveText(/Live/);
  await expect(dashboard.node('catalog-db')).toHaveAttribute('data-health', 'healthy');
});

test('the resilience report names the single points of failure', async ({ page }) => {
  const dashboard = new Dashboard(page);
  await dashboard.open();
  await page.getByTestId('open-report').click();
  await expect(page.getByTestId('report-spof')).toContainText('catalog-db');
  await expect(page.getByTestId('report-kill')).toContainText('smart', { timeout: 20_000 });
  await expect(page.getByTestId('report-markdown')).toHaveAttribute('href', /format=markdown/);
});

test('the routing table marks the entries still pointing at a dead instance', async ({ page, request }) => {
  expect((await request.put('/api/session', { data: { routing_mode: 'dns' } })).ok()).toBe(true);
  const dashboard = new Dashboard(page);
  await dashboard.open();
  await dashboard.select('auth');
  await page.getByTestId('instance-1').click();
  await dashboard.kill();
  // DNS answers are cached for 30 s: every caller still lists the dead instance.
  await expect(page.getByTestId('routing-table')).toContainText('cached DNS answer');
  await expect(page.getByTestId('stale-entry')).toHaveCount(5);
  // Smart clients learn from the registry within seconds: no stale entry left.
  expect((await request.put('/api/session', { data: { routing_mode: 'smart' } })).ok()).toBe(true);
  await expect(page.getByTestId('routing-table')).toContainText('from the registry', { timeout: 5000 });
  await expect(page.getByTestId('stale-entry')).toHaveCount(0, { timeout: 10_000 });
});
