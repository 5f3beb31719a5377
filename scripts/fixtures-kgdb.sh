#!/usr/bin/env bash
# Builds the two small kgdb kernels the kgdb tests boot, from the exact-version kernel source that
# scripts/fixtures.sh extracted, and adds them to fixtures.json under "kgdb":
#
#   kgdb/<arch>/build/              out-of-tree build (O=): Image/bzImage, vmlinux, .config
#   kgdb/<arch>/kmod/kdap_test.ko   test/fixtures/kmod built against that kernel, from the
#                                   cache's copy of its sources (scripts/kmod-build.sh)
#   kgdb/<arch>/initrd.cpio.gz      the busybox initramfs of fixtures.sh + that module appended
#
# Debian's kernels have CONFIG_KGDB off, hence the builds. Both start from tinyconfig and add only
# what the tests need: a serial console, initramfs, proc/sysfs/devtmpfs, modules, KGDB with
# kgdboc, SysRq, kallsyms, frame pointers and DWARF 5. arm64 uses 64K pages (3-level tables,
# PGDIR_SHIFT 42) so that the same kernel also serves the 64K page-table tests.
#
# Cache key per arch: the configuration recipe below, the source stamp and the compiler version.
# With a warm cache the script only compares stamps. Runs by itself too (after fixtures.sh).
#
# Environment: KDAP_CACHE (cache root), KDAP_KGDB_JOBS (make -j, default nproc).
set -euo pipefail

started_ns=$(date +%s%N)
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${KDAP_CACHE:-$HOME/.cache/kdap}
CACHE=$(cd "$CACHE" && pwd)
MANIFEST=$CACHE/fixtures.json
KMOD_REPO=$ROOT/test/fixtures/kmod
ARM64_BASE=${KDAP_KGDB_ARM64_BASE:-/work/shared/samples/config-arm64-64k-kgdb-6.1}
JOBS=${KDAP_KGDB_JOBS:-$(nproc)}
LOCALVERSION=-kdap-kgdb
ARCHES=(x86_64 arm64)

# Bump when a step's output changes for the same inputs.
LAYOUT=1

log() { printf '[fixtures-kgdb] %s\n' "$*"; }
die() { printf '[fixtures-kgdb] error: %s\n' "$*" >&2; exit 1; }
elapsed() { echo $(( ($(date +%s%N) - $1) / 1000000 )) | awk '{ printf "%.1f s", $1 / 1000 }'; }

[[ -f $MANIFEST ]] || die "no $MANIFEST: run scripts/fixtures.sh first"
# Every input checked before anything is built: a missing one fails in seconds, not after the
# x86_64 kernel's build.
[[ -f $ARM64_BASE ]] || die "no arm64 base config at $ARM64_BASE (set KDAP_KGDB_ARM64_BASE)"
SRC=$(node -p 'require(process.argv[1]).sourceRoot' "$MANIFEST")
[[ -f $SRC/Makefile && -f $SRC/.kdap-stamp ]] || die "kernel source $SRC is missing or incomplete"

# fixtures.sh holds $CACHE/.lock while it calls us: our own lock, so a direct run serializes too.
exec 8>"$CACHE/.kgdb.lock"
flock 8

karch_of() { case $1 in x86_64) echo x86 ;; arm64) echo arm64 ;; esac; }
cross_of() { case $1 in x86_64) echo "" ;; arm64) echo aarch64-linux-gnu- ;; esac; }
image_of() { case $1 in x86_64) echo bzImage ;; arm64) echo Image ;; esac; }

