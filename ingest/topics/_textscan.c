/*
 * Native helpers of ingest.topics: the topic index's word scan (LexiconScanner), its
 * candidate step (TopicFilter), and the single-spaced form of a tokenised text
 * (squeeze_spaces, TermJoiner). Each has a pure-Python twin used when this module was
 * not compiled; tests/topics check that both give the same results.
 *
 * The word scan tells which of a fixed set of words, prefixes and phrases occur in a
 * tokenised text, without making a Python object per token.
 *
 * Input is the *spaced* form of a field (ingest.topics.tokens.joined_terms): folded
 * terms separated by runs of U+0020. A term is looked up whole in the word table, and
 * each of its leading runs whose length some prefix has is looked up in the prefix
 * table; where a term is a phrase's anchor word, the text around it is compared with
 * the phrase. Both tables are open-addressing hash tables (linear probing, at most half
 * full), built once from the topics' queries and never changed by a scan, so hostile
 * text cannot make a probe longer than the tables' own clusters. A scan costs O(length
 * of the text) plus one probe per term, per indexed prefix length and per phrase anchored
 * on a term, and allocates nothing but the result (and, for scan_numbered, its numbers).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* Two slots per cache line, holding what a probe compares: a probe that finds its word
 * reads nothing else until the scan adds its key (from the slot's Entry, kept apart so
 * that the probed table stays small enough for the caches). Text is mostly short words
 * in Latin-1, which fit inline. */
#define INLINE_CHARS 16
#define LONG_WORD 0x80000000u /* in Slot.length: the characters are in Entry.long_chars */
typedef struct {
    uint64_t hash;
    uint32_t length;      /* 0: an empty slot (no word or prefix is empty) */
    int32_t phrases;      /* the first phrase anchored on this word, plus one; 0: none */
    Py_UCS1 inline_chars[INLINE_CHARS]; /* the characters, if all below 256 and few enough */
} Slot;
_Static_assert(sizeof(Slot) == 32, "two Slots per cache line");

typedef struct {
    PyObject *key;        /* what a hit adds to the result: the word, or the prefix and "*" */
    uint64_t seen;        /* the scan that last added `key`: each key is added once per scan */
    Py_UCS4 *long_chars;  /* the characters, when they do not fit inline_chars; else NULL */
    int32_t number;       /* the key's number given by bind(), plus one; 0: none */
} Entry;

/* A phrase is found through its anchor word (one of its words, the rarest): where the
 * scan meets that word, it compares the text around it with the phrase's spaced form. */
typedef struct {
    Py_UCS4 *chars;     /* the phrase's spaced form, " project nimbus " (or " project nim") */
    Py_ssize_t length;
    Py_ssize_t offset;  /* where the anchor word starts in it */
    PyObject *key;      /* the spaced form as a str: what a match adds to the result */
    uint64_t seen;      /* as Entry.seen */
    int32_t next;       /* the next phrase anchored on the same word, plus one; 0: none */
    int32_t number;     /* as Entry.number */
} Phrase;

/* The numbers of the keys a scan added (scan_numbered), for a bound TopicFilter. */
typedef struct {
    int collect;
    int32_t *numbers;
    Py_ssize_t count, capacity;
} Numbers;

typedef struct {
    Slot *slots;     /* aligned on a cache line, inside `memory` */
    void *memory;
    Entry *entries;  /* entries[i] goes with slots[i] */
    size_t mask;
} Table;

typedef struct {
    PyObject_HEAD
    Table words;
    Table prefixes;
    Phrase *phrases;
    Py_ssize_t phrase_count;
    unsigned char *prefix_length; /* prefix_length[n] != 0: some prefix has n characters */
    Py_ssize_t longest_prefix;
    Py_ssize_t shortest_prefix;
    /* Bit h(first 3 characters) is set for every prefix: a term whose first three
     * characters hash to a clear bit starts no prefix (a filter, never a false no). */
    unsigned char heads[(1u << 16) / 8];
    /* The same filter over whole words' hashes: most terms of a text are in no query. */
    unsigned char word_filter[(1u << 16) / 8];
    /* ... and over whole prefixes' hashes: a term that passes the head filter is probed
     * at each prefix length, most of which hold no prefix that starts like it. */
    unsigned char prefix_filter[(1u << 16) / 8];
    uint64_t scans; /* scans so far: Entry.seen compares with it */
    Numbers *numbers; /* scratch of scan_numbered: used under the GIL, within one call */
} Scanner;

/* The hash of a string. One made only of characters below 256 (most words) is hashed
 * eight characters at a time, packed as bytes into a 64-bit chunk (little-endian): the
 * scan of a 1-byte str reads those chunks straight from its data, and finds where a word
 * ends in the same load. Other strings are hashed with FNV-1a over code points. Both
 * end with the same finaliser, which mixes in the length. */
#define HASH_SEED 0x9E3779B97F4A7C15ULL
#define CHUNK_MULTIPLIER 0xFF51AFD7ED558CCDULL
#define FINAL_MULTIPLIER 0xC4CEB9FE1A85EC53ULL
#define FNV_OFFSET 14695981039346656037ULL
#define FNV_PRIME 1099511628211ULL
/* The head filter looks at a term's first HEAD_LENGTH characters (the query language's
 * shortest prefix); shorter prefixes are probed without it. */
#define HEAD_LENGTH 3
#define HEAD_BITS 16

static inline uint64_t fnv_step(uint64_t hash, Py_UCS4 ch) {
    return (hash ^ (uint64_t)ch) * FNV_PRIME;
}

static inline uint64_t chunk_step(uint64_t hash, uint64_t chunk) {
    return (hash ^ chunk) * CHUNK_MULTIPLIER;
}

static inline uint64_t finish(uint64_t hash, Py_ssize_t length) {
    hash ^= (uint64_t)length * FINAL_MULTIPLIER;
    hash ^= hash >> 33;
    hash *= FINAL_MULTIPLIER;
    return hash ^ (hash >> 29);
}

/* The hash of chars[0:length], by the rule above. */
#define DEFINE_HASH(NAME, CHAR)                                                               \
    static inline uint64_t NAME(const CHAR *chars, Py_ssize_t length) {                       \
        uint64_t hash = HASH_SEED, chunk = 0;                                                 \
        int shift = 0;                                                                        \
        for (Py_ssize_t k = 0; k < length; k++) {                                             \
            if ((Py_UCS4)chars[k] > 255) goto wide;                                           \
            chunk |= (uint64_t)chars[k] << shift;                                             \
            shift += 8;                                                                       \
            if (shift == 64) {                                                                \
                hash = chunk_step(hash, chunk);                                               \
                chunk = 0;                                                                    \
                shift = 0;                                                                    \
            }                                                                                 \
        }                                                                                     \
        if (shift != 0) hash = chunk_step(hash, chunk);                                       \
        return finish(hash, length);                                                          \
    wide:                                                                                     \
        hash = FNV_OFFSET;                                                                    \
        for (Py_ssize_t k = 0; k < length; k++) hash = fnv_step(hash, chars[k]);              \
        return finish(hash, length);                                                          \
    }

DEFINE_HASH(hash_ucs1, Py_UCS1)
DEFINE_HASH(hash_ucs2, Py_UCS2)
DEFINE_HASH(hash_ucs4, Py_UCS4)

static inline size_t head_bit(uint64_t hash) {
    return (size_t)(hash >> (64 - HEAD_BITS));
}

static inline int bit_is_set(const unsigned char *bits, uint64_t hash) {
    size_t bit = head_bit(hash);
    return (bits[bit >> 3] >> (bit & 7)) & 1;
}

static inline void set_bit(unsigned char *bits, uint64_t hash) {
    size_t bit = head_bit(hash);
    bits[bit >> 3] |= (unsigned char)(1u << (bit & 7));
}

static void table_free(Table *table) {
    if (table->slots == NULL) return;
    for (size_t i = 0; i <= table->mask; i++) {
        PyMem_Free(table->entries[i].long_chars);
        Py_XDECREF(table->entries[i].key);
    }
    PyMem_Free(table->memory);
    PyMem_Free(table->entries);
    table->slots = table->memory = NULL;
    table->entries = NULL;
}

