# SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
# bpf-threadwatch: `make` builds build/bpf-threadwatch; `make help` lists the rest.

ARCH ?= $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
VMLINUX_DIR := vmlinux/$(ARCH)
ifeq ($(wildcard $(VMLINUX_DIR)/vmlinux.h),)
$(error no $(VMLINUX_DIR)/vmlinux.h for architecture '$(ARCH)': generate one with vmlinux/gen.sh on such a machine)
endif
BPF_ARCH := $(ARCH)

VERSION := 0.1.0
BUILD ?= build
CLANG ?= clang
BPFTOOL ?= bpftool
CC ?= gcc
PYTHON ?= /usr/bin/python3

CWARN := -Wall -Wextra -Werror
BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(BPF_ARCH) $(CWARN) -Wno-unused-function -Wno-unused-parameter \
	-I$(VMLINUX_DIR) -Ibpf -I/usr/include/$(shell uname -m)-linux-gnu $(BPF_DEFS)
CFLAGS ?= -O2 -g
USER_CFLAGS := $(CFLAGS) $(CWARN) -std=gnu11 -D_GNU_SOURCE -DTW_VERSION='"$(VERSION)"' \
	-Ibpf -Iuser -I$(BUILD)
# libdw (elfutils) unwinds user stacks from CFI (user/unwind.c): pkg-config says -ldw -lelf
LIBDW := $(shell pkg-config --libs libdw 2>/dev/null || echo -ldw -lelf)
# libdebuginfod: debug files from the servers of DEBUGINFOD_URLS, only when the user sets it
LIBDEBUGINFOD := $(shell pkg-config --libs libdebuginfod 2>/dev/null || echo -ldebuginfod)
LDLIBS := -lbpf $(LIBDW) -lelf -lz -lm -lmicrohttpd -lpthread -lprotobuf-c $(LIBDEBUGINFOD) \
	-lstdc++
# pprof's profile.proto as Debian ships it (golang-github-google-pprof-dev); protoc-c makes its C
PROFILE_PROTO ?= /usr/share/gocode/src/github.com/google/pprof/proto/profile.proto
PB_SRCS := $(BUILD)/profile.pb-c.c

