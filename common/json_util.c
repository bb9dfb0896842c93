/* json_util — checked access to untrusted JSON (json_util.h). Stateless. */
#include "json_util.h"
#include "ids.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* True if the [ and { outside strings nest at most max deep. */
static bool depth_ok(const char *buf, size_t len, int max)
{
	int depth = 0;
	bool in_str = false;
	for (size_t i = 0; i < len; i++) {
		char ch = buf[i];
		if (in_str) {
			if (ch == '\\')
				i++;
			else if (ch == '"')
				in_str = false;
		} else if (ch == '"') {
			in_str = true;
		} else if (ch == '[' || ch == '{') {
			if (++depth > max)
				return false;
		} else if (ch == ']' || ch == '}') {
			depth--;
		}
	}
	return true;
}

json_t *ju_parse_object(const char *buf, size_t len)
{
	if (!buf || len == 0 || !depth_ok(buf, len, JU_MAX_DEPTH))
		return NULL;
	json_t *v = json_loadb(buf, len, JSON_REJECT_DUPLICATES, NULL);
	if (v && !json_is_object(v)) {
		json_decref(v);
		return NULL;
	}
	return v;
}

static json_t *member(const json_t *obj, const char *key)
{
	if (!json_is_object(obj))
		return NULL;
	json_t *v = json_object_get(obj, key);
	return json_is_null(v) ? NULL : v;
}

bool ju_has(const json_t *obj, const char *key)
{
	return member(obj, key) != NULL;
}

int ju_i64(const json_t *obj, const char *key, int64_t *ret)
{
	json_t *v = member(obj, key);
	if (!json_is_integer(v))
		return -EINVAL;
	*ret = json_integer_value(v);
	return 0;
}

int ju_u64(const json_t *obj, const char *key, uint64_t *ret)
{
	int64_t v;
	if (ju_i64(obj, key, &v) < 0 || v < 0)
		return -EINVAL;
	*ret = (uint64_t)v;
	return 0;
}

int ju_u32(const json_t *obj, const char *key, uint32_t *ret)
{
	uint64_t v;
	if (ju_u64(obj, key, &v) < 0 || v > UINT32_MAX)
		return -EINVAL;
	*ret = (uint32_t)v;
	return 0;
}

int ju_bool(const json_t *obj, const char *key, bool *ret)
{
	json_t *v = member(obj, key);
	if (!json_is_boolean(v))
		return -EINVAL;
	*ret = json_is_true(v);
	return 0;
}

int ju_str(const json_t *obj, const char *key, size_t max_len, const char **ret)
{
	json_t *v = member(obj, key);
	if (!json_is_string(v))
		return -EINVAL;
	size_t len = json_string_length(v);
	const char *s = json_string_value(v);
	if (len > max_len || strlen(s) != len)
		return -EINVAL;
	*ret = s;
	return 0;
}

int ju_chunk_id(const json_t *obj, const char *key, uint64_t *ret)
{
	const char *s;
	if (ju_str(obj, key, CHUNK_ID_STRLEN, &s) < 0)
		return -EINVAL;
	return chunk_id_parse(s, ret);
}

int ju_u64_opt(const json_t *obj, const char *key, uint64_t def, uint64_t *ret)
{
	if (!member(obj, key)) {
		*ret = def;
		return 0;
	}
	return ju_u64(obj, key, ret);
}

int ju_u32_opt(const json_t *obj, const char *key, uint32_t def, uint32_t *ret)
{
	if (!member(obj, key)) {
		*ret = def;
		return 0;
	}
	return ju_u32(obj, key, ret);
}

int ju_bool_opt(const json_t *obj, const char *key, bool def, bool *ret)
{
	if (!member(obj, key)) {
		*ret = def;
		return 0;
	}
	return ju_bool(obj, key, ret);
}

int ju_str_opt(const json_t *obj, const char *key, size_t max_len,
	       const char *def, const char **ret)
{
	if (!member(obj, key)) {
		*ret = def;
		return 0;
	}
	return ju_str(obj, key, max_len, ret);
}

json_t *ju_b64_new(const void *data, size_t len)
{
	size_t cap = 4 * ((len + 2) / 3) + 1;
	char *buf = malloc(cap);
	if (!buf)
		return NULL;
	int n = EVP_EncodeBlock((unsigned char *)buf, data, (int)len);
	json_t *v = json_stringn(buf, (size_t)n);
	free(buf);
	return v;
}

static int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Strict base64 decode of s (slen bytes, a multiple of 4) into out (room
 * for slen / 4 * 3 bytes): the number of bytes, or -EINVAL. OpenSSL's
 * EVP_DecodeBlock is lax (it skips blanks, takes '=' anywhere), so this
 * is done here. */
