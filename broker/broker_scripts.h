//  broker_scripts.h: the Lua scripts broker_store runs in Redis (loaded
//  with SCRIPT LOAD, called with EVALSHA): appending a message with its
//  dedup check and numbering, writing one numbered ahead or from the
//  journal, the bookkeeping of a lot's run of plain XADDs in a MULTI, and
//  looking a client message id up in the dedup records.
//  Their KEYS and ARGV are described
//  in broker_scripts.c, next to each script.
#ifndef BROKER_SCRIPTS_H_INCLUDED
#define BROKER_SCRIPTS_H_INCLUDED

extern const char *const broker_scripts_append;
extern const char *const broker_scripts_write;
extern const char *const broker_scripts_run_book;
extern const char *const broker_scripts_sent;

#endif
