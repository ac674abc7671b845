import { expect, test, type Page } from "@playwright/test";

import { mailedLink, mailsTo, signUp, uniqueEmail } from "./accounts";
import { expectAccessible } from "./axe";
import { payWith4242 } from "./buying";

// Set by scripts/test.sh: the emulator (for its test controls).
const stripeUrl = process.env.STRIPE_URL ?? "http://127.0.0.1:12111";
const stripeKey = process.env.STRIPE_KEY ?? "sk_test_end2end";

/** Subscribes to Pro (monthly) with 4242 and waits for the success page. */
async function subscribeToPro(page: Page, email: string) {
  await subscribeTo(page, email, "Pro");
}

/** Subscribes to a plan (monthly) with 4242 and waits for the success page. */
async function subscribeTo(page: Page, email: string, plan: string) {
  await page.goto("/pricing");
  await page.getByRole("button", { name: `Subscribe to ${plan}` }).click();
  await expect(page).toHaveURL(/\/c\/pay\/cs_test_/);
  // Pro's first subscription starts with its free trial: nothing is due today.
  if (plan === "Pro") await expect(page.getByText("14 days free")).toBeVisible();
  await payWith4242(page, email);
}

/** From /billing into the emulator's portal, do `action`, and come back. */
async function inPortal(page: Page, action: string) {
  await page.goto("/billing");
  await page.getByRole("button", { name: "Manage billing" }).click();
  await expect(page.getByRole("heading", { name: "Manage your billing" })).toBeVisible();
  await page.getByRole("button", { name: action }).click();
  await page.getByRole("link", { name: "Return to the site" }).click();
  await expect(page).toHaveURL(/\/billing\?from=portal/);
}

/** The emulator's subscription for a customer email. */
async function subscriptionOf(page: Page, email: string): Promise<string> {
  const auth = { Authorization: `Bearer ${stripeKey}` };
  const customers = await (
    await page.request.get(`${stripeUrl}/v1/customers`, { params: { email }, headers: auth })
  ).json();
  const customer = customers.data[0].id;
  const subs = await (
    await page.request.get(`${stripeUrl}/v1/subscriptions`, { params: { customer }, headers: auth })
  ).json();
  return subs.data[0].id;
}

test("subscribe, use the app, cancel at period end, resume, and end at the period's end in the portal", async ({ page }) => {
  const email = uniqueEmail("sub");
  await signUp(page, email);

  await page.goto("/app");
  await expect(page.getByRole("heading", { name: "This area is for subscribers" })).toBeVisible();
  await expectAccessible(page);
  await page.goto("/billing");
  await expect(page.getByText("You don't have a billing account yet. Make a purchase first.")).toBeVisible();
  await expect(page.getByRole("link", { name: "See pricing" })).toBeVisible();
  await expectAccessible(page);

  await page.goto("/pricing");
  await expect(page.getByRole("article", { name: "Pro" })).toContainText("14-day free trial");
  await subscribeToPro(page, email);
  await expect(page.getByText(/Your free trial has started/)).toBeVisible();
  await page.goto("/app");
  await expect(page.getByRole("heading", { name: "Your workspace" })).toBeVisible();
  await expect(page.getByText("Plan: Pro (monthly)")).toBeVisible();
  await expectAccessible(page);
  await page.goto("/billing");
  const subscription = page.locator(".subscription");
  await expect(subscription).toContainText("Pro (monthly)");
  await expect(subscription).toContainText("Trial");
  await expect(subscription).toContainText(/Trial ends on \w+ \d+, \d{4}/);
  await expect(subscription).toContainText(/First payment on \w+ \d+, \d{4}/);
  await expectAccessible(page);

  await inPortal(page, "Cancel at period end");
  await expect(subscription).toContainText(/Cancels on \w+ \d+, \d{4}/);
  // Its invoice, read back on the way from the portal, links to the hosted page.
  await expect(page.getByRole("table").getByRole("link")).toHaveAttribute("href", /\/i\/in_/);
  await page.goto("/app");
  await expect(page.getByRole("heading", { name: "Your workspace" })).toBeVisible();

  await inPortal(page, "Resume subscription");
  await expect(subscription).toContainText(/First payment on/);

  // The portal `landing stripe setup` saved cancels at the period's end only.
  await inPortal(page, "Cancel at period end");
  await page.getByRole("button", { name: "Manage billing" }).click();
  await expect(page.getByRole("button", { name: "Resume subscription" })).toBeVisible();
  await expect(page.getByRole("button", { name: "Cancel now" })).toHaveCount(0);
  await expectAccessible(page);
  // The period ends (this subscription's clock only), and with it the subscription.
  const sub = await subscriptionOf(page, email);
  const ended = await page.request.post(`${stripeUrl}/_emulator/subscriptions/${sub}/renew`);
  expect(ended.ok()).toBeTruthy();
  await expect(async () => {
    await page.goto("/billing");
    await expect(subscription).toContainText("Canceled", { timeout: 1_000 });
  }).toPass();
  await expect(subscription).toContainText(/Ended on/);
  await expect(page.getByText("You have no active plan.")).toBeVisible();
  await page.goto("/app");
  await expect(page.getByRole("heading", { name: "This area is for subscribers" })).toBeVisible();
  await expect(page.getByRole("link", { name: "See plans" })).toBeVisible();
});

