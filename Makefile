#  PyChat — one plain Makefile.
#
#  make            build every binary into bin/
#  make deps       install the Debian packages that are missing (apt-get, as root)
#  make up         run the whole stack in the foreground (private Redis included)
#  make test       sanitizer build (ASan + UBSan) + unit tests + black-box tests
#  make bench      benchmarks (see bench/)
#  make clean
#
#  SANITIZE=1 builds with -fsanitize=address,undefined into build/asan/bin.

PKGS      = libzmq libczmq libsodium hiredis
CC       ?= cc
CFLAGS   ?= -O2 -g
CFLAGS   += -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter -Wno-format-truncation -Iproto \
            $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS   += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lm
HTTP_LIBS = $(shell pkg-config --libs libmicrohttpd 2>/dev/null)
UI_LIBS   = $(shell pkg-config --libs ncursesw 2>/dev/null)
CFLAGS   += $(shell pkg-config --cflags libmicrohttpd 2>/dev/null)

ifeq ($(SANITIZE),1)
  BUILD   ?= build/asan
  CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
  LDFLAGS += -fsanitize=address,undefined
else
  BUILD   ?= build/release
endif
BIN       = $(if $(filter build/release,$(BUILD)),bin,$(BUILD)/bin)

DEBS      = build-essential pkg-config libzmq3-dev libczmq-dev libsodium-dev \
            libhiredis-dev redis-server libncurses-dev libmicrohttpd-dev \
            python3 python3-zmq python3-pytest tmux docker-compose iproute2
PROTO_SRC = $(wildcard proto/*.c)
PROTO_OBJ = $(PROTO_SRC:%.c=$(BUILD)/%.o)
PROTO_LIB = $(BUILD)/libpychat-proto.a

#  Each process is one folder: every .c in it but main.c/console.c is a module.
BROKER_OBJ  = $(patsubst %.c,$(BUILD)/%.o,$(wildcard broker/*.c))
AUTHSVC_OBJ = $(patsubst %.c,$(BUILD)/%.o,$(filter-out authsvc/admin.c,$(wildcard authsvc/*.c)))
ADMIN_OBJ   = $(BUILD)/authsvc/admin.o
MONITOR_OBJ = $(patsubst %.c,$(BUILD)/%.o,$(filter-out monitor/console%,$(wildcard monitor/*.c)))
CONSOLE_OBJ = $(patsubst %.c,$(BUILD)/%.o,$(wildcard monitor/console*.c))
FILESVC_OBJ = $(patsubst %.c,$(BUILD)/%.o,$(wildcard filesvc/*.c))
CLIENT_OBJ  = $(patsubst %.c,$(BUILD)/%.o,$(wildcard client/*.c))
SELFTEST_OBJ= $(BUILD)/tests/selftest.o $(filter-out %/main.o %/admin.o,$(BROKER_OBJ) $(AUTHSVC_OBJ) $(MONITOR_OBJ) $(FILESVC_OBJ))

BINARIES  = $(BIN)/pychat-broker $(BIN)/pychat-authsvc $(BIN)/pychat-monitor \
            $(BIN)/pychat $(BIN)/pychat-admin $(BIN)/pychat-selftest \
            $(if $(wildcard filesvc/main.c),$(BIN)/pychat-filesvc) \
            $(if $(wildcard monitor/console.c),$(BIN)/pychat-console)

.PHONY: all binaries deps deps-check up test bench clean asan
#  The binaries are built by a second make, so that on a fresh machine the
#  pkg-config flags are read after `make deps` installed the libraries.
all: deps-check
	@$(MAKE) --no-print-directory binaries
binaries: $(BINARIES)

#  deps-check is cheap: it only calls `make deps` when a header or tool is missing.
deps-check:
	@pkg-config --exists $(PKGS) libmicrohttpd ncursesw && command -v redis-server >/dev/null \
	  && /usr/bin/python3 -c 'import zmq, pytest' 2>/dev/null \
	  && command -v tmux >/dev/null && command -v docker-compose >/dev/null && command -v ss >/dev/null \
	  || $(MAKE) --no-print-directory deps

deps:
	@missing=""; for p in $(DEBS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "make deps: installing$$missing"; \
	  if [ "$$(id -u)" != 0 ]; then SUDO=sudo; else SUDO=; fi; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

#  The protocol model: proto/gen_proto.py writes the command table, accessors,
#  dispatch tables and the tests' constants from proto/pychat.json. Its output
#  is committed (a reader and grep see it); this rewrites whatever the model
#  changed before anything is compiled.
PROTO_STAMP = build/proto.stamp
$(PROTO_STAMP): proto/pychat.json proto/gen_proto.py
	@mkdir -p $(dir $@)
	@/usr/bin/python3 proto/gen_proto.py
	@touch $@

.SECONDEXPANSION:
$(BUILD)/%.o: %.c $(wildcard proto/*.h) $$(wildcard $$(dir %)*.h) | $(PROTO_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(PROTO_LIB): $(PROTO_OBJ)
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^

$(BIN)/pychat-broker: $(BROKER_OBJ) $(PROTO_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BIN)/pychat-authsvc: $(AUTHSVC_OBJ) $(PROTO_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BIN)/pychat-admin: $(ADMIN_OBJ) $(PROTO_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BIN)/pychat-filesvc: $(FILESVC_OBJ) $(PROTO_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BIN)/pychat-monitor: $(MONITOR_OBJ) $(PROTO_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) $(HTTP_LIBS) -o $@

$(BIN)/pychat-console: $(CONSOLE_OBJ) $(PROTO_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) $(UI_LIBS) -o $@

$(BIN)/pychat: $(CLIENT_OBJ) $(PROTO_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) $(UI_LIBS) -o $@

$(BIN)/pychat-selftest: $(SELFTEST_OBJ) $(PROTO_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) $(HTTP_LIBS) -o $@

#  The selftest links every module but the mains; main.o objects are built with
#  -Dmain=... nowhere: they are simply left out.
$(BUILD)/tests/selftest.o: tests/selftest.c tests/selftests.h $(wildcard proto/*.h broker/*.h authsvc/*.h monitor/*.h filesvc/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Ibroker -Iauthsvc -Imonitor -Ifilesvc -Itests -c $< -o $@

asan:
	@$(MAKE) --no-print-directory SANITIZE=1 all

up: all
	@scripts/pychat-up

#  make test: the sanitizer build, every module's selftest, then the black-box
#  tests against real stacks (real redis-server, real binaries, CURVE everywhere).
test: deps-check
	/usr/bin/python3 proto/gen_proto.py --check
	@$(MAKE) --no-print-directory SANITIZE=1 all
	@$(MAKE) --no-print-directory all
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	  build/asan/bin/pychat-selftest
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	  build/asan/bin/pychat-console --selftest
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	  build/asan/bin/pychat --selftest
	PYCHAT_BIN=$(CURDIR)/build/asan/bin /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/wire $(PYTEST_ARGS)

bench: all
	@bench/run $(if $(QUICK),--quick)

clean:
	rm -rf build bin
