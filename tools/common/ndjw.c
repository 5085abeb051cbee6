/*
 * ndjw.c - JSON text into a buffer, byte for byte as json-c writes it
 * (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE).
 *
 * Why: json-c serializes through a printbuf per object, snprintf for
 * every number and a byte-wise escape loop; on a large capture that was
 * a tenth of smtp-decode's time.
 */
#include "ndjw.h"

void
ndj_flush(struct ndj *w)
{
	if (w->len > 0)
		fwrite(w->b, 1, w->len, w->f);
	w->len = 0;
}

/* The rare case: the buffer is full, or n is larger than it. */
void
ndj_put_slow(struct ndj *w, const char *p, size_t n)
{
	ndj_flush(w);
	if (n > NDJ_BUF) {
		fwrite(p, 1, n, w->f);
		return;
	}
	memcpy(w->b, p, n);
	w->len = n;
}

/* Bytes json-c escapes with NOSLASHESCAPE: controls, '"' and '\\'. */
static const unsigned char esc[256] = {
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	['"'] = 1, ['\\'] = 1
};

/* json_escape_str(): short forms where JSON has them, else \u00xx. */
static void
ndj_escape(struct ndj *w, unsigned char c)
{
	static const char	hex[] = "0123456789abcdef";
	char			u[6] = { '\\', 'u', '0', '0', 0, 0 };

	switch (c) {
	case '\b': ndj_put(w, "\\b", 2); return;
	case '\n': ndj_put(w, "\\n", 2); return;
	case '\r': ndj_put(w, "\\r", 2); return;
	case '\t': ndj_put(w, "\\t", 2); return;
	case '\f': ndj_put(w, "\\f", 2); return;
	case '"': ndj_put(w, "\\\"", 2); return;
	case '\\': ndj_put(w, "\\\\", 2); return;
	}
	u[4] = hex[c >> 4];
	u[5] = hex[c & 15];
	ndj_put(w, u, sizeof(u));
}

/*
 * The first byte at or after i that needs escaping, or n.  Sixteen
 * bytes a step with SSE2 (part of x86-64): header values, reply texts
 * and digests are long runs of plain text.
 */
#if defined(__SSE2__)
#include <emmintrin.h>

static size_t
plain_span(const char *s, size_t i, size_t n)
{
	const __m128i	quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\');
	const __m128i	ctl = _mm_set1_epi8(0x1f);
	int		hits;

	while (n - i >= 16) {
		__m128i	v = _mm_loadu_si128((const __m128i *)(s + i));

		/* Unsigned v <= 0x1f: min(v, 0x1f) == v. */
		hits = _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(
		    _mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)),
		    _mm_cmpeq_epi8(_mm_min_epu8(v, ctl), v)));
		if (hits != 0)
			return (i + (size_t)__builtin_ctz((unsigned)hits));
		i += 16;
	}
	while (i < n && !esc[(unsigned char)s[i]])
		i++;
	return (i);
}
#else
static size_t
plain_span(const char *s, size_t i, size_t n)
{
	while (i < n && !esc[(unsigned char)s[i]])
		i++;
	return (i);
}
#endif

void
ndj_string(struct ndj *w, const char *s, size_t n)
{
	size_t	run = 0;

	ndj_put(w, "\"", 1);
	for (size_t i = plain_span(s, 0, n); i < n;
	    i = plain_span(s, i + 1, n)) {
		ndj_put(w, s + run, i - run);
		ndj_escape(w, (unsigned char)s[i]);
		run = i + 1;
	}
	ndj_put(w, s + run, n - run);
	ndj_put(w, "\"", 1);
}

/*
 * A member name and its ':'.  Names are short literals with nothing to
 * escape, written here in one pass; any other (a long one, one from
 * the wire that needs escaping) takes ndj_string().
 */
#define KEY_FAST	48

void
ndj_key(struct ndj *w, const char *k)
{
	size_t	i = 0, start = w->len;
	char	*b = w->b + start + 1;

	if (NDJ_BUF - start >= KEY_FAST + 3) {
		while (i < KEY_FAST && k[i] != '\0' && !esc[(unsigned char)k[i]]) {
			b[i] = k[i];
			i++;
		}
		if (k[i] == '\0') {
			b[-1] = '"';
			b[i] = '"';
			b[i + 1] = ':';
			w->len = start + i + 3;
			return;
		}
	}
	ndj_string(w, k, i + strlen(k + i));
	ndj_put(w, ":", 1);
}

size_t
ndj_digits(uint64_t v, char *num)
{
	size_t	k = NDJ_NUM;

	do {
		num[--k] = (char)('0' + v % 10);
		v /= 10;
	} while (v > 0);
	return (k);
}

void
ndj_uint64(struct ndj *w, uint64_t v)
{
	char	num[NDJ_NUM];
	size_t	k = ndj_digits(v, num);

	ndj_put(w, num + k, NDJ_NUM - k);
}

void
ndj_int64(struct ndj *w, int64_t v)
{
	char	num[NDJ_NUM];
	size_t	k;

	if (v >= 0) {
		ndj_uint64(w, (uint64_t)v);
		return;
	}
	k = ndj_digits((uint64_t)0 - (uint64_t)v, num);
	num[--k] = '-';
	ndj_put(w, num + k, NDJ_NUM - k);
}
