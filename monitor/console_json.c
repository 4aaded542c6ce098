//  console_json.c: recursive descent over a NUL-terminated text.
#include "console_json.h"

#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEPTH_MAX   64

typedef struct {
    const char *cursor;
    int         depth;
} parser_t;

static console_json_t *s_value (parser_t *parser);

static void
s_skip_space (parser_t *parser)
{
    while (*parser->cursor == ' ' || *parser->cursor == '\t'
        || *parser->cursor == '\n' || *parser->cursor == '\r')
        parser->cursor++;
}

static console_json_t *
s_new (console_json_type_t type)
{
    console_json_t *self = (console_json_t *) calloc (1, sizeof (console_json_t));
    assert (self);
    self->type = type;
    return self;
}

void
console_json_destroy (console_json_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        console_json_t *self = *self_p;
        for (size_t i = 0; i < self->count; i++) {
            if (self->keys)
                free (self->keys [i]);
            console_json_destroy (&self->items [i]);
        }
        free (self->keys);
        free (self->items);
        free (self->string);
        free (self);
        *self_p = NULL;
    }
}

static int
s_hex4 (const char *text, unsigned *value)
{
    *value = 0;
    for (int i = 0; i < 4; i++) {
        char c = text [i];
        unsigned digit;
        if (c >= '0' && c <= '9')
            digit = (unsigned) (c - '0');
        else
        if (c >= 'a' && c <= 'f')
            digit = (unsigned) (c - 'a' + 10);
        else
        if (c >= 'A' && c <= 'F')
            digit = (unsigned) (c - 'A' + 10);
        else
            return -1;
        *value = *value * 16 + digit;
    }
    return 0;
}

static size_t
s_utf8_put (char *out, unsigned code)
{
    if (code < 0x80) {
        out [0] = (char) code;
        return 1;
    }
    if (code < 0x800) {
        out [0] = (char) (0xC0 | (code >> 6));
        out [1] = (char) (0x80 | (code & 0x3F));
        return 2;
    }
    if (code < 0x10000) {
        out [0] = (char) (0xE0 | (code >> 12));
        out [1] = (char) (0x80 | ((code >> 6) & 0x3F));
        out [2] = (char) (0x80 | (code & 0x3F));
        return 3;
    }
    out [0] = (char) (0xF0 | (code >> 18));
    out [1] = (char) (0x80 | ((code >> 12) & 0x3F));
    out [2] = (char) (0x80 | ((code >> 6) & 0x3F));
    out [3] = (char) (0x80 | (code & 0x3F));
    return 4;
}

//  A string literal at the cursor (on its opening quote); caller frees.
static char *
s_string (parser_t *parser)
{
    if (*parser->cursor != '"')
        return NULL;
    const char *start = ++parser->cursor;
    //  Unescaped output is never longer than the literal
    const char *end = start;
    while (*end && *end != '"')
        end += (*end == '\\' && end [1])? 2: 1;
    if (*end != '"')
        return NULL;
    char *out = (char *) malloc ((size_t) (end - start) + 1);
    assert (out);
    size_t size = 0;
    const char *c = start;
    while (c < end) {
        if ((unsigned char) *c < 0x20)
            goto fail;
        if (*c != '\\') {
            out [size++] = *c++;
            continue;
        }
        c++;
        switch (*c++) {
            case '"':  out [size++] = '"'; break;
            case '\\': out [size++] = '\\'; break;
            case '/':  out [size++] = '/'; break;
            case 'b':  out [size++] = '\b'; break;
            case 'f':  out [size++] = '\f'; break;
            case 'n':  out [size++] = '\n'; break;
            case 'r':  out [size++] = '\r'; break;
            case 't':  out [size++] = '\t'; break;
            case 'u': {
                unsigned code;
                if (end - c < 4 || s_hex4 (c, &code))
                    goto fail;
                c += 4;
                if (code >= 0xD800 && code < 0xDC00) {
                    unsigned low;
                    if (end - c < 6 || c [0] != '\\' || c [1] != 'u' || s_hex4 (c + 2, &low)
                    ||  low < 0xDC00 || low > 0xDFFF)
                        goto fail;
                    c += 6;
                    code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
                }
                else
                if (code >= 0xDC00 && code < 0xE000)
                    goto fail;
                if (code == 0)
                    goto fail;              //  no NUL inside a C string
                size += s_utf8_put (out + size, code);   //  <= 6 escaped bytes
                break;
            }
            default:
                goto fail;
        }
    }
    out [size] = 0;
    parser->cursor = end + 1;
    return out;
fail:
    free (out);
    return NULL;
}

