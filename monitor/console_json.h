//  console_json.h: the console's reading of STATS replies, on jansson.
//
//  Input is the network's: every lookup accepts NULL (a key or item that
//  is missing or of another type) and gives NULL or the fallback, so the
//  dashboard draws whatever arrived without checking each step.
//
//      console_json_t *stats = console_json_parse (text);
//      double total = console_json_number (console_json_get (stats, "messages_total"), 0);
//      console_json_destroy (&stats);
#ifndef CONSOLE_JSON_H_INCLUDED
#define CONSOLE_JSON_H_INCLUDED

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

typedef json_t console_json_t;

//  NULL when text is not one JSON object (jansson bounds the nesting).
console_json_t *console_json_parse   (const char *text);
void            console_json_destroy (console_json_t **self_p);

//  Borrowed lookups; each accepts NULL and returns NULL / the fallback.
console_json_t *console_json_get     (console_json_t *object, const char *key);
//  An array's item, or an object's value, in the order they came.
console_json_t *console_json_at      (console_json_t *container, size_t index);
//  An object's key, in the order they came.
const char     *console_json_key     (console_json_t *object, size_t index);
size_t          console_json_size    (console_json_t *value);   //  0 unless array/object
bool            console_json_is_object (console_json_t *value);
bool            console_json_is_array  (console_json_t *value);
//  A number's value (true is 1, false 0), else fallback.
double          console_json_number  (console_json_t *value, double fallback);
const char     *console_json_string  (console_json_t *value, const char *fallback);

void            console_json_test    (bool verbose);
#endif
