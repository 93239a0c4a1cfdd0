#!/usr/bin/env bash
# The README's test command on a fresh clone: installs what the tests need — the Debian packages
# they start for real (with sudo when not root; only those missing, saying which) and the npm
# dependencies — then checks the generated sources and runs the tests. .ci/run is this script.
set -euo pipefail
cd "$(dirname "$0")/.."

# System packages the tests start for real: Prometheus scrapes a real run (promtool lints our
# metric names); Chromium opens the evaluation report (playwright-core drives /usr/bin/chromium);
# DejaVu Sans draws the text of report charts and dataset previews; openssl makes the TLS test's
# certificate; h5py writes the Keras HDF5 weights files of the --weights tests as Keras itself does
# (test/helpers/keras-h5-writer.py runs /usr/bin/python3). The control plane's tests run a real
# nats-server; the multi-host test gives coordinator, workers and nats-server hosts of their own
# with network namespaces (iproute2's `ip netns`, as root); the Slurm test runs a one-node cluster
# of its own (slurm-wlm's slurmctld and slurmd, munge for their authentication).
APT_PACKAGES=(prometheus chromium fonts-dejavu-core openssl python3-h5py nats-server iproute2 slurm-wlm munge)
MISSING=()
for package in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || MISSING+=("$package")
done
if ((${#MISSING[@]} > 0)); then
  echo "installing the Debian packages the tests need: ${MISSING[*]}"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${MISSING[@]}"
fi

node --version
npm --version
# tfjs-node and tfjs-node-gpu are optional: their install scripts need Google's servers and fail
# here, which npm reports and skips. onnxruntime-node bundles its CPU runtime; its install script
# would fetch optional CUDA binaries from api.nuget.org (and fails offline). package.json's
# allowScripts denies it (npm 11 honours that); npm 10 ignores allowScripts, so it is also told to
# skip them here.
export ONNXRUNTIME_NODE_INSTALL=skip
npm ci --no-audit --no-fund
# Generated sources must match what they are generated from: the wire types (proto/emotrain.proto)
# and the fp16 kernels (shared/fp16/kernels.wat). The build regenerates them; checking first
# catches a commit that changed a source without its generated file.
npm run check:generated
npm test
