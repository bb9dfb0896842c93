/* call — how `bigfs` talks to the masters, and the cluster secret.
 *
 * Every call goes to the active master of the list (master_list.h): a
 * master that does not answer, or answers as a standby, is passed over
 * at once, each listed master tried at most once per call, no waiting
 * (an operator's command should fail fast and say why). Unlike
 * master_list_call this keeps the error body of an active master's
 * refusal, so the operator reads the master's own sentence ("no quota on
 * /a") rather than a bare strerror.
 *
 * The secret: calls of the "cluster" class (docs/api.md) are signed with
 * the cluster secret, read once from --secret FILE or $BIGFS_SECRET.
 * Public views (status, workers) never need it.
 *
 * State: in struct admin (the list, the client, the secret), made on
 * first use. Single-threaded. */
#include "admin.h"

#include "auth.h"
#include "http_client.h"
#include "master_list.h"
#include "transport_config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int admin_connect(struct admin *a)
{
	char err[512];

	if (a->connected)
		return 0;
	if (!a->ml && master_list_parse(a->master, &a->ml, err, sizeof(err)) < 0) {
		fprintf(stderr, "bigfs: bad master '%s': %s\n", a->master, err);
		return AX_USAGE;
	}
	/* TLS: a CA file, or a master given as https:// (once per process) */
	if (!a->tls_done && (a->cafile || master_list_https(a->ml))) {
		struct transport_settings ts = {.tls = true, .ca_file = a->cafile};
		if (transport_config_init(&ts, err, sizeof(err)) < 0) {
			fprintf(stderr, "bigfs: %s\n", err);
			return AX_FAIL;
		}
	}
	a->tls_done = true;
	a->http = http_client_new(a->timeout_ms, 3000);
	if (!a->http) {
		fprintf(stderr, "bigfs: out of memory\n");
		return AX_FAIL;
	}
	a->connected = true;
	return 0;
}

int admin_secret(struct admin *a)
{
	if (a->have_sec)
		return 0;
	if (!a->secret_file) {
		fprintf(stderr,
			"bigfs: %s is signed with the cluster secret: give --secret FILE (or set "
			"$BIGFS_SECRET); it is the master's DATA/secret\n",
			admin_cmd_name(a));
		return AX_USAGE;
	}
	int rc = secret_load(a->secret_file, &a->sec);
	if (rc < 0) {
		fprintf(stderr, "bigfs: cannot read the cluster secret %s: %s\n", a->secret_file,
			strerror(-rc));
		return AX_FAIL;
	}
	a->have_sec = true;
	return 0;
}

/* One pass over the list, as master_list_call, keeping an active
 * master's error body in *ret_err (new reference or NULL) and its HTTP
 * status in *ret_status (0: nobody answered). */
static int call_once(struct admin *a, const char *method, const char *path, const json_t *req,
		     bool sign, json_t **ret, json_t **ret_err, long *ret_status)
{
	int rc = -EIO;
	size_t n = master_list_count(a->ml);

	*ret_err = NULL;
	*ret_status = 0;
	for (size_t attempt = 0; attempt < n; attempt++) {
		size_t idx = master_list_current(a->ml);
		char url[MASTER_ADDR_MAX + 512];
		if (snprintf(url, sizeof(url), "%s://%s%s", transport_scheme(),
			     master_list_addr(a->ml, idx), path) >= (int)sizeof(url))
			return -ENAMETOOLONG;
		json_t *resp = NULL, *errb = NULL;
		long status = 0;
		rc = http_json_signed_ex(a->http, method, url, req, sign ? auth_cluster_signer : NULL,
					 sign ? &a->sec : NULL, &resp, &status, &errb);
		if (rc == 0) {
			if (ret)
				*ret = resp;
			else
				json_decref(resp);
			return 0;
		}
		bool standby = master_list_is_standby_reply(status, errb);
		if (status != 0 && !standby) {
			*ret_err = errb;
			*ret_status = status;
			return rc;
		}
		const char *hint = standby ? master_list_reply_active(errb) : NULL;
		char h[MASTER_ADDR_MAX] = "";
		if (hint)
			snprintf(h, sizeof(h), "%s", hint);
		json_decref(errb);
		if (standby)
			rc = -EAGAIN;
		master_list_switch(a->ml, idx, h[0] ? h : NULL, standby ? "standby" : strerror(-rc));
	}
	return rc;
}

