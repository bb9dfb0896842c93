/* metalog_record — the records of the metadata log and the rule that
 * decides which of them count (docs/metalog.md).
 *
 * The log is one Kafka partition. Every master reads it with the same
 * pure function, ml_judge(), so all of them agree on who leads and which
 * changes happened, from the order of the records alone:
 *
 *   CLAIM  (epoch, base seq, base chain, id, url)  counts when its epoch is
 *          above the current one and its base is exactly the current
 *          state: the claimer had seen every change that counts;
 *   TXNS   (epoch, base seq, base chain, changesets) counts when written
 *          by the current leader (its epoch) on top of the current state;
 *          its changesets are numbered base+1, base+2, ...;
 *   BEAT   the current leader is alive (its lease, and the standbys'
 *          failure detector);
 *   LEAVE  the current leader stopped cleanly; a standby may claim at
 *          once.
 * Anything else is ignored — in particular every record of a leader that
 * a later claim has replaced, whenever it reaches the log.
 *
 * The chain is a running hash over every change (seq and changeset): two
 * databases at the same seq with the same chain hold the same changes.
 *
 * Wire form, little-endian: "BML1", kind u8, epoch u64, seq u64, chain u64,
 * time_ms i64, id (u16 length + bytes), url (u16 + bytes), ntxn u32, then
 * ntxn times (u32 length + changeset); then an HMAC-SHA256 of all of it
 * with the cluster secret (32 bytes). */
#ifndef BIGFS_MASTER_METALOG_RECORD_H
#define BIGFS_MASTER_METALOG_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ML_ID_MAX 63
#define ML_URL_MAX 255

enum ml_kind { ML_CLAIM = 1, ML_TXNS = 2, ML_BEAT = 3, ML_LEAVE = 4 };

struct ml_record {
	uint8_t kind;
	uint64_t epoch;
	uint64_t seq;              /* the state it builds on */
	uint64_t chain;
	int64_t time_ms;           /* writer's wall clock, for people */
	char id[ML_ID_MAX + 1];    /* writer's master id */
	char url[ML_URL_MAX + 1];  /* where its clients should go */
	uint32_t ntxn;
	const unsigned char *txns; /* ntxn (u32 length, changeset): inside */
	size_t txns_len;           /* the decoded buffer */
};

/* What a reader knows after a prefix of the log. */
struct ml_state {
	uint64_t epoch;            /* 0: nobody ever led */
	uint64_t seq;              /* changes that count so far */
	uint64_t chain;
	bool left;                 /* the leader of `epoch` left cleanly */
	char leader[ML_ID_MAX + 1];
	char url[ML_URL_MAX + 1];
	int64_t offset;            /* last log offset taken into account; -1 */
};

enum ml_verdict {
	ML_IGNORED,                /* counts for nothing */
	ML_NEW_LEADER,             /* a claim that counts: ml_advance */
	ML_APPLY,                  /* changes to apply, then ml_advance */
	ML_ALIVE,                  /* the leader's beat */
	ML_LEFT,                   /* the leader left */
};

void ml_state_init(struct ml_state *s);
enum ml_verdict ml_judge(const struct ml_state *s, const struct ml_record *r);
/* Take a record that counts into s (for ML_APPLY: every change in it, the
 * chain updated); offset is the record's log offset. */
void ml_advance(struct ml_state *s, const struct ml_record *r, int64_t offset);

/* The chain after change seq with changeset cs. */
uint64_t ml_chain_next(uint64_t chain, uint64_t seq, const void *cs, size_t n);

/* Walk a TXNS record's changesets: pos starts at 0; returns 1 with
 * cs and n set, 0 at the end. (Lengths were checked by ml_decode.) */
int ml_txn_next(const struct ml_record *r, size_t *pos, const void **cs, size_t *n);

/* A growing encode buffer. */
struct ml_buf {
	unsigned char *p;
	size_t len, cap;
	size_t ntxn_at;            /* where ntxn is, to patch */
	uint32_t ntxn;
};
/* Header of r (its txns are added with ml_encode_txn). 0 or -ENOMEM. */
int ml_encode_begin(struct ml_buf *b, const struct ml_record *r);
int ml_encode_txn(struct ml_buf *b, const void *cs, size_t n);
/* Patch the count and append the MAC. 0 or -ENOMEM. */
int ml_encode_end(struct ml_buf *b, const void *key, size_t key_len);
void ml_buf_free(struct ml_buf *b);

/* Parse and authenticate; r points into buf. 0, or -EBADMSG (malformed
 * or not signed with this key). */
int ml_decode(const void *buf, size_t len, const void *key, size_t key_len,
	      struct ml_record *r);

/* A state as JSON text (for the database's own record and for checkpoint
 * manifests) and back. ml_state_to_json: malloc'd string or NULL.
 * ml_state_from_json: 0 or -EINVAL. */
char *ml_state_to_json(const struct ml_state *s);
int ml_state_from_json(const char *text, size_t len, struct ml_state *s);

#endif