static int table_alloc(Table *table, Py_ssize_t entries) {
    size_t capacity = 8;
    while (capacity < (size_t)entries * 2 + 1) capacity <<= 1;
    table->memory = PyMem_Calloc(capacity + 2, sizeof(Slot));
    table->entries = PyMem_Calloc(capacity, sizeof(Entry));
    if (table->memory == NULL || table->entries == NULL) {
        PyMem_Free(table->memory);
        PyMem_Free(table->entries);
        table->memory = NULL;
        table->entries = NULL;
        PyErr_NoMemory();
        return -1;
    }
    uintptr_t at = ((uintptr_t)table->memory + 63) & ~(uintptr_t)63;
    table->slots = (Slot *)at;
    table->mask = capacity - 1;
    return 0;
}

/* The slot holding chars[start:start+length], or NULL; CHAR is the string's unit type. */
#define DEFINE_FIND(NAME, CHAR)                                                              \
    static inline Slot *NAME(const Table *table, uint64_t hash, const CHAR *chars,           \
                             Py_ssize_t start, Py_ssize_t length) {                          \
        const CHAR *word = chars + start;                                                    \
        for (size_t i = (size_t)hash & table->mask;; i = (i + 1) & table->mask) {            \
            Slot *slot = &table->slots[i];                                                   \
            if (slot->length == 0) return NULL;                                              \
            if (slot->hash != hash || (slot->length & ~LONG_WORD) != (uint32_t)length)       \
                continue;                                                                    \
            Py_ssize_t k = 0;                                                                \
            if (!(slot->length & LONG_WORD)) {                                               \
                while (k < length && (Py_UCS4)slot->inline_chars[k] == (Py_UCS4)word[k]) k++; \
            } else {                                                                         \
                const Py_UCS4 *stored = table->entries[i].long_chars;                        \
                while (k < length && stored[k] == (Py_UCS4)word[k]) k++;                     \
            }                                                                                \
            if (k == length) return slot;                                                    \
        }                                                                                    \
    }

DEFINE_FIND(find_ucs1, Py_UCS1)
DEFINE_FIND(find_ucs2, Py_UCS2)
DEFINE_FIND(find_ucs4, Py_UCS4)

/* Adds `text` (a str) with result key `key` to `table`; duplicates are ignored. Sets
 * *hash_out to the text's hash. */
static int table_add(Table *table, PyObject *text, PyObject *key, uint64_t *hash_out) {
    Py_UCS4 *chars = PyUnicode_AsUCS4Copy(text);
    if (chars == NULL) return -1;
    Py_ssize_t length = PyUnicode_GET_LENGTH(text);
    if (length == 0 || length >= (Py_ssize_t)LONG_WORD) {
        PyMem_Free(chars);
        PyErr_SetString(PyExc_ValueError, "a word or prefix is empty or too long");
        return -1;
    }
    uint64_t hash = hash_ucs4(chars, length);
    *hash_out = hash;
    if (find_ucs4(table, hash, chars, 0, length) != NULL) {
        PyMem_Free(chars);
        return 0;
    }
    size_t i = (size_t)hash & table->mask;
    while (table->slots[i].length != 0) i = (i + 1) & table->mask;
    Slot *slot = &table->slots[i];
    Entry *entry = &table->entries[i];
    slot->hash = hash;
    slot->length = (uint32_t)length;
    int fits = length <= INLINE_CHARS;
    for (Py_ssize_t k = 0; k < length && fits; k++) fits = chars[k] < 256;
    if (fits) {
        for (Py_ssize_t k = 0; k < length; k++) slot->inline_chars[k] = (Py_UCS1)chars[k];
        PyMem_Free(chars);
    } else {
        slot->length |= LONG_WORD;
        entry->long_chars = chars;
    }
    Py_INCREF(key);
    entry->key = key;
    return 0;
}

static void Scanner_dealloc(Scanner *self) {
    table_free(&self->words);
    table_free(&self->prefixes);
    for (Py_ssize_t i = 0; i < self->phrase_count; i++) {
        PyMem_Free(self->phrases[i].chars);
        Py_XDECREF(self->phrases[i].key);
    }
    PyMem_Free(self->phrases);
    if (self->numbers != NULL) PyMem_Free(self->numbers->numbers);
    PyMem_Free(self->numbers);
    PyMem_Free(self->prefix_length);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *as_str_list(PyObject *iterable, const char *what) {
    PyObject *list = PySequence_List(iterable);
    if (list == NULL) return NULL;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(list); i++) {
        PyObject *item = PyList_GET_ITEM(list, i);
        if (!PyUnicode_Check(item)) {
            PyErr_Format(PyExc_TypeError, "%s must be strings", what);
            Py_DECREF(list);
            return NULL;
        }
#if PY_VERSION_HEX < 0x030C0000
        if (PyUnicode_READY(item) < 0) {
            Py_DECREF(list);
            return NULL;
        }
#endif
    }
    return list;
}

/* Adds phrase (needle, anchor) to self->phrases[index]: the anchor goes into the word
 * table (sized for it), and the phrase into its anchor's chain. */
static int add_phrase(Scanner *self, PyObject *item, Py_ssize_t index) {
    PyObject *needle, *anchor;
    if (!PyTuple_Check(item) || !PyArg_ParseTuple(item, "UU", &needle, &anchor)) {
        if (!PyErr_Occurred() || PyErr_ExceptionMatches(PyExc_TypeError)) {
            PyErr_Clear();
            PyErr_SetString(PyExc_TypeError, "phrases must be (spaced form, anchor word) pairs");
        }
        return -1;
    }
#if PY_VERSION_HEX < 0x030C0000
    if (PyUnicode_READY(needle) < 0 || PyUnicode_READY(anchor) < 0) return -1;
#endif
    PyObject *spaced_anchor = PyUnicode_FromFormat(" %U ", anchor);
    if (spaced_anchor == NULL) return -1;
    Py_ssize_t at = PyUnicode_GET_LENGTH(anchor) == 0
                        ? -1
                        : PyUnicode_Find(needle, spaced_anchor, 0, PyUnicode_GET_LENGTH(needle), 1);
    Py_DECREF(spaced_anchor);
    if (at == -2) return -1;
    if (at < 0) {
        PyErr_SetString(PyExc_ValueError, "a phrase's anchor must be one of its words, "
                                          "with a space on each side");
        return -1;
    }
    uint64_t hash;
    if (table_add(&self->words, anchor, anchor, &hash) < 0) return -1;
    set_bit(self->word_filter, hash);
    Py_UCS4 *anchor_chars = PyUnicode_AsUCS4Copy(anchor);
    if (anchor_chars == NULL) return -1;
    Slot *slot = find_ucs4(&self->words, hash, anchor_chars, 0, PyUnicode_GET_LENGTH(anchor));
    PyMem_Free(anchor_chars);
    Phrase *phrase = &self->phrases[index];
    phrase->chars = PyUnicode_AsUCS4Copy(needle);
    if (phrase->chars == NULL) return -1;
    phrase->length = PyUnicode_GET_LENGTH(needle);
    phrase->offset = at + 1;
    Py_INCREF(needle);
    phrase->key = needle;
    phrase->next = slot->phrases;
    slot->phrases = (int32_t)(index + 1);
    return 0;
}

