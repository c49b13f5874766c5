import { expect, test } from '@playwright/test';
import { Dashboard, resetServer, withTwoViewers } from './dashboard';

test.beforeEach(async ({ request }) => resetServer(request));
test.afterAll(async ({ request }) => resetServer(request));

test('a template from the gallery replaces the live topology in every browser', async ({ browser }) => {
  await withTwoViewers(browser, async (a, b) => {
    await a.page.getByTestId('template-size').fill('5');
    await a.page.getByTestId('template-select').selectOption('ring');
    for (const view of [a, b]) {
      for (const service of ['svc-1', 'svc-2', 'svc-3', 'svc-4', 'svc-5']) {
        await expect(view.node(service)).toBeVisible();
      }
      await expect(view.node('catalog')).toHaveCount(0);
      await expect(view.edge('svc-5', 'svc-1')).toBeVisible();
      await view.expectAvailability((share) => share > 0.99);
    }
  });
});

test('the routing mode select switches the live session and its component', async ({ page, request }) => {
  const dashboard = new Dashboard(page);
  await dashboard.open();
  const select = page.getByTestId('routing-mode');
  await expect(select).toHaveValue('smart');
  await expect(dashboard.node('registry')).toBeVisible();
  await select.selectOption('lb');
  await expect(select).toHaveValue('lb');
  await expect.poll(async () => (await (await request.get('/api/session')).json()).routing_mode).toBe('lb');
  // The central load balancer appears; killing it takes everything down.
  await expect(dashboard.node('registry')).toHaveCount(0);
  await dashboard.select('lb');
  await expect(page.getByTestId('component-info')).toContainText('load balancer');
  await dashboard.kill();
  await expect(dashboard.node('lb')).toHaveAttribute('data-health', 'down');
  await dashboard.expectAvailability((share) => share < 0.05);
  await dashboard.revive();
  await expect(dashboard.node('lb')).toHaveAttribute('data-health', 'healthy');
  await dashboard.expectAvailability((share) => share > 0.99);
});

test('pause stops the clock and resume starts it again', async ({ page }) => {
  const dashboard = new Dashboard(page);
  await dashboard.open();
  await page.getByTestId('pause').click();
  await expect(page.getByTestId('pause')).toHaveText('Resume');
  const stopped = await dashboard.clock();
  await page.waitForTimeout(2500);
  expect(await dashboard.clock()).toBe(stopped);
  await page.getByTestId('pause').click();
  await expect(page.getByTestId('pause')).toHaveText('Pause');
  await expect.poll(() => dashboard.clock(), { timeout: 5000 }).toBeGreaterThan(stopped + 1);
});

test('a topology saved under a name loads again after a reload', async ({ page }) => {
  const dashboard = new Dashboard(page);
  await dashboard.open();
  await page.getByTestId('template-size').fill('5');
  await page.getByTestId('template-select').selectOption('star');
  await expect(dashboard.node('hub')).toBeVisible();
  await page.getByTestId('save-name').fill('my-star');
  await page.getByTestId('save').click();
  await expect(page.getByTestId('saved-select').locator('option', { hasText: 'my-star' })).toHaveCount(1);

  await page.getByTestId('template-size').fill('');
  await page.getByTestId('template-select').selectOption('shop');
  await expect(dashboard.node('catalog')).toBeVisible();

  await page.reload();
  await dashboard.open();
  await page.getByTestId('saved-select').selectOption('my-star');
  await expect(dashboard.node('hub')).toBeVisible();
  await expect(dashboard.node('client-4')).toBeVisible();
  await expect(dashboard.node('catalog')).toHaveCount(0);
});

test('keyboard shortcuts act like their buttons; help lists them; the theme is remembered', async ({ page }) => {
  const dashboard = new Dashboard(page);
  await dashboard.open();
  await dashboard.select('catalog-db');
  await page.keyboard.press('k');
  await expect(dashboard.node('catalog-db')).toHaveAttribute('data-health', 'down');
  await page.keyboard.press('r');
  await expect(dashboard.node('catalog-db')).toHaveAttribute('data-health', 'healthy');

  await page.keyboard.press('?');
  await expect(page.getByTestId('help-overlay')).toBeVisible();
  await expect(page.getByTestId('help-overlay')).toContainText('Kill the selected service');
  await page.keyboard.press('Escape');
  await expect(page.getByTestId('help-overlay')).toHaveCount(0);

  // Typing in a field is not a shortcut.
  await page.getByTestId('save-name').fill('k');
  await expect(dashboard.node('catalog-db')).toHaveAttribute('data-health', 'healthy');

  const theme = await page.locator('html').getAttribute('data-theme');
  const other = theme === 'dark' ? 'light' : 'dark';
  await page.locator('body').click({ position: { x: 5, y: 790 } });
  await page.keyboard.press('t');
  await expect(page.locator('html')).toHaveAttribute('data-theme', other);
  await page.reload();
  await dashboard.open();
  await expect(page.locator('html')).toHaveAttribute('data-theme', other);
  await page.getByTestId('theme').click();
  await expect(page.locator('html')).toHaveAttribute('data-theme', theme!);
});

test('search makes matching services stand out and Enter selects the first', async ({ page }) => {
  const dashboard = new Dashboard(page);
  await dashboard.open();
  await page.getByTestId('search').fill('cart');
  await expect(page.getByTestId('search-count')).toHaveText('2 matches · Enter: first');
  await expect(dashboard.node('cart')).not.toHaveClass(/faded/);
  await expect(dashboard.node('cart-db')).not.toHaveClass(/faded/);
  await expect(dashboard.node('web')).toHaveClass(/faded/);
  await page.getByTestId('search').press('Enter');
  await expect(dashboard.node('cart')).toHaveClass(/selected/);
  await expect(page.getByTestId('service-card')).toContainText('cart');
  await page.getByTestId('search').fill('zzz');
  await expect(page.getByTestId('search-count')).toHaveText('no match');
  await page.getByTestId('search').press('Escape');
  await expect(dashboard.node('web')).not.toHaveClass(/faded/);
});

test('on a narrow screen the availability figures fit beside the theme and help buttons', async ({ page }) => {
  await page.setViewportSize({ width: 420, height: 900 });
  const dashboard = new Dashboard(page);
  await dashboard.open();
  // At 100.0% the figures are at their widest.
  await dashboard.expectAvailability((share) => share > 0.99);
  const cards = await page.locator('.kpi').evaluateAll((kpis) =>
    kpis.map((kpi) => kpi.getBoundingClientRect().toJSON() as DOMRect));
  expect(cards.length).toBe(3); // web, mobile-api and the overall figure
  for (let i = 1; i < cards.length; i++) {
    // None hides behind the next (the overall one is pinned over the row when it scrolls).
    expect(cards[i - 1].right).toBeLessThanOrEqual(cards[i].left + 0.5);
  }
  // The theme and help buttons stand beside the figures, not on a line of their own.
  const strip = (await page.locator('.kpis').boundingBox())!;
  const chrome = (await page.locator('.chrome').boundingBox())!;
  expect(chrome.x).toBeGreaterThanOrEqual(strip.x + strip.width - 0.5);
  expect(chrome.y).toBeLessThan(strip.y + strip.height);
});
