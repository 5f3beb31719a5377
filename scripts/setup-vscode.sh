#!/usr/bin/env bash
# Installs what the vscode test tier needs: a real VS Code server (the one bundled in the
# code-server npm package), Debian's chromium for the headless workbench, and the libraries
# code-server's native modules build against. Idempotent: a second run only checks and exits.
#
#   bash scripts/setup-vscode.sh          install if missing, print where things are
#   KDAP_CACHE=/some/dir bash ...          install under /some/dir/code-server instead
#
# Why code-server: it is the only real VS Code obtainable from npm + apt alone. Its server
# (lib/vscode/out/server-main.js) runs the real Node extension host, which is what kdap needs
# (a debug adapter process, a language server over IPC). The desktop build @vscode/test-electron
# wants is downloaded from the internet, which this project's machines and CI cannot reach.
#
# Version: code-server 4.100.3 = VS Code 1.100.3, the last line that runs on Node 20 (the
# system Node). package.json pins engines.vscode and @types/vscode to ^1.100 to match.
set -euo pipefail

CS_VERSION=4.100.3
# @vscode/ripgrep as pinned by VS Code 1.100.3 (lib/vscode/npm-shrinkwrap.json) and the rg
# release its postinstall fetches (VERSION in its lib/postinstall.js). Its download cache is
# pre-seeded with Debian's rg, because the postinstall would otherwise download one.
RG_PKG_VERSION=1.15.11
RG_RELEASE=v13.0.0-10

CACHE="${KDAP_CACHE:-$HOME/.cache/kdap}"
DEST="$CACHE/code-server"
VSCODE_DIR="$DEST/node_modules/code-server/lib/vscode"
SERVER_MAIN="$VSCODE_DIR/out/server-main.js"
STAMP="$DEST/.kdap-ready"

APT_PACKAGES=(chromium libkrb5-dev libx11-dev libxkbfile-dev libsecret-1-dev pkg-config ripgrep
  build-essential python3 ca-certificates)

# Every package of code-server's tree whose install scripts must run (npm 11 lists packages
# with unreviewed install scripts and may block them). Windows-only ones build empty stubs.
ALLOW_SCRIPTS=(code-server argon2 kerberos node-pty native-watchdog @parcel/watcher
  @vscode/ripgrep @vscode/spdlog @vscode/deviceid @vscode/windows-process-tree
  @vscode/windows-registry @vscode/windows-ca-certs esbuild)

log() { printf '[setup-vscode] %s\n' "$*"; }
die() { printf '[setup-vscode] error: %s\n' "$*" >&2; exit 1; }

missing_apt_packages() {
  local pkg status
  for pkg in "${APT_PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    [[ "$status" == "install ok installed" ]] || printf '%s\n' "$pkg"
  done
}

