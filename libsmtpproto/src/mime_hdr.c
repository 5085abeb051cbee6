/*
 * mime_hdr.c - header field names and the structured Content-* values:
 * Content-Type and its parameters (RFC 2045 5.1), Content-Disposition
 * (RFC 2183), Content-Transfer-Encoding (RFC 2045 6.1), with RFC 2231
 * continuations, charsets and percent-encoding, and the RFC 2047
 * words that mailers put in filenames although RFC 2047 5 forbids it.
 */
#include <limits.h>
#include <strings.h>

#include "mime_int.h"

static const char *const field_names[] = {
#define X(name, str)	str,
	SP_MIME_FIELD_MAP(X)
#undef X
};

/* Their lengths, so that a field's name is compared only with its peers. */
static const uint8_t field_lens[] = {
#define X(name, str)	sizeof(str) - 1,
	SP_MIME_FIELD_MAP(X)
#undef X
};

enum sp_mime_field
sp_mime_field_id(const uint8_t *name, size_t len)
{
	/* Field names are case-insensitive (RFC 5322 1.2.2). */
	for (size_t i = 1; i < SP_NELEM(field_names); i++)
		if (field_lens[i] == len &&
		    strncasecmp(field_names[i], (const char *)name, len) == 0)
			return ((enum sp_mime_field)i);
	return (SP_MIME_F_OTHER);
}

const char *
sp_mime_field_name(enum sp_mime_field f)
{
	if ((unsigned)f >= SP_NELEM(field_names))
		return ("");
	return (field_names[f]);
}

const char *
sp_mime_cte_name(enum sp_mime_cte c)
{
	static const char *const names[] = { "7bit", "8bit", "binary",
	    "quoted-printable", "base64", "other" };

	if ((unsigned)c >= SP_NELEM(names))
		return ("other");
	return (names[c]);
}

/* --- a small lexer for RFC 2045 values ------------------------------ */

struct lex {
	const uint8_t	*p, *end;
};

/* Skip blanks and (nested) comments (RFC 5322 3.2.2 CFWS). */
static void
skip_cfws(struct lex *l)
{
	unsigned	depth = 0;

	while (l->p < l->end) {
		uint8_t c = *l->p;

		if (depth > 0 && c == '\\' && l->end - l->p > 1)
			l->p++;
		else if (c == '(')
			depth++;
		else if (c == ')' && depth > 0)
			depth--;
		else if (depth == 0 && c != ' ' && c != '\t' && c != '\r' &&
		    c != '\n')
			return;
		l->p++;
	}
}

/* RFC 2045 5.1 token: no blanks, controls or tspecials. */
static bool
is_token(uint8_t c)
{
	return (c > ' ' && c != 0x7f && strchr("()<>@,;:\\\"/[]?=", c) ==
	    NULL);
}

static size_t
lex_token(struct lex *l, const uint8_t **s)
{
	*s = l->p;
	while (l->p < l->end && is_token(*l->p))
		l->p++;
	return ((size_t)(l->p - *s));
}

/* Copy a token, lowercased and cut to cap - 1, into dst. */
static void
token_lower(char *dst, size_t cap, const uint8_t *s, size_t n)
{
	size_t	i;

	for (i = 0; i < n && i + 1 < cap; i++)
		dst[i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] + 32 : s[i]);
	dst[i] = '\0';
}

/* One parameter: name*section*="value" (RFC 2231 3 and 4). */
struct param {
	const uint8_t	*name, *val;
	size_t		 namelen, vallen;
	int		 section;	/* -1 when there is none */
	bool		 ext;		/* ends in '*': charset'lang'%XX */
	bool		 quoted;	/* val is inside quotes, escapes left */
};

