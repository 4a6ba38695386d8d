# Makefile of enterprised. `make` builds ./enterprised; `make test` runs every test, plain and
# under AddressSanitizer + UndefinedBehaviorSanitizer; `make run` is the dev runner; `make bench`
# the benchmarks; `make drill` the fault drills. Missing packages and tools are installed by
# `make deps` (tools/deps).

BUILD    ?= release
OUT      := build/$(BUILD)
PKGS     := libh2o-evloop libssl libcrypto hiredis libbson-1.0 libmongoc-1.0 libjwt libxxhash jansson libseccomp
TESTPKGS := cmocka libcurl

CC       ?= cc
WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wno-unused-parameter
# Debian's libh2o-evloop.pc omits this, and without it h2o's headers pick the libuv flavour.
DEFS     := -DH2O_USE_LIBUV=0 -D_GNU_SOURCE
ifeq ($(BUILD),asan)
OPT      := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
else
OPT      := -O2 -g
endif

PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
TEST_CFLAGS = $(shell pkg-config --cflags $(TESTPKGS) 2>/dev/null)
TEST_LIBS   = $(shell pkg-config --libs $(TESTPKGS) 2>/dev/null)
CFLAGS   += -std=c11 $(OPT) $(WARN) $(DEFS) -MMD -MP
LDLIBS   := -lpthread -lm -lz