static int Scanner_init(Scanner *self, PyObject *args, PyObject *kwargs) {
    static char *keywords[] = {"words", "prefixes", "phrases", NULL};
    PyObject *words_arg, *prefixes_arg, *phrases_arg = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OO|O", keywords, &words_arg, &prefixes_arg,
                                     &phrases_arg))
        return -1;
    if (self->words.slots != NULL || self->prefixes.slots != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "a LexiconScanner is initialised once");
        return -1;
    }
    PyObject *words = as_str_list(words_arg, "words");
    if (words == NULL) return -1;
    PyObject *prefixes = as_str_list(prefixes_arg, "prefixes");
    if (prefixes == NULL) {
        Py_DECREF(words);
        return -1;
    }
    PyObject *phrases = phrases_arg == NULL ? PyList_New(0) : PySequence_List(phrases_arg);
    if (phrases == NULL) {
        Py_DECREF(words);
        Py_DECREF(prefixes);
        return -1;
    }
    int status = -1;
    Py_ssize_t phrase_count = PyList_GET_SIZE(phrases);
    if (phrase_count >= INT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "too many phrases");
        goto done;
    }
    Py_ssize_t longest = 0, shortest = PY_SSIZE_T_MAX;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(prefixes); i++) {
        Py_ssize_t length = PyUnicode_GET_LENGTH(PyList_GET_ITEM(prefixes, i));
        if (length > longest) longest = length;
        if (length > 0 && length < shortest) shortest = length;
    }
    self->shortest_prefix = shortest;
    if (table_alloc(&self->words, PyList_GET_SIZE(words) + phrase_count) < 0) goto done;
    self->phrases = PyMem_Calloc((size_t)phrase_count + 1, sizeof(Phrase));
    self->numbers = PyMem_Calloc(1, sizeof(Numbers));
    if (self->phrases == NULL || self->numbers == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    if (table_alloc(&self->prefixes, PyList_GET_SIZE(prefixes)) < 0) goto done;
    self->prefix_length = PyMem_Calloc((size_t)longest + 1, 1);
    if (self->prefix_length == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    self->longest_prefix = longest;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(words); i++) {
        PyObject *word = PyList_GET_ITEM(words, i);
        if (PyUnicode_GET_LENGTH(word) == 0) continue;
        uint64_t hash;
        if (table_add(&self->words, word, word, &hash) < 0) goto done;
        set_bit(self->word_filter, hash);
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(prefixes); i++) {
        PyObject *prefix = PyList_GET_ITEM(prefixes, i);
        Py_ssize_t length = PyUnicode_GET_LENGTH(prefix);
        if (length == 0) continue;
        PyObject *key = PyUnicode_FromFormat("%U*", prefix);
        if (key == NULL) goto done;
        uint64_t hash;
        int added = table_add(&self->prefixes, prefix, key, &hash);
        Py_DECREF(key);
        if (added < 0) goto done;
        set_bit(self->prefix_filter, hash);
        self->prefix_length[length] = 1;
        if (length >= HEAD_LENGTH) {
            /* The head filter: the hash of the first HEAD_LENGTH characters. */
            Py_UCS4 head[HEAD_LENGTH];
            for (Py_ssize_t k = 0; k < HEAD_LENGTH; k++) head[k] = PyUnicode_READ_CHAR(prefix, k);
            set_bit(self->heads, hash_ucs4(head, HEAD_LENGTH));
        }
    }
    for (Py_ssize_t i = 0; i < phrase_count; i++) {
        if (add_phrase(self, PyList_GET_ITEM(phrases, i), i) < 0) goto done;
        self->phrase_count = i + 1;
    }
    status = 0;
done:
    Py_DECREF(words);
    Py_DECREF(prefixes);
    Py_DECREF(phrases);
    return status;
}

static int note_number(Numbers *numbers, int32_t number) {
    if (numbers->count == numbers->capacity) {
        Py_ssize_t capacity = numbers->capacity ? numbers->capacity * 2 : 64;
        int32_t *grown = PyMem_Realloc(numbers->numbers, (size_t)capacity * sizeof(int32_t));
        if (grown == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        numbers->numbers = grown;
        numbers->capacity = capacity;
    }
    numbers->numbers[numbers->count++] = number;
    return 0;
}

static inline int add_once(const Scanner *self, const Table *table, const Slot *slot,
                           PyObject *found) {
    if (slot == NULL) return 0;
    Entry *entry = &table->entries[slot - table->slots];
    if (entry->seen == self->scans) return 0;
    entry->seen = self->scans;
    if (entry->number != 0 && self->numbers->collect &&
        note_number(self->numbers, entry->number - 1) < 0)
        return -1;
    return PySet_Add(found, entry->key);
}

/* Adds the phrases anchored on the word at chars[start:...] that the text holds there. */
#define DEFINE_PHRASES(NAME, CHAR)                                                            \
    static int NAME(const Scanner *self, const Slot *slot, const CHAR *chars,                 \
                    Py_ssize_t start, Py_ssize_t end, PyObject *found) {                      \
        for (int32_t next = slot->phrases; next != 0;) {                                      \
            Phrase *phrase = &self->phrases[next - 1];                                        \
            next = phrase->next;                                                              \
            Py_ssize_t at = start - phrase->offset;                                           \
            if (phrase->seen == self->scans || at < 0 || phrase->length > end - at) continue; \
            Py_ssize_t k = 0;                                                                 \
            while (k < phrase->length && phrase->chars[k] == (Py_UCS4)chars[at + k]) k++;    \
            if (k < phrase->length) continue;                                                 \
            phrase->seen = self->scans;                                                       \
            if (phrase->number != 0 && self->numbers->collect &&                              \
                note_number(self->numbers, phrase->number - 1) < 0)                           \
                return -1;                                                                    \
            if (PySet_Add(found, phrase->key) < 0) return -1;                                 \
        }                                                                                     \
        return 0;                                                                             \
    }

DEFINE_PHRASES(phrases_ucs1, Py_UCS1)
DEFINE_PHRASES(phrases_ucs2, Py_UCS2)
DEFINE_PHRASES(phrases_ucs4, Py_UCS4)

/* Probes the prefix table with chars[start:start+n] for each n some prefix has (up to
 * the term's length), the hash growing one character at a time by the rule of
 * DEFINE_HASH; stops at HEAD_LENGTH characters if the head filter rules prefixes out. */
#define DEFINE_PREFIXES(NAME, CHAR, FIND, HASH)                                               \
    static int NAME(const Scanner *self, const CHAR *chars, Py_ssize_t start,                 \
                    Py_ssize_t term_length, PyObject *found) {                                \
        /* Most terms start no prefix: the head filter first, unless shorter prefixes. */    \
        if (self->shortest_prefix >= HEAD_LENGTH &&                                           \
            (term_length < HEAD_LENGTH ||                                                     \
             !bit_is_set(self->heads, HASH(chars + start, HEAD_LENGTH))))                     \
            return 0;                                                                         \
        Py_ssize_t reach =                                                                    \
            term_length < self->longest_prefix ? term_length : self->longest_prefix;          \
        uint64_t full = HASH_SEED, chunk = 0, fnv = FNV_OFFSET;                               \
        int shift = 0, wide = 0;                                                              \
        for (Py_ssize_t length = 1; length <= reach; length++) {                              \
            Py_UCS4 ch = chars[start + length - 1];                                           \
            if (sizeof(CHAR) > 1) fnv = fnv_step(fnv, ch);                                    \
            if (ch > 255) {                                                                   \
                wide = 1;                                                                     \
            } else {                                                                          \
                chunk |= (uint64_t)ch << shift;                                               \
                shift += 8;                                                                   \
                if (shift == 64) {                                                            \
                    full = chunk_step(full, chunk);                                           \
                    chunk = 0;                                                                \
                    shift = 0;                                                                \
                }                                                                             \
            }                                                                                 \
            if (length != HEAD_LENGTH && !self->prefix_length[length]) continue;              \
            uint64_t hash = wide ? finish(fnv, length)                                        \
                                 : finish(shift ? chunk_step(full, chunk) : full, length);    \
            if (length == HEAD_LENGTH && !bit_is_set(self->heads, hash)) return 0;            \
            if (self->prefix_length[length] && bit_is_set(self->prefix_filter, hash)) {       \
                Slot *slot = FIND(&self->prefixes, hash, chars, start, length);               \
                if (add_once(self, &self->prefixes, slot, found) < 0) return -1;              \
            }                                                                                 \
        }                                                                                     \
        return 0;                                                                             \
    }

DEFINE_PREFIXES(prefixes_ucs1, Py_UCS1, find_ucs1, hash_ucs1)
DEFINE_PREFIXES(prefixes_ucs2, Py_UCS2, find_ucs2, hash_ucs2)
DEFINE_PREFIXES(prefixes_ucs4, Py_UCS4, find_ucs4, hash_ucs4)

/* What one term of the text adds: its prefix keys, the term if it is a lexicon word, and
 * the phrases anchored on it that the text holds there. */
#define DEFINE_TERM(NAME, CHAR, FIND, PREFIXES, PHRASES)                                      \
    static inline int NAME(const Scanner *self, const CHAR *chars, Py_ssize_t start,          \
                           Py_ssize_t length, uint64_t hash, Py_ssize_t end,                  \
                           PyObject *found) {                                                 \
        if (self->longest_prefix > 0 && PREFIXES(self, chars, start, length, found) < 0)      \
            return -1;                                                                        \
        if (!bit_is_set(self->word_filter, hash)) return 0;                                   \
        Slot *slot = FIND(&self->words, hash, chars, start, length);                          \
        if (slot == NULL) return 0;                                                           \
        if (add_once(self, &self->words, slot, found) < 0) return -1;                         \
        if (slot->phrases != 0 && PHRASES(self, slot, chars, start, end, found) < 0)          \
            return -1;                                                                        \
        return 0;                                                                             \
    }

DEFINE_TERM(term_ucs1, Py_UCS1, find_ucs1, prefixes_ucs1, phrases_ucs1)
DEFINE_TERM(term_ucs2, Py_UCS2, find_ucs2, prefixes_ucs2, phrases_ucs2)
DEFINE_TERM(term_ucs4, Py_UCS4, find_ucs4, prefixes_ucs4, phrases_ucs4)

/* One loop per string kind, so that each character is a plain array load. (Where the
 * chunked scan below is compiled, 1-byte strings take it instead of scan_ucs1.) */
#if defined(__GNUC__)
#define MAYBE_UNUSED __attribute__((unused))
#else
#define MAYBE_UNUSED
#endif
#define DEFINE_SCAN(NAME, CHAR, HASH, TERM)                                                   \
    MAYBE_UNUSED static int NAME(const Scanner *self, const CHAR *chars, Py_ssize_t end,      \
                                 PyObject *found) {                                           \
        Py_ssize_t i = 0;                                                                     \
        while (i < end) {                                                                     \
            if (chars[i] == ' ') {                                                            \
                i++;                                                                          \
                continue;                                                                     \
            }                                                                                 \
            Py_ssize_t start = i;                                                             \
            while (i < end && chars[i] != ' ') i++;                                           \
            uint64_t hash = HASH(chars + start, i - start);                                   \
            if (TERM(self, chars, start, i - start, hash, end, found) < 0) return -1;         \
        }                                                                                     \
        return 0;                                                                             \
    }

DEFINE_SCAN(scan_ucs1, Py_UCS1, hash_ucs1, term_ucs1)
DEFINE_SCAN(scan_ucs2, Py_UCS2, hash_ucs2, term_ucs2)
DEFINE_SCAN(scan_ucs4, Py_UCS4, hash_ucs4, term_ucs4)

#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define HAVE_CHUNKED_SCAN 1
/* The 1-byte scan, eight characters per load: a load both finds where the term ends (its
 * first space byte) and is the chunk its hash takes (DEFINE_HASH), so a term costs a few
 * loads and no branch per character. Within 8 bytes of the end, byte by byte. */
static int scan_ucs1_chunked(const Scanner *self, const Py_UCS1 *chars, Py_ssize_t end,
                             PyObject *found) {
    const uint64_t spaces = 0x2020202020202020ULL, ones = 0x0101010101010101ULL,
                   highs = 0x8080808080808080ULL;
    Py_ssize_t i = 0;
    while (i < end) {
        if (chars[i] == ' ') {
            i++;
            continue;
        }
        Py_ssize_t start = i;
        uint64_t hash = HASH_SEED;
        for (;;) {
            if (end - i < 8) {
                uint64_t chunk = 0;
                int shift = 0;
                for (; i < end && chars[i] != ' '; i++) {
                    chunk |= (uint64_t)chars[i] << shift;
                    shift += 8;
                }
                if (shift != 0) hash = chunk_step(hash, chunk);
                break;
            }
            uint64_t chunk;
            memcpy(&chunk, chars + i, 8);
            uint64_t x = chunk ^ spaces; /* a space byte becomes 0 */
            uint64_t zero = (x - ones) & ~x & highs; /* lowest set bit: the first 0 byte */
            if (zero == 0) {
                hash = chunk_step(hash, chunk);
                i += 8;
                continue;
            }
            int before = __builtin_ctzll(zero) >> 3; /* bytes before the space */
            if (before != 0) hash = chunk_step(hash, chunk & (~0ULL >> (64 - 8 * before)));
            i += before;
            break;
        }
        hash = finish(hash, i - start);
        if (term_ucs1(self, chars, start, i - start, hash, end, found) < 0) return -1;
    }
    return 0;
}
#endif

static PyObject *scan_text(Scanner *self, PyObject *text, int collect) {
    if (!PyUnicode_Check(text)) {
        PyErr_SetString(PyExc_TypeError, "scan() takes a str");
        return NULL;
    }
    if (self->words.slots == NULL || self->prefixes.slots == NULL || self->numbers == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "the LexiconScanner was not initialised");
        return NULL;
    }
#if PY_VERSION_HEX < 0x030C0000
    if (PyUnicode_READY(text) < 0) return NULL;
#endif
    /* PySet_Add may fill a frozenset that no other code has seen yet. Made first: making
     * it may run the garbage collector, and so other code, before the scratch is set. */
    PyObject *found = PyFrozenSet_New(NULL);
    if (found == NULL) return NULL;
    self->numbers->collect = collect;
    self->numbers->count = 0;
    self->scans++; /* never 0, the value of a slot no scan has added yet */
    Py_ssize_t end = PyUnicode_GET_LENGTH(text);
    int status;
    switch (PyUnicode_KIND(text)) {
    case PyUnicode_1BYTE_KIND:
#ifdef HAVE_CHUNKED_SCAN
        status = scan_ucs1_chunked(self, PyUnicode_1BYTE_DATA(text), end, found);
#else
        status = scan_ucs1(self, PyUnicode_1BYTE_DATA(text), end, found);
#endif
        break;
    case PyUnicode_2BYTE_KIND:
        status = scan_ucs2(self, PyUnicode_2BYTE_DATA(text), end, found);
        break;
    default:
        status = scan_ucs4(self, PyUnicode_4BYTE_DATA(text), end, found);
        break;
    }
    if (status < 0) {
        Py_DECREF(found);
        return NULL;
    }
    return found;
}

