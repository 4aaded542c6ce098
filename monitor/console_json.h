//  console_json.h: a small JSON reader for the console (STATS replies).
//
//  Parses one JSON text into a tree the caller owns. Input is the
//  network's: every read is bounds-checked, nesting is limited, and a
//  text that is not JSON gives NULL, never a crash.
//
//      console_json_t *stats = console_json_parse (text);
//      double total = console_json_number (console_json_get (stats, "messages_total"), 0);
//      console_json_destroy (&stats);
#ifndef CONSOLE_JSON_H_INCLUDED
#define CONSOLE_JSON_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

typedef enum {
    CONSOLE_JSON_NULL, CONSOLE_JSON_BOOL, CONSOLE_JSON_NUMBER, CONSOLE_JSON_STRING,
    CONSOLE_JSON_ARRAY, CONSOLE_JSON_OBJECT
} console_json_type_t;

typedef struct _console_json_t console_json_t;
struct _console_json_t {
    console_json_type_t type;
    bool            boolean;
    double          number;
    char           *string;         //  UTF-8, NUL-terminated (STRING)
    size_t          count;          //  items (ARRAY, OBJECT)
    char          **keys;           //  OBJECT: count keys
    console_json_t **items;         //  ARRAY, OBJECT: count values
};

//  NULL when text is not one well-formed JSON value (or nests over 64).
console_json_t *console_json_parse   (const char *text);
void            console_json_destroy (console_json_t **self_p);

//  Borrowed lookups; each accepts NULL and returns NULL / the fallback.
console_json_t *console_json_get     (console_json_t *object, const char *key);
console_json_t *console_json_at      (console_json_t *array, size_t index);
size_t          console_json_size    (console_json_t *value);   //  0 unless array/object
double          console_json_number  (console_json_t *value, double fallback);
const char     *console_json_string  (console_json_t *value, const char *fallback);

void            console_json_test    (bool verbose);
#endif
