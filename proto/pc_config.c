//  pc_config.c: configuration from the environment and an optional file.
#include "pc_config.h"
#include "pc_limits.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

static const char *
s_env (const char *name, const char *fallback)
{
    const char *value = getenv (name);
    return value && *value? value: fallback;
}

static int
s_port (const char *text, int *port)
{
    char *end;
    long value = strtol (text, &end, 10);
    if (*text == 0 || *end || value < 1 || value > 65535)
        return -1;
    *port = (int) value;
    return 0;
}

int
pc_config_size (const char *text, unsigned long long *bytes)
{
    if (!text || *text < '0' || *text > '9')
        return -1;
    char *end;
    unsigned long long value = strtoull (text, &end, 10);
    unsigned long long unit = 1;
    if (*end == 'K' || *end == 'k')
        unit = 1ULL << 10;
    else
    if (*end == 'M' || *end == 'm')
        unit = 1ULL << 20;
    else
    if (*end == 'G' || *end == 'g')
        unit = 1ULL << 30;
    else
    if (*end == 'T' || *end == 't')
        unit = 1ULL << 40;
    if (unit > 1)
        end++;
    if (*end || value > (1ULL << 50) / unit)
        return -1;
    *bytes = value * unit;
    return 0;
}

static int
s_size_env (const char *name, unsigned long long fallback, unsigned long long *bytes)
{
    *bytes = fallback;
    const char *text = getenv (name);
    if (text && *text && pc_config_size (text, bytes)) {
        fprintf (stderr, "pychat: %s must be a size in bytes (K, M, G allowed), not '%s'\n",
                 name, text);
        return -1;
    }
    return 0;
}

//  The keys the file may set: every variable PyChat's programs read, but the
//  passwords (a shared file is no place for them) and PYCHAT_CONFIG itself.
//  An unknown PYCHAT_ key is set all the same, with a warning (a typo shows).
static const char *s_known_keys [] = {
    "PYCHAT_DATA", "PYCHAT_PORT", "PYCHAT_BIND", "PYCHAT_REDIS", "PYCHAT_AUTHSVC",
    "PYCHAT_AUTHSVC_BIND", "PYCHAT_BROKER", "PYCHAT_MONITOR", "PYCHAT_HISTORY",
    "PYCHAT_FANOUT_HWM", "PYCHAT_FILES_DIR", "PYCHAT_FILES_MAX", "PYCHAT_FILES_QUOTA",
    "PYCHAT_FILES_MIN_FREE", "PYCHAT_PUBLIC_FILES", "PYCHAT_THROTTLE_SOURCE",
    "PYCHAT_ALERT_LOGIN_FAILURES", "PYCHAT_ALERT_ROOM_RATE", "PYCHAT_METRICS_TOP_ROOMS",
    "PYCHAT_SERVER", "PYCHAT_SERVER_KEY", "PYCHAT_USER", "PYCHAT_HOME",
    "PYCHAT_AUTH_WORKERS", "PYCHAT_AUTH_QUEUE", "PYCHAT_DEVICE",
    "PYCHAT_MAX_SESSIONS", "PYCHAT_BROKER_ID", "PYCHAT_ADVERTISE",
    "PYCHAT_REDIS_SENTINELS", "PYCHAT_REDIS_MASTER", "PYCHAT_REDIS_REPLICAS", "PYCHAT_RATE_SEND", "PYCHAT_RATE_QUERY", "PYCHAT_RATE_SESSION", NULL
};

static char *
s_trim (char *text)
{
    while (isspace ((unsigned char) *text))
        text++;
    size_t len = strlen (text);
    while (len && isspace ((unsigned char) text [len - 1]))
        text [--len] = 0;
    return text;
}