/* Value: a quoted-string, or (lenient) anything up to ';', trimmed. */
static void
lex_value(struct lex *l, struct param *pa)
{
	pa->quoted = (l->p < l->end && *l->p == '"');
	if (pa->quoted) {
		pa->val = ++l->p;
		while (l->p < l->end && *l->p != '"') {
			if (*l->p == '\\' && l->end - l->p > 1)
				l->p++;
			l->p++;
		}
		pa->vallen = (size_t)(l->p - pa->val);
		if (l->p < l->end)
			l->p++;
		return;
	}
	pa->val = l->p;
	while (l->p < l->end && *l->p != ';')
		l->p++;
	pa->vallen = (size_t)(l->p - pa->val);
	while (pa->vallen > 0 && (pa->val[pa->vallen - 1] == ' ' ||
	    pa->val[pa->vallen - 1] == '\t'))
		pa->vallen--;
}

/* Split "filename*2*" into its name, section and extended flag. */
static void
param_name(struct param *pa)
{
	const uint8_t	*star = memchr(pa->name, '*', pa->namelen);
	size_t		 end = pa->namelen, i;
	int		 sec = 0;

	pa->section = -1;
	pa->ext = (pa->namelen > 0 && pa->name[pa->namelen - 1] == '*');
	if (star == NULL)
		return;
	if (pa->ext)
		end--;
	i = (size_t)(star - pa->name) + 1;
	pa->namelen = (size_t)(star - pa->name);
	for (; i < end; i++) {
		if (pa->name[i] < '0' || pa->name[i] > '9' || sec > 9999) {
			pa->section = INT_MAX;		/* never used */
			return;
		}
		sec = sec * 10 + (pa->name[i] - '0');
		pa->section = sec;
	}
}

/* Next "; name=value" pair; false at the end. */
static bool
lex_param(struct lex *l, struct param *pa)
{
	for (;;) {
		skip_cfws(l);
		if (l->p >= l->end)
			return (false);
		if (*l->p == ';') {
			l->p++;
			continue;
		}
		pa->namelen = lex_token(l, &pa->name);
		skip_cfws(l);
		if (pa->namelen == 0 || l->p >= l->end || *l->p != '=') {
			/* Junk: skip to the next ';'. */
			while (l->p < l->end && *l->p != ';')
				l->p++;
			continue;
		}
		l->p++;
		skip_cfws(l);
		lex_value(l, pa);
		param_name(pa);
		return (true);
	}
}

/* --- parameter values --------------------------------------------- */

#define MAX_SECTIONS	64	/* RFC 2231 continuations kept */

struct pvalue {
	struct param	 sec[MAX_SECTIONS];
	bool		 have[MAX_SECTIONS];
	struct param	 plain;
	bool		 have_plain, any_sec;
};

/* Append a value, unescaping quoted-pairs (RFC 5322 3.2.4). */
static sp_err
unquote_add(struct sp_buf *b, const uint8_t *v, size_t n, bool quoted)
{
	size_t	i = 0, j;
	sp_err	e;

	while (i < n) {
		for (j = i; j < n && !(quoted && v[j] == '\\'); j++)
			;
		e = sp__buf_append(b, v + i, j - i);
		if (e != SP_E_OK || j + 1 >= n)
			return (e);
		e = sp__buf_append(b, v + j + 1, 1);	/* the escaped byte */
		if (e != SP_E_OK)
			return (e);
		i = j + 2;
	}
	return (SP_E_OK);
}

/* RFC 2231 4: "%XX" is a byte; a malformed '%' stays as it is. */
static sp_err
pct_add(struct sp_buf *b, const uint8_t *v, size_t n)
{
	uint8_t	c;
	int	h;
	sp_err	e = SP_E_OK;

	for (size_t i = 0; i < n && e == SP_E_OK; i++) {
		c = v[i];
		h = c == '%' ? sp__hexpair(v + i + 1, n - i - 1) : -1;
		if (h >= 0) {
			c = (uint8_t)h;
			i += 2;
		}
		e = sp__buf_append(b, &c, 1);
	}
	return (e);
}