static bool
s_literal (parser_t *parser, const char *word)
{
    size_t size = strlen (word);
    if (strncmp (parser->cursor, word, size))
        return false;
    parser->cursor += size;
    return true;
}

static void
s_push (console_json_t *self, char *key, console_json_t *item)
{
    if ((self->count & (self->count - 1)) == 0) {       //  0, 1, 2, 4, 8...: grow
        size_t cap = self->count? self->count * 2: 1;
        self->items = (console_json_t **) realloc (self->items, cap * sizeof (*self->items));
        assert (self->items);
        if (self->type == CONSOLE_JSON_OBJECT) {
            self->keys = (char **) realloc (self->keys, cap * sizeof (char *));
            assert (self->keys);
        }
    }
    if (self->type == CONSOLE_JSON_OBJECT)
        self->keys [self->count] = key;
    self->items [self->count++] = item;
}

static console_json_t *
s_container (parser_t *parser, bool object)
{
    if (++parser->depth > DEPTH_MAX)
        return NULL;
    console_json_t *self = s_new (object? CONSOLE_JSON_OBJECT: CONSOLE_JSON_ARRAY);
    parser->cursor++;
    s_skip_space (parser);
    char close = object? '}': ']';
    if (*parser->cursor == close) {
        parser->cursor++;
        parser->depth--;
        return self;
    }
    while (true) {
        char *key = NULL;
        if (object) {
            s_skip_space (parser);
            key = s_string (parser);
            s_skip_space (parser);
            if (!key || *parser->cursor != ':') {
                free (key);
                break;
            }
            parser->cursor++;
        }
        console_json_t *item = s_value (parser);
        if (!item) {
            free (key);
            break;
        }
        s_push (self, key, item);
        s_skip_space (parser);
        if (*parser->cursor == ',') {
            parser->cursor++;
            continue;
        }
        if (*parser->cursor == close) {
            parser->cursor++;
            parser->depth--;
            return self;
        }
        break;
    }
    console_json_destroy (&self);
    return NULL;
}

static console_json_t *
s_number (parser_t *parser)
{
    const char *start = parser->cursor;
    const char *c = start;
    if (*c == '-')
        c++;
    if (*c < '0' || *c > '9')
        return NULL;
    while (*c >= '0' && *c <= '9')
        c++;
    if (*c == '.') {
        c++;
        if (*c < '0' || *c > '9')
            return NULL;
        while (*c >= '0' && *c <= '9')
            c++;
    }
    if (*c == 'e' || *c == 'E') {
        c++;
        if (*c == '+' || *c == '-')
            c++;
        if (*c < '0' || *c > '9')
            return NULL;
        while (*c >= '0' && *c <= '9')
            c++;
    }
    console_json_t *self = s_new (CONSOLE_JSON_NUMBER);
    self->number = strtod (start, NULL);
    parser->cursor = c;
    return self;
}

static console_json_t *
s_value (parser_t *parser)
{
    s_skip_space (parser);
    char c = *parser->cursor;
    if (c == '{' || c == '[')
        return s_container (parser, c == '{');
    if (c == '"') {
        char *text = s_string (parser);
        if (!text)
            return NULL;
        console_json_t *self = s_new (CONSOLE_JSON_STRING);
        self->string = text;
        return self;
    }
    if (s_literal (parser, "true") || s_literal (parser, "false")) {
        console_json_t *self = s_new (CONSOLE_JSON_BOOL);
        self->boolean = parser->cursor [-1] == 'e' && parser->cursor [-2] == 'u';
        return self;
    }
    if (s_literal (parser, "null"))
        return s_new (CONSOLE_JSON_NULL);
    return s_number (parser);
}

