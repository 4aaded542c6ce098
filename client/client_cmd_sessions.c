//  client_cmd_sessions.c: `pychat sessions` (list and revoke resume tokens)
//  and `pychat logout` (PROTOCOL.md, "Sessions and resume tokens").
#include "client_cmd_core.h"
#include "pc_proto.h"

#include <inttypes.h>

typedef struct {
    const char *user;                   //  --user NAME (admins), or NULL
    const char *revoke;                 //  the token id to revoke, or NULL
} sessions_t;

//  "SID DEVICE CREATED LAST" as a line for a person
static void
s_print (const char *line, const char *own_sid)
{
    char sid [32] = "", device [80] = "";
    long long created = 0, last = 0;
    if (sscanf (line, "%31s %79s %lld %lld", sid, device, &created, &last) != 4)
        return;
    char safe [80], when [32], used [32];
    client_conn_sanitize (device, safe, sizeof (safe));
    time_t c = (time_t) (created / 1000), l = (time_t) (last / 1000);
    strftime (when, sizeof (when), "%Y-%m-%d %H:%M", localtime (&c));
    strftime (used, sizeof (used), "%Y-%m-%d %H:%M", localtime (&l));
    printf ("%s  %-20s  since %s  last used %s%s\n", sid, safe, when, used,
            own_sid && streq (sid, own_sid)? "  (current)": "");
}

static int
s_sessions_fn (client_opts_t *opts, session_t *session, void *arg)
{
    sessions_t *job = (sessions_t *) arg;
    pc_msg_t *request = job->revoke? pc_revoke_new (job->revoke, job->user)
                                   : pc_sessions_new (job->user);
    pc_msg_t *reply = NULL;
    int rc = client_conn_call (session->conn, job->revoke? "revoke": "sessions", request, &reply);
    pc_msg_destroy (&request);
    if (rc == 0 && job->revoke)
        printf ("revoked %s\n", job->revoke);
    else
    if (rc == 0)
        for (size_t i = 0; i < pc_sessions_ok_count (reply); i++)
            s_print (pc_sessions_ok_session (reply, i), job->user? NULL: session->sid);
    pc_msg_destroy (&reply);
    return rc == 0? client_listen_flush_stdout (): rc;
}

//  pychat sessions [--user NAME] | pychat sessions revoke ID [--user NAME]
int
client_cmd_sessions (client_opts_t *opts, int argc, char **argv)
{
    sessions_t job = { NULL, NULL };
    char user [PC_NAME_MAX + 1];
    for (int i = 1; i < argc; i++) {
        if (streq (argv [i], "--user") && i + 1 < argc) {
            int rc = cmd_user_arg (argv [++i], user, sizeof (user));
            if (rc)
                return rc;
            job.user = user;
        }
        else
        if (streq (argv [i], "revoke") && i + 1 < argc && !job.revoke)
            job.revoke = argv [++i];
        else
            return client_cmd_usage_error ("sessions: unexpected argument '%s'", argv [i]);
    }
    if (job.revoke && (strlen (job.revoke) > PC_ID_MAX || !*job.revoke))
        return client_cmd_usage_error ("sessions revoke: bad session id '%s'", job.revoke);
    return cmd_with_session (opts, S_LOGIN, s_sessions_fn, &job);
}

static int
s_logout_fn (client_opts_t *opts, session_t *session, void *arg)
{
    pc_msg_t *request = pc_logout_new (NULL);       //  no "keep": the token goes
    pc_msg_t *reply = NULL;
    int rc = client_conn_call (session->conn, "logout", request, &reply);
    pc_msg_destroy (&request);
    pc_msg_destroy (&reply);
    client_conn_forget_login (session->conn);
    client_token_forget (opts->home, opts->user);
    if (rc == 0)
        printf ("logged out %s on this device\n", opts->user);
    return rc == 0? client_listen_flush_stdout (): rc;
}

//  pychat logout: this device's token is revoked and forgotten
int
client_cmd_logout (client_opts_t *opts, int argc, char **argv)
{
    if (argc != 1)
        return client_cmd_usage_error ("logout takes no arguments%s", "");
    return cmd_with_session (opts, S_LOGIN, s_logout_fn, NULL);
}
