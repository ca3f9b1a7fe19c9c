# herd - GNU Makefile. Out-of-tree builds: build/release (default), build/asan, build/fuzz.
#
#   make            build build/release/herd (says what to install when a build package is missing)
#   make TLS=wolfssl  the same with wolfSSL instead of OpenSSL for TLS, in build/release-wolfssl
#   make deps       install missing build packages (scripts/setup-deps.sh --build)
#   make test-deps  install missing build and test packages and the npm test peers
#   make demo       install missing build packages, build, run `herd demo`
#   make test       install missing packages, build, unit tests + corpus replay + integration
#   make install    the binary, herd(1) and bash completion under DESTDIR/PREFIX (/usr/local)
#   make deb        build/herd_VERSION_ARCH.deb, its runtime dependencies declared
#   make asan test  the same under AddressSanitizer + UBSan
#   make TLS=wolfssl tls-test  the TLS integration tests against the wolfSSL build
#   make fuzz       libFuzzer targets (clang) in build/fuzz
#   make fuzz-run   run every fuzz target briefly (FUZZ_SECONDS each)
#   make check-deps check-headers format-check
#   make bench      the benchmark scripts (never part of test)
#   make image      the container image (Containerfile) with podman or docker; IMAGE=name:tag

BUILD ?= release
ifneq ($(filter asan,$(MAKECMDGOALS)),)
BUILD := asan
endif
# TLS library (net/tls_<TLS>.c): openssl (libssl) or wolfssl. OpenSSL's libcrypto is linked
# either way (SHA-1 for the WebSocket handshake). A non-default library builds elsewhere.
TLS ?= openssl
TLS_LIBS := openssl wolfssl
ifeq ($(filter $(TLS),$(TLS_LIBS)),)
$(error TLS=$(TLS): must be one of $(TLS_LIBS))
endif
ifeq ($(TLS),openssl)
B := build/$(BUILD)
TLS_PKG := openssl
else
B := build/$(BUILD)-$(TLS)
TLS_PKG := libcrypto $(TLS)
endif

CC ?= cc
PKG_CONFIG ?= pkg-config
PKGS := $(TLS_PKG) zlib yaml-0.1 jansson
PKG_CFLAGS = $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
PKG_LIBS = $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null)
VERSION := $(shell git describe --tags --always --dirty 2>/dev/null || echo 0.1.0)

WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wvla -Wformat=2 -Werror
CFLAGS_COMMON := -std=c11 -D_GNU_SOURCE -g $(WARN) -Isrc -MMD -MP -DHERD_VERSION='"$(VERSION)"'
ifeq ($(BUILD),asan)
CFLAGS_MODE := -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
LDFLAGS_MODE := -fsanitize=address,undefined
else
CFLAGS_MODE := -O2
LDFLAGS_MODE :=
endif
ALL_CFLAGS = $(CFLAGS_COMMON) $(CFLAGS_MODE) $(PKG_CFLAGS) $(CFLAGS)
LIBS = $(PKG_LIBS) -lpthread -lm

TLS_OTHER := $(foreach t,$(filter-out $(TLS),$(TLS_LIBS)),src/net/tls_$(t).c)
LIB_SRC := $(filter-out src/main.c $(TLS_OTHER),$(shell find src -name '*.c' | sort))
LIB_OBJ := $(LIB_SRC:%.c=$(B)/obj/%.o)
MAIN_OBJ := $(B)/obj/src/main.o
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)
FUZZ_SRC := $(sort $(wildcard fuzz/fuzz_*.c))
FUZZ_NAMES := $(FUZZ_SRC:fuzz/fuzz_%.c=%)
REPLAY_BIN := $(FUZZ_NAMES:%=$(B)/replay/replay_%)

.PHONY: all asan test unit replay integration tls-test demo deps test-deps build-deps fuzz \
	fuzz-run check-deps check-headers format format-check bench clean install uninstall deb doc image
all: $(B)/herd

asan:
	@:

