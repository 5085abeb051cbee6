/*
 * feed.c - one capture read once for several shards (see feed.h).
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "feed.h"

/*
 * A block closes at 256 KB of payload or 1024 segments, whichever
 * comes first; four slots per shard let a shard run a megabyte ahead
 * of a slower one before it waits.
 */
#ifndef FEED_DATA		/* tests/tools/feed_check makes them small */
#define FEED_DATA	(256u << 10)
#define FEED_PKTS	1024u
#endif
#define FEED_SLOTS	4

struct slot {
	struct feed_block	 b;	/* first: what shards are given */
	uint64_t		 seq;	/* which block of the capture */
	int			 pending; /* shards still to read it */
	struct sp_packet	*pkts;
	uint8_t			*owner;
	uint8_t			*data;
	size_t			 cap;
};

struct feed {
	pthread_mutex_t		 lock;
	pthread_cond_t		 cond;
	sp_capture		*cap;
	int			 nshards, nowners;
	feed_owner_fn		*owner;
	struct slot		*slots;
	size_t			 nslots;
	uint64_t		 filled;	/* blocks read so far */
	bool			 reading;	/* a shard is reading one */
	bool			 ended;		/* the last block is read */
	struct feed_block	 past_end;	/* asked for after the end */
	void			(*on_block)(void *);
	void			*ud;
};

struct feed *
feed_new(sp_capture *cap, int nshards, feed_owner_fn *owner,
    void (*on_block)(void *), void *ud)
{
	struct feed	*f = calloc(1, sizeof(*f));

	if (f == NULL)
		return (NULL);
	f->cap = cap;
	f->nshards = f->nowners = nshards;
	f->owner = owner;
	f->on_block = on_block;
	f->ud = ud;
	f->nslots = (size_t)nshards * FEED_SLOTS;
	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->cond, NULL);
	if ((f->slots = calloc(f->nslots, sizeof(*f->slots))) == NULL)
		goto fail;
	for (size_t i = 0; i < f->nslots; i++) {
		struct slot	*s = &f->slots[i];

		s->cap = FEED_DATA;
		s->pkts = malloc(FEED_PKTS * sizeof(*s->pkts));
		s->owner = malloc(FEED_PKTS);
		s->data = malloc(s->cap);
		if (s->pkts == NULL || s->owner == NULL || s->data == NULL)
			goto fail;
	}
	return (f);
fail:
	feed_free(f);
	return (NULL);
}

void
feed_free(struct feed *f)
{
	if (f == NULL)
		return;
	for (size_t i = 0; f->slots != NULL && i < f->nslots; i++) {
		free(f->slots[i].pkts);
		free(f->slots[i].owner);
		free(f->slots[i].data);
	}
	free(f->slots);
	pthread_cond_destroy(&f->cond);
	pthread_mutex_destroy(&f->lock);
	free(f);
}

/* Room for n more payload bytes; false when memory ran out. */
static bool
room(struct slot *s, size_t used, size_t n)
{
	uint8_t	*p;

	if (n <= s->cap - used)
		return (true);
	/* One segment larger than the rest of the block: grow. */
	if ((p = realloc(s->data, used + n)) == NULL)
		return (false);
	s->data = p;
	s->cap = used + n;
	return (true);
}

/*
 * Read the next block into s, without the lock (nobody else touches
 * s or the capture meanwhile).  Payloads are copied, since libpcap
 * reuses its buffer; while the data buffer may still move they are
 * kept as offsets.
 */
static void
fill(struct feed *f, struct slot *s)
{
	struct sp_packet	*p;
	size_t			 used = 0, n = 0;
	sp_err			 e = SP_E_OK;

	while (n < FEED_PKTS && used < FEED_DATA) {
		p = &s->pkts[n];
		e = sp_capture_next(f->cap, p);
		if (e == SP_E_AGAIN)
			continue;	/* live only: the feed reads files */
		if (e != SP_E_OK)
			break;
		if (!room(s, used, p->payload_len)) {
			e = SP_E_NOMEM;
			break;
		}
		if (p->payload_len > 0)
			memcpy(s->data + used, p->payload, p->payload_len);
		p->payload = (const uint8_t *)(uintptr_t)used;
		used += p->payload_len;
		s->owner[n++] = (uint8_t)f->owner(p, f->nowners);
	}
	for (size_t i = 0; i < n; i++)
		s->pkts[i].payload = s->data + (uintptr_t)s->pkts[i].payload;
	s->b.pkts = s->pkts;
	s->b.owner = s->owner;
	s->b.npkts = n;
	s->b.end = e;
}

/* Give back block seq, under the lock. */
static void
release(struct feed *f, uint64_t seq)
{
	struct slot	*s = &f->slots[seq % f->nslots];

	if (--s->pending == 0)
		pthread_cond_broadcast(&f->cond);
}

/* The first block prev leaves to read: 0 at the start. */
static uint64_t
after(const struct feed *f, const struct feed_block *prev)
{
	if (prev == NULL)
		return (0);
	if (prev == &f->past_end)
		return (UINT64_MAX);
	return (((const struct slot *)prev)->seq + 1);
}

const struct feed_block *
feed_next(struct feed *f, const struct feed_block *prev)
{
	uint64_t		 seq = after(f, prev);
	const struct feed_block	*b = &f->past_end;
	struct slot		*s;

	pthread_mutex_lock(&f->lock);
	if (prev != NULL && prev != &f->past_end)
		release(f, seq - 1);
	while (seq >= f->filled && !f->ended) {
		s = &f->slots[f->filled % f->nslots];
		if (f->reading || s->pending > 0) {
			pthread_cond_wait(&f->cond, &f->lock);
			continue;
		}
		f->reading = true;
		pthread_mutex_unlock(&f->lock);
		fill(f, s);
		if (f->on_block != NULL)
			f->on_block(f->ud);
		pthread_mutex_lock(&f->lock);
		s->seq = f->filled++;
		s->pending = f->nshards;
		f->ended = s->b.end != SP_E_OK;
		f->past_end.end = s->b.end;
		f->reading = false;
		pthread_cond_broadcast(&f->cond);
	}
	/* Nobody reads on after the end; should one ask, it is the end. */
	if (seq < f->filled)
		b = &f->slots[seq % f->nslots].b;
	pthread_mutex_unlock(&f->lock);
	return (b);
}

void
feed_leave(struct feed *f, const struct feed_block *prev)
{
	uint64_t	seq = after(f, prev);

	pthread_mutex_lock(&f->lock);
	/* prev and every block read after it still count this shard. */
	if (prev != NULL && prev != &f->past_end)
		seq--;
	for (; seq < f->filled; seq++)
		release(f, seq);
	f->nshards--;
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->lock);
}

sp_err
feed_end(struct feed *f)
{
	sp_err	e;

	pthread_mutex_lock(&f->lock);
	e = f->past_end.end;
	pthread_mutex_unlock(&f->lock);
	return (e);
}
