/*
 * jv.c - JSON value trees in an arena (see jv.h), their conversion to
 * json-c and their NDJSON writer.
 */
#include <stdlib.h>
#include <string.h>

#include "jsonutil.h"
#include "jv.h"
#include "ndjw.h"

/* Chunks grow from the first (which holds the arena) up to this size. */
#define JV_FIRST	1024
#define JV_MAX_CHUNK	65536
/* One value's bytes at most (json-c's strings stop at INT_MAX). */
#define JV_MAX_ALLOC	((size_t)64 << 20)
#define JV_ALIGN	8

struct jv_chunk {
	struct jv_chunk	*next;
	size_t		 size, used;
};

struct jv_arena {
	struct jv_chunk	*chunk;		/* the newest: allocations come from it */
	struct jv_arena	*kids, *sibling;
	size_t		 next_size;
};

struct jv_member {
	const char		*key;	/* NULL in arrays */
	struct jv		*v;	/* NULL: null */
	struct jv_member	*next;
};

struct jv {
	enum jv_type	t;
	union {
		int		 b;
		int64_t		 i;
		uint64_t	 u;
		struct {
			const char	*p;
			size_t		 n;
		} s;			/* strings; doubles keep their text */
		struct {
			struct jv_member *head, *tail;
			size_t		 n;
			/* Members come from the container's own arena. */
			struct jv_arena	*a;
			uint64_t	 keys;	/* key_bit() of every key */
		} c;
	} u;
};

#define ROUND(n)	(((n) + JV_ALIGN - 1) & ~(size_t)(JV_ALIGN - 1))
#define CHUNK_HDR	ROUND(sizeof(struct jv_chunk))

struct jv_arena *
jv_arena_new(void)
{
	struct jv_chunk	*c = malloc(JV_FIRST);
	struct jv_arena	*a;

	if (c == NULL)
		return (NULL);
	c->next = NULL;
	c->size = JV_FIRST;
	/* The arena itself is the first chunk's first allocation. */
	a = (struct jv_arena *)((char *)c + CHUNK_HDR);
	c->used = CHUNK_HDR + ROUND(sizeof(*a));
	a->chunk = c;
	a->kids = a->sibling = NULL;
	a->next_size = 2 * JV_FIRST;
	return (a);
}

void
jv_arena_free(struct jv_arena *a)
{
	struct jv_arena	*k, *nk;
	struct jv_chunk	*c, *nc;

	if (a == NULL)
		return;
	for (k = a->kids; k != NULL; k = nk) {
		nk = k->sibling;
		jv_arena_free(k);
	}
	/* The oldest chunk holds a: it goes last. */
	for (c = a->chunk; c != NULL; c = nc) {
		nc = c->next;
		free(c);
	}
}

void
jv_arena_adopt(struct jv_arena *parent, struct jv_arena *child)
{
	if (child == NULL)
		return;
	if (parent == NULL) {
		jv_arena_free(child);
		return;
	}
	child->sibling = parent->kids;
	parent->kids = child;
}

static void *
jv_alloc(struct jv_arena *a, size_t n)
{
	struct jv_chunk	*c;
	size_t		 size;
	void		*p;

	if (a == NULL || n > JV_MAX_ALLOC)
		return (NULL);
	n = ROUND(n);
	c = a->chunk;
	if (n > c->size - c->used) {
		size = MAX(a->next_size, CHUNK_HDR + n);
		if ((c = malloc(size)) == NULL)
			return (NULL);
		c->size = size;
		c->used = CHUNK_HDR;
		c->next = a->chunk;
		a->chunk = c;
		a->next_size = MIN(a->next_size * 2, JV_MAX_CHUNK);
	}
	p = (char *)c + c->used;
	c->used += n;
	return (p);
}

static struct jv *
jv_new(struct jv_arena *a, enum jv_type t)
{
	struct jv	*v = jv_alloc(a, sizeof(*v));

	if (v != NULL)
		v->t = t;
	return (v);
}

struct jv *
jv_object(struct jv_arena *a)
{
	struct jv	*v = jv_new(a, JV_OBJECT);

	if (v != NULL) {
		v->u.c.head = v->u.c.tail = NULL;
		v->u.c.n = 0;
		v->u.c.a = a;
		v->u.c.keys = 0;
	}
	return (v);
}

struct jv *
jv_array(struct jv_arena *a)
{
	struct jv	*v = jv_object(a);

	if (v != NULL)
		v->t = JV_ARRAY;
	return (v);
}

