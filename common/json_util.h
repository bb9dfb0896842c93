/* json_util — the one layer through which untrusted JSON is read.
 *
 * Every getter checks presence, type and range and returns -EINVAL on a
 * mismatch, leaving *ret untouched. Integers must be JSON integers (not
 * reals, not strings). Borrowed pointers (strings, objects) live as long
 * as the parent json_t. */
#ifndef BIGFS_JSON_UTIL_H
#define BIGFS_JSON_UTIL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JU_MAX_DEPTH 64

/* Parse a request body of len bytes (need not be NUL-terminated). Returns a
 * new reference to an object, or NULL if the text is not a JSON object or
 * nests arrays and objects deeper than JU_MAX_DEPTH (checked by a linear
 * scan before jansson builds anything; jansson's own limit is 2048). */
json_t *ju_parse_object(const char *buf, size_t len);

/* Required members. */
int ju_u64(const json_t *obj, const char *key, uint64_t *ret);
int ju_u32(const json_t *obj, const char *key, uint32_t *ret);
int ju_i64(const json_t *obj, const char *key, int64_t *ret);
int ju_bool(const json_t *obj, const char *key, bool *ret);
/* String of at most max_len bytes with no NUL inside. */
int ju_str(const json_t *obj, const char *key, size_t max_len, const char **ret);
/* 16-hex-digit chunk id string. */
int ju_chunk_id(const json_t *obj, const char *key, uint64_t *ret);

/* Optional members: absent (or JSON null) gives def and 0; present but
 * wrong gives -EINVAL. */
int ju_u64_opt(const json_t *obj, const char *key, uint64_t def, uint64_t *ret);
int ju_u32_opt(const json_t *obj, const char *key, uint32_t def, uint32_t *ret);
int ju_bool_opt(const json_t *obj, const char *key, bool def, bool *ret);
int ju_str_opt(const json_t *obj, const char *key, size_t max_len,
	       const char *def, const char **ret);
/* True if key is present and not null. */
bool ju_has(const json_t *obj, const char *key);

/* Base64 (standard alphabet, padded) for binary values such as xattrs.
 * ju_b64_get returns a malloc'ed buffer in *ret (caller frees) of *ret_len
 * bytes, at most max_len, or -EINVAL / -E2BIG. Decoding is strict: only
 * the alphabet, a length that is a multiple of 4, at most two '=' at the
 * end, and no stray bits in the last character. */
json_t *ju_b64_new(const void *data, size_t len);
int ju_b64_get(const json_t *obj, const char *key, size_t max_len,
	       unsigned char **ret, size_t *ret_len);

/* Names as bytes (file names, symlink targets): Linux names are any bytes
 * but NUL (and '/' in a file name, which the master checks), while a JSON
 * string must be UTF-8. A name that is valid UTF-8 travels as the string
 * member `key`; any other as the member `key`_b64 holding the standard
 * base64 (padded) of its bytes. Keys are at most JU_NAME_KEY_MAX bytes.
 *
 * ju_set_name sets the member for name (len bytes, no NUL inside) in obj,
 * replacing any earlier one: 0, -EINVAL (NUL inside, key too long, obj
 * not an object) or -ENOMEM. */
#define JU_NAME_KEY_MAX 59
int ju_set_name(json_t *obj, const char *key, const char *name, size_t len);
/* Read it back: exactly one of `key` (a string) and `key`_b64 (strict
 * base64: alphabet, padding, no whitespace) must be present. *ret is a
 * malloc'ed NUL-terminated copy (caller frees) of *ret_len bytes. Returns
 * 0, -EINVAL (neither or both members, wrong type, bad base64, a NUL
 * inside), -E2BIG (more than max_len bytes) or -ENOMEM; outputs are
 * untouched on failure. Both forms are accepted whatever the bytes. */
int ju_name_get(const json_t *obj, const char *key, size_t max_len, char **ret,
		size_t *ret_len);

/* Set a chunk id member as a 16-hex-digit string. Returns 0 or -ENOMEM. */
int ju_set_chunk_id(json_t *obj, const char *key, uint64_t id);

/* A new array of n integers (inode numbers and the like), or NULL (out
 * of memory). */
json_t *ju_u64_array(const uint64_t *v, size_t n);

/* json_dumps with compact output; malloc'ed, caller frees. */
char *ju_dump(const json_t *v, size_t *ret_len);

#endif
