/* The JSON reader of hookgate C policies: see hookgate_json.h. */
#include "hookgate_json.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  const char *s;
  size_t n, i;
  const char *error;
} parser;

static hg_json *value(parser *p, int depth);

void *hg_malloc(size_t size) {
  void *block = malloc(size);
  if (!block) __builtin_trap();
  return block;
}

static bool fail(parser *p, const char *why) {
  if (!p->error) p->error = why;
  return false;
}

static void ws(parser *p) {
  while (p->i < p->n && (p->s[p->i] == ' ' || p->s[p->i] == '\t' || p->s[p->i] == '\n' || p->s[p->i] == '\r')) p->i++;
}

static size_t put_utf8(char *out, uint32_t c) {
  if (c < 0x80) { out[0] = (char)c; return 1; }
  if (c < 0x800) { out[0] = (char)(0xC0 | c >> 6); out[1] = (char)(0x80 | (c & 0x3F)); return 2; }
  if (c < 0x10000) {
    out[0] = (char)(0xE0 | c >> 12); out[1] = (char)(0x80 | (c >> 6 & 0x3F)); out[2] = (char)(0x80 | (c & 0x3F));
    return 3;
  }
  out[0] = (char)(0xF0 | c >> 18); out[1] = (char)(0x80 | (c >> 12 & 0x3F));
  out[2] = (char)(0x80 | (c >> 6 & 0x3F)); out[3] = (char)(0x80 | (c & 0x3F));
  return 4;
}

static int hex4(parser *p, size_t at) {
  if (at + 4 > p->n) return -1;
  int v = 0;
  for (size_t k = at; k < at + 4; k++) {
    char c = p->s[k];
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    if (d < 0) return -1;
    v = v * 16 + d;
  }
  return v;
}

/* Reads the string at p->i (on its opening quote) into a fresh buffer. */
static bool string(parser *p, char **out, size_t *out_len, bool *lone) {
  size_t start = ++p->i, end = start;
  while (end < p->n && p->s[end] != '"') end += p->s[end] == '\\' ? 2 : 1;
  if (end >= p->n) return fail(p, "unterminated string");
  char *buf = hg_malloc(end - start + 1); /* unescaping never makes a string longer */
  size_t len = 0;
  *lone = false;
  while (p->i < end) {
    unsigned char c = (unsigned char)p->s[p->i];
    if (c < 0x20) { free(buf); return fail(p, "control character in string"); }
    if (c != '\\') { buf[len++] = (char)c; p->i++; continue; }
    char e = p->s[p->i + 1];
    const char *simple = strchr("\"\\/bfnrt", e);
    if (e && simple) {
      buf[len++] = "\"\\/\b\f\n\r\t"[simple - "\"\\/bfnrt"];
      p->i += 2;
      continue;
    }
    if (e != 'u') { free(buf); return fail(p, "invalid escape"); }
    int u = hex4(p, p->i + 2);
    if (u < 0) { free(buf); return fail(p, "invalid \\u escape"); }
    p->i += 6;
    uint32_t cp = (uint32_t)u;
    if (u >= 0xD800 && u < 0xDC00 && p->i + 1 < end && p->s[p->i] == '\\' && p->s[p->i + 1] == 'u') {
      int low = hex4(p, p->i + 2);
      if (low >= 0xDC00 && low < 0xE000) {
        cp = 0x10000 + ((uint32_t)(u - 0xD800) << 10) + (uint32_t)(low - 0xDC00);
        p->i += 6;
      }
    }
    if (cp >= 0xD800 && cp < 0xE000) *lone = true;
    len += put_utf8(buf + len, cp);
  }
  p->i = end + 1;
  buf[len] = 0;
  *out = buf;
  *out_len = len;
  return true;
}

static bool number(parser *p, hg_json *v) {
  size_t start = p->i;
  const char *s = p->s;
  if (p->i < p->n && s[p->i] == '-') p->i++;
  if (p->i < p->n && s[p->i] == '0') p->i++;
  else if (p->i < p->n && s[p->i] >= '1' && s[p->i] <= '9') while (p->i < p->n && s[p->i] >= '0' && s[p->i] <= '9') p->i++;
  else return fail(p, "invalid number");
  v->integer = true;
  if (p->i < p->n && s[p->i] == '.') {
    v->integer = false;
    size_t digits = ++p->i;
    while (p->i < p->n && s[p->i] >= '0' && s[p->i] <= '9') p->i++;
    if (p->i == digits) return fail(p, "invalid number");
  }
  if (p->i < p->n && (s[p->i] == 'e' || s[p->i] == 'E')) {
    v->integer = false;
    p->i++;
    if (p->i < p->n && (s[p->i] == '+' || s[p->i] == '-')) p->i++;
    size_t digits = p->i;
    while (p->i < p->n && s[p->i] >= '0' && s[p->i] <= '9') p->i++;
    if (p->i == digits) return fail(p, "invalid number");
  }
  v->len = p->i - start;
  v->str = hg_malloc(v->len + 1);
  memcpy(v->str, s + start, v->len);
  v->str[v->len] = 0;
  if (v->integer) {
    bool negative = s[start] == '-';
    for (size_t k = start + negative; k < p->i; k++) {
      int d = s[k] - '0';
      if (v->int_value > (LLONG_MAX - d) / 10) { v->int_value = LLONG_MAX; break; }
      v->int_value = v->int_value * 10 + d;
    }
    if (negative) v->int_value = v->int_value == LLONG_MAX ? LLONG_MIN : -v->int_value;
  }
  return true;
}