static void
pvalue_collect(struct lex l, const char *name, struct pvalue *pv)
{
	struct param	pa;
	size_t		nlen = strlen(name);

	memset(pv, 0, sizeof(*pv));
	while (lex_param(&l, &pa)) {
		if (pa.namelen != nlen ||
		    strncasecmp((const char *)pa.name, name, nlen) != 0)
			continue;
		if (pa.section == -1 && !pa.ext) {
			if (!pv->have_plain)
				pv->plain = pa;
			pv->have_plain = true;
			continue;
		}
		if (pa.section == -1)		/* "name*=": one section */
			pa.section = 0;
		if (pa.section < 0 || pa.section >= MAX_SECTIONS ||
		    pv->have[pa.section])
			continue;
		pv->sec[pa.section] = pa;
		pv->have[pa.section] = true;
		pv->any_sec = true;
	}
}

/*
 * Join the sections in order (RFC 2231 3) into s->a; the first one,
 * when extended, names the charset: charset'language'value.
 */
static sp_err
sections_join(struct sp__mime_scratch *s, const struct pvalue *pv,
    const uint8_t **cs, size_t *cslen)
{
	const uint8_t	*v, *q;
	size_t		 n;
	sp_err		 e = SP_E_OK;

	*cs = NULL;
	*cslen = 0;
	for (int i = 0; i < MAX_SECTIONS && pv->have[i] && e == SP_E_OK;
	    i++) {
		v = pv->sec[i].val;
		n = pv->sec[i].vallen;
		if (!pv->sec[i].ext) {
			e = unquote_add(&s->a, v, n, pv->sec[i].quoted);
			continue;
		}
		q = i == 0 ? memchr(v, '\'', n) : NULL;
		if (q != NULL) {
			*cs = v;
			*cslen = (size_t)(q - v);
			n -= (size_t)(q - v) + 1;
			v = q + 1;
			q = memchr(v, '\'', n);		/* language */
			if (q != NULL) {
				n -= (size_t)(q - v) + 1;
				v = q + 1;
			}
		}
		e = pct_add(&s->a, v, n);
	}
	return (e);
}

/*
 * Append the value of parameter name to out: RFC 2231 sections win
 * over a plain value; with decode, the result is converted to UTF-8
 * (its charset, or RFC 2047 words inside a plain value).
 */
static sp_err
param_get(struct sp__mime_scratch *s, struct lex l, const char *name,
    bool decode, struct sp_buf *out, unsigned *flags)
{
	struct pvalue	 pv;
	const uint8_t	*cs;
	size_t		 cslen;
	sp_err		 e;

	pvalue_collect(l, name, &pv);
	sp__buf_reset(&s->a);
	sp__buf_reset(out);
	if (pv.any_sec && pv.have[0]) {
		e = sections_join(s, &pv, &cs, &cslen);
	} else if (pv.have_plain) {
		cs = NULL;
		cslen = 0;
		e = unquote_add(&s->a, pv.plain.val, pv.plain.vallen,
		    pv.plain.quoted);
	} else {
		return (SP_E_OK);
	}
	if (e == SP_E_LIMIT) {
		*flags |= SP__W_TRUNC;
		e = SP_E_OK;
	}
	if (e != SP_E_OK || s->a.len == 0)
		return (e);
	if (decode && cslen > 0)
		return (sp__conv_utf8(&s->conv, cs, cslen, s->a.p, s->a.len,
		    out, flags));
	if (decode && sp__has_word(s->a.p, s->a.len))
		return (sp__words_decode(&s->conv, s->a.p, s->a.len, out, &s->b,
		    flags));
	e = sp__buf_append(out, s->a.p, s->a.len);
	return (e == SP_E_LIMIT ? SP_E_OK : e);
}

/* Copy out's UTF-8 into a fixed string, cut on a character boundary. */
static void
copy_cut(char *dst, size_t cap, const struct sp_buf *b)
{
	size_t	n = b->len < cap - 1 ? b->len : cap - 1;

	n = n > 0 ? sp__utf8_cut(b->p, n) : 0;
	if (n > 0)
		memcpy(dst, b->p, n);
	dst[n] = '\0';
	/* A NUL inside would cut the string short: callers see less. */
}

static sp_err
boundary_get(struct sp__mime_scratch *s, struct lex l,
    struct sp__mime_info *info, unsigned *flags)
{
	sp_err	e;

