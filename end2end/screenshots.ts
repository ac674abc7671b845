import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";

import { expect, test, type Page } from "@playwright/test";

import { signUp } from "./tests/accounts";
import { fillCard4242 } from "./tests/buying";

// Where the pictures go; the README links them from there.
const out = resolve(process.env.SCREENSHOTS_DIR ?? join(__dirname, "..", "docs", "screenshots"));

const sizes = {
  desktop: { width: 1280, height: 800 },
  phone: { width: 360, height: 780 },
};

/** What the window shows (not the whole page): the pictures stay small and show what a buyer sees first. */
async function shoot(page: Page, name: string) {
  mkdirSync(out, { recursive: true });
  await page.screenshot({ path: join(out, `${name}.png`), animations: "disabled", caret: "hide" });
}

test.describe.configure({ mode: "serial" });

test("pricing, light and dark, on a desktop and a phone", async ({ page }) => {
  for (const scheme of ["light", "dark"] as const) {
    for (const [size, viewport] of Object.entries(sizes)) {
      await page.setViewportSize(viewport);
      await page.emulateMedia({ colorScheme: scheme });
      await page.goto("/pricing");
      await expect(page.getByRole("heading", { name: "Pro", level: 2 })).toBeVisible();
      await shoot(page, `pricing-${scheme}-${size}`);
    }
  }
});

test("a buyer's way: Checkout, the success page, billing and the portal", async ({ page }) => {
  await page.setViewportSize(sizes.desktop);
  // A fresh database every run: the same address each time keeps the pictures the same.
  const email = "ada@example.com";
  await signUp(page, email);

  await page.goto("/pricing");
  await page.getByRole("button", { name: "Subscribe to Starter" }).click();
  await fillCard4242(page, email);
  await page.getByLabel("CVC").blur();
  await shoot(page, "checkout");

  await page.getByRole("button", { name: /^(Pay|Subscribe|Start trial)/ }).click();
  await expect(page.getByRole("heading", { name: /Thank you/ })).toBeVisible();
  await shoot(page, "success");

  // The webhooks bring the subscription and its first invoice.
  await expect(async () => {
    await page.goto("/billing");
    await expect(page.locator(".subscription")).toContainText("Active", { timeout: 1_000 });
    await expect(page.getByRole("table")).toContainText("paid", { timeout: 1_000 });
  }).toPass({ timeout: 20_000 });
  await shoot(page, "billing");

  await page.getByRole("button", { name: "Manage billing" }).click();
  await expect(page.getByRole("heading", { name: "Manage your billing" })).toBeVisible();
  await shoot(page, "portal");
});
