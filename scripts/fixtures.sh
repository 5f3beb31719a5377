#!/usr/bin/env bash
# Fetches and builds the kernel fixtures the e2e tests boot, into ${KDAP_CACHE:-$HOME/.cache/kdap}:
#
#   debs/                         the Debian packages, as apt-get download left them
#   kernel/<arch>/boot/           vmlinuz + config            (from linux-image-*-unsigned)
#   kernel/<arch>/lib/modules/    runtime .ko of a few modules (same package)
#   kernel/<arch>/usr/lib/debug/  vmlinux + System.map + debug .ko of those modules (from -dbg)
#   src/linux-<upstream>/         the exact-version kernel source (linux-source-6.1)
#   headers/<arch>/usr/src/...    headers + common + kbuild, relocated into the cache
#   kmod/src-<key>/               test/fixtures/kmod's sources, named for their content
#   kmod/<arch>/kdap_test.ko      built from that copy against those headers (scripts/kmod-build.sh)
#   initramfs/<arch>.cpio.gz      static busybox + /init + the modules
#   fixtures.json                 manifest read by test/support/fixtures.ts
#   kernel/arm64-16k/, kgdb/      see scripts/fixtures-16k.sh and scripts/fixtures-kgdb.sh
#
# Every step leaves a stamp naming its inputs, so a second run with a warm cache only checks
# stamps. Runs serialize on a lock file in the cache.
#
#   bash scripts/fixtures.sh                 everything the tests need (npm test)
#   bash scripts/fixtures.sh --only x86_64   one arch's Debian kernel fixtures, nothing else: no
#                                            kgdb kernels, no 16K kernel (npm run demo [-- arm64])
#
# Exits non-zero, naming the fixture, when any fixture it was asked for cannot be prepared (the
# kgdb kernels and the 16K kernel included): a missing fixture is never left for a test to skip.
#
# Environment: KDAP_CACHE (cache root), KDAP_KERNEL_VERSION / KDAP_KERNEL_ABI (override the pin).
set -euo pipefail

ONLY=
while (($#)); do
  case $1 in
    --only) ONLY=${2:?--only needs x86_64 or arm64}; shift 2 ;;
    --only=*) ONLY=${1#--only=}; shift ;;
    *) printf '[fixtures] error: unknown argument %s (usage: fixtures.sh [--only x86_64|arm64])\n' "$1" >&2; exit 2 ;;
  esac
done

started_ns=$(date +%s%N)
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${KDAP_CACHE:-$HOME/.cache/kdap}
mkdir -p "$CACHE"
CACHE=$(cd "$CACHE" && pwd)
DEBS=$CACHE/debs
KMOD_REPO=$ROOT/test/fixtures/kmod

# Debian bookworm point-release kernel. Its linux-source is in the main archive, so source lines,
# vmlinux and modules all come from one build.
PIN_VERSION=${KDAP_KERNEL_VERSION:-6.1.176-1}
PIN_ABI=${KDAP_KERNEL_ABI:-6.1.0-50}

# Modules copied into each initramfs: none has dependencies, all load on both arches, and each
# has a path busybox can reach (brd: /dev/ram0, binfmt_misc: a mount, dummy: ip link, loop: losetup).
MODULES=(brd:drivers/block/brd.ko binfmt_misc:fs/binfmt_misc.ko dummy:drivers/net/dummy.ko loop:drivers/block/loop.ko)
ARCHES=(x86_64 arm64)
if [[ -n $ONLY ]]; then
  [[ $ONLY == x86_64 || $ONLY == arm64 ]] || { printf '[fixtures] error: --only %s: not x86_64 or arm64\n' "$ONLY" >&2; exit 2; }
  ARCHES=("$ONLY")
fi

# Bump when the layout or the content of a step changes, so old caches get rebuilt.
LAYOUT=1

log() { printf '[fixtures] %s\n' "$*"; }
die() { printf '[fixtures] error: %s\n' "$*" >&2; exit 1; }
elapsed() { echo $(( ($(date +%s%N) - $1) / 1000000 )) | awk '{ printf "%.1f s", $1 / 1000 }'; }