static PyObject *Scanner_scan(Scanner *self, PyObject *text) {
    return scan_text(self, text, 0);
}

/* scan_numbered(text) -> (keys, numbers): numbers as bytes of native int32. */
static PyObject *Scanner_scan_numbered(Scanner *self, PyObject *text) {
    PyObject *found = scan_text(self, text, 1);
    if (found == NULL) return NULL;
    PyObject *numbers = PyBytes_FromStringAndSize(
        (const char *)self->numbers->numbers, self->numbers->count * (Py_ssize_t)sizeof(int32_t));
    if (numbers == NULL) {
        Py_DECREF(found);
        return NULL;
    }
    PyObject *pair = PyTuple_Pack(2, found, numbers);
    Py_DECREF(found);
    Py_DECREF(numbers);
    return pair;
}

/* The Entry holding key `text` (a str) in `table`, or NULL. */
static Entry *entry_of(Table *table, PyObject *text, Py_ssize_t length) {
    Py_UCS4 *chars = PyUnicode_AsUCS4Copy(text);
    if (chars == NULL) return NULL;
    Slot *slot = find_ucs4(table, hash_ucs4(chars, length), chars, 0, length);
    PyMem_Free(chars);
    return slot == NULL ? NULL : &table->entries[slot - table->slots];
}

/* bind(keys): numbers this scanner's keys by their position in `keys` (a TopicFilter's
 * key_list()), for scan_numbered; keys it does not have are passed over. */
static PyObject *Scanner_bind(Scanner *self, PyObject *keys_arg) {
    if (self->words.slots == NULL || self->prefixes.slots == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "the LexiconScanner was not initialised");
        return NULL;
    }
    PyObject *keys = as_str_list(keys_arg, "keys");
    if (keys == NULL) return NULL;
    if (PyList_GET_SIZE(keys) >= INT32_MAX) {
        Py_DECREF(keys);
        PyErr_SetString(PyExc_ValueError, "too many keys");
        return NULL;
    }
    Table *tables[] = {&self->words, &self->prefixes};
    for (int t = 0; t < 2; t++)
        for (size_t i = 0; i <= tables[t]->mask; i++) tables[t]->entries[i].number = 0;
    PyObject *phrase_at = PyDict_New(); /* spaced form -> index in self->phrases */
    if (phrase_at == NULL) goto fail;
    for (Py_ssize_t i = 0; i < self->phrase_count; i++) {
        self->phrases[i].number = 0;
        PyObject *index = PyLong_FromSsize_t(i);
        if (index == NULL || PyDict_SetItem(phrase_at, self->phrases[i].key, index) < 0) {
            Py_XDECREF(index);
            goto fail;
        }
        Py_DECREF(index);
    }
    for (Py_ssize_t n = 0; n < PyList_GET_SIZE(keys); n++) {
        PyObject *key = PyList_GET_ITEM(keys, n);
        Py_ssize_t length = PyUnicode_GET_LENGTH(key);
        if (length == 0) continue;
        int32_t number = (int32_t)(n + 1);
        if (PyUnicode_READ_CHAR(key, 0) == ' ') { /* a phrase's spaced form */
            PyObject *index = PyDict_GetItemWithError(phrase_at, key);
            if (index != NULL) self->phrases[PyLong_AsSsize_t(index)].number = number;
            else if (PyErr_Occurred()) goto fail;
            continue;
        }
        if (PyUnicode_FindChar(key, ':', 0, length, 1) >= 0) continue; /* source:, lang: */
        Entry *entry;
        if (PyUnicode_READ_CHAR(key, length - 1) == '*') {
            PyObject *prefix = PyUnicode_Substring(key, 0, length - 1);
            if (prefix == NULL) goto fail;
            entry = length > 1 ? entry_of(&self->prefixes, prefix, length - 1) : NULL;
            Py_DECREF(prefix);
        } else {
            entry = entry_of(&self->words, key, length);
        }
        if (PyErr_Occurred()) goto fail;
        if (entry != NULL) entry->number = number;
    }
    Py_DECREF(phrase_at);
    Py_DECREF(keys);
    Py_RETURN_NONE;
