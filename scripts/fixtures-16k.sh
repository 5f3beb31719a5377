#!/usr/bin/env bash
# Fetches Debian's arm64 kernel with 16K pages (linux-image-6.12.*+deb12-arm64-16k) for the 16K
# page-table e2e test, and adds it to fixtures.json under "arm64_16k":
#
#   kernel/arm64-16k/boot/                  vmlinuz (an uncompressed Image, as QEMU -kernel takes it) + config
#   kernel/arm64-16k/usr/lib/debug/boot/    vmlinux with DWARF, the only member taken from -dbg
#
# The guest userland is the arm64 busybox initramfs of fixtures.sh (no modules are loaded: those
# in it are 6.1's). The -dbg package is ~1 GB compressed and ~6.5 GB unpacked: it is streamed
# through tar for the one file and deleted, so the cache keeps ~0.5 GB instead.
#
# If the packages cannot be downloaded (a version gone from the archive and no other complete
# 6.12 16K pair either), this prints why, leaves "arm64_16k" out of the manifest and exits 1, so
# that fixtures.sh fails naming it (outside CI the 16K test then skips, naming it too).
#
# Environment: KDAP_CACHE (cache root), KDAP_16K_VERSION / KDAP_16K_ABI (override the pin).
set -euo pipefail

started_ns=$(date +%s%N)
CACHE=${KDAP_CACHE:-$HOME/.cache/kdap}
CACHE=$(cd "$CACHE" && pwd)
MANIFEST=$CACHE/fixtures.json
DIR=$CACHE/kernel/arm64-16k
INITRD=$CACHE/initramfs/arm64.cpio.gz

# The newest 6.12 16K kernel when this was written; the archive drops old security releases,
# hence the fallback to the newest pair apt still offers.
PIN_VERSION=${KDAP_16K_VERSION:-6.12.117-1~deb12u1}
PIN_ABI=${KDAP_16K_ABI:-6.12.117+deb12}

# Bump when the layout or the content of the cached files changes.
LAYOUT=1

log() { printf '[fixtures-16k] %s\n' "$*"; }
die() { printf '[fixtures-16k] error: %s\n' "$*" >&2; exit 1; }
elapsed() { echo $(( ($(date +%s%N) - $1) / 1000000 )) | awk '{ printf "%.1f s", $1 / 1000 }'; }

[[ -f $MANIFEST ]] || die "no $MANIFEST: run scripts/fixtures.sh first"

# fixtures.sh holds $CACHE/.lock while it calls us: our own lock, so a direct run serializes too.
exec 7>"$CACHE/.16k.lock"
flock 7

image_pkg() { echo "linux-image-$1-arm64-16k-unsigned"; }
dbg_pkg() { echo "linux-image-$1-arm64-16k-dbg"; }
release_of() { echo "$1-arm64-16k"; }

build_id() { # abi
  readelf -nW "$DIR/usr/lib/debug/boot/vmlinux-$(release_of "$1")" | sed -n 's/.*Build ID: *\([0-9a-f]*\).*/\1/p' | head -n1
}

