/* tmp_tree — the unit tests' scratch folders: made under /tmp, removed
 * with everything in them at the test's end. */
#ifndef BIGFS_TEST_UNIT_TMP_TREE_H
#define BIGFS_TEST_UNIT_TMP_TREE_H

#include <ftw.h>
#include <stdio.h>
#include <sys/stat.h>

static int tmp_tree_rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Remove dir and everything below it (symlinks not followed). */
static inline void tmp_tree_remove(const char *dir)
{
	nftw(dir, tmp_tree_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
