# pocketdock profile minimal-node: Node.js (Debian's nodejs) on Debian bookworm (slim).
# Network default: none. No npm here (the dev profile has it).
FROM debian:bookworm-slim
ARG DEBIAN_FRONTEND=noninteractive
# The user every profile runs as: sandbox (uid 1000, group sandbox 1000, also in dialout for
# serial devices), home /home/sandbox. The same first step in every profile, so builds share it.
RUN groupadd --gid 1000 sandbox \
 && useradd --uid 1000 --gid 1000 --groups dialout --create-home --home-dir /home/sandbox \
      --shell /bin/bash sandbox
RUN apt-get update \
 && apt-get install -y --no-install-recommends nodejs \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/log/apt/* /var/log/dpkg.log /var/cache/debconf/*-old /var/lib/dpkg/*-old
ENV LANG=C.UTF-8
WORKDIR /home/sandbox
USER sandbox
LABEL io.pocketdock.profile=minimal-node
