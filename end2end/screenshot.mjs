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
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
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
} finally {
  await browser.close();
}
