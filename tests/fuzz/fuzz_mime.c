/*
 * fuzz_mime.c - libFuzzer target for the MIME parser.  Small limits so
 * the limit paths run; the first byte picks the chunk size, and a chunk
 * whose first byte is 0x01 is declared a gap instead of being fed.
 * Every event's slices are read, so ASan sees any bad pointer, and any
 * error but SP_E_NOMEM aborts: malformed input is never an error.
 */
#include "internal.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
touch(const void *p, size_t n)
{
	const uint8_t		*b = p;
	volatile uint8_t	 x = 0;	/* keeps the reads */

	for (size_t i = 0; i < n; i++)
		x ^= b[i];
	return (x & 0);
}

static int
f_header(void *ud, const struct sp_mime_header *h)
{
	(void)ud;
	return (touch(h->name, h->name_len) + touch(h->value, h->value_len) +
	    touch(h->decoded, h->decoded_len) +
	    touch(h->path, strlen(h->path)));
}

static int
f_part(void *ud, const struct sp_mime_part *p)
{
	(void)ud;
	return (touch(p->path, strlen(p->path)) +
	    touch(p->filename, strlen(p->filename)) +
	    touch(p->boundary, strlen(p->boundary)) +
	    touch(p->charset, strlen(p->charset)));
}

static int
f_data(void *ud, const struct sp_mime_part *p, const uint8_t *b, size_t n)
{
	(void)ud;
	(void)p;
	return (touch(b, n));
}

static int
f_url(void *ud, const struct sp_mime_url *u)
{
	(void)ud;
	return (touch(u->url, u->len));
}

static int
f_anomaly(void *ud, const struct sp_mime_anomaly *a)
{
	(void)ud;
	return (touch(a->detail, a->detail_len));
}

static const struct sp_mime_callbacks fuzz_cb = {
	f_header, f_part, f_data, f_part, f_url, f_anomaly
};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sp_limits	 lim;
	sp_mime_parser		*m;
	size_t			 off, seg, n;
	sp_err			 e = SP_E_OK;

	if (size < 1)
		return (0);
	sp_limits_default(&lim);
	lim.max_header_line = 200;	/* small, so the limit paths run */
	lim.max_header_bytes = 1000;
	lim.max_headers = 20;
	lim.max_mime_depth = 4;
	lim.max_mime_parts = 12;
	lim.max_boundary = 24;
	lim.max_urls = 8;
	if (sp_mime_parser_new(&m, &lim, &fuzz_cb, NULL) != SP_E_OK)
		return (0);
	seg = (size_t)data[0] % 61 + 1;	/* vary the chunk boundaries */
	for (off = 1; off < size && e == SP_E_OK; off += n) {
		n = size - off < seg ? size - off : seg;
		if (data[off] == 0x01)
			e = sp_mime_parser_gap(m, n);
		else
			e = sp_mime_parser_feed(m, data + off, n);
	}
	if (e == SP_E_OK)
		e = sp_mime_parser_finish(m);
	sp_mime_parser_free(m);
	/* Callbacks never fail here: only running out of memory may. */
	if (e != SP_E_OK && e != SP_E_NOMEM)
		abort();
	return (0);
}
