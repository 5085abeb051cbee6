/*
 * jsonutil.c - the text forms the JSON records use for wire bytes and
 * capture times, shared by the record trees (jv.c) and the outputs.
 */
#include <stdio.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "jsonutil.h"
#include "ndjw.h"

/* Length of the valid UTF-8 sequence at p (RFC 3629), or 0. */
static size_t
utf8_seq(const uint8_t *p, size_t n)
{
	size_t	len;
	uint32_t cp;

	if (p[0] < 0x80)
		return (1);
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		len = 2, cp = p[0] & 0x1fu;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		len = 3, cp = p[0] & 0x0fu;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		len = 4, cp = p[0] & 0x07u;
	else
		return (0);
	if (len > n)
		return (0);
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return (0);
		cp = cp << 6 | (p[i] & 0x3fu);
	}
	/* Overlong forms, surrogates and beyond U+10FFFF are invalid. */
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return (0);
	return (len);
}

/*
 * Whether p holds only ASCII without NUL, which wire_text() would
 * copy unchanged: most of what the wire carries (commands, replies,
 * header values), so callers skip the copy through a buffer.
 */
int
wire_plain(const uint8_t *p, size_t n)
{
	uint8_t	any = 0;
	size_t	i = 0;

#if defined(__SSE2__)
	/* Sixteen a step: a byte with its top bit set, or a NUL. */
	for (; n - i >= 16; i += 16) {
		__m128i	v = _mm_loadu_si128((const __m128i *)(p + i));

		if (_mm_movemask_epi8(_mm_or_si128(v, _mm_cmpeq_epi8(v,
		    _mm_setzero_si128()))) != 0)
			return (0);
	}
#endif
	for (; i < n; i++)
		any |= (uint8_t)(p[i] | (p[i] == 0 ? 0x80 : 0));
	return ((any & 0x80) == 0);
}

size_t
wire_text(char *out, const uint8_t *p, size_t n)
{
	char	*o = out;

	for (size_t i = 0; i < n;) {
		size_t	l = utf8_seq(p + i, n - i);

		if (l == 0 || (l == 1 && p[i] == 0)) {
			snprintf(o, 5, "\\x%02x", p[i]);
			o += 4;
			i++;
			continue;
		}
		memcpy(o, p + i, l);
		o += l;
		i += l;
	}
	return ((size_t)(o - out));
}

size_t
ts_text(sp_ts ts, char *buf, size_t len)
{
	char		tmp[NDJ_NUM + 8];
	uint64_t	us = ts / 1000;
	size_t		k = sizeof(tmp), n;

	/*
	 * Microseconds, as Zeek and Suricata log them, printed exactly:
	 * "%llu.%06llu", written backwards by hand (snprintf was a
	 * visible cost at a few timestamps per command).
	 */
	for (int i = 0; i < 6; i++, us /= 10)
		tmp[--k] = (char)('0' + us % 10);
	tmp[--k] = '.';
	/* The seconds, ending where the fraction begins. */
	k -= NDJ_NUM - ndj_digits(us, tmp + k - NDJ_NUM);
	n = MIN(sizeof(tmp) - k, len - 1);
	memcpy(buf, tmp + k, n);
	buf[n] = '\0';
	return (n);
}

const char *
dir_name(enum sp_dir d)
{
	return (d == SP_DIR_CLIENT ? "client" : "server");
}
