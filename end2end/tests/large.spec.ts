import { expect, test } from '@playwright/test';
import { Dashboard, resetServer } from './dashboard';

// Large topologies are painted on a canvas; the SPEC's per-service test ids exist only in
// the SVG renderer of small ones, so these tests reach services through what a person
// uses: the search, clicks and the pointer.
test.afterEach(async ({ request }) => resetServer(request));

test('a large topology is painted on a canvas, and a click on a service selects it', async ({
  page,
  request,
}) => {
  test.setTimeout(90_000);
  const template = await request.get('/api/templates/scale-free?size=500');
  expect(template.ok()).toBe(true);
  expect((await request.put('/api/topology', { data: await template.json() })).ok()).toBe(true);
  const dashboard = new Dashboard(page);
  await dashboard.open();
  await expect(dashboard.graph()).toHaveAttribute('data-renderer', 'canvas');
  await expect(dashboard.graph()).toHaveAttribute('data-painted', '500', { timeout: 30_000 });
  await expect(dashboard.graph()).toHaveAttribute('data-links', '997');
  await expect(page.locator('[data-testid^="node-svc-"]')).toHaveCount(0);

  // Finding a service selects it and brings it to the middle of the view.
  await dashboard.find('svc-42');
  await expect(dashboard.selectedService()).toHaveText('svc-42');
  await dashboard.clearSearch();
  await page.keyboard.press('Escape');
  await expect(dashboard.selectedService()).toHaveCount(0);

  // A click in the middle hits its card: the side panel shows it; resting the pointer there
  // shows its figures.
  await dashboard.clickGraph(0.5, 0.5);
  await expect(dashboard.selectedService()).toHaveText('svc-42');
  await dashboard.hoverGraph(0.5, 0.51);
  await expect(page.getByTestId('graph-tooltip')).toContainText('svc-42 — healthy');

  // The hub's predicted blast radius: its hardest-hit entries, worst first, and the number
  // of the others (the snapshot carries affected entries only).
  await dashboard.find('svc-1');
  await expect(dashboard.selectedService()).toHaveText('svc-1');
  const prediction = page.getByTestId('blast-radius');
  await expect(prediction).toContainText(/\d+ other entries less hit or untouched/);
  const shares = await prediction
    .locator('.prediction-item')
    .evaluateAll((items) => items.map((item) => parseFloat(item.textContent!.split(' ')[1])));
  expect(shares.length).toBe(8);
  expect([...shares].sort((a, b) => a - b)).toEqual(shares);
  expect(shares[0]).toBeLessThan(100);
  await dashboard.clearSearch();

  // Back to a small topology: the SVG renderer and its test ids.
  await resetServer(request);
  await expect(dashboard.graph()).toHaveAttribute('data-renderer', 'svg');
  await expect(dashboard.node('catalog-db')).toHaveAttribute('data-health', 'healthy');
});

test('the compare view paints a large topology on canvases, a kill showing in all three', async ({
  page,
  request,
}) => {
  test.setTimeout(90_000);
  const template = await request.get('/api/templates/scale-free?size=500');
  expect((await request.put('/api/topology', { data: await template.json() })).ok()).toBe(true);
  const dashboard = new Dashboard(page);
  await dashboard.open();
  await dashboard.screen('compare');
  const canvases = page.locator('.mini-canvas[data-renderer="canvas"]');
  await expect(canvases).toHaveCount(3);
  await expect(page.locator('[data-testid^="compare-node-"]')).toHaveCount(0);
  for (const mode of ['dns', 'lb', 'smart']) {
    await expect(page.getByTestId(`compare-graph-${mode}`).locator('canvas')).toHaveAttribute(
      'data-down',
      '0',
    );
  }
  const kill = await request.post('/api/faults', { data: { kind: 'kill', service: 'svc-1' } });
  expect(kill.status()).toBe(201);
  for (const mode of ['dns', 'lb', 'smart']) {
    await expect(page.getByTestId(`compare-graph-${mode}`).locator('canvas')).toHaveAttribute(
      'data-down',
      '1',
      { timeout: 10_000 },
    );
  }
});

test('on the canvas, dragging a card’s port onto another card makes a new call', async ({
  page,
  request,
}) => {
  test.setTimeout(90_000);
  const template = await (await request.get('/api/templates/scale-free?size=310')).json();
  // Two services of its own, pinned side by side far from the others.
  const model = template.services.find((s: { ingress_rps: number }) => s.ingress_rps === 0);
  for (const name of ['left', 'right']) {
    template.services.push({ ...model, name });
  }
  template.layout = { ...(template.layout ?? {}), left: [-4000, -4000], right: [-3600, -4000] };
  expect((await request.put('/api/topology', { data: template })).ok()).toBe(true);
  const links = template.dependencies.length;
  const dashboard = new Dashboard(page);
  await dashboard.open();
  const graph = dashboard.graph();
  await expect(graph).toHaveAttribute('data-renderer', 'canvas');
  await expect(graph).toHaveAttribute('data-painted', '312', { timeout: 30_000 });
  await expect(graph).toHaveAttribute('data-links', String(links));

  // Find `left`: it comes to the middle. Its port is on its card's right side: the pointer,
  // moved right from the middle, turns into a crosshair there and says what it is for.
  await dashboard.find('left');
  await expect(dashboard.selectedService()).toHaveText('left');
  await dashboard.clearSearch();
  const box = (await graph.boundingBox())!;
  const middle = { x: box.x + box.width / 2, y: box.y + box.height / 2 };
  let port: number | undefined;
  for (let dx = 0; dx < box.width / 2 && port === undefined; dx += 4) {
    await page.mouse.move(middle.x + dx, middle.y);
    if ((await graph.getAttribute('class'))?.includes('on-port')) port = middle.x + dx;
  }
  expect(port, 'a port right of the middle').toBeDefined();
  await expect(page.getByTestId('graph-tooltip')).toHaveText(
    'Drag onto another service to make left call it',
  );
  // Further right, past the port, is `right`'s card.
  let target: number | undefined;
  for (let x = port! + 20; x < box.x + box.width && target === undefined; x += 10) {
    await page.mouse.move(x, middle.y);
    const tip = page.getByTestId('graph-tooltip');
    if ((await tip.count()) && (await tip.textContent())?.startsWith('right —')) target = x;
  }
  expect(target, 'the card of right').toBeDefined();

  // Drawn from the port onto `right`: the topology has the call, the canvas its link.
  await page.mouse.move(port!, middle.y);
  await page.mouse.down();
  await page.mouse.move(target!, middle.y, { steps: 12 });
  await page.mouse.up();
  await expect(graph).toHaveAttribute('data-links', String(links + 1), { timeout: 10_000 });
  const topology = await (await request.get('/api/topology')).json();
  expect(
    topology.dependencies.filter(
      (d: { from: string; to: string }) => d.from === 'left' && d.to === 'right',
    ),
  ).toHaveLength(1);
  // Dropped on empty ground, a drawn link makes nothing.
  await page.mouse.move(port!, middle.y);
  await page.mouse.down();
  await page.mouse.move(port!, middle.y + box.height / 3, { steps: 8 });
  await page.mouse.up();
  await page.waitForTimeout(500);
  await expect(graph).toHaveAttribute('data-links', String(links + 1));
});
