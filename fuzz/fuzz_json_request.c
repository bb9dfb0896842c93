/* fuzz_json_request — the JSON request decoding of master and worker.
 *
 * Feeds: the input as a request body to ju_parse_object (common/json_util.c),
 * then every typed getter (ju_u64, ju_u32, ju_i64, ju_bool, ju_str,
 * ju_chunk_id, ju_b64_get, ju_name_get and the _opt variants) on each
 * member name the master's handlers read (ino, parent, name/name_b64,
 * mode, uid, gid, size, session, release, ...) and on every member
 * actually present, one level into arrays of objects (register's chunk
 * list).
 * Asserts: no crash, leak or UB; the getters agree with each other (a u32
 * is a u64 is an i64 of the same value; _opt gives the default exactly
 * when the member is absent or null); a string is NUL-free and within its
 * bound; a chunk id formats back to its (lower-cased) text; strict base64
 * re-encodes to the very same text; a name read back through ju_set_name
 * and ju_name_get is the same bytes; a parsed object dumps and re-parses
 * to an equal object. Stateless: nothing survives an input. */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_util.h"
#include "ids.h"
#include "json_util.h"

/* Member names the master's handlers and the worker read (master/http_api.c). */
static const char *const keys[] = {
	"ino", "parent", "name", "name_b64", "newparent", "newname", "target", "mode",
	"uid", "gid", "size", "groups", "session", "release", "index", "count",
	"chunk_id", "version", "length", "value", "flags", "umask", "rdev", "cookie",
	"limit", "atime_now", "atime_s", "atime_ns", "mtime_now", "mtime_s", "mtime_ns",
	"owner", "type", "start", "end", "pid", "host_id", "wait", "cancel", "excl",
	"durable", "kind", "close", "chunks", "addr", "capacity", "used", "worker_id",
	"",
};

#define NAME_MAX_FUZZ 255
#define STR_MAX_FUZZ 64
#define B64_MAX_FUZZ 1024

static void check_ints(const json_t *o, const char *key, bool present)
{
	int64_t i;
	uint64_t u, uo;
	uint32_t w, wo;
	int ri = ju_i64(o, key, &i);
	int ru = ju_u64(o, key, &u);
	int rw = ju_u32(o, key, &w);

	FUZZ_CHECK(ri == 0 || ri == -EINVAL);
	FUZZ_CHECK(ru == 0 || ru == -EINVAL);
	FUZZ_CHECK(rw == 0 || rw == -EINVAL);
	if (!present)
		FUZZ_CHECK(ri < 0 && ru < 0 && rw < 0);
	if (ru == 0)
		FUZZ_CHECK(ri == 0 && i >= 0 && (uint64_t)i == u);
	if (ri == 0 && i >= 0)
		FUZZ_CHECK(ru == 0);
	if (rw == 0)
		FUZZ_CHECK(ru == 0 && u == w);
	if (ru == 0 && u <= UINT32_MAX)
		FUZZ_CHECK(rw == 0);

	int r = ju_u64_opt(o, key, 77, &uo);
	if (!present)
		FUZZ_CHECK(r == 0 && uo == 77);
	else
		FUZZ_CHECK(r == ru && (r < 0 || uo == u));
	r = ju_u32_opt(o, key, 78, &wo);
	if (!present)
		FUZZ_CHECK(r == 0 && wo == 78);
	else
		FUZZ_CHECK(r == rw && (r < 0 || wo == w));
}

static void check_bool(const json_t *o, const char *key, bool present)
{
	bool b = false, bo = false;
	int r = ju_bool(o, key, &b);
	int ro = ju_bool_opt(o, key, true, &bo);

	if (!present)
		FUZZ_CHECK(r < 0 && ro == 0 && bo);
	else
		FUZZ_CHECK(ro == r && (r < 0 || b == bo));
}