fail:
    Py_XDECREF(phrase_at);
    Py_DECREF(keys);
    return NULL;
}

/* squeeze_spaces(text): runs of U+0020 made one space, with one at each end. */
#define DEFINE_SQUEEZE(NAME, CHAR)                                                            \
    static Py_ssize_t NAME(const CHAR *in, Py_ssize_t length, CHAR *out) {                    \
        Py_ssize_t n = 0;                                                                     \
        out[n++] = ' ';                                                                       \
        for (Py_ssize_t i = 0; i < length; i++) {                                             \
            if (in[i] != ' ' || out[n - 1] != ' ') out[n++] = in[i];                          \
        }                                                                                     \
        if (out[n - 1] != ' ') out[n++] = ' ';                                                \
        return n;                                                                             \
    }

DEFINE_SQUEEZE(squeeze_ucs1, Py_UCS1)
DEFINE_SQUEEZE(squeeze_ucs2, Py_UCS2)
DEFINE_SQUEEZE(squeeze_ucs4, Py_UCS4)

static PyObject *squeeze_spaces(PyObject *module, PyObject *text) {
    (void)module;
    if (!PyUnicode_Check(text)) {
        PyErr_SetString(PyExc_TypeError, "squeeze_spaces() takes a str");
        return NULL;
    }
#if PY_VERSION_HEX < 0x030C0000
    if (PyUnicode_READY(text) < 0) return NULL;
#endif
    int kind = PyUnicode_KIND(text);
    Py_ssize_t length = PyUnicode_GET_LENGTH(text);
    void *buffer = PyMem_Malloc((size_t)(length + 2) * (size_t)kind);
    if (buffer == NULL) return PyErr_NoMemory();
    Py_ssize_t n;
    switch (kind) {
    case PyUnicode_1BYTE_KIND:
        n = squeeze_ucs1(PyUnicode_1BYTE_DATA(text), length, buffer);
        break;
    case PyUnicode_2BYTE_KIND:
        n = squeeze_ucs2(PyUnicode_2BYTE_DATA(text), length, buffer);
        break;
    default:
        n = squeeze_ucs4(PyUnicode_4BYTE_DATA(text), length, buffer);
        break;
    }
    /* FromKindAndData finds the narrowest kind, as every str must have. */
    PyObject *result = PyUnicode_FromKindAndData(kind, buffer, n);
    PyMem_Free(buffer);
    return result;
}

/* TermJoiner(separators, letters, folds).join(text): the terms of a text between single
 * spaces, with one space at each end -- what squeeze_spaces(spaced_terms(text)) gives,
 * in one pass -- for text whose non-ASCII characters are all known to the caller:
 * `separators` (a str sorted by code point) split terms; `letters` (sorted) are letters
 * that fold on their own, letters[i] to folds[i] (e.g. "É" to "e", "ж" to itself).
 * ASCII letters and digits make terms, letters lower-cased. None when another
 * non-ASCII character occurs (the caller then takes the general path, which learns it
 * and builds a new joiner). */

static inline Py_ssize_t sorted_index(const Py_UCS4 *sorted, Py_ssize_t count, Py_UCS4 ch) {
    Py_ssize_t low = 0, high = count;
    while (low < high) {
        Py_ssize_t mid = (low + high) / 2;
        if (sorted[mid] < ch) low = mid + 1;
        else high = mid;
    }
    return (low < count && sorted[low] == ch) ? low : -1;
}

/* ASCII letters lower-cased, digits kept, every other ASCII character a space. */
static Py_UCS1 ascii_fold[128];

static void fill_ascii_fold(void) {
    for (int ch = 0; ch < 128; ch++) {
        if (ch >= 'A' && ch <= 'Z') ascii_fold[ch] = (Py_UCS1)(ch + ('a' - 'A'));
        else if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9')) ascii_fold[ch] = (Py_UCS1)ch;
        else ascii_fold[ch] = ' ';
    }
}

/* Both passes write every character's folded form (a space for a separator) and keep
 * it unless it is a space after a space: no branch on where words end, which text makes
 * unpredictable. `previous` is the last character folded, so out[n - 1] is a space
 * exactly when it is. */

typedef struct {
    PyObject_HEAD
    Py_UCS4 *seps;    /* sorted */
    Py_ssize_t n_seps;
    Py_UCS4 *letters; /* sorted; letters[i] folds to folds[i] */
    Py_UCS4 *folds;
    Py_ssize_t n_letters;
} Joiner;

/* One pass, writing OUT units: -1 at the first non-ASCII character that is no separator
 * (and, with FOLD_LETTERS, no known letter either). Known letters are folded one by one:
 * the caller's classification guarantees that a term of such letters folds exactly so.
 * The first pass writes bytes and folds no letter; only text with non-ASCII letters takes
 * the second, which writes code points. */
#define DEFINE_JOIN(NAME, CHAR, OUT, FOLD_LETTERS)                                            \
    static Py_ssize_t NAME(const CHAR *in, Py_ssize_t length, const Joiner *table,            \
                           OUT *out) {                                                        \
        /* Locals, not loads through `table`: stores to `out` could alias them. */        \
        const Py_UCS4 *seps = table->seps, *letters = table->letters, *folds = table->folds; \
        const Py_ssize_t n_seps = table->n_seps, n_letters = table->n_letters;                \
        Py_ssize_t n = 0;                                                                     \
        OUT previous = ' ';                                                                   \
        out[n++] = ' ';                                                                       \
        for (Py_ssize_t i = 0; i < length; i++) {                                             \
            Py_UCS4 ch = in[i];                                                               \
            OUT folded = ' ';                                                                 \
            if (ch < 128) {                                                                   \
                folded = ascii_fold[ch];                                                      \
            } else if (sorted_index(seps, n_seps, ch) < 0) {                                  \
                Py_ssize_t at = FOLD_LETTERS ? sorted_index(letters, n_letters, ch) : -1;     \
                if (at < 0) return -1;                                                        \
                folded = (OUT)folds[at];                                                      \
            }                                                                                 \
            out[n] = folded;                                                                  \
            n += (folded != ' ') | (previous != ' ');                                         \
            previous = folded;                                                                \
        }                                                                                     \
        if (previous != ' ') out[n++] = ' ';                                                  \
        return n;                                                                             \
    }

DEFINE_JOIN(join_ucs1, Py_UCS1, Py_UCS1, 0)
DEFINE_JOIN(join_ucs2, Py_UCS2, Py_UCS1, 0)
DEFINE_JOIN(join_ucs4, Py_UCS4, Py_UCS1, 0)
DEFINE_JOIN(fold_join_ucs1, Py_UCS1, Py_UCS4, 1)
DEFINE_JOIN(fold_join_ucs2, Py_UCS2, Py_UCS4, 1)
DEFINE_JOIN(fold_join_ucs4, Py_UCS4, Py_UCS4, 1)

/* Copies a str of sorted, distinct code points; NULL with ValueError otherwise. */
static Py_UCS4 *sorted_code_points(PyObject *text, const char *what) {
#if PY_VERSION_HEX < 0x030C0000
    if (PyUnicode_READY(text) < 0) return NULL;
#endif
    Py_UCS4 *points = PyUnicode_AsUCS4Copy(text);
    if (points == NULL) return NULL;
    for (Py_ssize_t i = 1; i < PyUnicode_GET_LENGTH(text); i++) {
        if (points[i - 1] >= points[i]) {
            PyMem_Free(points);
            PyErr_Format(PyExc_ValueError, "%s must be sorted and distinct", what);
            return NULL;
        }
    }
    return points;
}

