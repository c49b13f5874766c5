import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { expect, test } from '@playwright/test';
import { Toxiproxy } from 'toxiproxy-node-client';
import { type Started, start, stop, stopAll } from './processes';

// Toxiproxy's Node client from npm, unmodified, against blastradius's Toxiproxy API (at the
// root of --toxiproxy-bind, and under /toxiproxy), with real connections through the
// proxies to a real HTTP upstream. No browser.
const port = Number(process.env.E2E_TOXIPROXY_PORT ?? '8767');
const apiPort = port + 1;

/** GET http://ADDRESS/ on a connection of its own: the body, or the socket's error. */
function get(address: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const request = http.get(`http://${address}/`, { agent: false }, (response) => {
      let body = '';
      response.on('data', (chunk) => (body += chunk));
      response.on('end', () => resolve(body));
      response.on('error', reject);
    });
    request.on('error', reject);
  });
}

/** How long a GET through `address` takes, in milliseconds. */
async function timed(address: string): Promise<number> {
  const started = performance.now();
  expect(await get(address)).toBe('hello');
  return performance.now() - started;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// A test that timed out never reached its `finally`: what it started is stopped here.
test.afterEach(stopAll);

test('an unmodified Toxiproxy client drives the fault proxies', async () => {
  test.setTimeout(60_000);
  const upstream = http.createServer((_, response) => response.end('hello'));
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  const upstreamAddress = `127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'blastradius-toxiproxy-'));
  const args = [
    'serve',
    '--bind',
    `127.0.0.1:${port}`,
    '--toxiproxy-bind',
    `127.0.0.1:${apiPort}`,
    '--data-dir',
    path.join(dir, 'data'),
  ];
  let server: Started = await start(args, /serving on/);
  try {
    const toxiproxy = new Toxiproxy(`http://127.0.0.1:${apiPort}`);
    expect(JSON.parse(await toxiproxy.getVersion()).version).toMatch(/^2\./);

    // A proxy, and a request through it.
    const proxy = await toxiproxy.createProxy({ name: 'api', listen: '127.0.0.1:0', upstream: upstreamAddress });
    expect(proxy.enabled).toBe(true);
    expect(proxy.listen).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(proxy.listen).not.toBe('127.0.0.1:0');
    const through = proxy.listen;
    expect(await get(through)).toBe('hello');
    // The same proxy under /toxiproxy on the server's own port.
    const mounted = new Toxiproxy(`http://127.0.0.1:${port}/toxiproxy`);
    expect(Object.keys(await mounted.getAll())).toEqual(['api']);

    // latency: each answer is held 300 ms; removing the toxic ends it.
    const latency = await proxy.addToxic({
      name: 'latency_downstream',
      type: 'latency',
      stream: 'downstream',
      toxicity: 1,
      attributes: { latency: 300, jitter: 0 },
    });
    expect(latency.attributes).toEqual({ latency: 300, jitter: 0 });
    const delayed = await timed(through);
    console.log(`GET through a 300 ms latency toxic took ${delayed.toFixed(0)} ms`);
    expect(delayed).toBeGreaterThanOrEqual(295);
    await latency.remove();
    expect(await timed(through)).toBeLessThan(200);

    // Disabled: connections refused; enabled again: through.
    const disabled = await proxy.update({ enabled: false, listen: proxy.listen, upstream: proxy.upstream });
    expect(disabled.enabled).toBe(false);
    await expect(get(through)).rejects.toThrow(/ECONNREFUSED/);
    await proxy.update({ enabled: true, listen: proxy.listen, upstream: proxy.upstream });
    expect(await get(through)).toBe('hello');

    // timeout 0: accepted, and held with no answer; removing it lets the next request by.
    const hang = await proxy.addToxic({
      name: 'hang',
      type: 'timeout',
      stream: 'upstream',
      toxicity: 1,
      attributes: { timeout: 0 },
    });
    const outcome = await Promise.race([
      get(through).then(
        () => 'answered',
        (err) => `failed: ${err}`,
      ),
      sleep(1_000).then(() => 'still waiting'),
    ]);
    expect(outcome).toBe('still waiting');
    await hang.remove();
    expect(await get(through)).toBe('hello');

    // reset_peer: the connection is reset.
    const reset = await proxy.addToxic({
      name: 'reset',
      type: 'reset_peer',
      stream: 'upstream',
      toxicity: 1,
      attributes: { timeout: 0 },
    });
    await expect(get(through)).rejects.toThrow(/ECONNRESET|socket hang up/);

    // populate: the same proxy kept as it is (its toxic too), a new one made.
    const populated = await toxiproxy.populate([
      { name: 'api', listen: through, upstream: upstreamAddress },
      { name: 'db', listen: '127.0.0.1:0', upstream: upstreamAddress },
    ]);
    expect(Object.keys(populated).sort()).toEqual(['api', 'db']);
    expect(populated.api.listen).toBe(through);
    expect((await proxy.getToxic('reset')).type).toBe('reset_peer');
    expect(await get(populated.db.listen)).toBe('hello');

    // A toxic on a proxy named like a service is a fault in the graph's fault list.
    const faults = await (await fetch(`http://127.0.0.1:${port}/api/faults`)).json();
    expect(faults).toHaveLength(0); // the live view shows the simulation: its own faults
    await fetch(`http://127.0.0.1:${port}/api/session`, { method: 'PUT', body: '{"source": "observed"}' });
    const real = await (await fetch(`http://127.0.0.1:${port}/api/faults`)).json();
    expect(real.map((f: any) => f.description)).toEqual(['connections reset after 0 ms on api (toxic reset)']);

    // Restarted, the server brings its proxies back as they were, toxics and all.
    await stop(server.child);
    server = await start(args, /serving on/);
    const back = await toxiproxy.getAll();
    expect(Object.keys(back).sort()).toEqual(['api', 'db']);
    expect(back.api.listen).toBe(through);
    expect((await back.api.getToxic('reset')).attributes).toEqual({ timeout: 0 });
    await expect(get(through)).rejects.toThrow(/ECONNRESET|socket hang up/);

    // reset: every proxy enabled, every toxic gone.
    await (await toxiproxy.get('db')).update({ enabled: false, listen: populated.db.listen, upstream: upstreamAddress });
    await toxiproxy.reset();
    expect(await get(through)).toBe('hello');
    expect(await get(populated.db.listen)).toBe('hello');
    await expect(proxy.getToxic('reset')).rejects.toThrow(/404/);

    // delete: gone (404), its port closed.
    await (await toxiproxy.get('db')).remove();
    await expect(toxiproxy.get('db')).rejects.toThrow(/404/);
    await expect(get(populated.db.listen)).rejects.toThrow(/ECONNREFUSED/);
  } finally {
    await stop(server.child);
    upstream.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
