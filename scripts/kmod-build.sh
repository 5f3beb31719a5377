# shellcheck shell=bash
# The kdap_test module's build, shared by scripts/fixtures.sh and scripts/fixtures-kgdb.sh
# (sourced by both; each defines die).
#
# Its sources are copied into the cache, into kmod/src-<key>/ where <key> is a hash of their
# content, and every build of the module compiles that copy: the DWARF and __FILE__ of each
# kdap_test.ko name a file of the cache, never the checkout it came from. So a build serves every
# checkout with the same sources (its stamp holds the key, not a path), and what it names exists
# as long as the cache does. Copies are read-only and never removed, so a .ko built from older
# sources still has its source to show.

KMOD_FILES=(kdap_test.c Kbuild)

# Hash of the sources in a folder: the first 16 hex digits of the sha256 of their sha256sum list.
kmod_key() { # dir
  (cd "$1" && sha256sum "${KMOD_FILES[@]}") | sha256sum | cut -c1-16
}

# The cache's copy of the sources in `from`, made if absent; prints its folder.
kmod_source_copy() { # cache from
  local cache=$1 from=$2 key dir tmp
  key=$(kmod_key "$from")
  dir=$cache/kmod/src-$key
  if [[ -d $dir ]] && [[ $(kmod_key "$dir" 2>/dev/null) == "$key" ]]; then
    echo "$dir"
    return 0
  fi
  # Absent, or not what its name says (edited by hand): made again.
  if [[ -e $dir ]]; then chmod -R u+w "$dir" && rm -rf "$dir"; fi
  tmp=$cache/kmod/.src-$key.$$
  rm -rf "$tmp" && mkdir -p "$tmp"
  local f
  for f in "${KMOD_FILES[@]}"; do install -m 444 "$from/$f" "$tmp/$f"; done
  # Another run may have made the same copy meanwhile: the same content, so either one will do.
  mv -T "$tmp" "$dir" 2>/dev/null || rm -rf "$tmp"
  [[ $(kmod_key "$dir") == "$key" ]] || die "$dir does not hold the sources of $from"
  echo "$dir"
}

# Builds kdap_test.ko from the copy `src` into `out` (one folder per kernel, cleared first):
# the objects are made in `out`, and -ffile-prefix-map makes what they name `src`.
kmod_build() { # src out make-args...
  local src=$1 out=$2
  shift 2
  rm -rf "$out" && mkdir -p "$out"
  cp "$src/kdap_test.c" "$src/Kbuild" "$out/"
  if ! make "$@" M="$out" KCFLAGS="-ffile-prefix-map=$out=$src" modules >"$out/build.log" 2>&1; then
    cat "$out/build.log" >&2
    return 1
  fi
  [[ -f $out/kdap_test.ko ]] || { printf 'kdap_test.ko not produced in %s\n' "$out" >&2; return 1; }
  # A kernel build that left KCFLAGS out would name the build folder: the tests would then look
  # for lines in a copy that the next build removes.
  if ! LC_ALL=C grep -aqF "$src/kdap_test.c" "$out/kdap_test.ko" || LC_ALL=C grep -aqF "$out/" "$out/kdap_test.ko"; then
    printf '%s/kdap_test.ko does not name its source as %s/kdap_test.c (KCFLAGS -ffile-prefix-map not applied?)\n' "$out" "$src" >&2
    return 1
  fi
}
