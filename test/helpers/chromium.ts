/** Headless Chromium for the tests that load a page themselves (the HTML reports), as one launcher. */
import { chromium, type Browser, type Page } from 'playwright-core';
import { DEFAULT_CHROMIUM } from '../../src/runtime/browser.js';

/** Headless, no GPU, and nothing that reaches the network or writes a profile beyond the test's. */
export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-quic',
  '--no-first-run',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * Starts the Chromium that `hone optimize --target browser` uses (HONE_CHROMIUM, else /usr/bin/chromium)
 * with CHROMIUM_FLAGS. Each launch has a fresh user-data-dir: Playwright's launch() makes a temporary one
 * and removes it on close (it refuses a --user-data-dir flag). Close the browser when done.
 */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: process.env.HONE_CHROMIUM ?? DEFAULT_CHROMIUM, headless: true, args: CHROMIUM_FLAGS });
}

/** A new page that records its console errors and warnings, uncaught errors, and every URL it requests. */
export async function watchedPage(browser: Browser): Promise<{ page: Page; errors: string[]; requests: string[] }> {
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(String(e)));
  const requests: string[] = [];
  page.on('request', (q) => requests.push(q.url()));
  return { page, errors, requests };
}
