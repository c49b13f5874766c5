// Takes screenshots of the running dashboard for the README and docs/.
// Usage: node end2end/screenshot.mjs [base-url] [out-dir]
// Selects a service and kills it on the way, so the pictures show the product at work.
import { chromium } from '@playwright/test';

const base = process.argv[2] ?? 'http://127.0.0.1:8080';
const out = process.argv[3] ?? 'docs';
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run'],
});
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 }, colorScheme: 'dark' });
  await page.goto(base);
  await page.getByTestId('graph').waitFor();
  await page.waitForTimeout(3000); // let the charts fill
  await page.screenshot({ path: `${out}/dashboard.png` });
  await page.getByTestId('node-catalog-db').click();
  await page.getByTestId('kill').click();
  await page.waitForTimeout(4000);
  await page.screenshot({ path: `${out}/dashboard-kill.png` });
  await page.setViewportSize({ width: 420, height: 900 });
  await page.waitForTimeout(500);
  await page.screenshot({ path: `${out}/dashboard-narrow.png`, fullPage: true });
  await page.getByTestId('revive').click();
  // The chaos tab with an experiment that breaks its hypothesis, at 10× speed.
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.getByTestId('speed').selectOption('10');
  await page.getByTestId('tab-chaos').click();
  await page.getByTestId('experiment-name').fill('checkout survives a cart instance');
  const row = page.getByTestId('experiment-fault').first();
  await row.getByLabel('Starts at (s)').fill('3');
  await row.getByLabel('Target').fill('cart#1');
  await page.getByTestId('experiment-entry').selectOption('web');
  await page.getByTestId('experiment-duration').fill('30');
  await page.getByTestId('experiment-run').click();
  await page.getByTestId('experiment-verdict').waitFor();
  await page.waitForFunction(() =>
    document.querySelector('[data-testid=experiment-verdict]')?.dataset.verdict !== 'running',
    null, { timeout: 20000 });
  await page.screenshot({ path: `${out}/dashboard-chaos.png` });
  await page.getByTestId('speed').selectOption('1');
  // The light theme, on the inspect tab with a service selected.
  await page.getByTestId('tab-inspect').click();
  await page.getByTestId('node-cart').click();
  await page.getByTestId('theme').click();
  await page.waitForTimeout(500);
  await page.screenshot({ path: `${out}/dashboard-light.png` });
  await page.getByTestId('theme').click();
} finally {
  await browser.close();
}
