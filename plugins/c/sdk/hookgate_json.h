/* A small JSON reader for hookgate C policies (no JSON library is packaged for wasm32).
 *
 * hg_json_parse() validates a whole document (RFC 8259, nesting up to HG_JSON_MAX_DEPTH
 * levels, as the Rust SDK) and builds a tree; strings are unescaped to UTF-8. Object members
 * keep their order; hg_json_get() returns the LAST member with a key, as serde_json and the
 * host do. A string holding a lone surrogate escape (\ud800) parses, but hg_json_str() refuses
 * it: it cannot cross the component boundary as a string.
 *
 *   hg_json *doc = hg_json_parse(hook->payload.ptr, hook->payload.len, NULL);
 *   const char *name = hg_json_str(hg_json_get(doc, "name"), &name_len);   // NULL: absent / not a string
 *   ...
 *   hg_json_free(doc);
 */
#ifndef HOOKGATE_JSON_H
#define HOOKGATE_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HG_JSON_MAX_DEPTH 128

typedef enum { HG_JSON_NULL, HG_JSON_BOOL, HG_JSON_NUMBER, HG_JSON_STRING, HG_JSON_ARRAY, HG_JSON_OBJECT } hg_json_type;

typedef struct hg_json hg_json;
struct hg_json {
  hg_json_type type;
  bool boolean;     /* HG_JSON_BOOL */
  bool integer;     /* HG_JSON_NUMBER written without fraction or exponent ... */
  long long int_value; /* ... and then its value, saturated to LLONG_MIN..LLONG_MAX */
  char *str;        /* HG_JSON_STRING: unescaped, NUL-terminated (may hold NULs: use len);
                       HG_JSON_NUMBER: its text (no strtod: it would pull in wasi-libc's stdio) */
  size_t len;
  bool lone_surrogate; /* HG_JSON_STRING with an unpaired \uD800-\uDFFF escape */
  char *key;        /* as an object member: its unescaped key */
  size_t key_len;
  hg_json *child;   /* HG_JSON_ARRAY / HG_JSON_OBJECT: first element or member */
  hg_json *next;    /* next element or member of the parent */
};

/* Parses `len` bytes; NULL on malformed input (then *error, if given, says why). */
hg_json *hg_json_parse(const char *text, size_t len, const char **error);
void hg_json_free(hg_json *value);

/* The last member of `object` named `key`; NULL when absent or `object` is not an object. */
hg_json *hg_json_get(const hg_json *object, const char *key);
/* The string of `value` (length in *len); NULL when it is not a (well-formed) string. */
const char *hg_json_str(const hg_json *value, size_t *len);
/* A JSON type name for messages: "null", "a boolean", "a number", "a string", ... */
const char *hg_json_type_name(const hg_json *value);

/* malloc that traps when memory is exhausted (the host then reports the policy's memory
 * limit), so no policy writes through a NULL pointer: in wasm, address 0 is writable. */
void *hg_malloc(size_t size);

/* `s` as a JSON string literal (quotes included), escaped as the Rust SDK does; malloc'd. */
char *hg_json_quote(const char *s, size_t len, size_t *out_len);

#endif