# Writes the manifest entry, or removes it when called with no argument.
manifest() { # [abi version pinned]
  KDAP_S_MANIFEST=$MANIFEST KDAP_S_DIR=$DIR KDAP_S_INITRD=$INITRD \
  KDAP_S_ABI=${1:-} KDAP_S_VERSION=${2:-} KDAP_S_PINNED=${3:-} KDAP_S_BUILDID=${1:+$(build_id "$1")} node - <<'EOF'
const fs = require('fs');
const path = require('path');
const e = process.env;
const file = e.KDAP_S_MANIFEST;
const manifest = JSON.parse(fs.readFileSync(file, 'utf8'));
if (!e.KDAP_S_ABI) {
  delete manifest.arm64_16k;
} else {
  const release = `${e.KDAP_S_ABI}-arm64-16k`;
  const config = path.join(e.KDAP_S_DIR, 'boot', `config-${release}`);
  const text = fs.readFileSync(config, 'utf8');
  const value = (name) => new RegExp(`^CONFIG_${name}=(.*)$`, 'm').exec(text)?.[1];
  manifest.arm64_16k = {
    version: e.KDAP_S_VERSION,
    pinned: e.KDAP_S_PINNED === 'true',
    release,
    kernel: path.join(e.KDAP_S_DIR, 'boot', `vmlinuz-${release}`),
    vmlinux: path.join(e.KDAP_S_DIR, 'usr/lib/debug/boot', `vmlinux-${release}`),
    config,
    initrd: e.KDAP_S_INITRD,
    append: 'console=ttyAMA0 nokaslr rdinit=/init',
    machine: 'virt',
    // cortex-a57 has no 16K granule. pauth-impdef: QEMU's cheap PAC hash instead of QARMA, which
    // costs TCG a lot in a kernel built with pointer authentication.
    cpu: 'max,pauth-impdef=on',
    qemu: 'qemu-system-aarch64',
    console: 'ttyAMA0',
    gdbArchitecture: 'aarch64',
    pageSize: 16384,
    vaBits: Number(value('ARM64_VA_BITS')),
    pgtableLevels: Number(value('PGTABLE_LEVELS')),
    lpa2: value('ARM64_LPA2') === 'y',
    // No linux-source-6.12 is fetched (the test reads no source lines), so nothing to map onto.
    substitutePath: [],
    dwarfCompDir: 'debian/build/build_arm64_none_arm64-16k',
    buildId: e.KDAP_S_BUILDID,
  };
}
const json = JSON.stringify(manifest, null, 2) + '\n';
if (fs.readFileSync(file, 'utf8') !== json) {
  fs.writeFileSync(file + '.tmp', json);
  fs.renameSync(file + '.tmp', file);
}
EOF
}

# shellcheck source=scripts/apt-fetch.sh
source "$(dirname "${BASH_SOURCE[0]}")/apt-fetch.sh"

offered() { # pkg version
  apt-cache madison "$1:arm64" 2>/dev/null | awk -v v="$2" '$3 == v { found = 1 } END { exit !found }'
}

