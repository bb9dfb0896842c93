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
UNIT_DEPS_test_master_client := $(BUILD)/fuse/master_client.o $(BUILD)/fuse/thread_http.o $(BUILD)/fuse/worker_io.o $(BUILD)/fuse/worker_health.o $(BUILD)/fuse/metrics.o
UNIT_DEPS_test_worker_io := $(BUILD)/fuse/worker_io.o $(BUILD)/fuse/worker_health.o $(BUILD)/fuse/master_client.o $(BUILD)/fuse/thread_http.o $(BUILD)/fuse/metrics.o
UNIT_DEPS_test_atime_queue := $(BUILD)/fuse/atime_queue.o $(BUILD)/fuse/master_client.o $(BUILD)/fuse/thread_http.o $(BUILD)/fuse/metrics.o
UNIT_DEPS_test_namespace := $(BUILD)/master/namespace.o $(BUILD)/master/atime_table.o $(BUILD)/master/posix_acl.o $(BUILD)/master/meta_store.o $(BUILD)/master/chunk_map.o $(BUILD)/master/worker_registry.o $(BUILD)/master/placement.o
UNIT_DEPS_test_locks := $(BUILD)/master/locks.o
UNIT_DEPS_test_exports := $(BUILD)/master/exports.o
UNIT_DEPS_test_auth_sessions := $(BUILD)/master/auth_sessions.o $(BUILD)/master/exports.o
UNIT_DEPS_test_atime_table := $(BUILD)/master/atime_table.o
UNIT_DEPS_test_meta_store := $(BUILD)/master/meta_store.o
UNIT_DEPS_test_metalog_record := $(BUILD)/master/metalog_record.o
UNIT_DEPS_test_meta_log := $(BUILD)/master/meta_store.o
UNIT_DEPS_test_session := $(BUILD)/master/session.o $(BUILD)/master/locks.o $(BUILD)/master/namespace.o $(BUILD)/master/atime_table.o $(BUILD)/master/posix_acl.o $(BUILD)/master/meta_store.o $(BUILD)/master/chunk_map.o $(BUILD)/master/worker_registry.o $(BUILD)/master/placement.o
UNIT_DEPS_test_posix_acl := $(BUILD)/master/posix_acl.o $(BUILD)/master/namespace.o $(BUILD)/master/atime_table.o $(BUILD)/master/meta_store.o $(BUILD)/master/chunk_map.o $(BUILD)/master/worker_registry.o $(BUILD)/master/placement.o
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

install: $(BINS)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)/sbin
	install -m 755 $(BUILD)/bigfs-master $(BUILD)/bigfs-worker $(BUILD)/bigfs $(DESTDIR)$(PREFIX)/bin/
	install -m 755 $(BUILD)/mount.bigfs $(DESTDIR)/sbin/mount.bigfs

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