	e = param_get(s, l, "boundary", false, &s->c, flags);
	if (e != SP_E_OK)
		return (e);
	info->blen = 0;
	info->boundary[0] = '\0';
	/* RFC 2046 5.1.1: 1 to 70 characters. */
	info->boundary_long = (s->c.len > 70 || s->c.len > info->bcap);
	if (s->c.len == 0 || s->c.len > info->bcap)
		return (SP_E_OK);		/* missing, or unusable */
	memcpy(info->boundary, s->c.p, s->c.len);
	info->boundary[s->c.len] = '\0';
	info->blen = s->c.len;
	return (SP_E_OK);
}

sp_err
sp__mime_ctype(struct sp__mime_scratch *s, const uint8_t *v, size_t n,
    struct sp__mime_info *info, unsigned *flags)
{
	struct lex	 l = { v, v + n };
	const uint8_t	*t, *st;
	size_t		 tn, stn;
	sp_err		 e;

	skip_cfws(&l);
	tn = lex_token(&l, &t);
	skip_cfws(&l);
	if (tn == 0 || l.p >= l.end || *l.p != '/')
		return (SP_E_OK);	/* RFC 2045 5.2: keep the default */
	l.p++;
	skip_cfws(&l);
	stn = lex_token(&l, &st);
	if (stn == 0)
		return (SP_E_OK);
	token_lower(info->type, sizeof(info->type), t, tn);
	token_lower(info->subtype, sizeof(info->subtype), st, stn);
	info->have_ctype = true;
	e = param_get(s, l, "charset", false, &s->c, flags);
	if (e != SP_E_OK)
		return (e);
	token_lower(info->charset, sizeof(info->charset), s->c.p, s->c.len);
	e = boundary_get(s, l, info, flags);
	if (e != SP_E_OK || info->fn_src == 2)
		return (e);
	e = param_get(s, l, "name", true, &s->c, flags);
	if (e == SP_E_OK && s->c.len > 0) {
		copy_cut(info->filename, sizeof(info->filename), &s->c);
		info->fn_src = 1;
	}
	return (e);
}

sp_err
sp__mime_cdisp(struct sp__mime_scratch *s, const uint8_t *v, size_t n,
    struct sp__mime_info *info, unsigned *flags)
{
	struct lex	 l = { v, v + n };
	const uint8_t	*t;
	size_t		 tn;
	sp_err		 e;

	skip_cfws(&l);
	tn = lex_token(&l, &t);
	if (tn == 6 && strncasecmp((const char *)t, "inline", 6) == 0)
		info->disp = SP_MIME_DISP_INLINE;
	else if (tn == 10 && strncasecmp((const char *)t, "attachment",
	    10) == 0)
		info->disp = SP_MIME_DISP_ATTACHMENT;
	else
		info->disp = SP_MIME_DISP_OTHER;	/* RFC 2183 2.8 */
	e = param_get(s, l, "filename", true, &s->c, flags);
	if (e == SP_E_OK && s->c.len > 0) {
		copy_cut(info->filename, sizeof(info->filename), &s->c);
		info->fn_src = 2;
	}
	return (e);
}

enum sp_mime_cte
sp__mime_cte(const uint8_t *v, size_t n)
{
	static const struct {
		const char	*name;
		enum sp_mime_cte cte;
	} tab[] = {
		{ "7bit", SP_MIME_CTE_7BIT }, { "8bit", SP_MIME_CTE_8BIT },
		{ "binary", SP_MIME_CTE_BINARY },
		{ "quoted-printable", SP_MIME_CTE_QP },
		{ "base64", SP_MIME_CTE_BASE64 },
	};
	struct lex	 l = { v, v + n };
	const uint8_t	*t;
	size_t		 tn;

	skip_cfws(&l);
	tn = lex_token(&l, &t);
	for (size_t i = 0; i < SP_NELEM(tab); i++)
		if (strlen(tab[i].name) == tn &&
		    strncasecmp(tab[i].name, (const char *)t, tn) == 0)
			return (tab[i].cte);
	return (SP_MIME_CTE_OTHER);
}
