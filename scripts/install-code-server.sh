#!/usr/bin/env bash
# Installs code-server (pinned) into .build/code-server for the end-to-end tests, offline-capable afterwards.
#   scripts/install-code-server.sh [--force]
# A plain `npm install code-server` fails offline/as root (GitHub downloads, the root check, kerberos
# headers, `npx` with yes=false), so the steps of the tested recipe run one by one
# (docs/protocols/code-server.md §1). Needs Node 20 + npm, and root (or passwordless sudo) when
# the Debian build packages are missing. Runs once: a stamp records the installed version. On failure it
# writes .build/code-server/install-failed (the failed step and the log's tail), which the tests report
# when they skip, and exits non-zero.
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=4.100.3
DEST=${CODE_SERVER_DIR:-$PWD/.build/code-server}
APP=$DEST/app
STAMP=$DEST/installed.stamp
FAILED=$DEST/install-failed
LOG=$DEST/install.log
BIN=$APP/node_modules/.bin/code-server
APT_PACKAGES=(build-essential pkg-config python3 libkrb5-dev libxkbfile-dev libsecret-1-dev ripgrep)

if [ "${1:-}" != "--force" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$VERSION" ] && [ -x "$BIN" ]; then
  exit 0
fi

mkdir -p "$DEST"
rm -f "$STAMP" "$FAILED"
: >"$LOG"
started=$(date +%s)
STEP=""

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
fail() {  # fail MESSAGE: record why, for the tests' skip message, and stop
  { echo "code-server $VERSION could not be installed: $STEP: $1"
    echo "(full log: $LOG)"
    tail -n 15 "$LOG" 2>/dev/null | sed 's/^/  | /'
  } >"$FAILED"
  cat "$FAILED" >&2
  exit 1
}
run() {  # run DESCRIPTION COMMAND...: one step, its output in the log
  STEP=$1; shift
  echo "### $STEP: $*" >>"$LOG"
  "$@" >>"$LOG" 2>&1 || fail "exit status $?"
}

say "installing code-server $VERSION into ${DEST#"$PWD"/} (once; about 1.5 min)"
STEP="prerequisites"
command -v node >/dev/null && command -v npm >/dev/null || fail "Node.js 20 with npm is required"
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" = 20 ] || echo "warning: code-server $VERSION is made for Node 20, this is Node $node_major" >>"$LOG"

missing=()
for package in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  STEP="apt-get install ${missing[*]}"
  command -v apt-get >/dev/null || fail "apt-get is not available (not a Debian/Ubuntu machine); install: ${missing[*]}"
  SUDO=()
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then SUDO=(sudo -n); else
      fail "needs root or passwordless sudo to install the Debian packages: ${missing[*]}"
    fi
  fi
  export DEBIAN_FRONTEND=noninteractive
  run "apt-get update" "${SUDO[@]}" apt-get update -qq
  run "apt-get install ${missing[*]}" "${SUDO[@]}" apt-get install -y -qq "${missing[@]}"
fi

rm -rf "$APP"
mkdir -p "$APP"
cd "$APP"
export npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
run "npm init" npm init -y
run "npm install code-server@$VERSION" npm install "code-server@$VERSION" --ignore-scripts --no-audit --no-fund
run "npm rebuild argon2 (source build)" npm rebuild argon2
cd node_modules/code-server/lib/vscode
run "npm install (lib/vscode)" npm install --omit=dev --ignore-scripts --no-audit --no-fund
mkdir -p node_modules/@vscode/ripgrep/bin
run "ripgrep from Debian" cp "$(command -v rg)" node_modules/@vscode/ripgrep/bin/rg
# yes=false in a user's ~/.npmrc makes node-pty's `npx node-gyp` refuse to run
run "npm rebuild (native modules)" env npm_config_yes=true npm rebuild
ln -sfn node_modules node_modules.asar
(cd bin/remote-cli && ln -sfn code-linux.sh code-server)
(cd bin/helpers && ln -sfn browser-linux.sh browser.sh)
cd extensions
run "npm install (built-in extensions)" npm install --omit=dev --no-audit --no-fund

STEP="code-server --version"
output=$(HOME="$DEST/home" "$BIN" --config "$DEST/home/config.yaml" --version 2>>"$LOG") ||
  fail "the installed code-server does not start"
installed=$(printf '%s\n' "$output" | grep -m 1 -E '^[0-9]+[.][0-9]+' || true)
case "$installed" in "$VERSION"*) ;; *) fail "expected version $VERSION, got: $installed" ;; esac
echo "$VERSION" >"$STAMP"
say "code-server $VERSION installed in $(( $(date +%s) - started ))s"
