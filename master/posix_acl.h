/* posix_acl — POSIX ACLs in their Linux xattr form, and the mode rules
 * that tie them to an inode's permission bits.
 *
 * The FUSE client asks the kernel to enforce ACLs (FUSE_CAP_POSIX_ACL);
 * the kernel then leaves three jobs to the filesystem, done here on the
 * raw xattr values the namespace stores:
 *   - setting system.posix_acl_access sets the mode's permission bits
 *     (pacl_equiv_mode), and an ACL that says no more than the mode is
 *     not stored at all;
 *   - chmod rewrites the owner, group-or-mask and other entries of the
 *     access ACL (pacl_chmod);
 *   - a node created in a directory with system.posix_acl_default gets
 *     that ACL, masked by the requested mode, instead of the umask
 *     (pacl_create_masq).
 *
 * Xattr form (little endian): a 4-byte header (version 2), then 8-byte
 * entries {u16 tag, u16 perm, u32 id}, sorted as the kernel writes them.
 * Pure functions, no state, no locks. */
#ifndef BIGFS_MASTER_POSIX_ACL_H
#define BIGFS_MASTER_POSIX_ACL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PACL_ACCESS "system.posix_acl_access"
#define PACL_DEFAULT "system.posix_acl_default"

/* True if name is one of the two ACL xattr names. */
bool pacl_is_acl_name(const char *name);

/* 0 if value is a well-formed ACL (version, size, tags, perms, entry
 * order and uniqueness as the kernel's posix_acl_valid checks them), or
 * -EINVAL. An ACL with no entries is valid (it means "none"). */
int pacl_check(const void *value, size_t len);

/* Access ACL -> mode: the permission bits it implies replace those of
 * *mode (other bits kept). Returns 0 if the ACL is equivalent to the mode
 * (nothing beyond owner, group, other), 1 if not, -EINVAL if malformed. */
int pacl_equiv_mode(const void *value, size_t len, uint32_t *mode);

/* chmod: set the owner, mask (or group if no mask) and other entries of
 * the access ACL value (modified in place) from mode. 0 or -EINVAL. */
int pacl_chmod(void *value, size_t len, uint32_t mode);

/* Creation: value is a copy of the parent's default ACL, modified in place
 * into the new node's access ACL; *mode (the requested mode, type bits
 * kept) is restricted by it. Returns 0 if the result is equivalent to the
 * mode (store no access ACL), 1 if not, -EINVAL if malformed. */
int pacl_create_masq(void *value, size_t len, uint32_t *mode);

/* Access check by an ACL, as the kernel's posix_acl_permission: may a
 * caller (uid, and gid as its only group) do `want` (a mask of 4 read,
 * 2 write, 1 execute) on a file owned by file_uid:file_gid with this
 * access ACL? 0, -EACCES, or -EINVAL if the ACL is malformed. The
 * caller is never root here (squashed callers only). */
int pacl_permission(const void *value, size_t len, uint32_t file_uid, uint32_t file_gid,
		    uint32_t uid, uint32_t gid, uint32_t want);

#endif