/* A NUL-terminated copy of n bytes in the arena. */
static char *
jv_copy(struct jv_arena *a, const char *s, size_t n)
{
	char	*p;

	if (n == SIZE_MAX || (p = jv_alloc(a, n + 1)) == NULL)
		return (NULL);
	memcpy(p, s, n);
	p[n] = '\0';
	return (p);
}

struct jv *
jv_strn(struct jv_arena *a, const char *s, size_t n)
{
	struct jv	*v = jv_new(a, JV_STRING);

	if (v == NULL || (v->u.s.p = jv_copy(a, s, n)) == NULL)
		return (NULL);
	v->u.s.n = n;
	return (v);
}

struct jv *
jv_str(struct jv_arena *a, const char *s)
{
	return (jv_strn(a, s, strlen(s)));
}

struct jv *
jv_bytes(struct jv_arena *a, const uint8_t *p, size_t n)
{
	struct jv	*v;
	char		*buf;

	if (wire_plain(p, n))
		return (jv_strn(a, (const char *)p, n));
	if (n > (SIZE_MAX - 1) / 4)
		return (jv_strn(a, "", 0));
	/* Worst case: every byte becomes \xNN; the rest stays unused. */
	if ((v = jv_new(a, JV_STRING)) == NULL ||
	    (buf = jv_alloc(a, n * 4 + 1)) == NULL)
		return (NULL);
	v->u.s.n = wire_text(buf, p, n);
	buf[v->u.s.n] = '\0';
	v->u.s.p = buf;
	return (v);
}

struct jv *
jv_int(struct jv_arena *a, int64_t i)
{
	struct jv	*v = jv_new(a, JV_INT);

	if (v != NULL)
		v->u.i = i;
	return (v);
}

struct jv *
jv_uint(struct jv_arena *a, uint64_t u)
{
	struct jv	*v = jv_new(a, JV_UINT);

	if (v != NULL)
		v->u.u = u;
	return (v);
}

struct jv *
jv_bool(struct jv_arena *a, int b)
{
	struct jv	*v = jv_new(a, JV_BOOL);

	if (v != NULL)
		v->u.b = b != 0;
	return (v);
}

struct jv *
jv_ts(struct jv_arena *a, sp_ts ts)
{
	char		 buf[48];
	size_t		 n = ts_text(ts, buf, sizeof(buf));
	struct jv	*v = jv_strn(a, buf, n);

	if (v != NULL)
		v->t = JV_DOUBLE;
	return (v);
}

enum jv_type
jv_type(const struct jv *v)
{
	return (v->t);
}

/* --- Containers. --- */

/*
 * One of 64 bits for a key, from its first two bytes: an object keeps
 * the OR of its keys' bits, so that adding a new key (nearly every
 * jv_add) mostly skips the walk over the members.
 */
static uint64_t
key_bit(const char *k)
{
	unsigned	h = (unsigned char)k[0];

	if (h != 0)
		h = h * 31 + (unsigned char)k[1];
	return ((uint64_t)1 << (h & 63));
}

static struct jv_member *
find(const struct jv *o, const char *key)
{
	if (o == NULL || o->t != JV_OBJECT || !(o->u.c.keys & key_bit(key)))
		return (NULL);
	/* Keys are mostly literals, short and distinct in the first byte. */
	for (struct jv_member *m = o->u.c.head; m != NULL; m = m->next)
		if (m->key == key || (m->key[0] == key[0] &&
		    strcmp(m->key, key) == 0))
			return (m);
	return (NULL);
}

static void
append(struct jv *c, const char *key, struct jv *v)
{
	struct jv_member	*m = jv_alloc(c->u.c.a, sizeof(*m));

	if (m == NULL)
		return;
	m->key = key;
	m->v = v;
	m->next = NULL;
	if (key != NULL)
		c->u.c.keys |= key_bit(key);
	if (c->u.c.tail != NULL)
		c->u.c.tail->next = m;
	else
		c->u.c.head = m;
	c->u.c.tail = m;
	c->u.c.n++;
}

void
jv_add(struct jv *o, const char *key, struct jv *v)
{
	struct jv_member	*m;

	if (o == NULL || v == NULL || o->t != JV_OBJECT)
		return;
	if ((m = find(o, key)) != NULL) {
		m->v = v;
		return;
	}
	append(o, key, v);
}

void
jv_put(struct jv *o, const char *key, struct jv *v)
{
	struct jv_member	*m;
	const char		*k;

	if (o == NULL || o->t != JV_OBJECT)
		return;
	if ((m = find(o, key)) != NULL) {
		m->v = v;
		return;
	}
	if ((k = jv_copy(o->u.c.a, key, strlen(key))) != NULL)
		append(o, k, v);
}

