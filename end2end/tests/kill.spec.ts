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
