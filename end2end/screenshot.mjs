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
  // The routing comparison: one auth instance killed, at 5× speed.
  await page.getByTestId('screen-compare').click();
  await page.getByTestId('compare-graph-dns').waitFor();
  await page.getByTestId('speed').selectOption('5');
  await page.waitForTimeout(2000);
  await page.getByTestId('compare-node-dns-auth').click();
  await page.getByTestId('instance-1').click();
  await page.getByTestId('kill').click();
  await page.waitForTimeout(7000);
  await page.screenshot({ path: `${out}/dashboard-compare.png` });
  await page.setViewportSize({ width: 420, height: 900 });
  await page.waitForTimeout(500);
  await page.screenshot({ path: `${out}/dashboard-compare-narrow.png`, fullPage: true });
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.getByTestId('speed').selectOption('1');
  // Replay: scrubbed back to a second of the run.
  await page.getByTestId('screen-replay').click();
  await page.getByTestId('replay-bar').waitFor();
  await page.waitForTimeout(1000);
  const scrub = page.getByTestId('replay-scrub');
  const max = Number(await scrub.getAttribute('max'));
  await scrub.fill(String(Math.max(1, max - 20)));
  await page.waitForTimeout(1000);
  await page.screenshot({ path: `${out}/dashboard-replay.png` });
  await page.getByTestId('replay-exit').click();
  await page.getByTestId('screen-live').click();
  // The resilience report.
  await page.getByTestId('open-report').click();
  await page.getByTestId('report-kill').waitFor({ timeout: 20000 });
  await page.screenshot({ path: `${out}/dashboard-report.png` });
} finally {
  await browser.close();
}
