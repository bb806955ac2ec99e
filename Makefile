# pocketdock — `make` (or `make help`) lists the targets.
#
# Go is found on PATH, else at /usr/local/go/bin/go (sudo drops /usr/local/go/bin from PATH);
# override with `make GO=/path/to/go`.

SHELL := /bin/bash
.DEFAULT_GOAL := help
# Prerequisites run in the order written (deps before fixtures before tests), even under -j.
.NOTPARALLEL:

GO ?= $(shell command -v go 2>/dev/null || echo /usr/local/go/bin/go)
GOBIN_DIR := $(patsubst %/,%,$(dir $(GO)))
export PATH := $(GOBIN_DIR):$(PATH)

BUILD_TAGS := containers_image_openpgp exclude_graphdriver_btrfs seccomp netgo osusergo
export CGO_ENABLED := 1

# Debian/Ubuntu packages that `deps` installs when any is missing.
DEB_PACKAGES := libseccomp-dev pkg-config busybox-static debootstrap debian-archive-keyring gcc binutils file tmux

AGENT_ARCHES := amd64 arm64
# Fixed so that `make agent` gives the same bytes on every amd64 or arm64 host.
AGENT_ENV := CGO_ENABLED=0 GOOS=linux GOAMD64=v1 GOARM64=v8.0 GOFLAGS=
AGENT_FLAGS := -trimpath -buildvcs=false -ldflags '-s -w -buildid='

.PHONY: help deps agent agent-check static-check build fixtures test demo bench lint clean check-root check-go
.PHONY: profiles profiles-check
.PHONY: vm-test build-arm64 arm64-deps vagrant-validate

help: ## list the targets
	@echo "pocketdock make targets (Go: $(GO)):"
	@awk 'BEGIN { FS = ":.*## " } /^[a-z][a-z-]*:.*## / { printf "  %-12s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

check-go:
	@[ -x "$(GO)" ] || { echo "Go not found (looked on PATH and at /usr/local/go/bin/go); install Go >= 1.26 or run make GO=/path/to/go" >&2; exit 1; }

check-root:
	@[ "$$(id -u)" = 0 ] || { echo "make $(MAKECMDGOALS): must run as root (containers, mounts, cgroups): sudo make $(MAKECMDGOALS)" >&2; exit 1; }

deps: check-go ## install missing Debian packages (apt-get, as root) and download Go modules
	@if ! command -v dpkg-query >/dev/null; then \
		echo "deps: no dpkg-query (not Debian/Ubuntu); make sure these are installed: $(DEB_PACKAGES)"; \
	else \
		missing=""; \
		for p in $(DEB_PACKAGES); do \
			dpkg-query -W -f='$${Status}' "$$p" 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
		done; \
		if [ -z "$$missing" ]; then \
			echo "deps: Debian packages present: $(DEB_PACKAGES)"; \
		elif [ "$$(id -u)" != 0 ]; then \
			echo "deps: missing Debian packages:$$missing; run as root: sudo make deps" >&2; exit 1; \
		else \
			echo "deps: installing missing Debian packages:$$missing"; \
			echo "deps: apt-get update"; \
			DEBIAN_FRONTEND=noninteractive apt-get update -q || exit 1; \
			echo "deps: apt-get install -y$$missing"; \
			DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing || exit 1; \
		fi; \
	fi
	@echo "deps: $(GO) mod download"
	@$(GO) mod download

agent: check-go ## regenerate runtime/initbin/pocketdock-init-{amd64,arm64} (reproducible; commit them)
	@for arch in $(AGENT_ARCHES); do \
		echo "agent: runtime/initbin/pocketdock-init-$$arch"; \
		$(AGENT_ENV) GOARCH=$$arch $(GO) build $(AGENT_FLAGS) -o runtime/initbin/pocketdock-init-$$arch ./cmd/pocketdock-init || exit 1; \
	done

agent-check: check-go ## fail if the committed agent binaries differ from a fresh build
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; fail=0; \
	for arch in $(AGENT_ARCHES); do \
		$(AGENT_ENV) GOARCH=$$arch $(GO) build $(AGENT_FLAGS) -o "$$tmp/pocketdock-init-$$arch" ./cmd/pocketdock-init || exit 1; \
		if cmp -s "$$tmp/pocketdock-init-$$arch" runtime/initbin/pocketdock-init-$$arch; then \
			echo "agent-check: runtime/initbin/pocketdock-init-$$arch matches a fresh build"; \
		else \
			echo "agent-check: runtime/initbin/pocketdock-init-$$arch differs from a fresh build with $$($(GO) version); run make agent and commit the result" >&2; \
			fail=1; \
		fi; \
	done; \
	exit $$fail

build: check-go ## build bin/pocketdock (static, cgo, with the BUILD_TAGS)
	@mkdir -p bin
	$(GO) build -trimpath -tags "$(BUILD_TAGS)" -ldflags '-s -w -extldflags -static' -o bin/pocketdock ./cmd/pocketdock

