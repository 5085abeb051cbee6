/*
 * script_parse.c - the session-script reader (docs/script-format.md).
 *
 * One step per line, except the blocks "pipeline ... end" and
 * "data ... .".  A header of "key: value" lines may come first.  Every
 * error names its line, as Exim's test runner and smtpscript do, since
 * a conformance case that fails to load must say where.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <strings.h>

#include "script_int.h"

struct rd {
	const char		*p, *end;	/* the rest of the text */
	unsigned		 line;
	const char		*l;		/* current line, no EOL */
	size_t			 n;
	sp_script		*s;
	struct sp_script_error	*err;
	int			 steps_seen;
};

static sp_err fail(struct rd *, const char *, ...)
    __attribute__((format(printf, 2, 3)));

static sp_err
fail(struct rd *r, const char *fmt, ...)
{
	va_list	ap;

	if (r->err != NULL) {
		r->err->line = r->line;
		va_start(ap, fmt);
		(void)vsnprintf(r->err->msg, sizeof(r->err->msg), fmt, ap);
		va_end(ap);
	}
	return (SP_E_FORMAT);
}

/* Next line without its LF (and a CR before it); 0 at the end. */
static int
next_line(struct rd *r)
{
	const char	*lf;

	if (r->p >= r->end)
		return (0);
	lf = memchr(r->p, '\n', (size_t)(r->end - r->p));
	r->l = r->p;
	r->n = lf != NULL ? (size_t)(lf - r->p) : (size_t)(r->end - r->p);
	r->p = lf != NULL ? lf + 1 : r->end;
	if (r->n > 0 && r->l[r->n - 1] == '\r')
		r->n--;
	r->line++;
	return (1);
}

static int
is_blank(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != ' ' && p[i] != '\t')
			return (p[i] == '#');
	return (1);
}

/* A token: up to white space.  *p advances past it and the blanks. */
static size_t
token(const char **p, const char *end, const char **tok)
{
	const char	*q = *p;
	size_t		 n;

	while (q < end && (*q == ' ' || *q == '\t'))
		q++;
	*tok = q;
	while (q < end && *q != ' ' && *q != '\t')
		q++;
	n = (size_t)(q - *tok);
	while (q < end && (*q == ' ' || *q == '\t'))
		q++;
	*p = q;
	return (n);
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return (c - '0');
	if (c >= 'a' && c <= 'f')
		return (c - 'a' + 10);
	if (c >= 'A' && c <= 'F')
		return (c - 'A' + 10);
	return (-1);
}

/*
 * A quoted string at *p: "..." with \r \n \t \0 \\ \" \$ \xNN.  "\$"
 * is stored as "$$", the template's literal dollar.  The result is
 * malloc'd into *out; *p moves past the closing quote and blanks.
 */
static sp_err
quoted(struct rd *r, const char **p, const char *end,
    struct sp_script_text *out)
{
	struct sp_str	s;
	const char	*q = *p + 1;
	char		 ch;
	int		 h, l;

	sp__str_init(&s, SP_SCRIPT_MAX_BYTES);
	for (; q < end && *q != '"'; q++) {
		if (*q != '\\') {
			sp__str_add(&s, q, 1);
			continue;
		}
		if (++q >= end)
			break;
		switch (*q) {
		case 'r': ch = '\r'; break;
		case 'n': ch = '\n'; break;
		case 't': ch = '\t'; break;
		case '0': ch = '\0'; break;
		case '\\': ch = '\\'; break;
		case '"': ch = '"'; break;
		case '$': sp__str_add(&s, "$", 1); ch = '$'; break;
		case 'x':
			if (end - q < 3 || (h = hexval(q[1])) < 0 ||
			    (l = hexval(q[2])) < 0) {
				free(s.p);
				return (fail(r, "bad \\x escape (want \\xNN)"));
			}
			ch = (char)(h << 4 | l);
			q += 2;
			break;
		default:
			free(s.p);
			return (fail(r, "unknown escape \\%c", *q));
		}
		sp__str_add(&s, &ch, 1);
	}
	if (q >= end) {
		free(s.p);
		return (fail(r, "unterminated quoted string"));
	}
	out->len = s.len;
	if ((out->p = (const uint8_t *)sp__str_take(&s)) == NULL)
		return (SP_E_NOMEM);
	for (*p = q + 1; *p < end && (**p == ' ' || **p == '\t'); (*p)++)
		continue;
	return (SP_E_OK);
}

