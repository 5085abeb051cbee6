/*
 * mime_words.c - text in any charset to UTF-8, and RFC 2047 encoded
 * words ("=?charset?B?...?=") in header values.
 *
 * Conversion goes through glibc's iconv, which knows the charsets mail
 * uses (iso-8859-*, windows-125x, koi8-r, utf-16, gbk, big5,
 * shift_jis, euc-jp, iso-2022-jp...).  A charset iconv does not know
 * leaves the bytes as they are and raises SP__W_UNKNOWN.
 */
#include <errno.h>
#include <iconv.h>

#include "mime_int.h"

static const uint8_t replacement[] = { 0xef, 0xbf, 0xbd };	/* U+FFFD */

/* Names mail uses that iconv spells otherwise, or supersets to prefer. */
static const struct {
	const char	*mail, *iconv;
} aliases[] = {
	{ "gb2312",		"GBK" },	/* mailers send GBK as gb2312 */
	{ "x-gbk",		"GBK" },
	{ "ks_c_5601-1987",	"CP949" },
	{ "iso-8859-8-i",	"ISO-8859-8" },
	{ "x-sjis",		"SHIFT_JIS" },
	{ "shift-jis",		"SHIFT_JIS" },
	{ "iso-8859-1",		"WINDOWS-1252" },	/* as HTML5 does */
	{ "us-ascii",		"WINDOWS-1252" },
	{ "x-mac-roman",	"MACINTOSH" },
	{ "unicode-1-1-utf-7",	"UTF-7" },
};

void
sp__conv_fini(struct sp__conv *c)
{
	if (c->cd != NULL)
		iconv_close((iconv_t)c->cd);
	c->cd = NULL;
	c->name[0] = '\0';
}

size_t
sp__utf8_cut(const uint8_t *s, size_t len)
{
	size_t	i = len, back = 0;

	while (i > 0 && back < 4 && (s[i - 1] & 0xc0) == 0x80) {
		i--;
		back++;
	}
	if (i == 0 || s[i - 1] < 0xc0)
		return (len);
	/* s[i - 1] leads a sequence of this many bytes. */
	size_t need = s[i - 1] >= 0xf0 ? 4 : s[i - 1] >= 0xe0 ? 3 : 2;

	return (back + 1 >= need ? len : i - 1);
}

