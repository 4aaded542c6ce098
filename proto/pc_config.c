//  pc_config.c: configuration from the environment.
#include "pc_config.h"
#include "pc_limits.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

int
pc_config_load (pc_config_t *config)
{
    memset (config, 0, sizeof (*config));
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
    if (redis && *redis) {
        const char *colon = strrchr (redis, ':');
        if (!colon || colon == redis || (size_t) (colon - redis) >= sizeof (config->redis_host)
        ||  s_port (colon + 1, &config->redis_port)) {
            fprintf (stderr, "pychat: PYCHAT_REDIS must be host:port, not '%s'\n", redis);
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
    if (s_size_env ("PYCHAT_FILES_MAX", 100ULL << 20, &config->files_max)
    ||  s_size_env ("PYCHAT_FILES_QUOTA", 1ULL << 30, &config->files_quota)
    ||  s_size_env ("PYCHAT_FILES_MIN_FREE", 64ULL << 20, &config->files_min_free))
        return -1;
    return 0;
}

void
pc_config_bind_endpoint (pc_config_t *config, int offset, char *endpoint, size_t size)
{
    snprintf (endpoint, size, "tcp://%s:%d", config->bind, config->base_port + offset);
}

void
pc_config_test (bool verbose)
{
    printf (" * pc_config: ");
    pc_config_t config;
    setenv ("PYCHAT_PORT", "7000", 1);
    setenv ("PYCHAT_REDIS", "", 1);
    setenv ("PYCHAT_AUTHSVC", "", 1);
    assert (pc_config_load (&config) == 0);
    assert (config.base_port == 7000);
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
    setenv ("PYCHAT_REDIS", "nocolon", 1);
    assert (pc_config_load (&config) == -1);
    setenv ("PYCHAT_REDIS", "", 1);
    setenv ("PYCHAT_PORT", "http", 1);
    assert (pc_config_load (&config) == -1);
    unsetenv ("PYCHAT_PORT");
    unsetenv ("PYCHAT_REDIS");
    unsetenv ("PYCHAT_AUTHSVC");
    if (verbose)
        printf ("(verbose) ");
    printf ("OK\n");
}
