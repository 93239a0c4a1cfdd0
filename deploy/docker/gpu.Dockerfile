# syntax=docker/dockerfile:1
# The GPU image for workers: tfjs-node-gpu 4.22 (libtensorflow 2.9, which needs CUDA 11.2 and
# cuDNN 8.1) on NVIDIA's CUDA 11.2 + cuDNN 8 image (cuDNN 8.1.1), with Node.js 20 copied from the
# official node image (its binaries need glibc 2.28; Ubuntu 20.04 has 2.31). tfjs-node-gpu's install
# script downloads libtensorflow from Google's storage, so this build needs the internet.
#   docker build -f deploy/docker/gpu.Dockerfile -t localhost/emotrain:gpu .
#   docker run --gpus all localhost/emotrain:gpu node dist/worker/main.js --coordinator HOST:50051 --gpu 0
# (EMOTRAIN_TOKEN in the environment.) The worker selects tfjs-node-gpu with --backend auto.
ARG CUDA_IMAGE=docker.io/nvidia/cuda:11.2.2-cudnn8-runtime-ubuntu20.04
ARG CUDA_DEVEL_IMAGE=docker.io/nvidia/cuda:11.2.2-cudnn8-devel-ubuntu20.04
ARG NODE_IMAGE=docker.io/library/node:20-bookworm-slim

FROM ${NODE_IMAGE} AS node

# Built on the same Ubuntu as the runtime, so tfjs-node-gpu's native addon links against its glibc.
FROM ${CUDA_DEVEL_IMAGE} AS build
COPY --from=node /usr/local/bin/node /usr/local/bin/node
COPY --from=node /usr/local/lib/node_modules /usr/local/lib/node_modules
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
 && apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 make g++ ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/emotrain
COPY . .
ENV ONNXRUNTIME_NODE_INSTALL=skip
RUN npm ci --no-audit --no-fund \
 && node -e "require.resolve('@tensorflow/tfjs-node-gpu')" \
 && npm prune --omit=dev --no-audit --no-fund

FROM ${CUDA_IMAGE}
COPY --from=node /usr/local/bin/node /usr/local/bin/node
WORKDIR /opt/emotrain
ENV NODE_ENV=production \
    EMOTRAIN_CACHE=/var/cache/emotrain
COPY --from=build /opt/emotrain/package.json ./
COPY --from=build /opt/emotrain/proto ./proto
COPY --from=build /opt/emotrain/dist ./dist
COPY --from=build /opt/emotrain/node_modules ./node_modules
RUN useradd --uid 1000 --create-home emotrain && mkdir -p /var/cache/emotrain && chown 1000 /var/cache/emotrain
USER 1000
CMD ["node", "dist/worker/main.js", "--help"]
