// The inspector page in a real headless Chromium (playwright-core driving the system's
// browser): a token request appears as a row, live; the preemption button flips
// instance/preempted in the tree view. argv: the emulator's URL, the Chromium executable.
const { chromium } = require('playwright-core');

(async () => {
  const [url, executablePath] = process.argv.slice(2);
  const browser = await chromium.launch({ executablePath, headless: true,
                                          args: ['--no-sandbox'] });
  try {
    const page = await browser.newPage();
    const errors = [];
    page.on('pageerror', (err) => errors.push(String(err)));
    page.on('console', (msg) => { if (msg.type() === 'error') errors.push(msg.text()); });
    await page.goto(url + '/emulator/');
    await page.waitForFunction(() =>
      document.getElementById('summary').textContent.includes('profile'));
    // A client asks for a token while the page is open: its row must appear by itself.
    const res = await fetch(url + '/computeMetadata/v1/instance/service-accounts/default/token',
                            { headers: { 'Metadata-Flavor': 'Google' } });
    const token = (await res.json()).access_token;
    const row = page.locator('#rows tr', { hasText: '/instance/service-accounts/default/token' });
    await row.first().waitFor({ timeout: 10000 });
    const rowText = await row.first().innerText();
    await page.click('#preemption');
    await page.waitForFunction(() => {
      const leaf = document.querySelector('#tree .leaf[data-key="preempted"]');
      return leaf && leaf.textContent.endsWith('TRUE');
    }, null, { timeout: 10000 });
    const preempted = await page.locator('#tree .leaf[data-key="preempted"]').innerText();
    const accounts = await page.locator('#accounts').innerText();
    const html = await page.content();
    console.log(JSON.stringify({ rowText, preempted, accounts,
                                 tokenShown: html.includes(token), errors }));
  } finally {
    await browser.close();
  }
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