# scripts/config arguments on top of the starting config. Everything here is there for a test:
#   console + initramfs + the /init of fixtures.sh: TTY, serial, BLK_DEV_INITRD, RD_GZIP, BINFMT_*,
#     PROC_FS, SYSFS, DEVTMPFS, TMPFS, UNIX98_PTYS (devpts), DEBUG_FS, FUTEX/EPOLL/... (busybox)
#   kgdb: KGDB, KGDB_SERIAL_CONSOLE (kgdboc), MAGIC_SYSRQ (SysRq-g break-in), KALLSYMS_ALL
#   symbols and stacks: DEBUG_INFO_DWARF5, FRAME_POINTER
#   modules: MODULES + MODULE_UNLOAD for kdap_test.ko
config_common() {
  cat <<'EOF'
-e PRINTK -e PRINTK_TIME -e BUG -e TTY -e UNIX98_PTYS -e BLK_DEV_INITRD -e RD_GZIP
-e BINFMT_ELF -e BINFMT_SCRIPT -e PROC_FS -e PROC_SYSCTL -e SYSFS -e DEVTMPFS -e DEVTMPFS_MOUNT
-e TMPFS -e SHMEM -e MULTIUSER -e FUTEX -e EPOLL -e SIGNALFD -e TIMERFD -e EVENTFD -e POSIX_TIMERS
-e FILE_LOCKING -e MODULES -e MODULE_UNLOAD -e MAGIC_SYSRQ -e MAGIC_SYSRQ_SERIAL
-e KALLSYMS -e KALLSYMS_ALL -e DEBUG_KERNEL -e DEBUG_INFO -d DEBUG_INFO_NONE -e DEBUG_INFO_DWARF5
-d DEBUG_INFO_REDUCED -d DEBUG_INFO_SPLIT -e DEBUG_FS -e FRAME_POINTER -e KGDB -e KGDB_SERIAL_CONSOLE
-e SMP -d LOCALVERSION_AUTO
EOF
}

config_recipe() { # arch
  case $1 in
    x86_64)
      # tinyconfig is 32-bit on x86. ACPI: without it SeaBIOS's MP table shows one CPU only.
      # KGDB_KDB: SysRq-g then enters kdb first, which the adapter has to cope with.
      echo "base=tinyconfig"
      config_common
      cat <<'EOF'
-e 64BIT -e SERIAL_8250 -e SERIAL_8250_CONSOLE -e PCI -e ACPI -e X86_TSC -e KGDB_KDB
-e UNWINDER_FRAME_POINTER -d UNWINDER_ORC -d UNWINDER_GUESS -d RANDOMIZE_BASE
EOF
      ;;
    arm64)
      # The sample 64K config (a 6.1.192 tinyconfig + the same kind of switches), minus what
      # only costs build time here: lkdtm (and the testing menu it needs), the gdb scripts.
      # No KGDB_KDB: one arch without kdb, so both ways into kgdb are tested.
      echo "base=$(sha256sum "$ARM64_BASE" | cut -c1-16)"
      config_common
      cat <<'EOF'
-d ARM64_4K_PAGES -d ARM64_16K_PAGES -e ARM64_64K_PAGES -e ARM64_VA_BITS_48 --set-val NR_CPUS 4
-e SERIAL_AMBA_PL011 -e SERIAL_AMBA_PL011_CONSOLE -e ARM_PSCI_FW -e ARM_GIC -e ARM_ARCH_TIMER
-d LKDTM -d RUNTIME_TESTING_MENU -d GDB_SCRIPTS -d KGDB_KDB -d RANDOMIZE_BASE
EOF
      ;;
  esac
}

make_kernel() { # arch build-dir make-args...
  local arch=$1 b=$2; shift 2
  make -s -C "$SRC" O="$b" ARCH="$(karch_of "$arch")" CROSS_COMPILE="$(cross_of "$arch")" "$@"
}

stamp_ok() { [[ -f $1 && "$(cat "$1")" == "$2" ]]; }

