import { expect, test } from '@playwright/test';
import fs from 'node:fs';
import { Dashboard, resetServer } from './dashboard';

test.beforeEach(async ({ request }) => resetServer(request));
test.afterAll(async ({ request }) => resetServer(request));

test('a ring from the gallery, one property edited, saved, reloaded and loaded again', async ({ page, request }) => {
  const dashboard = new Dashboard(page);
  await dashboard.open();
  await page.getByTestId('template-size').fill('5');
  await page.getByTestId('template-select').selectOption('ring');
  await expect(dashboard.node('svc-5')).toBeVisible();

  await dashboard.select('svc-3');
  await page.getByTestId('properties').locator('summary').click();
  const replicas = page.getByTestId('property-replicas');
  await expect(replicas).toHaveValue('2');
  await replicas.fill('4');
  await page.getByTestId('apply-properties').click();
  await expect(dashboard.node('svc-3').locator('.instance')).toHaveCount(4);

  await page.getByTestId('save-name').fill('my-ring');
  await page.getByTestId('save').click();
  await expect
    .poll(async () => (await (await request.get('/api/topologies')).json()).map((t: { name: string }) => t.name))
    .toContain('my-ring');

  // Something else runs meanwhile; after a reload, the saved ring comes back from the list.
  await page.getByTestId('template-size').fill('');
  await page.getByTestId('template-select').selectOption('shop');
  await expect(dashboard.node('checkout')).toBeVisible();
  await page.reload();
  await dashboard.open();
  await page.getByTestId('saved-select').selectOption('my-ring');
  await expect(dashboard.node('svc-3').locator('.instance')).toHaveCount(4);
  await expect(dashboard.node('checkout')).toHaveCount(0);
  const live = await (await request.get('/api/topology')).json();
  expect(live.services.find((s: { name: string }) => s.name === 'svc-3').replicas).toBe(4);
});

test('a bad property is explained under the form and changes nothing', async ({ page, request }) => {
  const dashboard = new Dashboard(page);
  await dashboard.open();
  await dashboard.select('cart');
  await page.getByTestId('properties').locator('summary').click();
  await page.getByTestId('property-replicas').fill('0');
  await page.getByTestId('apply-properties').click();
  await expect(page.getByTestId('property-error')).toContainText('services[7].replicas');
  await expect(page.getByTestId('property-error')).toContainText('must be between 1');
  const live = await (await request.get('/api/topology')).json();
  expect(live.services.find((s: { name: string }) => s.name === 'cart').replicas).toBe(2);
  // A refused edit leaves nothing to undo.
  await expect(page.getByTestId('undo')).toBeDisabled();
});

test('importing a file with an error shows the message; a good file runs', async ({ page }) => {
  const dashboard = new Dashboard(page);
  await dashboard.open();
  const input = page.getByTestId('import-file');
  await input.setInputFiles({
    name: 'broken.yaml',
    mimeType: 'application/yaml',
    buffer: Buffer.from('name: broken\nservices:\n  - name: a\n    ingress_rps: 10\n  - name: b\n    replicas: 0\n'),
  });
  await expect(page.getByTestId('notice')).toContainText('broken.yaml was not imported');
  await expect(page.getByTestId('notice')).toContainText('services[1].replicas');
  await expect(dashboard.node('checkout')).toBeVisible();

  await input.setInputFiles({
    name: 'pair.yaml',
    mimeType: 'application/yaml',
    buffer: Buffer.from(
      'name: pair\nservices:\n  - name: front\n    ingress_rps: 10\n  - name: back\n' +
        'dependencies:\n  - from: front\n    to: back\n',
    ),
  });
  await expect(dashboard.node('front')).toBeVisible();
  await expect(dashboard.edge('front', 'back')).toHaveCount(1);
  await expect(page.getByTestId('notice')).toHaveCount(0);

  // Export: the server hands the live topology back as a file.
  const download = page.waitForEvent('download');
  await page.getByTestId('export').selectOption('yaml');
  const file = await download;
  expect(file.suggestedFilename()).toBe('pair.yaml');
  const text = fs.readFileSync(await file.path(), 'utf8');
  expect(text).toContain('name: front');
});