//  One line of the file: 0 applied or skipped, -1 malformed (reported).
static int
s_config_line (const char *path, int number, char *line)
{
    char *text = s_trim (line);
    if (*text == 0 || *text == '#')
        return 0;
    char *equals = strchr (text, '=');
    if (equals)
        *equals = 0;
    char *key = s_trim (text);
    bool valid = equals && strncmp (key, "PYCHAT_", 7) == 0 && key [7];
    for (const char *c = key; valid && *c; c++)
        valid = isupper ((unsigned char) *c) || isdigit ((unsigned char) *c) || *c == '_';
    if (!valid || strcmp (key, "PYCHAT_CONFIG") == 0
    ||  strcmp (key, "PYCHAT_PASSWORD") == 0 || strcmp (key, "PYCHAT_NEW_PASSWORD") == 0) {
        fprintf (stderr, "pychat: %s:%d: not a PYCHAT_NAME=value setting: '%s'\n",
                 path, number, key);
        return -1;
    }
    char *value = s_trim (equals + 1);
    size_t len = strlen (value);
    if (len >= 2 && (*value == '"' || *value == '\'') && value [len - 1] == *value) {
        value [len - 1] = 0;
        value++;
    }
    bool known = false;
    for (int k = 0; s_known_keys [k]; k++)
        known = known || strcmp (s_known_keys [k], key) == 0;
    if (!known)
        fprintf (stderr, "pychat: %s:%d: warning: %s is not a PyChat setting\n",
                 path, number, key);
    const char *current = getenv (key);
    if (!current || !*current)
        setenv (key, value, 1);
    return 0;
}

//  The optional file (PYCHAT_CONFIG, else PC_CONFIG_FILE): fills in what the
//  environment leaves unset. 0 ok (or no default file), -1 reported.
static int
s_config_file (void)
{
    const char *named = getenv ("PYCHAT_CONFIG");
    const char *path = named && *named? named: PC_CONFIG_FILE;
    FILE *file = fopen (path, "r");
    if (!file) {
        if (errno == ENOENT && path != named)
            return 0;
        fprintf (stderr, "pychat: cannot read the configuration %s: %s\n", path, strerror (errno));
        return -1;
    }
    char line [4096];
    int number = 0;
    int rc = 0;
    while (rc == 0 && fgets (line, sizeof (line), file)) {
        number++;
        if (!strchr (line, '\n') && !feof (file)) {
            fprintf (stderr, "pychat: %s:%d: line too long\n", path, number);
            rc = -1;
        }
        else
            rc = s_config_line (path, number, line);
    }
    fclose (file);
    return rc;
}

//  PYCHAT_PUBLIC_FILES=host:port (a [v6] host keeps its brackets). 0 or -1.
static int
s_public_files (pc_config_t *config)
{
    const char *text = getenv ("PYCHAT_PUBLIC_FILES");
    if (!text || !*text)
        return 0;
    const char *colon = strrchr (text, ':');
    size_t host_len = colon? (size_t) (colon - text): 0;
    if (!colon || host_len == 0 || host_len >= sizeof (config->public_files_host)
    ||  s_port (colon + 1, &config->public_files_port)) {
        fprintf (stderr, "pychat: PYCHAT_PUBLIC_FILES must be host:port, not '%s'\n", text);
        config->public_files_port = 0;
        return -1;
    }
    memcpy (config->public_files_host, text, host_len);
    config->public_files_host [host_len] = 0;
    return 0;
}

int
pc_config_rate (const char *text, pc_rate_t *rate)
{
    if (strcmp (text, "off") == 0 || strcmp (text, "0") == 0) {
        rate->rate = rate->burst = 0;
        return 0;
    }
    char *end;
    double per_second = strtod (text, &end);
    double burst = per_second;
    if (end == text || !(per_second >= 0) || per_second > 1e6)
        return -1;
    if (*end == '/') {
        const char *start = end + 1;
        burst = strtod (start, &end);
        if (end == start || !(burst >= 1) || burst > 1e7)
            return -1;
    }
    if (*end)
        return -1;
    rate->rate = per_second;
    rate->burst = per_second > 0 && burst < 1? 1: burst;
    return 0;
}

