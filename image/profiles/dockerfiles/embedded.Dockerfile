# pocketdock profile embedded: microcontroller work on Debian bookworm (slim): gcc, g++, make,
# cmake, ninja, gdb-multiarch, strace, the ARM bare-metal cross compiler (gcc-arm-none-eabi with
# newlib; C only: libstdc++-arm-none-eabi-newlib would add 1.6 GB), picocom for serial consoles,
# Python 3, curl. Network default: bridge. The user sandbox is in dialout, so passed-in serial
# devices (/dev/ttyUSB0, /dev/ttyACM0) open without root.
# PlatformIO and arduino-cli are not Debian packages: see README.md (Profiles) for a derived
# Dockerfile that adds them.
FROM debian:bookworm-slim
ARG DEBIAN_FRONTEND=noninteractive
# The user every profile runs as: sandbox (uid 1000, group sandbox 1000, also in dialout for
# serial devices), home /home/sandbox. The same first step in every profile, so builds share it.
RUN groupadd --gid 1000 sandbox \
 && useradd --uid 1000 --gid 1000 --groups dialout --create-home --home-dir /home/sandbox \
      --shell /bin/bash sandbox
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      gcc g++ make cmake ninja-build gdb-multiarch strace \
      gcc-arm-none-eabi libnewlib-arm-none-eabi \
      picocom python3 ca-certificates curl \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/log/apt/* /var/log/dpkg.log /var/cache/debconf/*-old /var/lib/dpkg/*-old
ENV LANG=C.UTF-8
WORKDIR /home/sandbox
USER sandbox
LABEL io.pocketdock.profile=embedded