test("a failed renewal shows past due with a grace period and sends one email", async ({ page }) => {
  const email = uniqueEmail("late");
  await signUp(page, email);
  await subscribeToPro(page, email);
  const sub = await subscriptionOf(page, email);

  // This subscription's clock only: its renewal now fails.
  for (const control of ["fail_next_renewal", "renew"]) {
    const res = await page.request.post(`${stripeUrl}/_emulator/subscriptions/${sub}/${control}`);
    expect(res.ok()).toBeTruthy();
  }

  // The webhooks arrive on their own (after the checkout's, still in flight): the page shows
  // the subscription past due and the unpaid invoice once they have.
  await expect(async () => {
    await page.goto("/billing");
    await expect(page.locator(".subscription")).toContainText("Past due", { timeout: 1_000 });
    await expect(page.getByRole("table")).toContainText("open", { timeout: 1_000 });
  }).toPass({ timeout: 20_000 });
  await expect(page.locator(".subscription")).toContainText(/Payment failed: access continues until/);
  await expectAccessible(page);
  await page.goto("/app");
  await expect(page.getByText(/Your last payment failed/)).toBeVisible();

  await expect.poll(() => mailsTo(email).filter((m) => m.includes("Your payment did not go through")).length, {
    timeout: 15_000,
  }).toBe(1);
  // Delivered again (as Stripe retries): still one mail.
  const events = await (
    await page.request.get(`${stripeUrl}/v1/events`, {
      params: { type: "invoice.payment_failed", limit: "100" },
      headers: { Authorization: `Bearer ${stripeKey}` },
    })
  ).json();
  const failed = events.data.find((e: { data: { object: { customer_email: string } } }) =>
    e.data.object.customer_email === email,
  );
  const resend = await page.request.post(`${stripeUrl}/_emulator/events/${failed.id}/resend`);
  expect(resend.ok()).toBeTruthy();
  await page.waitForTimeout(1_000);
  expect(mailsTo(email).filter((m) => m.includes("Your payment did not go through"))).toHaveLength(1);
});

test("a signed-out buyer signs up with that email, confirms it with the password, and sees the purchase", async ({ page }) => {
  const email = uniqueEmail("early");
  // Bought before having an account.
  await page.goto("/pricing");
  await page.getByRole("button", { name: "Buy Lifetime" }).click();
  await payWith4242(page, email);

  // Signing up and in with that email is not enough: nothing is found by an unproven email.
  await page.goto("/sign-up");
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill("correct horse battery");
  await page.getByRole("button", { name: "Create account" }).click();
  await expect(page.getByRole("heading", { name: "Check your inbox" })).toBeVisible();
  await page.goto("/sign-in");
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill("correct horse battery");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.goto("/billing");
  await expect(page.getByText("You don't have a billing account yet. Make a purchase first.")).toBeVisible();
  await page.context().clearCookies();

  // The mailed link, opened signed out (another device, a mail app's browser): the page asks
  // for the account's password, and says what to do for someone who did not sign up.
  const link = await mailedLink(email, "/verify-email");
  await page.goto(link);
  await expect(page.getByText("Enter the password you chose when you created the account")).toBeVisible();
  await expect(page.getByText("Did not create an account here?")).toBeVisible();
  await expect(page.getByRole("link", { name: "reset the password" })).toBeVisible();
  // Without the password nothing is proven: the page asks again.
  await page.getByLabel("Your account's password").fill("not the password at all");
  await page.getByRole("button", { name: "Confirm my email" }).click();
  await expect(page.getByRole("alert")).toContainText("That is not the password");
  await page.getByLabel("Your account's password").fill("correct horse battery");
  await page.getByRole("button", { name: "Confirm my email" }).click();
  await expect(page.getByText("Your email is confirmed.")).toBeVisible();
  await expect(page.getByRole("banner")).toContainText(`Signed in as ${email}`);
  await page.goto("/billing");
  await expect(page.getByRole("button", { name: "Manage billing" })).toBeVisible();
  await expect(page.getByText("Lifetime").first()).toBeVisible();
});

