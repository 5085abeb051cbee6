/*
 * mime_url.c - URLs in the decoded text of text/ parts.
 *
 * Text is cut into tokens at blanks, controls and the characters that
 * cannot appear unescaped in a URI (RFC 3986 2, plus quotes and angle
 * brackets, which delimit URIs in text per RFC 3986 C).  A token is
 * searched for http://, https://, ftp://, mailto: or www. once it is
 * complete, so a URL split across two data chunks is found whole: only
 * the unfinished last token is carried over, in a buffer of
 * SP__URL_MAX bytes.
 */
#include <strings.h>

#include "mime_int.h"

/* Bytes that end a token; ':' and '.' mark one that may hold a URL. */
#define MARK	1
#define DELIM	2

static const uint8_t url_delim[256] = {
	[0x00] = DELIM, [0x01] = DELIM, [0x02] = DELIM, [0x03] = DELIM,
	[0x04] = DELIM, [0x05] = DELIM, [0x06] = DELIM, [0x07] = DELIM,
	[0x08] = DELIM, [0x09] = DELIM, [0x0a] = DELIM, [0x0b] = DELIM,
	[0x0c] = DELIM, [0x0d] = DELIM, [0x0e] = DELIM, [0x0f] = DELIM,
	[0x10] = DELIM, [0x11] = DELIM, [0x12] = DELIM, [0x13] = DELIM,
	[0x14] = DELIM, [0x15] = DELIM, [0x16] = DELIM, [0x17] = DELIM,
	[0x18] = DELIM, [0x19] = DELIM, [0x1a] = DELIM, [0x1b] = DELIM,
	[0x1c] = DELIM, [0x1d] = DELIM, [0x1e] = DELIM, [0x1f] = DELIM,
	[' '] = DELIM, ['"'] = DELIM, ['\''] = DELIM, ['<'] = DELIM,
	['>'] = DELIM, ['`'] = DELIM, ['{'] = DELIM, ['}'] = DELIM,
	['|'] = DELIM, ['\\'] = DELIM, ['^'] = DELIM, [0x7f] = DELIM,
	[':'] = MARK, ['.'] = MARK,
};

static bool
is_alnum(uint8_t c)
{
	return ((c >= '0' && c <= '9') || ((c | 0x20) >= 'a' &&
	    (c | 0x20) <= 'z'));
}

static bool
prefix_at(const uint8_t *t, size_t n, size_t i, const char *s)
{
	size_t	k = strlen(s);

	return (n - i >= k && strncasecmp((const char *)t + i, s, k) == 0);
}

/* Where a URL starts in the token, or n. */
static size_t
url_start(const uint8_t *t, size_t n)
{
	static const char *const schemes[] = { "http://", "https://",
	    "ftp://", "mailto:", "www." };

	for (size_t i = 0; i < n; i++) {
		uint8_t c = t[i] | 0x20;

		if (c != 'h' && c != 'f' && c != 'm' && c != 'w')
			continue;
		if (i > 0 && (is_alnum(t[i - 1]) || t[i - 1] == '.' ||
		    t[i - 1] == '/' || t[i - 1] == '@' || t[i - 1] == '-'))
			continue;
		for (size_t s = 0; s < SP_NELEM(schemes); s++)
			if (prefix_at(t, n, i, schemes[s]) &&
			    n - i > strlen(schemes[s]))
				return (i);
	}
	return (n);
}

/* Trailing punctuation ends a sentence, not the URL. */
static size_t
url_trim(const uint8_t *u, size_t n)
{
	while (n > 0 && strchr(".,;:!?)]*", u[n - 1]) != NULL && u[n - 1])
		n--;
	return (n);
}

static int
token_done(const uint8_t *t, size_t n, sp__url_fn fn, void *arg)
{
	const uint8_t	*colon;
	size_t		 s, len;

	/* Most tokens are words: no ':' and no '.', no URL. */
	if (n < 5 || (memchr(t, ':', n) == NULL && memchr(t, '.', n) == NULL))
		return (0);
	s = url_start(t, n);
	if (s == n)
		return (0);
	len = url_trim(t + s, n - s);
	colon = memchr(t + s, ':', len);
	/* "www." or "http://" alone is no URL. */
	if (colon == NULL && (len <= 4 || memchr(t + s + 4, '.', len - 4) ==
	    NULL))
		return (0);
	if (colon != NULL && (size_t)(colon - (t + s)) + 3 >= len)
		return (0);
	return (fn(arg, t + s, len));
}

/* Add to the carried token; at the cap it is checked and dropped. */
static int
carry(struct sp__url *u, const uint8_t *p, size_t n, sp__url_fn fn,
    void *arg)
{
	size_t	k;
	int	rc;

	if (u->skipping)
		return (0);
	k = SP_MIN(n, SP__URL_MAX - u->len);
	memcpy(u->tok + u->len, p, k);
	u->len += k;
	if (u->len < SP__URL_MAX)
		return (0);
	rc = token_done(u->tok, u->len, fn, arg);	/* reported cut */
	u->len = 0;
	u->skipping = true;
	return (rc);
}

int
sp__url_scan(struct sp__url *u, const uint8_t *p, size_t n, sp__url_fn fn,
    void *arg)
{
	size_t	i = 0, s;
	uint8_t	mark;
	int	rc;

	while (i < n) {
		s = i;
		mark = 0;
		while (i < n && url_delim[p[i]] != DELIM)
			mark |= url_delim[p[i++]];
		if (i == n)
			return (carry(u, p + s, i - s, fn, arg));
		/* p[i] ends a token. */
		if (u->len == 0 && !u->skipping && mark == 0) {
			i++;			/* a word: no ':' or '.' */
			continue;
		}
		if (u->len > 0 || u->skipping) {
			rc = carry(u, p + s, i - s, fn, arg);
			if (rc == 0 && !u->skipping)
				rc = token_done(u->tok, u->len, fn, arg);
			u->len = 0;
			u->skipping = false;
		} else {
			rc = token_done(p + s, i - s, fn, arg);
		}
		if (rc != 0)
			return (rc);
		i++;
	}
	return (0);
}

int
sp__url_end(struct sp__url *u, sp__url_fn fn, void *arg)
{
	int	rc = 0;

	if (u->len > 0 && !u->skipping)
		rc = token_done(u->tok, u->len, fn, arg);
	u->len = 0;
	u->skipping = false;
	return (rc);
}
