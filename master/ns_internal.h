/* ns_internal — what the parts of the namespace share: namespace.c
 * (inodes, entries, attributes, xattrs) and ns_ops.c (trash, quotas,
 * snapshots). Not for other modules: they use namespace.h.
 *
 * Every nsi_, nst_ and nsq_ function runs inside a transaction its
 * caller opened on ns->ms (the _locked convention of chunk_map.h). */
#ifndef BIGFS_MASTER_NS_INTERNAL_H
#define BIGFS_MASTER_NS_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "atime_table.h"
#include "namespace.h"

struct ns {
	struct meta_store *ms;
	struct chunk_map *cm;
	struct ns_open_hooks hooks;     /* set before the API starts */
	struct atime_table atimes;      /* read atimes not yet written */
	int64_t default_grace_s;        /* quotas: soft limit grace */
	void (*changed)(void *arg, const struct inval_note *notes, size_t n);
	void *changed_arg;              /* ns_set_change_hook */
};

/* namespace.c */
int nsi_get_attr(struct ns *ns, uint64_t ino, struct ns_attr *a);
int nsi_get_dir(struct ns *ns, uint64_t ino, struct ns_attr *a);
int nsi_get_entry(struct ns *ns, uint64_t parent, const char *name, struct ns_attr *a);
int nsi_put_attr(struct ns *ns, const struct ns_attr *a);
int nsi_touch_dir(struct ns *ns, uint64_t dir, int dlink);
void nsi_now(int64_t *s, uint32_t *ns_);
bool nsi_is_open(struct ns *ns, uint64_t ino);
int nsi_drop_inode(struct ns *ns, const struct ns_attr *a);
int nsi_check_not_below(struct ns *ns, uint64_t d, uint64_t ancestor);
int nsi_orphan_add(struct ns *ns, uint64_t ino);
/* Notes for ns_set_change_hook, sent when the transaction commits. */
void nsi_note_entry(struct ns *ns, uint64_t parent, const char *name);
void nsi_note_inode(struct ns *ns, uint64_t ino);
int nsi_dentry_insert(struct ns *ns, uint64_t parent, const char *name, uint64_t ino);
/* The folder holding ino (its first name's, for a file with several). */
int nsi_parent_of(struct ns *ns, uint64_t ino, uint64_t *ret);

/* ns_ops.c: tables, made at start (ns_new). */
int nso_init_locked(struct ns *ns);

/* Trash. Inode a (nlink 1, its last name `name` in `parent` just gone):
 * 1 if it went to the trash (nlink 0, kept with its chunks), 0 if it is
 * no regular file or its trashtime is 0, or -errno. */
int nst_put_locked(struct ns *ns, struct ns_attr *a, uint64_t parent, const char *name);
/* bigfs.trashtime of ino. */
int nst_set_trashtime_locked(struct ns *ns, uint64_t ino, uint32_t seconds);
/* 1 if ino is in the trash, 0 if not, or -errno. */
int nst_has_locked(struct ns *ns, uint64_t ino);

/* Quotas. Usage of every folder with a quota at or above dir changes by
 * dbytes and dinodes. check: refuse with -EDQUOT (changing nothing) if a
 * growth passes a hard limit, or a soft one whose grace is over. */
int nsq_charge_locked(struct ns *ns, uint64_t dir, int64_t dbytes, int64_t dinodes,
		      bool check);
/* The same for a file's size, through the folder holding it. */
int nsq_charge_file_locked(struct ns *ns, uint64_t ino, int64_t dbytes, bool check);
/* src (a file or a whole folder) moves from folder `from` to `to`. */
int nsq_move_locked(struct ns *ns, const struct ns_attr *src, uint64_t from, uint64_t to);

#endif
