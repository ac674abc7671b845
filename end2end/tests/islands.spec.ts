import { expect, test, type Locator, type Page } from "@playwright/test";

import { signUp, uniqueEmail } from "./accounts";
import { holdNext, payWith4242 } from "./buying";

// The buy button, "Manage billing" and the change-plan confirmation are forms inside islands.
// Hydrated, each island calls its server function with `fetch` (no page load): the button is
// busy meanwhile and a refusal appears in place. Without JavaScript the same click posts the
// form, a document navigation that the server redirects. Each test proves the mode it runs in,
// so an island that does not hydrate fails the JavaScript-on run.
const jsOn = () => test.info().project.name === "js-on";

/** Loads `path`; hydrated, waits until the wasm has loaded and the islands have taken over. */
async function open(page: Page, path: string) {
  await page.goto(path);
  if (jsOn()) {
    await page.waitForLoadState("networkidle");
    // Set on the loaded document: still there afterwards only if no page load happened.
    await page.evaluate(() => ((window as unknown as { stayed: boolean }).stayed = true));
  }
}

/**
 * Clicks `button`, holding the request to `route` while the page is checked: hydrated, it is a
 * `fetch` and the button says `busy` with `aria-busy`; without JavaScript, it is the document's
 * navigation. Then lets the request go.
 */
async function clickThrough(page: Page, button: Locator, route: string, busy: string) {
  const held = await holdNext(page, route);
  // Not awaited yet: without JavaScript the click waits for its navigation, which is held.
  const clicked = button.click();
  const request = await held.request;
  if (jsOn()) {
    expect(request.isNavigationRequest()).toBe(false);
    expect(request.resourceType()).toBe("fetch");
    const working = page.getByRole("button", { name: busy });
    await expect(working).toHaveAttribute("aria-busy", "true");
    await expect(working).toBeDisabled();
  } else {
    expect(request.isNavigationRequest()).toBe(true);
    expect(request.resourceType()).toBe("document");
  }
  held.release();
  await clicked;
}

/** Hydrated: true when the page was never reloaded since `open`. */
async function stayed(page: Page) {
  return page.evaluate(() => (window as unknown as { stayed?: boolean }).stayed === true);
}

test("the buy button calls create_checkout, and a refusal appears in place", async ({ page }) => {
  // LAUNCH20 is in the catalog but the emulator has no such coupon: Stripe refuses it.
  await open(page, "/pricing?coupon=LAUNCH20");
  const buy = page.getByRole("button", { name: "Buy Lifetime" });
  await clickThrough(page, buy, "/api/checkout", "Opening checkout…");
  if (jsOn()) {
    await expect(page.getByRole("alert")).toContainText("No such coupon: 'LAUNCH20'");
    expect(await stayed(page)).toBe(true);
    // The button is back, ready for another try.
    await expect(buy).toHaveAttribute("aria-busy", "false");
    await expect(buy).toBeEnabled();
    await expect(page).toHaveURL(/\/pricing\?coupon=LAUNCH20$/);
  } else {
    await expect(page).toHaveURL(/\/pricing\?checkout_error=refused$/);
    await expect(page.getByRole("alert")).toContainText("Stripe refused part of this checkout");
  }
});

test("buying, managing billing and changing plan each go through their server function", async ({ page }) => {
  const email = uniqueEmail("islands");
  await signUp(page, email);

  await open(page, "/pricing");
  const subscribe = page.getByRole("button", { name: "Subscribe to Starter" });
  await clickThrough(page, subscribe, "/api/checkout", "Opening checkout…");
  await payWith4242(page, email);

  await open(page, "/billing");
  const manage = page.getByRole("button", { name: "Manage billing" });
  await clickThrough(page, manage, "/api/billing/portal", "Opening the billing portal…");
  await expect(page.getByRole("heading", { name: "Manage your billing" })).toBeVisible();

  await open(page, "/billing/change?price=pro_monthly");
  const confirm = page.getByRole("button", { name: /^Switch to Pro/ });
  await clickThrough(page, confirm, "/api/billing/change", "Changing your plan…");
  await expect(page).toHaveURL(/\/billing\?changed=1/);
  await expect(page.locator(".subscription")).toContainText("Pro (monthly)");
});
