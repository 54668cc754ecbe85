// Debian's headless Chromium (/usr/bin/chromium, driven by playwright-core) as every browser
// test starts it: one list of flags, a new empty profile folder, removed again by close().
//
// The flags: headless without a GPU or sandbox, and no network service of the browser's own
// (the machine has no internet). A script adds what only it needs (the player: media that may
// start without a user gesture).
import { chromium } from "playwright-core";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

// Starts Chromium with FLAGS and `extra`; returns its context, the flags it got, and close().
export async function launch(viewport, extra = []) {
  const args = [...FLAGS, ...extra];
  const profile = mkdtempSync(join(tmpdir(), "chromium-profile-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: "/usr/bin/chromium",
    headless: true,
    viewport,
    args,
  });
  const close = async () => {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  };
  return { context, args, close };
}
