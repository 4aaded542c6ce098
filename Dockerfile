#  PyChat: one image holds every service; docker-compose.yml picks the
#  process per container (pychat-authsvc, pychat-broker, pychat-monitor,
#  pychat-filesvc) and runs pychat-admin and pychat-console in it.
#
#      docker build -t pychat .
#      docker-compose up -d

#  --- build stage: Debian's packages, the plain Makefile ----------------------
FROM debian:bookworm-slim AS build
#  python3: the Makefile regenerates proto/pc_proto.[ch] from proto/pychat.json
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential pkg-config python3 libzmq3-dev libczmq-dev libsodium-dev \
      libhiredis-dev libncurses-dev libmicrohttpd-dev libjansson-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
#  Named targets, not `make all`: that one also checks for the test tools
#  (redis-server, python3-zmq, docker-compose) which a build does not need.
RUN make bin/pychat-authsvc bin/pychat-broker bin/pychat-monitor bin/pychat-filesvc \
         bin/pychat bin/pychat-admin bin/pychat-console \
 && strip bin/pychat-authsvc bin/pychat-broker bin/pychat-monitor bin/pychat-filesvc \
          bin/pychat bin/pychat-admin bin/pychat-console

#  --- runtime stage: the shared libraries and the binaries, no compiler ------
FROM debian:bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libzmq5 libczmq4 libsodium23 libhiredis0.14 libncursesw6 libmicrohttpd12 libjansson4 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 pychat \
 && useradd --system --no-log-init --uid 10001 --gid pychat --home-dir /data \
            --shell /usr/sbin/nologin pychat \
 && mkdir -p /data/keys /files \
 && chown -R pychat:pychat /data /files
COPY --from=build /src/bin/pychat-authsvc /src/bin/pychat-broker \
                  /src/bin/pychat-monitor /src/bin/pychat-filesvc /src/bin/pychat \
                  /src/bin/pychat-admin /src/bin/pychat-console /usr/local/bin/
USER pychat
WORKDIR /data
#  PYCHAT_HOME: the client state of `pychat ping` (the broker's healthcheck)
#  and of a console run in the stack, inside the data volume.
ENV PYCHAT_DATA=/data \
    PYCHAT_PORT=5555 \
    PYCHAT_BIND=* \
    PYCHAT_HOME=/data/client
#  Keys (and broker.pub, what clients need) live here; share it between services.
VOLUME /data
#  Shared files (the file service's PYCHAT_FILES_DIR in docker-compose.yml)
VOLUME /files
#  broker commands, broker fan-out, authsvc, monitor, metrics (HTTP), files
EXPOSE 5555 5556 5557 5558 5559 5560
CMD ["pychat-broker"]
