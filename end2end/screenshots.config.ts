import { defineConfig } from "@playwright/test";

import journeys from "./playwright.config";

// scripts/screenshots.sh: the README's pictures, taken by screenshots.ts in the same Chromium as
// the journeys, one at a time (the buyer's pictures follow one purchase), JavaScript on.
export default defineConfig({
  ...journeys,
  testDir: ".",
  testMatch: "screenshots.ts",
  fullyParallel: false,
  workers: 1,
  projects: [{ name: "screenshots", use: { javaScriptEnabled: true } }],
});