//  The flood-control settings (PROTOCOL.md, "Flood control")
static int
s_limits (pc_config_t *config)
{
    config->max_sessions = 0;
    const char *max = getenv ("PYCHAT_MAX_SESSIONS");
    if (max && *max) {
        char *end;
        long long value = strtoll (max, &end, 10);
        if (*end || value < 0 || value > 100000000) {
            fprintf (stderr, "pychat: PYCHAT_MAX_SESSIONS must be a number of sessions (0: no cap), "
                     "not '%s'\n", max);
            return -1;
        }
        config->max_sessions = (size_t) value;
    }
    struct { const char *name; pc_rate_t *rate; pc_rate_t fallback; } rates [] = {
        { "PYCHAT_RATE_SEND", &config->rate_send, { 100, 1000 } },
        { "PYCHAT_RATE_QUERY", &config->rate_query, { 20, 200 } },
        { "PYCHAT_RATE_SESSION", &config->rate_session, { 500, 2000 } }
    };
    for (size_t i = 0; i < sizeof (rates) / sizeof (rates [0]); i++) {
        *rates [i].rate = rates [i].fallback;
        const char *text = getenv (rates [i].name);
        if (text && *text && pc_config_rate (text, rates [i].rate)) {
            fprintf (stderr, "pychat: %s must be RATE/BURST (per second; 0 or off: no limit), "
                     "not '%s'\n", rates [i].name, text);
            return -1;
        }
    }
    return 0;
}

