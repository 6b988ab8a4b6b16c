#!/bin/sh
# Installs the Debian packages some tests run for real: chromium + chromium-driver (browser
# tests: widget, docs page, report) and nginx (tests/test_deploy_nginx.py runs the shipped
# site in front of a real server; nginx is started by the test itself, never as a service).
# Debian's packages only, never a downloaded build. Idempotent: does nothing when all are
# present. Without root/sudo it only warns: those tests then skip with a clear reason and
# everything else still runs.
set -eu
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }
if have chromium && have chromedriver && have nginx; then
    exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
else
    echo "install_test_deps: not root: skipping chromium/nginx install (those tests will skip)" >&2
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# policy-rc.d 101: the package must not start nginx as a system service here.
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod 755 /usr/sbin/policy-rc.d
    trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
fi
$SUDO apt-get install -y -q chromium chromium-driver nginx
