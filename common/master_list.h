/* master_list — the masters a client may call, and the one it calls now.
 *
 * A cluster may run several masters: one active, the others standbys
 * (docs/api.md, "Several masters (client side)"). Mounts, workers and the
 * admin tool are given all of them as one list, "ADDR[,ADDR...]", where
 * each ADDR is written as a single master address always was: HOST:PORT,
 * [V6ADDR]:PORT, optionally after "http://" or "https://" and before a
 * "/". A list of one address behaves exactly as that address alone.
 *
 * The list holds an index, the master calls go to now, shared by every
 * thread of the process (an atomic: no lock). A caller whose call failed
 * for a reason that another master could fix — no answer at all, or a
 * standby's refusal — switches away from the master it called; when
 * several threads fail on the same master at once, one of them moves the
 * index (and logs "master: X -> Y (reason)"), the others see that it has
 * moved and follow. Where to: the active master a standby named, if that
 * address is in the list; otherwise the next one, round the list.
 *
 * What a standby says (docs/api.md): every /v1 call but GET /v1/health is
 * answered 503 {"errno": 11, "error": "EAGAIN", "role": "standby",
 * "active": "HOST:PORT" | null}; GET /v1/health answers 200 {"ok": true,
 * "role": "active" | "standby", "active": ...}, and a health answer
 * without "role" comes from a master that knows of no other: active.
 * A 503 EAGAIN without a "role" is an ordinary "try again" of an active
 * master (a write lease held elsewhere), never a reason to switch; one
 * with any role but "active" ("starting", "fenced", ...) is treated as a
 * standby's.
 *
 * Does not: decide when to wait or give up — callers keep their own
 * deadlines and backoff (fuse/master_client.c, the worker's reporter);
 * master_list_call below is the one-pass helper for the simple callers. */
#ifndef BIGFS_MASTER_LIST_H
#define BIGFS_MASTER_LIST_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "http_client.h"

#define MASTER_LIST_MAX 16
#define MASTER_ADDR_MAX 256      /* bytes of one "HOST:PORT", NUL included */

struct master_list;

/* Parse spec (see the top). Entries are checked one by one: a host of
 * letters, digits, '.', '-', '_' (or a bracketed IPv6 address), a port
 * 1..65535, no empty entry, no address twice, at most MASTER_LIST_MAX,
 * and not "http://" for one entry and "https://" for another. Returns 0
 * with a new list in *ret (the first address current), or -EINVAL with a
 * sentence naming the bad entry in err (errlen bytes; *ret untouched),
 * or -ENOMEM. */
int master_list_parse(const char *spec, struct master_list **ret, char *err, size_t errlen);
void master_list_free(struct master_list *ml);

/* How many masters (1..MASTER_LIST_MAX). */
size_t master_list_count(const struct master_list *ml);
/* Master i as "HOST:PORT" (no scheme). Borrowed for the list's lifetime.
 * i must be below master_list_count. */
const char *master_list_addr(const struct master_list *ml, size_t i);
/* The whole list as "HOST:PORT,HOST:PORT" (no scheme). Borrowed. */
const char *master_list_text(const struct master_list *ml);
/* True if some entry was written "https://". */
bool master_list_https(const struct master_list *ml);
/* The index of addr (a "HOST:PORT"; the host compared without case), or
 * -1 if it is not in the list. */
int master_list_find(const struct master_list *ml, const char *addr);

/* The master calls go to now. Thread-safe. */
size_t master_list_current(const struct master_list *ml);
/* Make master i current (e.g. the one found active at start), without a
 * log line. Thread-safe. */
void master_list_set_current(struct master_list *ml, size_t i);
/* The call to master `from` failed for `reason` (for the log line: e.g.
 * "Connection refused", "standby"). If `from` is still current, make
 * current the master `hint` names when that is a listed address other
 * than `from`, else the next one round the list, and log at info level
 * "master: FROM -> TO (reason)". If another thread has already moved
 * away from `from`, change nothing. With one master nothing changes.
 * Returns the index current afterwards. Thread-safe. */
size_t master_list_switch(struct master_list *ml, size_t from, const char *hint,
			  const char *reason);

/* ---- what masters answer ------------------------------------------------ */

enum master_role { MASTER_ROLE_DOWN, MASTER_ROLE_ACTIVE, MASTER_ROLE_STANDBY };
/* "down", "active", "standby". */
const char *master_role_name(enum master_role role);

/* True if (status, body) is a standby's refusal: status 503 and body a
 * JSON object with "role": "standby" — or any other role but "active"
 * (a master still starting, or fenced, is no better to ask than a
 * standby). body may be NULL (then false). */
bool master_list_is_standby_reply(long status, const json_t *body);
/* The "active" member of a standby's reply or health answer if it is a
 * string that could be an address (1..MASTER_ADDR_MAX-1 bytes), else NULL
 * (absent, null, another type). Borrowed from body. */
const char *master_list_reply_active(const json_t *body);
/* Read a GET /v1/health answer: {"ok": true} with "role" "active" or
 * "standby" (absent: active). 0 with *ret_role set; -EPROTO if body is
 * NULL, "ok" is not true, or "role" is something else (*ret_role
 * untouched). */
int master_list_health_role(const json_t *body, enum master_role *ret_role);

/* ---- one call to the active master ----------------------------------------- */

/* METHOD SCHEME://CURRENT PATH (SCHEME from transport_scheme()) with req
 * (borrowed, may be NULL), signed by sign/sign_arg (may be NULL), through
 * c. When the master does not answer (any transport error) or answers as
 * a standby, switch (as master_list_switch) and call the master now
 * current at once, at most once per listed master; no waiting.
 * Returns 0 with the reply in *ret_resp (new reference, may be NULL as
 * http_json gives it; ret_resp may be NULL) and the index of the master
 * that answered in *ret_index (may be NULL); an active master's error
 * answer as its -errno at once; when every try failed, the last
 * transport error (-ECONNREFUSED, -ETIMEDOUT, ...), or -EAGAIN if the
 * last master tried was a standby. */
int master_list_call(struct master_list *ml, struct http_client *c, const char *method,
		     const char *path, const json_t *req, http_sign_fn sign, void *sign_arg,
		     json_t **ret_resp, size_t *ret_index);

/* ---- the mount's source ------------------------------------------------------ */

/* Split a mount source "LIST[:/PATH]" at the ":/" that starts the folder
 * to mount (NFS style: HOST:PORT:/projects), skipping the "://" of an
 * "http://" or "https://" prefix. *ret_list_len gets the length of the
 * LIST part, *ret_path the "/PATH" (within spec) or NULL if there is
 * none. Never fails. */
void master_list_split_path(const char *spec, size_t *ret_list_len, const char **ret_path);

#endif
