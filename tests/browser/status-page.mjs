// Drives the status page in headless Chromium for StatusPageJourneyTests: refused without the token, then with it sees
// upstream 't' stopped, says STOPPED (the test then makes a call), sees it running with the call listed, and saves a
// screenshot. Usage: node status-page.mjs URL TOKEN SCREENSHOT FORBIDDEN_TEXT STOPPED_MARKER
// STOPPED_MARKER is a file made when the page shows the upstream stopped.
import { writeFileSync } from "node:fs";
import { chromium } from "playwright-core";

const [url, token, screenshot, forbidden, stoppedMarker] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH || "/usr/bin/chromium",
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-crash-reporter"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  const refused = await page.goto(url);
  console.log(`REFUSED ${refused.status()} ${(await refused.text()).trim()}`);

  await page.goto(`${url}?token=${encodeURIComponent(token)}`);
  console.log(`URL ${page.url()}`);
  await page.waitForSelector('#upstreams tr[data-upstream="t"][data-state="stopped"]', { timeout: 30000 });
  console.log("STOPPED");
  writeFileSync(stoppedMarker, "stopped\n");

  try {
    await page.waitForSelector('#upstreams tr[data-upstream="t"][data-state="running"]', { timeout: 60000 });
  } catch (error) {
    console.log(`PAGE ${await page.textContent("body")}`);
    throw error;
  }
  await page.waitForSelector('#calls tr[data-upstream="t"][data-outcome="ok"]', { timeout: 30000 });
  await page.waitForSelector('#sessions tr[data-session]', { timeout: 30000 });
  const row = await page.textContent('#upstreams tr[data-upstream="t"]');
  console.log(`RUNNING ${row}`);
  const calls = await page.textContent("#calls tbody");
  console.log(`CALLS ${calls}`);

  const html = await page.content();
  console.log(html.includes(token) ? "TOKEN IN PAGE" : "TOKEN NOT IN PAGE");
  const cookies = await page.context().cookies();
  console.log(cookies.some((c) => c.value.includes(token)) ? "TOKEN IN COOKIE" : "TOKEN NOT IN COOKIE");
  console.log(html.includes(forbidden) ? "ARGUMENT IN PAGE" : "ARGUMENT NOT IN PAGE");
  await page.screenshot({ path: screenshot, fullPage: true });
  console.log(`SCREENSHOT ${screenshot}`);
} finally {
  await browser.close();
}
