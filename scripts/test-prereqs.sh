#!/usr/bin/env bash
# The system programs the test suite runs, in one list that `npm test` (its pretest script) and
# .ci/run share. What is missing is installed when this can be done (root with apt-get, as on a fresh
# Debian machine or in CI); otherwise the script stops at once with one line naming what to install,
# instead of letting the suite fail test by test.
#
#   bash scripts/test-prereqs.sh           check, install what is missing when root with apt-get
#   bash scripts/test-prereqs.sh --check   check only; never install
#
# AIRLOCK_PREREQS_PATH replaces the directories searched (default: $PATH and the sbin directories,
# where sshd lives); the tests of this script use it to hide a program.
set -euo pipefail

# program:Debian package. Any one of several programs separated by | will do.
PREREQS=(
  'sshd:openssh-server'            # the targets and compute nodes of the integration tests
  'ssh:openssh-client'             # the real client every gateway test drives
  'ssh-keygen:openssh-client'      # the oracle for keys, certificates and KRLs
  'ssh-agent:openssh-client'
  'ssh-add:openssh-client'
  'ssh-keyscan:openssh-client'
  'puttygen:putty-tools'           # PPK files of `airlock putty`
  'plink:putty-tools'              # PuTTY certificate logins through the gateway
  'chromium|chromium-browser:chromium'  # browser login, driven by playwright-core
  'psql:postgresql-client'         # the PostgreSQL store suites (AIRLOCK_TEST_DATABASE_URL)
  'pg_isready:postgresql-client'
  'haproxy:haproxy'                # a real TCP load balancer / PROXY protocol sender
  'curl:curl'                      # fetches through tunnels
  'systemd-analyze:systemd'        # verifies and scores the shipped unit, deploy/systemd/airlock.service
)

check_only=0
case "${1:-}" in
  --check) check_only=1 ;;
  '') ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

search_path="${AIRLOCK_PREREQS_PATH:-$PATH:/usr/local/sbin:/usr/sbin:/sbin}"

# The full path of the first of `$1` (programs separated by |) found in search_path; fails if none.
find_program() {
  local names dirs dir name
  IFS='|' read -r -a names <<<"$1"
  IFS=':' read -r -a dirs <<<"$search_path"
  for name in "${names[@]}"; do
    for dir in "${dirs[@]}"; do
      if [ -n "$dir" ] && [ -f "$dir/$name" ] && [ -x "$dir/$name" ]; then
        echo "$dir/$name"
        return 0
      fi
    done
  done
  return 1
}

# Sets `missing` (program names) and `packages` (each Debian package once) from PREREQS.
collect_missing() {
  missing=()
  packages=()
  local entry programs package p seen
  for entry in "${PREREQS[@]}"; do
    programs="${entry%:*}"
    package="${entry##*:}"
    find_program "$programs" >/dev/null && continue
    missing+=("${programs%%|*}")
    seen=0
    for p in "${packages[@]}"; do [ "$p" = "$package" ] && seen=1; done
    [ "$seen" = 1 ] || packages+=("$package")
  done
}

collect_missing
if [ ${#missing[@]} -gt 0 ]; then
  apt_get="$(find_program apt-get || true)"
  if [ "$check_only" = 0 ] && [ "$(id -u)" = 0 ] && [ -n "$apt_get" ]; then
    echo "test-prereqs: installing ${packages[*]} (for ${missing[*]})" >&2
    export DEBIAN_FRONTEND=noninteractive
    "$apt_get" update -qq >&2
    "$apt_get" install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
    collect_missing
  fi
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "test-prereqs: missing ${missing[*]}; install with: sudo apt-get install ${packages[*]} (as root, npm test installs them itself)" >&2
  exit 1
fi

# sshd started by root insists on its privilege-separation directory (tmpfs /run starts without it).
if [ "$check_only" = 0 ] && [ "$(id -u)" = 0 ] && [ ! -d /run/sshd ]; then
  mkdir -p /run/sshd
fi
exit 0
