#!/usr/bin/env bash
# By-hand check of deploy/docker/Dockerfile without a Docker engine: replays
# its stages in a Debian 12 chroot made by debootstrap. Not a ctest test: it
# needs root and downloads several hundred MB from the Debian mirror.
#
#   tests/deploy/chroot_image_check.sh BUILD_DIR [CHROOT_DIR]
#
# - build stage: the apt packages it installs all resolve on bookworm
#   (`apt-get install --simulate` in the chroot);
# - runtime stage: the same commands as the Dockerfile (fedpress user with
#   uid 10001, `apt-get install ./fedpress_*.deb dataset-fashion-mnist ...`)
#   on a minbase bookworm, with the .deb made by `cpack -G DEB` in BUILD_DIR;
# - then, as uid 10001 inside the chroot, the image's default server command
#   plus a client run a 1-round mlp job (loopback ports of this machine).
# The chroot (default BUILD_DIR/chroot-check/rootfs) is reused if present.
set -euo pipefail
BUILD=$(cd "${1:?usage: $0 BUILD_DIR [CHROOT_DIR]}" && pwd)
ROOT=${2:-$BUILD/chroot-check/rootfs}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
DOCKERFILE="$SRC/deploy/docker/Dockerfile"
MIRROR=${MIRROR:-http://deb.debian.org/debian}
[ "$(id -u)" = 0 ] || { echo "needs root (debootstrap, chroot)"; exit 77; }
log() { echo "== $*"; }

if [ ! -x "$ROOT/usr/bin/apt-get" ]; then
  log "debootstrap bookworm (minbase) into $ROOT"
  mkdir -p "$ROOT"
  debootstrap --variant=minbase bookworm "$ROOT" "$MIRROR"
fi
mounted=()
cleanup() {
  [ -n "${SERVER_PID:-}" ] && kill -TERM "$SERVER_PID" "${CLIENT_PID:-}" 2>/dev/null || true
  sleep 1
  for m in "${mounted[@]}"; do umount -l "$m" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM
for m in proc dev; do
  mountpoint -q "$ROOT/$m" || { [ $m = proc ] && mount -t proc proc "$ROOT/proc" || mount --bind /dev "$ROOT/dev"; }
  mounted+=("$ROOT/$m")
done
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
in_root() { chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive "$@"; }

# Build stage: the package list between the build stage's `apt-get install`
# and its `rm -rf /var/lib/apt/lists`.
BUILD_PKGS=$(awk '/^FROM debian:12 AS build/{s=1} s&&/apt-get install/{p=1;next} p&&/rm -rf/{exit} p' "$DOCKERFILE" \
  | tr -d '\\' | tr -s ' \n' ' ')
log "build stage packages: $BUILD_PKGS"
in_root apt-get update -qq
# shellcheck disable=SC2086
in_root apt-get install --simulate -y --no-install-recommends $BUILD_PKGS > "$BUILD/chroot-check/build-stage-simulate.log"
log "build stage: all $(echo $BUILD_PKGS | wc -w) packages resolve ($(grep -c '^Inst ' "$BUILD/chroot-check/build-stage-simulate.log") to install)"

# Runtime stage, as in the Dockerfile.
DEB=$(ls -t "$BUILD"/fedpress_*.deb 2>/dev/null | head -n 1)
[ -n "$DEB" ] || { echo "no $BUILD/fedpress_*.deb: run 'cd $BUILD && cpack -G DEB' first"; exit 1; }
cp "$DEB" "$ROOT/tmp/fedpress.deb"
if ! in_root getent passwd fedpress >/dev/null; then
  in_root groupadd --system --gid 10001 fedpress
  in_root useradd --system --uid 10001 --gid fedpress --home-dir /var/lib/fedpress --no-create-home \
    --shell /usr/sbin/nologin fedpress
fi
log "runtime stage: apt-get install $(basename "$DEB") dataset-fashion-mnist curl ca-certificates"
in_root apt-get install -y -qq --no-install-recommends /tmp/fedpress.deb dataset-fashion-mnist curl ca-certificates \
  > "$BUILD/chroot-check/runtime-install.log"
in_root install -d -o fedpress -g fedpress -m 0700 /var/lib/fedpress/server /var/lib/fedpress/client
in_root sh -c 'rm -rf /var/lib/fedpress/server/* /var/lib/fedpress/client/*'   # a fresh state each run
for b in fedpress-server fedpress-client fedpress-model; do
  in_root "$b" --help > /dev/null || { echo "$b does not start in the runtime image"; exit 1; }
done
log "runtime stage: binaries start; installed size $(du -shx "$ROOT" 2>/dev/null | cut -f1) (the chroot, not the slim image)"

# Enrollment as deploy/docker/enroll.sh does it, then the image's default
# command (CMD), on free loopback ports, as uid 10001.
as_user() { chroot --userspec=10001:10001 "$ROOT" /usr/bin/env -i PATH=/usr/bin:/bin HOME=/var/lib/fedpress "$@"; }
as_user fedpress-server --config /etc/fedpress/server.toml show-key > /dev/null
as_user fedpress-server --config /etc/fedpress/server.toml enroll --name chroot-0 \
  --out /var/lib/fedpress/client/client.key > /dev/null
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ZP=$(free_port); HP=$(free_port)
( cd "$ROOT/var/lib/fedpress" && as_user fedpress-server --config /etc/fedpress/server.toml \
    --bind "tcp://127.0.0.1:$ZP" --http "127.0.0.1:$HP" --eval-limit 500 ) > "$BUILD/chroot-check/server.log" 2>&1 &
SERVER_PID=$!
API="http://127.0.0.1:$HP"
for _ in $(seq 1 150); do curl -sf "$API/healthz" >/dev/null 2>&1 && break; sleep 0.2; done
curl -sf "$API/healthz" >/dev/null || { cat "$BUILD/chroot-check/server.log"; echo "server did not start"; exit 1; }
AUTH="Authorization: Bearer $(cat "$ROOT/var/lib/fedpress/server/admin-token")"
( as_user fedpress-client --config /etc/fedpress/client.toml --server "tcp://127.0.0.1:$ZP" \
    --limit 600 ) > "$BUILD/chroot-check/client.log" 2>&1 &
CLIENT_PID=$!
for _ in $(seq 1 150); do
  [ "$(curl -sf -H "$AUTH" "$API/api/clients" | jq '[.[]|select(.connected)]|length')" = 1 ] && break; sleep 0.2
done
JOB=$(curl -sf -H "$AUTH" -X POST "$API/api/jobs" -d '{"name":"chroot","model":"mlp","rounds":1,"clients_per_round":1,"min_clients":1}' | jq -r .id)
for _ in $(seq 1 600); do
  st=$(curl -sf -H "$AUTH" "$API/api/jobs/$JOB" | jq -r .status)
  case "$st" in completed|failed|cancelled) break ;; esac
  sleep 0.5
done
acc=$(curl -sf -H "$AUTH" "$API/api/jobs/$JOB/rounds" | jq -r '.[0].accuracy')
[ "$st" = completed ] || { tail -n 30 "$BUILD"/chroot-check/*.log; echo "job $st"; exit 1; }
grep -qE "dashboard from /usr/(bin/\.\./)?share/fedpress/web" "$BUILD/chroot-check/server.log" \
  || echo "NOTE: the server did not find the dashboard of the .deb"
log "runtime image: server + client as uid 10001 ran job $JOB: status $st, accuracy $acc"