/* A text argument: "quoted", or the rest of the line verbatim. */
static sp_err
text_arg(struct rd *r, const char *p, const char *end,
    struct sp_script_text *out)
{
	sp_err	e;

	if (p < end && *p == '"') {
		if ((e = quoted(r, &p, end, out)) != SP_E_OK)
			return (e);
		if (p != end) {
			free((void *)out->p);
			out->p = NULL;
			return (fail(r, "text after the closing quote"));
		}
		return (SP_E_OK);
	}
	out->len = (size_t)(end - p);
	out->p = (const uint8_t *)sp__strndup(p, out->len);
	return (out->p != NULL ? SP_E_OK : SP_E_NOMEM);
}

/* "5s", "500ms", "1.5s", "2m", "3" (seconds).  Capped at a day. */
static int
parse_ms(const char *p, size_t n, unsigned *ms)
{
	double	v = 0, scale = 1, frac = 0.1;
	size_t	i = 0;
	int	digits = 0;

	for (; i < n && p[i] >= '0' && p[i] <= '9'; i++, digits++)
		v = v * 10 + (p[i] - '0');
	if (i < n && p[i] == '.')
		for (i++; i < n && p[i] >= '0' && p[i] <= '9'; i++, digits++) {
			v += (p[i] - '0') * frac;
			frac /= 10;
		}
	if (digits == 0)
		return (0);
	if (n - i == 2 && memcmp(p + i, "ms", 2) == 0)
		scale = 0.001;
	else if (n - i == 1 && p[i] == 'm')
		scale = 60;
	else if (!(n == i || (n - i == 1 && p[i] == 's')))
		return (0);
	v = v * scale * 1000;
	if (v > 86400000.0)
		return (0);
	*ms = (unsigned)(v + 0.5);
	return (1);
}

static int
parse_u64(const char *p, size_t n, uint64_t *out)
{
	uint64_t	v = 0;

	if (n == 0 || n > 19)
		return (0);
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return (0);
		v = v * 10 + (uint64_t)(p[i] - '0');
	}
	*out = v;
	return (1);
}

static int
tok_is(const char *t, size_t n, const char *w)
{
	return (n == strlen(w) && memcmp(t, w, n) == 0);
}


/* Append st (deep copy) and free what the reader allocated for it. */
static sp_err
add(struct rd *r, struct sp_script_step *st)
{
	sp_err	e;

	if (st->line == 0)
		st->line = r->line;
	e = sp_script_append(r->s, st);
	sp__script_step_free(st);
	if (e == SP_E_INVAL)
		return (fail(r, "invalid %s step", sp__script_op_name(st->op)));
	if (e == SP_E_LIMIT)
		return (fail(r, "more than %d steps", SP_SCRIPT_MAX_STEPS));
	return (e);
}

/* "250|251", "2xx", "any". */
static sp_err
parse_codes(struct rd *r, const char *t, size_t n,
    struct sp_script_expect *x)
{
	size_t	i = 0, k;

	if (tok_is(t, n, "any"))
		return (SP_E_OK);
	while (i < n) {
		for (k = i; k < n && t[k] != '|'; k++)
			continue;
		if (k - i != 3 || x->ncodes == SP_SCRIPT_MAX_CODES)
			return (fail(r, "bad reply code '%.*s' (want e.g. 250, "
			    "2xx, 250|251 or any)", (int)n, t));
		memcpy(x->codes[x->ncodes], t + i, 3);
		x->codes[x->ncodes][3] = '\0';
		for (size_t j = 0; j < 3; j++)
			x->codes[x->ncodes][j] = (char)(t[i + j] == 'X' ? 'x' :
			    t[i + j]);
		x->ncodes++;
		i = k + 1;
	}
	return (x->ncodes > 0 ? SP_E_OK : fail(r, "missing reply code"));
}

