/* Unit tests of master/posix_acl: parsing of ACL xattr values (valid
 * ones, wrong version, truncated, unsorted or duplicate entries, missing
 * mask or required entries, bad tags and permissions), the mode an access
 * ACL implies, chmod on an ACL, and creation from a default ACL; then the
 * permissions the resulting ACLs give to the owner, a named user, the
 * owning group, a named group and others, evaluated with the POSIX.1e
 * access check (acl_access below, as the kernel's posix_acl_permission:
 * posix_acl.c leaves the check itself to the kernel). Last, through the
 * namespace, the inheritance of a directory's default ACL by new files
 * and directories, with the umask ignored there and applied elsewhere. */
#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "../../master/posix_acl.h"
#include "log.h"
#include "ns_fixture.h"

#define UO 0x01    /* ACL_USER_OBJ */
#define US 0x02    /* ACL_USER */
#define GO 0x04    /* ACL_GROUP_OBJ */
#define GR 0x08    /* ACL_GROUP */
#define MA 0x10    /* ACL_MASK */
#define OT 0x20    /* ACL_OTHER */
#define NOID 0xffffffffu

#define OWNER 1000
#define GROUP 100
#define BOB 1001
#define EVE 1002
#define STAFF 200

struct ent {
	uint16_t tag, perm;
	uint32_t id;
};

struct blob {
	unsigned char b[4 + 8 * 16];
	size_t len;
};

static void put16(unsigned char *p, uint16_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
}

