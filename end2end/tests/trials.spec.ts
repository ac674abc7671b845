import { expect, test } from "@playwright/test";

import { signUp, uniqueEmail } from "./accounts";
import { expectAccessible } from "./axe";
import { payWith4242 } from "./buying";

test("a trialing subscriber upgrades to yearly and keeps the trial, with nothing charged until it ends", async ({ page }) => {
  const email = uniqueEmail("trial-upgrade");
  await signUp(page, email);
  await page.goto("/pricing");
  await page.getByRole("button", { name: "Subscribe to Pro" }).click();
  await expect(page.getByText("14 days free")).toBeVisible();
  await payWith4242(page, email);

  await page.goto("/billing");
  const trialEnd = page.getByText(/^Trial ends on /);
  await expect(trialEnd).toBeVisible();
  const ends = ((await trialEnd.textContent()) ?? "").replace("Trial ends on ", "").trim();
  expect(ends).toMatch(/^[A-Z][a-z]+ \d{1,2}, \d{4}$/);

  // The yearly price is a change of plan, previewed: the trial goes on, nothing is due today.
  await page.goto("/pricing?interval=year");
  await page.getByRole("article", { name: "Pro" }).getByRole("link", { name: "Switch to Pro" }).click();
  await expect(page).toHaveURL(/\/billing\/change\?price=pro_yearly/);
  await expect(page.getByText(`your free trial goes on: no charge until ${ends}, when you pay $290.`)).toBeVisible();
  await expect(page.locator(".due-today")).toHaveText(/^\$0(\.00)?$/);
  await expectAccessible(page);

  await page.getByRole("button", { name: "Switch to Pro, yearly" }).click();
  await expect(page).toHaveURL(/\/billing\?changed=1/);
  await expect(page.getByText("Your plan has been changed.")).toBeVisible();
  await expect(page.locator(".subscription")).toContainText("Pro (yearly)");
  await expect(page.getByText(`Trial ends on ${ends}`)).toBeVisible();
  await expectAccessible(page);

  // Read again from the stored state, not the redirect's page: still trialing, same end.
  await page.goto("/billing");
  await expect(page.locator(".subscription")).toContainText("Pro (yearly)");
  await expect(page.getByText(`Trial ends on ${ends}`)).toBeVisible();
  await page.goto("/app");
  await expect(page.getByText("You are on a free trial.")).toBeVisible();
});
