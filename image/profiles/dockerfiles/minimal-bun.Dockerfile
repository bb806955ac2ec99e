# pocketdock profile minimal-bun: Bun (from the npm registry: @oven/bun-linux-*) on Debian
# bookworm (slim). Network default: none.
#
# The tarball is pinned by version and SHA-512 (the registry's dist.integrity) per architecture;
# x64 takes the "baseline" build, which runs on CPUs without AVX2 too. curl is removed again in
# the same step, so the image holds only /usr/local/bin/bun (and bunx).
FROM debian:bookworm-slim
ARG DEBIAN_FRONTEND=noninteractive
# The user every profile runs as: sandbox (uid 1000, group sandbox 1000, also in dialout for
# serial devices), home /home/sandbox. The same first step in every profile, so builds share it.
RUN groupadd --gid 1000 sandbox \
 && useradd --uid 1000 --gid 1000 --groups dialout --create-home --home-dir /home/sandbox \
      --shell /bin/bash sandbox
ARG BUN_VERSION=1.4.5
ARG BUN_SHA512_X64=b3cc8cc187059e7ac0d7bf208e2d2065b904d965437a3fd38b5c7bef4a0f7e2871c91c5230d846862010357579dda0deada67192c76f295fd101d40109dd2a3c
ARG BUN_SHA512_AARCH64=e015e6b122a78ceae5196a99578c7fa166bb015a11f81ea509775d3333805c1226dede747ac960f706faea09ad5b501a984435975083be69abbb2b0486a39632
RUN set -eu; \
    case "$(dpkg --print-architecture)" in \
      amd64) pkg=bun-linux-x64-baseline; sum=$BUN_SHA512_X64 ;; \
      arm64) pkg=bun-linux-aarch64; sum=$BUN_SHA512_AARCH64 ;; \
      *) echo "minimal-bun: no Bun build for $(dpkg --print-architecture)" >&2; exit 1 ;; \
    esac; \
    apt-get update; \
    apt-get install -y --no-install-recommends ca-certificates curl; \
    curl -fsSL --retry 3 -o /tmp/bun.tgz "https://registry.npmjs.org/@oven/$pkg/-/$pkg-$BUN_VERSION.tgz"; \
    echo "$sum  /tmp/bun.tgz" | sha512sum -c -; \
    tar -xzf /tmp/bun.tgz -C /tmp package/bin/bun; \
    install -m 0755 /tmp/package/bin/bun /usr/local/bin/bun; \
    ln -s bun /usr/local/bin/bunx; \
    rm -rf /tmp/bun.tgz /tmp/package; \
    apt-get purge -y --auto-remove ca-certificates curl; \
    apt-get clean; \
    rm -rf /var/lib/apt/lists/* /var/log/apt/* /var/log/dpkg.log /var/cache/debconf/*-old /var/lib/dpkg/*-old; \
    bun --version
ENV LANG=C.UTF-8
WORKDIR /home/sandbox
USER sandbox
LABEL io.pocketdock.profile=minimal-bun
