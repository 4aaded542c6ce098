//  console_json.c: NULL-tolerant lookups over a jansson tree (console_json.h).
#include "console_json.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

console_json_t *
console_json_parse (const char *text)
{
    json_t *value = text? json_loads (text, JSON_REJECT_DUPLICATES, NULL): NULL;
    if (value && !json_is_object (value)) {
        json_decref (value);
        value = NULL;
    }
    return value;
}

void
console_json_destroy (console_json_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        json_decref (*self_p);
        *self_p = NULL;
    }
}

console_json_t *
console_json_get (console_json_t *object, const char *key)
{
    return json_is_object (object)? json_object_get (object, key): NULL;
}

//  The index-th member of an object (jansson keeps the order parsed).
static void *
s_member (console_json_t *object, size_t index)
{
    void *iter = json_object_iter (object);
    while (iter && index--)
        iter = json_object_iter_next (object, iter);
    return iter;
}

console_json_t *
console_json_at (console_json_t *container, size_t index)
{
    if (json_is_array (container))
        return json_array_get (container, index);
    if (json_is_object (container)) {
        void *iter = s_member (container, index);
        return iter? json_object_iter_value (iter): NULL;
    }
    return NULL;
}

const char *
console_json_key (console_json_t *object, size_t index)
{
    void *iter = json_is_object (object)? s_member (object, index): NULL;
    return iter? json_object_iter_key (iter): NULL;
}

size_t
console_json_size (console_json_t *value)
{
    return json_is_array (value)? json_array_size (value):
           json_is_object (value)? json_object_size (value): 0;
}

bool
console_json_is_object (console_json_t *value)
{
    return json_is_object (value);
}

bool
console_json_is_array (console_json_t *value)
{
    return json_is_array (value);
}

double
console_json_number (console_json_t *value, double fallback)
{
    if (json_is_number (value))
        return json_number_value (value);
    if (json_is_boolean (value))
        return json_is_true (value);
    return fallback;
}

const char *
console_json_string (console_json_t *value, const char *fallback)
{
    return json_is_string (value)? json_string_value (value): fallback;
}

void
console_json_test (bool verbose)
{
    printf (" * console_json: ");
    console_json_t *doc = console_json_parse (
        " {\"a\":1,\"rooms\":{\"lobby\":{\"messages\":7,\"members\":2},\"dev\":{}},"
        "\"l\":[true,false,null,-1.5e2,\"x\\u00e9\\ud83d\\ude00\\n\"],\"e\":{},\"f\":[]} ");
    assert (doc && console_json_is_object (doc) && console_json_size (doc) == 5);
    assert (console_json_number (console_json_get (doc, "a"), 0) == 1);
    console_json_t *rooms = console_json_get (doc, "rooms");
    assert (strcmp (console_json_key (rooms, 0), "lobby") == 0);
    assert (strcmp (console_json_key (rooms, 1), "dev") == 0);
    assert (console_json_key (rooms, 2) == NULL && console_json_key (doc, 9) == NULL);
    assert (console_json_number (console_json_get (console_json_at (rooms, 0), "messages"), 0) == 7);
    console_json_t *list = console_json_get (doc, "l");
    assert (console_json_is_array (list) && console_json_size (list) == 5);
    assert (console_json_number (console_json_at (list, 0), 0) == 1);
    assert (console_json_number (console_json_at (list, 1), 9) == 0);
    assert (console_json_number (console_json_at (list, 2), 9) == 9);
    assert (console_json_number (console_json_at (list, 3), 0) == -150);
    assert (strcmp (console_json_string (console_json_at (list, 4), ""),
                    "x\xc3\xa9\xf0\x9f\x98\x80\n") == 0);
    assert (console_json_at (list, 5) == NULL && console_json_at (NULL, 0) == NULL);
    assert (console_json_get (doc, "missing") == NULL && console_json_get (list, "a") == NULL);
    assert (console_json_number (NULL, 3) == 3 && console_json_size (NULL) == 0);
    assert (strcmp (console_json_string (NULL, "-"), "-") == 0);
    console_json_destroy (&doc);
    console_json_destroy (&doc);

    //  Not one JSON object: NULL, never a crash
    const char *bad [] = { "", "{", "}", "[1,]", "{\"a\"}", "{\"a\":}", "[1 2]", "\"abc\"",
                           "{\"a\":\"\\x\"}", "{\"a\":\"\\u12\"}", "{\"a\":\"\\u0000\"}", "01x",
                           "-", "1.", "1e", "tru", "{} x", "[\"a\nb\"]", "{1:2}", "[]", "7",
                           "{\"a\":1,\"a\":2}", NULL };
    for (int i = 0; bad [i]; i++)
        assert (console_json_parse (bad [i]) == NULL);
    assert (console_json_parse (NULL) == NULL);
    //  Nesting is bounded
    char deep [6001];
    memset (deep, '[', 3000);
    memset (deep + 3000, ']', 3000);
    deep [6000] = 0;
    assert (console_json_parse (deep) == NULL);
    if (verbose)
        printf ("(parsed and rejected) ");
    printf ("OK\n");
}