static void Joiner_dealloc(Joiner *self) {
    PyMem_Free(self->seps);
    PyMem_Free(self->letters);
    PyMem_Free(self->folds);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int Joiner_init(Joiner *self, PyObject *args, PyObject *kwargs) {
    static char *keywords[] = {"separators", "letters", "folds", NULL};
    PyObject *separators, *letters, *folds;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "UUU", keywords, &separators, &letters,
                                     &folds))
        return -1;
    if (self->seps != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "a TermJoiner is initialised once");
        return -1;
    }
    if (PyUnicode_GET_LENGTH(letters) != PyUnicode_GET_LENGTH(folds)) {
        PyErr_SetString(PyExc_ValueError, "letters and folds must have the same length");
        return -1;
    }
    self->seps = sorted_code_points(separators, "separators");
    if (self->seps == NULL) return -1;
    self->n_seps = PyUnicode_GET_LENGTH(separators);
    self->letters = sorted_code_points(letters, "letters");
    if (self->letters == NULL) return -1;
    self->folds = PyUnicode_AsUCS4Copy(folds);
    if (self->folds == NULL) return -1;
    self->n_letters = PyUnicode_GET_LENGTH(letters);
    for (Py_ssize_t i = 0; i < self->n_letters; i++) {
        if (sorted_index(self->seps, self->n_seps, self->letters[i]) >= 0) {
            PyErr_SetString(PyExc_ValueError, "a character is both a separator and a letter");
            return -1;
        }
    }
    return 0;
}

/* The first pass writes bytes (most news: ASCII with curly quotes and dashes); only a
 * text with non-ASCII letters takes the second, which writes code points. */
static PyObject *Joiner_join(Joiner *self, PyObject *text) {
    if (!PyUnicode_Check(text)) {
        PyErr_SetString(PyExc_TypeError, "join() takes a str");
        return NULL;
    }
    if (self->seps == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "the TermJoiner was not initialised");
        return NULL;
    }
#if PY_VERSION_HEX < 0x030C0000
    if (PyUnicode_READY(text) < 0) return NULL;
#endif
    Py_ssize_t length = PyUnicode_GET_LENGTH(text);
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    Py_UCS1 *bytes = PyMem_Malloc((size_t)length + 2);
    if (bytes == NULL) return PyErr_NoMemory();
    Py_ssize_t n;
    switch (kind) {
    case PyUnicode_1BYTE_KIND:
        n = join_ucs1(data, length, self, bytes);
        break;
    case PyUnicode_2BYTE_KIND:
        n = join_ucs2(data, length, self, bytes);
        break;
    default:
        n = join_ucs4(data, length, self, bytes);
        break;
    }
    if (n >= 0) {
        PyObject *result = PyUnicode_New(n, 127); /* only ASCII letters, digits, spaces */
        if (result != NULL) memcpy(PyUnicode_1BYTE_DATA(result), bytes, (size_t)n);
        PyMem_Free(bytes);
        return result;
    }
    PyMem_Free(bytes);
    if (self->n_letters == 0) Py_RETURN_NONE;
    Py_UCS4 *points = PyMem_Malloc(((size_t)length + 2) * sizeof(Py_UCS4));
    if (points == NULL) return PyErr_NoMemory();
    switch (kind) {
    case PyUnicode_1BYTE_KIND:
        n = fold_join_ucs1(data, length, self, points);
        break;
    case PyUnicode_2BYTE_KIND:
        n = fold_join_ucs2(data, length, self, points);
        break;
    default:
        n = fold_join_ucs4(data, length, self, points);
        break;
    }
    PyObject *result;
    if (n < 0) {
        result = Py_None;
        Py_INCREF(result);
    } else {
        /* FromKindAndData finds the narrowest kind, as every str must have. */
        result = PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, points, n);
    }
    PyMem_Free(points);
    return result;
}

