import { expect, test } from "@playwright/test";

const password = "correct horse battery";

function uniqueEmail(prefix: string) {
  return `${prefix}-${test.info().project.name}-${Date.now()}-${Math.floor(Math.random() * 1e6)}@example.com`;
}

test("sign up, sign out, sign in, and a wrong password is explained", async ({ page }) => {
  const email = uniqueEmail("ada");
  const header = page.getByRole("banner");

  await page.goto("/");
  await header.getByRole("link", { name: "Sign up" }).click();
  await expect(page.getByRole("heading", { name: "Create your account" })).toBeVisible();
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Create account" }).click();

  await expect(header).toContainText(`Signed in as ${email}`);
  await header.getByRole("button", { name: "Sign out" }).click();
  await expect(header.getByRole("link", { name: "Sign in" })).toBeVisible();
  await expect(header).not.toContainText("Signed in as");

  await header.getByRole("link", { name: "Sign in" }).click();
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill("not my password");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("alert")).toHaveText("The email or password is incorrect.");
  await expect(page.getByLabel("Email")).toHaveValue(email);

  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(header).toContainText(`Signed in as ${email}`);
});

test("a weak password and a taken email are explained on the sign-up form", async ({ page }) => {
  const email = uniqueEmail("bob");
  await page.goto("/sign-up");
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill("short");
  await page.getByRole("button", { name: "Create account" }).click();
  await expect(page.getByRole("alert")).toContainText("Choose a stronger password");

  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Create account" }).click();
  await expect(page.getByRole("banner")).toContainText(`Signed in as ${email}`);
  await page.getByRole("banner").getByRole("button", { name: "Sign out" }).click();

  await page.goto("/sign-up");
  await page.getByLabel("Email").fill(email.toUpperCase());
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Create account" }).click();
  await expect(page.getByRole("alert")).toContainText("An account with this email already exists");
});
