/**
 * `npm run report:screenshot -- <index.html> [out.png]`: a screenshot of a DR report page (the one
 * `npm run demo` writes, or one downloaded from S3), taken in Debian's headless Chromium, as the
 * browser test takes its own. The README's picture is made this way from the demo's report:
 *   npm run demo   (prints the path of its report)
 *   npm run report:screenshot -- /tmp/dr-demo-report-…/index.html docs/images/dr-report.png
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { ensureChromium } from './browser/chromium.js';

const [page, out = 'dr-report.png'] = process.argv.slice(2);
if (!page) {
  console.error('usage: npm run report:screenshot -- <index.html> [out.png]');
  process.exit(2);
}
const browser = await chromium.launch({ executablePath: ensureChromium(), args: ['--no-sandbox'] });
try {
  const tab = await browser.newPage({ viewport: { width: 1280, height: 1100 } });
  await tab.goto(pathToFileURL(resolve(page)).href);
  await tab.screenshot({ path: out });
  console.log(`wrote ${out}`);
} finally {
  await browser.close();
}