/* The text pattern: "substring" or /regex/ or /regex/i. */
static sp_err
parse_pattern(struct rd *r, const char *p, const char *end,
    struct sp_script_expect *x)
{
	struct sp_script_text	t;
	const char		*last;
	sp_err			 e;

	if (p == end)
		return (SP_E_OK);
	if (*p == '"') {
		if ((e = text_arg(r, p, end, &t)) != SP_E_OK)
			return (e);
		if (memchr(t.p, '\0', t.len) != NULL) {
			free((void *)t.p);
			return (fail(r, "NUL in a text pattern"));
		}
		x->pattern = (const char *)t.p;
		return (SP_E_OK);
	}
	if (*p != '/')
		return (fail(r, "pattern must be \"text\" or /regex/"));
	x->icase = end - p >= 3 && end[-1] == 'i' && end[-2] == '/';
	last = x->icase ? end - 2 : end - 1;
	if (last <= p || *last != '/')
		return (fail(r, "regex without its closing /"));
	x->regex = 1;
	x->pattern = sp__strndup(p + 1, (size_t)(last - p - 1));
	return (x->pattern != NULL ? SP_E_OK : SP_E_NOMEM);
}

/* expect CODES [within T] ["text" | /re/] */
static sp_err
st_expect(struct rd *r, const char *p, const char *end)
{
	struct sp_script_step	 st;
	const char		*t;
	size_t			 n;
	sp_err			 e;

	memset(&st, 0, sizeof(st));
	st.op = SP_STEP_EXPECT;
	n = token(&p, end, &t);
	if ((e = parse_codes(r, t, n, &st.expect)) != SP_E_OK)
		return (e);
	if (end - p > 7 && memcmp(p, "within ", 7) == 0) {
		n = token(&p, end, &t);
		n = token(&p, end, &t);
		if (!parse_ms(t, n, &st.expect.within_ms) ||
		    st.expect.within_ms == 0)
			return (fail(r, "bad time '%.*s'", (int)n, t));
	}
	if ((e = parse_pattern(r, p, end, &st.expect)) != SP_E_OK)
		return (e);
	return (add(r, &st));
}

/* One time argument: sleep T, expect-silence T, expect-close [T]. */
static sp_err
st_timed(struct rd *r, enum sp_script_op op, const char *p, const char *end)
{
	struct sp_script_step	 st;
	const char		*t;
	size_t			 n;

	memset(&st, 0, sizeof(st));
	st.op = op;
	n = token(&p, end, &t);
	if (n == 0 && op == SP_STEP_EXPECT_CLOSE)
		return (add(r, &st));
	if (!parse_ms(t, n, &st.ms) || p != end)
		return (fail(r, "%s: bad time '%.*s' (e.g. 2s, 500ms)",
		    sp__script_op_name(op), (int)n, t));
	return (add(r, &st));
}

/* expect-count N within T */
static sp_err
st_count(struct rd *r, const char *p, const char *end)
{
	struct sp_script_step	 st;
	const char		*t;
	size_t			 n;
	uint64_t		 v;

	memset(&st, 0, sizeof(st));
	st.op = SP_STEP_EXPECT_COUNT;
	n = token(&p, end, &t);
	if (!parse_u64(t, n, &v) || v > 100000)
		return (fail(r, "expect-count: bad count '%.*s'", (int)n, t));
	st.count = (unsigned)v;
	n = token(&p, end, &t);
	if (!tok_is(t, n, "within"))
		return (fail(r, "expect-count N within T"));
	n = token(&p, end, &t);
	if (!parse_ms(t, n, &st.ms) || p != end)
		return (fail(r, "expect-count: bad time '%.*s'", (int)n, t));
	return (add(r, &st));
}

