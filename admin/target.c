/* target — the PATH operands of `bigfs`, turned into what the master's
 * operations API takes (docs/api.md "Operations").
 *
 * An operator names files as they see them, on a mount: /mnt/bigfs/x.
 * The master knows inodes and namespace paths, not mounts. So a PATH is
 * read through the mount: getxattr(PATH, "bigfs.ino") gives the master's
 * inode number (the master answers that virtual xattr; a mount of a
 * subtree passes the master's number through), sent as {"ino": N}. A
 * name that does not exist yet (a snapshot's or a restore's target) is
 * its parent folder's inode and the last component. With --ns the
 * operands are namespace paths ("/a/b") and go to the master as
 * {"path": "/a/b"} untouched (the master checks them).
 *
 * Does not: resolve symlinks itself (getxattr follows them, as `ls`
 * would), or guess whether a path is on a mount — a file elsewhere has
 * no bigfs.ino, and the message says so. Stateless. */
#include "admin.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#define INO_XATTR "bigfs.ino"

/* Why a getxattr of bigfs.ino failed, in words, on stderr. */
static void say_no_ino(const char *path, int err)
{
	char goal[32];
	if (err == ENODATA || err == ENOTSUP) {
		if (getxattr(path, "bigfs.goal", goal, sizeof(goal)) >= 0)
			fprintf(stderr,
				"bigfs: %s: the master does not answer the bigfs.ino xattr (an older "
				"version); give the namespace path with --ns\n",
				path);
		else
			fprintf(stderr,
				"bigfs: %s: not on a mounted BigFS (no bigfs.ino xattr); for a path in "
				"the namespace use --ns\n",
				path);
	} else {
		fprintf(stderr, "bigfs: %s: %s\n", path, strerror(err));
	}
}

int target_ino(const char *path, uint64_t *ret)
{
	char buf[32], *end;
	ssize_t n = getxattr(path, INO_XATTR, buf, sizeof(buf) - 1);
	if (n < 0) {
		int err = errno;
		say_no_ino(path, err);
		return -err;
	}
	buf[n] = '\0';
	errno = 0;
	unsigned long long v = strtoull(buf, &end, 10);
	while (*end == '\n' || *end == ' ')
		end++;
	if (errno || end == buf || *end || buf[0] == '-' || v == 0) {
		fprintf(stderr, "bigfs: %s: the mount gave a bad inode number '%s'\n", path, buf);
		return -EPROTO;
	}
	*ret = v;
	return 0;
}

int target_set(struct admin *a, json_t *req, const char *key_ino, const char *key_path,
	       const char *arg)
{
	uint64_t ino;
	if (a->ns) {
		if (arg[0] != '/') {
			fprintf(stderr, "bigfs: %s: a namespace path starts with '/' (--ns)\n", arg);
			return -EINVAL;
		}
		json_object_set_new(req, key_path, json_string(arg));
		return 0;
	}
	int rc = target_ino(arg, &ino);
	if (rc < 0)
		return rc;
	json_object_set_new(req, key_ino, json_integer((json_int_t)ino));
	return 0;
}

/* Split path into a malloc'ed folder and last component (trailing
 * slashes dropped): "a/b/" -> "a", "b"; "b" -> ".", "b"; "/b" -> "/", "b".
 * -EINVAL for "", "/", or a last component "." or "..". */
static int split_path(const char *path, char **ret_dir, char **ret_name)
{
	size_t len = strlen(path);
	while (len > 1 && path[len - 1] == '/')
		len--;
	size_t start = len;
	while (start > 0 && path[start - 1] != '/')
		start--;
	size_t nlen = len - start;
	if (nlen == 0 || (nlen == 1 && path[start] == '.') ||
	    (nlen == 2 && path[start] == '.' && path[start + 1] == '.'))
		return -EINVAL;
	char *name = strndup(path + start, nlen);
	char *dir = start == 0 ? strdup(".") : start == 1 ? strdup("/") : strndup(path, start - 1);
	if (!name || !dir) {
		free(name);
		free(dir);
		return -ENOMEM;
	}
	*ret_dir = dir;
	*ret_name = name;
	return 0;
}

int target_parent(const char *path, uint64_t *ret_parent, char **ret_name)
{
	char *dir, *name;
	int rc = split_path(path, &dir, &name);
	if (rc < 0) {
		fprintf(stderr, "bigfs: %s: %s\n", path,
			rc == -EINVAL ? "not a name a new file can have" : strerror(-rc));
		return rc;
	}
	rc = target_ino(dir, ret_parent);
	free(dir);
	if (rc < 0) {
		free(name);
		return rc;
	}
	*ret_name = name;
	return 0;
}

/* The namespace path of inode ino, from the master's fileinfo. */
static int ns_path_of(struct admin *a, uint64_t ino, const char *shown, char **ret)
{
	json_t *req = json_pack("{s:I}", "ino", (json_int_t)ino), *resp = NULL;
	int rc = admin_call(a, "POST", "/v1/fileinfo", req, true, &resp, shown);
	json_decref(req);
	if (rc < 0)
		return rc;
	const char *p = admin_str(resp, "path", NULL);
	if (!p || p[0] != '/') {
		fprintf(stderr, "bigfs: %s: the master gave no path for inode %" PRIu64 "\n", shown,
			ino);
		json_decref(resp);
		return -EPROTO;
	}
	*ret = strdup(p);
	json_decref(resp);
	return *ret ? 0 : -ENOMEM;
}

int target_ns_path(struct admin *a, const char *arg, bool allow_new, char **ret)
{
	struct stat st;
	uint64_t ino;
	int rc;

	if (a->ns) {
		if (arg[0] != '/') {
			fprintf(stderr, "bigfs: %s: a namespace path starts with '/' (--ns)\n", arg);
			return -EINVAL;
		}
		*ret = strdup(arg);
		return *ret ? 0 : -ENOMEM;
	}
	if (!allow_new || lstat(arg, &st) == 0 || errno != ENOENT) {
		rc = target_ino(arg, &ino);
		return rc < 0 ? rc : ns_path_of(a, ino, arg, ret);
	}
	/* Walk up to the nearest folder that exists (a deleted folder's
	 * files are named by where they were), keeping what is missing. */
	char *dir = strdup(arg), *missing = strdup(""), *name;
	if (!dir || !missing) {
		rc = -ENOMEM;
		goto out_free;
	}
	for (;;) {
		char *parent;
		rc = split_path(dir, &parent, &name);
		if (rc < 0) {
			fprintf(stderr, "bigfs: %s: %s\n", arg,
				rc == -EINVAL ? "no such file or folder" : strerror(-rc));
			goto out_free;
		}
		char *m;
		rc = asprintf(&m, "/%s%s", name, missing) < 0 ? -ENOMEM : 0;
		free(name);
		free(dir);
		dir = parent;
		if (rc < 0)
			goto out_free;
		free(missing);
		missing = m;
		if (lstat(dir, &st) == 0 || errno != ENOENT)
			break;
	}
	rc = target_ino(dir, &ino);
	char *base = NULL;
	if (rc == 0)
		rc = ns_path_of(a, ino, arg, &base);
	if (rc == 0) {
		bool root = strcmp(base, "/") == 0;
		rc = asprintf(ret, "%s%s", root ? "" : base, missing) < 0 ? -ENOMEM : 0;
		free(base);
	}
out_free:
	free(dir);
	free(missing);
	return rc;
}
