# BigFS top-level build. `make` builds every binary into build/,
# `make test` runs unit and integration tests, `make faults` the fault suite
# (test/faults: faults under a running workload), `make asan` builds and tests
# with AddressSanitizer + UndefinedBehaviorSanitizer.
#
# Each binary is built from every .c in its folder plus libbigfs-common.a,
# so adding a module means adding a file, not editing this Makefile.

CC      ?= gcc
BUILD   ?= build
PKGS    := fuse3 rdkafka libcurl jansson libmicrohttpd sqlite3 libisal openssl zlib
CFLAGS_BASE := -std=gnu11 -O2 -g -Wall -Wextra -Wshadow -Wstrict-prototypes \
	-Wmissing-prototypes -Wformat=2 -Wno-format-nonliteral -Werror \
	-D_FILE_OFFSET_BITS=64 -D_GNU_SOURCE -Icommon -MMD -MP \
	-DSQLITE_ENABLE_SESSION -DSQLITE_ENABLE_PREUPDATE_HOOK
SAN_FLAGS :=
CFLAGS  += $(CFLAGS_BASE) $(SAN_FLAGS) $(shell pkg-config --cflags $(PKGS))
LDFLAGS += $(SAN_FLAGS)
LDLIBS  += $(shell pkg-config --libs $(PKGS)) -lpthread -lm

