/* {{name}}: allows every hook except a stream whose `name` starts with a prefix (denied 403).
 * Settings: {"prefix": "test-"} (optional; the default is "test-").
 * Build: hookgate build . -o {{module}}; test: hookgate test .
 * policy.h comes from `wit-bindgen c`, hookgate_json.h from the C helper of the author kit (c/sdk). Strings handed back
 * to the host must be malloc'd: the bindings free them after the call. Component strings are
 * not NUL-terminated: use their len. */
#include <stdlib.h>
#include <string.h>

#include "hookgate_json.h"
#include "policy.h"

/* Parses the settings into *doc and finds the prefix; on failure sets *err and returns NULL. */
static const hg_json *prefix_of(const policy_string_t *raw, hg_json **doc, policy_string_t *err) {
  bool blank = true;
  for (size_t i = 0; i < raw->len; i++) blank &= raw->ptr[i] && strchr(" \t\n\r", raw->ptr[i]);
  *doc = hg_json_parse(blank ? "{}" : (const char *)raw->ptr, blank ? 2 : raw->len, NULL);
  if (!*doc || (*doc)->type != HG_JSON_OBJECT) {
    policy_string_dup(err, "invalid settings: expected a JSON object");
    return NULL;
  }
  for (const hg_json *m = (*doc)->child; m; m = m->next) {
    if (strcmp(m->key, "prefix") != 0) {
      policy_string_dup(err, "invalid settings: unknown field `");
      size_t klen = strlen(m->key), tail = sizeof "`, expected `prefix`" - 1;
      uint8_t *grown = hg_malloc(err->len + klen + tail);
      memcpy(grown, err->ptr, err->len);
      free(err->ptr);
      err->ptr = grown;
      memcpy(err->ptr + err->len, m->key, klen);
      memcpy(err->ptr + err->len + klen, "`, expected `prefix`", tail);
      err->len += klen + tail;
      return NULL;
    }
  }
  static const hg_json fallback = {.type = HG_JSON_STRING, .str = "test-", .len = 5};
  const hg_json *prefix = hg_json_get(*doc, "prefix");
  if (!prefix) return &fallback;
  if (!hg_json_str(prefix, NULL) || prefix->len == 0) {
    policy_string_dup(err, "invalid settings: `prefix` must be a non-empty string");
    return NULL;
  }
  return prefix;
}

bool exports_policy_validate_settings(policy_string_t *settings, policy_string_t *err) {
  hg_json *doc;
  bool ok = prefix_of(settings, &doc, err) != NULL;
  hg_json_free(doc);
  policy_string_free(settings);
  return ok;
}

bool exports_policy_evaluate(policy_hook_t *hook, policy_verdict_t *ret, policy_string_t *err) {
  hg_json *settings;
  const hg_json *prefix = prefix_of(&hook->settings, &settings, err);
  hg_json *payload = hg_json_parse((const char *)hook->payload.ptr, hook->payload.len, NULL);
  size_t len;
  const char *name = hg_json_str(hg_json_get(payload, "name"), &len);
  ret->tag = HOOKGATE_POLICY_TYPES_VERDICT_ALLOW;
  if (prefix && name && len >= prefix->len && memcmp(name, prefix->str, prefix->len) == 0) {
    static const char before[] = "stream name '", after[] = "' is not allowed";
    size_t rlen = sizeof before - 1 + len + sizeof after - 1;
    char *reason = hg_malloc(rlen);
    memcpy(reason, before, sizeof before - 1);
    memcpy(reason + sizeof before - 1, name, len);
    memcpy(reason + sizeof before - 1 + len, after, sizeof after - 1);
    ret->tag = HOOKGATE_POLICY_TYPES_VERDICT_DENY;
    ret->val.deny = (hookgate_policy_types_denial_t){403, {(uint8_t *)reason, rlen}};
  }
  hg_json_free(payload);
  hg_json_free(settings);
  policy_hook_free(hook);
  return prefix != NULL;
}
