//  pc_words.c: words of a text, for search (see pc_words.h).
#include "pc_words.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

static bool
s_word_byte (unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80;
}

//  Characters of a UTF-8 word: its bytes that do not continue a character
static size_t
s_chars (const char *word, size_t len)
{
    size_t chars = 0;
    for (size_t i = 0; i < len; i++)
        chars += ((unsigned char) word [i] & 0xC0) != 0x80;
    return chars;
}

//  The next run of word bytes in text[*at..size): its start and length,
//  false when there is none left
static bool
s_next_run (const char *text, size_t size, size_t *at, size_t *start, size_t *len)
{
    size_t i = *at;
    while (i < size && !s_word_byte ((unsigned char) text [i]))
        i++;
    if (i >= size)
        return false;
    *start = i;
    while (i < size && s_word_byte ((unsigned char) text [i]))
        i++;
    *len = i - *start;
    *at = i;
    return true;
}

static void
s_lower (const char *from, size_t len, char *to)
{
    for (size_t k = 0; k < len; k++) {
        char c = from [k];
        to [k] = c >= 'A' && c <= 'Z'? (char) (c - 'A' + 'a'): c;
    }
    to [len] = 0;
}

size_t
pc_words_each (const char *text, size_t size, pc_words_fn *fn, void *arg)
{
    size_t given = 0, at = 0, start, len;
    while (s_next_run (text, size, &at, &start, &len)) {
        if (len > PC_WORD_MAX || s_chars (text + start, len) < 2)
            continue;
        char word [PC_WORD_MAX + 1];
        s_lower (text + start, len, word);
        fn (arg, word, len);
        given++;
    }
    return given;
}

int
pc_query_parse (const char *text, pc_query_t *query, const char **why)
{
    memset (query, 0, sizeof (*query));
    size_t size = strlen (text);
    if (size > PC_QUERY_MAX) {
        *why = "the query is too long: at most 256 bytes";
        return -1;
    }
    //  Piece by piece (split on spaces): a piece that ends in '*' makes
    //  its last word a prefix
    for (size_t at = 0; at < size; ) {
        while (at < size && (text [at] == ' ' || text [at] == '\t' || text [at] == '\n'))
            at++;
        size_t end = at;
        while (end < size && text [end] != ' ' && text [end] != '\t' && text [end] != '\n')
            end++;
        bool prefix = end > at && text [end - 1] == '*';
        size_t piece = end, pos = at, start, len;
        while (s_next_run (text, piece, &pos, &start, &len)) {
            size_t rest = pos, s2, l2;
            bool last = !s_next_run (text, piece, &rest, &s2, &l2);
            bool is_prefix = prefix && last && pos == piece - 1;
            if (len > PC_WORD_MAX) {
                *why = "a word of the query is too long: at most 64 bytes";
                return -1;
            }
            size_t chars = s_chars (text + start, len);
            if (chars < 2) {
                if (is_prefix) {
                    *why = "a prefix needs at least two characters before '*'";
                    return -1;
                }
                continue;               //  one character: not indexed
            }
            char word [PC_WORD_MAX + 1];
            s_lower (text + start, len, word);
            bool known = false;
            for (size_t i = 0; i < query->count; i++)
                known |= query->terms [i].prefix == is_prefix && strcmp (query->terms [i].word, word) == 0;
            if (known)
                continue;
            if (query->count == PC_QUERY_WORDS) {
                *why = "too many words in the query: at most 8";
                return -1;
            }
            memcpy (query->terms [query->count].word, word, len + 1);
            query->terms [query->count++].prefix = is_prefix;
        }
        at = end;
    }
    if (query->count == 0) {
        *why = "nothing to search for: give words of two characters or more";
        return -1;
    }
    return 0;
}

typedef struct {
    const pc_query_t *query;
    bool found [PC_QUERY_WORDS];
} match_t;

static void
s_match_word (void *arg, const char *word, size_t len)
{
    match_t *match = (match_t *) arg;
    for (size_t i = 0; i < match->query->count; i++) {
        const pc_term_t *term = &match->query->terms [i];
        if (term->prefix? strncmp (word, term->word, strlen (term->word)) == 0
                        : strcmp (word, term->word) == 0)
            match->found [i] = true;
    }
}

bool
pc_query_matches (const pc_query_t *query, const char *text)
{
    match_t match = { query, { false } };
    pc_words_each (text, strlen (text), s_match_word, &match);
    for (size_t i = 0; i < query->count; i++)
        if (!match.found [i])
            return false;
    return query->count > 0;
}

static void
s_collect (void *arg, const char *word, size_t len)
{
    char *out = (char *) arg;
    if (*out)
        strcat (out, "|");
    strcat (out, word);
}

void
pc_words_test (bool verbose)
{
    printf (" * pc_words: ");
    char out [512] = "";
    //  Lower case, split on non-alphanumerics, one-character words out,
    //  UTF-8 whole (é is one character: no word; "été" is)
    const char *text = "Hello, WORLD! a b2 é été x-ray 42 \xe6\x97\xa5\xe6\x9c\xac";
    assert (pc_words_each (text, strlen (text), s_collect, out) == 7);
    assert (strcmp (out, "hello|world|b2|été|ray|42|\xe6\x97\xa5\xe6\x9c\xac") == 0);
    pc_query_t query;
    const char *why = NULL;
    assert (pc_query_parse ("Deploy  frid*", &query, &why) == 0);
    assert (query.count == 2 && !query.terms [0].prefix && query.terms [1].prefix);
    assert (strcmp (query.terms [1].word, "frid") == 0);
    assert (pc_query_matches (&query, "we deploy on Friday"));
    assert (!pc_query_matches (&query, "we deployed on Friday"));
    assert (!pc_query_matches (&query, "deploy on monday"));
    assert (pc_query_parse ("x-ray*", &query, &why) == 0);
    assert (query.count == 1 && query.terms [0].prefix && strcmp (query.terms [0].word, "ray") == 0);
    assert (pc_query_parse ("a ! ?", &query, &why) == -1 && strstr (why, "nothing"));
    assert (pc_query_parse ("", &query, &why) == -1);
    assert (pc_query_parse ("a*", &query, &why) == -1 && strstr (why, "prefix"));
    assert (pc_query_parse ("aa bb cc dd ee ff gg hh ii", &query, &why) == -1 && strstr (why, "many"));
    assert (pc_query_parse ("aa AA aa", &query, &why) == 0 && query.count == 1);
    char big [PC_QUERY_MAX + 2];
    memset (big, 'a', sizeof (big) - 1);
    big [sizeof (big) - 1] = 0;
    assert (pc_query_parse (big, &query, &why) == -1 && strstr (why, "too long"));
    memset (big, 'a', 70);
    big [70] = 0;
    assert (pc_query_parse (big, &query, &why) == -1 && strstr (why, "64 bytes"));
    printf ("OK\n");
}
