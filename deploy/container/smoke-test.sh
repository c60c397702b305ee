#!/usr/bin/env bash
# Builds the container image and checks that it runs as deploy.md says: as uid 1000 on a read-only
# root file system, state on a volume, ssh2's native crypto loaded, /readyz ready, the SSH gateway
# answering, `airlock admin` usable through `exec`, and a researcher's sign-in and certificate through
# the HTTP API. Not part of `npm test` (CI has no container engine and no registry); run it before
# publishing an image:
#
#   deploy/container/smoke-test.sh                      # podman (or CONTAINER_ENGINE=docker)
#
# The container uses the host's network (ports from AIRLOCK_SMOKE_HTTP_PORT / _SSH_PORT, default
# 18080 / 12222 on 127.0.0.1), so it needs no port publishing; CONTAINER_RUN_ARGS adds engine options
# (e.g. `--ulimit nofile=1024:1024` where the engine cannot raise limits), CONTAINER_BUILD_ARGS adds
# build options, and CONTAINER_ENGINE may carry global options ("podman --runtime runc").
set -euo pipefail

read -ra engine <<< "${CONTAINER_ENGINE:-podman}"
image=${AIRLOCK_SMOKE_IMAGE:-localhost/airlock:smoke}
http_port=${AIRLOCK_SMOKE_HTTP_PORT:-18080}
ssh_port=${AIRLOCK_SMOKE_SSH_PORT:-12222}
name=airlock-smoke-$$
root=$(cd "$(dirname "$0")/../.." && pwd)
volume=$(mktemp -d)
keys=$(mktemp -d)
read -ra run_args <<< "${CONTAINER_RUN_ARGS:-}"
read -ra build_args <<< "${CONTAINER_BUILD_ARGS:-}"

cleanup() {
  "${engine[@]}" rm -f "$name" >/dev/null 2>&1 || true
  rm -rf "$volume" "$keys"
}
trap cleanup EXIT
fail() { echo "smoke test FAILED: $*" >&2; "${engine[@]}" logs "$name" 2>&1 | tail -20 >&2 || true; exit 1; }
pass() { echo "ok - $*"; }

# podman's default OCI format drops HEALTHCHECK; the docker format keeps it.
format=()
[ "$(basename "${engine[0]}")" = podman ] && format=(--format docker)
"${engine[@]}" build "${format[@]}" "${build_args[@]}" -f "$root/deploy/container/Containerfile" -t "$image" "$root"
pass "image built: $image"

# The volume belongs to the image's user (uid 1000), as a Kubernetes fsGroup or a named volume would.
chown 1000:1000 "$volume" && chmod 700 "$volume"
"${engine[@]}" run -d --name "$name" --read-only --tmpfs /tmp --network host "${run_args[@]}" \
  -v "$volume:/var/lib/airlock" \
  -e AIRLOCK_HTTP_LISTEN="127.0.0.1:$http_port" -e AIRLOCK_SSH_LISTEN="127.0.0.1:$ssh_port" \
  "$image" >/dev/null

ready=''
for _ in $(seq 1 120); do
  if ready=$(curl -fsS "http://127.0.0.1:$http_port/readyz" 2>/dev/null); then break; fi
  "${engine[@]}" inspect -f '{{.State.Running}}' "$name" 2>/dev/null | grep -q true || fail "the container exited"
  sleep 0.5
done
echo "$ready" | grep -q '"ready":true' || fail "/readyz did not report ready within 60 s"
pass "/readyz: $ready"

[ "$("${engine[@]}" exec "$name" id -u)" = 1000 ] || fail "not running as uid 1000"
pass "runs as uid 1000"
if "${engine[@]}" exec "$name" touch /opt/airlock/probe 2>/dev/null; then fail "the root file system is writable"; fi
pass "root file system is read-only"
"${engine[@]}" exec -w /opt/airlock "$name" node -e "require('ssh2/lib/protocol/crypto/build/Release/sshcrypto.node')" || fail "ssh2's native crypto does not load"
pass "ssh2's native crypto loads"
[ -f "$volume/airlock.db" ] && [ -d "$volume/ca" ] || fail "no database or CA keys on the volume"
pass "state is on the volume: $(cd "$volume" && echo *)"
"${engine[@]}" logs "$name" 2>&1 | grep -q '  airlock admin --data-dir' || fail "the start-up hints do not name the \`airlock\` command"
pass "start-up hints name \`airlock admin\`"

ssh-keyscan -p "$ssh_port" -t ed25519 127.0.0.1 2>/dev/null | grep -q ssh-ed25519 || fail "the SSH gateway does not answer"
pass "SSH gateway answers on $ssh_port"

password='smoke test password 123'
enrolment=$(printf '%s\n' "$password" | "${engine[@]}" exec -i "$name" airlock admin user add smoke --password-stdin --json) || fail "airlock admin user add"
secret=$(echo "$enrolment" | sed -n 's/.*secret=\([A-Z2-7]*\).*/\1/p')
[ -n "$secret" ] || fail "no TOTP secret in the enrolment"
pass "airlock admin user add (through exec)"
otp=$("${engine[@]}" exec -w /opt/airlock "$name" node --input-type=module -e \
  "import { TOTP } from 'otpauth'; console.log(new TOTP({ secret: '$secret' }).generate())")
token=$(curl -fsS -H 'content-type: application/json' \
  -d "{\"user\":\"smoke\",\"password\":\"$password\",\"otp\":\"$otp\"}" "http://127.0.0.1:$http_port/api/v1/login" \
  | sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
[ -n "$token" ] || fail "sign-in through the HTTP API"
ssh-keygen -q -t ed25519 -N '' -f "$keys/id_ed25519" -C smoke
cert=$(curl -fsS -H "authorization: Bearer $token" -H 'content-type: application/json' \
  -d "{\"public_key\":\"$(cat "$keys/id_ed25519.pub")\"}" "http://127.0.0.1:$http_port/api/v1/certificates")
echo "$cert" | grep -q 'ssh-ed25519-cert-v01@openssh.com' || fail "no certificate from POST /api/v1/certificates: $cert"
pass "sign-in and a certificate through the HTTP API"
echo "smoke test passed"
