//  selftests.h: the process modules' selftests, run by tests/selftest.c.
//  Add a module's <name>_test here when the module is added.
#ifndef PYCHAT_SELFTESTS_H_INCLUDED
#define PYCHAT_SELFTESTS_H_INCLUDED

#include "broker_room.h"
#include "broker_session.h"
#include "broker_store.h"
#include "broker_journal.h"
#include "broker_roomdb.h"
#include "broker_server.h"
#include "broker_fanout.h"
#include "broker_chat.h"
#include "broker_dm_kinds.h"
#include "broker_marks.h"
#include "broker_cluster.h"
#include "broker_files.h"
#include "broker_limits.h"
#include "broker_metrics.h"
#include "broker_presence.h"
#include "broker_search.h"
#include "auth_hash.h"
#include "auth_store.h"
#include "auth_server.h"
#include "auth_pool.h"
#include "auth_tokens.h"
#include "mon_ring.h"
#include "mon_stats.h"
#include "mon_alerts.h"
#include "mon_json.h"
#include "mon_prom.h"
#include "mon_server.h"
#include "mon_http.h"
#include "files_disk.h"
#include "files_store.h"
#include "files_core.h"
#include "files_upload.h"
#include "files_download.h"
#include "files_server.h"

#define PYCHAT_MODULE_SELFTESTS(verbose) do { \
    broker_room_test (verbose); \
    broker_marks_test (verbose); \
    broker_session_test (verbose); \
    broker_journal_test (verbose); \
    broker_store_test (verbose); \
    broker_roomdb_test (verbose); \
    broker_fanout_test (verbose); \
    broker_chat_test (verbose); \
    broker_dm_kinds_test (verbose); \
    broker_cluster_test (verbose); \
    broker_files_test (verbose); \
    broker_limits_test (verbose); \
    broker_search_test (verbose); \
    broker_metrics_test (verbose); \
    broker_presence_test (verbose); \
    broker_server_test (verbose); \
    auth_hash_test (verbose); \
    auth_store_test (verbose); \
    auth_tokens_test (verbose); \
    auth_pool_test (verbose); \
    auth_server_test (verbose); \
    mon_ring_test (verbose); \
    mon_stats_test (verbose); \
    mon_alerts_test (verbose); \
    mon_json_test (verbose); \
    mon_prom_test (verbose); \
    mon_server_test (verbose); \
    mon_http_test (verbose); \
    files_disk_test (verbose); \
    files_store_test (verbose); \
    files_core_test (verbose); \
    files_server_test (verbose); \
    files_upload_test (verbose); \
    files_download_test (verbose); \
} while (0)

#endif
