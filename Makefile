#  PyChat — one plain Makefile.
#
#  make            build every binary into bin/
#  make deps       install the Debian packages that are missing (apt-get, as root)
#  make up         run the whole stack in the foreground (private Redis included)
#  make test       sanitizer build (ASan + UBSan) + unit tests + black-box tests
#  make bench      benchmarks (see bench/)
#  make soak       long storms against real stacks (tests/soak/, not part of make test)
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
JSON_LIBS = $(shell pkg-config --libs jansson 2>/dev/null)
CFLAGS   += $(shell pkg-config --cflags libmicrohttpd jansson 2>/dev/null)

ifeq ($(SANITIZE),1)
  BUILD   ?= build/asan
  CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
  LDFLAGS += -fsanitize=address,undefined
else
  BUILD   ?= build/release
endif
BIN       = $(if $(filter build/release,$(BUILD)),bin,$(BUILD)/bin)

DEBS      = build-essential pkg-config libzmq3-dev libczmq-dev libsodium-dev \
            libhiredis-dev redis-server libncurses-dev libmicrohttpd-dev libjansson-dev \
            python3 python3-zmq python3-pytest tmux docker-compose iproute2 prometheus
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

.PHONY: all binaries deps deps-check up test bench soak clean asan
#  The binaries are built by a second make, so that on a fresh machine the
#  pkg-config flags are read after `make deps` installed the libraries.
all: deps-check
	@$(MAKE) --no-print-directory binaries
binaries: $(BINARIES)

#  deps-check is cheap: it only calls `make deps` when a header or tool is missing.
deps-check:
	@pkg-config --exists $(PKGS) libmicrohttpd ncursesw jansson && command -v redis-server >/dev/null \
	  && /usr/bin/python3 -c 'import zmq, pytest' 2>/dev/null \
	  && command -v tmux >/dev/null && command -v docker-compose >/dev/null && command -v ss >/dev/null \
	  && command -v promtool >/dev/null \
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
	$(CC) $(LDFLAGS) $^ $(LDLIBS) $(HTTP_LIBS) $(JSON_LIBS) -o $@

$(BIN)/pychat-console: $(CONSOLE_OBJ) $(PROTO_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) $(UI_LIBS) $(JSON_LIBS) -o $@

$(BIN)/pychat: $(CLIENT_OBJ) $(PROTO_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) $(UI_LIBS) -o $@

$(BIN)/pychat-selftest: $(SELFTEST_OBJ) $(PROTO_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) $(HTTP_LIBS) $(JSON_LIBS) -o $@

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
#  Both builds use every core: on a fresh clone they are a minute of the
#  15-minute budget when run one file at a time.
JOBS     ?= $(shell nproc 2>/dev/null || echo 2)
test: deps-check
	/usr/bin/python3 proto/gen_proto.py --check
	/usr/bin/python3 bench/table --check
	@$(MAKE) --no-print-directory -j$(JOBS) SANITIZE=1 all
	@$(MAKE) --no-print-directory -j$(JOBS) all
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	  build/asan/bin/pychat-selftest
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	  build/asan/bin/pychat-console --selftest
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	  build/asan/bin/pychat --selftest
	PYCHAT_BIN=$(CURDIR)/build/asan/bin /usr/bin/python3 -m pytest -q -p no:cacheprovider -m "not soak" tests/wire $(PYTEST_ARGS)

#  ...then the auth service's figures (issue 15): logins/s with one worker
#  and with the pool, and a reconnect storm after a broker kill -9 with
#  resume tokens and with passwords, on private stacks of their own; then
#  several brokers (issue 17): the multi-broker path's cost per message and
#  the failover times; last, search (issue 18): a room of a million
#  messages indexed, and SEARCH's latency.
AUTH_BENCH = PYCHAT_BIN=$(CURDIR)/bin /usr/bin/python3 bench/auth_bench.py
bench: all
	@bench/run $(if $(QUICK),--quick)
	@$(AUTH_BENCH) logins --workers 1 --count $(if $(QUICK),40,100)
	@$(AUTH_BENCH) logins --count $(if $(QUICK),40,100)
	@$(AUTH_BENCH) storm --count $(if $(QUICK),100,300)
	@$(AUTH_BENCH) storm --plain --count $(if $(QUICK),100,300)
	@PYCHAT_BIN=$(CURDIR)/bin /usr/bin/python3 bench/cluster_bench.py $(if $(QUICK),--quick)
	@PYCHAT_BIN=$(CURDIR)/bin /usr/bin/python3 bench/search_bench.py $(if $(QUICK),--quick)

