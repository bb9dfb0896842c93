/* dir_cache — whole folder listings, so lookups cost no round trip.
 *
 * A path walk after the kernel dropped its caches (git status, make,
 * find after drop_caches) looks every name up at the master, one round
 * trip each. Here the second lookup in a folder that missed the kernel's
 * cache, once this mount has changed nothing there for DC_QUIET_MS (its
 * next change would make the listing useless at once: rsync ran 2.3x
 * slower fetching them), fetches the folder's whole listing (readdirplus
 * pages, names and attributes, up to DC_DIR_MAX entries), and later
 * lookups there are answered from it: the entry, or ENOENT for a name it
 * lacks. A folder is fetched again at most every DC_REFETCH_MS: a miss
 * after a fetch is a name this mount's own change spoiled (rsync's
 * renames spoiled its top folder's listing of a thousand folders every
 * few lookups, 190 fetches of it per run, half of the master's time).
 *
 * A listing is exactly as fresh as the master's change feed keeps it
 * (inval_watch.h). It is used only while the feed is live; all of them
 * are dropped (dc_clear) when the feed brings any change of another
 * client, or resets, and a listing whose fetch saw that happen is not
 * kept. The master counts on this: another client's change of a
 * folder's names is answered only once this mount's feed brought it, if
 * this mount read a listing before it (inval_log_wait_listers), so a
 * name never lacks here once its maker has been answered. This mount's own changes are judged at each use (fs_ops.c, by
 * master_client_changed and the listing's epoch, the mutation count when
 * its fetch began): a lookup is not answered from a listing if a change
 * of this mount that named the folder (a create, mkdir, link there) or
 * the entry (setattr, commit, xattrs) was on its way or ended since; a
 * removal or a rename elsewhere rules out only entries of files listed
 * with more than one link (their other names' link counts; a folder or a
 * file of one link stays as listed), and a rename also the inodes the
 * master's reply names (moved, replaced; all, if it names none): so `git
 * checkout`, which makes its index.lock before it stats every file and
 * renames it over the index when done, still finds the other folders
 * listed, and `rm -r` after a walk reads each folder from its listing.
 *
 * A listing also answers readdir (dc_read: the entries in the master's
 * order with its cookies, so a listing read partly from the master and
 * partly from here continues where it left off). Listings come from a
 * lookup's fetch, from every whole listing this mount read at the master,
 * and from the listings of the folders below one the master adds to a
 * readdir answer ("below", api.md) when this mount walks a tree and
 * makes or changes nothing meanwhile, removals aside (fs_walk_lasts): a
 * walk (du, find, git status, rm -r) then asks the master once per few
 * hundred folders, not once per folder.
 *
 * Memory: at most DC_ENTRIES entries in all (about 250 bytes each with
 * the name); past that the oldest listings are dropped.
 *
 * Threads: any FUSE thread and the feed's watcher. One mutex, no I/O
 * under it. */
#ifndef BIGFS_FUSE_DIR_CACHE_H
#define BIGFS_FUSE_DIR_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#define DC_DIR_MAX 4096        /* a bigger folder is not listed */
#define DC_ENTRIES 16384       /* about 6 MiB: the mount stays under 150 MiB */
#define DC_MISS_MS 2000        /* two misses this close fetch a listing */
#define DC_WAIT_MS 250         /* a lookup waits this long for a fetch on its way (one
                                * with the folders below takes some 10-50 ms) */
#define DC_QUIET_MS 500        /* no listing while this mount changed things this recently */
#define DC_REFETCH_MS 2000     /* a folder listed this recently is not fetched again */

struct dir_cache;

int dc_new(struct dir_cache **ret);
void dc_free(struct dir_cache *dc);

/* 1: name is in dir's listing, *st its attributes; 0: the listing has no
 * such name; -1: no listing of dir (or not valid at epoch). */
int dc_lookup(struct dir_cache *dc, uint64_t dir, const char *name, uint64_t epoch,
	      struct stat *st);
/* The same whatever the epoch: *ret_epoch is the one dir's listing was
 * fetched from (the caller judges what changed since). */
int dc_lookup_at(struct dir_cache *dc, uint64_t dir, const char *name, uint64_t *ret_epoch,
		 struct stat *st);
/* A lookup in dir went to the master, this mount's last change there ended
 * quiet_ms ago: whether to fetch its listing now (not if its last one
 * was fetched less than DC_REFETCH_MS ago)
 * (the caller then must end it: dc_fill_end or dc_too_big). */
bool dc_want(struct dir_cache *dc, uint64_t dir, int64_t quiet_ms, int64_t now_ms);
/* Wait up to timeout_ms for a fetch of dir's listing on its way; true if
 * there was one (look again). */
bool dc_wait_fetch(struct dir_cache *dc, uint64_t dir, int timeout_ms);

/* Entries of a listing, copied out (dc_read). */
struct dc_item {
	const char *name;
	uint64_t cookie;     /* the master's: the listing continues after it */
	struct stat st;
};
struct dc_page {
	struct dc_item *v;
	size_t n;
	bool eof;            /* v ends the listing */
	uint64_t epoch;      /* the listing was fetched from this epoch on */
	bool marked;         /* and, if dc_fill_mark gave it, at this count */
	uint64_t changes;
	bool has_self;       /* the folder's own attributes, read with it */
	struct stat self;
	uint64_t self_dver;
};
/* At most max entries of dir's listing after cookie after (0: from the
 * start): 0 with *page (free it with dc_page_free), or -1 when there is no
 * listing of dir (or no memory). The caller judges what changed since
 * page->epoch, as for dc_lookup_at. */
int dc_read(struct dir_cache *dc, uint64_t dir, uint64_t after, size_t max,
	    struct dc_page *page);
void dc_page_free(struct dc_page *page);

/* Building a listing fetched from epoch on. */
struct dc_fill;
struct dc_fill *dc_fill_start(struct dir_cache *dc, uint64_t dir, uint64_t epoch);
/* Another listing of the same fetch (a folder below, from one answer):
 * kept under the same conditions as first. */
struct dc_fill *dc_fill_more(const struct dc_fill *first, uint64_t dir);
/* The caller's own count of what changed, kept with the listing for its
 * readdirs (fs_ops.c: this mount's changes but removals and renames,
 * which it judges by folder). */
void dc_fill_mark(struct dc_fill *f, uint64_t changes);
/* The folder's own attributes, read with its listing (its directory
 * version too: meta_cache.h). */
void dc_fill_self(struct dc_fill *f, const struct stat *st, uint64_t dver);
/* One entry, in the master's order (cookies ascending); false when the
 * folder is too big to list, or the entries are not one listing (a name
 * twice, cookies out of order): give up. */
bool dc_fill_add(struct dc_fill *f, const char *name, uint64_t cookie, const struct stat *st);
/* Installs it if epoch is still the current one (cur), else drops it;
 * frees f either way. now_ms: when (DC_REFETCH_MS counts from it). */
void dc_fill_end(struct dir_cache *dc, struct dc_fill *f, uint64_t cur, int64_t now_ms);
void dc_fill_abort(struct dc_fill *f);
/* A folder too big (or failing) to list: no more tries for a while. */
void dc_too_big(struct dir_cache *dc, uint64_t dir, int64_t now_ms);

/* Drop every listing. */
void dc_clear(struct dir_cache *dc);
/* Listings answered and fetched, for tests and metrics. */
uint64_t dc_hits(struct dir_cache *dc);

#endif
