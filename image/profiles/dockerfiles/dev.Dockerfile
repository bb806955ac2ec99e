# pocketdock profile dev: a general development box on Debian bookworm (slim): git, curl,
# build-essential (gcc, g++, make), Python 3 with pip and venv, Node.js with npm, vim-tiny, less,
# procps. Network default: bridge.
FROM debian:bookworm-slim
ARG DEBIAN_FRONTEND=noninteractive
# The user every profile runs as: sandbox (uid 1000, group sandbox 1000, also in dialout for
# serial devices), home /home/sandbox. The same first step in every profile, so builds share it.
RUN groupadd --gid 1000 sandbox \
 && useradd --uid 1000 --gid 1000 --groups dialout --create-home --home-dir /home/sandbox \
      --shell /bin/bash sandbox
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      ca-certificates curl git build-essential python3 python3-pip python3-venv \
      nodejs npm vim-tiny less procps \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/log/apt/* /var/log/dpkg.log /var/cache/debconf/*-old /var/lib/dpkg/*-old
ENV LANG=C.UTF-8
WORKDIR /home/sandbox
USER sandbox
LABEL io.pocketdock.profile=dev
