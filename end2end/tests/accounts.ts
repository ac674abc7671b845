import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

import { expect, test, type Page } from "@playwright/test";

import { expectAccessible } from "./axe";

// Set by scripts/test.sh: the Maildir the site's SMTP server writes to.
const maildir = process.env.MAILDIR ?? "";

export const password = "correct horse battery";

export function uniqueEmail(prefix: string) {
  return `${prefix}-${test.info().project.name}-${Date.now()}-${Math.floor(Math.random() * 1e6)}@example.com`;
}

/** The mails the site's SMTP server received for `to`, oldest first. */
export function mailsTo(to: string): string[] {
  const dir = join(maildir, "new");
  let files: string[] = [];
  try {
    files = readdirSync(dir);
  } catch {
    return [];
  }
  return files
    .map((f) => readFileSync(join(dir, f), "utf8"))
    .filter((m) => m.includes(`To: ${to}`));
}

/** The newest link to `path` mailed to `to` (quoted-printable undone), as a path and query. */
export async function mailedLink(to: string, path: string): Promise<string> {
  let link = "";
  await expect
    .poll(() => {
      const found = mailsTo(to)
        .map((m) => m.replace(/=\r?\n/g, "").replace(/=3D/g, "="))
        .map((m) => m.match(new RegExp(`${path}\\?token=[A-Za-z0-9_-]+`))?.[0])
        .filter((l): l is string => !!l);
      link = found[found.length - 1] ?? "";
      return link;
    })
    .not.toBe("");
  return link;
}

/**
 * Signs up, then proves the email by the mailed link, opened signed out: the page asks for the
 * account's password (only the account's holder proves an address), and signs in. With
 * `checkPages`, runs axe on each page on the way (the journeys need it once, not at every
 * sign-up).
 */
export async function signUp(page: Page, email: string, { checkPages = false } = {}) {
  const check = async () => {
    if (checkPages) await expectAccessible(page);
  };
  await page.goto("/sign-up");
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Create account" }).click();
  await expect(page.getByRole("heading", { name: "Check your inbox" })).toBeVisible();
  await check();
  await page.goto(await mailedLink(email, "/verify-email"));
  await expect(page.getByRole("button", { name: "Confirm my email" })).toBeVisible();
  await check();
  await page.getByLabel("Your account's password").fill(password);
  await page.getByRole("button", { name: "Confirm my email" }).click();
  await expect(page.getByText("Your email is confirmed.")).toBeVisible();
  await expect(page.getByRole("banner")).toContainText(`Signed in as ${email}`);
  await check();
}