int
pc_config_load (pc_config_t *config)
{
    memset (config, 0, sizeof (*config));
    if (s_config_file ())
        return -1;
    snprintf (config->data_dir, sizeof (config->data_dir), "%s", s_env ("PYCHAT_DATA", "./var"));
    snprintf (config->keys_dir, sizeof (config->keys_dir), "%s/keys", config->data_dir);
    config->base_port = PC_PORT_DEFAULT;
    const char *port = getenv ("PYCHAT_PORT");
    if (port && *port && (s_port (port, &config->base_port) || config->base_port > 65535 - 9)) {
        fprintf (stderr, "pychat: PYCHAT_PORT must be a port number (1-65526), not '%s'\n", port);
        return -1;
    }
    snprintf (config->bind, sizeof (config->bind), "%s", s_env ("PYCHAT_BIND", "*"));
    const char *redis = getenv ("PYCHAT_REDIS");
    if (redis && *redis == '/') {
        //  A Unix socket: a Redis on this machine, without TCP's cost
        if (strlen (redis) >= sizeof (((struct sockaddr_un *) 0)->sun_path)) {
            fprintf (stderr, "pychat: PYCHAT_REDIS: a Unix socket's path is at most %zu bytes: "
                     "'%s'\n", sizeof (((struct sockaddr_un *) 0)->sun_path) - 1, redis);
            return -1;
        }
        snprintf (config->redis_host, sizeof (config->redis_host), "%s", redis);
        config->redis_port = 0;
    }
    else
    if (redis && *redis) {
        const char *colon = strrchr (redis, ':');
        if (!colon || colon == redis || (size_t) (colon - redis) >= sizeof (config->redis_host)
        ||  s_port (colon + 1, &config->redis_port)) {
            fprintf (stderr, "pychat: PYCHAT_REDIS must be host:port or the path of a Unix "
                     "socket, not '%s'\n", redis);
            return -1;
        }
        memcpy (config->redis_host, redis, (size_t) (colon - redis));
    }
    else {
        snprintf (config->redis_host, sizeof (config->redis_host), "127.0.0.1");
        config->redis_port = config->base_port + PC_OFF_REDIS;
    }
    const char *authsvc = getenv ("PYCHAT_AUTHSVC");
    if (authsvc && *authsvc)
        snprintf (config->authsvc, sizeof (config->authsvc), "%s", authsvc);
    else
        snprintf (config->authsvc, sizeof (config->authsvc), "tcp://127.0.0.1:%d",
                  config->base_port + PC_OFF_AUTHSVC);
    snprintf (config->broker_host, sizeof (config->broker_host), "%s",
              s_env ("PYCHAT_BROKER", "127.0.0.1"));
    const char *replicas = getenv ("PYCHAT_REDIS_REPLICAS");
    if (replicas && *replicas) {
        char *end;
        long value = strtol (replicas, &end, 10);
        if (*end || value < 0 || value > 16) {
            fprintf (stderr, "pychat: PYCHAT_REDIS_REPLICAS must be a number of replicas (0-16), "
                     "not '%s'\n", replicas);
            return -1;
        }
        config->redis_replicas = (int) value;
    }
    const char *broker_id = s_env ("PYCHAT_BROKER_ID", "");
    if (strlen (broker_id) >= sizeof (config->broker_id) || strpbrk (broker_id, " \t:")) {
        fprintf (stderr, "pychat: PYCHAT_BROKER_ID must be a short name without spaces or ':', "
                 "not '%s'\n", broker_id);
        return -1;
    }
    snprintf (config->broker_id, sizeof (config->broker_id), "%s", broker_id);
    const char *advertise = getenv ("PYCHAT_ADVERTISE");
    if (advertise && *advertise)
        snprintf (config->advertise, sizeof (config->advertise), "%s", advertise);
    else
        snprintf (config->advertise, sizeof (config->advertise), "tcp://%s:%d",
                  config->broker_host, config->base_port + PC_OFF_BROKER);
    const char *monitor = getenv ("PYCHAT_MONITOR");
    if (monitor && *monitor)
        snprintf (config->monitor, sizeof (config->monitor), "%s", monitor);
    else
        snprintf (config->monitor, sizeof (config->monitor), "tcp://127.0.0.1:%d",
                  config->base_port + PC_OFF_MONITOR);
    config->history_max = 10000;
    config->fanout_hwm = 10000;
    const char *hwm = getenv ("PYCHAT_FANOUT_HWM");
    if (hwm && *hwm) {
        char *end;
        long value = strtol (hwm, &end, 10);
        if (*end || value < 1 || value > 10000000) {
            fprintf (stderr, "pychat: PYCHAT_FANOUT_HWM must be a number of messages, not '%s'\n", hwm);
            return -1;
        }
        config->fanout_hwm = (int) value;
    }
    const char *history = getenv ("PYCHAT_HISTORY");
    if (history && *history) {
        char *end;
        long long value = strtoll (history, &end, 10);
        if (*end || value < 1 || value > 100000000) {
            fprintf (stderr, "pychat: PYCHAT_HISTORY must be a number of messages, not '%s'\n", history);
            return -1;
        }
        config->history_max = (size_t) value;
    }
    const char *files_dir = getenv ("PYCHAT_FILES_DIR");
    if (files_dir && *files_dir)
        snprintf (config->files_dir, sizeof (config->files_dir), "%s", files_dir);
    else
        snprintf (config->files_dir, sizeof (config->files_dir), "%s/files", config->data_dir);
    if (s_public_files (config))
        return -1;
    if (s_size_env ("PYCHAT_FILES_MAX", 100ULL << 20, &config->files_max)
    ||  s_size_env ("PYCHAT_FILES_QUOTA", 1ULL << 30, &config->files_quota)
    ||  s_size_env ("PYCHAT_FILES_MIN_FREE", 64ULL << 20, &config->files_min_free))
        return -1;
    return s_limits (config);
}

void
pc_config_bind_endpoint (pc_config_t *config, int offset, char *endpoint, size_t size)
{
    snprintf (endpoint, size, "tcp://%s:%d", config->bind, config->base_port + offset);
}

