#!/usr/bin/env bash
# capture-gui.sh VENV MONITOR_ADDRESS GUI_PORT OUT.png WIDTH,HEIGHT: starts the real scaler_gui on the
# monitor address and saves a screenshot of it in headless Chromium (`apt-get install chromium`), driven
# by playwright-core (installed with npm into ~/.cache/scaler-rs/playwright on first use) so the shot is
# taken once the page shows data from the event stream, not at page load. Prints the GUI's pid on
# stdout so the caller can stop it.
set -uo pipefail
VENV=$1; MON=$2; GUI_PORT=$3; OUT=$4; SIZE=$5
command -v chromium > /dev/null || { echo "chromium not installed: no $OUT" >&2; exit 0; }
PW="$HOME/.cache/scaler-rs/playwright"
if [ ! -d "$PW/node_modules/playwright-core" ]; then
    mkdir -p "$PW" && (cd "$PW" && npm init -y > /dev/null && npm i playwright-core@1 > /dev/null 2>&1) \
        || { echo "could not install playwright-core: no $OUT" >&2; exit 0; }
fi
"$VENV/bin/scaler_gui" "$MON" --gui-address "127.0.0.1:$GUI_PORT" > "/tmp/gui-$GUI_PORT.log" 2>&1 &
echo $!
sleep 3
NODE_PATH="$PW/node_modules" timeout 90 node - "http://127.0.0.1:$GUI_PORT/" "$OUT" "$SIZE" <<'JS' >&2
const { chromium } = require("playwright-core");
const [url, out, size] = process.argv.slice(2);
const [width, height] = size.split(",").map(Number);
(async () => {
  const browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const page = await browser.newPage({ viewport: { width, height } });
  await page.goto(url);
  // The scheduler's CPU figure is filled in from the first status message of the event stream.
  await page.waitForFunction(() => /CPU:\s*[0-9]/.test(document.body.innerText), null, { timeout: 60000 });
  await page.waitForTimeout(3000);
  await page.screenshot({ path: out });
  await browser.close();
  console.log(`captured ${out}`);
})().catch((e) => { console.error(`no ${out}: ${e}`); process.exit(1); });
JS
