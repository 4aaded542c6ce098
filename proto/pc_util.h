//  pc_util.h: small shared helpers: input validation, JSON text, time, errors.
#ifndef PC_UTIL_H_INCLUDED
#define PC_UTIL_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <czmq.h>

//  True if data[0..size) is well-formed UTF-8 (no overlongs, no surrogates,
//  nothing above U+10FFFF) and holds no NUL and no C0 control but TAB and LF.
bool        pc_utf8_valid     (const char *data, size_t size);
//  True if name is 1..PC_NAME_MAX of [a-z0-9_-].
bool        pc_name_valid     (const char *name);
//  A reaction (PROTOCOL.md, "Edits, deletes, replies and reactions"): one
//  emoji or a short token. Either 1-32 of [A-Za-z0-9_+:-] (":+1:",
//  "thumbsup"), or at most 4 code points of no ASCII at all and at most 16
//  bytes (an emoji with its modifiers or joiners). text is valid UTF-8.
//  The broker checks a room's; a client checks a DM's before sealing it.
bool        pc_reaction_valid (const char *text);
//  0 if data[0..size) is a file name a room may hold: 1..PC_FILE_NAME_MAX
//  bytes of UTF-8 without controls, no '/' or '\\', not starting with '.'
//  (so never "." or ".." either); else -1 with *why saying which rule broke.
int         pc_file_name_check (const char *data, size_t size, const char **why);
//  Lower-cases ASCII letters in place (names are case-insensitive).
void        pc_name_fold      (char *name);
//  Unix time in milliseconds.
int64_t     pc_now_ms         (void);
//  Writes value in decimal to text (PC_INT_TEXT bytes hold any), NUL-
//  terminated, and returns its length: snprintf's work without parsing a
//  format, for the paths that write several numbers per message.
#define PC_INT_TEXT         21
size_t      pc_uint_text      (char *text, uint64_t value);
size_t      pc_int_text       (char *text, int64_t value);
//  Short upper-case name of an error code ("MALFORMED"); never NULL.
const char *pc_error_name     (int code);
//  Exit code a command-line tool returns for an error code.
int         pc_error_exit     (int code);

//  Sorts list in place by compare (stable order is not promised), moving
//  its items rather than copying them. czmq 4.2's zlistx_sort leaves some
//  lists out of order (about one shuffle of ten names in seven), so every
//  sorted reply goes through this instead.
void        pc_list_sort      (zlistx_t *list, czmq_comparator *compare);

//  A growing text buffer: JSON and reply building.
typedef struct {
    char  *data;                //  NUL-terminated, owned
    size_t size;
    size_t cap;
} pc_buf_t;

void        pc_buf_init       (pc_buf_t *self);
void        pc_buf_free       (pc_buf_t *self);
//  Empties the buffer, keeping its memory.
void        pc_buf_reset      (pc_buf_t *self);
void        pc_buf_printf     (pc_buf_t *self, const char *format, ...)
                              __attribute__ ((format (printf, 2, 3)));
void        pc_buf_append     (pc_buf_t *self, const char *data, size_t size);
//  Makes size more bytes part of the buffer and returns where they start,
//  for the caller to fill.
char       *pc_buf_extend     (pc_buf_t *self, size_t size);
//  Appends text as a JSON string literal, quotes included.
void        pc_buf_json_str   (pc_buf_t *self, const char *text);

void        pc_util_test      (bool verbose);
#endif