//  Writes text to a fresh temporary file, its path into path and into
//  PYCHAT_CONFIG.
static void
s_test_write (char *path, size_t size, const char *text)
{
    snprintf (path, size, "/tmp/pc_config_test_XXXXXX");
    int fd = mkstemp (path);
    assert (fd >= 0);
    FILE *file = fdopen (fd, "w");
    assert (file);
    fputs (text, file);
    fclose (file);
    setenv ("PYCHAT_CONFIG", path, 1);
}

//  The file: its values fill in what the environment leaves unset, the
//  environment wins, malformed lines and a missing named file are refused.
static void
s_test_file (void)
{
    char path [64];
    s_test_write (path, sizeof (path),
        "# PyChat\n"
        "\n"
        "  PYCHAT_PORT = 7100\n"
        "PYCHAT_HISTORY=\"250\"\n"
        "PYCHAT_FILES_MAX=7M   \n"
        "PYCHAT_PUBLIC_FILES=chat.example:443\n");
    unsetenv ("PYCHAT_PORT");
    unsetenv ("PYCHAT_HISTORY");
    unsetenv ("PYCHAT_PUBLIC_FILES");
    setenv ("PYCHAT_FILES_MAX", "", 1);     //  empty counts as unset
    pc_config_t config;
    assert (pc_config_load (&config) == 0);
    assert (config.base_port == 7100 && config.history_max == 250);
    assert (config.files_max == 7ULL << 20);
    assert (strcmp (config.public_files_host, "chat.example") == 0);
    assert (config.public_files_port == 443);
    //  the environment wins
    setenv ("PYCHAT_PORT", "7200", 1);
    assert (pc_config_load (&config) == 0 && config.base_port == 7200);
    unlink (path);
    setenv ("PYCHAT_CONFIG", "/dev/null", 1);
    setenv ("PYCHAT_PUBLIC_FILES", "[::1]:6000", 1);
    assert (pc_config_load (&config) == 0 && config.public_files_port == 6000);
    assert (strcmp (config.public_files_host, "[::1]") == 0);
    setenv ("PYCHAT_PUBLIC_FILES", "nohost", 1);
    assert (pc_config_load (&config) == -1);
    setenv ("PYCHAT_PUBLIC_FILES", ":6000", 1);
    assert (pc_config_load (&config) == -1);
    unsetenv ("PYCHAT_PUBLIC_FILES");
    assert (pc_config_load (&config) == 0 && config.public_files_port == 0);
    s_test_write (path, sizeof (path), "PYCHAT_PORT 7300\n");
    assert (pc_config_load (&config) == -1);
    unlink (path);
    s_test_write (path, sizeof (path), "PYCHAT_PASSWORD=secret\n");
    assert (pc_config_load (&config) == -1);
    unlink (path);
    s_test_write (path, sizeof (path), "HOME=/\n");
    assert (pc_config_load (&config) == -1);
    unlink (path);
    assert (pc_config_load (&config) == -1);        //  named but missing
    setenv ("PYCHAT_CONFIG", "/dev/null", 1);
    assert (pc_config_load (&config) == 0);
    unsetenv ("PYCHAT_PORT");
    unsetenv ("PYCHAT_HISTORY");
    unsetenv ("PYCHAT_FILES_MAX");
    unsetenv ("PYCHAT_PUBLIC_FILES");
}

