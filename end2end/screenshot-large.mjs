// Screenshots of the canvas renderer for docs/: 2,000 scale-free services at 1280×800,
// fitted with two hubs killed (dashboard-2000.jpg), then a search zoomed onto one service
// with the pointer resting on it (dashboard-2000-zoom.jpg). JPEG: thousands of cards make
// a PNG of a megabyte.
// Usage: node end2end/screenshot-large.mjs [base-url] [out-dir]
// It replaces the server's live topology: point it at a server of its own.
import { chromium } from '@playwright/test';

const base = process.argv[2] ?? 'http://127.0.0.1:8080';
const out = process.argv[3] ?? 'docs';
const size = 2000;
const send = (method, path, body) =>
  fetch(`${base}${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
const template = await (await fetch(`${base}/api/templates/scale-free?size=${size}`)).json();
await send('PUT', '/api/topology', template);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run'],
});
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 }, colorScheme: 'dark' });
  await page.goto(base);
  await page.waitForFunction(
    (size) => Number(document.querySelector('[data-testid="graph"]')?.dataset.painted) === size,
    size,
    { timeout: 120_000, polling: 200 },
  );
  for (const service of ['svc-1', 'svc-5']) {
    await send('POST', '/api/faults', { kind: 'kill', service });
  }
  await page.waitForTimeout(4000);
  await page.screenshot({ path: `${out}/dashboard-2000.jpg`, quality: 80 });
  await page.getByTestId('search').fill('svc-42');
  await page.getByTestId('search').press('Enter');
  const box = await page.getByTestId('graph').boundingBox();
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2 + 5);
  await page.waitForTimeout(1500);
  await page.screenshot({ path: `${out}/dashboard-2000-zoom.jpg`, quality: 80 });
} finally {
  await browser.close();
  const shop = await (await fetch(`${base}/api/templates/shop`)).json();
  await send('PUT', '/api/topology', shop);
}