console_json_t *
console_json_parse (const char *text)
{
    if (!text)
        return NULL;
    parser_t parser = { text, 0 };
    console_json_t *self = s_value (&parser);
    s_skip_space (&parser);
    if (self && *parser.cursor)
        console_json_destroy (&self);       //  trailing garbage
    return self;
}

console_json_t *
console_json_get (console_json_t *object, const char *key)
{
    if (!object || object->type != CONSOLE_JSON_OBJECT || !key)
        return NULL;
    for (size_t i = 0; i < object->count; i++)
        if (strcmp (object->keys [i], key) == 0)
            return object->items [i];
    return NULL;
}

console_json_t *
console_json_at (console_json_t *array, size_t index)
{
    if (!array || (array->type != CONSOLE_JSON_ARRAY && array->type != CONSOLE_JSON_OBJECT)
    ||  index >= array->count)
        return NULL;
    return array->items [index];
}

size_t
console_json_size (console_json_t *value)
{
    if (!value || (value->type != CONSOLE_JSON_ARRAY && value->type != CONSOLE_JSON_OBJECT))
        return 0;
    return value->count;
}

double
console_json_number (console_json_t *value, double fallback)
{
    if (value && value->type == CONSOLE_JSON_NUMBER)
        return value->number;
    if (value && value->type == CONSOLE_JSON_BOOL)
        return value->boolean;
    return fallback;
}

const char *
console_json_string (console_json_t *value, const char *fallback)
{
    return value && value->type == CONSOLE_JSON_STRING? value->string: fallback;
}

void
console_json_test (bool verbose)
{
    printf (" * console_json: ");
    console_json_t *doc = console_json_parse (
        " {\"a\":1,\"rooms\":{\"lobby\":{\"messages\":7,\"members\":2}},"
        "\"l\":[true,false,null,-1.5e2,\"x\\u00e9\\ud83d\\ude00\\n\"],\"e\":{},\"f\":[]} ");
    assert (doc && doc->type == CONSOLE_JSON_OBJECT && console_json_size (doc) == 5);
    assert (console_json_number (console_json_get (doc, "a"), 0) == 1);
    console_json_t *lobby = console_json_get (console_json_get (doc, "rooms"), "lobby");
    assert (console_json_number (console_json_get (lobby, "messages"), 0) == 7);
    console_json_t *list = console_json_get (doc, "l");
    assert (console_json_size (list) == 5);
    assert (console_json_number (console_json_at (list, 0), 0) == 1);
    assert (console_json_number (console_json_at (list, 1), 9) == 0);
    assert (console_json_at (list, 2)->type == CONSOLE_JSON_NULL);
    assert (console_json_number (console_json_at (list, 3), 0) == -150);
    assert (strcmp (console_json_string (console_json_at (list, 4), ""),
                    "x\xc3\xa9\xf0\x9f\x98\x80\n") == 0);
    assert (console_json_at (list, 5) == NULL);
    assert (console_json_get (doc, "missing") == NULL);
    assert (console_json_number (NULL, 3) == 3);
    assert (strcmp (console_json_string (NULL, "-"), "-") == 0);
    console_json_destroy (&doc);
    console_json_destroy (&doc);

    const char *bad [] = { "", "{", "}", "[1,]", "{\"a\"}", "{\"a\":}", "[1 2]", "\"abc",
                           "\"\\x\"", "\"\\u12\"", "\"\\ud800\"", "\"\\u0000\"", "01x", "-",
                           "1.", "1e", "tru", "{} x", "[\"a\nb\"]", "{1:2}", NULL };
    for (int i = 0; bad [i]; i++)
        assert (console_json_parse (bad [i]) == NULL);
    //  Nesting is bounded
    char deep [300];
    memset (deep, '[', 200);
    deep [200] = 0;
    assert (console_json_parse (deep) == NULL);
    //  Random bytes never crash
    char noise [64];
    for (int round = 0; round < 20000; round++) {
        size_t size = (size_t) (rand () % 63);
        for (size_t i = 0; i < size; i++)
            noise [i] = "{}[]\",:0123-.eEtrufalsn\\u "[rand () % 27];
        noise [size] = 0;
        console_json_t *value = console_json_parse (noise);
        console_json_destroy (&value);
    }
    if (verbose)
        printf ("(parsed, rejected and fuzzed) ");
    printf ("OK\n");
}
