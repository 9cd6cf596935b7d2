#!/usr/bin/env bash
# Enrolls the compose file's clients, once, before `docker compose up`:
# creates the server's CURVE keypair in the server-state volume, then for each
# client-I an enrolled key file (name client-I, its keypair, the server's
# public key; mode 0600) directly in that client's volume. Uses only the image.
#   deploy/docker/enroll.sh [N=3]
set -euo pipefail
N=${1:-3}
COMPOSE=(docker compose -f "$(dirname "$0")/compose.yaml")
"${COMPOSE[@]}" run --rm --no-deps server fedpress-server --config /etc/fedpress/server.toml show-key
for i in $(seq 0 $((N - 1))); do
  # Mounted where the image has a fedpress-owned directory, so a new volume
  # gets that owner (uid 10001), as in the client's container.
  "${COMPOSE[@]}" run --rm --no-deps -v "fedpress_client-$i-state:/var/lib/fedpress/client" server \
    fedpress-server --config /etc/fedpress/server.toml enroll --name "client-$i" \
    --out /var/lib/fedpress/client/client.key
done
echo "enrolled client-0..client-$((N - 1)); now: docker compose -f deploy/docker/compose.yaml up -d"