build_kernel() { # arch
  local arch=$1 dir=$CACHE/kgdb/$1 b cross key
  b=$dir/build
  cross=$(cross_of "$arch")
  command -v "${cross}gcc" >/dev/null || die "${cross}gcc not found; run: sudo bash scripts/setup.sh"
  key="$LAYOUT kernel $arch $(cat "$SRC/.kdap-stamp") $("${cross}gcc" --version | head -n1) $(config_recipe "$arch" | sha256sum | cut -c1-16) $LOCALVERSION"
  if stamp_ok "$dir/.kernel.stamp" "$key" && [[ -f $b/vmlinux && -f $b/arch/$(karch_of "$arch")/boot/$(image_of "$arch") ]]; then
    return 0
  fi
  local t0; t0=$(date +%s%N)
  rm -f "$dir/.kernel.stamp"
  mkdir -p "$b"
  # Keep objects of an earlier build with another recipe: make rebuilds only what changed.
  if [[ $arch == arm64 ]]; then
    [[ -f $ARM64_BASE ]] || die "no arm64 base config at $ARM64_BASE (set KDAP_KGDB_ARM64_BASE)"
    cp "$ARM64_BASE" "$b/.config"
    make_kernel "$arch" "$b" olddefconfig >/dev/null
  else
    make_kernel "$arch" "$b" tinyconfig >/dev/null
  fi
  local switches
  mapfile -t switches < <(config_recipe "$arch" | tail -n +2 | tr ' ' '\n' | sed '/^$/d')
  "$SRC/scripts/config" --file "$b/.config" "${switches[@]}" --set-str LOCALVERSION "$LOCALVERSION"
  make_kernel "$arch" "$b" olddefconfig >/dev/null
  verify_config "$arch" "$b/.config"
  log "$arch: configured ($(elapsed "$t0")); building $(image_of "$arch") with -j$JOBS"
  local t1; t1=$(date +%s%N)
  # `modules` with no module configured only runs modpost, which writes the Module.symvers that
  # kdap_test.ko links against.
  if ! nice -n 19 make -C "$SRC" O="$b" ARCH="$(karch_of "$arch")" CROSS_COMPILE="$cross" -j"$JOBS" \
      "$(image_of "$arch")" modules >"$dir/build.log" 2>&1; then
    tail -n 40 "$dir/build.log" >&2
    die "$arch: kernel build failed (log: $dir/build.log)"
  fi
  echo $(( ($(date +%s%N) - t1) / 1000000000 )) >"$dir/build-seconds"
  echo "$key" >"$dir/.kernel.stamp"
  log "$arch: kernel built ($(elapsed "$t1")), vmlinux $(( $(stat -c %s "$b/vmlinux") / 1048576 )) MiB"
}

# olddefconfig silently drops a switch whose dependencies are missing: check the ones that matter.
verify_config() { # arch config
  local want=(KGDB KGDB_SERIAL_CONSOLE MAGIC_SYSRQ DEBUG_INFO_DWARF5 KALLSYMS_ALL FRAME_POINTER MODULES SMP BLK_DEV_INITRD DEVTMPFS)
  case $1 in
    x86_64) want+=(64BIT ACPI SERIAL_8250_CONSOLE KGDB_KDB) ;;
    arm64) want+=(ARM64_64K_PAGES SERIAL_AMBA_PL011_CONSOLE) ;;
  esac
  local w
  for w in "${want[@]}"; do
    grep -qx "CONFIG_$w=y" "$2" || die "$1: CONFIG_$w is not set after olddefconfig"
  done
}

build_kmod() { # arch
  local arch=$1 dir=$CACHE/kgdb/$1 key
  local k=$dir/kmod
  key="$LAYOUT kmod $(cat "$dir/.kernel.stamp") ${KMOD_SRC##*/}"
  stamp_ok "$k/.stamp" "$key" && [[ -f $k/kdap_test.ko ]] && return 0
  local t0; t0=$(date +%s%N)
  kmod_build "$KMOD_SRC" "$k" -C "$SRC" O="$dir/build" ARCH="$(karch_of "$arch")" CROSS_COMPILE="$(cross_of "$arch")" \
    || die "$arch: building kdap_test.ko against the kgdb kernel failed"
  echo "$key" >"$k/.stamp"
  log "$arch: kdap_test.ko built from ${KMOD_SRC#"$CACHE"/} ($(elapsed "$t0"))"
}

# The initramfs of fixtures.sh followed by a second cpio with the module: the kernel unpacks
# concatenated archives in order. Its own modules do not load here (other vermagic); this one does.
build_initrd() { # arch
  local arch=$1 dir=$CACHE/kgdb/$1 base out key release
  base=$CACHE/initramfs/$arch.cpio.gz
  out=$dir/initrd.cpio.gz
  release=$(kernel_release "$arch")
  [[ -f $base ]] || die "no $base: run scripts/fixtures.sh first"
  key="$LAYOUT initrd $(sha256sum "$base" "$dir/kmod/kdap_test.ko" | awk '{print $1}' | tr '\n' ' ') $release"
  stamp_ok "$out.stamp" "$key" && [[ -f $out ]] && return 0
  local tmp=$dir/.initrd-tmp
  rm -rf "$tmp" && mkdir -p "$tmp/root/lib/modules/$release"
  cp "$dir/kmod/kdap_test.ko" "$tmp/root/lib/modules/$release/"
  (cd "$tmp/root" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --owner=0:0 --quiet | gzip -6 >"$tmp/extra.cpio.gz")
  cat "$base" "$tmp/extra.cpio.gz" >"$tmp/out.cpio.gz"
  mv "$tmp/out.cpio.gz" "$out"
  echo "$key" >"$out.stamp"
  rm -rf "$tmp"
}