SRCS     := $(filter-out src/main.c,$(wildcard src/*.c))
OBJS     := $(SRCS:src/%.c=$(OUT)/src/%.o)
LIB      := $(OUT)/libenterprised.a
UNIT     := $(patsubst tests/unit/%.c,$(OUT)/tests/unit/%,$(wildcard tests/unit/test_*.c))
E2E_SUP  := $(filter-out tests/e2e/test_%.c,$(wildcard tests/e2e/*.c))
E2E_OBJS := $(E2E_SUP:tests/e2e/%.c=$(OUT)/tests/e2e/%.o)
E2E      := $(patsubst tests/e2e/%.c,$(OUT)/tests/e2e/%,$(wildcard tests/e2e/test_*.c))
ifeq ($(BUILD),release)
BIN      := enterprised
else
BIN      := $(OUT)/enterprised
endif
DEPS_STAMP := .tools/deps.stamp

.PHONY: all deps run test check test-unit test-e2e test-binaries bench drill clean format contract promtool

TOOLS    := $(patsubst tools/%.c,$(OUT)/tools/%,$(wildcard tools/*.c))

all: $(DEPS_STAMP) $(BIN) $(TOOLS)

deps:
	@tools/deps

$(DEPS_STAMP): tools/deps
	@tools/deps

$(BIN): src/main.c $(LIB)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -o $@ src/main.c $(LIB) $(PKG_LIBS) $(LDLIBS)

$(LIB): $(OBJS)
	@rm -f $@
	ar rcs $@ $^

# order-only on the deps stamp: with -j, nothing compiles before tools/deps has installed the
# headers (pkg-config answers nothing until then)
$(OUT)/src/%.o: src/%.c | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -c -o $@ $<

# dev tools built from the same library (tools/dev token)
$(OUT)/tools/%: tools/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -Isrc -o $@ $< $(LIB) $(PKG_LIBS) $(LDLIBS)

$(OUT)/tests/unit/%: tests/unit/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) $(TEST_CFLAGS) -Isrc -o $@ $< $(LIB) $(PKG_LIBS) $(TEST_LIBS) $(LDLIBS)

$(OUT)/tests/e2e/%.o: tests/e2e/%.c | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) $(TEST_CFLAGS) -Isrc -c -o $@ $<

$(OUT)/tests/e2e/%: tests/e2e/%.c $(E2E_OBJS) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) $(TEST_CFLAGS) -Isrc -o $@ $< $(E2E_OBJS) $(LIB) $(PKG_LIBS) $(TEST_LIBS) $(LDLIBS)

test-binaries: $(DEPS_STAMP) $(BIN) $(TOOLS) $(UNIT) $(E2E)

# One variant: unit tests, then end-to-end tests against $(BIN). Prints `N passed, N failed`.
check: test-binaries
	@tests/run $(BUILD) $(BIN) $(UNIT) -- $(E2E)

# Everything, plain and sanitized; the last line sums both runs. run-all builds each variant
# through `check`, so a variant that fails to build is counted and the other one still runs.
test: $(DEPS_STAMP)
	@tests/run-all

# The API contract (tools/contract): assets/openapi.json linted, compared with the route table
# both ways, and every response of the last recorded e2e run validated against it (tests/run-all
# records the release run into build/contract/responses.jsonl). Prints `contract: N passed, N failed`.
contract: $(DEPS_STAMP) $(OUT)/tools/routes
	@tools/contract $(OUT)/tools/routes

# The Prometheus files (conf/prometheus.yml, conf/prometheus-rules.yml) checked and their
# recording rules tested by promtool (tests/promtool/run; tests/run-all counts it).
promtool:
	@tests/promtool/run

run: $(DEPS_STAMP) $(BIN)
	@tools/dev run

bench: $(DEPS_STAMP) $(BIN)
	@tools/bench

# fault drills under load (a measurement, not in `make test`): build/drill/latest.md
drill: $(DEPS_STAMP) $(BIN)
	@tools/drill

format:
	clang-format -i src/*.c src/*.h tests/unit/*.c tests/e2e/*.c tests/e2e/*.h

clean:
	rm -rf build enterprised

# keep the e2e support objects between builds
.SECONDARY:

-include $(OBJS:.o=.d) $(TOOLS:=.d)

# --- fuzzing ---------------------------------------------------------------------------------
# libFuzzer harnesses (tests/fuzz/fuzz_<target>.c), one per parser that sees client bytes,
# built with Debian's clang under AddressSanitizer + UBSan into build/fuzz/ (the library objects
# with -fsanitize=fuzzer-no-link, so the parsers are instrumented). `make fuzz` runs each for
# FUZZ_SECONDS from its seed corpus tests/fuzz/corpus/<target>/ into a scratch copy and fails on a
# crash (tools/fuzz); `make fuzz-replay` runs every checked-in corpus file once (tests/run-all).
FUZZ_SECONDS ?= 60
FUZZ_OUT     := build/fuzz
FUZZ_CC      := clang
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS  := -std=c11 -O1 -g -fno-omit-frame-pointer $(FUZZ_SAN) $(WARN) $(DEFS) -MMD -MP
FUZZ_OBJS    := $(SRCS:src/%.c=$(FUZZ_OUT)/src/%.o)
FUZZ_LIB     := $(FUZZ_OUT)/libenterprised.a
FUZZ_BINS    := $(patsubst tests/fuzz/%.c,$(FUZZ_OUT)/%,$(wildcard tests/fuzz/fuzz_*.c))
# oracles the harnesses share (tests/fuzz/oracle.c: other libraries' verdicts, kept out of the
# harnesses' own files where their names would clash with ours)
FUZZ_SUP     := $(FUZZ_OUT)/oracle.o

.PHONY: fuzz fuzz-binaries fuzz-replay

$(FUZZ_OUT)/src/%.o: src/%.c | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link $(PKG_CFLAGS) -c -o $@ $<

$(FUZZ_LIB): $(FUZZ_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(FUZZ_OUT)/oracle.o: tests/fuzz/oracle.c | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link $(PKG_CFLAGS) -c -o $@ $<

$(FUZZ_OUT)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_LIB) $(FUZZ_SUP)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $(PKG_CFLAGS) -Isrc -o $@ $< $(FUZZ_SUP) \
		$(FUZZ_LIB) $(PKG_LIBS) $(LDLIBS)

fuzz-binaries: $(DEPS_STAMP) $(FUZZ_BINS)

fuzz: fuzz-binaries
	@FUZZ_SECONDS=$(FUZZ_SECONDS) tools/fuzz run $(FUZZ_BINS)

fuzz-replay: fuzz-binaries
	@tools/fuzz replay $(FUZZ_BINS)

-include $(FUZZ_OBJS:.o=.d) $(FUZZ_BINS:=.d) $(FUZZ_SUP:.o=.d)

# the OpenAPI document is embedded in openapi.o by .incbin (src/openapi.c)
$(OUT)/src/openapi.o $(FUZZ_OUT)/src/openapi.o: assets/openapi.json
# the dashboard's page, script and style likewise in dashboard.o (src/dashboard.c)
$(OUT)/src/dashboard.o $(FUZZ_OUT)/src/dashboard.o: assets/dashboard.html assets/dashboard.js \
	assets/dashboard.css
