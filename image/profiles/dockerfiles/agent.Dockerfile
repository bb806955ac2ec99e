# pocketdock profile agent: Python 3 with the libraries AI agents reach for, all Debian packages:
# requests, httpx, beautifulsoup4, lxml, pandas, numpy, PyYAML, toml, Pillow; plus curl and git.
# Network default: none (an agent's code runs cut off unless the container asks for bridge).
FROM debian:bookworm-slim
ARG DEBIAN_FRONTEND=noninteractive
# The user every profile runs as: sandbox (uid 1000, group sandbox 1000, also in dialout for
# serial devices), home /home/sandbox. The same first step in every profile, so builds share it.
RUN groupadd --gid 1000 sandbox \
 && useradd --uid 1000 --gid 1000 --groups dialout --create-home --home-dir /home/sandbox \
      --shell /bin/bash sandbox
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      python3 python3-requests python3-httpx python3-bs4 python3-lxml python3-pandas \
      python3-numpy python3-yaml python3-toml python3-pil ca-certificates curl git \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/log/apt/* /var/log/dpkg.log /var/cache/debconf/*-old /var/lib/dpkg/*-old
ENV LANG=C.UTF-8
WORKDIR /home/sandbox
USER sandbox
LABEL io.pocketdock.profile=agent
