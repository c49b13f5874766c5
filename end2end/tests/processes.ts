import { type ChildProcess, spawn } from 'node:child_process';
import { expect } from '@playwright/test';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

// Processes the tests start (the server, `blastradius demo`), each stopped by its own id.
export const binary = process.env.BLASTRADIUS_BIN ?? '../target/debug/blastradius';

/** Every process started here and not yet gone, oldest first. */
const running = new Set<ChildProcess>();

// The worker's last word: a process it started dies with it.
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/**
 * Stops every process a test started and left running, newest first (the demo before the
 * server it registered with). For `test.afterEach`: a test that timed out never reached
 * its own `finally`.
 */
export async function stopAll() {
  for (const child of [...running].reverse()) await stop(child);
}

export interface Started {
  child: ChildProcess;
  /** What it has printed so far (stdout and stderr). */
  output: () => string;
}

/** Starts `blastradius ARGS` and resolves once its output matches `ready`. */
export function start(args: string[], ready: RegExp): Promise<Started> {
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  child.on('exit', () => running.delete(child));
  let text = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not ready: ${args.join(' ')}\n${text}`)), 20_000);
    const seen = (chunk: Buffer) => {
      text += chunk.toString();
      if (ready.test(text)) {
        clearTimeout(timer);
        resolve({ child, output: () => text });
      }
    };
    child.stdout?.on('data', seen);
    child.stderr?.on('data', (chunk: Buffer) => (text += chunk.toString()));
    child.on('exit', (code) => reject(new Error(`exited ${code}: ${text}`)));
  });
}

/** Stops a process by its id and waits for it to go. */
export async function stop(child: ChildProcess) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await gone;
}

/** A topology file from `blastradius template NAME`, as JSON. */
export async function template(name: string): Promise<any> {
  const child = spawn(binary, ['template', name], { stdio: ['ignore', 'pipe', 'inherit'] });
  const chunks: Buffer[] = [];
  child.stdout?.on('data', (c: Buffer) => chunks.push(c));
  await new Promise((resolve) => child.on('exit', resolve));
  return JSON.parse(Buffer.concat(chunks).toString());
}

/**
 * A temporary directory holding the shop template with `share` of its load (`shop.json`),
 * and a server started there with --observe on `port` (its database in the directory too).
 */
export async function observedShop(
  prefix: string,
  port: number,
  share: number,
): Promise<{ dir: string; shop: string; server: Started }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const shop = path.join(dir, 'shop.json');
  const topology = await template('shop');
  for (const service of topology.services) service.ingress_rps = (service.ingress_rps ?? 0) * share;
  fs.writeFileSync(shop, JSON.stringify(topology));
  const server = await start(
    ['serve', '--observe', '--bind', `127.0.0.1:${port}`, '--dist', '../dist', '--data-dir', path.join(dir, 'data')],
    /serving on/,
  );
  return { dir, shop, server };
}

/**
 * Runs `body` against the real shop: a server of its own with --observe on `port`, and
 * `blastradius demo` running the shop at `share` of its load, every call through the
 * server's fault proxies. Stops both by their own ids (the demo first), keeps the server's
 * output in `E2E_SERVER_LOG` if set, and checks the demo stopped every process it started.
 */
export async function withRealShop(
  prefix: string,
  port: number,
  share: number,
  body: (base: string, demo: Started) => Promise<void>,
) {
  const base = `http://127.0.0.1:${port}`;
  const { dir, shop, server } = await observedShop(prefix, port, share);
  let demo: Started | undefined;
  try {
    demo = await start(['demo', shop, '--server', base], /Ctrl-C stops every process/);
    await body(base, demo);
  } finally {
    if (demo) await stop(demo.child);
    await stop(server.child);
    if (process.env.E2E_SERVER_LOG) fs.writeFileSync(process.env.E2E_SERVER_LOG, server.output());
    fs.rmSync(dir, { recursive: true, force: true });
  }
  expect(demo?.output()).toContain('every process stopped');
}
