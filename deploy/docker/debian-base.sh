#!/usr/bin/env bash
# A base image for the Dockerfile made without any image registry: a minimal Debian bookworm from
# Debian's own archive (debootstrap), with this host's Node.js copied in (Debian's nodejs is 18;
# emotrain needs >= 20.19), imported into podman (or docker) as localhost/emotrain-base:bookworm.
#   sudo deploy/docker/debian-base.sh [podman|docker]
# Needs: debootstrap, and node + npm installed under /usr (as NodeSource's nodejs package puts them).
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
rm -rf "$ROOT/var/cache/apt/archives/"*.deb "$ROOT/var/lib/apt/lists/"*
tar -C "$ROOT" -c . | "$ENGINE" import --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin' - "$TAG"
echo "imported $TAG"