# Before anything compiles (an order-only prerequisite of every compile): the compiler,
# pkg-config and the libraries of PKGS are there, or one message names what is missing, the
# Debian packages and what to run, instead of a compiler error about a missing header.
# `make demo` and `make test` install what is missing first, so there the check comes after deps.
build-deps:
	@CC='$(CC)' PKG_CONFIG='$(PKG_CONFIG)' scripts/check-build-deps.sh $(PKGS)
ifneq ($(filter demo,$(MAKECMDGOALS)),)
build-deps: deps
endif
ifneq ($(filter test,$(MAKECMDGOALS)),)
build-deps: test-deps
endif

$(B)/obj/%.o: %.c | build-deps
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(B)/libherd.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(B)/herd: $(MAIN_OBJ) $(B)/libherd.a
	$(CC) $(LDFLAGS_MODE) $(LDFLAGS) -o $@ $^ $(LIBS)

$(B)/tests/%: tests/unit/%.c $(B)/libherd.a | build-deps
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests/unit $(LDFLAGS_MODE) -o $@ $< $(B)/libherd.a $(LIBS)

$(B)/replay/replay_%: fuzz/fuzz_%.c fuzz/replay.c $(B)/libherd.a | build-deps
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS_MODE) -o $@ fuzz/replay.c $< $(B)/libherd.a $(LIBS)

deps:
	@scripts/setup-deps.sh --build --quiet

test-deps:
	@scripts/setup-deps.sh --quiet

demo: deps $(B)/herd
	$(B)/herd demo --out build/demo

# tap_selftest first: prove must fail each way a unit binary can fail (tests/unit/tap.h).
unit: $(UNIT_BIN) $(B)/tests/tap_selftest
	@tests/unit/tap_selftest.sh $(B)/tests/tap_selftest
	prove -f $(UNIT_BIN)

replay: $(REPLAY_BIN)
	@set -e; for n in $(FUZZ_NAMES); do \
	  $(B)/replay/replay_$$n fuzz/corpus/$$n; done

integration: $(B)/herd
	HERD=$(CURDIR)/$(B)/herd HERD_BUILD=$(BUILD) /usr/bin/python3 -m pytest -q -p no:cacheprovider \
	  $(if $(filter asan,$(BUILD)),-m "not slow") tests/integration

# The TLS integration tests alone, against the build of TLS= (CI runs them with TLS=wolfssl).
tls-test: $(B)/herd
	HERD=$(CURDIR)/$(B)/herd HERD_BUILD=$(BUILD) /usr/bin/python3 -m pytest -q -p no:cacheprovider \
	  $(if $(filter asan,$(BUILD)),-m "not slow") $(sort $(wildcard tests/integration/test_*tls*.py))

test: test-deps all
	$(MAKE) --no-print-directory BUILD=$(BUILD) unit replay integration

# ---- install, package ----
# The man page and the bash completion are printed by the binary itself from the option tables
# that give --help (src/cli/man.c), so they cannot drift from it.
PREFIX ?= /usr/local
DESTDIR ?=
BINDIR = $(PREFIX)/bin
MANDIR = $(PREFIX)/share/man
COMPLETIONDIR = $(PREFIX)/share/bash-completion/completions

$(B)/herd.1: $(B)/herd
	$(B)/herd help --man > $@.tmp && mv $@.tmp $@
$(B)/herd.bash: $(B)/herd
	$(B)/herd help --bash-completion > $@.tmp && mv $@.tmp $@
doc: $(B)/herd.1 $(B)/herd.bash

install: $(B)/herd $(B)/herd.1 $(B)/herd.bash
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(COMPLETIONDIR)
	install -m 755 $(B)/herd $(DESTDIR)$(BINDIR)/herd
	install -m 644 $(B)/herd.1 $(DESTDIR)$(MANDIR)/man1/herd.1
	install -m 644 $(B)/herd.bash $(DESTDIR)$(COMPLETIONDIR)/herd

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/herd $(DESTDIR)$(MANDIR)/man1/herd.1 \
	  $(DESTDIR)$(COMPLETIONDIR)/herd