test("a Starter subscriber switches to Pro yearly on the change page and sees it at once", async ({ page }) => {
  const email = uniqueEmail("switch");
  await signUp(page, email);
  await subscribeTo(page, email, "Starter");

  // Subscribed: the pricing page offers a change of plan, never a second subscription.
  await page.goto("/pricing?interval=year");
  await expect(page.getByRole("button", { name: /^Subscribe to/ })).toHaveCount(0);
  await page.getByRole("article", { name: "Pro" }).getByRole("link", { name: "Switch to Pro" }).click();
  await expect(page).toHaveURL(/\/billing\/change\?price=pro_yearly/);
  await expect(page.getByRole("heading", { name: "Change plan" })).toBeVisible();
  // Stripe's preview: a new yearly period today, the unused month taken off.
  await expect(page.locator(".due-today")).toHaveText(/^\$\d/);
  await expect(page.locator(".next-renewal")).toContainText("$290 on");
  await expect(page.getByText(/A new billing period on Pro, yearly starts today/)).toBeVisible();
  await expectAccessible(page);

  await page.getByRole("button", { name: "Switch to Pro, yearly" }).click();
  await expect(page).toHaveURL(/\/billing\?changed=1/);
  await expect(page.getByText("Your plan has been changed.")).toBeVisible();
  await expect(page.locator(".subscription")).toContainText("Pro (yearly)");
  await expectAccessible(page);
  await page.goto("/app");
  await expect(page.getByText("Plan: Pro (yearly)")).toBeVisible();
});

test("a Pro yearly subscriber schedules a downgrade for the period's end, sees it, and keeps Pro", async ({ page }) => {
  const email = uniqueEmail("downgrade");
  await signUp(page, email);
  await subscribeTo(page, email, "Starter");
  await page.goto("/billing/change?price=pro_yearly");
  await page.getByRole("button", { name: "Switch to Pro, yearly" }).click();
  await expect(page).toHaveURL(/\/billing\?changed=1/);
  await expect(page.locator(".subscription")).toContainText("Pro (yearly)");

  // A cheaper plan waits for the end of the paid year: nothing is due, nothing is forfeited.
  await page.goto("/pricing?interval=year");
  await page.getByRole("article", { name: "Starter" }).getByRole("link", { name: "Switch to Starter" }).click();
  await expect(page).toHaveURL(/\/billing\/change\?price=starter_yearly/);
  await expect(page.getByText(/Scheduled for \w+ \d+, \d{4}: nothing changes before then/)).toBeVisible();
  await expect(page.locator(".due-today")).toHaveText(/^\$0(\.00)?$/);
  await expect(page.locator(".next-renewal")).toContainText("$90 on");
  await expectAccessible(page);
  await page.getByRole("button", { name: "Switch to Starter, yearly" }).click();
  await expect(page).toHaveURL(/\/billing\?scheduled=1/);
  const subscription = page.locator(".subscription");
  await expect(subscription).toContainText("Pro (yearly)");
  await expect(subscription).toContainText(/Changes to Starter \(yearly\) on \w+ \d+, \d{4}/);
  await expectAccessible(page);
  await page.goto("/app");
  await expect(page.getByText("Plan: Pro (yearly)")).toBeVisible();

  // Changed their mind: the schedule is released and Pro renews as before.
  await page.goto("/billing");
  await page.getByRole("button", { name: "Keep Pro (yearly)" }).click();
  await expect(page).toHaveURL(/\/billing\?kept=1/);
  await expect(page.getByText("You keep your current plan.")).toBeVisible();
  await expect(subscription).toContainText("Pro (yearly)");
  await expect(subscription).not.toContainText("Changes to");
  await expect(page.getByRole("button", { name: /^Keep / })).toHaveCount(0);
});

