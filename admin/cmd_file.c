/* cmd_file — the per-file commands of `bigfs`: fileinfo, goal,
 * locations and snapshot.
 *
 * goal and locations work through the xattrs of a mount (bigfs.goal,
 * bigfs.locations), so any user of the mount can run them and no secret
 * is needed; fileinfo and snapshot are the master's operations (signed
 * with the cluster secret), the files named as target.c says. Stateless
 * apart from struct admin. */
#include "admin.h"

#include "table.h"
#include "units.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>

/* ---- fileinfo ----------------------------------------------------------------- */

static const char *type_name(uint64_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG: return "file";
	case S_IFDIR: return "directory";
	case S_IFLNK: return "symlink";
	case S_IFIFO: return "fifo";
	case S_IFSOCK: return "socket";
	case S_IFCHR: return "character device";
	case S_IFBLK: return "block device";
	default: return "unknown";
	}
}

/* "rwxr-xr-x" (with s/t bits) into out (10 bytes). */
static const char *perm_string(uint64_t mode, char *out)
{
	static const char rwx[] = "rwxrwxrwx";
	for (int i = 0; i < 9; i++)
		out[i] = mode & (0400u >> i) ? rwx[i] : '-';
	if (mode & S_ISUID)
		out[2] = out[2] == 'x' ? 's' : 'S';
	if (mode & S_ISGID)
		out[5] = out[5] == 'x' ? 's' : 'S';
	if (mode & S_ISVTX)
		out[8] = out[8] == 'x' ? 't' : 'T';
	out[9] = '\0';
	return out;
}

static const char *time_string(uint64_t s, char *out, size_t cap)
{
	time_t t = (time_t)s;
	struct tm tm;
	if (!localtime_r(&t, &tm) || !strftime(out, cap, "%Y-%m-%d %H:%M:%S", &tm))
		snprintf(out, cap, "%" PRIu64, s);
	return out;
}

/* The replicas of one chunk in a line: "WORKER" for a live one at the
 * chunk's version, "WORKER(down)" / "WORKER(v3)" otherwise. */
static void replicas_text(const json_t *chunk, char *out, size_t cap)
{
	json_t *reps = json_object_get(chunk, "replicas"), *r;
	uint64_t version = admin_u64(chunk, "version", 0);
	size_t i, n = 0;

	out[0] = '\0';
	json_array_foreach(reps, i, r) {
		const char *id = admin_str(r, "worker_id", "?");
		uint64_t v = admin_u64(r, "version", version);
		char note[32] = "";
		if (!admin_bool(r, "live", true))
			snprintf(note, sizeof(note), "(down)");
		else if (v != version)
			snprintf(note, sizeof(note), "(v%" PRIu64 ")", v);
		int w = snprintf(out + n, cap - n, "%s%s%s", n ? " " : "", id, note);
		if (w < 0 || (size_t)w >= cap - n)
			break;
		n += (size_t)w;
	}
	if (!n)
		snprintf(out, cap, "-");
}

static int print_fileinfo(const char *arg, const json_t *fi)
{
	const json_t *attr = json_object_get(fi, "attr");
	uint64_t mode = admin_u64(attr, "mode", 0), size = admin_u64(attr, "size", 0);
	json_t *chunks = json_object_get(fi, "chunks"), *c;
	char perm[10], sz[UNITS_BUF], tbuf[64], dur[UNITS_BUF];
	size_t i;

	printf("%s\n", arg);
	printf("  inode      %" PRIu64 "   (namespace path %s)\n", admin_u64(fi, "ino", 0),
	       admin_str(fi, "path", "?"));
	printf("  type       %s, mode %04" PRIo64 " (%s), uid %" PRIu64 ", gid %" PRIu64
	       ", nlink %" PRIu64 "\n",
	       type_name(mode), mode & 07777, perm_string(mode, perm), admin_u64(attr, "uid", 0),
	       admin_u64(attr, "gid", 0), admin_u64(attr, "nlink", 0));
	if (S_ISREG(mode))
		printf("  size       %s (%" PRIu64 " bytes) in %zu chunk%s\n",
		       units_fmt_size(size, sz, sizeof(sz)), size, json_array_size(chunks),
		       json_array_size(chunks) == 1 ? "" : "s");
	printf("  goal       %" PRIu64 "\n", admin_u64(fi, "goal", admin_u64(attr, "goal", 0)));
	json_t *tt = json_object_get(fi, "trashtime");
	if (json_is_integer(tt))
		printf("  trashtime  %s\n", json_integer_value(tt) == 0
						    ? "0 (deleted files skip the trash)"
						    : units_fmt_duration((uint64_t)json_integer_value(tt),
									 dur, sizeof(dur)));
	printf("  modified   %s\n", time_string(admin_u64(attr, "mtime_s", 0), tbuf, sizeof(tbuf)));
	if (!json_array_size(chunks))
		return 0;
	struct table *t = table_new(5, (const char *[]){"INDEX", "CHUNK", "VERSION", "REFS",
							 "REPLICAS"},
				    "rlrrl");
	json_array_foreach(chunks, i, c) {
		char reps[1024];
		replicas_text(c, reps, sizeof(reps));
		table_add(t, "%" PRIu64, admin_u64(c, "index", 0));
		table_add(t, "%s", admin_str(c, "chunk_id", "?"));
		table_add(t, "%" PRIu64, admin_u64(c, "version", 0));
		table_add(t, "%" PRIu64, admin_u64(c, "refs", 1));
		table_add(t, "%s", reps);
	}
	/* indent the table under the file */
	char *text = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&text, &len);
	int rc = mem ? table_print(t, mem) : -ENOMEM;
	if (mem)
		fclose(mem);
	table_free(t);
	if (rc < 0) {
		free(text);
		fprintf(stderr, "bigfs: out of memory\n");
		return -ENOMEM;
	}
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"))
		printf("  %s\n", line);
	free(text);
	return 0;
}

