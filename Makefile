# deployd — build, test, install.  Everything built lands in $(B)/ (build/ unless B=DIR).
VERSION := 0.1.0

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
SBINDIR ?= $(PREFIX)/sbin
LIBEXECDIR ?= $(PREFIX)/libexec
MANDIR ?= $(PREFIX)/share/man
SYSCONFDIR ?= /etc
DESTDIR ?=

PKG_CONFIG ?= pkg-config
PKGS := libpq libsystemd yaml-0.1 nettle json-c
SYSTEMD_UNITDIR ?= $(shell $(PKG_CONFIG) --variable=systemdsystemunitdir systemd 2>/dev/null || echo /lib/systemd/system)
SYSTEMD_CATALOGDIR ?= $(shell $(PKG_CONFIG) --variable=catalogdir systemd 2>/dev/null || echo /usr/lib/systemd/catalog)
SYSUSERSDIR ?= $(shell $(PKG_CONFIG) --variable=sysusersdir systemd 2>/dev/null || echo /usr/lib/sysusers.d)
# Shell completion: where bash-completion (on demand, by command name) and zsh look.
BASHCOMPLETIONDIR ?= $(PREFIX)/share/bash-completion/completions
ZSHCOMPLETIONDIR ?= $(PREFIX)/share/zsh/site-functions
TMPFILESDIR ?= $(shell $(PKG_CONFIG) --variable=tmpfilesdir systemd 2>/dev/null || echo /usr/lib/tmpfiles.d)

# Every pkg-config package the build needs must be installed: a missing one stops the build at
# once, named, instead of surfacing later as a missing header.  (Not for the goals that install
# them or need none.)  The test suites need Check too.
PKG_GOALS_EXEMPT := deps clean demo deb
ifneq ($(or $(filter-out $(PKG_GOALS_EXEMPT),$(MAKECMDGOALS)),$(if $(MAKECMDGOALS),,all)),)
ifeq ($(shell command -v $(PKG_CONFIG) 2>/dev/null),)
$(error $(PKG_CONFIG) is not installed; run `make deps` (as root) to install what the build needs)
endif
PKGS_NEEDED := $(PKGS) $(if $(filter-out all install man,$(or $(MAKECMDGOALS),all)),check)
PKGS_MISSING := $(shell for p in $(PKGS_NEEDED); do $(PKG_CONFIG) --exists $$p || echo $$p; done)
ifneq ($(PKGS_MISSING),)
$(error pkg-config cannot find $(PKGS_MISSING); run `make deps` (as root) to install the Debian packages the build needs)
endif
endif

CC ?= cc
CFLAGS ?= -O2 -g
WARNINGS := -Wall -Wextra -Wshadow -Wno-missing-field-initializers -Wformat=2 -Wvla
ifeq ($(WERROR),1)
WARNINGS += -Werror
endif
# SANITIZE=1: AddressSanitizer + UndefinedBehaviorSanitizer, every report fatal.
# (kept apart from CFLAGS, so that CFLAGS=… on the command line does not drop them).
SAN_FLAGS :=
ifeq ($(SANITIZE),1)
SAN_FLAGS += -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
endif
# FUZZ=1 (with CC=clang): coverage for libFuzzer in every object; see `make fuzz`.
ifeq ($(FUZZ),1)
SAN_FLAGS += -fsanitize=fuzzer-no-link
endif
PG_INCLUDEDIR := $(shell $(PKG_CONFIG) --variable=includedir libpq 2>/dev/null)
ALL_CFLAGS := -std=gnu11 $(WARNINGS) -D_GNU_SOURCE -DDEPLOYD_VERSION=\"$(VERSION)\" \
	$(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null) $(CPPFLAGS) $(CFLAGS) $(SAN_FLAGS) -MMD -MP