fixtures: deps ## build test/fixtures/out/{busybox,minimal-python,debian-base}.tar (cached; building needs root)
	@GO="$(GO)" bash test/fixtures/build.sh

static-check: build ## check that bin/pocketdock is a static executable (no ELF interpreter)
	@if readelf -l bin/pocketdock | grep -q 'program interpreter'; then \
		echo "static-check: bin/pocketdock is dynamically linked" >&2; exit 1; \
	else echo "static-check: bin/pocketdock is static"; fi

test: check-root deps fixtures lint agent-check static-check ## run every test, root integration tests included (as root)
	$(GO) test -tags "$(BUILD_TAGS)" -count=1 -timeout 20m ./...

demo: check-root deps build fixtures ## build, import the fixtures and run the demo (as root)
	@bash test/demo.sh

profiles: check-root deps build fixtures ## build the six profile images (as root; state root POCKETDOCK_ROOT; reaches the Debian mirror and npm), print sizes and times
	@bash test/profiles.sh

profiles-check: check-root build ## after make profiles: a container of each profile runs as sandbox and has its tools
	@bash test/profiles-check.sh

bench: check-root deps build fixtures ## run the benchmarks (as root; BENCH_ARGS="-only pss|run|snapshot" runs one group)
	$(GO) run -tags "$(BUILD_TAGS)" ./test/bench $(BENCH_ARGS)

lint: check-go ## gofmt (must list nothing) and go vet
	@echo "lint: gofmt -l ."
	@out=$$(gofmt -l .) || exit 1; \
	if [ -n "$$out" ]; then echo "lint: not gofmt-formatted (run gofmt -w):" >&2; echo "$$out" >&2; exit 1; fi
	$(GO) vet -tags "$(BUILD_TAGS)" ./...

clean: ## remove bin/ and test/fixtures/out/ (the fixture cache stays)
	rm -rf bin test/fixtures/out

# make vm-test: the Debian packages it needs too, and which tests of test/ it
# runs (a `go test -run` regexp: the cgroup-sensitive ones and a lifecycle smoke test).
VM_DEB_PACKAGES := qemu-system-x86 cpio kmod
VM_RUN ?= Cgroup|Limit|OOM|Memory|CPU|Pids|ForkBomb|Info|Device|Pty|CLILifecycle|RunBasics|Timeout|Shutdown|Background
# Tests left out (a `go test -skip` regexp; empty: none), e.g. VM_SKIP=TestX.
VM_SKIP ?=

vm-test: DEB_PACKAGES += $(VM_DEB_PACKAGES)
vm-test: check-root deps fixtures build ## run the cgroup-sensitive tests of test/ in a qemu VM on pure cgroup v2 (as root; VM_RUN=regexp)
	$(GO) test -c -tags "$(BUILD_TAGS)" -ldflags '-s -w -extldflags -static' -o bin/pocketdock.test ./test
	test/vm/run.sh bin/pocketdock.test bin/pocketdock test/fixtures/out -test.v -test.count=1 -test.timeout 20m -test.run '$(VM_RUN)' -test.skip '$(VM_SKIP)'

# make build-arm64: Debian's cross gcc, and libseccomp (static) from the arm64
# dpkg architecture (multiarch), which arm64-deps adds when it is missing.
ARM64_DEB_PACKAGES := gcc-aarch64-linux-gnu libc6-dev-arm64-cross libseccomp-dev:arm64

arm64-deps:
	@if command -v dpkg >/dev/null && ! dpkg --print-foreign-architectures | grep -qx arm64; then \
		if [ "$$(id -u)" != 0 ]; then echo "arm64-deps: the arm64 dpkg architecture is missing; run as root: sudo make build-arm64" >&2; exit 1; fi; \
		echo "arm64-deps: dpkg --add-architecture arm64; apt-get update"; \
		dpkg --add-architecture arm64 && DEBIAN_FRONTEND=noninteractive apt-get update -q || exit 1; \
	fi

build-arm64: DEB_PACKAGES += $(ARM64_DEB_PACKAGES)
build-arm64: arm64-deps deps ## cross-compile bin/pocketdock-arm64 (static, cgo with gcc-aarch64-linux-gnu and libseccomp-dev:arm64)
	@mkdir -p bin
	GOARCH=arm64 CC=aarch64-linux-gnu-gcc PKG_CONFIG_LIBDIR=/usr/lib/aarch64-linux-gnu/pkgconfig \
		$(GO) build -trimpath -tags "$(BUILD_TAGS)" -ldflags '-s -w -extldflags -static' -o bin/pocketdock-arm64 ./cmd/pocketdock
	@out=$$(file -b bin/pocketdock-arm64); echo "build-arm64: bin/pocketdock-arm64: $$out"; \
	case "$$out" in *"ARM aarch64"*"statically linked"*) ;; *) echo "build-arm64: not a static aarch64 executable" >&2; exit 1 ;; esac

vagrant-validate: DEB_PACKAGES += vagrant
vagrant-validate: deps ## check the Vagrantfile with Debian's vagrant (no provider needed)
	vagrant validate --ignore-provider
