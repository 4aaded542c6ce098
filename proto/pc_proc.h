//  pc_proc.h: a process's own figures from /proc (Linux), as Prometheus's
//  process_* metrics name them: start time, CPU time, resident and virtual
//  memory, open and allowed file descriptors. The monitor exposes its own;
//  the broker reports its own in a "process" event (PROTOCOL.md).
#ifndef PC_PROC_H_INCLUDED
#define PC_PROC_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

typedef struct {
    int64_t   start_ms;             //  Unix ms the process started
    uint64_t  cpu_ms;               //  user + system CPU time
    uint64_t  rss_bytes;            //  resident memory
    uint64_t  virtual_bytes;        //  virtual memory size
    uint64_t  open_fds;             //  entries of /proc/self/fd
    uint64_t  max_fds;              //  RLIMIT_NOFILE's soft limit
} pc_proc_t;

//  Reads the calling process's figures into *proc. 0, or -1 when /proc
//  could not be read (the figures it could not read are 0).
int     pc_proc_self            (pc_proc_t *proc);

void    pc_proc_test            (bool verbose);
#endif