void
pc_config_test (bool verbose)
{
    printf (" * pc_config: ");
    //  A configuration installed on this machine stays out of the test.
    const char *saved = getenv ("PYCHAT_CONFIG");
    char *saved_config = saved? strdup (saved): NULL;
    setenv ("PYCHAT_CONFIG", "/dev/null", 1);
    pc_config_t config;
    setenv ("PYCHAT_PORT", "7000", 1);
    setenv ("PYCHAT_REDIS", "", 1);
    setenv ("PYCHAT_AUTHSVC", "", 1);
    assert (pc_config_load (&config) == 0);
    assert (config.base_port == 7000);
    assert (config.rate_send.rate == 100 && config.rate_send.burst == 1000 && config.max_sessions == 0);
    pc_rate_t rate;
    assert (pc_config_rate ("5/20", &rate) == 0 && rate.rate == 5 && rate.burst == 20);
    assert (pc_config_rate ("0.5", &rate) == 0 && rate.rate == 0.5 && rate.burst == 1);
    assert (pc_config_rate ("off", &rate) == 0 && rate.rate == 0);
    assert (pc_config_rate ("5/", &rate) == -1 && pc_config_rate ("x", &rate) == -1);
    assert (pc_config_rate ("-1/3", &rate) == -1 && pc_config_rate ("5/0", &rate) == -1);
    setenv ("PYCHAT_RATE_SEND", "fast", 1);
    assert (pc_config_load (&config) == -1);
    setenv ("PYCHAT_RATE_SEND", "3/9", 1);
    setenv ("PYCHAT_MAX_SESSIONS", "40", 1);
    assert (pc_config_load (&config) == 0);
    assert (config.rate_send.rate == 3 && config.rate_send.burst == 9 && config.max_sessions == 40);
    unsetenv ("PYCHAT_RATE_SEND");
    unsetenv ("PYCHAT_MAX_SESSIONS");
    assert (config.redis_port == 7009);
    assert (config.history_max == 10000);
    assert (strcmp (config.authsvc, "tcp://127.0.0.1:7002") == 0);
    char endpoint [300];
    pc_config_bind_endpoint (&config, PC_OFF_FANOUT, endpoint, sizeof (endpoint));
    assert (strcmp (endpoint, "tcp://*:7001") == 0);
    setenv ("PYCHAT_REDIS", "redis.example:6380", 1);
    assert (pc_config_load (&config) == 0);
    assert (strcmp (config.redis_host, "redis.example") == 0 && config.redis_port == 6380);
    assert (config.files_max == 100ULL << 20 && config.files_quota == 1ULL << 30);
    unsigned long long bytes;
    assert (pc_config_size ("64K", &bytes) == 0 && bytes == 65536);
    assert (pc_config_size ("3", &bytes) == 0 && bytes == 3);
    assert (pc_config_size ("2G", &bytes) == 0 && bytes == 2ULL << 30);
    assert (pc_config_size ("-1", &bytes) == -1);
    assert (pc_config_size ("12X", &bytes) == -1);
    assert (pc_config_size ("", &bytes) == -1);
    setenv ("PYCHAT_FILES_MAX", "lots", 1);
    assert (pc_config_load (&config) == -1);
    setenv ("PYCHAT_FILES_MAX", "5M", 1);
    assert (pc_config_load (&config) == 0 && config.files_max == 5ULL << 20);
    unsetenv ("PYCHAT_FILES_MAX");
    setenv ("PYCHAT_REDIS", "/run/redis/redis.sock", 1);
    assert (pc_config_load (&config) == 0);
    assert (strcmp (config.redis_host, "/run/redis/redis.sock") == 0 && config.redis_port == 0);
    char long_path [200];
    memset (long_path, 'x', sizeof (long_path) - 1);
    long_path [0] = '/';
    long_path [sizeof (long_path) - 1] = 0;
    setenv ("PYCHAT_REDIS", long_path, 1);
    assert (pc_config_load (&config) == -1);
    setenv ("PYCHAT_REDIS", "nocolon", 1);
    assert (pc_config_load (&config) == -1);
    setenv ("PYCHAT_REDIS", "", 1);
    setenv ("PYCHAT_PORT", "http", 1);
    assert (pc_config_load (&config) == -1);
    unsetenv ("PYCHAT_PORT");
    unsetenv ("PYCHAT_REDIS");
    unsetenv ("PYCHAT_AUTHSVC");
    s_test_file ();
    if (saved_config)
        setenv ("PYCHAT_CONFIG", saved_config, 1);
    else
        unsetenv ("PYCHAT_CONFIG");
    free (saved_config);
    if (verbose)
        printf ("(verbose) ");
    printf ("OK\n");
}
