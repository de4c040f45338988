import { existsSync } from 'node:fs';

/**
 * The real browser the page tests use: Debian's `chromium` (playwright-core drives it; its own
 * browser downloads cannot work here). Nothing is installed by the suite: when it is missing, the
 * setup stops with the command that installs it.
 */
export const CHROMIUM = process.env.DR_CHROMIUM ?? '/usr/bin/chromium';
export const INSTALL_CHROMIUM = 'apt-get update && apt-get install -y chromium';

export class ChromiumMissingError extends Error {
  override readonly name = 'ChromiumMissingError';
}

export function ensureChromium(): string {
  if (!existsSync(CHROMIUM)) {
    throw new ChromiumMissingError(
      `the browser tests need Debian's chromium at ${CHROMIUM} (or set DR_CHROMIUM to another Chromium); install it with: ${INSTALL_CHROMIUM}`,
    );
  }
  return CHROMIUM;
}