# A Debian version starts with a digit: 0.1.0+git<commit> from a clone without tags.
DEB_VERSION ?= $(shell v=$$(git describe --tags 2>/dev/null) && echo "$${v\#v}" || \
	echo "0.1.0+git$$(git rev-parse --short HEAD 2>/dev/null || echo 0)")
deb: $(B)/herd $(B)/herd.1 $(B)/herd.bash
	rm -rf $(B)/deb
	$(MAKE) --no-print-directory install DESTDIR=$(CURDIR)/$(B)/deb PREFIX=/usr
	scripts/make-deb.sh $(B)/deb build '$(DEB_VERSION)'

# ---- fuzzing (clang + libFuzzer) ----
# The library is compiled once (coverage instrumentation without libFuzzer's main) into
# build/fuzz/libherd.a, and each target links against it.
FUZZ_CC := clang
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -g -O1 -Isrc -DHERD_VERSION='"$(VERSION)"' $(FUZZ_SAN) $(PKG_CFLAGS)
FUZZ_LIB_SRC := $(filter-out src/main.c src/cmd/%,$(LIB_SRC))
FUZZ_LIB_OBJ := $(FUZZ_LIB_SRC:%.c=build/fuzz/obj/%.o)
fuzz: $(FUZZ_NAMES:%=build/fuzz/fuzz_%)
build/fuzz/obj/%.o: %.c | build-deps
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@
build/fuzz/libherd.a: $(FUZZ_LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^
build/fuzz/fuzz_%: fuzz/fuzz_%.c build/fuzz/libherd.a
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< build/fuzz/libherd.a $(LIBS)

FUZZ_SECONDS ?= 10
fuzz-run: fuzz
	@set -e; for n in $(FUZZ_NAMES); do \
	  mkdir -p build/fuzz/new/$$n; \
	  echo "fuzz $$n for $(FUZZ_SECONDS)s"; \
	  build/fuzz/fuzz_$$n -max_total_time=$(FUZZ_SECONDS) -print_final_stats=0 \
	    $$( [ -f fuzz/$$n.dict ] && echo -dict=fuzz/$$n.dict ) \
	    build/fuzz/new/$$n fuzz/corpus/$$n 2>build/fuzz/$$n.log || { tail -40 build/fuzz/$$n.log; exit 1; }; \
	done

# ---- hygiene ----
check-deps:
	@scripts/check-deps.sh

check-headers: | build-deps
	@set -e; for h in $$(find src -name '*.h' | sort); do \
	  echo "#include \"$${h#src/}\"" | $(CC) $(filter-out -MMD -MP,$(CFLAGS_COMMON)) $(PKG_CFLAGS) -x c -fsyntax-only - ; \
	done; echo "headers: every header compiles alone"

FORMAT_FILES = $(shell find src tests/unit fuzz bench -name '*.[ch]' 2>/dev/null)
format:
	clang-format -i $(FORMAT_FILES)
format-check:
	clang-format --dry-run --Werror $(FORMAT_FILES)

bench: $(B)/herd
	bench/run-all.sh

# ---- the container image (docs/kubernetes.md) ----
# podman, else docker; CONTAINER_ENGINE=... picks another. The version herd prints is passed in,
# since the build context has no .git.
IMAGE ?= herd:latest
CONTAINER_ENGINE ?= $(shell command -v podman 2>/dev/null || command -v docker 2>/dev/null)
image:
	@if [ -z "$(CONTAINER_ENGINE)" ]; then \
	  echo "make image: needs podman or docker; install one (apt-get install podman, or Docker" \
	    "Engine), or name another with CONTAINER_ENGINE=..." >&2; \
	  exit 1; \
	fi
	$(CONTAINER_ENGINE) build -f Containerfile -t $(IMAGE) --build-arg HERD_VERSION=$(VERSION) .

clean:
	rm -rf build

-include $(LIB_OBJ:.o=.d) $(MAIN_OBJ:.o=.d) $(FUZZ_LIB_OBJ:.o=.d) $(UNIT_BIN:=.d) $(REPLAY_BIN:=.d) \
	$(B)/tests/tap_selftest.d
