import { expect, test, type Page } from "@playwright/test";

import { expectAccessible } from "./axe";

const jsOn = () => test.info().project.name === "js-on";

/** With JavaScript on, the page must load its wasm and log no error while doing it. */
async function watchForErrors(page: Page) {
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(m.text());
  });
  return errors;
}

test("the home page says what the product is and leads to pricing", async ({ page }) => {
  const errors = await watchForErrors(page);
  await page.goto("/");
  await expect(page.getByRole("heading", { level: 1 })).toContainText("Know when your site is down");
  await expectAccessible(page);
  await page.getByRole("link", { name: "See pricing" }).click();
  await expect(page).toHaveURL(/\/pricing$/);
  await expect(page.getByRole("heading", { name: "Pricing", level: 1 })).toBeVisible();
  expect(errors).toEqual([]);
});

test("pricing shows every plan, and the yearly switch works as a plain link", async ({ page }) => {
  const errors = await watchForErrors(page);
  await page.goto("/pricing");
  for (const plan of ["Starter", "Pro", "Lifetime"]) {
    await expect(page.getByRole("heading", { name: plan, level: 2 })).toBeVisible();
  }
  const pro = page.getByRole("article", { name: "Pro" });
  await expect(pro).toContainText("Most popular");
  await expect(pro).toContainText("$29");
  await expect(pro).toContainText("/ month");
  await expect(page.getByRole("article", { name: "Lifetime" })).toContainText("one-time");
  await expectAccessible(page);

  const intervals = page.getByRole("navigation", { name: "Billing interval" });
  await expect(intervals.getByRole("link", { name: "Monthly" })).toHaveAttribute("aria-current", "page");
  await intervals.getByRole("link", { name: "Yearly" }).click();
  await expect(page).toHaveURL(/interval=year/);
  await expect(pro).toContainText("$290");
  await expect(pro).toContainText("/ year");
  await expect(intervals.getByRole("link", { name: "Yearly" })).toHaveAttribute("aria-current", "page");
  expect(errors).toEqual([]);
});

test("the page reads the same with JavaScript off, and hydrates cleanly with it on", async ({ page }) => {
  const errors = await watchForErrors(page);
  const wasm: { status: number; type?: string }[] = [];
  page.on("response", (r) => {
    if (r.url().endsWith(".wasm")) wasm.push({ status: r.status(), type: r.headers()["content-type"] });
  });
  await page.goto("/pricing");
  await expect(page.getByRole("heading", { name: "Pro", level: 2 })).toBeVisible();
  await expect(page.getByRole("article", { name: "Starter" })).toContainText("$9");
  if (jsOn()) {
    // The islands loader sets this once the module has loaded and hydrate() has run.
    await page.waitForFunction(() => typeof (window as any).__hydrateIsland === "function");
    await page.waitForLoadState("networkidle");
    expect(wasm).toEqual([{ status: 200, type: "application/wasm" }]);
  } else {
    await page.waitForLoadState("networkidle");
    // The page's own scripts never ran, and it still showed everything above.
    expect(await page.evaluate(() => typeof (window as any).__hydrateIsland)).toBe("undefined");
  }
  expect(errors).toEqual([]);
});

test("an unknown address shows a 404 page with a way back", async ({ page }) => {
  const response = await page.goto("/no/such/page");
  expect(response?.status()).toBe(404);
  await expect(page.getByRole("heading", { name: "Page not found" })).toBeVisible();
  await expectAccessible(page);
  await page.getByRole("link", { name: "See pricing" }).click();
  await expect(page).toHaveURL(/\/pricing$/);
});

test("at 360 px wide the pricing page fits the screen, in both colour schemes", async ({ page }) => {
  await page.setViewportSize({ width: 360, height: 780 });
  await page.goto("/pricing");
  await expect(page.getByRole("heading", { name: "Lifetime", level: 2 })).toBeVisible();
  // Nothing is wider than the screen: no sideways scrolling to read a plan.
  const widths = await page.evaluate(() => {
    const root = document.scrollingElement!;
    return { scroll: root.scrollWidth, client: root.clientWidth };
  });
  expect(widths.scroll).toBeLessThanOrEqual(widths.client);
  await expectAccessible(page);
});

test("the buy buttons are reached with Tab, show where the focus is, and work with Enter", async ({ page }) => {
  await page.goto("/pricing");
  await expect(page.getByRole("heading", { name: "Pro", level: 2 })).toBeVisible();
  // The first Tab offers the way past the header.
  await page.keyboard.press("Tab");
  await expect(page.getByRole("link", { name: "Skip to content" })).toBeFocused();
  await expect(page.getByRole("link", { name: "Skip to content" })).toBeInViewport();

  const reached: string[] = [];
  for (let i = 0; i < 40 && reached.length < 3; i++) {
    await page.keyboard.press("Tab");
    const focused = await page.evaluate(() => {
      const el = document.activeElement as HTMLElement | null;
      if (!el) return null;
      const style = getComputedStyle(el);
      return {
        tag: el.tagName,
        text: el.textContent?.trim() ?? "",
        ring: el.matches(":focus-visible") && style.outlineStyle !== "none" ? parseFloat(style.outlineWidth) : 0,
      };
    });
    if (focused?.tag === "BUTTON" && /^(Subscribe to|Buy) /.test(focused.text)) {
      // A ring the eye can find: at least 2 px, drawn by :focus-visible.
      expect(focused.ring, `focus ring on "${focused.text}"`).toBeGreaterThanOrEqual(2);
      reached.push(focused.text);
    }
  }
  expect(reached).toEqual(["Subscribe to Starter", "Subscribe to Pro", "Buy Lifetime"]);

  // The focused button works from the keyboard: Enter opens Checkout.
  await page.keyboard.press("Enter");
  await expect(page).toHaveURL(/\/c\/pay\/cs_test_/);
});