#  make soak: the slow storms (descriptor exhaustion with 600 clients...)
#  against the sanitizer build, one file at a time.
soak: deps-check
	@$(MAKE) --no-print-directory SANITIZE=1 all
	PYCHAT_BIN=$(CURDIR)/build/asan/bin /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/soak $(PYTEST_ARGS)
	PYCHAT_BIN=$(CURDIR)/build/asan/bin /usr/bin/python3 -m pytest -q -p no:cacheprovider -m soak tests/wire $(PYTEST_ARGS)

clean:
	rm -rf build bin

#  --- install, packages ------------------------------------------------------
#  make install [PREFIX=/usr/local] [DESTDIR=...]   binaries, man pages, bash
#      completion, systemd units and pychat.target, sysusers.d entry, the
#      Prometheus alert rules and Grafana dashboard (share/pychat/), and
#      /etc/pychat/pychat.conf (never overwritten once there)
#  make man          the man pages from dist/man/*.txt into build/man/
#  make deb          the Debian package (debian/), into build/deb/
#  make test-package build the package, lintian, install it, run it, remove it
#                    (slow, changes the machine: not part of make test)
PREFIX        ?= /usr/local
BINDIR        ?= $(PREFIX)/bin
MANDIR        ?= $(PREFIX)/share/man
SYSCONFDIR    ?= /etc
UNITDIR       ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR   ?= $(PREFIX)/lib/sysusers.d
COMPLETIONDIR ?= $(PREFIX)/share/bash-completion/completions
PYCHATDATADIR ?= $(PREFIX)/share/pychat
INSTALL_BINS   = pychat pychat-broker pychat-authsvc pychat-monitor pychat-filesvc \
                 pychat-admin pychat-console
MAN_SRC        = $(wildcard dist/man/*.txt)
MAN_PAGES      = $(patsubst dist/man/%.txt,build/man/%,$(MAN_SRC))
UNITS          = $(wildcard dist/systemd/*.service dist/systemd/*.target)
#  What the tests need besides the DEBS above: light ones for make test,
#  the packaging tools only for make test-package.
DEBS          += man-db
PACKAGE_DEBS   = debhelper lintian fakeroot dpkg-dev

.PHONY: man install deb test-package package-deps
man: $(MAN_PAGES)
build/man/%: dist/man/%.txt dist/man/mkman.py proto/pc_version.h
	@mkdir -p $(dir $@)
	/usr/bin/python3 dist/man/mkman.py $< $@

install: $(addprefix $(BIN)/,$(INSTALL_BINS)) man
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR) \
	  $(DESTDIR)$(COMPLETIONDIR) $(DESTDIR)$(SYSCONFDIR)/pychat \
	  $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 \
	  $(DESTDIR)$(PYCHATDATADIR)/prometheus $(DESTDIR)$(PYCHATDATADIR)/grafana
	install -m 755 $(addprefix $(BIN)/,$(INSTALL_BINS)) $(DESTDIR)$(BINDIR)/
	for page in $(MAN_PAGES); do \
	  install -m 644 $$page $(DESTDIR)$(MANDIR)/man$${page##*.}/; done
	install -m 644 dist/completion/pychat $(DESTDIR)$(COMPLETIONDIR)/pychat
	install -m 644 dist/prometheus/pychat-rules.yml $(DESTDIR)$(PYCHATDATADIR)/prometheus/
	install -m 644 dist/grafana/pychat-dashboard.json $(DESTDIR)$(PYCHATDATADIR)/grafana/
	for unit in $(UNITS); do \
	  sed 's|@BINDIR@|$(BINDIR)|g' $$unit > $(DESTDIR)$(UNITDIR)/$${unit##*/} && \
	  chmod 644 $(DESTDIR)$(UNITDIR)/$${unit##*/}; done
	install -m 644 dist/systemd/pychat.sysusers $(DESTDIR)$(SYSUSERSDIR)/pychat.conf
	test -e $(DESTDIR)$(SYSCONFDIR)/pychat/pychat.conf \
	  || install -m 644 dist/pychat.conf $(DESTDIR)$(SYSCONFDIR)/pychat/pychat.conf

deb:
	@rm -rf build/deb && mkdir -p build/deb/src
	git ls-files -z -co --exclude-standard | xargs -0 cp --parents -t build/deb/src
	cd build/deb/src && dpkg-buildpackage -us -uc -b
	@ls build/deb/*.deb

package-deps:
	@$(MAKE) --no-print-directory deps DEBS="$(PACKAGE_DEBS)"

test-package: package-deps
	PYCHAT_PACKAGE_TEST=1 /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/wire/test_package.py $(PYTEST_ARGS)

#  A configuration installed on this machine (/etc/pychat/pychat.conf) stays
#  out of the tests' stacks.
test soak: export PYCHAT_CONFIG = /dev/null
