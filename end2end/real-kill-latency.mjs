// Click-to-effect on a real system: from the Kill click in the page to the first real
// request refused by the killed service's proxy. A prober sends requests one after another
// straight to SERVICE#1's fault proxy (as the service's callers' connections would reach
// it) and notes when each failed; the click's time is taken in the page, both on this
// machine's clock. Revives between rounds.
// Usage: node end2end/real-kill-latency.mjs BASE-URL [rounds] [service]
import http from 'node:http';
import { chromium } from '@playwright/test';

const base = process.argv[2] ?? 'http://127.0.0.1:8080';
const rounds = Number(process.argv[3] ?? 20);
const service = process.argv[4] ?? 'catalog-db';

const proxies = await (await fetch(`${base}/toxiproxy/proxies`)).json();
const target = proxies[`${service}#1`]?.listen;
if (!target) throw new Error(`no fault proxy named ${service}#1 at ${base}`);

/** One GET through the proxy on a connection of its own: true if answered. */
const probe = () =>
  new Promise((resolve) => {
    const request = http.get(`http://${target}/`, { agent: false, timeout: 2000 }, (response) => {
      response.resume();
      response.on('end', () => resolve(response.statusCode < 500));
    });
    request.on('error', () => resolve(false));
    request.on('timeout', () => request.destroy());
  });

let probing = true;
const failures = [];
let lastOk = 0;
(async () => {
  while (probing) {
    const sent = Date.now();
    if (await probe()) lastOk = Date.now();
    else failures.push(sent);
  }
})();

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu'],
});
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  await page.goto(base);
  const node = page.getByTestId(`node-${service}`);
  await node.waitFor();
  await node.click();
  const times = [];
  for (let round = 0; round < rounds; round++) {
    // Wait until it answers again (revived) and the button is back.
    const since = Date.now();
    while (lastOk < since) await new Promise((r) => setTimeout(r, 20));
    await page.waitForFunction(() => !document.querySelector('[data-testid=kill]')?.disabled);
    const clicked = await page.evaluate(() => {
      const at = Date.now();
      document.querySelector('[data-testid=kill]').click();
      return at;
    });
    while (!failures.some((t) => t >= clicked)) await new Promise((r) => setTimeout(r, 2));
    times.push(failures.find((t) => t >= clicked) - clicked);
    await page.waitForFunction(() => !document.querySelector('[data-testid=revive]')?.disabled);
    await page.getByTestId('revive').click();
  }
  times.sort((a, b) => a - b);
  const at = (q) => times[Math.min(times.length - 1, Math.floor(q * times.length))];
  console.log(
    `Kill click → first real request to ${service}#1 refused, ${rounds} rounds: ` +
      `p50 ${at(0.5)} ms, p95 ${at(0.95)} ms, max ${times[times.length - 1]} ms`,
  );
} finally {
  probing = false;
  await browser.close();
}
