/* json_util — checked access to untrusted JSON (json_util.h). Stateless. */
#include "json_util.h"
#include "ids.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

json_t *ju_parse_object(const char *buf, size_t len)
{
	if (!buf || len == 0)
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

int ju_b64_get(const json_t *obj, const char *key, size_t max_len,
	       unsigned char **ret, size_t *ret_len)
{
	const char *s;
	if (ju_str(obj, key, 4 * ((max_len + 2) / 3) + 4, &s) < 0)
		return json_is_string(member(obj, key)) ? -E2BIG : -EINVAL;
	size_t slen = strlen(s);
	if (slen % 4 != 0)
		return -EINVAL;
	unsigned char *buf = malloc(slen / 4 * 3 + 1);
	if (!buf)
		return -ENOMEM;
	int n = slen ? EVP_DecodeBlock(buf, (const unsigned char *)s, (int)slen) : 0;
	if (n < 0) {
		free(buf);
		return -EINVAL;
	}
	/* EVP_DecodeBlock counts padding as zero bytes: take them off. */
	if (slen >= 1 && s[slen - 1] == '=')
		n--;
	if (slen >= 2 && s[slen - 2] == '=')
		n--;
	if ((size_t)n > max_len) {
		free(buf);
		return -E2BIG;
	}
	*ret = buf;
	*ret_len = (size_t)n;
	return 0;
}

int ju_set_chunk_id(json_t *obj, const char *key, uint64_t id)
{
	char s[CHUNK_ID_STRLEN + 1];
	chunk_id_format(id, s);
	return json_object_set_new(obj, key, json_string(s)) == 0 ? 0 : -ENOMEM;
}

char *ju_dump(const json_t *v, size_t *ret_len)
{
	char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	if (s && ret_len)
		*ret_len = strlen(s);
	return s;
}
