//  broker_journal.c: the outage journal (see broker_journal.h).
#include "broker_journal.h"
#include "broker_store.h"

struct _broker_journal_t {
    zlistx_t *entries;          //  broker_journal_entry_t, oldest first
    size_t    max;
};

static void
s_entry_destroy (broker_journal_entry_t **self_p)
{
    if (*self_p) {
        broker_journal_entry_t *self = *self_p;
        zstr_free (&self->stream);
        zstr_free (&self->from);
        zstr_free (&self->cmid);
        zstr_free (&self->text);
        free (self);
        *self_p = NULL;
    }
}

broker_journal_t *
broker_journal_new (size_t max)
{
    broker_journal_t *self = (broker_journal_t *) zmalloc (sizeof (broker_journal_t));
    assert (self);
    self->entries = zlistx_new ();
    zlistx_set_destructor (self->entries, (czmq_destructor *) s_entry_destroy);
    self->max = max;
    return self;
}

void
broker_journal_destroy (broker_journal_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        broker_journal_t *self = *self_p;
        zlistx_destroy (&self->entries);
        free (self);
        *self_p = NULL;
    }
}

int
broker_journal_add (broker_journal_t *self, const char *stream, const char *from,
                    const char *cmid, const char *text, uint64_t seq, int64_t ts)
{
    if (zlistx_size (self->entries) >= self->max)
        return -1;
    broker_journal_entry_t *entry = (broker_journal_entry_t *) zmalloc (sizeof (broker_journal_entry_t));
    assert (entry);
    entry->stream = strdup (stream);
    entry->from = strdup (from);
    entry->cmid = strdup (cmid);
    entry->text = strdup (text);
    entry->seq = seq;
    entry->ts = ts;
    zlistx_add_end (self->entries, entry);
    return 0;
}

size_t
broker_journal_size (broker_journal_t *self)
{
    return zlistx_size (self->entries);
}

broker_journal_entry_t *
broker_journal_first (broker_journal_t *self)
{
    return (broker_journal_entry_t *) zlistx_first (self->entries);
}

broker_journal_entry_t *
broker_journal_next (broker_journal_t *self)
{
    return (broker_journal_entry_t *) zlistx_next (self->entries);
}

void
broker_journal_pop (broker_journal_t *self)
{
    if (zlistx_first (self->entries))
        zlistx_delete (self->entries, zlistx_cursor (self->entries));
}

void
broker_journal_records (broker_journal_t *self, const char *stream, uint64_t since,
                        size_t limit, zlistx_t *records)
{
    for (broker_journal_entry_t *entry = broker_journal_first (self); entry;
         entry = broker_journal_next (self))
        if (streq (entry->stream, stream) && entry->seq > since && zlistx_size (records) < limit) {
            broker_record_t *record = (broker_record_t *) zmalloc (sizeof (broker_record_t));
            assert (record);
            record->seq = entry->seq;
            record->ts = entry->ts;
            record->from = strdup (entry->from);
            record->text = strdup (entry->text);
            zlistx_add_end (records, record);
        }
}

void
broker_journal_test (bool verbose)
{
    printf (" * broker_journal: ");
    broker_journal_t *journal = broker_journal_new (2);
    assert (broker_journal_size (journal) == 0 && !broker_journal_first (journal));
    assert (broker_journal_add (journal, "room:a", "alice", "c1", "one", 7, 100) == 0);
    assert (broker_journal_add (journal, "room:b", "bob", "c2", "two", 3, 101) == 0);
    assert (broker_journal_add (journal, "room:a", "carol", "c3", "three", 8, 102) == -1);
    broker_journal_entry_t *entry = broker_journal_first (journal);
    assert (entry && entry->seq == 7 && streq (entry->text, "one"));
    entry = broker_journal_next (journal);
    assert (entry && streq (entry->stream, "room:b") && entry->ts == 101);
    assert (!broker_journal_next (journal));
    zlistx_t *records = broker_store_records_new ();
    broker_journal_records (journal, "room:a", 0, 10, records);
    assert (zlistx_size (records) == 1);
    assert (streq (((broker_record_t *) zlistx_first (records))->from, "alice"));
    zlistx_purge (records);
    broker_journal_records (journal, "room:a", 7, 10, records);
    assert (zlistx_size (records) == 0);        //  only after id 7
    zlistx_destroy (&records);
    broker_journal_pop (journal);
    assert (broker_journal_size (journal) == 1);
    assert (broker_journal_first (journal)->seq == 3);
    broker_journal_pop (journal);
    broker_journal_pop (journal);               //  nothing to pop: no harm
    assert (broker_journal_size (journal) == 0);
    broker_journal_destroy (&journal);
    broker_journal_destroy (&journal);
    if (verbose)
        printf ("(verbose) ");
    printf ("OK\n");
}
