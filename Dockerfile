# syntax=docker/dockerfile:1
# The CPU image: coordinator, worker and emotrain, training on the wasm backend (or tfjs-node when
# its install script could fetch libtensorflow at build time). deploy/docker-compose.yml and the
# coordinator of deploy/kubernetes/ use it; workers on GPUs use deploy/docker/gpu.Dockerfile.
#   docker build -t localhost/emotrain:cpu .
#   podman build -t localhost/emotrain:cpu .
# BASE_IMAGE is any Debian-like image with Node.js >= 20.19 and npm; deploy/docker/debian-base.sh
# makes one from Debian's own archive with debootstrap, for hosts that reach no image registry:
#   podman build --build-arg BASE_IMAGE=localhost/emotrain-base:bookworm -t localhost/emotrain:cpu .
ARG BASE_IMAGE=docker.io/library/node:20-bookworm-slim

FROM ${BASE_IMAGE} AS build
WORKDIR /opt/emotrain
COPY . .
# onnxruntime-node's install script would fetch optional CUDA binaries; the CPU runtime is bundled.
ENV ONNXRUNTIME_NODE_INSTALL=skip
# npm ci builds (the prepare script: wire types, wasm kernels, tsc), then the dev tools go.
RUN npm ci --no-audit --no-fund && npm prune --omit=dev --no-audit --no-fund

FROM ${BASE_IMAGE}
WORKDIR /opt/emotrain
ENV NODE_ENV=production \
    EMOTRAIN_CACHE=/var/cache/emotrain
COPY --from=build /opt/emotrain/package.json ./
COPY --from=build /opt/emotrain/proto ./proto
COPY --from=build /opt/emotrain/dist ./dist
COPY --from=build /opt/emotrain/node_modules ./node_modules
# Not root: uid 1000 (the node images' `node` user; made here on other bases).
RUN (id -u 1000 >/dev/null 2>&1 || useradd --uid 1000 --create-home emotrain) \
 && mkdir -p /var/cache/emotrain /runs && chown 1000 /var/cache/emotrain /runs
USER 1000
# gRPC for workers, Prometheus metrics (not dcgm-exporter's 9400)
EXPOSE 50051 9478
CMD ["node", "dist/cli/emotrain.js", "--help"]