int cmd_fileinfo(struct admin *a, int argc, char **argv)
{
	int first, ret = AX_OK;
	int rc = admin_parse(a, argc, argv, NULL, NULL, NULL, 1, -1, &first);
	if (rc >= 0)
		return rc;
	json_t *out = json_array();
	for (int i = first; i < argc; i++) {
		json_t *req = json_object(), *resp = NULL;
		rc = target_set(a, req, "ino", "path", argv[i]);
		if (rc == 0)
			rc = admin_call(a, "POST", "/v1/fileinfo", req, true, &resp, argv[i]);
		json_decref(req);
		if (rc < 0) {
			if (ret == AX_OK || admin_exit_for(a, rc) == AX_USAGE)
				ret = admin_exit_for(a, rc);
			if (a->setup_exit)
				break;
			continue;
		}
		if (a->json) {
			json_array_append_new(out, resp);
			continue;
		}
		if (i > first)
			putchar('\n');
		if (print_fileinfo(argv[i], resp) < 0)
			ret = AX_FAIL;
		json_decref(resp);
	}
	if (a->json && !a->setup_exit) {
		json_t *doc = json_pack("{s:o}", "files", out);
		if (admin_print_json(doc) != AX_OK)
			ret = AX_FAIL;
		json_decref(doc);
	} else {
		json_decref(out);
	}
	return ret;
}

/* ---- goal and locations: xattrs of the mount ----------------------------------------- */

int cmd_goal(struct admin *a, int argc, char **argv)
{
	int first;
	int rc = admin_parse(a, argc, argv, NULL, NULL, NULL, 1, 2, &first);
	if (rc >= 0)
		return rc;
	const char *path = argv[first], *set = first + 1 < argc ? argv[first + 1] : NULL;
	if (a->ns)
		return admin_usage(a, "goal works on a file of a mount, not a namespace path (--ns)");
	if (set) {
		char *end;
		long g = strtol(set, &end, 10);
		if (*end || end == set || g < 1 || g > 16)
			return admin_usage(a, "goal: '%s' is not a goal (1..16)", set);
		if (setxattr(path, "bigfs.goal", set, strlen(set), 0) < 0) {
			int err = errno;
			fprintf(stderr, "bigfs: %s: cannot set goal %s: %s\n", path, set, strerror(err));
			return err == ENOENT ? AX_NOTFOUND : AX_FAIL;
		}
	}
	char buf[64];
	ssize_t n = getxattr(path, "bigfs.goal", buf, sizeof(buf) - 1);
	if (n < 0) {
		int err = errno;
		if (err == ENODATA || err == ENOTSUP)
			fprintf(stderr, "bigfs: %s: not on a mounted BigFS (no bigfs.goal xattr)\n", path);
		else
			fprintf(stderr, "bigfs: %s: %s\n", path, strerror(err));
		return err == ENOENT ? AX_NOTFOUND : AX_FAIL;
	}
	buf[n] = '\0';
	if (a->json) {
		json_t *doc = json_pack("{s:s, s:I}", "path", path, "goal",
					(json_int_t)strtoll(buf, NULL, 10));
		rc = admin_print_json(doc);
		json_decref(doc);
		return rc;
	}
	printf("%s: goal %s\n", path, buf);
	return AX_OK;
}

/* bigfs.locations text ("INDEX CHUNK_ID VERSION WORKER...\n" lines) as
 * a JSON array of {"index", "chunk_id", "version", "workers"}. */