ensure_apt_packages() {
  local missing
  mapfile -t missing < <(missing_apt_packages)
  ((${#missing[@]} == 0)) && return 0
  log "installing apt packages: ${missing[*]}"
  [[ $(id -u) == 0 ]] || die "need root to apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q </dev/null
  apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null
}

# The native modules are built for the Node that installs them; the server must run on it too.
check_node() {
  local major
  major=$(node -p 'process.versions.node.split(".")[0]')
  [[ "$major" == 20 ]] || die "code-server $CS_VERSION needs Node 20, found $(node --version)"
}

# What a finished install has: the server entry point, the symlink postinstall.sh makes last,
# rg, and the native modules the server loads at start.
install_complete() {
  [[ -f "$SERVER_MAIN" && -L "$VSCODE_DIR/node_modules.asar" && -x "$VSCODE_DIR/node_modules/@vscode/ripgrep/bin/rg" ]] || return 1
  local m
  for m in node-pty/build/Release/pty.node @vscode/spdlog/build/Release/spdlog.node \
    native-watchdog/build/Release/watchdog.node kerberos/build/Release/kerberos.node; do
    [[ -f "$VSCODE_DIR/node_modules/$m" ]] || return 1
  done
}

# Starts the server once on a free port and waits for it to answer HTTP: proof the native
# modules load and the install is usable, not just present.
smoke_test() {
  local tmp="$1" port pid code="" i
  port=$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
  setsid node "$SERVER_MAIN" --host 127.0.0.1 --port "$port" --without-connection-token \
    --accept-server-license-terms --telemetry-level off \
    --server-data-dir "$tmp/sd" --user-data-dir "$tmp/ud" --extensions-dir "$tmp/ext" \
    >"$tmp/server.log" 2>&1 </dev/null &
  pid=$!
  for i in $(seq 1 60); do
    code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/" || true)
    [[ "$code" == 200 ]] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  kill -- "-$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  if [[ "$code" != 200 ]]; then
    tail -n 40 "$tmp/server.log" >&2 || true
    return 1
  fi
  log "server answered HTTP 200 on 127.0.0.1:$port"
}

# Sets the allowScripts field of package.json $1 (created as $2 if absent) to ALLOW_SCRIPTS.
write_allow_list() {
  node -e '
    const fs = require("fs");
    const [file, initial, ...names] = process.argv.slice(1);
    const pkg = fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, "utf8")) : JSON.parse(initial);
    pkg.allowScripts = Object.fromEntries(names.map((n) => [n, true]));
    fs.writeFileSync(file, JSON.stringify(pkg, null, 2) + "\n");
  ' "$1" "${2:-{\}}" "${ALLOW_SCRIPTS[@]}"
}

install_code_server() {
  local tmp rc
  tmp=$(mktemp -d)
  TMP_TO_REMOVE="$tmp"

  local seed="$tmp/tmp/vscode-ripgrep-cache-$RG_PKG_VERSION"
  mkdir -p "$seed/x" "$tmp/xdg-config" "$tmp/xdg-data" "$tmp/xdg-cache"
  cp /usr/bin/rg "$seed/x/rg"
  tar -czf "$seed/ripgrep-$RG_RELEASE-x86_64-unknown-linux-musl.tar.gz" -C "$seed/x" rg
  rm -rf "$seed/x"

  rm -rf "$DEST"
  mkdir -p "$DEST"
  write_allow_list "$DEST/package.json" '{ "name": "kdap-vscode-server", "private": true }'

  # unsafe_perm: postinstall.sh refuses to run as root without it (npm 11 has no such flag,
  # the script reads the variable). yes: node-pty's build runs `npx node-gyp` and the machine
  # npmrc says yes=false. XDG_*: code-server writes ~/.config/code-server on any start.
  local npm_env=(env CI=true TMPDIR="$tmp/tmp" npm_config_unsafe_perm=true npm_config_yes=true
    XDG_CONFIG_HOME="$tmp/xdg-config" XDG_DATA_HOME="$tmp/xdg-data" XDG_CACHE_HOME="$tmp/xdg-cache")

  # Two steps, because npm takes an install-script allow list only from a package.json or an
  # npmrc (it rejects --allow-scripts, and npm exports npmrc settings to scripts as env, which
  # the nested installs then reject), and postinstall.sh runs two more `npm install`s, in
  # lib/vscode and lib/vscode/extensions, whose package.json must get the list first. So:
  # fetch everything with scripts off, add the lists, then run the scripts with `npm rebuild`.
  log "npm install code-server@$CS_VERSION into $DEST (about a minute)"
  set +e
  (
    cd "$DEST" &&
      "${npm_env[@]}" npm install --no-audit --no-fund --ignore-scripts --save-exact "code-server@$CS_VERSION" </dev/null &&
      write_allow_list "$VSCODE_DIR/package.json" &&
      write_allow_list "$VSCODE_DIR/extensions/package.json" &&
      "${npm_env[@]}" npm rebuild --foreground-scripts </dev/null
  ) >"$tmp/install.log" 2>&1
  rc=$?
  set -e
  cp "$tmp/install.log" "$CACHE/code-server-install.log"
  if ((rc != 0)) || ! install_complete; then
    tail -n 60 "$tmp/install.log" >&2
    die "code-server install failed (exit $rc); full log: $CACHE/code-server-install.log"
  fi
  if grep -q 'not yet covered by allowScripts' "$tmp/install.log"; then
    log "warning: npm reports install scripts outside the allow list:"
    grep 'install-scripts   ' "$tmp/install.log" >&2 || true
  fi

  smoke_test "$tmp" || die "the installed VS Code server did not start"
  printf '%s\n' "$CS_VERSION" >"$STAMP"
}

TMP_TO_REMOVE=""
cleanup() { [[ -z "$TMP_TO_REMOVE" ]] || rm -rf "$TMP_TO_REMOVE"; }
trap cleanup EXIT

main() {
  local started=$SECONDS
  mkdir -p "$CACHE"
  ensure_apt_packages
  check_node
  # One setup at a time: two test runs starting together must not both install.
  exec 9>"$CACHE/code-server.lock"
  flock -w 900 9 || die "timed out waiting for another setup-vscode.sh"
  if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$CS_VERSION" ]] && install_complete; then
    log "VS Code server ready (code-server $CS_VERSION, cached) in $((SECONDS - started)) s"
  else
    install_code_server
    log "VS Code server installed (code-server $CS_VERSION) in $((SECONDS - started)) s"
  fi
  log "server-main: $SERVER_MAIN"
  log "chromium: $(command -v chromium)"
}

main "$@"
