import { expect, test } from '@playwright/test';
import { Dashboard, resetServer, withTwoViewers } from './dashboard';

test.beforeEach(async ({ request }) => resetServer(request));

test('the live graph shows every service of the demo and its edges', async ({ page }) => {
  const dashboard = new Dashboard(page);
  await dashboard.open();
  for (const service of ['web', 'mobile-api', 'catalog', 'catalog-db', 'payments']) {
    await expect(dashboard.node(service)).toHaveAttribute('data-health', 'healthy');
  }
  await expect(dashboard.edge('catalog', 'catalog-db')).toBeVisible();
  await dashboard.expectAvailability((a) => a > 0.99);
  await dashboard.expectAvailability((a) => a > 0.99, 'availability-web');
});

test('a kill in one browser shows in another, and revive brings it back', async ({ browser }) => {
  await withTwoViewers(browser, async (a, b) => {
    await a.select('catalog-db');
    await expect(a.node('catalog-db')).toHaveClass(/selected/);
    await a.kill();

    // Both browsers see it down, with the fault listed and availability collapsing:
    // every request of both entries reads the catalog, which needs catalog-db.
    for (const view of [a, b]) {
      await expect(view.node('catalog-db')).toHaveAttribute('data-health', 'down');
      await expect(view.faultList()).toContainText('catalog-db');
      await view.expectAvailability((share) => share < 0.05);
    }
    // The timeline marks the fault and counts the time under the objective.
    await expect(b.page.getByTestId('fault-mark')).toHaveCount(1);
    await expect(b.page.getByTestId('outage')).toContainText(/[\d.]+ s under 99% this run/);
    // The event log says what happened, and what it did, in plain words.
    await expect(a.page.getByTestId('event-log')).toContainText(
      /kill catalog-db — availability [\d.]+% → 0\.0%/,
      { timeout: 8000 },
    );

    await a.revive();
    for (const view of [a, b]) {
      await expect(view.node('catalog-db')).not.toHaveAttribute('data-health', 'down');
      await expect(view.faultList()).not.toContainText('catalog-db');
      await view.expectAvailability((share) => share > 0.99);
    }
  });
});

test('chaos buttons wait for a selection, and the API names a bad fault field', async ({ page }) => {
  const dashboard = new Dashboard(page);
  await dashboard.open();
  // Nothing selected: the chaos buttons are disabled rather than failing.
  await expect(page.getByTestId('kill')).toBeDisabled();
  await expect(page.getByTestId('revive')).toBeDisabled();
  // The API names the bad field.
  const response = await page.request.post('/api/faults', {
    data: { kind: 'kill', service: 'nope' },
  });
  expect(response.status()).toBe(422);
  expect(await response.json()).toEqual({
    error: "no service is named 'nope'",
    path: 'service',
  });
});

test('one instance can be killed alone, and a link partitioned and healed', async ({ page }) => {
  test.setTimeout(60_000);
  const dashboard = new Dashboard(page);
  await dashboard.open();
  await dashboard.select('catalog');
  await page.getByTestId('instance-2').click();
  await dashboard.kill();
  await expect(page.getByTestId('instance-2')).toHaveClass(/down/);
  await expect(page.getByTestId('instance-1')).toHaveClass(/up/);
  // Two of three catalog instances still serve: the service is degraded, not down.
  await expect(dashboard.node('catalog')).toHaveAttribute('data-health', 'degraded');
  await expect(dashboard.faultList()).toContainText('catalog#2');
  await dashboard.revive();
  await expect(dashboard.node('catalog')).not.toHaveAttribute('data-health', 'degraded', { timeout: 8000 });

  // Cut web → auth: every web request needs auth, mobile-api's do not go that way.
  await dashboard.selectEdge('web', 'auth');
  await expect(page.getByTestId('edge-card')).toContainText('web → auth');
  await page.getByTestId('partition').click();
  await expect(dashboard.edge('web', 'auth')).toHaveClass(/cut/);
  await dashboard.expectAvailability((share) => share < 0.05, 'availability-web');
  await dashboard.expectAvailability((share) => share > 0.99, 'availability-mobile-api');
  await page.getByTestId('heal').click();
  await expect(dashboard.edge('web', 'auth')).not.toHaveClass(/cut/);
  await dashboard.expectAvailability((share) => share > 0.99, 'availability-web');
});

test('single points of failure are marked, and a selection shows its predicted blast radius', async ({ page }) => {
  const dashboard = new Dashboard(page);
  await dashboard.open();
  // Every shop request needs catalog → catalog-db; recommend is optional.
  await expect(dashboard.node('catalog-db')).toHaveClass(/spof/);
  await expect(dashboard.node('recommend')).not.toHaveClass(/spof/);
  await dashboard.select('cart');
  // web calls cart in 30% of requests and checkout (which needs cart) in 5%.
  await expect(page.getByTestId('blast-radius')).toContainText('web 66.5%');
  await expect(page.getByTestId('blast-radius')).toContainText('mobile-api 50.0%');
});

test('hovering a service shows its live figures and its predicted blast radius', async ({ page }) => {
  const dashboard = new Dashboard(page);
  await dashboard.open();
  const title = dashboard.node('catalog-db').locator(':scope > title');
  await expect(title).toContainText('catalog-db — healthy');
  // catalog-db is a single point of failure of both entries: nothing would succeed.
  await expect(title).toContainText('If killed, still succeeding: web 0.0%, mobile-api 0.0%');
});