struct jv *
jv_get(const struct jv *o, const char *key)
{
	struct jv_member	*m = find(o, key);

	return (m != NULL ? m->v : NULL);
}

int
jv_has(const struct jv *o, const char *key)
{
	return (find(o, key) != NULL);
}

void
jv_push(struct jv *arr, struct jv *v)
{
	if (arr != NULL && arr->t == JV_ARRAY)
		append(arr, NULL, v);
}

size_t
jv_len(const struct jv *c)
{
	return (c != NULL && (c->t == JV_ARRAY || c->t == JV_OBJECT) ?
	    c->u.c.n : 0);
}

struct jv *
jv_last(const struct jv *arr)
{
	return (arr != NULL && arr->t == JV_ARRAY && arr->u.c.tail != NULL ?
	    arr->u.c.tail->v : NULL);
}

const struct jv_member *
jv_first(const struct jv *c)
{
	return (c != NULL && (c->t == JV_ARRAY || c->t == JV_OBJECT) ?
	    c->u.c.head : NULL);
}

const struct jv_member *
jv_next(const struct jv_member *m)
{
	return (m->next);
}

const char *
jv_key(const struct jv_member *m)
{
	return (m->key);
}

struct jv *
jv_val(const struct jv_member *m)
{
	return (m->v);
}

/* --- To json-c. --- */

/* The number a jv_ts() text stands for: microseconds / 1e6. */
static double
ts_value(const char *text)
{
	uint64_t	us = 0;

	for (const char *p = text; *p != '\0'; p++)
		if (*p >= '0' && *p <= '9')
			us = us * 10 + (uint64_t)(*p - '0');
	return ((double)us / 1e6);
}

json_object *
jv_to_json(const struct jv *v)
{
	json_object	*o;

	if (v == NULL)
		return (NULL);
	switch (v->t) {
	case JV_BOOL:	return (json_object_new_boolean(v->u.b));
	case JV_INT:	return (json_object_new_int64(v->u.i));
	case JV_UINT:	return (json_object_new_uint64(v->u.u));
	case JV_DOUBLE:
		return (json_object_new_double_s(ts_value(v->u.s.p),
		    v->u.s.p));
	case JV_STRING:
		return (json_object_new_string_len(v->u.s.p,
		    (int)MIN(v->u.s.n, (size_t)INT32_MAX)));
	case JV_ARRAY:
		o = json_object_new_array_ext((int)MIN(v->u.c.n, 1024));
		for (const struct jv_member *m = v->u.c.head; m; m = m->next)
			json_object_array_add(o, jv_to_json(m->v));
		return (o);
	case JV_OBJECT:
		o = json_object_new_object();
		/* jv keys are unique already. */
		for (const struct jv_member *m = v->u.c.head; m; m = m->next)
			json_object_object_add_ex(o, m->key, jv_to_json(m->v),
			    JSON_C_OBJECT_ADD_KEY_IS_NEW);
		return (o);
	}
	return (NULL);
}

/* --- NDJSON. --- */

static void
write_value(struct ndj *w, const struct jv *v)
{
	const struct jv_member	*m;
	int			 obj;

	if (v == NULL) {
		ndj_put(w, "null", 4);
		return;
	}
	switch (v->t) {
	case JV_BOOL:
		if (v->u.b)
			ndj_put(w, "true", 4);
		else
			ndj_put(w, "false", 5);
		return;
	case JV_INT:	ndj_int64(w, v->u.i); return;
	case JV_UINT:	ndj_uint64(w, v->u.u); return;
	case JV_DOUBLE:	ndj_put(w, v->u.s.p, v->u.s.n); return;
	case JV_STRING:	ndj_string(w, v->u.s.p, v->u.s.n); return;
	case JV_OBJECT:
	case JV_ARRAY:
		break;
	}
	obj = v->t == JV_OBJECT;
	ndj_put(w, obj ? "{" : "[", 1);
	for (m = v->u.c.head; m != NULL; m = m->next) {
		if (m != v->u.c.head)
			ndj_put(w, ",", 1);
		if (obj)
			ndj_key(w, m->key);
		write_value(w, m->v);
	}
	ndj_put(w, obj ? "}" : "]", 1);
}

void
jv_write_ndjson(FILE *f, const struct jv *v)
{
	struct ndj	w;

	w.f = f;
	w.len = 0;
	write_value(&w, v);
	ndj_put(&w, "\n", 1);
	ndj_flush(&w);
}
