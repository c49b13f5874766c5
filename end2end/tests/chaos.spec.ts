import { expect, test } from '@playwright/test';
import { Dashboard, resetServer, withTwoViewers } from './dashboard';

test.beforeEach(async ({ request }) => resetServer(request));
test.afterAll(async ({ request }) => resetServer(request));

test('the chaos monkey switch is shared by every browser and shows as a fault', async ({ browser }) => {
  await withTwoViewers(browser, async (a, b) => {
    await a.tab('chaos');
    await b.tab('chaos');
    await a.page.getByTestId('monkey-interval').fill('5');
    await a.monkeyToggle().check();
    await expect(b.monkeyToggle()).toBeChecked();
    await expect(b.page.getByTestId('monkey-interval')).toHaveValue('5');
    await b.tab('inspect');
    await expect(b.faultList()).toContainText('monkey');
    await a.monkeyToggle().uncheck();
    await expect(b.faultList()).not.toContainText('monkey');
    await b.tab('chaos');
    await expect(b.monkeyToggle()).not.toBeChecked();
  });
});

test('an experiment runs to a verdict, is listed, and a bad plan is explained', async ({ page, request }) => {
  const dashboard = new Dashboard(page);
  await dashboard.open();
  await page.getByTestId('speed').selectOption('10');
  await dashboard.tab('chaos');
  await dashboard.runExperiment({
    name: 'checkout dies',
    at: '1',
    kind: 'kill',
    target: 'checkout',
    duration: '',
    min: '99',
    over: '2',
    runFor: '30',
  });
  const verdict = page.getByTestId('experiment-verdict');
  await expect(verdict).toHaveText('RUNNING');
  // checkout down: the shop's requests that need it fail, the hypothesis breaks, and the
  // experiment aborts (the form's default) and reverts its fault.
  await expect(verdict).toHaveAttribute('data-verdict', 'aborted', { timeout: 15_000 });
  await expect(page.getByTestId('experiment-reason')).toContainText('broke at');
  await expect(page.getByTestId('experiment-list')).toContainText('checkout dies');
  const faults = await (await request.get('/api/faults')).json();
  expect(faults).toEqual([]);

  await dashboard.runExperiment({
    name: 'typo',
    at: '1',
    kind: 'kill',
    target: 'chekout',
    duration: '5',
    min: '99',
    over: '2',
    runFor: '30',
  });
  await expect(page.getByTestId('notice')).toContainText("faults[0].service: no service is named 'chekout'");
  await expect(verdict).toHaveAttribute('data-verdict', 'aborted');
});