test("a Lifetime buyer refunded in full through Stripe loses /app, and billing says so", async ({ page }) => {
  const email = uniqueEmail("refund");
  await signUp(page, email);
  await page.goto("/pricing");
  await page.getByRole("button", { name: "Buy Lifetime" }).click();
  await payWith4242(page, email);
  await page.goto("/app");
  await expect(page.getByRole("heading", { name: "Your workspace" })).toBeVisible();

  // Refunded in Stripe (as from its dashboard): the webhook takes the purchase back.
  const auth = { Authorization: `Bearer ${stripeKey}` };
  const sessions = await (
    await page.request.get(`${stripeUrl}/v1/checkout/sessions`, { params: { limit: "100" }, headers: auth })
  ).json();
  const bought = sessions.data.find(
    (s: { customer_details: { email: string } | null; status: string }) =>
      s.customer_details?.email === email && s.status === "complete",
  );
  const refund = await page.request.post(`${stripeUrl}/v1/refunds`, {
    form: { payment_intent: bought.payment_intent },
    headers: auth,
  });
  expect(refund.ok()).toBeTruthy();
  await expect(async () => {
    await page.goto("/app");
    await expect(page.getByRole("heading", { name: "This area is for subscribers" })).toBeVisible({ timeout: 1_000 });
  }).toPass({ timeout: 20_000 });
  await page.goto("/billing");
  await expect(page.locator(".purchases")).toContainText("Refunded");
  await expectAccessible(page);
});

test("the portal switches only between the plans the site sells", async ({ page }) => {
  const email = uniqueEmail("portal");
  await signUp(page, email);
  await subscribeTo(page, email, "Starter");

  // Another product on the same Stripe account, which the site does not sell.
  const auth = { Authorization: `Bearer ${stripeKey}` };
  const product = await (
    await page.request.post(`${stripeUrl}/v1/products`, { form: { name: "Legacy seats" }, headers: auth })
  ).json();
  const legacy = await page.request.post(`${stripeUrl}/v1/prices`, {
    form: { product: product.id, unit_amount: "500", currency: "usd", "recurring[interval]": "month" },
    headers: auth,
  });
  expect(legacy.ok()).toBeTruthy();

  await page.goto("/billing");
  await page.getByRole("button", { name: "Manage billing" }).click();
  await expect(page.getByRole("heading", { name: "Manage your billing" })).toBeVisible();
  const plans = page.getByLabel("Switch plan");
  await expect(plans).toBeVisible();
  await expectAccessible(page);
  const offered = await plans.locator("option").allTextContents();
  expect(offered).toHaveLength(3);
  expect(offered.join(" | ")).toMatch(/Starter — 90\.00 USD per year/);
  expect(offered.join(" | ")).toMatch(/Pro — 29\.00 USD per month/);
  expect(offered.join(" | ")).not.toContain("Legacy");
  await plans.selectOption({ label: offered.find((o) => o.startsWith("Pro") && o.includes("per month"))! });
  await page.getByRole("button", { name: "Switch plan" }).click();
  await page.getByRole("link", { name: "Return to the site" }).click();
  await expect(page).toHaveURL(/\/billing\?from=portal/);
  await expect(page.locator(".subscription")).toContainText("Pro (monthly)");
});

test("an operator reads the webhook event log", async ({ page }) => {
  // scripts/test.sh names one operator per project in ADMIN_EMAILS: the projects share a database.
  const email = `ops-${test.info().project.name}@example.com`;
  await signUp(page, email);
  // A purchase of their own, so the log has events in it whatever else runs meanwhile.
  await page.goto("/pricing");
  await page.getByRole("button", { name: "Buy Lifetime" }).click();
  await payWith4242(page, email);
  await expect(async () => {
    await page.goto("/admin/events");
    await expect(page.getByRole("heading", { name: "Webhook events" })).toBeVisible({ timeout: 1_000 });
    await expect(page.getByRole("table")).toContainText("checkout.session.completed", { timeout: 1_000 });
  }).toPass({ timeout: 20_000 });
  await expectAccessible(page);
  await page.getByRole("navigation", { name: "Filter" }).getByRole("link", { name: "Failures only" }).click();
  await expect(page).toHaveURL(/failed=1/);
  await expectAccessible(page);
});