test('dragging a service pins it for everyone; zoom, fit, force and layered relayout', async ({ page, request }) => {
  const dashboard = new Dashboard(page);
  await dashboard.open();
  const node = dashboard.node('checkout');
  const before = (await node.boundingBox())!;
  await page.mouse.move(before.x + before.width / 2, before.y + before.height / 2);
  await page.mouse.down();
  await page.mouse.move(before.x + before.width / 2 + 120, before.y + before.height / 2 - 90, { steps: 6 });
  await page.mouse.up();
  await expect
    .poll(async () => Object.keys((await (await request.get('/api/topology')).json()).layout ?? {}))
    .toEqual(['checkout']);
  const moved = (await node.boundingBox())!;
  expect(moved.x - before.x).toBeGreaterThan(100);

  // Pinned: a reload draws it where it was dropped.
  await page.reload();
  await dashboard.open();
  const reloaded = (await node.boundingBox())!;
  expect(Math.abs(reloaded.x - moved.x)).toBeLessThan(2);

  // Zoom in makes cards bigger; fit brings the whole topology back.
  await page.getByTestId('zoom-in').click();
  expect((await node.boundingBox())!.width).toBeGreaterThan(reloaded.width * 1.1);
  await page.getByTestId('fit').click();
  expect(Math.abs((await node.boundingBox())!.width - reloaded.width)).toBeLessThan(1);

  // Force-directed: every service pinned where its links pull it, the picture changed.
  await page.getByTestId('relayout-force').click();
  await expect
    .poll(async () => Object.keys((await (await request.get('/api/topology')).json()).layout ?? {}).length)
    .toBe(13);
  await expect.poll(async () => Math.abs((await node.boundingBox())!.x - before.x)).toBeGreaterThan(5);

  await page.getByTestId('relayout').click();
  await expect
    .poll(async () => Object.keys((await (await request.get('/api/topology')).json()).layout ?? {}))
    .toEqual([]);
  await expect.poll(async () => Math.abs((await node.boundingBox())!.x - before.x)).toBeLessThan(2);
});

test('add a service, connect it by dragging, delete, undo and redo', async ({ page, request }) => {
  const dashboard = new Dashboard(page);
  await dashboard.open();
  const names = async () =>
    (await (await request.get('/api/topology')).json()).services.map((s: { name: string }) => s.name);
  const links = async () =>
    (await (await request.get('/api/topology')).json()).dependencies.map(
      (d: { from: string; to: string }) => `${d.from}->${d.to}`,
    );

  await page.getByTestId('add-service').click();
  await expect(dashboard.node('service-1')).toBeVisible();
  await expect(dashboard.node('service-1')).toHaveClass(/selected/);
  expect(await names()).toContain('service-1');

  // Drag from checkout's handle onto the new card.
  const port = (await page.getByTestId('port-checkout').boundingBox())!;
  const target = (await dashboard.node('service-1').boundingBox())!;
  await page.mouse.move(port.x + port.width / 2, port.y + port.height / 2);
  await page.mouse.down();
  await page.mouse.move(target.x + target.width / 2, target.y + target.height / 2, { steps: 8 });
  await page.mouse.up();
  await expect.poll(links).toContain('checkout->service-1');
  await expect(dashboard.edge('checkout', 'service-1')).toHaveCount(1);

  // Delete the new service with the Delete key: its link goes with it.
  await dashboard.select('service-1');
  await page.keyboard.press('Delete');
  await expect(dashboard.node('service-1')).toHaveCount(0);
  expect(await links()).not.toContain('checkout->service-1');

  await page.getByTestId('undo').click();
  await expect(dashboard.node('service-1')).toBeVisible();
  expect(await links()).toContain('checkout->service-1');
  await page.keyboard.press('Control+Shift+Z');
  await expect(dashboard.node('service-1')).toHaveCount(0);
  await page.keyboard.press('Control+z');
  await page.keyboard.press('Control+z');
  await expect.poll(links).not.toContain('checkout->service-1');
  await expect(dashboard.node('service-1')).toBeVisible();

  // A delete the server refuses (the last entry point) changes nothing and says why.
  await page.getByTestId('template-size').fill('2');
  await page.getByTestId('template-select').selectOption('line');
  await dashboard.select('svc-1');
  await page.getByTestId('delete').click();
  await expect(page.getByTestId('notice')).toContainText('entry point');
  await expect(dashboard.node('svc-1')).toBeVisible();
});

