#!/usr/bin/env bash
# A base image for the Dockerfile made without any image registry: a minimal Debian bookworm from
# Debian's own archive (debootstrap), with this host's Node.js copied in (Debian's nodejs is 18;
# emotrain needs >= 20.19), imported into podman (or docker) as localhost/emotrain-base:bookworm.
#   sudo deploy/docker/debian-base.sh [podman|docker]
# Needs: debootstrap, and node + npm installed under /usr (as NodeSource's nodejs package puts them).
# Behind a TLS-intercepting proxy, EXTRA_CA_CERTS=/path/to/proxy-ca.pem makes the image trust it
# (npm ci inside the build reaches the npm registry through the proxy).
set -euo pipefail
ENGINE="${1:-podman}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
TAG="${BASE_TAG:-localhost/emotrain-base:bookworm}"
NODE="$(command -v node)"
NPM_DIR="$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")"   # .../node_modules/npm/bin/npm-cli.js -> .../node_modules/npm
node -e 'const [a, b] = process.versions.node.split(".").map(Number); if (a < 20 || (a === 20 && b < 19)) { console.error(`node ${process.version} is older than 20.19`); process.exit(1); }'

ROOT="$(mktemp -d)"
trap 'rm -rf "$ROOT"' EXIT
debootstrap --variant=minbase --include=ca-certificates bookworm "$ROOT" "$MIRROR"
install -D -m 0755 "$NODE" "$ROOT/usr/local/bin/node"
mkdir -p "$ROOT/usr/local/lib/node_modules"
cp -a "$NPM_DIR" "$ROOT/usr/local/lib/node_modules/npm"
ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$ROOT/usr/local/bin/npm"
ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$ROOT/usr/local/bin/npx"
CHANGES=(--change 'ENV PATH=/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin')
if [ -n "${EXTRA_CA_CERTS:-}" ]; then
  install -D -m 0644 "$EXTRA_CA_CERTS" "$ROOT/usr/local/share/ca-certificates/extra-ca.crt"
  chroot "$ROOT" update-ca-certificates
  # Node.js trusts its own bundled CAs only, unless told of more.
  CHANGES+=(--change 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt')
fi
rm -rf "$ROOT/var/cache/apt/archives/"*.deb "$ROOT/var/lib/apt/lists/"*
tar -C "$ROOT" -c . | "$ENGINE" import "${CHANGES[@]}" - "$TAG"
echo "imported $TAG"
