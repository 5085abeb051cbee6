/*
 * tcp_flow_table.c - where the reassembler finds a flow: a chained
 * hash table with a power-of-two bucket count that doubles as flows
 * arrive (never past the first power of two at or above tcp_flows),
 * and the intrusive lists that order flows by activity so timeouts
 * and eviction cost O(1) per packet.
 */
#include "tcp_int.h"

#define TABLE_MIN_BUCKETS	64
#define TABLE_MAX_BUCKETS	((size_t)1 << 26)

sp_err
sp__tcp_table_init(struct tcp_table *t, size_t max_flows,
    const struct sp_allocator *a)
{
	size_t	max = TABLE_MIN_BUCKETS;

	while (max < max_flows && max < TABLE_MAX_BUCKETS)
		max *= 2;
	memset(t, 0, sizeof(*t));
	t->max_buckets = max;
	t->b = sp__calloc(a, TABLE_MIN_BUCKETS, sizeof(*t->b));
	if (t->b == NULL)
		return (SP_E_NOMEM);
	t->mask = TABLE_MIN_BUCKETS - 1;
	return (SP_E_OK);
}

void
sp__tcp_table_free(struct tcp_table *t, const struct sp_allocator *a)
{
	sp__free(a, t->b);
	t->b = NULL;
}

/*
 * Multiply-xorshift over the key's five words.  The key is built in
 * canonical order, so both directions of a flow hash alike.
 */
uint64_t
sp__tcp_key_hash(const struct tcp_key *k)
{
	uint64_t	w[5], h = UINT64_C(0x9e3779b97f4a7c15);

	memcpy(w, k, sizeof(w));
	for (size_t i = 0; i < SP_NELEM(w); i++) {
		h ^= w[i];
		h *= UINT64_C(0xbf58476d1ce4e5b9);
		h ^= h >> 31;
	}
	h *= UINT64_C(0x94d049bb133111eb);
	return (h ^ (h >> 29));
}

struct tcp_flow *
sp__tcp_table_find(const struct tcp_table *t, const struct tcp_key *k,
    uint64_t hash)
{
	struct tcp_flow	*f;

	for (f = t->b[hash & t->mask]; f != NULL; f = f->hnext)
		if (f->hash == hash && memcmp(&f->key, k, sizeof(*k)) == 0)
			return (f);
	return (NULL);
}

/*
 * Double the bucket array.  Failing to allocate is not an error: the
 * chains just grow longer, which costs time, not correctness.
 */
static void
table_grow(struct tcp_table *t, const struct sp_allocator *a)
{
	size_t		  n = (t->mask + 1) * 2;
	struct tcp_flow	**nb, *f, *next;

	nb = sp__calloc(a, n, sizeof(*nb));
	if (nb == NULL)
		return;
	for (size_t i = 0; i <= t->mask; i++) {
		for (f = t->b[i]; f != NULL; f = next) {
			next = f->hnext;
			f->hnext = nb[f->hash & (n - 1)];
			nb[f->hash & (n - 1)] = f;
		}
	}
	sp__free(a, t->b);
	t->b = nb;
	t->mask = n - 1;
}

void
sp__tcp_table_insert(struct tcp_table *t, struct tcp_flow *f,
    const struct sp_allocator *a)
{
	if (t->count >= t->mask + 1 && t->mask + 1 < t->max_buckets)
		table_grow(t, a);
	f->hnext = t->b[f->hash & t->mask];
	t->b[f->hash & t->mask] = f;
	t->count++;
}

void
sp__tcp_table_remove(struct tcp_table *t, struct tcp_flow *f)
{
	struct tcp_flow	**pp = &t->b[f->hash & t->mask];

	while (*pp != NULL && *pp != f)
		pp = &(*pp)->hnext;
	if (SP_NEVER(*pp == NULL))
		return;
	*pp = f->hnext;
	f->hnext = NULL;
	t->count--;
}

void
sp__tcp_list_append(struct tcp_list *l, struct tcp_flow *f)
{
	f->next = NULL;
	f->prev = l->tail;
	if (l->tail != NULL)
		l->tail->next = f;
	else
		l->head = f;
	l->tail = f;
}

void
sp__tcp_list_remove(struct tcp_list *l, struct tcp_flow *f)
{
	if (f->prev != NULL)
		f->prev->next = f->next;
	else
		l->head = f->next;
	if (f->next != NULL)
		f->next->prev = f->prev;
	else
		l->tail = f->prev;
	f->prev = f->next = NULL;
}
