//  pc_proc.c: a process's own figures from /proc (see pc_proc.h).
#include "pc_proc.h"

#include <assert.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

//  The boot time, Unix seconds ("btime" of /proc/stat); 0 if unknown.
static int64_t
s_boot_time (void)
{
    FILE *file = fopen ("/proc/stat", "r");
    if (!file)
        return 0;
    char line [256];
    long long btime = 0;
    while (fgets (line, sizeof (line), file))
        if (sscanf (line, "btime %lld", &btime) == 1)
            break;
    fclose (file);
    return btime;
}

//  /proc/self/stat: fields 14-15 (utime, stime), 22 (starttime, ticks since
//  boot), 23 (vsize, bytes), 24 (rss, pages). The command name (field 2)
//  may hold spaces and parentheses: the fields after it follow the last ')'.
static int
s_stat (pc_proc_t *proc)
{
    FILE *file = fopen ("/proc/self/stat", "r");
    if (!file)
        return -1;
    char text [1024];
    size_t size = fread (text, 1, sizeof (text) - 1, file);
    fclose (file);
    text [size] = 0;
    char *cursor = strrchr (text, ')');
    if (!cursor)
        return -1;
    unsigned long long utime, stime, start, vsize;
    long long rss;
    //  From field 3 (state) on
    int got = sscanf (cursor + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu "
                      "%*d %*d %*d %*d %*d %*d %llu %llu %lld", &utime, &stime, &start,
                      &vsize, &rss);
    if (got != 5)
        return -1;
    long ticks = sysconf (_SC_CLK_TCK);
    long page = sysconf (_SC_PAGESIZE);
    if (ticks <= 0 || page <= 0)
        return -1;
    proc->cpu_ms = (utime + stime) * 1000 / (unsigned long long) ticks;
    int64_t boot = s_boot_time ();
    proc->start_ms = boot? boot * 1000 + (int64_t) (start * 1000 / (unsigned long long) ticks): 0;
    proc->virtual_bytes = vsize;
    proc->rss_bytes = rss > 0? (uint64_t) rss * (uint64_t) page: 0;
    return 0;
}

static uint64_t
s_open_fds (void)
{
    DIR *dir = opendir ("/proc/self/fd");
    if (!dir)
        return 0;
    uint64_t count = 0;
    struct dirent *entry;
    while ((entry = readdir (dir)))
        if (entry->d_name [0] != '.')
            count++;
    closedir (dir);
    return count? count - 1: 0;         //  less the one opendir holds
}

int
pc_proc_self (pc_proc_t *proc)
{
    assert (proc);
    memset (proc, 0, sizeof (*proc));
    int rc = s_stat (proc);
    proc->open_fds = s_open_fds ();
    struct rlimit limit;
    if (getrlimit (RLIMIT_NOFILE, &limit) == 0)
        proc->max_fds = limit.rlim_cur == RLIM_INFINITY? 0: (uint64_t) limit.rlim_cur;
    return rc;
}

//  --------------------------------------------------------------------------
//  Selftest

void
pc_proc_test (bool verbose)
{
    printf (" * pc_proc: ");
    pc_proc_t before, after;
    assert (pc_proc_self (&before) == 0);
    assert (before.start_ms > 1500000000000LL);
    assert (before.rss_bytes > 0 && before.virtual_bytes >= before.rss_bytes);
    assert (before.open_fds >= 3 && before.max_fds >= before.open_fds);
    //  One more open file is counted. Other threads of the selftest (czmq
    //  and libzmq's) may open or close one meanwhile: a few tries.
    bool counted = false;
    for (int attempt = 0; attempt < 20 && !counted; attempt++) {
        assert (pc_proc_self (&before) == 0);
        FILE *extra = fopen ("/proc/self/stat", "r");
        assert (extra);
        assert (pc_proc_self (&after) == 0);
        counted = after.open_fds == before.open_fds + 1;
        fclose (extra);
        if (!counted)
            usleep (10000);
    }
    assert (counted);
    assert (after.start_ms == before.start_ms);
    assert (after.cpu_ms >= before.cpu_ms);
    if (verbose)
        printf ("(start %lld, cpu %llu ms, rss %llu) ", (long long) before.start_ms,
                (unsigned long long) before.cpu_ms, (unsigned long long) before.rss_bytes);
    printf ("OK\n");
}
