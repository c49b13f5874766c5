import { expect, test } from '@playwright/test';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Dashboard } from './dashboard';

// A server of this test's own (the suite's shared one must stay up), stopped and started
// again on the same port while a page follows it.
const port = 8799;
const binary = process.env.BLASTRADIUS_BIN ?? '../target/debug/blastradius';
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'blastradius-reconnect-'));
process.on('exit', () => fs.rmSync(dataDir, { recursive: true, force: true }));
const base = `http://127.0.0.1:${port}`;

async function startServer(): Promise<ChildProcess> {
  const server = spawn(binary, ['serve', '--bind', `127.0.0.1:${port}`, '--dist', '../dist', '--data-dir', dataDir], {
    stdio: 'ignore',
  });
  await expect
    .poll(async () => (await fetch(`${base}/api/health`).catch(() => null))?.ok ?? false, { timeout: 15_000 })
    .toBe(true);
  return server;
}

async function stopServer(server: ChildProcess) {
  const exited = new Promise((resolve) => server.once('exit', resolve));
  server.kill('SIGKILL');
  await exited;
}

test('the page shows it is reconnecting while the server is down, then resyncs', async ({ page }) => {
  let server = await startServer();
  try {
    const dashboard = new Dashboard(page);
    await page.goto(base);
    await expect(page.getByTestId('connection')).toHaveAttribute('data-state', 'live');
    await expect(dashboard.node('checkout')).toBeVisible();
    // Move the old run on so the new one (from t = 0) is told apart.
    await dashboard.select('checkout');
    await dashboard.kill();
    await expect(dashboard.node('checkout')).toHaveAttribute('data-health', 'down');

    await stopServer(server);
    await expect(page.getByTestId('connection')).toHaveAttribute('data-state', 'reconnecting');
    await expect(page.getByTestId('connection')).toContainText('Reconnecting');

    server = await startServer();
    await expect(page.getByTestId('connection')).toHaveAttribute('data-state', 'live', { timeout: 15_000 });
    // The new server runs from scratch: no fault, checkout healthy, the clock from zero.
    await expect(dashboard.node('checkout')).toHaveAttribute('data-health', 'healthy');
    await expect(dashboard.faultList()).not.toContainText('kill');
  } finally {
    await stopServer(server);
  }
});