static bool literal(parser *p, const char *word) {
  size_t len = strlen(word);
  if (p->n - p->i < len || memcmp(p->s + p->i, word, len) != 0) return fail(p, "invalid literal");
  p->i += len;
  return true;
}

/* Parses the elements or members of a container (p->i is on its opening bracket). */
static bool container(parser *p, hg_json *v, int depth) {
  bool object = v->type == HG_JSON_OBJECT;
  char close = object ? '}' : ']';
  if (depth > HG_JSON_MAX_DEPTH) return fail(p, "nested too deeply");
  p->i++;
  ws(p);
  if (p->i < p->n && p->s[p->i] == close) { p->i++; return true; }
  hg_json **tail = &v->child;
  for (;;) {
    char *key = NULL;
    size_t key_len = 0;
    if (object) {
      bool lone;
      ws(p);
      if (p->i >= p->n || p->s[p->i] != '"') return fail(p, "expected a key");
      if (!string(p, &key, &key_len, &lone)) return false;
      ws(p);
      if (p->i >= p->n || p->s[p->i] != ':') { free(key); return fail(p, "expected ':'"); }
      p->i++;
    }
    hg_json *item = value(p, depth);
    if (!item) { free(key); return false; }
    item->key = key;
    item->key_len = key_len;
    *tail = item;
    tail = &item->next;
    ws(p);
    if (p->i < p->n && p->s[p->i] == ',') { p->i++; continue; }
    if (p->i < p->n && p->s[p->i] == close) { p->i++; return true; }
    return fail(p, object ? "expected ',' or '}'" : "expected ',' or ']'");
  }
}

static hg_json *value(parser *p, int depth) {
  ws(p);
  if (p->i >= p->n) { fail(p, "unexpected end of input"); return NULL; }
  hg_json *v = hg_malloc(sizeof *v);
  *v = (hg_json){0};
  bool ok;
  switch (p->s[p->i]) {
    case '{': v->type = HG_JSON_OBJECT; ok = container(p, v, depth + 1); break;
    case '[': v->type = HG_JSON_ARRAY; ok = container(p, v, depth + 1); break;
    case '"': v->type = HG_JSON_STRING; ok = string(p, &v->str, &v->len, &v->lone_surrogate); break;
    case 't': v->type = HG_JSON_BOOL; v->boolean = true; ok = literal(p, "true"); break;
    case 'f': v->type = HG_JSON_BOOL; ok = literal(p, "false"); break;
    case 'n': v->type = HG_JSON_NULL; ok = literal(p, "null"); break;
    default: v->type = HG_JSON_NUMBER; ok = number(p, v); break;
  }
  if (!ok) { hg_json_free(v); return NULL; }
  return v;
}

hg_json *hg_json_parse(const char *text, size_t len, const char **error) {
  parser p = {text, len, 0, NULL};
  hg_json *v = value(&p, 0);
  ws(&p);
  if (v && p.i != p.n) {
    fail(&p, "trailing characters after the document");
    hg_json_free(v);
    v = NULL;
  }
  if (error) *error = p.error;
  return v;
}

void hg_json_free(hg_json *v) {
  while (v) {
    hg_json *next = v->next;
    hg_json_free(v->child);
    free(v->str);
    free(v->key);
    free(v);
    v = next;
  }
}

hg_json *hg_json_get(const hg_json *object, const char *key) {
  if (!object || object->type != HG_JSON_OBJECT) return NULL;
  size_t len = strlen(key);
  hg_json *found = NULL;
  for (hg_json *m = object->child; m; m = m->next)
    if (m->key_len == len && memcmp(m->key, key, len) == 0) found = m;
  return found;
}

const char *hg_json_str(const hg_json *v, size_t *len) {
  if (!v || v->type != HG_JSON_STRING || v->lone_surrogate) return NULL;
  if (len) *len = v->len;
  return v->str;
}

const char *hg_json_type_name(const hg_json *v) {
  static const char *names[] = {"null", "a boolean", "a number", "a string", "a sequence", "a map"};
  return names[v->type];
}

char *hg_json_quote(const char *s, size_t len, size_t *out_len) {
  char *out = hg_malloc(len * 6 + 3), *o = out;
  *o++ = '"';
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\') { *o++ = '\\'; *o++ = (char)c; }
    else if (c == '\n') { *o++ = '\\'; *o++ = 'n'; }
    else if (c == '\r') { *o++ = '\\'; *o++ = 'r'; }
    else if (c == '\t') { *o++ = '\\'; *o++ = 't'; }
    else if (c < 0x20) { memcpy(o, "\\u00", 4); o[4] = "0123456789abcdef"[c >> 4]; o[5] = "0123456789abcdef"[c & 15]; o += 6; }
    else *o++ = (char)c;
  }
  *o++ = '"';
  *o = 0;
  *out_len = (size_t)(o - out);
  return out;
}
