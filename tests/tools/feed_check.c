/*
 * feed_check CAPTURE...: smtp-decode's feed (tools/smtp-decode/feed.c,
 * built here with blocks of 4 KB and 16 segments, so that a small
 * capture fills many more blocks than there are slots) against
 * sp_capture_next() on its own.
 *
 * For 1 to 4 shards, each a thread: every shard must see every segment
 * of the capture in order (a hash over time stamp, sequence number and
 * payload, compared with the capture read alone), every segment must
 * have exactly one owner, and the end must be the capture's.  Then the
 * same with shard 1 leaving after 0, 1 and 5 blocks (feed_leave, as a
 * shard does on an error): the others must still finish, and see
 * everything.  An alarm turns a deadlock into a failure.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <smtpproto/smtpproto.h>

#include "feed.h"

#define MAX_SHARDS	4

struct sum {
	uint64_t	hash, packets, owned;
	sp_err		end;
};

static void
mix(uint64_t *h, const void *p, size_t n)
{
	const uint8_t	*b = p;

	for (size_t i = 0; i < n; i++)
		*h = (*h ^ b[i]) * 0x100000001b3ull;	/* FNV-1a */
}

static void
add(struct sum *s, const struct sp_packet *p)
{
	mix(&s->hash, &p->ts, sizeof(p->ts));
	mix(&s->hash, &p->seq, sizeof(p->seq));
	mix(&s->hash, p->payload, p->payload_len);
	s->packets++;
}

static int
owner(const struct sp_packet *p, int n)
{
	return ((int)((p->seq ^ p->sport) % (unsigned)n));
}

struct shard {
	struct feed	*f;
	int		 index;
	int		 leave_after;	/* blocks; -1: never */
	struct sum	 sum;
	pthread_t	 tid;
};

static void *
run(void *arg)
{
	struct shard		*sh = arg;
	const struct feed_block	*b = NULL;
	int			 blocks = 0;

	sh->sum.hash = 0xcbf29ce484222325ull;
	for (;;) {
		if (sh->leave_after >= 0 && blocks == sh->leave_after)
			break;
		b = feed_next(sh->f, b);
		blocks++;
		for (size_t i = 0; i < b->npkts; i++) {
			add(&sh->sum, &b->pkts[i]);
			sh->sum.owned += b->owner[i] == sh->index;
		}
		if (b->end != SP_E_OK) {
			sh->sum.end = b->end;
			break;
		}
	}
	feed_leave(sh->f, b);
	return (NULL);
}

static sp_capture *
open_cap(const char *path)
{
	sp_capture	*c;
	char		 err[256];

	if (sp_capture_open_file(&c, path, NULL, NULL, err, sizeof(err)) !=
	    SP_E_OK) {
		fprintf(stderr, "feed_check: %s\n", err);
		exit(2);
	}
	return (c);
}

/* The capture read alone: what every shard must see. */
static struct sum
alone(const char *path)
{
	sp_capture		*c = open_cap(path);
	struct sp_packet	 p;
	struct sum		 s = { 0xcbf29ce484222325ull, 0, 0, SP_E_OK };

	while ((s.end = sp_capture_next(c, &p)) == SP_E_OK)
		add(&s, &p);
	sp_capture_free(c);
	return (s);
}

static int
check(const char *path, int n, int leaver_after, const struct sum *want)
{
	struct shard	sh[MAX_SHARDS];
	sp_capture	*c = open_cap(path);
	struct feed	*f = feed_new(c, n, owner, NULL, NULL);
	uint64_t	owned = 0;
	int		bad = 0;

	if (f == NULL)
		return (1);
	for (int i = 0; i < n; i++) {
		memset(&sh[i], 0, sizeof(sh[i]));
		sh[i].f = f;
		sh[i].index = i;
		sh[i].leave_after = i == 1 ? leaver_after : -1;
		pthread_create(&sh[i].tid, NULL, run, &sh[i]);
	}
	for (int i = 0; i < n; i++)
		pthread_join(sh[i].tid, NULL);
	for (int i = 0; i < n; i++) {
		owned += sh[i].sum.owned;
		if (sh[i].leave_after >= 0)
			continue;
		if (sh[i].sum.hash != want->hash ||
		    sh[i].sum.packets != want->packets ||
		    sh[i].sum.end != want->end) {
			fprintf(stderr, "feed_check: %s, %d shards, shard %d: "
			    "%llu packets (want %llu), end %d (want %d)%s\n",
			    path, n, i, (unsigned long long)sh[i].sum.packets,
			    (unsigned long long)want->packets, sh[i].sum.end,
			    want->end, sh[i].sum.hash != want->hash ?
			    ", other packets" : "");
			bad = 1;
		}
	}
	if (leaver_after < 0 && owned != want->packets) {
		fprintf(stderr, "feed_check: %s, %d shards: %llu owned of "
		    "%llu\n", path, n, (unsigned long long)owned,
		    (unsigned long long)want->packets);
		bad = 1;
	}
	feed_free(f);
	sp_capture_free(c);
	return (bad);
}

int
main(int argc, char **argv)
{
	static const int	leave[] = { -1, 0, 1, 5 };
	int			bad = 0;

	alarm(30);		/* a deadlock fails the test */
	for (int a = 1; a < argc; a++) {
		struct sum	want = alone(argv[a]);

		for (int n = 1; n <= MAX_SHARDS; n++)
			for (size_t l = 0; l < sizeof(leave) / sizeof(*leave);
			    l++)
				if (leave[l] < 0 || n > 1)
					bad |= check(argv[a], n, leave[l],
					    &want);
		printf("feed_check: %s: %llu segments, every shard saw each "
		    "once, in order%s\n", argv[a],
		    (unsigned long long)want.packets, bad ? " (FAILED)" : "");
	}
	return (bad);
}