# Newest 6.12 16K version whose image and -dbg apt both offer, as "abi version".
newest_pair() {
  local pkg ver abi
  while read -r pkg ver; do
    abi=${pkg#linux-image-}; abi=${abi%-arm64-16k-unsigned}
    if offered "$(dbg_pkg "$abi")" "$ver"; then echo "$abi $ver"; return 0; fi
  done < <(apt-cache search --names-only '^linux-image-6\.12\.[0-9]+\+deb12-arm64-16k-unsigned$' | awk '{print $1}' \
           | while read -r p; do apt-cache madison "$p:arm64" | awk -v p="$p" '{print p, $3}'; done | sort -k2,2Vr -u)
  return 1
}

# The stamp names what the folder holds: "<layout> <abi> <version> <pinned>".
cached_ok() { # abi version
  local rel l a v; rel=$(release_of "$1")
  [[ -f $DIR/.stamp ]] && read -r l a v _ <"$DIR/.stamp" && [[ $l == "$LAYOUT" && $a == "$1" && $v == "$2" ]] \
    && [[ -f $DIR/boot/vmlinuz-$rel && -f $DIR/usr/lib/debug/boot/vmlinux-$rel && -f $INITRD ]]
}

ABI=$PIN_ABI VERSION=$PIN_VERSION PINNED=true
if cached_ok "$ABI" "$VERSION"; then
  manifest "$ABI" "$VERSION" "$PINNED"
  log "arm64-16k: linux $VERSION cached ($(elapsed "$started_ns"))"
  exit 0
fi
# A fallback version cached when the pin had gone is still good while the pin stays gone.
if [[ -f $DIR/.stamp ]] && read -r _ old_abi old_ver _ <"$DIR/.stamp" && cached_ok "$old_abi" "$old_ver" \
    && ! offered "$(image_pkg "$ABI")" "$VERSION"; then
  manifest "$old_abi" "$old_ver" false
  log "arm64-16k: linux $old_ver cached (the pinned $VERSION is not offered by apt)"
  exit 0
fi

[[ -f $INITRD ]] || die "no $INITRD: run scripts/fixtures.sh first"

# Downloads into a scratch folder of the cache, removed whatever happens.
TMP=$CACHE/debs/.arm64-16k
cleanup() { rm -rf "$TMP" "$DIR.tmp"; }
trap cleanup EXIT
rm -rf "$TMP" && mkdir -p "$TMP"

fetch() { # abi version
  local want=("$(image_pkg "$1"):arm64=$2" "$(dbg_pkg "$1"):arm64=$2")
  log "downloading ${want[*]} (~1.1 GB)"
  (cd "$TMP" && apt_download "${want[@]}") && return 0
  apt_update_once
  (cd "$TMP" && apt_download "${want[@]}")
}

t0=$(date +%s%N)
if ! fetch "$ABI" "$VERSION" 2>"$TMP/apt.err"; then
  log "pinned arm64-16k kernel $VERSION is not downloadable ($(tr '\n' ' ' <"$TMP/apt.err" | cut -c1-200)); looking for the newest 6.12 16K pair"
  apt_update_once
  if pair=$(newest_pair) && [[ $pair != "$PIN_ABI $PIN_VERSION" ]] && read -r ABI VERSION <<<"$pair" \
      && PINNED=false && fetch "$ABI" "$VERSION" 2>"$TMP/apt.err"; then
    :
  else
    manifest
    die "missing fixture arm64_16k: no linux-image-6.12.*+deb12-arm64-16k-unsigned + -dbg pair could be downloaded"
  fi
fi
log "downloaded in $(elapsed "$t0")"
REL=$(release_of "$ABI")
deb() { echo "$TMP/${1}_${VERSION//:/%3a}_arm64.deb"; }

t0=$(date +%s%N)
rm -rf "$DIR.tmp" && mkdir -p "$DIR.tmp"
dpkg-deb --fsys-tarfile "$(deb "$(image_pkg "$ABI")")" | tar -x -C "$DIR.tmp" "./boot/vmlinuz-$REL" "./boot/config-$REL"
# Debian's arm64 vmlinuz has so far been an uncompressed Image. Should it become the gzip'ed
# Image.gz, unpack it: kdap tells an image's arch from the Image header ("ARM\x64" at 0x38).
img=$DIR.tmp/boot/vmlinuz-$REL
if [[ $(od -An -tx1 -N2 "$img" | tr -d ' ') == 1f8b ]]; then
  gzip -dc <"$img" >"$img.raw" && mv "$img.raw" "$img"
fi
[[ $(od -An -tx1 -j56 -N4 "$img" | tr -d ' ') == 41524d64 ]] || die "vmlinuz-$REL is not an arm64 Image"
# dpkg-deb has to decompress the whole ~6.5 GB stream for the one member: nice, the CPU is shared.
nice -n 19 dpkg-deb --fsys-tarfile "$(deb "$(dbg_pkg "$ABI")")" \
  | nice -n 19 tar -x -C "$DIR.tmp" --wildcards './usr/lib/debug/boot/vmlinux-*'
[[ -f $DIR.tmp/usr/lib/debug/boot/vmlinux-$REL ]] || die "no vmlinux-$REL in $(dbg_pkg "$ABI")"
echo "$LAYOUT $ABI $VERSION $PINNED" >"$DIR.tmp/.stamp"
rm -rf "$DIR" && mv "$DIR.tmp" "$DIR"
log "arm64-16k: extracted in $(elapsed "$t0"), vmlinux $(( $(stat -c %s "$DIR/usr/lib/debug/boot/vmlinux-$REL") / 1048576 )) MiB"

manifest "$ABI" "$VERSION" "$PINNED"
log "manifest: arm64_16k entry in $MANIFEST"
log "done: linux $VERSION (arm64-16k) in $(elapsed "$started_ns")"
