#!/usr/bin/env bash
# berth set-up: idempotent, run as root. Installs what berth needs (Debian packages, Node 24
# when the system's Node is older than 22.15, npm packages), builds berth-init with cc and
# bundles the TypeScript entry points.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")"

if [ "$(id -u)" != 0 ]; then
  echo "setup.sh: run as root (berth makes namespaces, cgroups and mounts)" >&2
  exit 1
fi

# Debian packages: the C helper's build (cc, libseccomp), ISA-L (libisal2: gzip layers inflate
# ~3.5x faster than with zlib; berth falls back to zlib without it), the test image
# (busybox-static), the peers the benchmarks compare with (runc, crun), networking tools and the
# test registry; aardvark-dns answers container names on user networks (netavark: podman's
# network stack, for the benchmarks; iperf3 measures throughput); lxcfs is what the limits view's
# benchmark compares with (bench/limits-view.mjs starts its own: the service stays off);
# docker-compose (1.29) drives `berth serve` in its tests.
PACKAGES="build-essential libseccomp-dev pkg-config libisal2 busybox-static iproute2 nftables aardvark-dns netavark iperf3 lxcfs runc crun containerd skopeo umoci podman docker-registry debootstrap uidmap apache2-utils python3 bsdutils docker-compose"
missing=""
for p in $PACKAGES; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "setup.sh: installing Debian packages:$missing"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
  case " $missing " in
  *" lxcfs "*) if command -v systemctl >/dev/null && systemctl is-active -q lxcfs 2>/dev/null; then systemctl disable -q --now lxcfs; fi ;;
  esac
fi

# npm packages (Node 24 comes as the npm package `node`, a devDependency)
if [ ! -x node_modules/node/bin/node ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
node_modules/node/bin/node scripts/build.mjs
# the offline default image: busybox:latest from Debian's busybox-static (same image ID every run)
node_modules/node/bin/node scripts/make-busybox-image.mjs
echo "setup.sh: done. Try: ./bin/berth run --rm busybox echo hello"