static int do_call(struct admin *a, const char *method, const char *path, const json_t *req,
		   bool sign, json_t **ret, const char *what, bool quiet)
{
	json_t *errb = NULL;
	long status = 0;
	int rc;

	if ((rc = admin_connect(a)) != 0 || (sign && (rc = admin_secret(a)) != 0)) {
		a->setup_exit = rc;
		return rc == AX_USAGE ? -EINVAL : -EIO;
	}
	rc = call_once(a, method, path, req, sign, ret, &errb, &status);
	if (rc == 0 || quiet) {
		json_decref(errb);
		return rc;
	}
	if (!what)
		what = admin_cmd_name(a);
	const char *msg = errb ? admin_str(errb, "message", NULL) : NULL;
	/* the master's sentence may start with the command's words: say them once */
	const char *cmd = admin_cmd_name(a);
	size_t wl = strlen(cmd);
	if (msg && strncmp(msg, cmd, wl) == 0 && msg[wl] == ':' && msg[wl + 1] == ' ')
		msg += wl + 2;
	if (status == 404 && msg && strcmp(msg, "no such path") == 0) {
		fprintf(stderr, "bigfs: %s: the master at %s does not know %s %s (an older version?)\n",
			what, master_list_addr(a->ml, master_list_current(a->ml)), method, path);
	} else if (status == 401 || status == 403) {
		fprintf(stderr, "bigfs: %s: the master refused the call: %s%s\n", what,
			msg ? msg : strerror(-rc),
			status == 401 ? " (is --secret the master's DATA/secret?)" : "");
	} else if (status != 0) {
		fprintf(stderr, "bigfs: %s: %s\n", what, msg ? msg : strerror(-rc));
	} else if (master_list_count(a->ml) == 1) {
		fprintf(stderr, "bigfs: %s: no answer from the master at %s: %s\n", what, a->master, strerror(-rc));
	} else {
		fprintf(stderr, "bigfs: %s: no active master in %s: %s\n", what,
			master_list_text(a->ml), rc == -EAGAIN ? "only standbys answer" : strerror(-rc));
	}
	json_decref(errb);
	return rc;
}

int admin_call(struct admin *a, const char *method, const char *path, const json_t *req,
	       bool sign, json_t **ret, const char *what)
{
	return do_call(a, method, path, req, sign, ret, what, false);
}

int admin_call_quiet(struct admin *a, const char *method, const char *path, const json_t *req,
		     bool sign, json_t **ret)
{
	return do_call(a, method, path, req, sign, ret, NULL, true);
}

int admin_exit_for(const struct admin *a, int rc)
{
	if (a->setup_exit)
		return a->setup_exit;
	if (rc == -ENOENT || rc == -ENODEV)
		return AX_NOTFOUND;
	return AX_FAIL;
}

int admin_print_json(const json_t *v)
{
	if (json_dumpf(v, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) < 0 ||
	    fputc('\n', stdout) == EOF || fflush(stdout) == EOF) {
		fprintf(stderr, "bigfs: cannot write the output: %s\n", strerror(errno));
		return AX_FAIL;
	}
	return AX_OK;
}

uint64_t admin_u64(const json_t *o, const char *key, uint64_t def)
{
	json_t *v = json_object_get(o, key);
	if (json_is_integer(v) && json_integer_value(v) >= 0)
		return (uint64_t)json_integer_value(v);
	return def;
}

const char *admin_str(const json_t *o, const char *key, const char *def)
{
	json_t *v = json_object_get(o, key);
	return json_is_string(v) ? json_string_value(v) : def;
}

bool admin_bool(const json_t *o, const char *key, bool def)
{
	json_t *v = json_object_get(o, key);
	return json_is_boolean(v) ? json_is_true(v) : def;
}
