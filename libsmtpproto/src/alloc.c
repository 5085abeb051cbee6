/*
 * alloc.c - allocation through an optional sp_allocator, and the
 * bounded growable buffer every parser uses for its copies.
 */
#include "internal.h"

void *
sp__malloc(const struct sp_allocator *a, size_t n)
{
	if (a == NULL)
		return (malloc(n));
	return (a->malloc(n, a->ud));
}

void *
sp__calloc(const struct sp_allocator *a, size_t nmemb, size_t size)
{
	void	*p;

	if (size != 0 && nmemb > SIZE_MAX / size)
		return (NULL);
	p = sp__malloc(a, nmemb * size);
	if (p != NULL)
		memset(p, 0, nmemb * size);
	return (p);
}

void *
sp__realloc(const struct sp_allocator *a, void *p, size_t n)
{
	if (a == NULL)
		return (realloc(p, n));
	return (a->realloc(p, n, a->ud));
}

void
sp__free(const struct sp_allocator *a, void *p)
{
	if (p == NULL)
		return;
	if (a == NULL)
		free(p);
	else
		a->free(p, a->ud);
}

void
sp__buf_init(struct sp_buf *b, size_t max, const struct sp_allocator *a)
{
	memset(b, 0, sizeof(*b));
	b->max = max;
	b->alloc = a;
}

void
sp__buf_free(struct sp_buf *b)
{
	sp__free(b->alloc, b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

void
sp__buf_reset(struct sp_buf *b)
{
	b->len = 0;
}

/* Make room for n more bytes, doubling up to max. */
sp_err
sp__buf_reserve(struct sp_buf *b, size_t n)
{
	size_t	 want, ncap;
	uint8_t	*np;

	if (n > b->max - b->len)		/* invariant: len <= max */
		return (SP_E_LIMIT);
	want = b->len + n;
	if (want <= b->cap)
		return (SP_E_OK);
	ncap = b->cap != 0 ? b->cap : SP_MIN((size_t)64, b->max);
	while (ncap < want)
		ncap = ncap > b->max / 2 ? b->max : ncap * 2;
	np = sp__realloc(b->alloc, b->p, ncap);
	if (np == NULL)
		return (SP_E_NOMEM);
	b->p = np;
	b->cap = ncap;
	return (SP_E_OK);
}

sp_err
sp__buf_append(struct sp_buf *b, const void *p, size_t n)
{
	sp_err	e;

	if (n == 0)
		return (SP_E_OK);
	e = sp__buf_reserve(b, n);
	if (e != SP_E_OK)
		return (e);
	memcpy(b->p + b->len, p, n);
	b->len += n;
	return (SP_E_OK);
}