COMMON_SRC := $(wildcard common/*.c)
COMMON_OBJ := $(COMMON_SRC:%.c=$(BUILD)/%.o)
COMMON_LIB := $(BUILD)/libbigfs-common.a

MASTER_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(wildcard master/*.c))
WORKER_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(wildcard worker/*.c))
FUSE_OBJ   := $(patsubst %.c,$(BUILD)/%.o,$(wildcard fuse/*.c))
ADMIN_OBJ  := $(patsubst %.c,$(BUILD)/%.o,$(wildcard admin/*.c))
DEVBROKER_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(wildcard devbroker/*.c))

BINS := $(BUILD)/bigfs-master $(BUILD)/bigfs-worker $(BUILD)/mount.bigfs $(if $(ADMIN_OBJ),$(BUILD)/bigfs) \
	$(BUILD)/bigfs-devbroker

# Unit tests: test/unit/test_<module>.c links the module under test.
# A test of a module outside common/ names it in UNIT_DEPS_<name>.
UNIT_SRC  := $(wildcard test/unit/test_*.c)
UNIT_BINS := $(UNIT_SRC:test/unit/%.c=$(BUILD)/test/%)
UNIT_DEPS_test_chunk_store := $(BUILD)/worker/chunk_store.o
UNIT_DEPS_test_chunk_file := $(BUILD)/worker/chunk_store.o
UNIT_DEPS_test_master_client := $(BUILD)/fuse/master_client.o $(BUILD)/fuse/thread_http.o $(BUILD)/fuse/worker_io.o $(BUILD)/fuse/local_read.o $(BUILD)/fuse/worker_health.o $(BUILD)/fuse/metrics.o
UNIT_DEPS_test_worker_io := $(BUILD)/fuse/worker_io.o $(BUILD)/fuse/local_read.o $(BUILD)/fuse/worker_health.o $(BUILD)/fuse/master_client.o $(BUILD)/fuse/thread_http.o $(BUILD)/fuse/metrics.o
UNIT_DEPS_test_meta_cache := $(BUILD)/fuse/meta_cache.o $(BUILD)/fuse/master_client.o $(BUILD)/fuse/thread_http.o $(BUILD)/fuse/worker_io.o $(BUILD)/fuse/local_read.o $(BUILD)/fuse/worker_health.o $(BUILD)/fuse/metrics.o
UNIT_DEPS_test_atime_queue := $(BUILD)/fuse/atime_queue.o $(BUILD)/fuse/master_client.o $(BUILD)/fuse/thread_http.o $(BUILD)/fuse/metrics.o
UNIT_DEPS_test_namespace := $(BUILD)/master/namespace.o $(BUILD)/master/ns_ops.o $(BUILD)/master/atime_table.o $(BUILD)/master/posix_acl.o $(BUILD)/master/meta_store.o $(BUILD)/master/wal_buffer.o $(BUILD)/master/chunk_map.o $(BUILD)/master/worker_registry.o $(BUILD)/master/placement.o
UNIT_DEPS_test_ns_ops := $(BUILD)/master/namespace.o $(BUILD)/master/ns_ops.o $(BUILD)/master/atime_table.o $(BUILD)/master/posix_acl.o $(BUILD)/master/meta_store.o $(BUILD)/master/wal_buffer.o $(BUILD)/master/chunk_map.o $(BUILD)/master/worker_registry.o $(BUILD)/master/placement.o
UNIT_DEPS_test_locks := $(BUILD)/master/locks.o
UNIT_DEPS_test_dir_lease := $(BUILD)/master/dir_lease.o
UNIT_DEPS_test_inval_log := $(BUILD)/master/inval_log.o
UNIT_DEPS_test_dir_cache := $(BUILD)/fuse/dir_cache.o
UNIT_DEPS_test_dir_count := $(BUILD)/fuse/dir_count.o
UNIT_DEPS_test_kafka_status := $(BUILD)/master/kafka_status.o $(BUILD)/master/worker_registry.o
UNIT_DEPS_test_exports := $(BUILD)/master/exports.o
UNIT_DEPS_test_auth_sessions := $(BUILD)/master/auth_sessions.o $(BUILD)/master/exports.o
UNIT_DEPS_test_atime_table := $(BUILD)/master/atime_table.o
UNIT_DEPS_test_meta_store := $(BUILD)/master/meta_store.o $(BUILD)/master/wal_buffer.o
UNIT_DEPS_test_metalog_record := $(BUILD)/master/metalog_record.o
UNIT_DEPS_test_meta_log := $(BUILD)/master/meta_store.o $(BUILD)/master/wal_buffer.o
UNIT_DEPS_test_wal_buffer := $(BUILD)/master/wal_buffer.o
UNIT_DEPS_test_session := $(BUILD)/master/session.o $(BUILD)/master/locks.o $(BUILD)/master/namespace.o $(BUILD)/master/ns_ops.o $(BUILD)/master/atime_table.o $(BUILD)/master/posix_acl.o $(BUILD)/master/meta_store.o $(BUILD)/master/wal_buffer.o $(BUILD)/master/chunk_map.o $(BUILD)/master/worker_registry.o $(BUILD)/master/placement.o
UNIT_DEPS_test_posix_acl := $(BUILD)/master/posix_acl.o $(BUILD)/master/namespace.o $(BUILD)/master/ns_ops.o $(BUILD)/master/atime_table.o $(BUILD)/master/meta_store.o $(BUILD)/master/wal_buffer.o $(BUILD)/master/chunk_map.o $(BUILD)/master/worker_registry.o $(BUILD)/master/placement.o
UNIT_DEPS_test_units := $(BUILD)/admin/units.o
UNIT_DEPS_test_table := $(BUILD)/admin/table.o
UNIT_DEPS_test_progress := $(BUILD)/admin/progress.o

PREFIX ?= /usr/local
PYTEST ?= /usr/bin/python3 -m pytest

.PHONY: all clean test unit integration faults asan install
all: $(BINS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(COMMON_LIB): $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^

$(BUILD)/bigfs-master: $(MASTER_OBJ) $(COMMON_LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(BUILD)/bigfs-worker: $(WORKER_OBJ) $(COMMON_LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(BUILD)/mount.bigfs: $(FUSE_OBJ) $(COMMON_LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(BUILD)/bigfs: $(ADMIN_OBJ) $(COMMON_LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(BUILD)/bigfs-devbroker: $(DEVBROKER_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

.SECONDEXPANSION:
$(BUILD)/test/%: $(BUILD)/test/unit/%.o $$(UNIT_DEPS_%) $(COMMON_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(shell pkg-config --libs cmocka)

unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; $$t; done

integration: $(BINS)
	BIGFS_BUILD=$(abspath $(BUILD)) $(PYTEST) -v test/integration $(PYTEST_ARGS)

# Faults under a running workload; the figures of each test are printed at
# the end (and appended to $BIGFS_FAULT_REPORT as JSON lines if set).
# PYTEST_ARGS='-m "not stall"' leaves out the silent-replica tests.
faults: $(BINS)
	BIGFS_BUILD=$(abspath $(BUILD)) $(PYTEST) -v test/faults $(PYTEST_ARGS)

test: unit integration

asan:
	$(MAKE) BUILD=build-asan SAN_FLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" test

# ---- install: `make install [PREFIX=/usr/local] [DESTDIR=DIR]` -------------
# Binaries to BINDIR; mount.bigfs to SBINDIR and a link to it in /sbin,
# where mount(8) looks for helpers (`mount -t bigfs`, fstab); the systemd
# units (systemd/, their paths rewritten for BINDIR, DOCDIR, SYSCONFDIR);
# the sysusers file of the `bigfs` user; the short configs in
# SYSCONFDIR/bigfs (a file already there is kept, the new one goes beside
# it as FILE.new); the full commented examples, fstab.example and the
# operations guide in DOCDIR; bash completion if scripts/ has it. Without
# DESTDIR on a host running systemd it also creates the user and reloads
# systemd. `make uninstall` removes all but SYSCONFDIR/bigfs and the data.
BINDIR      ?= $(PREFIX)/bin
SBINDIR     ?= $(PREFIX)/sbin
HELPERDIR   ?= /sbin
SYSCONFDIR  ?= /etc
SYSTEMDDIR  ?= /lib/systemd/system
SYSUSERSDIR ?= /usr/lib/sysusers.d
DOCDIR      ?= $(PREFIX)/share/doc/bigfs
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
INSTALL_UNITS := bigfs-master.service bigfs-worker.service bigfs-worker@.service
INSTALL_ETC   := master.cfg worker.cfg exports.cfg
INSTALL_DOCS  := $(wildcard master/bigfs-master.cfg.example worker/bigfs-worker.cfg.example \
	systemd/fstab.example docs/operations.md docs/exports.md)
INSTALL_SED   := -e 's|/usr/local/bin/|$(BINDIR)/|g' -e 's|/usr/local/share/doc/bigfs/|$(DOCDIR)/|g' \
	-e 's|/etc/bigfs/|$(SYSCONFDIR)/bigfs/|g' -e 's|/etc/default/|$(SYSCONFDIR)/default/|g'

.PHONY: uninstall
install: $(BINS)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SBINDIR) $(DESTDIR)$(HELPERDIR) \
		$(DESTDIR)$(SYSTEMDDIR) $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(DOCDIR) \
		$(DESTDIR)$(SYSCONFDIR)/bigfs
	install -m 755 $(filter-out %/mount.bigfs,$(BINS)) $(DESTDIR)$(BINDIR)/
	install -m 755 $(BUILD)/mount.bigfs $(DESTDIR)$(SBINDIR)/mount.bigfs
	@if [ ! $(DESTDIR)$(HELPERDIR)/mount.bigfs -ef $(DESTDIR)$(SBINDIR)/mount.bigfs ]; then \
		echo "ln -sfn $(SBINDIR)/mount.bigfs $(DESTDIR)$(HELPERDIR)/mount.bigfs"; \
		ln -sfn $(SBINDIR)/mount.bigfs $(DESTDIR)$(HELPERDIR)/mount.bigfs; fi
	@set -e; for u in $(INSTALL_UNITS); do \
		echo "install systemd/$$u $(DESTDIR)$(SYSTEMDDIR)/$$u"; \
		sed $(INSTALL_SED) systemd/$$u > $(DESTDIR)$(SYSTEMDDIR)/$$u; \
		chmod 644 $(DESTDIR)$(SYSTEMDDIR)/$$u; done
	install -m 644 systemd/bigfs.sysusers $(DESTDIR)$(SYSUSERSDIR)/bigfs.conf
	@set -e; for f in $(INSTALL_ETC); do t=$(DESTDIR)$(SYSCONFDIR)/bigfs/$$f; \
		if [ -e $$t ]; then echo "keeping $$t; the new one is $$t.new"; t=$$t.new; \
		else echo "install systemd/$$f $$t"; fi; \
		sed $(INSTALL_SED) systemd/$$f > $$t; chmod 644 $$t; done
	install -m 644 $(INSTALL_DOCS) $(DESTDIR)$(DOCDIR)/
	$(if $(wildcard scripts/bigfs-completion.bash),install -D -m 644 \
		scripts/bigfs-completion.bash $(DESTDIR)$(BASHCOMPDIR)/bigfs)
	@if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]; then \
		systemd-sysusers $(SYSUSERSDIR)/bigfs.conf && systemctl daemon-reload; \
		echo "next: docs/operations.md (systemctl enable --now bigfs-master bigfs-worker)"; fi

uninstall:
	rm -f $(addprefix $(DESTDIR)$(BINDIR)/,bigfs-master bigfs-worker bigfs bigfs-devbroker) \
		$(DESTDIR)$(SBINDIR)/mount.bigfs $(addprefix $(DESTDIR)$(SYSTEMDDIR)/,$(INSTALL_UNITS)) \
		$(DESTDIR)$(SYSUSERSDIR)/bigfs.conf $(DESTDIR)$(BASHCOMPDIR)/bigfs
	if [ -L $(DESTDIR)$(HELPERDIR)/mount.bigfs ]; then rm -f $(DESTDIR)$(HELPERDIR)/mount.bigfs; fi
	rm -rf $(DESTDIR)$(DOCDIR)
	@echo "kept $(DESTDIR)$(SYSCONFDIR)/bigfs, the daemons' data and the bigfs user"

clean:
	rm -rf build build-asan

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

# ---- fuzzing: `make fuzz [FUZZ_SECONDS=N]` ---------------------------------
# libFuzzer targets fuzz/fuzz_<name>.c, built with clang into build-fuzz/
# (never build/): the modules under test are compiled again with clang and
# -fsanitize=fuzzer-no-link,address,undefined, the target itself linked
# with -fsanitize=fuzzer. fuzz/run.sh runs each target for FUZZ_SECONDS on
# a copy of its seed corpus fuzz/corpus/<name>/ (build-fuzz/corpus/<name>)
# and prints one line per target; it fails if any target crashed. Not part
# of `make test`. FUZZ_TARGETS=json_request limits the run to some targets.
FUZZ_BUILD   := build-fuzz
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=undefined \
	-fno-omit-frame-pointer
FUZZ_CFLAGS  := -std=gnu11 -g -O1 -Wall -Wextra -Wno-unused-parameter \
	-D_FILE_OFFSET_BITS=64 -D_GNU_SOURCE -DSQLITE_ENABLE_SESSION -DSQLITE_ENABLE_PREUPDATE_HOOK -Icommon -Iworker -Imaster -MMD -MP \
	$(FUZZ_SAN) $(shell pkg-config --cflags $(PKGS))
FUZZ_ALL     := $(patsubst fuzz/fuzz_%.c,%,$(wildcard fuzz/fuzz_*.c))
FUZZ_TARGETS ?= $(FUZZ_ALL)
FUZZ_BINS    := $(FUZZ_ALL:%=$(FUZZ_BUILD)/fuzz_%)
FUZZ_COMMON_LIB := $(FUZZ_BUILD)/libbigfs-common.a
FUZZ_COMMON_OBJ := $(COMMON_SRC:%.c=$(FUZZ_BUILD)/obj/%.o)
# What each target links besides libbigfs-common.a.
FUZZ_DEPS_chunk_header := $(FUZZ_BUILD)/obj/worker/chunk_store.o
FUZZ_DEPS_worker_request := $(patsubst %.c,$(FUZZ_BUILD)/obj/%.o,worker/data_api.c \
	worker/chunk_store.c worker/replicator.c worker/load_stats.c)
FUZZ_DEPS_master_request := $(patsubst %.c,$(FUZZ_BUILD)/obj/%.o,$(filter-out master/main.c,$(wildcard master/*.c)))
FUZZ_DEPS_exports := $(if $(wildcard master/exports.c),$(FUZZ_BUILD)/obj/master/exports.o)

.PHONY: fuzz fuzz-build fuzz-clang fuzz-clean
fuzz-clang:
	@command -v $(FUZZ_CC) >/dev/null 2>&1 || { \
		echo "make fuzz: $(FUZZ_CC) not found: install clang (apt-get install -y clang;" \
		     "Debian 12's clang 14 ships libFuzzer)" >&2; exit 1; }

fuzz-build: fuzz-clang
	@$(MAKE) --no-print-directory $(FUZZ_BINS)

fuzz: fuzz-build
	FUZZ_BUILD=$(FUZZ_BUILD) fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)

fuzz-clean:
	rm -rf $(FUZZ_BUILD)

.PRECIOUS: $(FUZZ_BUILD)/obj/%.o
$(FUZZ_BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(FUZZ_COMMON_LIB): $(FUZZ_COMMON_OBJ)
	$(AR) rcs $@ $^

$(FUZZ_BUILD)/fuzz_%: $(FUZZ_BUILD)/obj/fuzz/fuzz_%.o $$(FUZZ_DEPS_%) $(FUZZ_COMMON_LIB)
	$(FUZZ_CC) -fsanitize=fuzzer $(FUZZ_SAN) -o $@ $^ $(LDLIBS)

-include $(shell find $(FUZZ_BUILD)/obj -name '*.d' 2>/dev/null)
# ---- end of fuzzing --------------------------------------------------------