static void check_str(const json_t *o, const char *key, bool present)
{
	const char *s = NULL, *so = NULL;
	int r = ju_str(o, key, STR_MAX_FUZZ, &s);
	int ro = ju_str_opt(o, key, STR_MAX_FUZZ, "dflt", &so);

	if (r == 0)
		FUZZ_CHECK(s && strlen(s) <= STR_MAX_FUZZ &&
			   strlen(s) == json_string_length(json_object_get(o, key)));
	if (!present)
		FUZZ_CHECK(r < 0 && ro == 0 && strcmp(so, "dflt") == 0);
	else
		FUZZ_CHECK(ro == r && (r < 0 || so == s));

	uint64_t id;
	if (ju_chunk_id(o, key, &id) == 0) {
		char txt[CHUNK_ID_STRLEN + 1], low[CHUNK_ID_STRLEN + 1];

		FUZZ_CHECK(r == 0 && strlen(s) == CHUNK_ID_STRLEN);
		for (int i = 0; i <= CHUNK_ID_STRLEN; i++)
			low[i] = (char)tolower((unsigned char)s[i]);
		chunk_id_format(id, txt);
		FUZZ_CHECK(strcmp(txt, low) == 0);
	}
}

static void check_b64(const json_t *o, const char *key)
{
	unsigned char *buf = NULL;
	size_t len = 0;
	int r = ju_b64_get(o, key, B64_MAX_FUZZ, &buf, &len);

	FUZZ_CHECK(r == 0 || r == -EINVAL || r == -E2BIG);
	if (r < 0)
		return;
	FUZZ_CHECK(len <= B64_MAX_FUZZ && buf[len] == '\0');
	/* strict decoding: the encoding of what came out is what went in */
	json_t *again = ju_b64_new(buf, len);
	FUZZ_CHECK(again);
	FUZZ_CHECK(json_equal(again, json_object_get(o, key)));
	json_decref(again);
	free(buf);
}

static void check_name(const json_t *o, const char *key)
{
	char *name = NULL, *back = NULL;
	size_t len = 0, blen = 0;
	int r = ju_name_get(o, key, NAME_MAX_FUZZ, &name, &len);

	FUZZ_CHECK(r == 0 || r == -EINVAL || r == -E2BIG);
	if (r < 0)
		return;
	FUZZ_CHECK(len <= NAME_MAX_FUZZ && name[len] == '\0' && strlen(name) == len);
	/* the way a client sends a name, read back the way the master does */
	json_t *o2 = json_object();
	FUZZ_CHECK(o2);
	FUZZ_CHECK(ju_set_name(o2, key, name, len) == 0);
	FUZZ_CHECK(ju_name_get(o2, key, NAME_MAX_FUZZ, &back, &blen) == 0);
	FUZZ_CHECK(blen == len && memcmp(back, name, len) == 0);
	json_decref(o2);
	free(back);
	free(name);
}

static void check_key(const json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	bool present = v && !json_is_null(v);

	FUZZ_CHECK(ju_has(o, key) == present);
	check_ints(o, key, present);
	check_bool(o, key, present);
	check_str(o, key, present);
	check_b64(o, key);
	check_name(o, key);
}

static void check_object(const json_t *o, int depth)
{
	const char *k;
	json_t *v;

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		check_key(o, keys[i]);
	json_object_foreach((json_t *)o, k, v) {
		check_key(o, k);
		if (depth == 0 && json_is_array(v)) {
			size_t j;
			json_t *e;

			json_array_foreach(v, j, e)
				if (json_is_object(e))
					check_object(e, depth + 1);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *o = ju_parse_object((const char *)data, size);

	if (!o)
		return 0;
	FUZZ_CHECK(json_is_object(o));
	check_object(o, 0);

	size_t dlen = 0;
	char *dump = ju_dump(o, &dlen);
	FUZZ_CHECK(dump && dlen == strlen(dump));
	json_t *again = ju_parse_object(dump, dlen);
	FUZZ_CHECK(again && json_equal(again, o));
	json_decref(again);
	free(dump);
	json_decref(o);
	return 0;
}