LIBS := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null)
# libpg_query (PostgreSQL's parser as a library) ships no pkg-config file.  The programs load
# it with dlopen() when they first read SQL (lib/migrations/pg-query-lib.h), by the soname of
# the library found here; the tests, which call it themselves, link it.
PG_QUERY_HEADER ?= /usr/include/pg_query.h
PG_QUERY_SONAME := $(shell objdump -p "$$($(CC) -print-file-name=libpg_query.so)" 2>/dev/null | \
	sed -n 's/^ *SONAME *//p')
PG_QUERY_LIBS := -lpg_query
ALL_CFLAGS += -DPG_QUERY_SONAME=\"$(PG_QUERY_SONAME)\"
ALL_CFLAGS += -DDEPLOYCTL_LOCAL_PATH=\"$(LIBEXECDIR)/deployd/deployctl-local\"
ifeq ($(filter clean deps demo deb,$(MAKECMDGOALS)),)
ifeq ($(wildcard $(PG_QUERY_HEADER)),)
$(error $(PG_QUERY_HEADER) is missing: install the Debian package libpg-query-dev (make deps))
endif
ifeq ($(PG_QUERY_SONAME),)
$(error libpg_query.so (its soname) is not found: install the Debian package libpg-query-dev (make deps))
endif
endif
CHECK_CFLAGS := $(shell $(PKG_CONFIG) --cflags check 2>/dev/null)
CHECK_LIBS := $(shell $(PKG_CONFIG) --libs check 2>/dev/null)

# The layers.  A folder's code sees its own headers and those of the folders listed for it,
# never one above: an upward include does not compile, because that folder is not on its
# include path.  lib/basic is libc only; the plan format is made of the option types of the
# database and bus layers (never the other way round); the daemon and deployctl sit on top.
LIB_LAYERS := basic event plan pg units migrations diag deploy
SEES_basic :=
SEES_event := basic
SEES_plan := basic pg units
SEES_pg := basic
SEES_units := basic
SEES_migrations := basic pg
SEES_diag := basic event pg migrations
SEES_deploy := basic event plan pg units migrations diag
SEES_deployd := $(LIB_LAYERS)
SEES_deployctl := $(LIB_LAYERS)
folder_of = $(notdir $(patsubst %/,%,$(dir $(1))))
layer_includes = $(addprefix -Ilib/,$(SEES_$(call folder_of,$(1))))
TEST_INCLUDES := $(addprefix -Ilib/,$(LIB_LAYERS)) -Itests/support -Itests/fuzz
# A path in a quoted include ("../deploy/deploy.h") would walk around the include paths.
INCLUDES_WITH_PATH := $(shell grep -lE '^\s*\#\s*include\s*"[^"]*/' lib/*/*.[ch] daemon/*/*.[ch] 2>/dev/null)
ifneq ($(INCLUDES_WITH_PATH),)
$(error quoted includes name a header by file name only, never by path (the layers): $(INCLUDES_WITH_PATH))
endif

