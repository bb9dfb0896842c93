/* master_list — the masters a client may call (master_list.h).
 *
 * State: the parsed addresses, written once by master_list_parse and only
 * read afterwards, and `cur`, the index calls go to now: an atomic that
 * any thread reads and master_list_switch / master_list_set_current
 * change (compare-and-swap in switch, so of several threads failing on
 * one master only the first moves the index and logs). No lock.
 *
 *   cur = i --call to i fails (no answer, standby)--> switch(i, hint):
 *       hint listed and != i --> cur = hint
 *       otherwise            --> cur = i + 1 (mod n)
 *   cur = j != i  --switch(i, ...)--> unchanged (someone moved already)
 *
 * Does not: wait, retry beyond one pass, or remember which masters
 * failed; callers own their deadlines. */
#include "master_list.h"

#include "json_util.h"
#include "log.h"
#include "transport_config.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct master_list {
	size_t n;
	char addr[MASTER_LIST_MAX][MASTER_ADDR_MAX];
	char text[MASTER_LIST_MAX * MASTER_ADDR_MAX];
	bool https;
	atomic_size_t cur;
};

/* ---- parsing ------------------------------------------------------------- */

static bool host_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '-' || c == '_';
}

static bool v6_char(char c)
{
	return (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || (c >= '0' && c <= '9') ||
	       c == ':' || c == '.';
}

/* Check "HOST:PORT" (len bytes at s). NULL if good, else why not. */
static const char *check_addr(const char *s, size_t len)
{
	const char *port;
	if (len > 0 && s[0] == '[') {
		const char *close = memchr(s, ']', len);
		if (!close || close == s + 1)
			return "expected [IPV6]:PORT";
		for (const char *p = s + 1; p < close; p++)
			if (!v6_char(*p))
				return "the IPv6 address has a character that is not allowed";
		if (close + 1 >= s + len || close[1] != ':')
			return "expected [IPV6]:PORT";
		port = close + 2;
	} else {
		const char *colon = NULL;
		for (const char *p = s; p < s + len; p++)
			if (*p == ':')
				colon = p;
		if (!colon)
			return "expected HOST:PORT";
		if (colon == s)
			return "the host is missing (expected HOST:PORT)";
		for (const char *p = s; p < colon; p++)
			if (!host_char(*p))
				return *p == ':' ? "expected HOST:PORT (an IPv6 address goes in [])"
						 : "the host has a character that is not allowed";
		port = colon + 1;
	}
	size_t plen = (size_t)(s + len - port);
	unsigned long v = 0;
	if (plen == 0 || plen > 5)
		return "the port must be a number from 1 to 65535";
	for (size_t i = 0; i < plen; i++) {
		if (port[i] < '0' || port[i] > '9')
			return "the port must be a number from 1 to 65535";
		v = v * 10 + (unsigned long)(port[i] - '0');
	}
	if (v < 1 || v > 65535)
		return "the port must be a number from 1 to 65535";
	return NULL;
}

/* "http://" / "https://" (*ret_scheme 1 / 2) or none (0): its length. */
static size_t scheme_len(const char *s, int *ret_scheme)
{
	if (strncmp(s, "http://", 7) == 0) {
		*ret_scheme = 1;
		return 7;
	}
	if (strncmp(s, "https://", 8) == 0) {
		*ret_scheme = 2;
		return 8;
	}
	*ret_scheme = 0;
	return 0;
}

/* Compare two "HOST:PORT": the host without case, the port exactly. */
static bool same_addr(const char *a, const char *b)
{
	return strcasecmp(a, b) == 0;
}

int master_list_parse(const char *spec, struct master_list **ret, char *err, size_t errlen)
{
	size_t entries = 1;
	for (const char *p = spec; *p; p++)
		entries += *p == ',';
	if (entries > MASTER_LIST_MAX) {
		snprintf(err, errlen, "the master list has %zu entries: at most %d masters", entries,
			 MASTER_LIST_MAX);
		return -EINVAL;
	}
	struct master_list *ml = calloc(1, sizeof(*ml));
	if (!ml) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	bool http = false;
	const char *s = spec;
	for (size_t i = 0; i < entries; i++) {
		const char *end = strchr(s, ',');
		if (!end)
			end = s + strlen(s);
		/* the entry, without spaces around it */
		const char *b = s, *e = end;
		while (b < e && (*b == ' ' || *b == '\t'))
			b++;
		while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		char where[64] = "";
		if (entries > 1)
			snprintf(where, sizeof(where), "entry %zu of the master list, ", i + 1);
		int scheme;
		size_t sl = scheme_len(b, &scheme);  /* a ',' never matches: within the entry */
		const char *a = b + sl, *ae = e;
		while (ae > a && ae[-1] == '/')
			ae--;
		const char *why = NULL;
		if (e == b)
			why = entries > 1 ? "it is empty" : "it is empty (expected HOST:PORT)";
		else if ((size_t)(ae - a) >= MASTER_ADDR_MAX)
			why = "it is too long";
		else if (memchr(a, '/', (size_t)(ae - a)) || memchr(a, '@', (size_t)(ae - a)))
			why = "expected HOST:PORT";
		else
			why = check_addr(a, (size_t)(ae - a));
		if (why) {
			snprintf(err, errlen, "%s'%.*s' is not a master address: %s", where,
				 (int)(e - b > 300 ? 300 : e - b), b, why);
			free(ml);
			return -EINVAL;
		}
		http |= scheme == 1;
		ml->https |= scheme == 2;
		memcpy(ml->addr[i], a, (size_t)(ae - a));
		ml->addr[i][ae - a] = '\0';
		for (size_t j = 0; j < i; j++) {
			if (same_addr(ml->addr[j], ml->addr[i])) {
				snprintf(err, errlen, "'%s' is in the master list twice", ml->addr[i]);
				free(ml);
				return -EINVAL;
			}
		}
		ml->n++;
		s = *end ? end + 1 : end;
	}
	if (http && ml->https) {
		snprintf(err, errlen, "the master list mixes http:// and https:// (a cluster is "
				      "all TLS or none)");
		free(ml);
		return -EINVAL;
	}
	size_t off = 0;
	for (size_t i = 0; i < ml->n; i++)
		off += (size_t)snprintf(ml->text + off, sizeof(ml->text) - off, "%s%s",
					i ? "," : "", ml->addr[i]);
	atomic_init(&ml->cur, 0);
	*ret = ml;
	return 0;
}

void master_list_free(struct master_list *ml)
{
	free(ml);
}

size_t master_list_count(const struct master_list *ml)
{
	return ml->n;
}

const char *master_list_addr(const struct master_list *ml, size_t i)
{
	bigfs_assert(i < ml->n);
	return ml->addr[i];
}

const char *master_list_text(const struct master_list *ml)
{
	return ml->text;
}

bool master_list_https(const struct master_list *ml)
{
	return ml->https;
}

int master_list_find(const struct master_list *ml, const char *addr)
{
	int scheme;
	const char *a = addr + scheme_len(addr, &scheme);
	size_t len = strlen(a);
	while (len > 0 && a[len - 1] == '/')
		len--;
	if (len == 0 || len >= MASTER_ADDR_MAX)
		return -1;
	char want[MASTER_ADDR_MAX];
	memcpy(want, a, len);
	want[len] = '\0';
	for (size_t i = 0; i < ml->n; i++)
		if (same_addr(ml->addr[i], want))
			return (int)i;
	return -1;
}

/* ---- the current master ---------------------------------------------------- */

size_t master_list_current(const struct master_list *ml)
{
	return atomic_load(&((struct master_list *)ml)->cur);
}

void master_list_set_current(struct master_list *ml, size_t i)
{
	bigfs_assert(i < ml->n);
	atomic_store(&ml->cur, i);
}

size_t master_list_switch(struct master_list *ml, size_t from, const char *hint,
			  const char *reason)
{
	if (ml->n < 2 || from >= ml->n)
		return atomic_load(&ml->cur);
	int h = hint ? master_list_find(ml, hint) : -1;
	size_t to = h >= 0 && (size_t)h != from ? (size_t)h : (from + 1) % ml->n;
	size_t expect = from;
	if (!atomic_compare_exchange_strong(&ml->cur, &expect, to))
		return expect;      /* another thread moved away from `from` already */
	log_info("master: %s -> %s (%s)", ml->addr[from], ml->addr[to],
		 reason ? reason : "no answer");
	return to;
}

/* ---- what masters answer ----------------------------------------------------- */

const char *master_role_name(enum master_role role)
{
	switch (role) {
	case MASTER_ROLE_ACTIVE:
		return "active";
	case MASTER_ROLE_STANDBY:
		return "standby";
	case MASTER_ROLE_DOWN:
		break;
	}
	return "down";
}

bool master_list_is_standby_reply(long status, const json_t *body)
{
	const char *role;
	return status == 503 && json_is_object(body) &&
	       ju_str(body, "role", 64, &role) == 0 && strcmp(role, "active") != 0;
}

const char *master_list_reply_active(const json_t *body)
{
	const char *active;
	if (!json_is_object(body) || ju_str(body, "active", MASTER_ADDR_MAX - 1, &active) < 0 ||
	    !active[0])
		return NULL;
	return active;
}

int master_list_health_role(const json_t *body, enum master_role *ret_role)
{
	bool ok = false;
	const char *role;
	if (!json_is_object(body) || ju_bool(body, "ok", &ok) < 0 || !ok)
		return -EPROTO;
	if (!ju_has(body, "role")) {
		*ret_role = MASTER_ROLE_ACTIVE;   /* a master that knows of no other */
		return 0;
	}
	if (ju_str(body, "role", 32, &role) < 0)
		return -EPROTO;
	if (strcmp(role, "active") == 0)
		*ret_role = MASTER_ROLE_ACTIVE;
	else if (strcmp(role, "standby") == 0)
		*ret_role = MASTER_ROLE_STANDBY;
	else
		return -EPROTO;
	return 0;
}

/* ---- one call to the active master ----------------------------------------------- */

int master_list_call(struct master_list *ml, struct http_client *c, const char *method,
		     const char *path, const json_t *req, http_sign_fn sign, void *sign_arg,
		     json_t **ret_resp, size_t *ret_index)
{
	int rc = -EIO;
	for (size_t attempt = 0; attempt < ml->n; attempt++) {
		size_t idx = master_list_current(ml);
		char url[MASTER_ADDR_MAX + 512];
		if (snprintf(url, sizeof(url), "%s://%s%s", transport_scheme(), ml->addr[idx],
			     path) >= (int)sizeof(url))
			return -ENAMETOOLONG;
		json_t *resp = NULL, *errb = NULL;
		long status = 0;
		rc = http_json_signed_ex(c, method, url, req, sign, sign_arg, &resp, &status, &errb);
		if (rc == 0) {
			if (ret_resp)
				*ret_resp = resp;
			else
				json_decref(resp);
			if (ret_index)
				*ret_index = idx;
			return 0;
		}
		bool standby = master_list_is_standby_reply(status, errb);
		if (status != 0 && !standby) {
			json_decref(errb);
			return rc;          /* the active master's answer */
		}
		char hint[MASTER_ADDR_MAX] = "", reason[MASTER_ADDR_MAX + 32];
		const char *h = standby ? master_list_reply_active(errb) : NULL;
		if (h)
			snprintf(hint, sizeof(hint), "%s", h);
		json_decref(errb);
		if (standby) {
			rc = -EAGAIN;
			snprintf(reason, sizeof(reason), "standby%s%s", hint[0] ? ", active is " : "",
				 hint);
		} else {
			snprintf(reason, sizeof(reason), "%s", strerror(-rc));
		}
		master_list_switch(ml, idx, hint[0] ? hint : NULL, reason);
	}
	return rc;
}

/* ---- the mount's source ------------------------------------------------------------ */

void master_list_split_path(const char *spec, size_t *ret_list_len, const char **ret_path)
{
	const char *entry = spec;
	for (const char *p = spec; *p; p++) {
		if (*p == ',') {
			entry = p + 1;
			continue;
		}
		if (p[0] != ':' || p[1] != '/')
			continue;
		/* "http://" or "https://" at the start of this entry: not a path */
		const char *b = entry;
		while (*b == ' ' || *b == '\t')
			b++;
		size_t sl = (size_t)(p - b);
		if (p[2] == '/' && ((sl == 4 && strncmp(b, "http", 4) == 0) ||
				    (sl == 5 && strncmp(b, "https", 5) == 0))) {
			p += 2;
			continue;
		}
		*ret_list_len = (size_t)(p - spec);
		*ret_path = p + 1;
		return;
	}
	*ret_list_len = strlen(spec);
	*ret_path = NULL;
}
