# bothy: the front door. The build itself is meson + ninja.
#   make deps    install the Debian packages needed to build and test
#   make         build (build/bothy, build/bothy-runtime)
#   make demo    deps + build + install the static-site app and print its address
#   make check   deps + build + every test suite (also under ASan+UBSan)
#   make bench   benchmarks against the peers (bench/*.sh)
#   make format  clang-format the C sources

BUILD ?= build
ASAN_BUILD ?= build-asan
PYTHON ?= /usr/bin/python3
MESON_FLAGS ?=

BUILD_DEPS = meson ninja-build pkg-config gcc libc6-dev libjansson-dev libseccomp-dev \
  libnl-3-dev libnl-route-3-dev libnftables-dev \
	libcap-dev libcmocka-dev libssl-dev libarchive-dev libcurl4-openssl-dev libsqlite3-dev libinih-dev libgit2-dev \
	libisal-dev
TEST_DEPS = python3 python3-pytest busybox-static runc crun podman containerd hyperfine \
  wrk nftables buildah sqlite3 git curl \
	iproute2 procps time clang libclang-rt-14-dev skopeo umoci docker-registry debootstrap \
	apache2-utils docker.io openssl bsdutils systemd
DEPS_STAMP = /var/lib/bothy-deps.stamp

.PHONY: all deps build demo check check-unit check-asan check-integration check-fuzz bench \
	format format-check install clean

all: build

deps:
	@if [ "$$(id -u)" != 0 ]; then echo "make deps: run as root (apt-get)"; exit 1; fi
	@want="$(BUILD_DEPS) $(TEST_DEPS)"; \
	missing=$$(for p in $$want; do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | \
	  grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing: $$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    --no-install-recommends $$missing; \
	fi

$(BUILD)/build.ninja:
	meson setup $(BUILD) $(MESON_FLAGS)

build: $(BUILD)/build.ninja
	ninja -C $(BUILD)

$(ASAN_BUILD)/build.ninja:
	meson setup $(ASAN_BUILD) -Db_sanitize=address,undefined -Db_lundef=false \
	  -Dbuildtype=debug $(MESON_FLAGS)

build-asan: $(ASAN_BUILD)/build.ninja
	ninja -C $(ASAN_BUILD)

demo: deps build
	@sh scripts/demo.sh $(BUILD)

check: deps
	@sh scripts/check.sh

bench: deps build
	@for b in bench/*.sh; do sh $$b || exit 1; done

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

format-check:
	clang-format --dry-run --Werror $$(git ls-files '*.c' '*.h')

install: build
	meson install -C $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) build-fuzz
