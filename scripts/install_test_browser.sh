#!/bin/sh
# Installs Debian's chromium + chromedriver for the browser tests (widget, docs page, report).
# The browser must come from Debian's packages, never a downloaded build. Idempotent: does
# nothing when both are present. Without root/sudo it only warns: the browser tests then
# skip with a clear reason and everything else still runs.
set -eu
if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
else
    echo "install_test_browser: not root: skipping chromium install (browser tests will skip)" >&2
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q chromium chromium-driver
