//  pc_config.h: configuration from the environment (ARCHITECTURE.md, 8)
//  and an optional file.
//
//  PYCHAT_CONFIG   the optional file of KEY=value lines default /etc/pychat/pychat.conf
//                  (the same names as the environment; # comments; a variable
//                  set, non-empty, in the environment wins over the file; a
//                  missing default file is fine, a missing named one is not;
//                  PYCHAT_CONFIG=/dev/null reads none)
//  PYCHAT_DATA     keys, Redis data, logs               default ./var
//  PYCHAT_PORT     base port                            default 5555
//  PYCHAT_BIND     interface the services listen on     default * (all)
//  PYCHAT_REDIS    host:port of Redis                   default 127.0.0.1:PORT+9
//  PYCHAT_AUTHSVC  auth service endpoint(s), comma-separated
//                                                       default tcp://127.0.0.1:PORT+2
//  PYCHAT_BROKER   broker host, for the monitor          default 127.0.0.1
//  PYCHAT_MONITOR  monitor endpoint, for its clients     default tcp://127.0.0.1:PORT+3
//  PYCHAT_HISTORY  messages kept per room and inbox      default 10000
//  PYCHAT_FANOUT_HWM  messages queued per subscriber before the broker
//                  drops (the reader fills the gap)     default 10000
//  PYCHAT_FILES_DIR   where the file service keeps bytes default PYCHAT_DATA/files
//  PYCHAT_FILES_MAX   largest file (bytes, K/M/G suffix) default 100M
//  PYCHAT_FILES_QUOTA bytes of files one user may hold   default 1G
//  PYCHAT_FILES_MIN_FREE  disk space uploads never eat into   default 64M
//  PYCHAT_PUBLIC_FILES host:port where clients reach the file service, told
//                  in the broker's FILES reply    default the broker's host, PORT+5
//  PYCHAT_BROKER_ID  this broker's name among several on one Redis: set, the
//                  broker runs in multi-broker mode (broker_cluster.h)  default "" (alone)
//  PYCHAT_REDIS_SENTINELS  host:port,... of Redis Sentinels: every service
//                  asks them where the primary is at each connect  default "" (none)
//  PYCHAT_REDIS_MASTER  the primary's name at the sentinels  default pychat
//  PYCHAT_REDIS_REPLICAS  a SEND or DM is acknowledged once this many replicas
//                  have it (WAIT, at most 1 s; else 503 and the client resends)  default 0
//  PYCHAT_ADVERTISE  the endpoint clients reach this broker at, told to
//                  them in LOGIN's reply in multi-broker mode
//                                                       default tcp://PYCHAT_BROKER:PORT
//  PYCHAT_MAX_SESSIONS  logged-in sessions at most (LOGIN beyond: 503)  default 0 (no cap)
//  PYCHAT_RATE_SEND     SEND and DM per user: RATE/BURST (per second; 0 off) default 100/1000
//  PYCHAT_RATE_QUERY    HISTORY, INBOX, ROOMS, WHO, USERS per user         default 20/200
//  PYCHAT_RATE_SESSION  every command of one session                      default 500/2000
#ifndef PC_CONFIG_H_INCLUDED
#define PC_CONFIG_H_INCLUDED

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#ifndef PC_CONFIG_FILE
#   define PC_CONFIG_FILE "/etc/pychat/pychat.conf"
#endif

//  A token bucket's setting: rate tokens a second, at most burst; rate 0: no limit
typedef struct {
    double rate;
    double burst;
} pc_rate_t;

typedef struct {
    char data_dir [PATH_MAX];
    char keys_dir [PATH_MAX];
    int  base_port;
    char bind [256];
    char redis_host [256];
    int  redis_port;
    char authsvc [1024];
    char broker_host [256];
    char monitor [512];
    size_t history_max;
    int  fanout_hwm;
    char files_dir [PATH_MAX];
    unsigned long long files_max;
    unsigned long long files_quota;
    unsigned long long files_min_free;
    char public_files_host [256];       //  "" unless PYCHAT_PUBLIC_FILES is set
    int  public_files_port;             //  0 unless PYCHAT_PUBLIC_FILES is set
    size_t max_sessions;                //  0: no cap
    int  redis_replicas;                //  WAIT for this many before acknowledging
    char broker_id [64];                //  "": a broker alone
    char advertise [512];               //  the endpoint clients reach this broker at
    pc_rate_t rate_send, rate_query, rate_session;
} pc_config_t;

//  Fills config from the environment, after the file (PYCHAT_CONFIG) has
//  filled in the variables the environment does not set (setenv: the other
//  PYCHAT_* variables a process reads after this come from it too). 0 ok,
//  -1 with a message on stderr when the file cannot be read or has a line
//  that is not KEY=value, or a variable is malformed (a non-numeric port).
int     pc_config_load      (pc_config_t *config);
//  "tcp://BIND:PORT+offset" into endpoint.
//  Parses "123", "64K", "100M", "2G" (binary units) into *bytes; 0 or -1.
int     pc_config_size      (const char *text, unsigned long long *bytes);
//  Parses "RATE/BURST", "RATE" (burst = RATE) or "0"/"off" (no limit).
int     pc_config_rate      (const char *text, pc_rate_t *rate);
void    pc_config_bind_endpoint (pc_config_t *config, int offset, char *endpoint, size_t size);

void    pc_config_test      (bool verbose);
#endif