B ?= build
LIB_SRC := $(sort $(wildcard $(LIB_LAYERS:%=lib/%/*.c)))
LIB_OBJ := $(LIB_SRC:%.c=$(B)/%.o)
LIBDEPLOYD := $(B)/libdeployd.a

DEPLOYCTL_SRC := $(sort $(wildcard daemon/deployctl/*.c))
# deployctl itself: the verbs that talk to the daemon, and nothing that needs libpq, libsystemd
# or libyaml (daemon/deployctl/deployctl.h); deployctl-local: the other verbs.
DEPLOYCTL_SHARED_SRC := $(addprefix daemon/deployctl/,deployctl-verbs.c deployctl-client.c \
	deployctl-progress.c)
DEPLOYCTL_LEAN_SRC := $(addprefix daemon/deployctl/,deployctl.c deployctl-deploy.c \
	deployctl-status.c) $(DEPLOYCTL_SHARED_SRC)
DEPLOYCTL_LOCAL_SRC := $(filter-out $(DEPLOYCTL_LEAN_SRC),$(DEPLOYCTL_SRC)) $(DEPLOYCTL_SHARED_SRC)
DEPLOYD_SRC := $(sort $(wildcard daemon/deployd/*.c))

UNIT_TEST_SRC := $(sort $(wildcard tests/unit/test-*.c))
UNIT_TESTS := $(UNIT_TEST_SRC:%.c=$(B)/%)
INTEGRATION_TEST_SRC := $(sort $(wildcard tests/integration/test-*.c))
INTEGRATION_TESTS := $(INTEGRATION_TEST_SRC:%.c=$(B)/%)
TEST_SUPPORT_SRC := $(sort $(wildcard tests/support/*.c))
TEST_SUPPORT_OBJ := $(TEST_SUPPORT_SRC:%.c=$(B)/%.o)
FUZZ_SRC := $(sort $(wildcard tests/fuzz/fuzz-*.c))
FUZZ_OBJ := $(FUZZ_SRC:%.c=$(B)/%.o)
FUZZERS := $(patsubst tests/fuzz/%.c,%,$(filter-out tests/fuzz/fuzz-fail.c,$(FUZZ_SRC)))
BENCH_SRC := $(sort $(wildcard tests/bench/bench-*.c))
BENCHES := $(BENCH_SRC:%.c=$(B)/%)
BENCH_SUPPORT_OBJ := $(B)/tests/bench/support.o

PROGRAMS := $(B)/deployd $(B)/deployctl $(B)/deployctl-local

# Test objects are intermediate files to make; keep them so a rebuild is incremental.
.SECONDARY:
.PHONY: all check check-unit check-integration bench install clean deps tests
all: $(PROGRAMS)

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(call layer_includes,$<) -c -o $@ $<

$(B)/tests/%.o: tests/%.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(CHECK_CFLAGS) $(TEST_INCLUDES) -c -o $@ $<

# Every header compiles on its own with only its folder's layers visible: a header that
# reaches up (or needs something its includers happen to include first) fails the build.
LIB_HEADERS := $(sort $(wildcard $(LIB_LAYERS:%=lib/%/*.h) daemon/*/*.h))
HEADER_CHECKS := $(LIB_HEADERS:%.h=$(B)/%.h.ok)
$(B)/%.h.ok: %.h
	@mkdir -p $(dir $@)
	$(CC) $(filter-out -MMD -MP,$(ALL_CFLAGS)) $(call layer_includes,$<) -I$(dir $<) \
		-fsyntax-only -include $< -x c /dev/null
	@touch $@

$(LIBDEPLOYD): $(LIB_OBJ) $(HEADER_CHECKS)
	@rm -f $@
	$(AR) rcs $@ $(LIB_OBJ)

# Linked --as-needed, so that only the libraries its code uses are loaded at each start; the
# build stops if one of the local verbs' libraries slipped in.
$(B)/deployctl: $(DEPLOYCTL_LEAN_SRC:%.c=$(B)/%.o) $(LIBDEPLOYD)
	$(CC) $(CFLAGS) $(SAN_FLAGS) $(LDFLAGS) -Wl,--as-needed -o $@ $^ $(LIBS)
	@if objdump -p $@ | grep -E 'NEEDED +lib(pq|systemd|yaml)'; then \
		echo "$@ must not need the libraries above (daemon/deployctl/deployctl.h)" >&2; \
		rm -f $@; exit 1; fi

$(B)/deployctl-local: $(DEPLOYCTL_LOCAL_SRC:%.c=$(B)/%.o) $(LIBDEPLOYD)
	$(CC) $(CFLAGS) $(SAN_FLAGS) $(LDFLAGS) -o $@ $^ $(LIBS)

$(B)/deployd: $(DEPLOYD_SRC:%.c=$(B)/%.o) $(LIBDEPLOYD)
	$(CC) $(CFLAGS) $(SAN_FLAGS) $(LDFLAGS) -o $@ $^ $(LIBS)

$(B)/tests/unit/%: $(B)/tests/unit/%.o $(TEST_SUPPORT_OBJ) $(LIBDEPLOYD)
	$(CC) $(CFLAGS) $(SAN_FLAGS) $(LDFLAGS) -o $@ $(filter %.o,$^) $(LIBDEPLOYD) $(LIBS) $(PG_QUERY_LIBS) $(CHECK_LIBS)

# The fuzz targets, without libFuzzer, replayed over their corpora and crashers.
$(B)/tests/unit/test-fuzz-regressions: $(FUZZ_OBJ)

$(B)/tests/integration/%: $(B)/tests/integration/%.o $(TEST_SUPPORT_OBJ) $(LIBDEPLOYD)
	$(CC) $(CFLAGS) $(SAN_FLAGS) $(LDFLAGS) -o $@ $^ $(LIBS) $(PG_QUERY_LIBS) $(CHECK_LIBS)

$(B)/tests/bench/%: $(B)/tests/bench/%.o $(BENCH_SUPPORT_OBJ) $(TEST_SUPPORT_OBJ) $(LIBDEPLOYD)
	$(CC) $(CFLAGS) $(SAN_FLAGS) $(LDFLAGS) -o $@ $^ $(LIBS) $(PG_QUERY_LIBS) $(CHECK_LIBS)

tests: $(PROGRAMS) $(UNIT_TESTS) $(INTEGRATION_TESTS) $(BENCHES)

check: check-unit check-integration

check-unit: $(PROGRAMS) $(UNIT_TESTS)
	@tests/run-suites unit $(UNIT_TESTS)

check-integration: $(PROGRAMS) $(INTEGRATION_TESTS) dbmate
	@DEPLOYD_TEST_DBMATE=$(abspath $(DBMATE)) \
		tests/harness/with-services tests/run-suites integration $(INTEGRATION_TESTS)

# The real dbmate (its npm package ships a static binary), whose history the adoption tests
# read: pinned, installed with npm into $(B)/npm once.
DBMATE_VERSION := 2.36.0
DBMATE := $(B)/npm/node_modules/@dbmate/linux-x64/bin/dbmate
# Phony, not a file target: with .SECONDARY a missing file that nothing newer needs is never
# made, and a clean clone would run the suites without it.
.PHONY: dbmate
dbmate:
	@[ -x $(DBMATE) ] || npm install --prefix $(B)/npm --no-audit --no-fund --loglevel=error \
		dbmate@$(DBMATE_VERSION)
	@test -x $(DBMATE) || { echo "npm installed no dbmate binary at $(DBMATE)" >&2; exit 1; }

# The unit and integration suites built with ASan + UBSan into $(ASAN_B)/ (the daemon the
# integration tests start is that build's, its reports checked by the tests' teardown);
# any report, a leak included, fails the run.
ASAN_B ?= build-asan
SANITIZER_ENV := ASAN_OPTIONS=halt_on_error=1:detect_leaks=1:detect_stack_use_after_return=1 \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
.PHONY: check-sanitize
check-sanitize:
	$(SANITIZER_ENV) $(MAKE) B=$(ASAN_B) SANITIZE=1 check

# The daemon's integration suites with the daemon under valgrind's memcheck (any error or
# definite leak fails the test that ran it).
.PHONY: check-valgrind
check-valgrind: $(PROGRAMS) $(INTEGRATION_TESTS)
	@DEPLOYD_TEST_VALGRIND=1 tests/harness/with-services tests/run-suites integration \
		$(filter $(B)/tests/integration/test-daemon%,$(INTEGRATION_TESTS)) \
		$(filter $(B)/tests/integration/test-faults%,$(INTEGRATION_TESTS))

# Benchmarks print figures (real services, so through the harness); they assert nothing.
# Side-by-side benchmarks (tests/bench/README.md); not part of check.
bench: $(PROGRAMS) $(BENCHES)
	@tests/harness/with-services tests/bench/run $(B) $(BENCHES)

install: all
	install -Dm0755 $(B)/deployd $(DESTDIR)$(SBINDIR)/deployd
	install -Dm0755 $(B)/deployctl $(DESTDIR)$(BINDIR)/deployctl
	install -Dm0755 $(B)/deployctl-local $(DESTDIR)$(LIBEXECDIR)/deployd/deployctl-local
	install -d $(DESTDIR)$(SYSTEMD_UNITDIR)
	sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@BINDIR@|$(BINDIR)|g' systemd/deployd.service \
		> $(DESTDIR)$(SYSTEMD_UNITDIR)/deployd.service
	sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@BINDIR@|$(BINDIR)|g' systemd/deploy@.service \
		> $(DESTDIR)$(SYSTEMD_UNITDIR)/deploy@.service
	install -m0644 systemd/deployd.socket $(DESTDIR)$(SYSTEMD_UNITDIR)/deployd.socket
	install -Dm0644 systemd/deployd.catalog $(DESTDIR)$(SYSTEMD_CATALOGDIR)/deployd.catalog
	install -Dm0644 systemd/deployd.sysusers $(DESTDIR)$(SYSUSERSDIR)/deployd.conf
	install -Dm0644 systemd/deployd.tmpfiles $(DESTDIR)$(TMPFILESDIR)/deployd.conf
	install -Dm0644 shell-completion/bash/deployctl $(DESTDIR)$(BASHCOMPLETIONDIR)/deployctl
	install -Dm0644 shell-completion/zsh/_deployctl $(DESTDIR)$(ZSHCOMPLETIONDIR)/_deployctl
	for m in $(MANPAGES); do \
		install -Dm0644 $$m $(DESTDIR)$(MANDIR)/man$${m##*.}/$${m##*/} || exit 1; \
	done

# Man pages: scdoc sources beside what they describe, roff in build/man/ (test-man reads them).
SCDOC ?= scdoc
MAN_SRC := daemon/deployd/deployd.8.scd daemon/deployctl/deployctl.1.scd config/deployd.plan.5.scd
MANPAGES := $(patsubst %.scd,$(B)/man/%,$(notdir $(MAN_SRC)))
vpath %.scd $(sort $(dir $(MAN_SRC)))

# Fuzzing: every target built with clang and libFuzzer (plus ASan and UBSan) into
# $(FUZZ_B)/, then run FUZZ_SECONDS each from the committed seeds and crashers; what it
# learns stays in $(FUZZ_B)/corpus/NAME, a crashing input lands in $(FUZZ_B)/crashes/NAME/
# (copy it to tests/fuzz/regressions/NAME/ once fixed).
FUZZ_SECONDS ?= 60
FUZZ_B ?= build-fuzz
FUZZ_CFLAGS ?= -O1 -g
.PHONY: fuzz fuzzers
fuzzers: $(FUZZERS:%=$(B)/fuzz/%)

$(B)/tests/fuzz/libfuzzer-entry-%.o: tests/fuzz/libfuzzer-entry.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(TEST_INCLUDES) -DFUZZ_ENTRY=$(subst -,_,$*) -c -o $@ $<

$(B)/fuzz/%: $(B)/tests/fuzz/%.o $(B)/tests/fuzz/fuzz-fail.o $(B)/tests/fuzz/libfuzzer-entry-%.o $(LIBDEPLOYD)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(SAN_FLAGS) $(LDFLAGS) -fsanitize=fuzzer -o $@ $^ $(LIBS)

fuzz:
	$(MAKE) B=$(FUZZ_B) CC=clang SANITIZE=1 FUZZ=1 CFLAGS="$(FUZZ_CFLAGS)" fuzzers
	@for f in $(FUZZERS); do \
		name=$${f#fuzz-}; log=$(FUZZ_B)/$$f.log; \
		mkdir -p $(FUZZ_B)/corpus/$$name $(FUZZ_B)/crashes/$$name; \
		echo "== $$f: $(FUZZ_SECONDS)s"; \
		regressions=; [ -z "$$(ls -A tests/fuzz/regressions/$$name 2>/dev/null)" ] || \
			regressions=tests/fuzz/regressions/$$name; \
		if ! $(FUZZ_B)/fuzz/$$f -max_total_time=$(FUZZ_SECONDS) -timeout=10 -max_len=16384 \
			-print_final_stats=1 -artifact_prefix=$(FUZZ_B)/crashes/$$name/ \
			$(FUZZ_B)/corpus/$$name tests/fuzz/corpus/$$name $$regressions >$$log 2>&1; then \
			tail -n 60 $$log; \
			echo "fuzz: $$f failed (input in $(FUZZ_B)/crashes/$$name/, log $$log)"; exit 1; \
		fi; \
		grep -E '^(Done|stat::number_of_executed_units|stat::new_units_added)' $$log; \
	done

.PHONY: man
all man check-unit: $(MANPAGES)

$(B)/man/%: %.scd
	@mkdir -p $(dir $@)
	$(SCDOC) < $< > $@.tmp && mv $@.tmp $@

# The Debian package, built with dpkg-buildpackage from a copy of the tree with packaging/debian
# as debian/; the .deb and its build logs land in build/deb/.  Needs debhelper; not part of check.
DEB_DIR := $(B)/deb
.PHONY: deb
deb:
	rm -rf $(DEB_DIR) && mkdir -p $(DEB_DIR)/deployd-$(VERSION)
	tar -cf - --exclude=./$(B) --exclude=./.git --exclude=./debian . \
		| tar -C $(DEB_DIR)/deployd-$(VERSION) -xf -
	cp -r packaging/debian $(DEB_DIR)/deployd-$(VERSION)/debian
	cd $(DEB_DIR)/deployd-$(VERSION) && dpkg-buildpackage -us -uc -b
	@ls $(DEB_DIR)/*.deb

# The booted-host tier (tests/system/README.md), as root: the package on fresh Debian bookworm
# hosts with systemd as PID 1 (systemd-nspawn), one and several; their root is built once
# with mmdebstrap and cached in $(B)/system.  It tests the .deb of `make deb`, rebuilt first
# when the sources are newer.  Not part of check (CI runs it right after).
DEB_FILE := $(DEB_DIR)/deployd_$(VERSION)_$(shell dpkg --print-architecture 2>/dev/null || echo amd64).deb
DEB_INPUTS := Makefile README.md $(shell find lib daemon systemd config packaging/debian -type f 2>/dev/null)
.PHONY: check-system
check-system: $(DEB_FILE)
	@tests/system/run $(B)/system $(DEB_FILE)

$(DEB_FILE): $(DEB_INPUTS)
	DEB_BUILD_OPTIONS=nocheck $(MAKE) --no-print-directory deb

clean:
	rm -rf $(B) $(ASAN_B) $(FUZZ_B)

# Installs the Debian packages the build and the tests need (clang, its sanitizer runtimes and
# valgrind for make fuzz, check-sanitize and check-valgrind; systemd-container and mmdebstrap
# for check-system); harmless when present.
DEB_PACKAGES := build-essential pkg-config libsystemd-dev libpq-dev libyaml-dev nettle-dev libjson-c-dev libpg-query-dev check \
	scdoc postgresql dbus dbus-user-session systemd util-linux procps openssh-server \
	debhelper dpkg-dev clang libclang-rt-14-dev valgrind systemd-container mmdebstrap iproute2 \
	bash-completion zsh
deps:
	@missing=$$(for p in $(DEB_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "deps: installing$$(echo $$missing | sed 's/^/ /')"; \
		if [ "$$(id -u)" != 0 ]; then echo "deps: run as root (apt-get)" >&2; exit 1; fi; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	else echo "deps: all present"; fi

# The newcomer's first command: installs what is missing (apt-get, as root), builds, and runs
# demo/run, which shows deploys against real services and checks each outcome (exit 1 if not).
.PHONY: demo
demo:
	@$(MAKE) --no-print-directory deps
	@$(MAKE) --no-print-directory all
	@demo/run

-include $(shell find $(B) \( -path '$(B)/deb' -o -path '$(B)/system' \) -prune -o -name '*.d' -type f -print 2>/dev/null)