static sp_err
st_send(struct rd *r, enum sp_script_op op, const char *p, const char *end)
{
	struct sp_script_step	st;
	sp_err			e;

	memset(&st, 0, sizeof(st));
	st.op = op;
	if (op == SP_STEP_SENDRAW && (p == end || *p != '"'))
		return (fail(r, "sendraw takes a \"quoted string\""));
	if ((e = text_arg(r, p, end, &st.text)) != SP_E_OK)
		return (e);
	return (add(r, &st));
}

static sp_err
grow_lines(struct sp_script_step *st, size_t *cap)
{
	struct sp_script_text	*nl;
	size_t			 ncap = *cap != 0 ? 2 * *cap : 8;

	if (st->nlines < *cap)
		return (SP_E_OK);
	if (ncap > 100000 || (nl = realloc((void *)st->lines,
	    ncap * sizeof(*nl))) == NULL)
		return (SP_E_NOMEM);
	st->lines = nl;
	*cap = ncap;
	return (SP_E_OK);
}

/* pipeline / LINE... / end.  Blank and # lines are skipped. */
static sp_err
st_pipeline(struct rd *r)
{
	struct sp_script_step	 st;
	struct sp_script_text	*lines;
	size_t			 cap = 0;
	unsigned		 first = r->line;
	sp_err			 e = SP_E_OK;

	memset(&st, 0, sizeof(st));
	st.op = SP_STEP_PIPELINE;
	while (e == SP_E_OK && next_line(r)) {
		if (is_blank(r->l, r->n))
			continue;
		if (tok_is(r->l, r->n, "end")) {
			st.line = first;
			return (add(r, &st));
		}
		if ((e = grow_lines(&st, &cap)) != SP_E_OK)
			break;
		lines = (struct sp_script_text *)st.lines;
		e = text_arg(r, r->l, r->l + r->n, &lines[st.nlines]);
		if (e == SP_E_OK)
			st.nlines++;
	}
	if (e == SP_E_OK)
		e = fail(r, "pipeline from line %u has no 'end'", first);
	for (size_t i = 0; i < st.nlines; i++)
		free((void *)st.lines[i].p);
	free((void *)st.lines);
	return (e);
}

/* The body of "data": lines up to a lone ".", each given CRLF. */
static sp_err
data_body(struct rd *r, struct sp_script_step *st)
{
	struct sp_str	b;
	unsigned	first = r->line;

	sp__str_init(&b, SP_SCRIPT_MAX_BYTES);
	while (next_line(r)) {
		if (r->n == 1 && r->l[0] == '.') {
			st->text.len = b.len;
			st->text.p = (const uint8_t *)sp__str_take(&b);
			return (st->text.p != NULL ? SP_E_OK : SP_E_NOMEM);
		}
		sp__str_add(&b, r->l, r->n);
		sp__str_add(&b, "\r\n", 2);
	}
	free(b.p);
	return (fail(r, "data from line %u has no final '.' line", first));
}

/* data | data "bytes" | data @file; the same for data-body. */
static sp_err
st_data(struct rd *r, enum sp_script_op op, const char *p, const char *end)
{
	struct sp_script_step	st;
	sp_err			e;

	memset(&st, 0, sizeof(st));
	st.op = op;
	st.line = r->line;
	if (p == end)
		e = data_body(r, &st);
	else if (*p == '@' && end - p > 1)
		e = (st.path = sp__strndup(p + 1, (size_t)(end - p - 1))) !=
		    NULL ? SP_E_OK : SP_E_NOMEM;
	else if (*p == '"')
		e = text_arg(r, p, end, &st.text);
	else
		e = fail(r, "%s takes nothing, \"bytes\" or @file",
		    sp__script_op_name(op));
	st.has_text = st.path == NULL;
	if (e != SP_E_OK) {
		free((void *)st.text.p);
		return (e);
	}
	return (add(r, &st));
}

