/*
 * feed.h - one capture read once for several shards.
 *
 * Each shard analyses only its own flows but must see every packet (a
 * foreign packet still moves its clock).  Reading the file once per
 * shard cost each of them a quarter of its time on a 300 MB capture:
 * the kernel copy, libpcap's record loop and the frame decoding, all
 * done twice.  Here the decoded TCP segments go into a ring of blocks
 * that every shard reads in order.  No thread is added for it: the
 * shard that first needs a block not yet read reads it, while the
 * others go on with the blocks ahead of them, so the reading is shared
 * too.  A block's slot is filled again once every shard is done with
 * it, which bounds memory whatever the capture's size.
 */
#ifndef SMTPDECODE_FEED_H
#define SMTPDECODE_FEED_H

#include <stddef.h>
#include <stdint.h>

#include <smtpproto/smtpproto.h>

struct feed;

/* What a shard reads: a run of segments, then maybe the end. */
struct feed_block {
	const struct sp_packet	*pkts;
	const uint8_t		*owner;	/* each packet's shard */
	size_t			 npkts;
	/*
	 * SP_E_OK while the capture goes on, else how it stopped after
	 * these packets (SP_E_EOF at its end, or the capture's error).
	 */
	sp_err			 end;
};

/* Which of nshards shards analyses a packet's flow. */
typedef int	feed_owner_fn(const struct sp_packet *, int nshards);

/*
 * A feed over cap (which it does not own) for nshards readers; the
 * reader of a block finds each packet's shard once, for all of them.
 * on_block, when set, is called by whichever shard has just read a
 * block, outside the feed's lock (the progress line).
 */
struct feed *feed_new(sp_capture *cap, int nshards, feed_owner_fn *owner,
		    void (*on_block)(void *), void *ud);
void	feed_free(struct feed *f);

/*
 * The block after the one this shard had (NULL at the start; it is
 * given back).  Blocks come in capture order; NULL when the shard's
 * memory ran out.
 */
const struct feed_block *feed_next(struct feed *f,
		    const struct feed_block *prev);

/*
 * The shard stops before the end (an error, a signal): give back
 * prev and every block still counted for it, so the others go on.
 */
void	feed_leave(struct feed *f, const struct feed_block *prev);

/* How the capture ended: SP_E_OK while it is still being read. */
sp_err	feed_end(struct feed *f);

#endif /* SMTPDECODE_FEED_H */