/* Length of the valid UTF-8 sequence at p, or 0 (RFC 3629 4). */
static size_t
utf8_seq(const uint8_t *p, size_t n)
{
	size_t	need;
	uint32_t cp;

	if (p[0] < 0x80)
		return (1);
	if (p[0] < 0xc2 || p[0] > 0xf4)
		return (0);
	need = p[0] >= 0xf0 ? 4 : p[0] >= 0xe0 ? 3 : 2;
	if (n < need)
		return (0);
	cp = p[0] & (0x3fu >> (need - 1));
	for (size_t i = 1; i < need; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return (0);
		cp = cp << 6 | (p[i] & 0x3fu);
	}
	if ((need == 3 && cp < 0x800) || (need == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return (0);
	return (need);
}

/* Append bytes, mapping the limit to SP__W_TRUNC. */
static sp_err
out_add(struct sp_buf *out, const void *p, size_t n, unsigned *flags)
{
	sp_err	e;

	if (*flags & SP__W_TRUNC)
		return (SP_E_OK);
	e = sp__buf_append(out, p, n);
	if (e == SP_E_LIMIT) {
		*flags |= SP__W_TRUNC;
		return (SP_E_OK);
	}
	return (e);
}

/* UTF-8 in, UTF-8 out: invalid sequences become U+FFFD. */
static sp_err
utf8_copy(const uint8_t *in, size_t n, struct sp_buf *out, unsigned *flags)
{
	size_t	i = 0, run = 0, k;
	sp_err	e;

	while (i + run < n) {
		k = utf8_seq(in + i + run, n - i - run);
		if (k != 0) {
			run += k;
			continue;
		}
		e = out_add(out, in + i, run, flags);
		if (e == SP_E_OK)
			e = out_add(out, replacement, 3, flags);
		if (e != SP_E_OK)
			return (e);
		i += run + 1;
		run = 0;
	}
	return (out_add(out, in + i, run, flags));
}

/*
 * Normalise a charset label into name (lowercase, RFC 2231 5 language
 * suffix "*en" dropped).  Returns false when it cannot be a charset.
 */
static bool
charset_norm(const uint8_t *cs, size_t n, char *name, size_t cap)
{
	size_t	i;

	for (i = 0; i < n && cs[i] != '*'; i++) {
		if (i + 1 >= cap || cs[i] <= ' ' || cs[i] >= 0x7f)
			return (false);
		name[i] = (char)(cs[i] >= 'A' && cs[i] <= 'Z' ?
		    cs[i] + 32 : cs[i]);
	}
	name[i] = '\0';
	return (i > 0);
}

static bool
is_utf8_name(const char *name)
{
	return (strcmp(name, "utf-8") == 0 || strcmp(name, "utf8") == 0);
}

/* Open (or reuse) the descriptor for name; false if iconv refuses. */
static bool
conv_open(struct sp__conv *c, const char *name)
{
	const char	*to = name;
	iconv_t		 cd;

	if (c->cd != NULL && strcmp(c->name, name) == 0) {
		iconv((iconv_t)c->cd, NULL, NULL, NULL, NULL);
		return (true);
	}
	for (size_t i = 0; i < SP_NELEM(aliases); i++)
		if (strcmp(aliases[i].mail, name) == 0)
			to = aliases[i].iconv;
	cd = iconv_open("UTF-8", to);
	if (cd == (iconv_t)-1)
		return (false);
	sp__conv_fini(c);
	c->cd = cd;
	memcpy(c->name, name, strlen(name) + 1);
	return (true);
}

/* Run iconv over in; undecodable bytes become U+FFFD. */
static sp_err
conv_run(struct sp__conv *c, const uint8_t *in, size_t n,
    struct sp_buf *out, unsigned *flags)
{
	char	 chunk[512], *ip = (char *)(uintptr_t)in, *op;
	size_t	 il = n, ol, r;
	sp_err	 e;

	while (!(*flags & SP__W_TRUNC)) {
		op = chunk;
		ol = sizeof(chunk);
		r = iconv((iconv_t)c->cd, il > 0 ? &ip : NULL, &il, &op, &ol);
		e = out_add(out, chunk, sizeof(chunk) - ol, flags);
		if (e != SP_E_OK)
			return (e);
		if (r != (size_t)-1 && il == 0)
			break;
		if (r != (size_t)-1 || errno == E2BIG)
			continue;
		e = out_add(out, replacement, 3, flags);
		if (e != SP_E_OK)
			return (e);
		if (errno == EINVAL || il <= 1)	/* cut short at the end */
			break;
		ip++;				/* EILSEQ: skip a byte */
		il--;
	}
	return (SP_E_OK);
}

sp_err
sp__conv_utf8(struct sp__conv *c, const uint8_t *cs, size_t cslen,
    const uint8_t *in, size_t n, struct sp_buf *out, unsigned *flags)
{
	char	name[SP__MIME_CHARSET_MAX];

	if (n == 0)
		return (SP_E_OK);
	if (!charset_norm(cs, cslen, name, sizeof(name))) {
		*flags |= SP__W_UNKNOWN;
		return (out_add(out, in, n, flags));
	}
	if (is_utf8_name(name))
		return (utf8_copy(in, n, out, flags));
	if (!conv_open(c, name)) {
		*flags |= SP__W_UNKNOWN;
		return (out_add(out, in, n, flags));
	}
	return (conv_run(c, in, n, out, flags));
}

/* --- RFC 2047 --------------------------------------------------- */

#define WORD_MAX	1024	/* longest encoded word accepted */

struct word {
	const uint8_t	*cs, *text;
	size_t		 cslen, textlen, end;	/* end: index after "?=" */
	uint8_t		 enc;			/* 'b' or 'q' */
};

static bool
is_blank(uint8_t c)
{
	return (c == ' ' || c == '\t' || c == '\r' || c == '\n');
}

/*
 * Parse "=?charset?X?text?=" at in[i] (RFC 2047 2).  An encoded word
 * holds no blank; returns false when in[i] does not start one.
 */
static bool
word_parse(const uint8_t *in, size_t n, size_t i, struct word *w)
{
	size_t	j = i + 2, q;

	/*
	 * RFC 2047 2 caps a word at 75 characters; allow more, but not
	 * without bound, so a value full of "=?" stays linear to scan.
	 */
	if (n - i > WORD_MAX)
		n = i + WORD_MAX;
	w->cs = in + j;
	while (j < n && in[j] != '?' && !is_blank(in[j]))
		j++;
	if (j + 3 >= n || in[j] != '?' || j == i + 2 || in[j + 2] != '?')
		return (false);
	w->cslen = j - (i + 2);
	w->enc = (uint8_t)(in[j + 1] | 0x20);
	if (w->enc != 'b' && w->enc != 'q')
		return (false);
	w->text = in + j + 3;
	for (q = j + 3; q + 1 < n; q++) {
		if (is_blank(in[q]))
			return (false);
		if (in[q] == '?' && in[q + 1] == '=')
			break;
	}
	if (q + 1 >= n)
		return (false);
	w->textlen = q - (j + 3);
	w->end = q + 2;
	return (true);
}

/* The Q encoding (RFC 2047 4.2): "_" is a space, "=XX" a byte. */
static sp_err
q_decode(const uint8_t *t, size_t n, struct sp_buf *tmp, unsigned *flags)
{
	uint8_t	c;
	int	h;
	sp_err	e = SP_E_OK;

	for (size_t i = 0; i < n && e == SP_E_OK; i++) {
		c = t[i] == '_' ? ' ' : t[i];
		h = c == '=' ? sp__hexpair(t + i + 1, n - i - 1) : -1;
		if (h >= 0) {
			c = (uint8_t)h;
			i += 2;
		} else if (c == '=') {
			*flags |= SP__W_BAD_WORD;	/* kept literally */
		}
		e = out_add(tmp, &c, 1, flags);
	}
	return (e);
}

static sp_err
b_decode(const uint8_t *t, size_t n, struct sp_buf *tmp, unsigned *flags)
{
	struct sp__b64	 s = { 0, 0 };
	size_t		 bad, k, room = (n / 4 + 2) * 3;
	bool		 badend;
	sp_err		 e;

	e = sp__buf_reserve(tmp, room);
	if (e == SP_E_LIMIT) {
		*flags |= SP__W_TRUNC;
		return (SP_E_OK);
	}
	if (e != SP_E_OK)
		return (e);
	k = sp__b64_run(&s, t, n, tmp->p + tmp->len, &bad);
	k += sp__b64_end(&s, tmp->p + tmp->len + k, &badend);
	tmp->len += k;
	if (bad != SIZE_MAX || badend)
		*flags |= SP__W_BAD_WORD;
	return (SP_E_OK);
}

/* Decoded bytes of adjacent words wait in tmp, to be converted once. */
struct pending {
	const uint8_t	*cs;
	size_t		 cslen;
};

static sp_err
pending_flush(struct sp__conv *c, struct pending *pw, struct sp_buf *out,
    struct sp_buf *tmp, unsigned *flags)
{
	sp_err	e = SP_E_OK;

	if (pw->cs != NULL)
		e = sp__conv_utf8(c, pw->cs, pw->cslen, tmp->p, tmp->len, out,
		    flags);
	pw->cs = NULL;
	sp__buf_reset(tmp);
	return (e);
}

static bool
same_charset(const struct pending *pw, const struct word *w)
{
	if (pw->cs == NULL || pw->cslen != w->cslen)
		return (false);
	for (size_t i = 0; i < w->cslen; i++)
		if ((pw->cs[i] | 0x20) != (w->cs[i] | 0x20))
			return (false);
	return (true);
}

static bool
all_blank(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!is_blank(p[i]))
			return (false);
	return (true);
}

/*
 * Words next to each other are decoded into one byte string before it
 * is converted, because mailers split a multibyte character across
 * two words.  Blanks between two words are dropped (RFC 2047 6.2).
 */
sp_err
sp__words_decode(struct sp__conv *c, const uint8_t *in, size_t n,
    struct sp_buf *out, struct sp_buf *tmp, unsigned *flags)
{
	struct pending	 pw = { NULL, 0 };
	struct word	 w;
	size_t		 i = 0, lit = 0;
	const uint8_t	*q;
	bool		 adjacent;
	sp_err		 e = SP_E_OK;

	sp__buf_reset(tmp);
	while (e == SP_E_OK && i + 1 < n) {
		q = memchr(in + i, '=', n - i - 1);
		if (q == NULL)
			break;
		i = (size_t)(q - in);
		if (in[i + 1] != '?' || !word_parse(in, n, i, &w)) {
			if (in[i + 1] == '?')
				*flags |= SP__W_BAD_WORD;
			i++;
			continue;
		}
		adjacent = pw.cs != NULL && all_blank(in + lit, i - lit);
		if (!adjacent || !same_charset(&pw, &w))
			e = pending_flush(c, &pw, out, tmp, flags);
		if (e == SP_E_OK && !adjacent)
			e = out_add(out, in + lit, i - lit, flags);
		pw.cs = w.cs;
		pw.cslen = w.cslen;
		if (e == SP_E_OK)
			e = w.enc == 'b' ? b_decode(w.text, w.textlen, tmp,
			    flags) : q_decode(w.text, w.textlen, tmp, flags);
		i = lit = w.end;
	}
	if (e == SP_E_OK)
		e = pending_flush(c, &pw, out, tmp, flags);
	if (e == SP_E_OK)
		e = out_add(out, in + lit, n - lit, flags);
	return (e);
}

sp_err
sp_mime_decode_words(const uint8_t *in, size_t len, char *out, size_t outsz,
    size_t *outlen)
{
	struct sp__conv	 c = { NULL, "" };
	struct sp_buf	 o, tmp;
	unsigned	 flags = 0;
	sp_err		 e;

	if (outsz == 0)
		return (SP_E_INVAL);
	sp__buf_init(&o, outsz - 1, NULL);
	sp__buf_init(&tmp, len + 16, NULL);
	e = sp__words_decode(&c, in, len, &o, &tmp, &flags);
	*outlen = 0;
	if (e == SP_E_OK) {
		*outlen = sp__utf8_cut(o.p, o.len);
		if (*outlen > 0)
			memcpy(out, o.p, *outlen);
	}
	out[*outlen] = '\0';
	sp__buf_free(&o);
	sp__buf_free(&tmp);
	sp__conv_fini(&c);
	if (e == SP_E_OK && (flags & (SP__W_BAD_WORD | SP__W_UNKNOWN)))
		e = SP_E_FORMAT;
	return (e);
}
