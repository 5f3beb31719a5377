# Sourced by the fixture scripts (which define `log`): apt look-ups and downloads of Debian
# packages into the current directory, without installing them.

apt_updated=
apt_update_once() {
  [[ -n $apt_updated ]] && return 0
  apt_updated=1
  if [[ $(id -u) == 0 ]]; then
    log "apt-get update"
    apt-get update -qq >/dev/null || true
  fi
}

# As root, apt would hand the download to the _apt user, who cannot write into a private
# cache: keep it as root instead.
apt_download() {
  local opts=(-q)
  [[ $(id -u) == 0 ]] && opts+=(-o APT::Sandbox::User=root)
  apt-get download "${opts[@]}" "$@" >/dev/null
}
