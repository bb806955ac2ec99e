# pocketdock profile minimal-bun: Bun (from the npm registry: @oven/bun-linux-*) on Debian
# bookworm (slim). Network default: none.
#
# The tarball is pinned by version and SHA-512 (the registry's dist.integrity, turned from
# base64 to hex) per architecture; x64 takes the "baseline" build, which runs on CPUs without
# AVX2 too. The builder fetches it with ADD on the host (its CA roots, its proxy), checks the
# SHA-512, and only the stage TARGETARCH names is built. The final image holds only
# /usr/local/bin/bun (and bunx): no curl, no tarball.
ARG BUN_VERSION=1.4.5
ARG BUN_SHA512_X64=b3cc8cc187059e7ac0d7bf208e2d2065b904d965437a3fd38b5c7bef4a0f7e2871c91c5230d846862010357579dda0deada67192c76f295fd101d40109dd2a3c
ARG BUN_SHA512_AARCH64=e015e6b122a78ceae5196a99578c7fa166bb015a11f81ea509775d3333805c1226dede747ac960f706faea09ad5b501a984435975083be69abbb2b0486a39632

FROM debian:bookworm-slim AS bun-amd64
ARG BUN_VERSION
ARG BUN_SHA512_X64
ADD --checksum=sha512:${BUN_SHA512_X64} https://registry.npmjs.org/@oven/bun-linux-x64-baseline/-/bun-linux-x64-baseline-${BUN_VERSION}.tgz /tmp/bun.tgz

FROM debian:bookworm-slim AS bun-arm64
ARG BUN_VERSION
ARG BUN_SHA512_AARCH64
ADD --checksum=sha512:${BUN_SHA512_AARCH64} https://registry.npmjs.org/@oven/bun-linux-aarch64/-/bun-linux-aarch64-${BUN_VERSION}.tgz /tmp/bun.tgz

# FROM expands the automatic TARGETARCH (amd64 or arm64); another architecture has no stage.
FROM bun-${TARGETARCH} AS bun
RUN tar -xzf /tmp/bun.tgz -C /tmp package/bin/bun \
 && install -m 0755 /tmp/package/bin/bun /usr/local/bin/bun \
 && ln -s bun /usr/local/bin/bunx \
 && /usr/local/bin/bun --version

FROM debian:bookworm-slim
ARG DEBIAN_FRONTEND=noninteractive
# The user every profile runs as: sandbox (uid 1000, group sandbox 1000, also in dialout for
# serial devices), home /home/sandbox. The same first step in every profile, so builds share it.
RUN groupadd --gid 1000 sandbox \
 && useradd --uid 1000 --gid 1000 --groups dialout --create-home --home-dir /home/sandbox \
      --shell /bin/bash sandbox
COPY --from=bun /usr/local/bin/ /usr/local/bin/
ENV LANG=C.UTF-8
WORKDIR /home/sandbox
USER sandbox
LABEL io.pocketdock.profile=minimal-bun