static json_t *locations_json(char *text)
{
	json_t *arr = json_array();
	for (char *save = NULL, *line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *s2 = NULL, *w;
		char *idx = strtok_r(line, " ", &s2), *id = strtok_r(NULL, " ", &s2),
		     *ver = strtok_r(NULL, " ", &s2);
		if (!idx || !id || !ver)
			continue;
		json_t *workers = json_array();
		while ((w = strtok_r(NULL, " ", &s2)))
			json_array_append_new(workers, json_string(w));
		json_array_append_new(arr, json_pack("{s:I, s:s, s:I, s:o}", "index",
						     (json_int_t)strtoll(idx, NULL, 10), "chunk_id", id,
						     "version", (json_int_t)strtoll(ver, NULL, 10),
						     "workers", workers));
	}
	return arr;
}

int cmd_locations(struct admin *a, int argc, char **argv)
{
	int first, ret = AX_OK;
	int rc = admin_parse(a, argc, argv, NULL, NULL, NULL, 1, -1, &first);
	if (rc >= 0)
		return rc;
	if (a->ns)
		return admin_usage(a, "locations works on files of a mount, not namespace paths (--ns)");
	json_t *files = json_array();
	for (int i = first; i < argc; i++) {
		static char buf[1 << 20];
		ssize_t n = getxattr(argv[i], "bigfs.locations", buf, sizeof(buf) - 1);
		if (n < 0) {
			int err = errno;
			fprintf(stderr, "bigfs: %s: %s\n", argv[i],
				err == ENOTSUP ? "not on a mounted BigFS (no bigfs.locations xattr)"
					       : err == ENODATA ? "not a regular file of a BigFS mount"
								: strerror(err));
			if (ret == AX_OK)
				ret = err == ENOENT ? AX_NOTFOUND : AX_FAIL;
			continue;
		}
		buf[n] = '\0';
		if (a->json) {
			json_array_append_new(files, json_pack("{s:s, s:o}", "path", argv[i], "chunks",
							       locations_json(buf)));
			continue;
		}
		if (argc - first > 1)
			printf("%s:\n", argv[i]);
		fputs(buf, stdout);
	}
	if (a->json) {
		json_t *doc = json_pack("{s:o}", "files", files);
		if (admin_print_json(doc) != AX_OK)
			ret = AX_FAIL;
		json_decref(doc);
	} else {
		json_decref(files);
	}
	return ret;
}

/* ---- snapshot --------------------------------------------------------------------- */

int cmd_snapshot(struct admin *a, int argc, char **argv)
{
	int first;
	int rc = admin_parse(a, argc, argv, NULL, NULL, NULL, 2, 2, &first);
	if (rc >= 0)
		return rc;
	const char *src = argv[first], *dst = argv[first + 1];
	json_t *req = json_object(), *resp = NULL;
	a->timeout_ms = 300000;     /* a big tree takes a while (before admin_connect) */
	if (a->ns) {
		rc = target_set(a, req, "src", "src", src);
		if (rc == 0 && dst[0] != '/') {
			fprintf(stderr, "bigfs: %s: a namespace path starts with '/' (--ns)\n", dst);
			rc = -EINVAL;
		}
		if (rc == 0)
			json_object_set_new(req, "dst", json_string(dst));
	} else {
		struct stat st;
		uint64_t parent;
		char *name = NULL;
		rc = target_set(a, req, "src_ino", "src", src);
		if (rc == 0 && lstat(dst, &st) == 0) {
			fprintf(stderr, "bigfs: snapshot: %s exists; the copy needs a new name\n", dst);
			rc = -EEXIST;
		}
		if (rc == 0)
			rc = target_parent(dst, &parent, &name);
		if (rc == 0) {
			json_object_set_new(req, "dst_parent", json_integer((json_int_t)parent));
			json_object_set_new(req, "dst_name", json_string(name));
			free(name);
		}
	}
	if (rc == 0)
		rc = admin_call(a, "POST", "/v1/snapshot", req, true, &resp, "snapshot");
	json_decref(req);
	if (rc < 0)
		return admin_exit_for(a, rc);
	if (a->json) {
		rc = admin_print_json(resp);
	} else {
		printf("snapshot of %s at %s: inode %" PRIu64 ", %" PRIu64 " inode%s made, %" PRIu64
		       " chunk%s now shared\n",
		       src, dst, admin_u64(resp, "ino", 0), admin_u64(resp, "inodes", 0),
		       admin_u64(resp, "inodes", 0) == 1 ? "" : "s", admin_u64(resp, "chunks", 0),
		       admin_u64(resp, "chunks", 0) == 1 ? "" : "s");
		rc = AX_OK;
	}
	json_decref(resp);
	return rc;
}