test('the view exports as an SVG file and as a PNG picture', async ({ page }) => {
  const dashboard = new Dashboard(page);
  await dashboard.open();
  await dashboard.select('cart');
  await dashboard.kill();
  await expect(dashboard.node('cart')).toHaveAttribute('data-health', 'down');
  const saved = async (format: string) => {
    const download = page.waitForEvent('download');
    await page.getByTestId('export').selectOption(format);
    const file = await download;
    const stream = await file.createReadStream();
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    return { name: file.suggestedFilename(), body: Buffer.concat(chunks) };
  };
  const svg = await saved('svg');
  expect(svg.name).toBe('shop.svg');
  const text = svg.body.toString('utf8');
  expect(text).toMatch(/^<svg[^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  expect(text).toContain('catalog-db');
  // The look travels inline: the dead service's card is drawn in the down colour.
  expect(text).toMatch(/style="[^"]*fill:/);
  const png = await saved('png');
  expect(png.name).toBe('shop.png');
  expect(png.body.subarray(1, 4).toString('ascii')).toBe('PNG');
  expect(png.body.length).toBeGreaterThan(10_000);
});

test('a property edit and an add made right after it both land, and undo takes them back in order', async ({
  page,
  request,
}) => {
  const dashboard = new Dashboard(page);
  await dashboard.open();
  const live = async () => (await request.get('/api/topology')).json();
  const cartReplicas = async () =>
    (await live()).services.find((s: { name: string }) => s.name === 'cart').replicas;
  const names = async () => (await live()).services.map((s: { name: string }) => s.name);

  await dashboard.select('cart');
  await page.getByTestId('properties').locator('summary').click();
  await page.getByTestId('property-replicas').fill('3');
  // Both in the same moment, before the first has reached the server: the add must start
  // from the edited topology, not from the live one.
  await page.evaluate(() => {
    for (const id of ['apply-properties', 'add-service']) {
      (document.querySelector(`[data-testid="${id}"]`) as HTMLElement).click();
    }
  });
  await expect.poll(names).toContain('service-1');
  expect(await cartReplicas()).toBe(3);
  // The new card lands where it covers no other (the middle of the view had one).
  await expect(dashboard.node('service-1')).toBeVisible();
  const added = (await dashboard.node('service-1').locator('.card').boundingBox())!;
  for (const card of await page.locator('[data-testid^="node-"]:not([data-testid="node-service-1"]) .card').all()) {
    const box = (await card.boundingBox())!;
    const apart =
      box.x >= added.x + added.width ||
      added.x >= box.x + box.width ||
      box.y >= added.y + added.height ||
      added.y >= box.y + box.height;
    expect(apart, `${JSON.stringify(box)} overlaps ${JSON.stringify(added)}`).toBe(true);
  }

  await page.getByTestId('undo').click();
  await expect.poll(names).not.toContain('service-1');
  expect(await cartReplicas()).toBe(3);
  await page.getByTestId('undo').click();
  await expect.poll(cartReplicas).toBe(2);
});
