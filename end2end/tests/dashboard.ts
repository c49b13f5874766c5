import {
  expect,
  type APIRequestContext,
  type Browser,
  type Locator,
  type Page,
} from '@playwright/test';

/** Opens the dashboard in two separate browser contexts (two users), runs `body`, closes. */
export async function withTwoViewers(
  browser: Browser,
  body: (a: Dashboard, b: Dashboard) => Promise<void>,
) {
  const contexts = [await browser.newContext(), await browser.newContext()];
  try {
    const [a, b] = await Promise.all(contexts.map(async (c) => new Dashboard(await c.newPage())));
    await a.open();
    await b.open();
    await body(a, b);
  } finally {
    await Promise.all(contexts.map((c) => c.close()));
  }
}

/** Puts the shared server back to the shop demo, running at 1×, without faults. */
export async function resetServer(request: APIRequestContext) {
  // The simulated source first: the topology of an observed system cannot be replaced.
  expect((await request.put('/api/session', { data: { source: 'simulated' } })).ok()).toBe(true);
  const shop = await request.get('/api/templates/shop');
  expect(shop.ok()).toBe(true);
  expect((await request.put('/api/topology', { data: await shop.json() })).ok()).toBe(true);
  const session = await request.put('/api/session', {
    data: { source: 'simulated', paused: false, speed: 1, routing_mode: 'smart' },
  });
  expect(session.ok()).toBe(true);
  expect((await request.post('/api/session/reset')).ok()).toBe(true);
}

/** Page object of the live dashboard: finds things only by the SPEC's data-testid names. */
export class Dashboard {
  constructor(readonly page: Page) {}

  async open() {
    await this.page.goto('/');
    await expect(this.page.getByTestId('graph')).toBeVisible();
    await expect(this.page.getByTestId('connection')).toHaveAttribute('data-state', 'live');
  }

  /** The graph: an SVG with a test id per service and link, or for large topologies a
   * canvas (`data-renderer="canvas"`, `data-painted` = services in its last paint). */
  graph(): Locator {
    return this.page.getByTestId('graph');
  }

  /** Types into "Find a service…" and presses Enter: the first match is selected and
   * centred in the view. */
  async find(text: string) {
    await this.page.getByTestId('search').fill(text);
    await this.page.getByTestId('search').press('Enter');
  }

  /** Empties the search and leaves the field, so keys reach the page again. */
  async clearSearch() {
    await this.page.getByTestId('search').fill('');
    await this.page.getByTestId('search').blur();
  }

  /** Clicks the graph at a share of its width and height (0.5, 0.5: the middle). */
  async clickGraph(x: number, y: number) {
    const box = await this.graph().boundingBox();
    if (!box) throw new Error('the graph is not on screen');
    await this.graph().click({ position: { x: box.width * x, y: box.height * y } });
  }

  /** Rests the pointer on the graph at a share of its width and height. */
  async hoverGraph(x: number, y: number) {
    const box = await this.graph().boundingBox();
    if (!box) throw new Error('the graph is not on screen');
    await this.graph().hover({ position: { x: box.width * x, y: box.height * y } });
  }

  /** The name of the selected service, as the side panel shows it. */
  selectedService(): Locator {
    return this.page.getByTestId('service-card').locator('h2');
  }

  node(service: string): Locator {
    return this.page.getByTestId(`node-${service}`);
  }

  edge(from: string, to: string): Locator {
    return this.page.getByTestId(`edge-${from}-${to}`);
  }

  /** Selects a dependency. An edge's bounding box is mostly other things (cards, other
   * edges), so the click is dispatched on its hit path rather than at the box's centre. */
  async selectEdge(from: string, to: string) {
    await this.edge(from, to).locator('.edge-hit').dispatchEvent('click');
  }

  async select(service: string) {
    await this.node(service).click();
  }

  async kill() {
    await this.page.getByTestId('kill').click();
  }

  async revive() {
    await this.page.getByTestId('revive').click();
  }

  /** Simulated seconds shown in the top bar (`t = m:ss`). */
  async clock(): Promise<number> {
    const text = (await this.page.locator('.clock').textContent()) ?? '';
    const match = text.match(/(\d+):(\d\d)/);
    return match ? Number(match[1]) * 60 + Number(match[2]) : NaN;
  }

  /** Shows the side panel's chaos tab (monkey, experiments) or its inspect tab. */
  async tab(name: 'chaos' | 'inspect') {
    await this.page.getByTestId(`tab-${name}`).click();
  }

  monkeyToggle(): Locator {
    return this.page.getByTestId('monkey-toggle');
  }

  /** Fills the experiment form's one fault row and hypothesis, and runs it. */
  async runExperiment(plan: {
    name: string;
    at: string;
    kind: string;
    target: string;
    duration: string;
    min: string;
    over: string;
    runFor: string;
  }) {
    const page = this.page;
    await page.getByTestId('experiment-name').fill(plan.name);
    const row = page.getByTestId('experiment-fault').first();
    await row.getByLabel('Starts at (s)').fill(plan.at);
    await row.getByLabel('Fault kind').selectOption(plan.kind);
    await row.getByLabel('Target').fill(plan.target);
    await row.getByLabel('Lasts (s)').fill(plan.duration);
    await page.getByTestId('experiment-min').fill(plan.min);
    await page.getByTestId('experiment-over').fill(plan.over);
    await page.getByTestId('experiment-duration').fill(plan.runFor);
    await page.getByTestId('experiment-run').click();
  }

  faultList(): Locator {
    return this.page.getByTestId('fault-list');
  }

  /** Overall availability as a share (the page shows it as text like `99.2%`). */
  async availability(testId = 'availability'): Promise<number> {
    const text = (await this.page.getByTestId(testId).textContent()) ?? '';
    const match = text.match(/([\d.]+)%/);
    return match ? Number(match[1]) / 100 : NaN;
  }

  /** Switches the main area: the live graph, the routing comparison, or a replay. */
  async screen(name: 'live' | 'compare' | 'replay') {
    await this.page.getByTestId(`screen-${name}`).click();
  }

  /** Requests lost so far under a routing mode, from the comparison's summary table. */
  async compareLost(mode: 'dns' | 'lb' | 'smart'): Promise<number> {
    const text = (await this.page.getByTestId(`compare-lost-${mode}`).textContent()) ?? '';
    return text.trim() === '' ? NaN : Number(text);
  }

  /** Shows second `t` of the run on the replay bar's timeline. */
  async scrubTo(t: number) {
    await this.page.getByTestId('replay-scrub').fill(String(t));
  }

  /** Waits until the availability shown satisfies `predicate`. */
  async expectAvailability(predicate: (share: number) => boolean, testId = 'availability') {
    await expect
      .poll(async () => predicate(await this.availability(testId)), {
        timeout: 10_000,
        intervals: [100],
        message: `${testId} never reached the expected range`,
      })
      .toBe(true);
  }
}
