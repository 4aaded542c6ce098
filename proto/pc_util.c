//  pc_util.c: validation, JSON text, time and error helpers.
#define _GNU_SOURCE     //  qsort_r
#include "pc_util.h"
#include "pc_limits.h"

#include <assert.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

bool
pc_utf8_valid (const char *data, size_t size)
{
    const unsigned char *s = (const unsigned char *) data;
    size_t i = 0;
    while (i < size) {
        unsigned char c = s [i];
        if (c < 0x80) {
            if (c == 0 || (c < 0x20 && c != '\t' && c != '\n') || c == 0x7f)
                return false;
            i++;
            continue;
        }
        size_t extra;
        uint32_t cp;
        if ((c & 0xe0) == 0xc0) { extra = 1; cp = c & 0x1f; }
        else
        if ((c & 0xf0) == 0xe0) { extra = 2; cp = c & 0x0f; }
        else
        if ((c & 0xf8) == 0xf0) { extra = 3; cp = c & 0x07; }
        else
            return false;
        if (i + extra >= size)
            return false;               //  truncated sequence
        for (size_t k = 1; k <= extra; k++) {
            if ((s [i + k] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (s [i + k] & 0x3f);
        }
        if ((extra == 1 && cp < 0x80)
        ||  (extra == 2 && cp < 0x800)
        ||  (extra == 3 && cp < 0x10000)
        ||  (cp >= 0xd800 && cp <= 0xdfff)
        ||  cp > 0x10ffff)
            return false;
        i += extra + 1;
    }
    return true;
}

bool
pc_name_valid (const char *name)
{
    if (!name)
        return false;
    size_t len = strlen (name);
    if (len < 1 || len > PC_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = name [i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return false;
    }
    return true;
}

int
pc_file_name_check (const char *data, size_t size, const char **why)
{
    const char *reason = NULL;
    if (size < 1)
        reason = "file name is empty";
    else
    if (size > PC_FILE_NAME_MAX)
        reason = "file name longer than 255 bytes";
    else
    if (data [0] == '.')
        reason = "file name may not start with '.'";
    else
    if (memchr (data, '/', size) || memchr (data, '\\', size))
        reason = "file name may not contain '/' or '\\'";
    else
    if (!pc_utf8_valid (data, size) || memchr (data, '\t', size) || memchr (data, '\n', size)
    ||  memchr (data, 0x7f, size))
        reason = "file name must be UTF-8 without control characters";
    if (reason && why)
        *why = reason;
    return reason? -1: 0;
}

void
pc_name_fold (char *name)
{
    for (; name && *name; name++)
        if (*name >= 'A' && *name <= 'Z')
            *name = (char) (*name - 'A' + 'a');
}

bool
pc_reaction_valid (const char *text)
{
    size_t size = strlen (text), points = 0;
    if (size == 0)
        return false;
    if ((unsigned char) text [0] < 0x80) {
        if (size > 32)
            return false;
        for (const char *c = text; *c; c++)
            if (!(isalnum ((unsigned char) *c) || strchr ("_+:-", *c)))
                return false;
        return true;
    }
    if (size > 16)
        return false;
    for (const unsigned char *c = (const unsigned char *) text; *c; c++) {
        if (*c < 0x80)
            return false;
        if ((*c & 0xc0) != 0x80)
            points++;
    }
    return points <= 4;
}

int64_t
pc_now_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
s_handle_compare (const void *one, const void *two, void *compare)
{
    void *a = zlistx_handle_item (*(void * const *) one);
    void *b = zlistx_handle_item (*(void * const *) two);
    return ((czmq_comparator *) compare) (a, b);
}

void
pc_list_sort (zlistx_t *list, czmq_comparator *compare)
{
    assert (list);
    assert (compare);
    size_t count = zlistx_size (list);
    if (count < 2)
        return;
    void **handles = (void **) malloc (count * sizeof (void *));
    assert (handles);
    size_t index = 0;
    for (void *item = zlistx_first (list); item && index < count; item = zlistx_next (list))
        handles [index++] = zlistx_cursor (list);
    qsort_r (handles, index, sizeof (void *), s_handle_compare, (void *) compare);
    for (size_t i = 0; i < index; i++)
        zlistx_move_end (list, handles [i]);
    free (handles);
}

const char *
pc_error_name (int code)
{
    switch (code) {
        case PC_ERR_MALFORMED:   return "MALFORMED";
        case PC_ERR_AUTH:        return "AUTH_FAILED";
        case PC_ERR_FORBIDDEN:   return "FORBIDDEN";
        case PC_ERR_NOT_FOUND:   return "NOT_FOUND";
        case PC_ERR_UNKNOWN:     return "UNKNOWN_COMMAND";
        case PC_ERR_CONFLICT:    return "CONFLICT";
        case PC_ERR_TOO_LONG:    return "TOO_LONG";
        case PC_ERR_BAD_TEXT:    return "BAD_TEXT";
        case PC_ERR_BAD_NAME:    return "BAD_NAME";
        case PC_ERR_VERSION:     return "VERSION";
        case PC_ERR_THROTTLED:   return "THROTTLED";
        case PC_ERR_INTERNAL:    return "INTERNAL";
        case PC_ERR_UNAVAILABLE: return "UNAVAILABLE";
        case PC_ERR_STORAGE:     return "STORAGE";
        default:                 return "ERROR";
    }
}

int
pc_error_exit (int code)
{
    switch (code) {
        case PC_ERR_AUTH:
        case PC_ERR_FORBIDDEN:
        case PC_ERR_CONFLICT:
        case PC_ERR_THROTTLED:
        case PC_ERR_NOT_FOUND:
        case PC_ERR_STORAGE:
            return PC_EXIT_REFUSED;
        case PC_ERR_MALFORMED:
        case PC_ERR_UNKNOWN:
        case PC_ERR_TOO_LONG:
        case PC_ERR_BAD_TEXT:
        case PC_ERR_BAD_NAME:
        case PC_ERR_VERSION:
            return PC_EXIT_REJECTED;
        default:
            return PC_EXIT_UNREACHABLE;
    }
}

void
pc_buf_init (pc_buf_t *self)
{
    self->cap = 256;
    self->size = 0;
    self->data = malloc (self->cap);
    assert (self->data);
    self->data [0] = 0;
}

void
pc_buf_free (pc_buf_t *self)
{
    free (self->data);
    self->data = NULL;
    self->size = self->cap = 0;
}

void
pc_buf_reset (pc_buf_t *self)
{
    self->size = 0;
    if (self->data)
        self->data [0] = 0;
}

static void
s_reserve (pc_buf_t *self, size_t more)
{
    if (self->size + more + 1 <= self->cap)
        return;
    while (self->size + more + 1 > self->cap)
        self->cap *= 2;
    self->data = realloc (self->data, self->cap);
    assert (self->data);
}

void
pc_buf_append (pc_buf_t *self, const char *data, size_t size)
{
    s_reserve (self, size);
    memcpy (self->data + self->size, data, size);
    self->size += size;
    self->data [self->size] = 0;
}

char *
pc_buf_extend (pc_buf_t *self, size_t size)
{
    s_reserve (self, size);
    char *start = self->data + self->size;
    self->size += size;
    self->data [self->size] = 0;
    return start;
}

void
pc_buf_printf (pc_buf_t *self, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    int needed = vsnprintf (NULL, 0, format, args);
    va_end (args);
    assert (needed >= 0);
    s_reserve (self, (size_t) needed);
    va_start (args, format);
    vsnprintf (self->data + self->size, (size_t) needed + 1, format, args);
    va_end (args);
    self->size += (size_t) needed;
}

void
pc_buf_json_str (pc_buf_t *self, const char *text)
{
    pc_buf_append (self, "\"", 1);
    for (const unsigned char *s = (const unsigned char *) text; *s; s++) {
        if (*s == '"' || *s == '\\') {
            char esc [2] = { '\\', (char) *s };
            pc_buf_append (self, esc, 2);
        }
        else
        if (*s == '\n')
            pc_buf_append (self, "\\n", 2);
        else
        if (*s == '\t')
            pc_buf_append (self, "\\t", 2);
        else
        if (*s < 0x20 || *s == 0x7f)
            pc_buf_printf (self, "\\u%04x", *s);
        else
            pc_buf_append (self, (const char *) s, 1);
    }
    pc_buf_append (self, "\"", 1);
}

size_t
pc_uint_text (char *text, uint64_t value)
{
    char digits [PC_INT_TEXT];
    size_t size = 0;
    do {
        digits [size++] = (char) ('0' + value % 10);
        value /= 10;
    } while (value);
    for (size_t i = 0; i < size; i++)
        text [i] = digits [size - 1 - i];
    text [size] = 0;
    return size;
}

size_t
pc_int_text (char *text, int64_t value)
{
    if (value >= 0)
        return pc_uint_text (text, (uint64_t) value);
    text [0] = '-';
    return 1 + pc_uint_text (text + 1, (uint64_t) 0 - (uint64_t) value);
}

void
pc_util_test (bool verbose)
{
    assert (pc_reaction_valid ("+1") && pc_reaction_valid (":thumbsup:"));
    assert (pc_reaction_valid ("\xf0\x9f\x91\x8d"));
    assert (!pc_reaction_valid ("") && !pc_reaction_valid ("two words"));
    assert (!pc_reaction_valid ("\xf0\x9f\x91\x8d!") && !pc_reaction_valid ("!"));
    printf (" * pc_util: ");
    //  Numbers as snprintf writes them, at the edges too
    int64_t samples [] = { 0, 7, 10, 99, 100, 1733500000123LL, INT64_MAX, -1, -10, INT64_MIN };
    for (size_t i = 0; i < sizeof (samples) / sizeof (samples [0]); i++) {
        char ours [PC_INT_TEXT], theirs [32];
        snprintf (theirs, sizeof (theirs), "%" PRId64, samples [i]);
        assert (pc_int_text (ours, samples [i]) == strlen (theirs) && streq (ours, theirs));
    }
    char big [PC_INT_TEXT];
    assert (pc_uint_text (big, UINT64_MAX) == 20 && streq (big, "18446744073709551615"));
    assert (pc_utf8_valid ("hello", 5));
    assert (pc_utf8_valid ("\xe4\xbd\xa0\xe5\xa5\xbd", 6));           //  你好
    assert (pc_utf8_valid ("\xf0\x9f\x98\x80", 4));                   //  emoji
    assert (!pc_utf8_valid ("\xe4\xbd", 2));                          //  truncated
    assert (!pc_utf8_valid ("\xc0\xaf", 2));                          //  overlong
    assert (!pc_utf8_valid ("\xed\xa0\x80", 3));                      //  surrogate
    assert (!pc_utf8_valid ("\xf4\x90\x80\x80", 4));                  //  > U+10FFFF
    assert (!pc_utf8_valid ("\xff", 1));
    assert (!pc_utf8_valid ("a\0b", 3));
    assert (!pc_utf8_valid ("a\x1b[2J", 5));                         //  escape codes
    assert (pc_utf8_valid ("tab\tand\nnewline", 15));
    assert (pc_name_valid ("alice"));
    assert (pc_name_valid ("a-b_9"));
    assert (!pc_name_valid (""));
    assert (!pc_name_valid ("Alice"));
    assert (!pc_name_valid ("a b"));
    assert (!pc_name_valid ("abcdefghijklmnopqrstuvwxyz0123456"));   //  33
    assert (pc_name_valid ("abcdefghijklmnopqrstuvwxyz012345"));     //  32
    assert (pc_file_name_check ("report.pdf", 10, NULL) == 0);
    assert (pc_file_name_check ("\xe4\xbd\xa0 and spaces.txt", 18, NULL) == 0);
    const char *why = NULL;
    assert (pc_file_name_check ("../../etc/passwd", 16, &why) == -1 && why);
    assert (pc_file_name_check (".hidden", 7, NULL) == -1);
    assert (pc_file_name_check ("..", 2, NULL) == -1);
    assert (pc_file_name_check ("a/b", 3, NULL) == -1);
    assert (pc_file_name_check ("a\\b", 3, NULL) == -1);
    assert (pc_file_name_check ("a\nb", 3, NULL) == -1);
    assert (pc_file_name_check ("a\xff" "b", 3, NULL) == -1);
    assert (pc_file_name_check ("", 0, NULL) == -1);
    char long_name [PC_FILE_NAME_MAX + 2];
    memset (long_name, 'x', sizeof (long_name));
    assert (pc_file_name_check (long_name, PC_FILE_NAME_MAX, NULL) == 0);
    assert (pc_file_name_check (long_name, PC_FILE_NAME_MAX + 1, NULL) == -1);
    char name [] = "MiXed";
    pc_name_fold (name);
    assert (strcmp (name, "mixed") == 0);
    //  Sorting: every shuffle of ten names comes out in order
    for (int round = 0; round < 500; round++) {
        zlistx_t *list = zlistx_new ();
        char names [10][16];
        for (int i = 0; i < 10; i++)
            snprintf (names [i], sizeof (names [i]), "file-%d.bin", i);
        int order [10];
        for (int i = 0; i < 10; i++)
            order [i] = i;
        for (int i = 9; i > 0; i--) {
            int j = randof (i + 1), swap = order [i];
            order [i] = order [j];
            order [j] = swap;
        }
        for (int i = 0; i < 10; i++)
            zlistx_add_end (list, names [order [i]]);
        pc_list_sort (list, (czmq_comparator *) strcmp);
        int expected = 0;
        for (char *name = (char *) zlistx_first (list); name; name = (char *) zlistx_next (list))
            assert (name == names [expected++]);
        assert (expected == 10);
        zlistx_destroy (&list);
    }
    pc_buf_t buf;
    pc_buf_init (&buf);
    pc_buf_json_str (&buf, "a\"b\\c\n\x01");
    assert (strcmp (buf.data, "\"a\\\"b\\\\c\\n\\u0001\"") == 0);
    for (int i = 0; i < 1000; i++)
        pc_buf_printf (&buf, "%d", i);
    assert (buf.size == strlen (buf.data));
    size_t cap = buf.cap;
    pc_buf_reset (&buf);
    assert (buf.size == 0 && buf.cap == cap && buf.data [0] == 0);
    pc_buf_append (&buf, "xy", 2);
    assert (streq (buf.data, "xy"));
    pc_buf_free (&buf);
    assert (pc_error_exit (PC_ERR_AUTH) == PC_EXIT_REFUSED);
    assert (pc_error_exit (PC_ERR_TOO_LONG) == PC_EXIT_REJECTED);
    assert (pc_error_exit (PC_ERR_UNAVAILABLE) == PC_EXIT_UNREACHABLE);
    if (verbose)
        printf ("(verbose) ");
    printf ("OK\n");
}