# sched.bpf.c first: it defines the maps (TW_DEFINE_MAPS), and bpftool's linker resolves an
# extern map only against a definition it has already seen ("map relo failed" otherwise)
BPF_SRCS := bpf/sched.bpf.c $(filter-out bpf/sched.bpf.c,$(wildcard bpf/*.bpf.c))
BPF_HDRS := $(wildcard bpf/*.h)
BPF_OBJS := $(patsubst bpf/%.bpf.c,$(BUILD)/bpf/%.bpf.o,$(BPF_SRCS))
USER_SRCS := $(wildcard user/*.c)
USER_HDRS := $(wildcard user/*.h)
# everything but main.c, so unit tests and fuzzers link the same code
LIB_SRCS := $(filter-out user/main.c user/daemon.c,$(USER_SRCS))

.PHONY: all deps demo test check unit e2e asan format format-check lint bench bench-tools pystack-timing \
	clean help
all: $(BUILD)/bpf-threadwatch workloads bench-tools

help:
	@echo "make            build $(BUILD)/bpf-threadwatch and the test workloads"
	@echo "make deps       install every Debian package needed (idempotent)"
	@echo "make demo       deps + build + trace the bundled demo workload"
	@echo "make check      deps + build + every test (unit, end-to-end, sanitizers, VMs)"
	@echo "make unit       unprivileged unit tests only"
	@echo "make e2e        end-to-end tests (root, real BPF)"
	@echo "make asan       ASan+UBSan build of user space into $(BUILD)-asan/"
	@echo "make bench      overhead benchmarks (writes bench/results/)"
	@echo "make bench-tools  the benchmarks' empty-program floor (part of make all)"
	@echo "make format / format-check / lint"

deps:
	./tools/deps.sh

$(BUILD)/bpf/%.bpf.o: bpf/%.bpf.c $(BPF_HDRS) | $(BUILD)/bpf
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BUILD)/threadwatch.bpf.o: $(BPF_OBJS)
	$(BPFTOOL) gen object $@ $^

$(BUILD)/threadwatch.skel.h: $(BUILD)/threadwatch.bpf.o
	$(BPFTOOL) gen skeleton $< name threadwatch_bpf > $@.tmp && mv $@.tmp $@

$(BUILD)/bpf-threadwatch: $(USER_SRCS) $(USER_HDRS) bpf/threadwatch.h $(BUILD)/threadwatch.skel.h \
		$(BUILD)/syscall_names.h $(PB_SRCS)
	$(CC) $(USER_CFLAGS) $(USER_SRCS) $(PB_SRCS) -o $@ $(LDLIBS)

$(BUILD)/profile.pb-c.c: $(PROFILE_PROTO) | $(BUILD)/bpf
	protoc-c --c_out=$(BUILD) -I$(dir $(PROFILE_PROTO)) $(PROFILE_PROTO)

$(BUILD)/bpf $(BUILD)/tests:
	mkdir -p $@

# syscall number -> name for this architecture, from the kernel headers user space builds against
$(BUILD)/syscall_names.h: | $(BUILD)/bpf
	echo '#include <asm/unistd.h>' | $(CC) -E -dM -x c - | \
		sed -n 's/^#define __NR_\([a-z][a-z0-9_]*\) [0-9].*/\1/p' | sort -u | \
		awk '{ printf "[__NR_%s] = \"%s\",\n", $$1, $$1 }' > $@.tmp && mv $@.tmp $@

# Test workloads: small C programs that know exactly what they did.
WORKLOAD_SRCS := $(wildcard tests/workloads/*.c)
WORKLOADS := $(patsubst tests/workloads/%.c,$(BUILD)/tests/%,$(WORKLOAD_SRCS))
workloads: $(WORKLOADS) $(BUILD)/tests/libdeep.so $(BUILD)/tests/unwind-check
$(BUILD)/tests/%: tests/workloads/%.c tests/workloads/workload.h | $(BUILD)/tests
	$(CC) -O2 -g $(WORKLOAD_CFLAGS) $(CWARN) -D_GNU_SOURCE -pthread $< -o $@ -lm
# built as Debian builds its packages: no frame pointers, CFI for every instruction
UNWIND_WORKLOAD_CFLAGS := -fomit-frame-pointer -fasynchronous-unwind-tables
$(BUILD)/tests/deepstack $(BUILD)/tests/jitstack $(BUILD)/tests/dlstack $(BUILD)/tests/blockednow \
	$(BUILD)/tests/stallloop: \
	WORKLOAD_CFLAGS := $(UNWIND_WORKLOAD_CFLAGS)
# a library dlstack maps late (not a workload of its own: tests/workloads/lib/)
$(BUILD)/tests/libdeep.so: tests/workloads/lib/deeplib.c | $(BUILD)/tests
	$(CC) -O2 -g $(UNWIND_WORKLOAD_CFLAGS) $(CWARN) -fPIC -shared $< -o $@

# The unwinder driven by hand on a ptrace-stopped process (tests/e2e/test_unwind.py).
UNWIND_CHECK_SRCS := tests/tools/unwind-check.c user/unwind.c user/symmap.c user/demangle.c \
	user/json.c user/debuginfod.c
$(BUILD)/tests/unwind-check: $(UNWIND_CHECK_SRCS) user/unwind.h user/symmap.h user/json.h \
		| $(BUILD)/tests
	$(CC) $(USER_CFLAGS) $(UNWIND_CHECK_SRCS) -o $@ $(LIBDW) $(LIBDEBUGINFOD) -lm -lstdc++

# Unit tests: pure logic, no privileges.
UNIT_SRCS := $(wildcard tests/unit/*.c)
$(BUILD)/unit-tests: $(UNIT_SRCS) $(LIB_SRCS) $(USER_HDRS) $(BUILD)/threadwatch.skel.h \
		$(BUILD)/syscall_names.h $(PB_SRCS)
	$(CC) $(USER_CFLAGS) -fsanitize=address,undefined -fno-omit-frame-pointer -Itests/unit \
		$(UNIT_SRCS) $(LIB_SRCS) $(PB_SRCS) -o $@ $(LDLIBS)

unit: $(BUILD)/unit-tests
	$(BUILD)/unit-tests

# ASan+UBSan build of the whole agent; the end-to-end suite runs it too.
ASAN_FLAGS := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
asan: $(BUILD)-asan/bpf-threadwatch $(BUILD)-asan/unwind-check
$(BUILD)-asan/unwind-check: $(UNWIND_CHECK_SRCS) user/unwind.h user/symmap.h user/json.h
	mkdir -p $(BUILD)-asan
	$(CLANG) $(filter-out -O2 -g,$(USER_CFLAGS)) $(ASAN_FLAGS) $(UNWIND_CHECK_SRCS) -o $@ $(LIBDW) \
		$(LIBDEBUGINFOD) -lm -lstdc++
$(BUILD)-asan/bpf-threadwatch: $(USER_SRCS) $(USER_HDRS) bpf/threadwatch.h $(BUILD)/threadwatch.skel.h \
		$(BUILD)/syscall_names.h $(PB_SRCS)
	mkdir -p $(BUILD)-asan
	$(CLANG) $(filter-out -O2 -g,$(USER_CFLAGS)) $(ASAN_FLAGS) $(USER_SRCS) $(PB_SRCS) -o $@ \
		$(LDLIBS)

e2e: all asan
	$(PYTHON) -m pytest -q tests/e2e

test: all unit asan
	./tests/run-all.sh

check: deps
	$(MAKE) all
	./tests/run-all.sh

demo: deps
	$(MAKE) all
	./tools/demo.sh

bench: all
	./bench/run.sh

# The physical floor for bench/run.sh: empty BPF programs on the agent's hooks, and their loader.
bench-tools: $(BUILD)/bench/floor.bpf.o $(BUILD)/bench/floorload
$(BUILD)/bench:
	mkdir -p $@
$(BUILD)/bench/floor.bpf.o: bench/floor.bpf.c | $(BUILD)/bench
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@
$(BUILD)/bench/floorload: bench/floorload.c | $(BUILD)/bench
	$(CC) $(CFLAGS) $(CWARN) -std=gnu11 -D_GNU_SOURCE $< -o $@ -lbpf -lelf -lz

# bench/pystack.py's timing agent: captures and Python frame walks timed in BPF
# (bpf/pyframes.bpf.h, TW_BENCH_TIMING), its own build folder; built on demand by the script
pystack-timing:
	$(MAKE) BUILD=$(BUILD)/bench/pytiming BPF_DEFS=-DTW_BENCH_TIMING=1 \
		$(BUILD)/bench/pytiming/bpf-threadwatch

FORMAT_SRCS = $(wildcard bpf/*.c bpf/*.h user/*.c user/*.h tests/unit/*.[ch] tests/workloads/*.[ch] \
	tests/workloads/lib/*.c tests/fuzz/*.c tests/tools/*.c bench/*.c)
format:
	clang-format -i $(FORMAT_SRCS)
format-check:
	clang-format --dry-run --Werror $(FORMAT_SRCS)

TIDY_FLAGS = $(filter-out -I$(BUILD),$(USER_CFLAGS)) -isystem $(BUILD)
# cppcheck: libbpf_common.h is pre-included for LIBBPF_OPTS; readdir_r, which cppcheck
# prefers, is deprecated by glibc (readdir on a private DIR stream is safe); protoc-c's
# header checks the version macro of a system header cppcheck does not read.
lint: $(BUILD)/threadwatch.skel.h $(BUILD)/syscall_names.h $(PB_SRCS)
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
		--inline-suppr --suppress=missingIncludeSystem --suppress=readdirCalled \
		--suppress='preprocessorErrorDirective:$(BUILD)/profile.pb-c.h' \
		--include=/usr/include/bpf/libbpf_common.h -I/usr/include/bpf \
		-Ibpf -Iuser -I$(BUILD) -D_GNU_SOURCE --library=posix user/
	clang-tidy --quiet $(filter-out user/loader.c,$(USER_SRCS)) -- $(TIDY_FLAGS)
	@# the analyzer cannot see into libbpf and flags bpftool's generated skeleton code
	clang-tidy --quiet --checks=-clang-analyzer-unix.Malloc user/loader.c -- $(TIDY_FLAGS)

clean:
	rm -rf $(BUILD) $(BUILD)-asan
