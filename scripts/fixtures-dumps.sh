#!/usr/bin/env bash
# Kernel dumps with ground truth, for the dump readers' end-to-end tests and bench/core.mjs,
# into ${KDAP_CACHE:-~/.cache/kdap}/dumps:
#
#   <arch>/qemu/   the fixture kernel under QEMU (-m 512M, -smp 2, -device vmcoreinfo, the
#                  guest's qemu_fw_cfg loaded), stopped and dumped from the monitor: ELF with
#                  and without -p, kdump-compressed -z (flattened, as QEMU 7.2 writes it; Debian's
#                  QEMU has no -l/-s), and that one rearranged by makedumpfile -R.
#   x86_64/kdump/  a real kdump: the same kernel with KASLR on and crashkernel=, kexec -p of a
#                  capture kernel, a sysrq-c panic; the capture kernel copies /proc/vmcore (ELF)
#                  and runs makedumpfile -c -d 31. Host-side makedumpfile then makes -l, -E and
#                  unfiltered -c variants of the same vmcore, and rearranges the flattened one.
#
# Each guest prints its own truths (uname, /proc/<pid>/stat, stack and context switches,
# /proc/modules, the kdap_test module's sections, the last dmesg lines) and the QEMU runs add the monitor's
# gva2gpa and registers: truths.json beside the dumps. crash's `log` of each dump is kept too
# (crash-log.txt), as a second oracle where crash 8.0.2 can read it.
#
# Debian's makedumpfile 1.7.2 is built without snappy and zstd, and Debian's QEMU without lzo
# and snappy: no real snappy or zstd dump can be made here. Unit tests cover those with pages
# from snappyjs and the zstd tool.
# Run under the shared QEMU lock: flock /tmp/kdap-qemu.lock bash scripts/fixtures-dumps.sh
set -euo pipefail

started_ns=$(date +%s%N)
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${KDAP_CACHE:-$HOME/.cache/kdap}
CACHE=$(cd "$CACHE" && pwd)
OUT=$CACHE/dumps
DEBS=$CACHE/debs
LAYOUT=1

log() { printf '[fixtures-dumps] %s\n' "$*"; }
die() { printf '[fixtures-dumps] error: %s\n' "$*" >&2; exit 1; }
elapsed() { echo $(( ($(date +%s%N) - $1) / 1000000 )) | awk '{ printf "%.1f s", $1 / 1000 }'; }
stamp_ok() { [[ -f $1 && "$(cat "$1")" == "$2" ]]; }

for tool in makedumpfile crash cpio gzip dpkg-deb node ldd; do
  command -v "$tool" >/dev/null || die "$tool not found; run: bash scripts/setup.sh"
done
[[ -f $CACHE/fixtures.json ]] || die "no $CACHE/fixtures.json: run bash scripts/fixtures.sh first"
# shellcheck source=scripts/apt-fetch.sh
source "$ROOT/scripts/apt-fetch.sh"

manifest() { node -e "const m=require('$CACHE/fixtures.json'); const v=$1; console.log(v)"; }
VERSION=$(manifest 'm.version')

mkdir -p "$OUT"
exec 9>"$OUT/.lock"
flock 9

# Extracts modules of the -unsigned image package into $2, flat, by their base names.
extract_modules() { # arch dir module-paths...
  local arch=$1 dir=$2 rel deb; shift 2
  rel=$(manifest "m.arches['$arch'].release")
  local debarch=amd64; [[ $arch == arm64 ]] && debarch=arm64
  deb=$DEBS/linux-image-$rel-unsigned_${VERSION}_$debarch.deb
  [[ -f $deb ]] || die "$deb is missing: run bash scripts/fixtures.sh"
  local tmp; tmp=$(mktemp -d)
  local members=(); for m in "$@"; do members+=("./lib/modules/$rel/kernel/$m"); done
  dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp" "${members[@]}"
  mkdir -p "$dir/lib/modules/$rel"
  for m in "$@"; do cp "$tmp/lib/modules/$rel/kernel/$m" "$dir/lib/modules/$rel/"; done
  rm -rf "$tmp"
}

# A program and the shared libraries it needs, copied into a root.
copy_program() { # root program
  local root=$1 prog=$2 lib
  mkdir -p "$root$(dirname "$prog")"
  cp "$prog" "$root$prog"
  for lib in $(ldd "$prog" | awk '/=>/ { print $3 } /ld-linux/ { print $1 }'); do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done
}

cpio_of() { # dir out
  (cd "$1" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --owner=0:0 --quiet | gzip -6 >"$2")
}

qemu_run() { # arch mode out initrd append memory [disks...]
  local arch=$1 mode=$2 out=$3 initrd=$4 append=$5 memory=$6; shift 6
  local disks=(); for d in "$@"; do disks+=(--disk "$d"); done
  node "$ROOT/scripts/dumps/run-guest.mjs" --arch "$arch" --mode "$mode" --out "$out" \
    --qemu "$(manifest "m.arches['$arch'].qemu")" --machine "$(manifest "m.arches['$arch'].machine")" \
    --cpu "$(manifest "m.arches['$arch'].cpu")" --kernel "$(manifest "m.arches['$arch'].kernel")" \
    --initrd "$initrd" --append "$append" --memory "$memory" \
    --system-map "$(manifest "m.arches['$arch'].systemMap")" "${disks[@]}"
}