static void put32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint16_t get16(const unsigned char *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

/* The kernel's xattr form of n entries, version 2. */
static struct blob mk(const struct ent *e, size_t n)
{
	struct blob x;
	memset(&x, 0, sizeof(x));
	put32(x.b, 2);
	for (size_t i = 0; i < n; i++) {
		put16(x.b + 4 + 8 * i, e[i].tag);
		put16(x.b + 4 + 8 * i + 2, e[i].perm);
		put32(x.b + 4 + 8 * i + 4, e[i].id);
	}
	x.len = 4 + 8 * n;
	return x;
}

#define MK(...) ({ const struct ent e_[] = { __VA_ARGS__ }; mk(e_, sizeof(e_) / sizeof(e_[0])); })

/* Permission of entry tag (and id for US/GR) in an ACL blob, or -1. */
static int perm_of(const void *v, size_t len, uint16_t tag, uint32_t id)
{
	const unsigned char *p = v;
	for (size_t off = 4; off + 8 <= len; off += 8)
		if (get16(p + off) == tag && ((tag != US && tag != GR) || get32(p + off + 4) == id))
			return get16(p + off + 2);
	return -1;
}

/* POSIX.1e access check of a process (uid, its groups) asking for want
 * (r=4, w=2, x=1) against an ACL owned by (owner, group): true if
 * granted. */
static bool acl_access(const void *v, size_t len, uint32_t owner, uint32_t group, uint32_t uid,
		       const uint32_t *gids, size_t ngids, int want)
{
	const unsigned char *p = v;
	int mask = perm_of(v, len, MA, 0);
	bool group_matched = false;

	if (uid == owner)
		return (perm_of(v, len, UO, 0) & want) == want;
	int u = perm_of(v, len, US, uid);
	if (u >= 0)
		return (u & (mask >= 0 ? mask : 7) & want) == want;
	for (size_t off = 4; off + 8 <= len; off += 8) {
		uint16_t tag = get16(p + off);
		uint32_t id = tag == GO ? group : get32(p + off + 4);
		if (tag != GO && tag != GR)
			continue;
		bool member = false;
		for (size_t i = 0; i < ngids; i++)
			member |= gids[i] == id;
		if (!member)
			continue;
		group_matched = true;
		int gp = get16(p + off + 2) & (mask >= 0 ? mask : 7);
		if ((gp & want) == want)
			return true;
	}
	if (group_matched)
		return false;
	return (perm_of(v, len, OT, 0) & want) == want;
}

/* rwx string of what each class gets, tried bit by bit:
 * "owner|bob|group member|staff member|other". */
static void expect_access(const struct blob *x, const char *want)
{
	static const uint32_t g_group[] = { GROUP }, g_staff[] = { STAFF }, g_none[] = { 5 };
	struct who {
		uint32_t uid;
		const uint32_t *gids;
	} who[] = {
		{ OWNER, g_none }, { BOB, g_none }, { EVE, g_group }, { EVE, g_staff },
		{ EVE, g_none },
	};
	char got[64] = "";
	for (size_t w = 0; w < 5; w++) {
		char s[5] = "---|";
		if (acl_access(x->b, x->len, OWNER, GROUP, who[w].uid, who[w].gids, 1, 4))
			s[0] = 'r';
		if (acl_access(x->b, x->len, OWNER, GROUP, who[w].uid, who[w].gids, 1, 2))
			s[1] = 'w';
		if (acl_access(x->b, x->len, OWNER, GROUP, who[w].uid, who[w].gids, 1, 1))
			s[2] = 'x';
		if (w == 4)
			s[3] = '\0';
		strcat(got, s);
	}
	assert_string_equal(got, want);
}

/* ---- parsing ------------------------------------------------------------- */

static void test_check_valid(void **state)
{
	(void)state;
	struct blob x = MK({ UO, 6, NOID }, { GO, 4, NOID }, { OT, 4, NOID });
	assert_int_equal(pacl_check(x.b, x.len), 0);
	x = MK({ UO, 7, NOID }, { US, 7, BOB }, { US, 5, EVE }, { GO, 5, NOID },
	       { GR, 7, STAFF }, { MA, 7, NOID }, { OT, 0, NOID });
	assert_int_equal(pacl_check(x.b, x.len), 0);
	/* a mask with no named entries is allowed */
	x = MK({ UO, 7, NOID }, { GO, 5, NOID }, { MA, 1, NOID }, { OT, 0, NOID });
	assert_int_equal(pacl_check(x.b, x.len), 0);
	/* no entries: "no ACL" */
	x = mk(NULL, 0);
	assert_int_equal(x.len, 4);
	assert_int_equal(pacl_check(x.b, x.len), 0);
	assert_true(pacl_is_acl_name("system.posix_acl_access"));
	assert_true(pacl_is_acl_name("system.posix_acl_default"));
	assert_false(pacl_is_acl_name("system.posix_acl"));
	assert_false(pacl_is_acl_name("user.posix_acl_access"));
}

static void test_check_invalid(void **state)
{
	(void)state;
	struct blob good = MK({ UO, 7, NOID }, { US, 7, BOB }, { GO, 5, NOID }, { MA, 7, NOID },
			      { OT, 0, NOID });
	struct blob x;

	/* wrong version */
	x = good;
	put32(x.b, 1);
	assert_int_equal(pacl_check(x.b, x.len), -EINVAL);
	put32(x.b, 3);
	assert_int_equal(pacl_check(x.b, x.len), -EINVAL);
	/* truncated: inside an entry, inside the header, nothing */
	assert_int_equal(pacl_check(good.b, good.len - 1), -EINVAL);
	assert_int_equal(pacl_check(good.b, good.len - 4), -EINVAL);
	assert_int_equal(pacl_check(good.b, 3), -EINVAL);
	assert_int_equal(pacl_check(good.b, 0), -EINVAL);
	/* ... and one whole entry less: no "other" entry */
	assert_int_equal(pacl_check(good.b, good.len - 8), -EINVAL);
	/* named users unsorted, duplicated */
	x = MK({ UO, 7, NOID }, { US, 7, EVE }, { US, 7, BOB }, { GO, 5, NOID }, { MA, 7, NOID },
	       { OT, 0, NOID });
	assert_int_equal(pacl_check(x.b, x.len), -EINVAL);
	x = MK({ UO, 7, NOID }, { US, 7, BOB }, { US, 4, BOB }, { GO, 5, NOID }, { MA, 7, NOID },
	       { OT, 0, NOID });
	assert_int_equal(pacl_check(x.b, x.len), -EINVAL);
	/* named groups unsorted, duplicated */
	x = MK({ UO, 7, NOID }, { GO, 5, NOID }, { GR, 7, 300 }, { GR, 7, STAFF }, { MA, 7, NOID },
	       { OT, 0, NOID });
	assert_int_equal(pacl_check(x.b, x.len), -EINVAL);
	x = MK({ UO, 7, NOID }, { GO, 5, NOID }, { GR, 7, STAFF }, { GR, 7, STAFF },
	       { MA, 7, NOID }, { OT, 0, NOID });
	assert_int_equal(pacl_check(x.b, x.len), -EINVAL);
	/* named entries need a mask */
	x = MK({ UO, 7, NOID }, { US, 7, BOB }, { GO, 5, NOID }, { OT, 0, NOID });
	assert_int_equal(pacl_check(x.b, x.len), -EINVAL);
	x = MK({ UO, 7, NOID }, { GO, 5, NOID }, { GR, 7, STAFF }, { OT, 0, NOID });
	assert_int_equal(pacl_check(x.b, x.len), -EINVAL);
	/* required entries missing, repeated or out of order */
	x = MK({ GO, 5, NOID }, { OT, 0, NOID });
	assert_int_equal(pacl_check(x.b, x.len), -EINVAL);
	x = MK({ UO, 7, NOID }, { OT, 0, NOID });
	assert_int_equal(pacl_check(x.b, x.len), -EINVAL);
	x = MK({ UO, 7, NOID }, { GO, 5, NOID });
	assert_int_equal(pacl_check(x.b, x.len), -EINVAL);
	x = MK({ UO, 7, NOID }, { UO, 7, NOID }, { GO, 5, NOID }, { OT, 0, NOID });
	assert_int_equal(pacl_check(x.b, x.len), -EINVAL);
	x = MK({ UO, 7, NOID }, { GO, 5, NOID }, { OT, 0, NOID }, { OT, 0, NOID });
	assert_int_equal(pacl_check(x.b, x.len), -EINVAL);
	x = MK({ UO, 7, NOID }, { GO, 5, NOID }, { US, 7, BOB }, { MA, 7, NOID }, { OT, 0, NOID });
	assert_int_equal(pacl_check(x.b, x.len), -EINVAL);
	x = MK({ UO, 7, NOID }, { GO, 5, NOID }, { OT, 0, NOID }, { MA, 7, NOID });
	assert_int_equal(pacl_check(x.b, x.len), -EINVAL);
	/* unknown tag, permission bits beyond rwx */
	x = MK({ UO, 7, NOID }, { 0x40, 7, NOID }, { GO, 5, NOID }, { OT, 0, NOID });
	assert_int_equal(pacl_check(x.b, x.len), -EINVAL);
	x = MK({ UO, 8, NOID }, { GO, 5, NOID }, { OT, 0, NOID });
	assert_int_equal(pacl_check(x.b, x.len), -EINVAL);
	/* the other functions refuse what pacl_check refuses */
	uint32_t mode = S_IFREG | 0644;
	x = MK({ UO, 7, NOID }, { US, 7, BOB }, { GO, 5, NOID }, { OT, 0, NOID });
	assert_int_equal(pacl_equiv_mode(x.b, x.len, &mode), -EINVAL);
	assert_int_equal(mode, S_IFREG | 0644);
	assert_int_equal(pacl_chmod(x.b, x.len, 0600), -EINVAL);
	assert_int_equal(pacl_create_masq(x.b, x.len, &mode), -EINVAL);
	assert_int_equal(mode, S_IFREG | 0644);
	/* creation from an empty default ACL is no creation from an ACL */
	x = mk(NULL, 0);
	assert_int_equal(pacl_create_masq(x.b, x.len, &mode), -EINVAL);
}

/* ---- mode and permissions ------------------------------------------------- */

static void test_equiv_mode(void **state)
{
	(void)state;
	uint32_t mode = S_IFREG | S_ISUID | 0777;
	struct blob x = MK({ UO, 6, NOID }, { GO, 4, NOID }, { OT, 0, NOID });
	assert_int_equal(pacl_equiv_mode(x.b, x.len, &mode), 0);     /* the mode says it all */
	assert_int_equal(mode, S_IFREG | S_ISUID | 0640);
	/* with a mask the group bits of the mode are the mask's */
	x = MK({ UO, 7, NOID }, { US, 7, BOB }, { GO, 5, NOID }, { MA, 4, NOID }, { OT, 1, NOID });
	mode = S_IFDIR | 0;
	assert_int_equal(pacl_equiv_mode(x.b, x.len, &mode), 1);
	assert_int_equal(mode, S_IFDIR | 0741);
	/* a mask alone also needs the ACL */
	x = MK({ UO, 7, NOID }, { GO, 5, NOID }, { MA, 1, NOID }, { OT, 0, NOID });
	mode = S_IFREG;
	assert_int_equal(pacl_equiv_mode(x.b, x.len, &mode), 1);
	assert_int_equal(mode, S_IFREG | 0710);
	/* an empty ACL says nothing: the mode stays */
	x = mk(NULL, 0);
	mode = S_IFREG | 0604;
	assert_int_equal(pacl_equiv_mode(x.b, x.len, &mode), 0);
	assert_int_equal(mode, S_IFREG | 0604);
}

static void test_permissions_with_mask(void **state)
{
	(void)state;
	/* owner rw, bob rwx, owning group r-x, staff -wx, mask rwx, other r */
	struct blob x = MK({ UO, 6, NOID }, { US, 7, BOB }, { GO, 5, NOID }, { GR, 3, STAFF },
			   { MA, 7, NOID }, { OT, 4, NOID });
	assert_int_equal(pacl_check(x.b, x.len), 0);
	expect_access(&x, "rw-|rwx|r-x|-wx|r--");
	/* chmod 0640: the mask becomes r--, which limits bob and the groups,
	 * not the owner nor others; the named entries keep their bits */
	assert_int_equal(pacl_chmod(x.b, x.len, S_IFREG | 0640), 0);
	assert_int_equal(pacl_check(x.b, x.len), 0);
	assert_int_equal(perm_of(x.b, x.len, UO, 0), 6);
	assert_int_equal(perm_of(x.b, x.len, MA, 0), 4);
	assert_int_equal(perm_of(x.b, x.len, GO, 0), 5);
	assert_int_equal(perm_of(x.b, x.len, US, BOB), 7);
	assert_int_equal(perm_of(x.b, x.len, OT, 0), 0);
	expect_access(&x, "rw-|r--|r--|---|---");
	/* chmod 0175 */
	assert_int_equal(pacl_chmod(x.b, x.len, 0175), 0);
	expect_access(&x, "--x|rwx|r-x|-wx|r-x");
	uint32_t mode = S_IFREG;
	assert_int_equal(pacl_equiv_mode(x.b, x.len, &mode), 1);
	assert_int_equal(mode, S_IFREG | 0175);
	/* no mask: chmod sets the owning group entry itself */
	x = MK({ UO, 7, NOID }, { GO, 7, NOID }, { OT, 7, NOID });
	assert_int_equal(pacl_chmod(x.b, x.len, 0751), 0);
	assert_int_equal(perm_of(x.b, x.len, GO, 0), 5);
	expect_access(&x, "rwx|--x|r-x|--x|--x");
}

/* pacl_permission (the master's check of a mapped caller, one group)
 * agrees with the reference model above for every class and request. */
static void test_permission_matches_model(void **state)
{
	(void)state;
	struct blob acls[] = {
		MK({ UO, 6, NOID }, { US, 7, BOB }, { GO, 5, NOID }, { GR, 3, STAFF },
		   { MA, 7, NOID }, { OT, 4, NOID }),
		MK({ UO, 6, NOID }, { US, 7, BOB }, { GO, 5, NOID }, { GR, 3, STAFF },
		   { MA, 4, NOID }, { OT, 0, NOID }),
		MK({ UO, 0, NOID }, { GO, 7, NOID }, { OT, 1, NOID }),
		MK({ UO, 7, NOID }, { US, 0, BOB }, { GO, 0, NOID }, { GR, 6, GROUP },
		   { MA, 2, NOID }, { OT, 7, NOID }),
	};
	const uint32_t uids[] = { OWNER, BOB, EVE }, gids[] = { GROUP, STAFF, 5 };
	for (size_t a = 0; a < sizeof(acls) / sizeof(acls[0]); a++) {
		assert_int_equal(pacl_check(acls[a].b, acls[a].len), 0);
		for (size_t u = 0; u < 3; u++)
			for (size_t g = 0; g < 3; g++)
				for (uint32_t want = 1; want <= 7; want++) {
					bool model = acl_access(acls[a].b, acls[a].len, OWNER, GROUP,
								uids[u], &gids[g], 1, (int)want);
					int rc = pacl_permission(acls[a].b, acls[a].len, OWNER, GROUP,
								 uids[u], gids[g], want);
					assert_int_equal(rc, model ? 0 : -EACCES);
				}
	}
	/* malformed */
	unsigned char bad[5] = { 2, 0, 0, 0, 1 };
	assert_int_equal(pacl_permission(bad, sizeof(bad), 1, 1, 2, 2, 4), -EINVAL);
}

static void test_create_from_default(void **state)
{
	(void)state;
	const struct blob dflt = MK({ UO, 7, NOID }, { US, 7, BOB }, { GO, 5, NOID },
				    { GR, 6, STAFF }, { MA, 7, NOID }, { OT, 5, NOID });
	/* a file asked for with 0666 */
	struct blob x = dflt;
	uint32_t mode = S_IFREG | 0666;
	assert_int_equal(pacl_create_masq(x.b, x.len, &mode), 1);
	assert_int_equal(mode, S_IFREG | 0664);
	assert_int_equal(pacl_check(x.b, x.len), 0);
	assert_int_equal(perm_of(x.b, x.len, UO, 0), 6);
	assert_int_equal(perm_of(x.b, x.len, MA, 0), 6);
	assert_int_equal(perm_of(x.b, x.len, OT, 0), 4);
	assert_int_equal(perm_of(x.b, x.len, US, BOB), 7);      /* kept, masked */
	expect_access(&x, "rw-|rw-|r--|rw-|r--");
	/* a directory asked for with 0777 keeps the default's bits */
	x = dflt;
	mode = S_IFDIR | 0777;
	assert_int_equal(pacl_create_masq(x.b, x.len, &mode), 1);
	assert_int_equal(mode, S_IFDIR | 0775);
	expect_access(&x, "rwx|rwx|r-x|rw-|r-x");
	/* a mode of 0600 restricts every class */
	x = dflt;
	mode = S_IFREG | 0600;
	assert_int_equal(pacl_create_masq(x.b, x.len, &mode), 1);
	assert_int_equal(mode, S_IFREG | 0600);
	expect_access(&x, "rw-|---|---|---|---");
	/* a default ACL the mode can say: equivalent (no access ACL stored) */
	x = MK({ UO, 7, NOID }, { GO, 5, NOID }, { OT, 0, NOID });
	mode = S_IFREG | 0666;
	assert_int_equal(pacl_create_masq(x.b, x.len, &mode), 0);
	assert_int_equal(mode, S_IFREG | 0640);
	assert_int_equal(perm_of(x.b, x.len, GO, 0), 4);
}

/* ---- inheritance through the namespace ------------------------------------ */

static int ns_setup(void **state)
{
	struct ns_fixture *f = calloc(1, sizeof(*f));
	log_init("test_posix_acl", true, LOG_ERR);
	if (!f || nsf_setup(f, "acl") < 0)
		return -1;
	*state = f;
	return 0;
}

static int ns_teardown(void **state)
{
	struct ns_fixture *f = *state;
	nsf_teardown(f);
	free(f);
	return 0;
}

/* The stored xattr name of ino, or a blob of length 0 when absent. */
static struct blob get_acl(struct ns_fixture *f, uint64_t ino, const char *name)
{
	struct blob x;
	void *v = NULL;
	size_t len = 0;
	memset(&x, 0, sizeof(x));
	int rc = ns_getxattr(f->ns, ino, name, &v, &len);
	if (rc == -ENODATA)
		return x;
	assert_int_equal(rc, 0);
	assert_true(len <= sizeof(x.b));
	memcpy(x.b, v, len);
	x.len = len;
	free(v);
	return x;
}

static void test_inheritance_and_umask(void **state)
{
	struct ns_fixture *f = *state;
	struct ns_attr d, a;
	bool created;

	assert_int_equal(ns_mkdir(f->ns, 1, "d", 0777, OWNER, GROUP, 022, &d), 0);
	assert_int_equal(d.mode & 07777, 0755);                     /* no default ACL: umask */
	const struct blob dflt = MK({ UO, 7, NOID }, { US, 7, BOB }, { GO, 5, NOID },
				    { MA, 7, NOID }, { OT, 5, NOID });
	assert_int_equal(ns_setxattr(f->ns, d.ino, PACL_DEFAULT, dflt.b, dflt.len, 0), 0);
	/* a file: the default ACL masked by 0666; the umask 077 is ignored */
	assert_int_equal(ns_create(f->ns, d.ino, "f", S_IFREG | 0666, OWNER, GROUP, 077, true, &a,
				   &created), 0);
	assert_true(created);
	assert_int_equal(a.mode & 07777, 0664);
	struct blob acc = get_acl(f, a.ino, PACL_ACCESS);
	assert_int_equal(acc.len, dflt.len);
	expect_access(&acc, "rw-|rw-|r--|r--|r--");
	assert_int_equal(get_acl(f, a.ino, PACL_DEFAULT).len, 0);  /* files get none */
	/* a directory: the access ACL and the default ACL again */
	assert_int_equal(ns_mkdir(f->ns, d.ino, "sub", 0777, OWNER, GROUP, 077, &a), 0);
	assert_int_equal(a.mode & 07777, 0775);
	acc = get_acl(f, a.ino, PACL_ACCESS);
	expect_access(&acc, "rwx|rwx|r-x|r-x|r-x");
	struct blob inh = get_acl(f, a.ino, PACL_DEFAULT);
	assert_int_equal(inh.len, dflt.len);
	assert_memory_equal(inh.b, dflt.b, dflt.len);
	/* and one level further down */
	uint64_t sub = a.ino;
	assert_int_equal(ns_create(f->ns, sub, "g", S_IFREG | 0640, OWNER, GROUP, 0, true, &a,
				   &created), 0);
	assert_int_equal(a.mode & 07777, 0640);
	acc = get_acl(f, a.ino, PACL_ACCESS);
	expect_access(&acc, "rw-|r--|r--|---|---");
	/* outside the directory the umask applies again */
	assert_int_equal(ns_create(f->ns, 1, "h", S_IFREG | 0666, OWNER, GROUP, 027, true, &a,
				   &created), 0);
	assert_int_equal(a.mode & 07777, 0640);
	assert_int_equal(get_acl(f, a.ino, PACL_ACCESS).len, 0);
	/* a default ACL the mode says entirely stores no access ACL */
	const struct blob plain = MK({ UO, 7, NOID }, { GO, 0, NOID }, { OT, 0, NOID });
	assert_int_equal(ns_mkdir(f->ns, 1, "p", 0755, OWNER, GROUP, 0, &d), 0);
	assert_int_equal(ns_setxattr(f->ns, d.ino, PACL_DEFAULT, plain.b, plain.len, 0), 0);
	assert_int_equal(ns_create(f->ns, d.ino, "f", S_IFREG | 0666, OWNER, GROUP, 0, true, &a,
				   &created), 0);
	assert_int_equal(a.mode & 07777, 0600);
	assert_int_equal(get_acl(f, a.ino, PACL_ACCESS).len, 0);
	/* a malformed default ACL is refused; on a file it is EACCES */
	struct blob bad = dflt;
	put32(bad.b, 1);
	assert_int_equal(ns_setxattr(f->ns, d.ino, PACL_DEFAULT, bad.b, bad.len, 0), -EINVAL);
	assert_int_equal(ns_setxattr(f->ns, a.ino, PACL_DEFAULT, dflt.b, dflt.len, 0), -EACCES);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_check_valid),
		cmocka_unit_test(test_check_invalid),
		cmocka_unit_test(test_equiv_mode),
		cmocka_unit_test(test_permissions_with_mask),
		cmocka_unit_test(test_permission_matches_model),
		cmocka_unit_test(test_create_from_default),
		cmocka_unit_test_setup_teardown(test_inheritance_and_umask, ns_setup, ns_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
