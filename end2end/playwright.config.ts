import { defineConfig } from '@playwright/test';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

// The suite starts its own server (the debug build unless BLASTRADIUS_BIN says otherwise)
// serving the built dashboard from ../dist, and drives Debian's Chromium: Playwright never
// downloads a browser here.
const port = process.env.E2E_PORT ?? '8765';
const binary = process.env.BLASTRADIUS_BIN ?? '../target/debug/blastradius';
// A database of its own for each run, so tests never see a user's saved topologies.
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'blastradius-e2e-'));
// Every process that loads this file makes one; each removes its own when it ends.
process.on('exit', () => fs.rmSync(dataDir, { recursive: true, force: true }));

export default defineConfig({
  testDir: './tests',
  timeout: 30_000,
  expect: { timeout: 5_000 },
  fullyParallel: false,
  workers: 1,
  retries: 0,
  reporter: [['list']],
  use: {
    baseURL: `http://127.0.0.1:${port}`,
    viewport: { width: 1280, height: 800 },
    screenshot: 'only-on-failure',
    launchOptions: {
      executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    },
  },
  webServer: {
    command: `${binary} serve --bind 127.0.0.1:${port} --dist ../dist --data-dir ${dataDir}`,
    url: `http://127.0.0.1:${port}/api/health`,
    reuseExistingServer: false,
    timeout: 30_000,
    stdout: 'pipe',
  },
});
