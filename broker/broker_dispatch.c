//  broker_dispatch.c: the broker's command table (see broker_dispatch.h).
#include "broker_dispatch.h"
#include "broker_authlink.h"
#include "broker_chat.h"
#include "broker_files.h"
#include "broker_moderation.h"

//  SEND first: it is most of the traffic, and found at the first compare.
static const broker_dispatch_t s_table [] = {
    { "SEND",     BROKER_WHO_SESSION, broker_on_send },
    { "PING",     BROKER_WHO_ANYONE,  broker_on_ping },
    { "REGISTER", BROKER_WHO_ANYONE,  broker_on_register },
    { "LOGIN",    BROKER_WHO_ANYONE,  broker_on_login },
    { "LOGOUT",   BROKER_WHO_ANYONE,  broker_on_logout },
    { "JOIN",     BROKER_WHO_SESSION, broker_on_join },
    { "LEAVE",    BROKER_WHO_SESSION, broker_on_leave },
    { "ROOMS",    BROKER_WHO_SESSION, broker_on_rooms },
    { "WHO",      BROKER_WHO_SESSION, broker_on_who },
    { "SUBS",     BROKER_WHO_SESSION, broker_on_subs },
    { "HISTORY",  BROKER_WHO_SESSION, broker_on_history },
    { "DM",       BROKER_WHO_SESSION, broker_on_dm },
    { "INBOX",    BROKER_WHO_SESSION, broker_on_inbox },
    { "CREATE",   BROKER_WHO_SESSION, broker_on_create },
    { "INVITE",   BROKER_WHO_SESSION, broker_on_invite },
    { "KICK",     BROKER_WHO_SESSION, broker_on_kick },
    { "SETKEY",   BROKER_WHO_SESSION, broker_on_setkey },
    { "GETKEY",   BROKER_WHO_SESSION, broker_on_getkey },
    { "PASSWD",   BROKER_WHO_SESSION, broker_on_passwd },
    { "DELETEME", BROKER_WHO_SESSION, broker_on_deleteme },
    { "FILES",    BROKER_WHO_SESSION, broker_on_files },
    { "USERS",    BROKER_WHO_ADMIN,   broker_on_users },
    { "BAN",      BROKER_WHO_ADMIN,   broker_on_ban },
    { "UNBAN",    BROKER_WHO_ADMIN,   broker_on_unban },
    { "DELUSER",  BROKER_WHO_ADMIN,   broker_on_deluser },
    { "RESETPW",  BROKER_WHO_ADMIN,   broker_on_resetpw },
    { "MKADMIN",  BROKER_WHO_ADMIN,   broker_on_mkadmin },
    { "FCHECK",   BROKER_WHO_FILESVC, broker_on_fcheck },
    { "FEVENT",   BROKER_WHO_FILESVC, broker_on_fevent },
};

const broker_dispatch_t *
broker_dispatch_find (const char *command)
{
    for (size_t row = 0; row < sizeof (s_table) / sizeof (s_table [0]); row++)
        if (streq (s_table [row].command, command))
            return &s_table [row];
    return NULL;
}

void
broker_dispatch_test (bool verbose)
{
    printf (" * broker_dispatch: ");
    assert (broker_dispatch_find ("SEND")->handler == broker_on_send);
    assert (broker_dispatch_find ("BAN")->who == BROKER_WHO_ADMIN);
    assert (broker_dispatch_find ("FEVENT")->who == BROKER_WHO_FILESVC);
    assert (broker_dispatch_find ("PING")->who == BROKER_WHO_ANYONE);
    assert (!broker_dispatch_find ("STATS"));        //  the monitor's, not the broker's
    assert (!broker_dispatch_find ("send"));
    //  One row per command
    size_t rows = sizeof (s_table) / sizeof (s_table [0]);
    for (size_t row = 0; row < rows; row++)
        assert (broker_dispatch_find (s_table [row].command) == &s_table [row]);
    if (verbose)
        printf ("(verbose) ");
    printf ("OK\n");
}