/* bdat N [last] ["bytes"] */
static sp_err
st_bdat(struct rd *r, const char *p, const char *end)
{
	struct sp_script_step	 st;
	const char		*t;
	size_t			 n;
	sp_err			 e;

	memset(&st, 0, sizeof(st));
	st.op = SP_STEP_BDAT;
	n = token(&p, end, &t);
	if (!parse_u64(t, n, &st.size) || st.size > SP_SCRIPT_MAX_BYTES * 64)
		return (fail(r, "bdat: bad size '%.*s'", (int)n, t));
	if (end - p >= 4 && (strncmp(p, "last", 4) == 0 ||
	    strncmp(p, "LAST", 4) == 0) && (end - p == 4 || p[4] == ' ')) {
		st.last = 1;
		n = token(&p, end, &t);
	}
	if (p < end) {
		if (*p != '"')
			return (fail(r, "bdat N [last] [\"bytes\"]"));
		if ((e = text_arg(r, p, end, &st.text)) != SP_E_OK)
			return (e);
		st.has_text = 1;
	}
	return (add(r, &st));
}

/* bdat-file @file CHUNK */
static sp_err
st_bdat_file(struct rd *r, const char *p, const char *end)
{
	struct sp_script_step	 st;
	const char		*sp;

	memset(&st, 0, sizeof(st));
	st.op = SP_STEP_BDAT_FILE;
	for (sp = end; sp > p && sp[-1] != ' '; sp--)
		continue;
	if (p == end || *p != '@' || sp <= p + 2 ||
	    !parse_u64(sp, (size_t)(end - sp), &st.size) || st.size == 0)
		return (fail(r, "bdat-file @file CHUNK"));
	if ((st.path = sp__strndup(p + 1, (size_t)(sp - p - 2))) == NULL)
		return (SP_E_NOMEM);
	return (add(r, &st));
}

/* A word or a "quoted" string, as a NUL-terminated copy. */
static sp_err
word(struct rd *r, const char **p, const char *end, const char **out)
{
	struct sp_script_text	 t;
	const char		*w;
	size_t			 n;
	sp_err			 e;

	if (*p < end && **p == '"') {
		if ((e = quoted(r, p, end, &t)) != SP_E_OK)
			return (e);
		*out = (const char *)t.p;
		return (SP_E_OK);
	}
	if ((n = token(p, end, &w)) == 0)
		return (fail(r, "auth MECH USER SECRET"));
	*out = sp__strndup(w, n);
	return (*out != NULL ? SP_E_OK : SP_E_NOMEM);
}

/* auth plain|login|cram-md5|xoauth2 USER SECRET */
static sp_err
st_auth(struct rd *r, const char *p, const char *end)
{
	struct sp_script_step	 st;
	const char		*t;
	size_t			 n;
	sp_err			 e;

	memset(&st, 0, sizeof(st));
	st.op = SP_STEP_AUTH;
	n = token(&p, end, &t);
	if ((st.mech = sp_script_auth_from_name(t, n)) == 0)
		return (fail(r, "auth: unknown mechanism '%.*s' (plain, login, "
		    "cram-md5, xoauth2)", (int)n, t));
	e = word(r, &p, end, &st.user);
	if (e == SP_E_OK)
		e = word(r, &p, end, &st.secret);
	if (e == SP_E_OK && p != end)
		e = fail(r, "auth: text after the secret");
	if (e != SP_E_OK) {
		free((void *)st.user);
		free((void *)st.secret);
		return (e);
	}
	return (add(r, &st));
}

static sp_err
st_bare(struct rd *r, enum sp_script_op op, const char *p, const char *end)
{
	struct sp_script_step	st;

	if (p != end)
		return (fail(r, "%s takes no argument",
		    sp__script_op_name(op)));
	memset(&st, 0, sizeof(st));
	st.op = op;
	return (add(r, &st));
}

/* ------------------------------------------------------ the header */

struct hdr {
	struct sp_script_meta	 m;
	char			*fix[64], *tag[64];
	int			 seen[6];
};

static sp_err
hdr_list(struct rd *r, const char *p, const char *end, char **v, size_t *n)
{
	const char	*t;
	size_t		 k;

	while (p < end) {
		while (p < end && (*p == ' ' || *p == ','))
			p++;
		for (t = p; p < end && *p != ' ' && *p != ','; p++)
			continue;
		if ((k = (size_t)(p - t)) == 0)
			continue;
		if (*n == 64)
			return (fail(r, "more than 64 names"));
		if ((v[(*n)++] = sp__strndup(t, k)) == NULL)
			return (SP_E_NOMEM);
	}
	return (SP_E_OK);
}

