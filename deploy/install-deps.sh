#!/usr/bin/env bash
# Installs every Debian package fedpress needs to build, test and run its demo.
# Idempotent: packages already present are skipped; apt is only touched when
# something is missing. Run as root (or with sudo available).
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config git
  libtorch-dev                       # client trainer and evaluator (CPU)
  libboost-dev libboost-system-dev    # Asio + Beast (header-only in 1.74)
  libssl-dev                          # Beast TLS
  libzmq3-dev cppzmq-dev              # transport
  libzstd-dev                         # entropy coding
  zlib1g-dev                          # gzip IDX data sets (client)
  libsqlite3-dev sqlite3              # round state
  nlohmann-json3-dev                  # JSON
  libcli11-dev                        # command lines
  libspdlog-dev libfmt-dev            # logging
  libtomlplusplus-dev                 # config files
  googletest libgtest-dev libgmock-dev libbenchmark-dev
  dataset-fashion-mnist               # real data
  chromium                            # dashboard browser tests
  wrk                                 # HTTP load benchmark (tests/bench/http_load.sh)
  clang libclang-rt-14-dev llvm       # libFuzzer + ASan/UBSan runtimes, llvm-symbolizer (make test-fuzz)
  iproute2 procps curl jq
  nftables                            # testbed packet loss where the kernel has no netem (deploy/testbed)
  iptables libnetfilter-queue-dev     # testbed delay where the kernel has no netem (NFQUEUE, fedpress-netdelay)
  iputils-ping                        # testbed: measures the links' round trip
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

# Node.js and npm build the dashboard. A machine may already have them from
# another source (whose nodejs bundles npm and conflicts with Debian's npm):
# only ask apt for what no command provides.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "install-deps: done"
