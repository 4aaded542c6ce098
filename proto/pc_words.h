//  pc_words.h: the words of a text, as search indexes them and matches a
//  query against them (PROTOCOL.md, "Search"). The broker's index (a Lua
//  script, broker_search.h) and the client's DM search cut words the same
//  way:
//
//  - a word is a run of ASCII letters and digits and of bytes >= 0x80 (so
//    a UTF-8 character is kept whole, never split); every other byte
//    separates words;
//  - ASCII letters are lower-cased; nothing else is folded;
//  - a word of one character (one code point) is no word;
//  - a word longer than PC_WORD_MAX bytes is not indexed.
//
//  A query is words separated by spaces; a word that ends in '*' matches
//  every word it begins (a prefix of at least two characters). A message
//  matches when it holds every word of the query.
#ifndef PC_WORDS_H_INCLUDED
#define PC_WORDS_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

#define PC_WORD_MAX         64      //  bytes of one indexed word
#define PC_QUERY_MAX        256     //  bytes of a search query
#define PC_QUERY_WORDS      8       //  words of a query
#define PC_SEARCH_LIMIT_MAX 50      //  hits in one SEARCH reply

typedef struct {
    char    word [PC_WORD_MAX + 1];
    bool    prefix;                 //  "word*": any word that begins so
} pc_term_t;

typedef struct {
    pc_term_t terms [PC_QUERY_WORDS];
    size_t    count;
} pc_query_t;

//  Calls fn for each word of text[0..size), lower-cased (word is a buffer
//  of the caller's, len bytes, NUL-terminated); words over PC_WORD_MAX
//  bytes and of one character are left out. Returns how many were given.
typedef void (pc_words_fn) (void *arg, const char *word, size_t len);
size_t      pc_words_each    (const char *text, size_t size, pc_words_fn *fn, void *arg);

//  Parses a query: 0 ok (query->count >= 1), else -1 with *why, one line
//  for a person: nothing to search for, too long, a word too long, too
//  many words, a prefix of one character.
int         pc_query_parse   (const char *text, pc_query_t *query, const char **why);
//  Whether text holds every term of query.
bool        pc_query_matches (const pc_query_t *query, const char *text);

void        pc_words_test    (bool verbose);
#endif
