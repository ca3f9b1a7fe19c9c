#!/usr/bin/env bash
# setup-deps.sh [--build] [--quiet] - install what herd needs to build and test (with --build:
# to build only: the compiler, pkg-config and the four libraries), and only what is missing.
#
# Debian packages are checked with dpkg-query; apt-get update + install run only when one is
# missing, so a second run is silent and takes well under a second. The node test peers
# (tests/peers), interop decoders (tests/interop) and Kubernetes schema check (tests/kube) get
# `npm ci` when node_modules is missing or older than package-lock.json. Installing nginx must
# not leave a system nginx on port 80: service starts are refused through policy-rc.d during the
# install, and one that started anyway is stopped and disabled.
set -euo pipefail

quiet=0
build_only=0
for arg in "$@"; do
    case "$arg" in
    --quiet | -q) quiet=1 ;;
    --build) build_only=1 ;;
    -h | --help)
        sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *)
        echo "setup-deps.sh: unknown option $arg (usage: setup-deps.sh [--build] [--quiet])" >&2
        exit 2
        ;;
    esac
done

top=$(cd "$(dirname "$0")/.." && pwd)
say() { [ "$quiet" = 1 ] || printf 'setup-deps: %s\n' "$*"; }
note() { printf 'setup-deps: %s\n' "$*" >&2; } # printed even with --quiet: something changes

# To build herd (`make`): the compiler, pkg-config and the libraries of the Makefile's PKGS.
BUILD_PKGS=(build-essential pkg-config libssl-dev zlib1g-dev libyaml-dev libjansson-dev)
# To test it (`make test`, CI): the fuzzing compiler, the peers, the tools the tests drive.
TEST_PKGS=(clang libclang-rt-14-dev python3-pytest python3-websockets nodejs npm openssl nginx
    libnginx-mod-nchan websocketd clang-format iproute2 groff-base prometheus python3-yaml
    libwolfssl-dev)
# The headless browser that loads the HTML report (tests/integration/test_html.py).
TEST_PKGS+=(chromium)
PKGS=("${BUILD_PKGS[@]}")
[ "$build_only" = 1 ] || PKGS+=("${TEST_PKGS[@]}")

# ---- Debian packages ----
installed=$(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "${PKGS[@]}" 2>/dev/null |
    awk '$2 == "installed" { print $1 }' || true)
missing=()
for p in "${PKGS[@]}"; do
    if grep -qxF "$p" <<<"$installed"; then
        continue
    fi
    # NodeSource's nodejs package carries npm itself (Provides/Conflicts: npm): Debian's npm
    # package cannot go beside it, and is not needed when an npm is on PATH.
    if [ "$p" = npm ] && command -v npm >/dev/null 2>&1; then
        continue
    fi
    missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
    note "installing ${missing[*]}"
    sudo=()
    if [ "$(id -u)" != 0 ]; then
        command -v sudo >/dev/null 2>&1 || {
            echo "setup-deps: need root (or sudo) to install: ${missing[*]}" >&2
            exit 1
        }
        sudo=(sudo)
    fi
    # Refuse service starts while installing (nginx would otherwise take port 80). A
    # policy-rc.d that is already there is left as it is.
    own_policy=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\n# herd setup-deps.sh: no service starts during install\nexit 101\n' |
            "${sudo[@]}" tee /usr/sbin/policy-rc.d >/dev/null
        "${sudo[@]}" chmod 755 /usr/sbin/policy-rc.d
        own_policy=1
    fi
    cleanup_policy() { [ "$own_policy" = 0 ] || "${sudo[@]}" rm -f /usr/sbin/policy-rc.d; }
    trap cleanup_policy EXIT

    log=$(mktemp /tmp/herd-setup-deps.XXXXXX)
    apt_opts=(-o DPkg::Lock::Timeout=300 -o Dpkg::Use-Pty=0)
    run() {
        if [ "$quiet" = 1 ]; then
            "$@" >>"$log" 2>&1 || {
                tail -n 40 "$log" >&2
                return 1
            }
        else
            "$@"
        fi
    }
    export DEBIAN_FRONTEND=noninteractive
    run "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "${apt_opts[@]}" -q update
    run "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "${apt_opts[@]}" -q install -y \
        --no-install-recommends "${missing[@]}"
    rm -f "$log"

    # If nginx was installed now and runs all the same (no policy-rc.d honoured, a systemd
    # machine), it is the package's own service: stop it and keep it from starting at boot.
    if printf '%s\n' "${missing[@]}" | grep -qx 'nginx\|libnginx-mod-nchan'; then
        if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
            "${sudo[@]}" systemctl disable --now nginx >/dev/null 2>&1 || true
        else
            command -v update-rc.d >/dev/null 2>&1 &&
                { "${sudo[@]}" update-rc.d nginx disable >/dev/null 2>&1 || true; }
            if [ -s /run/nginx.pid ]; then
                pid=$(cat /run/nginx.pid)
                if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = nginx ]; then
                    "${sudo[@]}" kill -QUIT "$pid" 2>/dev/null || true
                fi
            fi
        fi
    fi
    cleanup_policy
    trap - EXIT
    note "installed ${missing[*]}"
else
    say "Debian packages: all present"
fi

# ---- npm packages for the test peers and interop decoders ----
# node_modules/.herd-lock holds a copy of the package-lock.json it was installed from; when the
# lock file changes, node_modules is stale and `npm ci` runs again.
npm_ci() {
    local dir=$1
    [ -f "$dir/package.json" ] || return 0
    if [ ! -f "$dir/package-lock.json" ]; then
        echo "setup-deps: $dir/package-lock.json is missing (run npm install there and commit it)" >&2
        exit 1
    fi
    if [ -d "$dir/node_modules" ] && cmp -s "$dir/package-lock.json" "$dir/node_modules/.herd-lock"; then
        return 0
    fi
    note "npm ci in ${dir#"$top"/}"
    local out
    if ! out=$(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error 2>&1); then
        printf '%s\n' "$out" >&2
        echo "setup-deps: npm ci failed in $dir" >&2
        exit 1
    fi
    [ "$quiet" = 1 ] || [ -z "$out" ] || printf '%s\n' "$out"
    cp "$dir/package-lock.json" "$dir/node_modules/.herd-lock"
}
if [ "$build_only" = 0 ]; then
    npm_ci "$top/tests/peers"
    npm_ci "$top/tests/interop"
    npm_ci "$top/tests/kube"
    say "npm packages: up to date"
fi
