/**
 * The one headless Chromium the browser tests drive: Debian's `chromium` package (`.ci/run`
 * installs it when it is missing), or `CHROMIUM_PATH`. The flags keep it off the network this
 * machine does not have (background networking, component updates, sync, QUIC).
 */

/** The browser's executable. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Launch flags for every browser test. */
export const CHROMIUM_ARGS: readonly string[] = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
