// Completes an OAuth login in headless Chromium as a person would, for the OAuth journey tests: opens the
// authorization URL `mcp-broker auth login` printed, submits the server's sign-in page, follows the redirect to the
// broker's loopback /callback and prints what the browser ended on.
// usage: node oauth-login.mjs AUTHORIZATION_URL [USER]
// Prints "AUTHORIZE <status>" for the authorization page, then (when it had a sign-in form) "CALLBACK <status>" and
// "PAGE <text of the page the browser ended on>".
import { chromium } from "playwright-core";

const [url, user = "tester"] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH || "/usr/bin/chromium",
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-crash-reporter"],
});
try {
  const page = await browser.newPage();
  const authorize = await page.goto(url);
  console.log(`AUTHORIZE ${authorize.status()}`);
  if (await page.locator("#approve").count() === 0) {
    console.log(`PAGE ${(await page.textContent("body")).trim()}`);
  } else {
    await page.fill("#user", user);
    const callback = page.waitForResponse((r) => new URL(r.url()).pathname === "/callback", { timeout: 60000 });
    await page.click("#approve");
    const answer = await callback;
    console.log(`CALLBACK ${answer.status()}`);
    await page.waitForLoadState("load");
    console.log(`PAGE ${(await page.textContent("body")).trim()}`);
  }
} finally {
  await browser.close();
}
