#!/bin/sh
# Installs the Debian packages some tests run for real: chromium + chromium-driver (browser tests:
# widget, docs page, report), nginx (tests/test_deploy_nginx.py runs the shipped site in front of
# a real server), postgresql (the shared live state: tests start a throw-away cluster with
# initdb/pg_ctl, recommender/bench/pgserver.py) and redis-server (rate limits shared by hosts).
# Every server is started by the tests themselves, never as a system service. Debian's packages
# only, never a downloaded build. Idempotent: does nothing when all are present. Without root/sudo
# it only warns: those tests then skip with a clear reason and everything else still runs.
set -eu
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }
have_postgres() { ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; }
if have chromium && have chromedriver && have nginx && have_postgres && have redis-server; then
    exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
else
    echo "install_test_deps: not root: skipping chromium/nginx/postgresql/redis install (those tests will skip)" >&2
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# policy-rc.d 101: the packages must not start nginx, postgresql or redis as system services.
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod 755 /usr/sbin/policy-rc.d
    trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
fi
$SUDO apt-get install -y -q chromium chromium-driver nginx postgresql redis-server