static PyMethodDef Joiner_methods[] = {
    {"join", (PyCFunction)Joiner_join, METH_O,
     "join(text) -> str | None: the folded terms of text between single spaces, one at each "
     "end; None if text holds a non-ASCII character that is neither a known separator nor "
     "a known letter."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject JoinerType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "ingest.topics._textscan.TermJoiner",
    .tp_basicsize = sizeof(Joiner),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "TermJoiner(separators, letters, folds): the single-spaced folded terms of "
              "texts whose non-ASCII characters are all in these tables.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Joiner_init,
    .tp_dealloc = (destructor)Joiner_dealloc,
    .tp_methods = Joiner_methods,
};

/* ------------------------------------------------------------------------------------
 * TopicFilter: the topic index's per-document step (ingest.topics.presearch.Plan), the
 * candidate topics of a document from its lexicon keys.
 *
 * Built from (filed, keys, programs, always):
 * - filed: dict key -> sequence of topic numbers filed under it;
 * - keys: the distinct key strings the checks test, referred to by position; filed keys
 *   that are not among them are numbered after them (key_list() gives all, in order);
 * - programs: per topic, its checks as one flat sequence of ints: the number of checks,
 *   then for each check: n, n loose key ids; n, n single key ids; n groups, each as
 *   n, n key ids (see Plan for what loose, singles and groups mean);
 * - always: topics checked for every document.
 * candidates(keys) returns the sorted topic numbers filed under one of `keys` (or always
 * checked) that pass all their checks: the same as Plan.candidates, without a Python
 * object or bytecode per filed topic. candidates_of(numbers, keys) does the same for a
 * document whose keys arrive as key numbers (what a LexiconScanner bound to key_list()
 * reports; no lookup at all) and a set of other keys (source:, lang:).
 */
typedef struct {
    PyObject_HEAD
    PyObject *key_ids;        /* dict: key -> its number */
    PyObject *key_list;       /* list: number -> key */
    Py_ssize_t key_count;
    uint64_t *key_stamp;      /* the call in which the document was found to hold key i */
    Py_ssize_t *filed_start;  /* key i's topics: filed_topics[filed_start[i]:filed_start[i+1]] */
    int32_t *filed_topics;
    int32_t *programs;        /* all topics' programs, back to back */
    Py_ssize_t *program_at;   /* topic -> offset in programs */
    Py_ssize_t topic_count;
    int32_t *always;
    Py_ssize_t always_count;
    uint64_t *topic_stamp;    /* the call that last collected topic t */
    int32_t *found;           /* scratch: topics collected in this call */
    Py_ssize_t found_count;
    uint64_t calls;
} Filter;

static void Filter_dealloc(Filter *self) {
    Py_XDECREF(self->key_ids);
    Py_XDECREF(self->key_list);
    PyMem_Free(self->key_stamp);
    PyMem_Free(self->filed_start);
    PyMem_Free(self->filed_topics);
    PyMem_Free(self->programs);
    PyMem_Free(self->program_at);
    PyMem_Free(self->always);
    PyMem_Free(self->topic_stamp);
    PyMem_Free(self->found);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* Reads a sequence of ints in [0, limit) into a new array; *count gets its length. */
static int32_t *int_array(PyObject *sequence, Py_ssize_t limit, Py_ssize_t *count,
                          const char *what) {
    PyObject *fast = PySequence_Fast(sequence, what);
    if (fast == NULL) return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    int32_t *out = PyMem_Calloc((size_t)n + 1, sizeof(int32_t));
    if (out == NULL) {
        Py_DECREF(fast);
        PyErr_NoMemory();
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_ssize_t value = PyLong_AsSsize_t(PySequence_Fast_GET_ITEM(fast, i));
        if (value == -1 && PyErr_Occurred()) goto fail;
        if (value < 0 || value >= limit || value > INT32_MAX) {
            PyErr_Format(PyExc_ValueError, "%s: %zd is out of range", what, value);
            goto fail;
        }
        out[i] = (int32_t)value;
    }
    Py_DECREF(fast);
    *count = n;
    return out;
fail:
    Py_DECREF(fast);
    PyMem_Free(out);
    return NULL;
}

/* Checks that program[0:length] is well formed for key_count keys. */
static int program_is_valid(const int32_t *program, Py_ssize_t length, Py_ssize_t key_count) {
    Py_ssize_t at = 0;
#define TAKE(n_out)                                     \
    do {                                                \
        if (at >= length) return 0;                     \
        n_out = program[at++];                          \
    } while (0)
#define SKIP_KEYS(n)                                    \
    do {                                                \
        if (n > length - at) return 0;                  \
        for (Py_ssize_t k = 0; k < n; k++)              \
            if (program[at + k] >= key_count) return 0; \
        at += n;                                        \
    } while (0)
    Py_ssize_t checks, n, groups;
    TAKE(checks);
    for (Py_ssize_t c = 0; c < checks; c++) {
        TAKE(n);
        SKIP_KEYS(n);
        TAKE(n);
        SKIP_KEYS(n);
        TAKE(groups);
        for (Py_ssize_t g = 0; g < groups; g++) {
            TAKE(n);
            SKIP_KEYS(n);
        }
    }
#undef TAKE
#undef SKIP_KEYS
    return at == length;
}

/* Numbers key `key` (a str) in self->key_ids / key_list if it is new; its number in *id. */
static int number_key(Filter *self, PyObject *key, Py_ssize_t *id) {
    PyObject *known = PyDict_GetItemWithError(self->key_ids, key);
    if (known != NULL) {
        *id = PyLong_AsSsize_t(known);
        return 0;
    }
    if (PyErr_Occurred()) return -1;
    *id = PyList_GET_SIZE(self->key_list);
    if (*id >= INT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "too many keys");
        return -1;
    }
    PyObject *number = PyLong_FromSsize_t(*id);
    if (number == NULL) return -1;
    int status = PyDict_SetItem(self->key_ids, key, number);
    Py_DECREF(number);
    if (status < 0) return -1;
    return PyList_Append(self->key_list, key);
}

static int Filter_init(Filter *self, PyObject *args, PyObject *kwargs) {
    static char *keywords[] = {"filed", "keys", "programs", "always", NULL};
    PyObject *filed, *keys_arg, *programs_arg, *always_arg;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O!OOO", keywords, &PyDict_Type, &filed,
                                     &keys_arg, &programs_arg, &always_arg))
        return -1;
    if (self->key_ids != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "a TopicFilter is initialised once");
        return -1;
    }
    PyObject *keys = as_str_list(keys_arg, "keys");
    if (keys == NULL) return -1;
    PyObject *programs = PySequence_Fast(programs_arg, "programs must be a sequence");
    if (programs == NULL) {
        Py_DECREF(keys);
        return -1;
    }
    int status = -1;
    Py_ssize_t topics = PySequence_Fast_GET_SIZE(programs);
    Py_ssize_t check_keys = PyList_GET_SIZE(keys);
    self->key_ids = PyDict_New();
    self->key_list = PyList_New(0);
    if (self->key_ids == NULL || self->key_list == NULL) goto done;
    for (Py_ssize_t i = 0; i < check_keys; i++) {
        Py_ssize_t id;
        if (number_key(self, PyList_GET_ITEM(keys, i), &id) < 0) goto done;
        if (id != i) {
            PyErr_SetString(PyExc_ValueError, "keys must be distinct");
            goto done;
        }
    }
    /* filed: str keys to tuples of valid topic numbers; its keys numbered after `keys`. */
    PyObject *key, *value;
    Py_ssize_t position = 0, filed_total = 0;
    while (PyDict_Next(filed, &position, &key, &value)) {
        if (!PyUnicode_Check(key) || !PyTuple_Check(value)) {
            PyErr_SetString(PyExc_TypeError, "filed must map str to tuple of ints");
            goto done;
        }
        Py_ssize_t id;
        if (number_key(self, key, &id) < 0) goto done;
        for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(value); i++) {
            Py_ssize_t topic = PyLong_AsSsize_t(PyTuple_GET_ITEM(value, i));
            if (topic == -1 && PyErr_Occurred()) goto done;
            if (topic < 0 || topic >= topics) {
                PyErr_Format(PyExc_ValueError, "filed: topic %zd is out of range", topic);
                goto done;
            }
        }
        filed_total += PyTuple_GET_SIZE(value);
    }
    self->key_count = PyList_GET_SIZE(self->key_list);
    self->key_stamp = PyMem_Calloc((size_t)self->key_count + 1, sizeof(uint64_t));
    self->filed_start = PyMem_Calloc((size_t)self->key_count + 2, sizeof(Py_ssize_t));
    self->filed_topics = PyMem_Calloc((size_t)filed_total + 1, sizeof(int32_t));
    self->program_at = PyMem_Calloc((size_t)topics + 1, sizeof(Py_ssize_t));
    self->topic_stamp = PyMem_Calloc((size_t)topics + 1, sizeof(uint64_t));
    self->found = PyMem_Calloc((size_t)topics + 1, sizeof(int32_t));
    if (!self->key_stamp || !self->filed_start || !self->filed_topics || !self->program_at ||
        !self->topic_stamp || !self->found) {
        PyErr_NoMemory();
        goto done;
    }
    /* filed as arrays by key number: counts, then starts, then the topics. */
    position = 0;
    while (PyDict_Next(filed, &position, &key, &value)) {
        Py_ssize_t id = PyLong_AsSsize_t(PyDict_GetItem(self->key_ids, key));
        self->filed_start[id + 2] += PyTuple_GET_SIZE(value);
    }
    for (Py_ssize_t i = 2; i <= self->key_count + 1; i++)
        self->filed_start[i] += self->filed_start[i - 1];
    position = 0;
    while (PyDict_Next(filed, &position, &key, &value)) {
        Py_ssize_t id = PyLong_AsSsize_t(PyDict_GetItem(self->key_ids, key));
        for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(value); i++)
            self->filed_topics[self->filed_start[id + 1]++] =
                (int32_t)PyLong_AsSsize_t(PyTuple_GET_ITEM(value, i));
    }
    /* Programs, back to back. */
    Py_ssize_t total = 0;
    int32_t **parts = PyMem_Calloc((size_t)topics + 1, sizeof(int32_t *));
    Py_ssize_t *lengths = PyMem_Calloc((size_t)topics + 1, sizeof(Py_ssize_t));
    if (parts == NULL || lengths == NULL) {
        PyMem_Free(parts);
        PyMem_Free(lengths);
        PyErr_NoMemory();
        goto done;
    }
    int parsed = 1;
    for (Py_ssize_t t = 0; t < topics && parsed; t++) {
        parts[t] = int_array(PySequence_Fast_GET_ITEM(programs, t), INT32_MAX, &lengths[t],
                             "programs");
        if (parts[t] == NULL) {
            parsed = 0;
        } else if (!program_is_valid(parts[t], lengths[t], check_keys)) {
            PyErr_Format(PyExc_ValueError, "programs: topic %zd is malformed", t);
            parsed = 0;
        } else {
            total += lengths[t];
        }
    }
    if (parsed) {
        self->programs = PyMem_Calloc((size_t)total + 1, sizeof(int32_t));
        if (self->programs == NULL) {
            PyErr_NoMemory();
            parsed = 0;
        }
    }
    if (parsed) {
        Py_ssize_t at = 0;
        for (Py_ssize_t t = 0; t < topics; t++) {
            self->program_at[t] = at;
            memcpy(self->programs + at, parts[t], (size_t)lengths[t] * sizeof(int32_t));
            at += lengths[t];
        }
    }
    for (Py_ssize_t t = 0; t < topics; t++) PyMem_Free(parts[t]);
    PyMem_Free(parts);
    PyMem_Free(lengths);
    if (!parsed) goto done;
    self->topic_count = topics;
    self->always = int_array(always_arg, topics, &self->always_count, "always");
    if (self->always == NULL) goto done;
    status = 0;
done:
    Py_DECREF(keys);
    Py_DECREF(programs);
    return status;
}

/* Notes that the document holds key `id`, and collects the topics filed under it. */
static inline void hold_key(Filter *self, Py_ssize_t id) {
    if (self->key_stamp[id] == self->calls) return;
    self->key_stamp[id] = self->calls;
    for (Py_ssize_t i = self->filed_start[id]; i < self->filed_start[id + 1]; i++) {
        int32_t topic = self->filed_topics[i];
        if (self->topic_stamp[topic] != self->calls) {
            self->topic_stamp[topic] = self->calls;
            self->found[self->found_count++] = topic;
        }
    }
}

static inline int holds(const Filter *self, int32_t id) {
    return self->key_stamp[id] == self->calls;
}

