#!/usr/bin/env bash
# Installs the headless browser tests/deployment/test_browser.py drives: Chromium and its
# chromedriver from Debian's own packages (never a browser download from anywhere else; Selenium
# is pointed at /usr/bin/chromedriver, so Selenium Manager fetches nothing either).
# Idempotent: does nothing when both are already installed. Installing needs root (CI runs as
# root); as another user it only says what to run and exits 0, so scripts/test.sh still runs the
# rest of the suite (the browser test then fails, naming this script).
set -euo pipefail

PACKAGES=(chromium chromium-driver)

if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "scripts/install_browser.sh: Chromium for the browser test is missing and this is not root." >&2
  echo "  Install it with: sudo apt-get install -y --no-install-recommends ${PACKAGES[*]}" >&2
  echo "  (or run this script as root). Until then tests/deployment/test_browser.py fails." >&2
  exit 0
fi

echo "scripts/install_browser.sh: installing ${PACKAGES[*]} from Debian's packages"
export DEBIAN_FRONTEND=noninteractive
# A package list older than the archive (a fresh machine has none) makes the install 404: refresh it.
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null
/usr/bin/chromedriver --version