for tool in dpkg-deb tar xz cpio gzip make readelf flock sha256sum node; do
  command -v "$tool" >/dev/null || die "$tool not found; run: sudo bash scripts/setup.sh"
done

exec 9>"$CACHE/.lock"
flock 9

debarch_of() { case $1 in x86_64) echo amd64 ;; arm64) echo arm64 ;; esac; }
flavour_of() { echo "cloud-$(debarch_of "$1")"; }

# "pkg version debarch" for every package a kernel version needs, for the arches given (default:
# both). linux-kbuild is the build machine's (amd64) for either target.
package_set() { # abi version [arch...]
  local abi=$1 ver=$2 arch d
  shift 2
  (($#)) || set -- x86_64 arm64
  for arch in "$@"; do
    d=$(debarch_of "$arch")
    echo "linux-image-$abi-cloud-$d-unsigned $ver $d"
    echo "linux-image-$abi-cloud-$d-dbg $ver $d"
    echo "linux-headers-$abi-cloud-$d $ver $d"
  done
  echo "linux-headers-$abi-common $ver all"
  echo "linux-kbuild-6.1 $ver amd64"
  echo "linux-source-6.1 $ver all"
}

# apt-get download's file name: an epoch colon becomes %3a.
deb_file() { echo "$DEBS/${1}_${2//:/%3a}_${3}.deb"; }

# shellcheck source=scripts/apt-fetch.sh
source "$(dirname "${BASH_SOURCE[0]}")/apt-fetch.sh"

# Downloads the packages of a set that are not in debs/ yet. Returns non-zero if any is missing.
fetch_set() { # abi version
  local want=() pkg ver arch
  while read -r pkg ver arch; do
    [[ -s $(deb_file "$pkg" "$ver" "$arch") ]] && continue
    if [[ $arch == all ]]; then want+=("$pkg=$ver"); else want+=("$pkg:$arch=$ver"); fi
  done < <(package_set "$1" "$2" "${ARCHES[@]}")
  [[ ${#want[@]} == 0 ]] && return 0
  log "downloading ${#want[@]} package(s): ${want[*]}"
  local t0; t0=$(date +%s%N)
  if ! (cd "$DEBS" && apt_download "${want[@]}"); then
    apt_update_once
    (cd "$DEBS" && apt_download "${want[@]}") || return 1
  fi
  log "downloaded in $(elapsed "$t0")"
}

# Newest version whose whole set apt offers for both arches, as "abi version".
newest_complete_set() {
  local images line pkg ver abi p v a
  images=$(apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-cloud-amd64-unsigned$' | awk '{print $1}')
  [[ -n $images ]] || return 1
  # shellcheck disable=SC2086
  while read -r pkg ver; do
    abi=${pkg#linux-image-}; abi=${abi%-cloud-amd64-unsigned}
    local ok=1
    while read -r p v a; do
      local q=$p; [[ $a == arm64 ]] && q=$p:arm64
      apt-cache madison "$q" 2>/dev/null | awk -v v="$v" '$3 == v { found = 1 } END { exit !found }' || { ok=; break; }
    done < <(package_set "$abi" "$ver")
    if [[ -n $ok ]]; then echo "$abi $ver"; return 0; fi
  done < <(apt-cache madison $images | awk '{print $1, $3}' | sort -k2,2Vr -u)
  return 1
}

mkdir -p "$DEBS"
ABI=$PIN_ABI VERSION=$PIN_VERSION PINNED=true
if ! fetch_set "$ABI" "$VERSION"; then
  log "pinned kernel $VERSION (ABI $ABI) is not downloadable; looking for the newest complete set"
  apt_update_once
  set_line=$(newest_complete_set) || die "no complete linux 6.1 cloud kernel set (image, dbg, headers, kbuild, source) for amd64 and arm64 in apt"
  read -r ABI VERSION <<<"$set_line"
  PINNED=false
  fetch_set "$ABI" "$VERSION" || die "download of linux $VERSION failed"
fi
UPSTREAM=${VERSION%-*}
log "kernel: Debian linux $VERSION (ABI $ABI)$([[ $PINNED == true ]] || echo ', fallback: pinned set unavailable')"

# busybox-static for arm64 (the guest's userland); amd64 uses the host's /bin/busybox when it is
# static, else its own download.
busybox_deb() { # debarch
  local f
  f=$(ls "$DEBS"/busybox-static_*_"$1".deb 2>/dev/null | sort -V | tail -n1 || true)
  if [[ -z $f ]]; then
    log "downloading busybox-static:$1" >&2
    (cd "$DEBS" && apt_download "busybox-static:$1") \
      || { apt_update_once >&2; (cd "$DEBS" && apt_download "busybox-static:$1"); }
    f=$(ls "$DEBS"/busybox-static_*_"$1".deb | sort -V | tail -n1)
  fi
  echo "$f"
}
is_static_elf() { [[ -f $1 ]] && ! readelf -lW "$1" 2>/dev/null | grep -q 'INTERP'; }

# Stamps: a file holding the description of a step's inputs; equal text = step is up to date.
stamp_ok() { [[ -f $1 && "$(cat "$1")" == "$2" ]]; }
file_key() { stat -c '%n:%s:%Y' "$@"; }

release_of() { echo "$ABI-$(flavour_of "$1")"; }

module_members() { # prefix release -> tar member names of the chosen modules
  local m
  for m in "${MODULES[@]}"; do echo "./${1:+$1/}lib/modules/$2/kernel/${m#*:}"; done
}

# Kernel image, config and the chosen runtime modules (the whole package is 1100 modules).
extract_image() { # arch
  local arch=$1 rel deb dir key
  rel=$(release_of "$arch")
  deb=$(deb_file "linux-image-$rel-unsigned" "$VERSION" "$(debarch_of "$arch")")
  dir=$CACHE/kernel/$arch
  key="$LAYOUT image $(file_key "$deb") ${MODULES[*]}"
  stamp_ok "$dir/.image.stamp" "$key" && return 0
  local t0; t0=$(date +%s%N)
  mkdir -p "$dir"
  rm -f "$dir/.image.stamp"
  # shellcheck disable=SC2046
  dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$dir" \
    "./boot/vmlinuz-$rel" "./boot/config-$rel" \
    "./lib/modules/$rel/modules.order" "./lib/modules/$rel/modules.builtin" \
    $(module_members "" "$rel")
  echo "$key" >"$dir/.image.stamp"
  log "$arch: kernel image extracted ($(elapsed "$t0"))"
}

# vmlinux with DWARF, the real System.map and debug .ko of the chosen modules. tar still has to
# decompress the whole 1.4-1.7 GB stream, but writes only ~0.3-0.6 GB.
extract_dbg() { # arch
  local arch=$1 rel deb dir key
  rel=$(release_of "$arch")
  deb=$(deb_file "linux-image-$rel-dbg" "$VERSION" "$(debarch_of "$arch")")
  dir=$CACHE/kernel/$arch
  key="$LAYOUT dbg $(file_key "$deb") ${MODULES[*]}"
  stamp_ok "$dir/.dbg.stamp" "$key" && return 0
  local t0; t0=$(date +%s%N)
  mkdir -p "$dir"
  rm -f "$dir/.dbg.stamp"
  # shellcheck disable=SC2046
  dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$dir" \
    "./usr/lib/debug/boot/vmlinux-$rel" "./usr/lib/debug/boot/System.map-$rel" \
    $(module_members usr/lib/debug "$rel")
  echo "$key" >"$dir/.dbg.stamp"
  log "$arch: vmlinux + debug modules extracted ($(elapsed "$t0"))"
}

# The linux-source tarball sits inside the .deb; stream it straight into src/linux-<upstream>.
extract_source() {
  local deb dir key
  deb=$(deb_file linux-source-6.1 "$VERSION" all)
  dir=$CACHE/src/linux-$UPSTREAM
  key="$LAYOUT source $(file_key "$deb")"
  stamp_ok "$dir/.kdap-stamp" "$key" && return 0
  local t0; t0=$(date +%s%N)
  local tmp=$CACHE/src/.tmp-linux-$UPSTREAM
  rm -rf "$tmp" && mkdir -p "$tmp"
  dpkg-deb --fsys-tarfile "$deb" | tar -xO ./usr/src/linux-source-6.1.tar.xz \
    | xz -dc | tar -x -C "$tmp" --strip-components=1
  echo "$key" >"$tmp/.kdap-stamp"
  rm -rf "$dir" && mv "$tmp" "$dir"
  log "source: linux-$UPSTREAM extracted ($(elapsed "$t0"))"
}

# Headers to build out-of-tree modules, relocated into the cache. What it takes:
#  * linux-headers-<rel> (arch part: .config, Module.symvers, generated headers, arch/<arch>/module.lds)
#    + linux-headers-<abi>-common (the source-side headers and the top Makefile)
#    + linux-kbuild-6.1 (scripts/ and tools/: fixdep, modpost, genksyms, objtool - host programs),
#    all extracted under one root so that the packages' relative symlinks
#    (usr/src/linux-headers-*/scripts -> ../../lib/linux-kbuild-6.1/scripts) resolve in the cache.
#  * The arch Makefile is a single `include /usr/src/linux-headers-<abi>-common/Makefile`:
#    rewrite that absolute path to the cache. Nothing else refers to /usr/src or /usr/lib.
#  * lib/modules/<rel>/{build,source} are absolute symlinks into /usr/src: dropped.
#  * For arm64 the host programs must run on the build machine, so the amd64 linux-kbuild-6.1 is
#    used for both; the compiler is $(CROSS_COMPILE)gcc-12 (.kernelvariables), so
#    `make ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu-` needs gcc-aarch64-linux-gnu (gcc 12).
#    Modules are not signed (the key is Debian's); loading one taints the kernel (E), which is fine.
extract_headers() { # arch
  local arch=$1 rel dir key debs=()
  rel=$(release_of "$arch")
  dir=$CACHE/headers/$arch
  debs=("$(deb_file "linux-headers-$rel" "$VERSION" "$(debarch_of "$arch")")"
        "$(deb_file "linux-headers-$ABI-common" "$VERSION" all)"
        "$(deb_file linux-kbuild-6.1 "$VERSION" amd64)")
  key="$LAYOUT headers $(file_key "${debs[@]}")"
  stamp_ok "$dir/.stamp" "$key" && return 0
  local t0; t0=$(date +%s%N)
  local tmp=$CACHE/headers/.tmp-$arch d
  rm -rf "$tmp" && mkdir -p "$tmp"
  for d in "${debs[@]}"; do dpkg-deb --fsys-tarfile "$d" | tar -x -C "$tmp"; done
  rm -rf "$tmp/lib" "$tmp/usr/share"
  local mk=$tmp/usr/src/linux-headers-$rel/Makefile
  grep -q "^include /usr/src/linux-headers-$ABI-common/Makefile" "$mk" || die "unexpected $mk: $(cat "$mk")"
  sed -i "s|^include /usr/src/|include $dir/usr/src/|" "$mk"
  echo "$key" >"$tmp/.stamp"
  rm -rf "$dir" && mv "$tmp" "$dir"
  log "$arch: headers ready ($(elapsed "$t0"))"
}

cross_compile_of() { case $1 in x86_64) echo "" ;; arm64) echo aarch64-linux-gnu- ;; esac; }

# kdap_test.ko from the cache's copy of its sources (KMOD_SRC), so that it does not depend on
# the checkout's path: see scripts/kmod-build.sh.
build_kmod() { # arch
  local arch=$1 rel dir hdr key
  rel=$(release_of "$arch")
  hdr=$CACHE/headers/$arch/usr/src/linux-headers-$rel
  dir=$CACHE/kmod/$arch
  key="$LAYOUT kmod ${KMOD_SRC##*/} $(cat "$CACHE/headers/$arch/.stamp")"
  stamp_ok "$dir/.stamp" "$key" && [[ -f $dir/kdap_test.ko ]] && return 0
  local t0; t0=$(date +%s%N)
  local karch=x86; [[ $arch == arm64 ]] && karch=arm64
  kmod_build "$KMOD_SRC" "$dir" -s -C "$hdr" ARCH="$karch" CROSS_COMPILE="$(cross_compile_of "$arch")" \
    || die "$arch: building kdap_test.ko failed"
  echo "$key" >"$dir/.stamp"
  log "$arch: kdap_test.ko built from ${KMOD_SRC#"$CACHE"/} ($(elapsed "$t0"))"
}

# The guest's /init. The ready marker line is what tests and the adapter wait for.
write_init() {
  cat <<'EOF'
#!/bin/busybox sh
# /init of the kdap test initramfs: mount the usual filesystems, then a root shell on the console.
export PATH=/sbin:/bin:/usr/sbin:/usr/bin HOME=/root
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts && mount -t devpts devpts /dev/pts
mount -t debugfs debugfs /sys/kernel/debug
mount -t tmpfs tmpfs /tmp
# Module section addresses (/sys/module/*/sections) and %pK stay readable.
echo 0 > /proc/sys/kernel/kptr_restrict
echo "KDAP-READY release=$(uname -r) cpus=$(grep -c ^processor /proc/cpuinfo) uptime=$(cut -d' ' -f1 /proc/uptime)"
export PS1='guest# '
exec setsid cttyhack sh
EOF
}

build_initramfs() { # arch
  local arch=$1 rel out busybox key m
  rel=$(release_of "$arch")
  out=$CACHE/initramfs/$arch.cpio.gz
  if [[ $arch == x86_64 ]] && is_static_elf /bin/busybox; then
    busybox=/bin/busybox
  else
    local bbdeb; bbdeb=$(busybox_deb "$(debarch_of "$arch")")
    local bbdir=$CACHE/busybox/$arch
    if ! stamp_ok "$bbdir/.stamp" "$(file_key "$bbdeb")"; then
      rm -rf "$bbdir" && mkdir -p "$bbdir"
      dpkg-deb --fsys-tarfile "$bbdeb" | tar -x -C "$bbdir" ./bin/busybox
      file_key "$bbdeb" >"$bbdir/.stamp"
    fi
    busybox=$bbdir/bin/busybox
  fi
  local kdir=$CACHE/kernel/$arch/lib/modules/$rel/kernel inputs=("$busybox" "$CACHE/kmod/$arch/kdap_test.ko")
  for m in "${MODULES[@]}"; do inputs+=("$kdir/${m#*:}"); done
  key="$LAYOUT initramfs $(sha256sum "${inputs[@]}" | awk '{print $1}' | tr '\n' ' ') $(write_init | sha256sum | cut -c1-16)"
  stamp_ok "$out.stamp" "$key" && [[ -f $out ]] && return 0
  local t0; t0=$(date +%s%N)
  local tmp=$CACHE/initramfs/.tmp-$arch
  rm -rf "$tmp" && mkdir -p "$tmp/root"
  local r=$tmp/root
  mkdir -p "$r"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,root,mnt} "$r/lib/modules/$rel"
  cp "$busybox" "$r/bin/busybox"
  # Applet links from the host's busybox list (same Debian busybox version on both arches).
  local applet list
  if [[ -x /bin/busybox ]]; then list=$(/bin/busybox --list-full); else list=$("$busybox" --list-full); fi
  for applet in $list; do
    [[ $applet == bin/busybox ]] && continue
    ln -sf /bin/busybox "$r/$applet"
  done
  write_init >"$r/init" && chmod 755 "$r/init"
  for m in "${MODULES[@]}"; do cp "$kdir/${m#*:}" "$r/lib/modules/$rel/${m%%:*}.ko"; done
  cp "$CACHE/kmod/$arch/kdap_test.ko" "$r/lib/modules/$rel/"
  # modules.dep so that `modprobe brd` works too (insmod with a path needs nothing).
  /bin/busybox depmod -b "$r" "$rel" 2>/dev/null || true
  mkdir -p "$CACHE/initramfs"
  (cd "$r" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --owner=0:0 --quiet | gzip -6 >"$tmp/out.cpio.gz")
  mv "$tmp/out.cpio.gz" "$out"
  echo "$key" >"$out.stamp"
  rm -rf "$tmp"
  log "$arch: initramfs built, $(stat -c %s "$out") bytes ($(elapsed "$t0"))"
}

build_id_of() { readelf -nW "$1" | sed -n 's/.*Build ID: *\([0-9a-f]*\).*/\1/p' | head -n1; }

# --- run the steps --------------------------------------------------------------------------
# The three big decompressions (two dbg packages, the source) run in the background while the
# small steps go on in the foreground; 2 cores are enough to overlap them well.
bg_pids=()
kill_tree() { local c; for c in $(pgrep -P "$1" 2>/dev/null); do kill_tree "$c"; done; kill "$1" 2>/dev/null || true; }
cleanup_bg() { local p; for p in "${bg_pids[@]}"; do kill_tree "$p"; done; }
trap cleanup_bg EXIT

# shellcheck source=scripts/kmod-build.sh
source "$ROOT/scripts/kmod-build.sh"
KMOD_SRC=$(kmod_source_copy "$CACHE" "$KMOD_REPO")

extract_source & bg_pids+=($!)
for arch in "${ARCHES[@]}"; do extract_dbg "$arch" & bg_pids+=($!); done

for arch in "${ARCHES[@]}"; do
  extract_image "$arch"
  extract_headers "$arch"
  build_kmod "$arch"
  build_initramfs "$arch"
done

failed=
for p in "${bg_pids[@]}"; do wait "$p" || failed=1; done
bg_pids=()
[[ -z $failed ]] || die "extraction failed (see above)"

# --- manifest -------------------------------------------------------------------------------
manifest_env=(
  KDAP_M_VERSION="$VERSION" KDAP_M_ABI="$ABI" KDAP_M_PINNED="$PINNED" KDAP_M_CACHE="$CACHE"
  KDAP_M_SOURCE="$CACHE/src/linux-$UPSTREAM" KDAP_M_UPSTREAM="$UPSTREAM" KDAP_M_KMOD_SRC="$KMOD_SRC"
  KDAP_M_MODULES="${MODULES[*]}" KDAP_M_ARCHES="${ARCHES[*]}"
)
for arch in "${ARCHES[@]}"; do
  vml=$CACHE/kernel/$arch/usr/lib/debug/boot/vmlinux-$(release_of "$arch")
  bid_stamp=$CACHE/kernel/$arch/.buildid
  if ! stamp_ok "$bid_stamp.key" "$(file_key "$vml")"; then
    bid=$(build_id_of "$vml")
    [[ -n $bid ]] || die "$arch: no GNU build id in $vml"
    echo "$bid" >"$bid_stamp"
    file_key "$vml" >"$bid_stamp.key"
  fi
  manifest_env+=("KDAP_M_BUILDID_$arch=$(cat "$bid_stamp")")
done

env "${manifest_env[@]}" node - <<'EOF'
const fs = require('fs');
const path = require('path');
const e = process.env;
const cache = e.KDAP_M_CACHE;
const source = e.KDAP_M_SOURCE;
const kmodSrc = e.KDAP_M_KMOD_SRC;
const text = fs.readFileSync(path.join(kmodSrc, 'kdap_test.c'), 'utf8').split('\n');
const lines = {};
text.forEach((l, i) => {
  const m = /\/\*\s*LINE:([A-Za-z0-9_-]+)\s*\*\//.exec(l);
  if (m) lines[m[1]] = i + 1;
});
const modules = e.KDAP_M_MODULES.split(' ').map((s) => s.split(':'));
const spec = {
  x86_64: { debarch: 'amd64', append: 'console=ttyS0 nokaslr', cross: '', qemu: 'qemu-system-x86_64', machine: 'q35', cpu: 'qemu64', console: 'ttyS0', gdbArch: 'i386:x86-64' },
  arm64: { debarch: 'arm64', append: 'console=ttyAMA0 nokaslr rdinit=/init', cross: 'aarch64-linux-gnu-', qemu: 'qemu-system-aarch64', machine: 'virt', cpu: 'cortex-a57', console: 'ttyAMA0', gdbArch: 'aarch64' },
};
const out = path.join(cache, 'fixtures.json');
// With --only, the other arch's entry (and the kgdb / 16K ones) stay as an earlier run wrote them,
// as long as they are of the same kernel build.
let previous = {};
try {
  previous = JSON.parse(fs.readFileSync(out, 'utf8'));
} catch {
  // first run
}
const same = previous.version === e.KDAP_M_VERSION && previous.abi === e.KDAP_M_ABI;
const arches = {};
if (same) for (const [arch, entry] of Object.entries(previous.arches ?? {})) arches[arch] = entry;
for (const arch of e.KDAP_M_ARCHES.split(' ')) {
  const s = spec[arch];
  const release = `${e.KDAP_M_ABI}-cloud-${s.debarch}`;
  const k = path.join(cache, 'kernel', arch);
  const dbg = path.join(k, 'usr/lib/debug');
  const mods = {};
  for (const [name, rel] of modules) {
    mods[name] = {
      ko: path.join(k, 'lib/modules', release, 'kernel', rel),
      debug: path.join(dbg, 'lib/modules', release, 'kernel', rel),
      guestPath: `/lib/modules/${release}/${name}.ko`,
    };
  }
  const buildDir = `debian/build/build_${s.debarch}_none_cloud-${s.debarch}`;
  arches[arch] = {
    release,
    kernel: path.join(k, 'boot', `vmlinuz-${release}`),
    vmlinux: path.join(dbg, 'boot', `vmlinux-${release}`),
    systemMap: path.join(dbg, 'boot', `System.map-${release}`),
    config: path.join(k, 'boot', `config-${release}`),
    initrd: path.join(cache, 'initramfs', `${arch}.cpio.gz`),
    append: s.append,
    machine: s.machine,
    cpu: s.cpu,
    qemu: s.qemu,
    console: s.console,
    gdbArchitecture: s.gdbArch,
    buildId: e[`KDAP_M_BUILDID_${arch}`],
    kmod: {
      name: 'kdap_test',
      ko: path.join(cache, 'kmod', arch, 'kdap_test.ko'),
      source: kmodSrc,
      sourceFile: path.join(kmodSrc, 'kdap_test.c'),
      guestPath: `/lib/modules/${release}/kdap_test.ko`,
      procFile: '/proc/kdap_test',
      percpuBase: '0x6b640000',
      lines,
    },
    modules: mods,
    debugModulesDir: path.join(dbg, 'lib/modules', release),
    substitutePath: [
      { from: `/build/reproducible-path/linux-${e.KDAP_M_UPSTREAM}`, to: source },
      { from: buildDir, to: source },
    ],
    dwarfCompDir: buildDir,
    headers: path.join(cache, 'headers', arch, 'usr/src', `linux-headers-${release}`),
    crossCompile: s.cross,
  };
}
const manifest = {
  version: e.KDAP_M_VERSION,
  abi: e.KDAP_M_ABI,
  pinned: e.KDAP_M_PINNED === 'true',
  cache,
  sourceRoot: source,
  guest: { readyMarker: 'KDAP-READY', prompt: 'guest# ' },
  arches,
};
for (const key of ['kgdb', 'arm64_16k']) if (previous[key]) manifest[key] = previous[key];
const json = JSON.stringify(manifest, null, 2) + '\n';
if (!fs.existsSync(out) || fs.readFileSync(out, 'utf8') !== json) {
  fs.writeFileSync(out + '.tmp', json);
  fs.renameSync(out + '.tmp', out);
}
EOF

log "manifest: $CACHE/fixtures.json"
if [[ -n $ONLY ]]; then
  log "done: linux $VERSION for $ONLY only (no kgdb kernels, no 16K kernel, no dumps) in $(elapsed "$started_ns")"
  exit 0
fi
# All are tried even if one fails, so one run names every fixture that is missing.
missing=()
bash "$ROOT/scripts/fixtures-kgdb.sh" || missing+=("kgdb (the kgdb kernels of scripts/fixtures-kgdb.sh)")
bash "$ROOT/scripts/fixtures-16k.sh" || missing+=("arm64_16k (the 16K kernel of scripts/fixtures-16k.sh)")
# Crash dumps of these kernels with the guests' own truths (about 2 min and 3.3 GB cold).
bash "$ROOT/scripts/fixtures-dumps.sh" || missing+=("dumps (the crash dumps of scripts/fixtures-dumps.sh)")
if ((${#missing[@]})); then
  for m in "${missing[@]}"; do printf '[fixtures] error: missing fixture %s: see the error above\n' "$m" >&2; done
  exit 1
fi
log "done: linux $VERSION in $(elapsed "$started_ns")"