kernel_release() { cat "$CACHE/kgdb/$1/build/include/config/kernel.release"; }

# shellcheck source=scripts/kmod-build.sh
source "$ROOT/scripts/kmod-build.sh"
KMOD_SRC=$(kmod_source_copy "$CACHE" "$KMOD_REPO")

for arch in "${ARCHES[@]}"; do
  build_kernel "$arch"
  build_kmod "$arch"
  build_initrd "$arch"
done

# --- manifest: merge a "kgdb" key into fixtures.json, the rest untouched ----------------------
KDAP_K_CACHE=$CACHE KDAP_K_KMOD_SRC=$KMOD_SRC KDAP_K_MANIFEST=$MANIFEST \
KDAP_K_REL_x86_64=$(kernel_release x86_64) KDAP_K_REL_arm64=$(kernel_release arm64) node - <<'EOF'
const fs = require('fs');
const path = require('path');
const e = process.env;
const file = e.KDAP_K_MANIFEST;
const manifest = JSON.parse(fs.readFileSync(file, 'utf8'));
const spec = {
  x86_64: {
    image: 'arch/x86/boot/bzImage', qemu: 'qemu-system-x86_64', machine: 'pc', cpu: 'qemu64',
    console: 'ttyS0', kgdbTty: 'ttyS1', append: 'console=ttyS0 nokaslr', gdbArchitecture: 'i386:x86-64',
    kdb: true, pageSize: 4096, pgtableLevels: 4,
  },
  arm64: {
    image: 'arch/arm64/boot/Image', qemu: 'qemu-system-aarch64', machine: 'virt', cpu: 'cortex-a57',
    console: 'ttyAMA0', kgdbTty: 'ttyAMA0', append: 'console=ttyAMA0 nokaslr rdinit=/init', gdbArchitecture: 'aarch64',
    kdb: false, pageSize: 65536, pgtableLevels: 3,
  },
};
const kgdb = {};
for (const [arch, s] of Object.entries(spec)) {
  const dir = path.join(e.KDAP_K_CACHE, 'kgdb', arch);
  const build = path.join(dir, 'build');
  const release = e[`KDAP_K_REL_${arch}`];
  const seconds = Number(fs.readFileSync(path.join(dir, 'build-seconds'), 'utf8'));
  kgdb[arch] = {
    release,
    kernel: path.join(build, s.image),
    vmlinux: path.join(build, 'vmlinux'),
    config: path.join(build, '.config'),
    buildDir: build,
    initrd: path.join(dir, 'initrd.cpio.gz'),
    append: s.append,
    machine: s.machine,
    cpu: s.cpu,
    qemu: s.qemu,
    console: s.console,
    kgdbTty: s.kgdbTty,
    gdbArchitecture: s.gdbArchitecture,
    kdb: s.kdb,
    pageSize: s.pageSize,
    pgtableLevels: s.pgtableLevels,
    kmod: {
      ko: path.join(dir, 'kmod', 'kdap_test.ko'),
      sourceFile: path.join(e.KDAP_K_KMOD_SRC, 'kdap_test.c'),
      guestPath: `/lib/modules/${release}/kdap_test.ko`,
    },
    buildSeconds: seconds,
  };
}
manifest.kgdb = kgdb;
const json = JSON.stringify(manifest, null, 2) + '\n';
if (fs.readFileSync(file, 'utf8') !== json) {
  fs.writeFileSync(file + '.tmp', json);
  fs.renameSync(file + '.tmp', file);
}
EOF

log "manifest: kgdb entries in $MANIFEST"
log "done in $(elapsed "$started_ns")"
