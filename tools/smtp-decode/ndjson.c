/*
 * ndjson.c - a json-c tree written as one line of JSON, byte for byte
 * what json_object_to_json_string_ext(JSON_C_TO_STRING_PLAIN |
 * JSON_C_TO_STRING_NOSLASHESCAPE) writes, but straight into a buffer.
 *
 * Why: json-c serializes through a printbuf per object, snprintf for
 * every number and a byte-wise escape loop; on a large capture that was
 * a tenth of smtp-decode's time.  Types this writer does not know (a
 * double without its own text) are handed to json-c, so the output is
 * json-c's in every case.
 */
#include <stdint.h>
#include <string.h>

#include "output.h"

#define NDJ_BUF	65536

struct ndj {
	FILE	*f;
	size_t	 len;
	char	 b[NDJ_BUF];
};

static void
ndj_flush(struct ndj *w)
{
	if (w->len > 0)
		fwrite(w->b, 1, w->len, w->f);
	w->len = 0;
}

/* The rare case: the buffer is full, or n is larger than it. */
static void
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

static inline void
ndj_put(struct ndj *w, const char *p, size_t n)
{
	if (n > NDJ_BUF - w->len) {
		ndj_put_slow(w, p, n);
		return;
	}
	memcpy(w->b + w->len, p, n);
	w->len += n;
}

static void
ndj_puts(struct ndj *w, const char *s)
{
	ndj_put(w, s, strlen(s));
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

static void
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

/* Digits of v, written backwards from the end of num[24]. */
static size_t
ndj_digits(uint64_t v, char *num)
{
	size_t	k = 24;

	do {
		num[--k] = (char)('0' + v % 10);
		v /= 10;
	} while (v > 0);
	return (k);
}

static void
ndj_int(struct ndj *w, json_object *o)
{
	char	num[24];
	int64_t	v = json_object_get_int64(o);
	size_t	k;

	/* json-c prints an unsigned 64-bit value as unsigned. */
	if (v == INT64_MAX)
		k = ndj_digits(json_object_get_uint64(o), num);
	else if (v < 0)
		k = ndj_digits((uint64_t)0 - (uint64_t)v, num);
	else
		k = ndj_digits((uint64_t)v, num);
	if (v < 0)
		num[--k] = '-';
	ndj_put(w, num + k, 24 - k);
}

static void	ndj_value(struct ndj *, json_object *);

static void
ndj_object(struct ndj *w, json_object *o)
{
	int	first = 1;

	ndj_put(w, "{", 1);
	json_object_object_foreach(o, key, val) {
		if (!first)
			ndj_put(w, ",", 1);
		first = 0;
		ndj_string(w, key, strlen(key));
		ndj_put(w, ":", 1);
		ndj_value(w, val);
	}
	ndj_put(w, "}", 1);
}

static void
ndj_array(struct ndj *w, json_object *o)
{
	size_t	n = json_object_array_length(o);

	ndj_put(w, "[", 1);
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			ndj_put(w, ",", 1);
		ndj_value(w, json_object_array_get_idx(o, i));
	}
	ndj_put(w, "]", 1);
}

static void
ndj_value(struct ndj *w, json_object *o)
{
	switch (json_object_get_type(o)) {
	case json_type_null:
		ndj_put(w, "null", 4);
		return;
	case json_type_boolean:
		ndj_puts(w, json_object_get_boolean(o) ? "true" : "false");
		return;
	case json_type_int:
		ndj_int(w, o);
		return;
	case json_type_string:
		ndj_string(w, json_object_get_string(o),
		    (size_t)json_object_get_string_len(o));
		return;
	case json_type_object:
		ndj_object(w, o);
		return;
	case json_type_array:
		ndj_array(w, o);
		return;
	default:	/* doubles: json-c knows their text */
		ndj_puts(w, json_object_to_json_string_ext(o,
		    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
		return;
	}
}

void
ndjson_write(FILE *f, json_object *rec)
{
	struct ndj	w;

	w.f = f;
	w.len = 0;
	ndj_value(&w, rec);
	ndj_put(&w, "\n", 1);
	ndj_flush(&w);
}