static sp_err
hdr_level(struct rd *r, const char *p, size_t n, enum sp_script_level *l)
{
	for (int i = SP_LEVEL_MUST; i <= SP_LEVEL_MAY; i++) {
		const char	*name = sp__script_level_name(
				    (enum sp_script_level)i);

		if (n == strlen(name) && strncasecmp(p, name, n) == 0) {
			*l = (enum sp_script_level)i;
			return (SP_E_OK);
		}
	}
	return (fail(r, "level: want MUST, MUST NOT, SHOULD, SHOULD NOT or "
	    "MAY"));
}

/* "key: value" before the first step. */
static sp_err
header_line(struct rd *r, struct hdr *h, const char *k, size_t kn,
    const char *p, const char *end)
{
	static const char *const keys[] = { "id:", "title:", "rfc:",
					    "level:", "fixture:", "tags:" };
	const char	**dst[] = { &h->m.id, &h->m.title, &h->m.rfc };
	int		  i;

	for (i = 0; i < 6 && !tok_is(k, kn, keys[i]); i++)
		continue;
	if (i == 6)
		return (fail(r, "unknown header '%.*s' (id, title, rfc, level, "
		    "fixture, tags)", (int)kn, k));
	if (r->steps_seen)
		return (fail(r, "header '%.*s' after the first step", (int)kn,
		    k));
	if (h->seen[i]++)
		return (fail(r, "header '%.*s' given twice", (int)kn, k));
	while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	if (i < 3)
		return ((*dst[i] = sp__strndup(p, (size_t)(end - p))) != NULL ?
		    SP_E_OK : SP_E_NOMEM);
	if (i == 3)
		return (hdr_level(r, p, (size_t)(end - p), &h->m.level));
	if (i == 4)
		return (hdr_list(r, p, end, h->fix, &h->m.nfixtures));
	return (hdr_list(r, p, end, h->tag, &h->m.ntags));
}

static sp_err
hdr_finish(sp_script *s, struct hdr *h, sp_err e)
{
	h->m.fixtures = (const char *const *)h->fix;
	h->m.tags = (const char *const *)h->tag;
	if (e == SP_E_OK)
		e = sp_script_set_meta(s, &h->m);
	free((void *)h->m.id);
	free((void *)h->m.title);
	free((void *)h->m.rfc);
	for (size_t i = 0; i < h->m.nfixtures; i++)
		free(h->fix[i]);
	for (size_t i = 0; i < h->m.ntags; i++)
		free(h->tag[i]);
	return (e);
}

/* ------------------------------------------------------- the loop */

static sp_err
step_line(struct rd *r, const char *op, size_t n, const char *p,
    const char *end)
{
	r->steps_seen = 1;
	if (tok_is(op, n, "send"))
		return (st_send(r, SP_STEP_SEND, p, end));
	if (tok_is(op, n, "sendraw"))
		return (st_send(r, SP_STEP_SENDRAW, p, end));
	if (tok_is(op, n, "pipeline"))
		return (p == end ? st_pipeline(r) :
		    fail(r, "pipeline takes no argument"));
	if (tok_is(op, n, "expect"))
		return (st_expect(r, p, end));
	if (tok_is(op, n, "expect-count"))
		return (st_count(r, p, end));
	if (tok_is(op, n, "expect-silence"))
		return (st_timed(r, SP_STEP_EXPECT_SILENCE, p, end));
	if (tok_is(op, n, "expect-close"))
		return (st_timed(r, SP_STEP_EXPECT_CLOSE, p, end));
	if (tok_is(op, n, "sleep"))
		return (st_timed(r, SP_STEP_SLEEP, p, end));
	if (tok_is(op, n, "starttls"))
		return (st_bare(r, SP_STEP_STARTTLS, p, end));
	if (tok_is(op, n, "quit"))
		return (st_bare(r, SP_STEP_QUIT, p, end));
	if (tok_is(op, n, "tls"))
		return (st_bare(r, SP_STEP_TLS, p, end));
	if (tok_is(op, n, "data"))
		return (st_data(r, SP_STEP_DATA, p, end));
	if (tok_is(op, n, "data-body"))
		return (st_data(r, SP_STEP_DATA_BODY, p, end));
	if (tok_is(op, n, "bdat"))
		return (st_bdat(r, p, end));
	if (tok_is(op, n, "bdat-file"))
		return (st_bdat_file(r, p, end));
	if (tok_is(op, n, "auth"))
		return (st_auth(r, p, end));
	return (fail(r, "unknown step '%.*s'", (int)n, op));
}

