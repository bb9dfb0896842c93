/* ns_fixture — a master namespace (meta_store, worker registry, chunk map,
 * namespace) on a fresh SQLite file in a temporary folder, shared by the
 * unit tests of master modules. Include after <cmocka.h>. */
#ifndef BIGFS_TEST_NS_FIXTURE_H
#define BIGFS_TEST_NS_FIXTURE_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../master/chunk_map.h"
#include "../../master/meta_store.h"
#include "../../master/namespace.h"
#include "../../master/worker_registry.h"

struct ns_fixture {
	char dir[64];
	char db[128];
	struct secret secret;
	struct meta_store *ms;
	struct wreg *reg;
	struct chunk_map *cm;
	struct ns *ns;
};

/* Open the modules on f->db (again, after nsf_close: a master restart). */
static inline int nsf_open(struct ns_fixture *f)
{
	if (meta_open(f->db, 2, &f->ms) < 0 || wreg_new(10000, &f->reg) < 0 ||
	    cm_new(f->ms, f->reg, &f->secret, 60000, &f->cm) < 0 || ns_new(f->ms, f->cm, &f->ns) < 0)
		return -1;
	/* removed files go at once, as before the trash (tests of the trash
	 * set a trashtime of their own) */
	if (ns_setxattr(f->ns, 1, "bigfs.trashtime", "0", 1, 0) < 0)
		return -1;
	return 0;
}

static inline void nsf_close(struct ns_fixture *f)
{
	ns_free(f->ns);
	cm_free(f->cm);
	wreg_free(f->reg);
	meta_close(f->ms);
}

/* A temporary folder /tmp/bigfs-TAG-?????? (mkdtemp fills in the six
 * characters) holding meta.db, and the modules open on it. */
static inline int nsf_setup(struct ns_fixture *f, const char *tag)
{
	memset(f, 0, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/bigfs-%s-XXXXXX", tag);
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->db, sizeof(f->db), "%s/meta.db", f->dir);
	memset(f->secret.key, 7, 32);
	f->secret.len = 32;
	return nsf_open(f);
}

static inline int nsf_rm_cb(const char *path, const struct stat *sb, int flag,
			    struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Close the modules and remove the folder. */
static inline void nsf_teardown(struct ns_fixture *f)
{
	nsf_close(f);
	nftw(f->dir, nsf_rm_cb, 8, FTW_DEPTH | FTW_PHYS);
}

#endif
