#!/usr/bin/env bash
# Prepares a Debian 12 machine to build and test kdap: system packages (QEMU for x86_64 and
# arm64, gdb-multiarch, LLVM/binutils, the arm64 cross compiler for the test module, tools
# for the initramfs, Chromium and headers for the VS Code tier) and the npm dependencies.
#
#   sudo bash scripts/setup.sh        (root, or a user with sudo)
#
# Idempotent and quick when everything is there: apt runs only for missing packages, npm only
# when node_modules is missing or older than package-lock.json. No prompts (CI=true is fine).
# KDAP_SETUP_DRY_RUN=1 prints what would be done instead of doing it.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DRY=${KDAP_SETUP_DRY_RUN:-}
started_ns=$(date +%s%N)

log() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] error: %s\n' "$*" >&2; exit 1; }
run() { if [[ -n $DRY ]]; then log "would run: $*"; else "$@"; fi; }

PACKAGES=(
  # targets: QEMU for both guests (ipxe-qemu holds the option ROMs of the default NICs)
  qemu-system-x86 qemu-system-arm qemu-utils ipxe-qemu
  # debugger and symbol tools
  gdb-multiarch binutils-multiarch llvm
  # initramfs and fixture extraction
  busybox-static cpio gzip xz-utils
  # building the test module against the Debian headers (x86_64 native, arm64 cross)
  gcc libc6-dev make bc flex bison libelf-dev libssl-dev gcc-aarch64-linux-gnu binutils-aarch64-linux-gnu
  # the VS Code tier: headless browser and the native modules of the VS Code server
  chromium libkrb5-dev libx11-dev libxkbfile-dev libsecret-1-dev pkg-config
  # scripts and tests
  ripgrep socat python3 procps ca-certificates unzip
  # crash-dump fixtures (scripts/fixtures-dumps.sh): makedumpfile converts and filters dumps,
  # crash is the second oracle for their logs
  makedumpfile crash
)

if [[ $(id -u) == 0 ]]; then
  SUDO=()
elif command -v sudo >/dev/null; then
  SUDO=(sudo -n)
else
  SUDO=()
fi
as_root() {
  if [[ $(id -u) != 0 && ${#SUDO[@]} == 0 ]]; then die "need root for: $* (run this script as root)"; fi
  run "${SUDO[@]}" "$@"
}

[[ -r /etc/debian_version ]] || die "this script expects Debian 12 (bookworm)"

# arm64 as a foreign architecture: apt-get download of the arm64 kernel, headers and busybox.
need_update=
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  log "adding dpkg architecture arm64"
  as_root dpkg --add-architecture arm64
  need_update=1
fi

installed=$(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' "${PACKAGES[@]}" 2>/dev/null | awk '$2 == "ii" { print $1 }' || true)
missing=()
for p in "${PACKAGES[@]}"; do
  grep -qx "$p" <<<"$installed" || missing+=("$p")
done

if [[ ${#missing[@]} -gt 0 || -n $need_update ]]; then
  export DEBIAN_FRONTEND=noninteractive
  log "apt-get update"
  as_root apt-get update -q
fi
if [[ ${#missing[@]} -gt 0 ]]; then
  log "installing ${#missing[@]} package(s): ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  log "system packages: all ${#PACKAGES[@]} installed"
fi

# Node.js 20 or newer (Debian 12 ships 18, which is too old; install 20+ from elsewhere).
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  die "node and npm (Node.js >= 20) are needed and not on PATH"
fi
node_major=$(node -p 'process.versions.node.split(".")[0]')
(( node_major >= 20 )) || die "Node.js >= 20 is needed, found $(node --version)"

cd "$ROOT"
# npm writes node_modules/.package-lock.json on every install: use it as the install stamp.
stamp=node_modules/.package-lock.json
if [[ -f package-lock.json ]]; then
  if [[ ! -d node_modules || ! -f $stamp || package-lock.json -nt $stamp ]]; then
    log "npm ci"
    run npm ci --no-audit --no-fund
  else
    log "node_modules: up to date with package-lock.json"
  fi
elif [[ ! -d node_modules || package.json -nt node_modules ]]; then
  log "npm install"
  run npm install --no-audit --no-fund
else
  log "node_modules: present"
fi

log "done in $(( ($(date +%s%N) - started_ns) / 1000000 )) ms"
