import { expect, type Page, type Request } from "@playwright/test";

/** On the emulator's Checkout page: fills the email (when it may be typed) and card 4242. */
export async function fillCard4242(page: Page, email: string) {
  await expect(page).toHaveURL(/\/c\/pay\/cs_test_/);
  const emailField = page.getByLabel("Email");
  if (await emailField.isEditable()) await emailField.fill(email);
  await page.getByLabel("Card number").fill("4242 4242 4242 4242");
  await page.getByLabel("Expiry (MM / YY)").fill("12 / 34");
  await page.getByLabel("CVC").fill("123");
}

/** On the emulator's Checkout page: pays with 4242 and waits for the success page. */
export async function payWith4242(page: Page, email: string) {
  await fillCard4242(page, email);
  await page.getByRole("button", { name: /^(Pay|Subscribe|Start trial)/ }).click();
  await expect(page.getByRole("heading", { name: /Thank you/ })).toBeVisible();
}

/**
 * Holds the next request to a server function's route until `release` is called, so the page
 * can be looked at while it waits: `request` is that request, as the browser made it.
 */
export async function holdNext(page: Page, route: string) {
  let release = () => {};
  const released = new Promise<void>((r) => (release = r));
  let seen: (r: Request) => void = () => {};
  const request = new Promise<Request>((r) => (seen = r));
  await page.route(`**${route}`, async (held) => {
    seen(held.request());
    await released;
    await held.continue();
    await page.unroute(`**${route}`);
  });
  return { request, release };
}
