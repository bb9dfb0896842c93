/* posix_acl — POSIX ACL xattr values and their mode rules (see
 * posix_acl.h). Follows the kernel's fs/posix_acl.c: posix_acl_valid,
 * posix_acl_equiv_mode, __posix_acl_chmod and posix_acl_create_masq.
 *
 * Owns no state; every function works on a caller's buffer. */
#include "posix_acl.h"

#include <errno.h>
#include <string.h>

#define PACL_VERSION 2u
#define PACL_HDR 4u
#define PACL_ENT 8u

#define TAG_USER_OBJ 0x01u
#define TAG_USER 0x02u
#define TAG_GROUP_OBJ 0x04u
#define TAG_GROUP 0x08u
#define TAG_MASK 0x10u
#define TAG_OTHER 0x20u

#define PERM_RWX 7u

static uint32_t get_le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint16_t get_le16(const unsigned char *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static void put_le16(unsigned char *p, uint16_t v)
{
	p[0] = (unsigned char)(v & 0xff);
	p[1] = (unsigned char)(v >> 8);
}

bool pacl_is_acl_name(const char *name)
{
	return strcmp(name, PACL_ACCESS) == 0 || strcmp(name, PACL_DEFAULT) == 0;
}

/* Number of entries, or -EINVAL for a wrong size or version. */
static long pacl_count(const void *value, size_t len)
{
	const unsigned char *v = value;

	if (len < PACL_HDR || (len - PACL_HDR) % PACL_ENT != 0)
		return -EINVAL;
	if (get_le32(v) != PACL_VERSION)
		return -EINVAL;
	return (long)((len - PACL_HDR) / PACL_ENT);
}

static unsigned char *entry(const void *value, long i)
{
	return (unsigned char *)value + PACL_HDR + (size_t)i * PACL_ENT;
}

int pacl_check(const void *value, size_t len)
{
	long n = pacl_count(value, len);
	int state = TAG_USER_OBJ;
	int needs_mask = 0;
	bool have_uid = false, have_gid = false;
	uint32_t prev_uid = 0, prev_gid = 0;

	if (n < 0)
		return (int)n;
	if (n == 0)
		return 0;
	for (long i = 0; i < n; i++) {
		const unsigned char *e = entry(value, i);
		uint16_t tag = get_le16(e), perm = get_le16(e + 2);
		uint32_t id = get_le32(e + 4);

		if (perm & ~PERM_RWX)
			return -EINVAL;
		switch (tag) {
		case TAG_USER_OBJ:
			if (state != TAG_USER_OBJ)
				return -EINVAL;
			state = TAG_USER;
			break;
		case TAG_USER:
			if (state != TAG_USER || (have_uid && id <= prev_uid))
				return -EINVAL;
			prev_uid = id;
			have_uid = true;
			needs_mask = 1;
			break;
		case TAG_GROUP_OBJ:
			if (state != TAG_USER)
				return -EINVAL;
			state = TAG_GROUP;
			break;
		case TAG_GROUP:
			if (state != TAG_GROUP || (have_gid && id <= prev_gid))
				return -EINVAL;
			prev_gid = id;
			have_gid = true;
			needs_mask = 1;
			break;
		case TAG_MASK:
			if (state != TAG_GROUP)
				return -EINVAL;
			state = TAG_OTHER;
			break;
		case TAG_OTHER:
			if (state == TAG_OTHER || (state == TAG_GROUP && !needs_mask)) {
				state = 0;
				break;
			}
			return -EINVAL;
		default:
			return -EINVAL;
		}
	}
	return state == 0 ? 0 : -EINVAL;
}

int pacl_equiv_mode(const void *value, size_t len, uint32_t *mode)
{
	long n = pacl_count(value, len);
	uint32_t m = 0;
	int not_equiv = 0;

	if (n < 0 || pacl_check(value, len) < 0)
		return -EINVAL;
	if (n == 0)
		return 0;
	for (long i = 0; i < n; i++) {
		const unsigned char *e = entry(value, i);
		uint32_t perm = get_le16(e + 2);

		switch (get_le16(e)) {
		case TAG_USER_OBJ:
			m |= (perm & PERM_RWX) << 6;
			break;
		case TAG_GROUP_OBJ:
			m |= (perm & PERM_RWX) << 3;
			break;
		case TAG_OTHER:
			m |= perm & PERM_RWX;
			break;
		case TAG_MASK:
			m = (m & ~(PERM_RWX << 3)) | ((perm & PERM_RWX) << 3);
			not_equiv = 1;
			break;
		default:
			not_equiv = 1;
			break;
		}
	}
	*mode = (*mode & ~0777u) | m;
	return not_equiv;
}

int pacl_chmod(void *value, size_t len, uint32_t mode)
{
	long n = pacl_count(value, len);
	unsigned char *group_obj = NULL, *mask = NULL;

	if (n < 0 || pacl_check(value, len) < 0)
		return -EINVAL;
	for (long i = 0; i < n; i++) {
		unsigned char *e = entry(value, i);

		switch (get_le16(e)) {
		case TAG_USER_OBJ:
			put_le16(e + 2, (uint16_t)((mode >> 6) & PERM_RWX));
			break;
		case TAG_GROUP_OBJ:
			group_obj = e;
			break;
		case TAG_MASK:
			mask = e;
			break;
		case TAG_OTHER:
			put_le16(e + 2, (uint16_t)(mode & PERM_RWX));
			break;
		default:
			break;
		}
	}
	if (mask)
		put_le16(mask + 2, (uint16_t)((mode >> 3) & PERM_RWX));
	else if (group_obj)
		put_le16(group_obj + 2, (uint16_t)((mode >> 3) & PERM_RWX));
	return 0;
}

int pacl_create_masq(void *value, size_t len, uint32_t *mode)
{
	long n = pacl_count(value, len);
	unsigned char *group_obj = NULL, *mask = NULL;
	uint32_t m = *mode;
	int not_equiv = 0;

	if (n <= 0 || pacl_check(value, len) < 0)
		return -EINVAL;
	for (long i = 0; i < n; i++) {
		unsigned char *e = entry(value, i);
		uint32_t perm = get_le16(e + 2);

		switch (get_le16(e)) {
		case TAG_USER_OBJ:
			perm &= (m >> 6) | ~PERM_RWX;
			put_le16(e + 2, (uint16_t)perm);
			m &= (perm << 6) | ~(PERM_RWX << 6);
			break;
		case TAG_USER:
		case TAG_GROUP:
			not_equiv = 1;
			break;
		case TAG_GROUP_OBJ:
			group_obj = e;
			break;
		case TAG_OTHER:
			perm &= m | ~PERM_RWX;
			put_le16(e + 2, (uint16_t)perm);
			m &= perm | ~PERM_RWX;
			break;
		case TAG_MASK:
			mask = e;
			not_equiv = 1;
			break;
		default:
			return -EINVAL;
		}
	}
	unsigned char *g = mask ? mask : group_obj;
	if (!g)
		return -EINVAL;
	uint32_t gp = get_le16(g + 2) & ((m >> 3) | ~PERM_RWX);
	put_le16(g + 2, (uint16_t)gp);
	m &= (gp << 3) | ~(PERM_RWX << 3);
	*mode = (*mode & ~0777u) | (m & 0777u);
	return not_equiv;
}

int pacl_permission(const void *value, size_t len, uint32_t file_uid, uint32_t file_gid,
		    uint32_t uid, uint32_t gid, uint32_t want)
{
	long n = pacl_count(value, len);
	uint32_t mask = PERM_RWX, other = 0, groups[2];
	int ngroups = 0;
	long user = -1;

	if (n < 0 || pacl_check(value, len) < 0)
		return -EINVAL;
	for (long i = 0; i < n; i++) {
		const unsigned char *e = entry(value, i);
		uint32_t perm = get_le16(e + 2) & PERM_RWX, id = get_le32(e + 4);

		switch (get_le16(e)) {
		case TAG_USER_OBJ:
			if (uid == file_uid)
				return (perm & want) == want ? 0 : -EACCES;
			break;
		case TAG_USER:
			if (id == uid)
				user = (long)perm;
			break;
		case TAG_GROUP_OBJ:
		case TAG_GROUP:
			/* the caller has one group: at most the owning group
			 * and one named entry match */
			if ((get_le16(e) == TAG_GROUP_OBJ ? file_gid : id) == gid && ngroups < 2)
				groups[ngroups++] = perm;
			break;
		case TAG_MASK:
			mask = perm;
			break;
		case TAG_OTHER:
			other = perm;
			break;
		}
	}
	/* named users and groups count through the mask, which the sorted
	 * form puts after them */
	if (user >= 0)
		return ((uint32_t)user & mask & want) == want ? 0 : -EACCES;
	for (int i = 0; i < ngroups; i++)
		if ((groups[i] & mask & want) == want)
			return 0;
	if (ngroups > 0)
		return -EACCES;
	return (other & want) == want ? 0 : -EACCES;
}
