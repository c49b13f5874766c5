// Measures the time from clicking Kill to the node drawn down, as a person sees it: the
// click in the page, then a MutationObserver on the node's data-health. Revives between
// rounds. Usage: node end2end/kill-latency.mjs [base-url] [rounds] [service]
import { chromium } from '@playwright/test';

const base = process.argv[2] ?? 'http://127.0.0.1:8080';
const rounds = Number(process.argv[3] ?? 30);
const service = process.argv[4] ?? 'catalog-db';
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
    await page.waitForFunction(
      (id) => document.querySelector(`[data-testid="${id}"]`)?.dataset.health !== 'down',
      `node-${service}`,
    );
    await page.waitForFunction(() => !document.querySelector('[data-testid=kill]')?.disabled);
    const ms = await page.evaluate(
      (id) =>
        new Promise((resolve) => {
          const target = document.querySelector(`[data-testid="${id}"]`);
          const observer = new MutationObserver(() => {
            if (target.dataset.health === 'down') {
              observer.disconnect();
              resolve(performance.now() - start);
            }
          });
          observer.observe(target, { attributes: true, attributeFilter: ['data-health'] });
          const start = performance.now();
          document.querySelector('[data-testid=kill]').click();
        }),
      `node-${service}`,
    );
    times.push(ms);
    await page.getByTestId('revive').click();
  }
  times.sort((a, b) => a - b);
  const at = (q) => times[Math.min(times.length - 1, Math.floor(q * times.length))];
  console.log(
    `kill → ${service} shown down, ${rounds} rounds: p50 ${at(0.5).toFixed(0)} ms, ` +
      `p95 ${at(0.95).toFixed(0)} ms, max ${times[times.length - 1].toFixed(0)} ms`,
  );
} finally {
  await browser.close();
}