/* Runs topic `topic`'s program: whether every check holds. */
static int passes(const Filter *self, Py_ssize_t topic) {
    const int32_t *p = self->programs + self->program_at[topic];
    int32_t checks = *p++;
    for (int32_t c = 0; c < checks; c++) {
        /* Loose: the document must hold one of them. */
        int32_t n = *p++;
        int any = 0;
        for (int32_t k = 0; k < n && !any; k++) any = holds(self, p[k]);
        if (!any) return 0;
        p += n;
        int32_t singles = *p++;
        const int32_t *single = p;
        p += singles;
        int32_t groups = *p++;
        if (groups == 0) continue;
        /* With groups, the whole clause: a single, or every key of some group. */
        int whole = 0;
        for (int32_t k = 0; k < singles && !whole; k++) whole = holds(self, single[k]);
        for (int32_t g = 0; g < groups; g++) {
            int32_t size = *p++;
            if (!whole) {
                int all = 1;
                for (int32_t k = 0; k < size && all; k++) all = holds(self, p[k]);
                whole = all;
            }
            p += size;
        }
        if (!whole) return 0;
    }
    return 1;
}

static int compare_int32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

static int Filter_ready(const Filter *self) {
    if (self->key_ids == NULL || self->always == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "TopicFilter was not initialised");
        return 0;
    }
    return 1;
}

static void begin_call(Filter *self) {
    self->calls++;
    self->found_count = 0;
}

/* Holds every key of `keys` (any iterable of str) this filter numbers. */
static int hold_keys(Filter *self, PyObject *keys) {
    PyObject *iterator = PyObject_GetIter(keys);
    if (iterator == NULL) return -1;
    PyObject *key;
    while ((key = PyIter_Next(iterator)) != NULL) {
        PyObject *id = PyUnicode_Check(key) ? PyDict_GetItemWithError(self->key_ids, key) : NULL;
        Py_DECREF(key); /* the iterable still holds it */
        if (id != NULL) hold_key(self, PyLong_AsSsize_t(id));
        else if (PyErr_Occurred()) break;
    }
    Py_DECREF(iterator);
    return PyErr_Occurred() ? -1 : 0;
}

/* The candidates once the document's keys are held: always-checked topics added, each
 * collected topic's program run, the survivors sorted into a list. */
static PyObject *finish_call(Filter *self) {
    for (Py_ssize_t i = 0; i < self->always_count; i++) {
        int32_t topic = self->always[i];
        if (self->topic_stamp[topic] != self->calls) {
            self->topic_stamp[topic] = self->calls;
            self->found[self->found_count++] = topic;
        }
    }
    Py_ssize_t kept = 0;
    for (Py_ssize_t i = 0; i < self->found_count; i++)
        if (passes(self, self->found[i])) self->found[kept++] = self->found[i];
    qsort(self->found, (size_t)kept, sizeof(int32_t), compare_int32);
    PyObject *result = PyList_New(kept);
    if (result == NULL) return NULL;
    for (Py_ssize_t i = 0; i < kept; i++) {
        PyObject *number = PyLong_FromLong(self->found[i]);
        if (number == NULL) {
            Py_DECREF(result);
            return NULL;
        }
        PyList_SET_ITEM(result, i, number);
    }
    return result;
}

static PyObject *Filter_candidates(Filter *self, PyObject *document_keys) {
    if (!Filter_ready(self)) return NULL;
    if (!PyAnySet_Check(document_keys)) {
        PyErr_SetString(PyExc_TypeError, "candidates() takes a set or frozenset of keys");
        return NULL;
    }
    begin_call(self);
    if (hold_keys(self, document_keys) < 0) return NULL;
    return finish_call(self);
}

static PyObject *Filter_candidates_of(Filter *self, PyObject *args) {
    PyObject *numbered, *other_keys;
    if (!PyArg_ParseTuple(args, "OO:candidates_of", &numbered, &other_keys)) return NULL;
    if (!Filter_ready(self)) return NULL;
    PyObject *parts = PySequence_Fast(numbered, "candidates_of() takes a sequence of bytes");
    if (parts == NULL) return NULL;
    begin_call(self);
    for (Py_ssize_t p = 0; p < PySequence_Fast_GET_SIZE(parts); p++) {
        PyObject *part = PySequence_Fast_GET_ITEM(parts, p);
        if (!PyBytes_Check(part) || PyBytes_GET_SIZE(part) % sizeof(int32_t) != 0) {
            Py_DECREF(parts);
            PyErr_SetString(PyExc_TypeError, "key numbers come as bytes of native int32");
            return NULL;
        }
        const char *data = PyBytes_AS_STRING(part);
        Py_ssize_t count = PyBytes_GET_SIZE(part) / (Py_ssize_t)sizeof(int32_t);
        for (Py_ssize_t i = 0; i < count; i++) {
            int32_t id;
            memcpy(&id, data + i * (Py_ssize_t)sizeof(int32_t), sizeof(int32_t));
            if (id < 0 || id >= self->key_count) {
                Py_DECREF(parts);
                PyErr_Format(PyExc_ValueError, "key number %d is out of range", (int)id);
                return NULL;
            }
            hold_key(self, id);
        }
    }
    Py_DECREF(parts);
    if (hold_keys(self, other_keys) < 0) return NULL;
    return finish_call(self);
}

static PyObject *Filter_key_list(Filter *self, PyObject *Py_UNUSED(ignored)) {
    if (!Filter_ready(self)) return NULL;
    return PyList_GetSlice(self->key_list, 0, PyList_GET_SIZE(self->key_list));
}

static PyMethodDef Filter_methods[] = {
    {"candidates", (PyCFunction)Filter_candidates, METH_O,
     "candidates(keys) -> list[int]: sorted numbers of the topics filed under one of `keys` "
     "(or always checked) whose checks all hold for a document with these keys."},
    {"candidates_of", (PyCFunction)Filter_candidates_of, METH_VARARGS,
     "candidates_of(numbered, keys) -> list[int]: the same, for a document whose keys are "
     "the keys numbered in `numbered` (bytes of native int32 numbers, as in key_list()) "
     "and the str keys of the iterable `keys`."},
    {"key_list", (PyCFunction)Filter_key_list, METH_NOARGS,
     "key_list() -> list[str]: every key the filter looks at, by number."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject FilterType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "ingest.topics._textscan.TopicFilter",
    .tp_doc = "TopicFilter(filed, keys, programs, always): a topic index's candidate step.",
    .tp_basicsize = sizeof(Filter),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Filter_init,
    .tp_dealloc = (destructor)Filter_dealloc,
    .tp_methods = Filter_methods,
};

static PyMethodDef module_methods[] = {
    {"squeeze_spaces", (PyCFunction)squeeze_spaces, METH_O,
     "squeeze_spaces(text) -> str: runs of spaces made one, and one space at each end."},
    {NULL, NULL, 0, NULL},
};

static PyMethodDef Scanner_methods[] = {
    {"scan", (PyCFunction)Scanner_scan, METH_O,
     "scan(spaced) -> frozenset: the words, the prefixes (with a trailing '*') and the "
     "phrases (their spaced forms) that occur as terms, term starts or term runs of a "
     "spaced text."},
    {"scan_numbered", (PyCFunction)Scanner_scan_numbered, METH_O,
     "scan_numbered(spaced) -> (frozenset, bytes): scan(spaced), and the numbers (native "
     "int32) that bind() gave the keys found."},
    {"bind", (PyCFunction)Scanner_bind, METH_O,
     "bind(keys): number the keys of this scanner by their position in `keys`."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject ScannerType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "ingest.topics._textscan.LexiconScanner",
    .tp_doc = "LexiconScanner(words, prefixes): finds these words and prefixes in spaced texts.",
    .tp_basicsize = sizeof(Scanner),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Scanner_init,
    .tp_dealloc = (destructor)Scanner_dealloc,
    .tp_methods = Scanner_methods,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "ingest.topics._textscan",
    .m_doc = "C scan of spaced texts for a fixed lexicon (see ingest.topics.lexicon).",
    .m_size = -1,
    .m_methods = module_methods,
};

static int add_type(PyObject *module, const char *name, PyTypeObject *type) {
    if (PyType_Ready(type) < 0) return -1;
    Py_INCREF(type);
    if (PyModule_AddObject(module, name, (PyObject *)type) < 0) {
        Py_DECREF(type);
        return -1;
    }
    return 0;
}

PyMODINIT_FUNC PyInit__textscan(void) {
    fill_ascii_fold();
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    if (add_type(m, "LexiconScanner", &ScannerType) < 0 ||
        add_type(m, "TopicFilter", &FilterType) < 0 ||
        add_type(m, "TermJoiner", &JoinerType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
