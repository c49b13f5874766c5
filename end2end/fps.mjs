// What the live dashboard costs in headless Chromium at several topology sizes: loads
// `scale-free` with N services (or a topology file, or a template name such as `shop`)
// into the server, opens the page, and measures the time to the first full draw (every
// card in SVG, or a paint of every service on the canvas for large ones), the frames per
// second over 5 s while ticks stream in at 10 Hz, and the bytes per second the page
// receives over 10 s as they came over the wire (Chrome DevTools protocol,
// `Network.dataReceived` `encodedDataLength`: compressed bytes when compressed).
// Usage: node end2end/fps.mjs [base-url] [sizes or topology files, comma-separated]
// It replaces the server's live topology: point it at a server of its own.
import { chromium } from '@playwright/test';
import fs from 'node:fs';

const base = process.argv[2] ?? 'http://127.0.0.1:8080';
// Each item is a size of `scale-free`, a topology file (`….json`), or a template's name.
const items = (process.argv[3] ?? '100,500,2000').split(',');
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu'],
});
try {
  for (const item of items) {
    const template = item.endsWith('.json')
      ? JSON.parse(fs.readFileSync(item, 'utf8'))
      : /^\d+$/.test(item)
        ? await (await fetch(`${base}/api/templates/scale-free?size=${item}`)).json()
        : await (await fetch(`${base}/api/templates/${item}`)).json();
    const size = template.services.length;
    const put = await fetch(`${base}/api/topology`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(template),
    });
    if (!put.ok) throw new Error(`PUT /api/topology: ${put.status} ${await put.text()}`);
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    // Every byte the page receives, as sent (headers aside).
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('Network.enable');
    let received = 0;
    cdp.on('Network.dataReceived', (event) => {
      received += event.encodedDataLength;
    });
    const opened = Date.now();
    await page.goto(base);
    // Drawn: every card in the SVG renderer, or a paint of every service on the canvas.
    await page.waitForFunction(
      (size) => {
        const graph = document.querySelector('[data-testid="graph"]');
        if (!graph) return false;
        if (graph.dataset.renderer === 'canvas') return Number(graph.dataset.painted) === size;
        return document.querySelectorAll('[data-testid^="node-"]').length > size;
      },
      size,
      { timeout: 120_000, polling: 100 },
    );
    const drawnMs = Date.now() - opened;
    const result = await page.evaluate(
      () =>
        new Promise((resolve) => {
          let frames = 0;
          let longest = 0;
          let last = performance.now();
          const start = last;
          const step = (now) => {
            frames += 1;
            longest = Math.max(longest, now - last);
            last = now;
            if (now - start < 5000) requestAnimationFrame(step);
            else resolve({ fps: (frames * 1000) / (now - start), longest });
          };
          requestAnimationFrame(step);
        }),
    );
    const before = received;
    await page.waitForTimeout(10_000);
    const bytesPerS = (received - before) / 10;
    const graph = page.getByTestId('graph');
    const renderer = await graph.getAttribute('data-renderer');
    const edges =
      renderer === 'canvas'
        ? Number(await graph.getAttribute('data-links'))
        : await page.locator('[data-testid^="edge-"]').count();
    console.log(
      `${size} services, ${edges} edges (${renderer}): first full draw ${drawnMs} ms, ` +
        `${result.fps.toFixed(1)} fps, longest frame ${result.longest.toFixed(0)} ms, ` +
        `${(bytesPerS / 1024).toFixed(1)} KiB/s received`,
    );
    await page.close();
  }
} finally {
  await browser.close();
}
