import { expect, test } from "@playwright/test";

import { mailedLink, password, signUp, uniqueEmail } from "./accounts";
import { expectAccessible } from "./axe";

test("sign up, confirm by the mailed link, sign out, sign in, and a wrong password is explained", async ({ page }) => {
  const email = uniqueEmail("ada");
  const header = page.getByRole("banner");

  await page.goto("/");
  await header.getByRole("link", { name: "Sign up" }).click();
  await expect(page.getByRole("heading", { name: "Create your account" })).toBeVisible();
  await expectAccessible(page);
  await signUp(page, email, { checkPages: true });
  await header.getByRole("button", { name: "Sign out" }).click();
  await expect(header.getByRole("link", { name: "Sign in" })).toBeVisible();
  await expect(header).not.toContainText("Signed in as");

  await header.getByRole("link", { name: "Sign in" }).click();
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill("not my password");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("alert")).toHaveText("The email or password is incorrect.");
  await expect(page.getByLabel("Email")).toHaveValue(email);
  await expectAccessible(page);

  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(header).toContainText(`Signed in as ${email}`);
});

test("a weak password is explained, and a taken email gets the same answer as a new one", async ({ page }) => {
  const email = uniqueEmail("bob");
  await page.goto("/sign-up");
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill("short");
  await page.getByRole("button", { name: "Create account" }).click();
  await expect(page.getByRole("alert")).toContainText("Choose a stronger password");
  await expectAccessible(page);

  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Create account" }).click();
  await expect(page.getByRole("heading", { name: "Check your inbox" })).toBeVisible();

  await page.goto("/sign-up");
  await page.getByLabel("Email").fill(email.toUpperCase());
  await page.getByLabel("Password").fill("another good password");
  await page.getByRole("button", { name: "Create account" }).click();
  await expect(page.getByRole("heading", { name: "Check your inbox" })).toBeVisible();
  await expect(page.getByRole("banner")).not.toContainText("Signed in as");
});

test("signing out ends the session: the old cookie no longer opens billing", async ({ page, context }) => {
  const email = uniqueEmail("out");
  await signUp(page, email);
  const old = (await context.cookies()).filter((c) => c.name === "landing_session");
  expect(old).toHaveLength(1);
  await page.getByRole("banner").getByRole("button", { name: "Sign out" }).click();
  await expect(page.getByRole("banner").getByRole("link", { name: "Sign in" })).toBeVisible();

  // Someone kept a copy of the cookie: it opens nothing.
  await context.addCookies(old);
  await page.goto("/billing");
  await expect(page.getByRole("link", { name: "Sign in" }).first()).toBeVisible();
  await expect(page.getByText("to see your plan, invoices and purchases")).toBeVisible();
  await expectAccessible(page);
  await expect(page.getByRole("banner")).not.toContainText("Signed in as");
});

test("forgot password: the mailed link sets a new one and signs the other browser out", async ({ page, browser }) => {
  const email = uniqueEmail("reset");
  await signUp(page, email);
  const other = await browser.newContext();
  const otherPage = await other.newPage();
  await otherPage.goto("/sign-in");
  await otherPage.getByLabel("Email").fill(email);
  await otherPage.getByLabel("Password").fill(password);
  await otherPage.getByRole("button", { name: "Sign in" }).click();
  await expect(otherPage.getByRole("banner")).toContainText(`Signed in as ${email}`);

  await page.getByRole("banner").getByRole("button", { name: "Sign out" }).click();
  await page.goto("/sign-in");
  await page.getByRole("link", { name: "Forgot your password?" }).click();
  await expectAccessible(page);
  await page.getByLabel("Email").fill(email);
  await page.getByRole("button", { name: "Send the link" }).click();
  await expect(page.getByText("If an account uses that email")).toBeVisible();

  await page.goto(await mailedLink(email, "/reset-password"));
  await expect(page.getByLabel("New password")).toBeVisible();
  await expectAccessible(page);
  await page.getByLabel("New password").fill("a brand new passphrase");
  await page.getByRole("button", { name: "Set the new password" }).click();
  await expect(page.getByText("every other device is signed out")).toBeVisible();
  await expect(page.getByRole("banner")).toContainText(`Signed in as ${email}`);

  await otherPage.goto("/billing");
  await expect(otherPage.getByRole("banner")).not.toContainText("Signed in as");
  await other.close();
});
