//  pc_limits.h: protocol version, limits and error codes.
//  proto/PROTOCOL.md is the contract; keep the two in step.
#ifndef PC_LIMITS_H_INCLUDED
#define PC_LIMITS_H_INCLUDED

//  First part of every message. Bump the digit on any layout change
//  (PROTOCOL.md, "Versioning").
#define PC_SIGNATURE        "PYCHAT3"

#define PC_NAME_MAX         32          //  user and room names: 1..32 of [a-z0-9_-]
#define PC_TEXT_MAX         4096        //  message text: 1..4096 bytes of UTF-8
#define PC_SECRET_MAX       1024        //  password bytes
#define PC_ID_MAX           64          //  request ids, message ids, event kinds
#define PC_BOX_MAX          8192        //  a sealed DM, base64 (4096 bytes of text sealed)
#define PC_HISTORY_MAX      200         //  messages in one HISTORY or INBOX reply
#define PC_FIELD_MAX        65536       //  any other field (lists, JSON)
#define PC_FIELDS_MAX       1024        //  fields in one message
#define PC_MSG_MAX          (1024 * 1024)   //  ZMQ_MAXMSGSIZE on every socket
#define PC_FILE_NAME_MAX    255         //  shared file names: bytes of UTF-8
#define PC_CHUNK_MAX        (256 * 1024)    //  bytes in one FDATA / FCHUNK
#define PC_CREDIT           8           //  file chunks a client keeps in flight
//  DM devices of one account: a DM carries one key box per device of the
//  recipient and of the sender, and all of them fit in PC_BOX_MAX with a
//  full PC_TEXT_MAX of text (PROTOCOL.md, "Direct messages")
#define PC_DEVICES_MAX      10
//  Listen backlog of the client-facing sockets (ZMQ_BACKLOG; the kernel caps
//  it at net.core.somaxconn). libzmq's 100 drops SYNs when a few hundred
//  clients connect at once (a broker restart), and each waits out TCP's
//  retransmit backoff: 2,000 at once took 32 s with 100, 2.2 s with 4096.
#define PC_BACKLOG          4096
//  How long the broker waits for the auth service's reply before it answers
//  503 itself; the auth service refuses at once what it could not do by then.
#define PC_AUTH_WAIT_MS     3000
//  SLOWMODE's seconds: 0 (off) to this
#define PC_SLOWMODE_MAX     3600

//  Error codes (PROTOCOL.md, "Error codes").
#define PC_ERR_MALFORMED     400
#define PC_ERR_AUTH          401
#define PC_ERR_FORBIDDEN     403
#define PC_ERR_NOT_FOUND     404
#define PC_ERR_UNKNOWN       405
#define PC_ERR_CONFLICT      409
#define PC_ERR_TOO_LONG      413
#define PC_ERR_BAD_TEXT      415
#define PC_ERR_BAD_NAME      422
#define PC_ERR_VERSION       426
#define PC_ERR_THROTTLED     429
#define PC_ERR_INTERNAL      500
#define PC_ERR_UNAVAILABLE   503
#define PC_ERR_STORAGE       507

//  The detail of GETKEY's 404 (PROTOCOL.md): no such account, or no key yet.
#define PC_GETKEY_NO_USER    "user"
#define PC_GETKEY_NO_KEY     "key"

//  Exit codes of the command-line tools.
#define PC_EXIT_OK           0
#define PC_EXIT_USAGE        1
#define PC_EXIT_REFUSED      2
#define PC_EXIT_UNREACHABLE  3
#define PC_EXIT_REJECTED     4

//  Port offsets from PYCHAT_PORT (ARCHITECTURE.md, decision 8).
#define PC_PORT_DEFAULT      5555
#define PC_OFF_BROKER        0
#define PC_OFF_FANOUT        1
#define PC_OFF_AUTHSVC       2
#define PC_OFF_MONITOR       3
#define PC_OFF_METRICS       4
#define PC_OFF_FILES         5
#define PC_OFF_REDIS         9

//  Topics on the fan-out socket. Names never contain '/', so "r/NAME/" is an
//  exact-match prefix: a subscription to "r/lob" is not "r/lobby/".
#define PC_TOPIC_ROOM        "r/"
#define PC_TOPIC_EVENT       "$ev/"

#endif