static long b64_decode(const char *s, size_t slen, unsigned char *out)
{
	size_t n = 0;

	if (slen % 4 != 0)
		return -EINVAL;
	for (size_t i = 0; i < slen; i += 4) {
		uint32_t w = 0;
		int pad = 0;
		for (int j = 0; j < 4; j++) {
			unsigned char c = (unsigned char)s[i + j];
			int v;
			if (c == '=' && j >= 2 && i + 4 == slen) {
				pad++;
				v = 0;
			} else if (pad || (v = b64_value(c)) < 0) {
				return -EINVAL;   /* data after '=', or not the alphabet */
			}
			w = (w << 6) | (uint32_t)v;
		}
		/* the bits a padded group leaves over must be zero */
		if ((pad == 2 && (w & 0xffff)) || (pad == 1 && (w & 0xff)))
			return -EINVAL;
		out[n++] = (unsigned char)(w >> 16);
		if (pad < 2)
			out[n++] = (unsigned char)(w >> 8);
		if (pad < 1)
			out[n++] = (unsigned char)w;
	}
	return (long)n;
}

int ju_b64_get(const json_t *obj, const char *key, size_t max_len,
	       unsigned char **ret, size_t *ret_len)
{
	json_t *v = member(obj, key);
	if (!json_is_string(v))
		return -EINVAL;
	size_t slen = json_string_length(v);
	const char *s = json_string_value(v);
	if (slen % 4 != 0)
		return -EINVAL;
	/* slen / 4 groups decode to at least 3 bytes each but the last */
	if (slen / 4 * 3 > max_len + 2)
		return -E2BIG;
	unsigned char *buf = malloc(slen / 4 * 3 + 1);
	if (!buf)
		return -ENOMEM;
	long n = b64_decode(s, slen, buf);
	if (n < 0 || (size_t)n > max_len) {
		free(buf);
		return n < 0 ? -EINVAL : -E2BIG;
	}
	buf[n] = '\0';    /* handy for names; not counted */
	*ret = buf;
	*ret_len = (size_t)n;
	return 0;
}

/* "<key>_b64" into buf (JU_NAME_KEY_MAX + 5 bytes): 0 or -EINVAL. */
static int b64_key(const char *key, char *buf)
{
	size_t len = strlen(key);
	if (len == 0 || len > JU_NAME_KEY_MAX)
		return -EINVAL;
	memcpy(buf, key, len);
	memcpy(buf + len, "_b64", 5);
	return 0;
}

int ju_set_name(json_t *obj, const char *key, const char *name, size_t len)
{
	char bkey[JU_NAME_KEY_MAX + 5];

	if (!json_is_object(obj) || b64_key(key, bkey) < 0 || (len && memchr(name, 0, len)))
		return -EINVAL;
	/* json_stringn checks UTF-8 exactly as the parser on the other side
	 * will: what it refuses goes as base64. */
	const char *k = key, *other = bkey;
	json_t *v = json_stringn(name, len);
	if (!v) {
		v = ju_b64_new(name, len);
		k = bkey;
		other = key;
		if (!v)
			return -ENOMEM;
	}
	json_object_del(obj, other);
	return json_object_set_new(obj, k, v) == 0 ? 0 : -ENOMEM;
}

int ju_name_get(const json_t *obj, const char *key, size_t max_len, char **ret,
		size_t *ret_len)
{
	char bkey[JU_NAME_KEY_MAX + 5];
	char *buf;
	size_t len;

	if (b64_key(key, bkey) < 0)
		return -EINVAL;
	json_t *v = member(obj, key);
	bool has_b64 = member(obj, bkey) != NULL;
	if (!v == !has_b64)
		return -EINVAL;         /* neither, or both */
	if (v) {
		if (!json_is_string(v))
			return -EINVAL;
		len = json_string_length(v);
		if (len > max_len)
			return -E2BIG;
		const char *s = json_string_value(v);
		if (memchr(s, 0, len))
			return -EINVAL;
		buf = malloc(len + 1);
		if (!buf)
			return -ENOMEM;
		memcpy(buf, s, len);
		buf[len] = '\0';
	} else {
		unsigned char *b;
		int rc = ju_b64_get(obj, bkey, max_len, &b, &len);
		if (rc < 0)
			return rc;
		if (memchr(b, 0, len)) {
			free(b);
			return -EINVAL;
		}
		buf = (char *)b;        /* NUL-terminated by ju_b64_get */
	}
	*ret = buf;
	*ret_len = len;
	return 0;
}

int ju_set_chunk_id(json_t *obj, const char *key, uint64_t id)
{
	char s[CHUNK_ID_STRLEN + 1];
	chunk_id_format(id, s);
	return json_object_set_new(obj, key, json_string(s)) == 0 ? 0 : -ENOMEM;
}

json_t *ju_u64_array(const uint64_t *v, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < n; i++)
		if (json_array_append_new(a, json_integer((json_int_t)v[i])) < 0) {
			json_decref(a);
			a = NULL;
		}
	return a;
}

char *ju_dump(const json_t *v, size_t *ret_len)
{
	char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	if (s && ret_len)
		*ret_len = strlen(s);
	return s;
}
