//  broker_journal.h: the messages the broker numbered while Redis could not
//  take them, oldest first, bounded; broker_store writes them, in order,
//  when Redis is back. What a broker crash during an outage would lose.
#ifndef BROKER_JOURNAL_H_INCLUDED
#define BROKER_JOURNAL_H_INCLUDED

#include <czmq.h>

typedef struct _broker_journal_t broker_journal_t;

typedef struct {
    char    *stream;
    char    *from;
    char    *cmid;
    char    *text;
    uint64_t seq;
    int64_t  ts;
} broker_journal_entry_t;

//  Keeps at most max messages.
broker_journal_t *broker_journal_new (size_t max);
void        broker_journal_destroy  (broker_journal_t **self_p);
//  Keeps a copy of the message: 0, or -1 when the journal is full.
int         broker_journal_add      (broker_journal_t *self, const char *stream, const char *from,
                                     const char *cmid, const char *text, uint64_t seq, int64_t ts);
size_t      broker_journal_size     (broker_journal_t *self);
//  The oldest message (borrowed) or NULL; next: the one after, or NULL.
broker_journal_entry_t *broker_journal_first (broker_journal_t *self);
broker_journal_entry_t *broker_journal_next  (broker_journal_t *self);
//  Forgets the oldest message (written).
void        broker_journal_pop      (broker_journal_t *self);
//  Adds to records (broker_store_records_new) the messages of stream after
//  id since, oldest first, while records holds fewer than limit.
void        broker_journal_records  (broker_journal_t *self, const char *stream, uint64_t since,
                                     size_t limit, zlistx_t *records);

void        broker_journal_test     (bool verbose);
#endif