static sp_err
parse_all(struct rd *r, struct hdr *h)
{
	const char	*p, *end, *op;
	size_t		 n;
	sp_err		 e = SP_E_OK;

	while (e == SP_E_OK && next_line(r)) {
		if (is_blank(r->l, r->n))
			continue;
		p = r->l;
		end = r->l + r->n;
		n = token(&p, end, &op);
		if (op[n - 1] == ':')
			e = header_line(r, h, op, n, p, end);
		else
			e = step_line(r, op, n, p, end);
	}
	return (e);
}

sp_err
sp_script_parse(sp_script **out, const char *text, size_t len,
    const char *base_dir, struct sp_script_error *err)
{
	struct rd	r;
	struct hdr	h;
	sp_err		e;

	if (out == NULL || (text == NULL && len > 0))
		return (SP_E_INVAL);
	*out = NULL;
	if (err != NULL)
		memset(err, 0, sizeof(*err));
	if (len > SP_SCRIPT_MAX_BYTES)
		return (SP_E_LIMIT);
	/* NUL is written \0 inside quotes; raw, it would cut names. */
	if (len > 0 && memchr(text, '\0', len) != NULL) {
		if (err != NULL) {
			err->line = 1;
			for (const char *q = text; *q != '\0'; q++)
				err->line += *q == '\n';
			(void)snprintf(err->msg, sizeof(err->msg),
			    "NUL byte (write \\0 inside quotes)");
		}
		return (SP_E_FORMAT);
	}
	memset(&r, 0, sizeof(r));
	memset(&h, 0, sizeof(h));
	r.p = text;
	r.end = text + len;
	r.err = err;
	if ((e = sp_script_new(&r.s)) != SP_E_OK)
		return (e);
	e = hdr_finish(r.s, &h, parse_all(&r, &h));
	if (e == SP_E_OK && base_dir != NULL &&
	    (r.s->base_dir = sp__strdup(base_dir)) == NULL)
		e = SP_E_NOMEM;
	if (e != SP_E_OK) {
		sp_script_free(r.s);
		return (e);
	}
	*out = r.s;
	return (SP_E_OK);
}

sp_err
sp_script_load(sp_script **out, const char *path,
    struct sp_script_error *err)
{
	struct sp_str	 b;
	char		 buf[8192], *dir, *slash;
	size_t		 n;
	FILE		*f;
	sp_err		 e;

	if (out == NULL || path == NULL)
		return (SP_E_INVAL);
	if ((f = fopen(path, "rb")) == NULL) {
		if (err != NULL)
			(void)snprintf(err->msg, sizeof(err->msg), "%s: %s",
			    path, strerror(errno));
		return (SP_E_IO);
	}
	sp__str_init(&b, SP_SCRIPT_MAX_BYTES + 1);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		sp__str_add(&b, buf, n);
	(void)fclose(f);
	if (b.failed) {
		free(b.p);
		return (b.len >= SP_SCRIPT_MAX_BYTES ? SP_E_LIMIT : SP_E_NOMEM);
	}
	if ((dir = sp__strdup(path)) == NULL) {
		free(b.p);
		return (SP_E_NOMEM);
	}
	slash = strrchr(dir, '/');
	if (slash != NULL)
		*slash = '\0';
	e = sp_script_parse(out, b.p != NULL ? b.p : "", b.len,
	    slash != NULL ? dir : ".", err);
	free(dir);
	free(b.p);
	return (e);
}