# crash's `log` of a dump, when crash can open it (8.0.2 predates 6.1; it reads the log).
crash_log() { # vmlinux dump out
  timeout 300 crash -s "$1" "$2" <<<$'log\nquit' >"$3.tmp" 2>"$3.err" && mv "$3.tmp" "$3" || { log "crash could not read $(basename "$2") ($(tail -n1 "$3.err"))"; rm -f "$3.tmp"; }
}

inputs_key() { # files...
  sha256sum "$@" "$ROOT/scripts/fixtures-dumps.sh" "$ROOT"/scripts/dumps/* | awk '{print $1}' | sha256sum | cut -c1-16
}

qemu_dumps() { # arch
  local arch=$1 dir=$OUT/$1/qemu rel initrd
  rel=$(manifest "m.arches['$arch'].release")
  initrd=$(manifest "m.arches['$arch'].initrd")
  local key; key="$LAYOUT qemu $(inputs_key "$initrd" "$(manifest "m.arches['$arch'].kernel")")"
  stamp_ok "$dir/.stamp" "$key" && return 0
  local t0; t0=$(date +%s%N)
  rm -rf "$dir" && mkdir -p "$dir"
  local root; root=$(mktemp -d)
  extract_modules "$arch" "$root" drivers/firmware/qemu_fw_cfg.ko
  install -m 755 "$ROOT/scripts/dumps/guest-init.sh" "$root/init"
  cpio_of "$root" "$dir/overlay.cpio.gz"
  rm -rf "$root"
  cat "$initrd" "$dir/overlay.cpio.gz" >"$dir/initrd.cpio.gz"
  qemu_run "$arch" qemu "$dir" "$dir/initrd.cpio.gz" "$(manifest "m.arches['$arch'].append") kdap_mode=qemu" 512M
  rm -f "$dir/overlay.cpio.gz" "$dir/initrd.cpio.gz"
  # The plain form of QEMU's flattened dump. (makedumpfile 1.7.2 reads neither QEMU's ELF
  # dumps, "Can't get the number of PT_LOAD", nor refilters them: filtered dumps come from kdump.)
  makedumpfile -R "$dir/qemu-zlib.kdump" <"$dir/qemu-zlib.flat" >>"$dir/makedumpfile.log" 2>&1
  local vml; vml=$(manifest "m.arches['$arch'].vmlinux")
  crash_log "$vml" "$dir/elf.elf" "$dir/crash-log.txt"
  echo "$key" >"$dir/.stamp"
  log "$arch: QEMU dumps made ($(elapsed "$t0"), $(du -sh "$dir" | cut -f1))"
}

kdump_dumps() {
  local arch=x86_64 dir=$OUT/x86_64/kdump rel initrd kernel vml
  rel=$(manifest "m.arches['$arch'].release")
  initrd=$(manifest "m.arches['$arch'].initrd")
  kernel=$(manifest "m.arches['$arch'].kernel")
  vml=$(manifest "m.arches['$arch'].vmlinux")
  # Debian's kexec is built with Xen support: libxenctrl and its libraries come along.
  local pkgs=(kexec-tools libxenmisc4.17 libxencall1 libxendevicemodel1 libxenevtchn1 libxenforeignmemory1
    libxengnttab1 libxenhypfs1 libxenstore4 libxentoollog1 libxentoolcore1 libyajl2 libext2fs2) want=() p
  for p in "${pkgs[@]}"; do ls "$DEBS/${p}_"*_amd64.deb >/dev/null 2>&1 || want+=("$p:amd64"); done
  if [[ ${#want[@]} -gt 0 ]]; then
    (cd "$DEBS" && apt_download "${want[@]}") || { apt_update_once; (cd "$DEBS" && apt_download "${want[@]}"); }
  fi
  local kexec_debs=(); for p in "${pkgs[@]}"; do kexec_debs+=("$(ls "$DEBS/${p}_"*_amd64.deb | sort -V | tail -n1)"); done
  local kexec_deb=${kexec_debs[0]}
  local key; key="$LAYOUT kdump $(inputs_key "$initrd" "$kernel" "${kexec_debs[@]}" "$(command -v makedumpfile)")"
  stamp_ok "$dir/.stamp" "$key" && return 0
  local t0; t0=$(date +%s%N)
  rm -rf "$dir" && mkdir -p "$dir"
  local work; work=$(mktemp -d)
  # The capture kernel's initramfs: the test initramfs, virtio block, makedumpfile.
  mkdir -p "$work/capture"
  extract_modules "$arch" "$work/capture" drivers/virtio/virtio.ko drivers/virtio/virtio_ring.ko \
    drivers/virtio/virtio_pci_modern_dev.ko drivers/virtio/virtio_pci_legacy_dev.ko drivers/virtio/virtio_pci.ko \
    drivers/block/virtio_blk.ko
  install -m 755 "$ROOT/scripts/dumps/capture-init.sh" "$work/capture/capture-init"
  copy_program "$work/capture" "$(command -v makedumpfile)"
  cpio_of "$work/capture" "$work/capture-overlay.cpio.gz"
  # The first kernel's: the guest init, qemu_fw_cfg, kexec, the capture kernel and its initramfs.
  mkdir -p "$work/first/boot" "$work/kexec"
  extract_modules "$arch" "$work/first" drivers/firmware/qemu_fw_cfg.ko
  install -m 755 "$ROOT/scripts/dumps/guest-init.sh" "$work/first/init"
  local d; for d in "${kexec_debs[@]}"; do dpkg-deb -x "$d" "$work/kexec"; done
  mkdir -p "$work/first/sbin" && cp "$work/kexec/sbin/kexec" "$work/first/sbin/kexec"
  local libpath; libpath=$(find "$work/kexec" -name '*.so*' -printf '%h\n' | sort -u | tr '\n' ':')
  local lib; for lib in $(LD_LIBRARY_PATH=$libpath ldd "$work/kexec/sbin/kexec" | awk '/=> \// { print $3 } /ld-linux/ { print $1 }'); do
    local to=${lib#"$work/kexec"}
    mkdir -p "$work/first$(dirname "$to")" && cp -L "$lib" "$work/first$to"
  done
  cp "$kernel" "$work/first/boot/vmlinuz"
  cat "$initrd" "$work/capture-overlay.cpio.gz" >"$work/first/boot/capture.cpio.gz"
  cpio_of "$work/first" "$work/first-overlay.cpio.gz"
  cat "$initrd" "$work/first-overlay.cpio.gz" >"$work/initrd.cpio.gz"
  truncate -s 1G "$work/vda.img"
  truncate -s 256M "$work/vdb.img"
  # KASLR stays on (no nokaslr): the dump's KERNELOFFSET has to be honoured.
  qemu_run "$arch" kdump "$dir" "$work/initrd.cpio.gz" "console=ttyS0 crashkernel=256M kdap_mode=kdump" 1G "$work/vda.img" "$work/vdb.img"
  # The ELF copy ends where its last PT_LOAD ends.
  local size; size=$(node -e '
    const fs = require("fs"); const fd = fs.openSync(process.argv[1], "r"); const h = Buffer.alloc(64); fs.readSync(fd, h, 0, 64, 0);
    if (h.readUInt32BE(0) !== 0x7f454c46) { console.error("vda holds no ELF vmcore"); process.exit(1); }
    const phoff = Number(h.readBigUInt64LE(32)), n = h.readUInt16LE(56); const p = Buffer.alloc(n * 56); fs.readSync(fd, p, 0, n * 56, phoff);
    let end = 0n; for (let i = 0; i < n; i++) { const e = p.readBigUInt64LE(i * 56 + 8) + p.readBigUInt64LE(i * 56 + 32); if (e > end) end = e; }
    console.log(String(end));' "$work/vda.img")
  head -c "$size" "$work/vda.img" >"$dir/vmcore.elf"
  # The flattened stream as written, cut after its end record, and rearranged by makedumpfile.
  makedumpfile -R "$dir/vmcore-c-d31.kdump" <"$work/vdb.img" >>"$dir/makedumpfile.log" 2>&1
  local flat_size; flat_size=$(node -e '
    const fs = require("fs"); const fd = fs.openSync(process.argv[1], "r"); const h = Buffer.alloc(16); let at = 4096n;
    for (;;) { fs.readSync(fd, h, 0, 16, at); const o = h.readBigInt64BE(0), s = h.readBigInt64BE(8); at += 16n; if (o === -1n && s === -1n) break; at += s; }
    console.log(String(at));' "$work/vdb.img")
  head -c "$flat_size" "$work/vdb.img" >"$dir/vmcore-c-d31.flat"
  rm -rf "$work"
  # Other forms of the same vmcore, made by makedumpfile on the host.
  makedumpfile -l -d 31 "$dir/vmcore.elf" "$dir/vmcore-l-d31.kdump" >>"$dir/makedumpfile.log" 2>&1
  makedumpfile -c -d 0 "$dir/vmcore.elf" "$dir/vmcore-c-d0.kdump" >>"$dir/makedumpfile.log" 2>&1
  makedumpfile -E -d 31 "$dir/vmcore.elf" "$dir/vmcore-E-d31.elf" >>"$dir/makedumpfile.log" 2>&1
  crash_log "$vml" "$dir/vmcore-c-d31.kdump" "$dir/crash-log.txt"
  echo "$key" >"$dir/.stamp"
  log "x86_64: real kdump made ($(elapsed "$t0"), $(du -sh "$dir" | cut -f1))"
}

for arch in x86_64 arm64; do qemu_dumps "$arch"; done
kdump_dumps
log "done in $(elapsed "$started_ns"): $(du -sh "$OUT" | cut -f1) in $OUT"
