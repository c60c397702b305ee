#!/usr/bin/env bash
# Fetches Debian bookworm-backports' OpenSSH 10 client and unpacks it into .cache/openssh10/ for the
# ML-KEM interop test (test/integration/ssh-engine-clients.test.ts). It is never installed: the
# system's ssh (Debian 12: OpenSSH 9.2) stays what it is, and the test runs .cache/openssh10/usr/bin/ssh.
# Run by .ci/run; exits non-zero (and the test skips, saying why) where apt or the archive is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=.cache/openssh10

if [ -x "$dest/usr/bin/ssh" ] && "$dest/usr/bin/ssh" -V 2>&1 | grep -q '^OpenSSH_1[0-9]'; then
  echo "openssh10: $("$dest/usr/bin/ssh" -V 2>&1) already in $dest"
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg-deb >/dev/null 2>&1; then
  echo "openssh10: needs apt-get and dpkg-deb (Debian); not fetched" >&2
  exit 1
fi

# The backports archive, if no configured source provides it yet: its own list file, and an update
# of that list only (the rest of the machine's package lists are left alone).
list=/etc/apt/sources.list.d/airlock-bookworm-backports.list
refresh() {
  if [ "$(id -u)" != 0 ] || ! grep -q 'VERSION_CODENAME=bookworm' /etc/os-release 2>/dev/null; then
    echo "openssh10: bookworm-backports is not configured and this is not root on Debian 12; not fetched" >&2
    exit 1
  fi
  echo 'deb http://deb.debian.org/debian bookworm-backports main' > "$list"
  apt-get update -qq -o Dir::Etc::sourcelist="$list" -o Dir::Etc::sourceparts=- -o APT::Get::List-Cleanup=0
}
apt-cache policy openssh-client 2>/dev/null | grep -q 'bookworm-backports' || refresh

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
chown _apt "$tmp" 2>/dev/null || true # apt downloads as _apt where it can
# A stale package list names a version the archive no longer has: refresh it once and retry.
(cd "$tmp" && apt-get download -qq openssh-client/bookworm-backports) || { refresh; (cd "$tmp" && apt-get download -qq openssh-client/bookworm-backports); }
deb=$(ls "$tmp"/openssh-client_*.deb)
rm -rf "$dest.new"
mkdir -p "$(dirname "$dest")"
dpkg-deb -x "$deb" "$dest.new"
"$dest.new/usr/bin/ssh" -V 2>&1 | grep -q '^OpenSSH_1[0-9]' || { echo "openssh10: the package is not OpenSSH 10: $("$dest.new/usr/bin/ssh" -V 2>&1)" >&2; exit 1; }
rm -rf "$dest"
mv "$dest.new" "$dest"
echo "openssh10: $("$dest/usr/bin/ssh" -V 2>&1) unpacked into $dest"
