/*
 * script.c - the session-script model: steps are deep copies owned by
 * the script, checked on the way in, so the reader, the tools that
 * build scripts (the shell's :record, the fuzzer's reproducers) and
 * the converter all produce scripts the writer and runner can trust.
 */
#include <stdarg.h>
#include <stdio.h>

#include "script_int.h"

/* ------------------------------------------------------- strings */

void
sp__str_init(struct sp_str *s, size_t max)
{
	memset(s, 0, sizeof(*s));
	s->max = max;
}

void
sp__str_add(struct sp_str *s, const void *p, size_t n)
{
	size_t	ncap;
	char	*np;

	if (s->failed || n == 0)
		return;
	if (n > s->max - s->len || s->max - s->len - n < 1) {
		s->failed = 1;
		return;
	}
	if (s->len + n + 1 > s->cap) {
		ncap = s->cap != 0 ? s->cap : 256;
		while (ncap < s->len + n + 1)
			ncap = ncap > s->max / 2 ? s->max : ncap * 2;
		if ((np = realloc(s->p, ncap)) == NULL) {
			s->failed = 1;
			return;
		}
		s->p = np;
		s->cap = ncap;
	}
	memcpy(s->p + s->len, p, n);
	s->len += n;
	s->p[s->len] = '\0';
}

void
sp__str_addf(struct sp_str *s, const char *fmt, ...)
{
	char	buf[512];
	va_list	ap;
	int	k;

	va_start(ap, fmt);
	k = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (k > 0)
		sp__str_add(s, buf, SP_MIN((size_t)k, sizeof(buf) - 1));
}

void
sp__str_add_escaped(struct sp_str *s, const uint8_t *p, size_t n)
{
	static const char	hex[] = "0123456789abcdef";
	char			e[4];

	for (size_t i = 0; i < n; i++) {
		const char	*r = NULL;

		switch (p[i]) {
		case '\r': r = "\\r"; break;
		case '\n': r = "\\n"; break;
		case '\t': r = "\\t"; break;
		case '\\': r = "\\\\"; break;
		case '"': r = "\\\""; break;
		default:
			break;
		}
		if (r != NULL) {
			sp__str_add(s, r, 2);
		} else if (p[i] < 0x20 || p[i] >= 0x7f) {
			e[0] = '\\';
			e[1] = 'x';
			e[2] = hex[p[i] >> 4];
			e[3] = hex[p[i] & 15];
			sp__str_add(s, e, 4);
		} else {
			sp__str_add(s, p + i, 1);
		}
	}
}

char *
sp__str_take(struct sp_str *s)
{
	char	*p;

	if (s->failed) {
		free(s->p);
		s->p = NULL;
		return (NULL);
	}
	if (s->p == NULL)
		return (sp__strdup(""));
	p = s->p;
	s->p = NULL;
	return (p);
}

char *
sp__strndup(const char *s, size_t n)
{
	char	*p;

	if (n == SIZE_MAX || (p = malloc(n + 1)) == NULL)
		return (NULL);
	if (n > 0)
		memcpy(p, s, n);
	p[n] = '\0';
	return (p);
}

char *
sp__strdup(const char *s)
{
	return (sp__strndup(s, strlen(s)));
}

/* --------------------------------------------------------- names */

static const char *const op_names[] = {
	"", "send", "sendraw", "pipeline", "expect", "expect-count",
	"expect-silence", "expect-close", "starttls", "data", "data-body",
	"bdat", "bdat-file", "auth", "sleep", "quit", "tls"
};

const char *
sp__script_op_name(enum sp_script_op op)
{
	if ((size_t)op >= SP_NELEM(op_names))
		return ("?");
	return (op_names[op]);
}

const char *
sp__script_auth_name(enum sp_script_auth m)
{
	switch (m) {
	case SP_AUTH_PLAIN:	return ("plain");
	case SP_AUTH_LOGIN:	return ("login");
	case SP_AUTH_CRAM_MD5:	return ("cram-md5");
	case SP_AUTH_XOAUTH2:	return ("xoauth2");
	}
	return ("?");
}

enum sp_script_auth
sp_script_auth_from_name(const char *name, size_t n)
{
	for (int m = SP_AUTH_PLAIN; m <= SP_AUTH_XOAUTH2; m++) {
		const char	*s = sp__script_auth_name((enum sp_script_auth)m);

		if (strlen(s) == n && strncasecmp(name, s, n) == 0)
			return ((enum sp_script_auth)m);
	}
	return (0);
}

const char *
sp__script_level_name(enum sp_script_level l)
{
	switch (l) {
	case SP_LEVEL_NONE:		return ("");
	case SP_LEVEL_MUST:		return ("MUST");
	case SP_LEVEL_MUST_NOT:		return ("MUST NOT");
	case SP_LEVEL_SHOULD:		return ("SHOULD");
	case SP_LEVEL_SHOULD_NOT:	return ("SHOULD NOT");
	case SP_LEVEL_MAY:		return ("MAY");
	}
	return ("");
}

const char *
sp_verdict_name(enum sp_verdict v)
{
	switch (v) {
	case SP_VERDICT_PASS:	return ("pass");
	case SP_VERDICT_FAIL:	return ("fail");
	case SP_VERDICT_ERROR:	return ("error");
	case SP_VERDICT_SKIP:	return ("skip");
	}
	return ("?");
}

/* ----------------------------------------------------- the model */

sp_err
sp_script_new(sp_script **out)
{
	if (out == NULL)
		return (SP_E_INVAL);
	*out = calloc(1, sizeof(**out));
	return (*out != NULL ? SP_E_OK : SP_E_NOMEM);
}

static void
free_list(char **v, size_t n)
{
	for (size_t i = 0; i < n && v != NULL; i++)
		free(v[i]);
	free(v);
}

void
sp__script_step_free(struct sp_script_step *st)
{
	free((void *)st->text.p);
	for (size_t i = 0; i < st->nlines; i++)
		free((void *)st->lines[i].p);
	free((void *)st->lines);
	free((void *)st->path);
	free((void *)st->expect.pattern);
	free((void *)st->user);
	free((void *)st->secret);
}

static void
meta_free(sp_script *s)
{
	free((void *)s->meta.id);
	free((void *)s->meta.title);
	free((void *)s->meta.rfc);
	free_list(s->fixtures, s->meta.nfixtures);
	free_list(s->tags, s->meta.ntags);
	memset(&s->meta, 0, sizeof(s->meta));
	s->fixtures = s->tags = NULL;
}

void
sp_script_free(sp_script *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->nsteps; i++)
		sp__script_step_free(&s->steps[i]);
	free(s->steps);
	meta_free(s);
	free(s->base_dir);
	free(s);
}

static int
dup_opt(const char *in, const char **out)
{
	*out = NULL;
	if (in == NULL)
		return (1);
	return ((*out = sp__strdup(in)) != NULL);
}

static int
one_line(const char *s)
{
	return (s == NULL || strpbrk(s, "\r\n") == NULL);
}

static sp_err
dup_list(const char *const *in, size_t n, char ***out)
{
	*out = NULL;
	if (n == 0)
		return (SP_E_OK);
	if ((*out = calloc(n, sizeof(char *))) == NULL)
		return (SP_E_NOMEM);
	for (size_t i = 0; i < n; i++) {
		if (in[i] == NULL || !one_line(in[i]) || in[i][0] == '\0' ||
		    strpbrk(in[i], " ,\t") != NULL)
			return (SP_E_INVAL);
		if (((*out)[i] = sp__strdup(in[i])) == NULL)
			return (SP_E_NOMEM);
	}
	return (SP_E_OK);
}

sp_err
sp_script_set_meta(sp_script *s, const struct sp_script_meta *m)
{
	sp_err	e;

	if (s == NULL || m == NULL || !one_line(m->id) || !one_line(m->title) ||
	    !one_line(m->rfc) || m->level > SP_LEVEL_MAY)
		return (SP_E_INVAL);
	meta_free(s);
	s->meta.level = m->level;
	if (!dup_opt(m->id, &s->meta.id) || !dup_opt(m->title,
	    &s->meta.title) || !dup_opt(m->rfc, &s->meta.rfc))
		return (SP_E_NOMEM);
	e = dup_list(m->fixtures, m->nfixtures, &s->fixtures);
	s->meta.nfixtures = s->fixtures != NULL ? m->nfixtures : 0;
	if (e == SP_E_OK)
		e = dup_list(m->tags, m->ntags, &s->tags);
	s->meta.ntags = s->tags != NULL ? m->ntags : 0;
	s->meta.fixtures = (const char *const *)s->fixtures;
	s->meta.tags = (const char *const *)s->tags;
	return (e);
}

/* "250", "2xx", "25x": RFC 5321 4.2 reply codes, x = any digit. */
static int
code_ok(const char *c)
{
	if (strlen(c) != 3)
		return (0);
	if (!(c[0] == 'x' || (c[0] >= '1' && c[0] <= '5')))
		return (0);
	for (int i = 1; i < 3; i++)
		if (!(c[i] == 'x' || (c[i] >= '0' && c[i] <= '9')))
			return (0);
	return (1);
}

static sp_err
check_step(const struct sp_script_step *st)
{
	if (st->op < SP_STEP_SEND || st->op > SP_STEP_TLS)
		return (SP_E_INVAL);
	if (st->expect.ncodes > SP_SCRIPT_MAX_CODES)
		return (SP_E_INVAL);
	for (size_t i = 0; i < st->expect.ncodes; i++)
		if (!code_ok(st->expect.codes[i]))
			return (SP_E_INVAL);
	for (size_t i = 0; i < st->nlines; i++)
		if (st->lines[i].p == NULL && st->lines[i].len > 0)
			return (SP_E_INVAL);
	for (size_t i = 0; i < st->nlines; i++)
		if (st->lines[i].len > 0 &&
		    (memchr(st->lines[i].p, '\n', st->lines[i].len) != NULL ||
		    memchr(st->lines[i].p, '\r', st->lines[i].len) != NULL))
			return (SP_E_INVAL);
	if (st->text.p == NULL && st->text.len > 0)
		return (SP_E_INVAL);
	if (st->op == SP_STEP_BDAT_FILE && (st->path == NULL ||
	    st->size == 0))
		return (SP_E_INVAL);
	if (st->op == SP_STEP_AUTH && (st->user == NULL ||
	    st->secret == NULL || st->mech < SP_AUTH_PLAIN ||
	    st->mech > SP_AUTH_XOAUTH2 || !one_line(st->user) ||
	    !one_line(st->secret)))
		return (SP_E_INVAL);
	if (!one_line(st->path) || !one_line(st->expect.pattern))
		return (SP_E_INVAL);
	return (SP_E_OK);
}

static int
dup_bytes(struct sp_script_text *dst, const struct sp_script_text *src)
{
	dst->p = NULL;
	dst->len = src->len;
	if (src->p == NULL && src->len == 0)
		return (1);
	dst->p = (const uint8_t *)sp__strndup((const char *)src->p, src->len);
	return (dst->p != NULL);
}

/*
 * Only the fields an op uses are kept, so two scripts that do the same
 * thing compare equal whatever the caller left in the others.
 */
static void
relevant(struct sp_script_step *d, const struct sp_script_step *st)
{
	memset(d, 0, sizeof(*d));
	d->op = st->op;
	d->line = st->line;
	switch (st->op) {
	case SP_STEP_PIPELINE:
		d->lines = st->lines;
		d->nlines = st->nlines;
		break;
	case SP_STEP_EXPECT:
		d->expect = st->expect;
		break;
	case SP_STEP_EXPECT_COUNT:
		d->count = st->count;
		/* FALLTHROUGH */
	case SP_STEP_EXPECT_SILENCE:
	case SP_STEP_EXPECT_CLOSE:
	case SP_STEP_SLEEP:
		d->ms = st->ms;
		break;
	case SP_STEP_DATA:
	case SP_STEP_DATA_BODY:
		d->path = st->path;
		d->has_text = st->path == NULL;
		if (d->has_text)
			d->text = st->text;
		break;
	case SP_STEP_BDAT:
		d->size = st->size;
		d->last = st->last != 0;
		d->has_text = st->has_text != 0;
		if (d->has_text)
			d->text = st->text;
		break;
	case SP_STEP_BDAT_FILE:
		d->path = st->path;
		d->size = st->size;
		break;
	case SP_STEP_AUTH:
		d->mech = st->mech;
		d->user = st->user;
		d->secret = st->secret;
		break;
	case SP_STEP_SEND:
	case SP_STEP_SENDRAW:
		d->text = st->text;
		break;
	case SP_STEP_STARTTLS:
	case SP_STEP_QUIT:
	case SP_STEP_TLS:
		break;
	}
}

static sp_err
copy_step(struct sp_script_step *d, const struct sp_script_step *in)
{
	struct sp_script_text	*lines = NULL;
	struct sp_script_step	 st;

	relevant(&st, in);
	*d = st;
	d->text.p = NULL;
	d->lines = NULL;
	d->nlines = 0;
	d->path = d->user = d->secret = d->expect.pattern = NULL;
	if (!dup_bytes(&d->text, &st.text))
		return (SP_E_NOMEM);
	if (st.nlines > 0) {
		if ((lines = calloc(st.nlines, sizeof(*lines))) == NULL)
			return (SP_E_NOMEM);
		d->lines = lines;
		for (; d->nlines < st.nlines; d->nlines++)
			if (!dup_bytes(&lines[d->nlines], &st.lines[d->nlines]))
				return (SP_E_NOMEM);
	}
	if (!dup_opt(st.path, &d->path) || !dup_opt(st.user, &d->user) ||
	    !dup_opt(st.secret, &d->secret) ||
	    !dup_opt(st.expect.pattern, &d->expect.pattern))
		return (SP_E_NOMEM);
	return (SP_E_OK);
}

sp_err
sp_script_append(sp_script *s, const struct sp_script_step *st)
{
	struct sp_script_step	*np;
	size_t			 ncap;
	sp_err			 e;

	if (s == NULL || st == NULL)
		return (SP_E_INVAL);
	if ((e = check_step(st)) != SP_E_OK)
		return (e);
	if (s->nsteps >= SP_SCRIPT_MAX_STEPS)
		return (SP_E_LIMIT);
	if (s->nsteps == s->cap) {
		ncap = s->cap != 0 ? 2 * s->cap : 16;
		if ((np = realloc(s->steps, ncap * sizeof(*np))) == NULL)
			return (SP_E_NOMEM);
		s->steps = np;
		s->cap = ncap;
	}
	e = copy_step(&s->steps[s->nsteps], st);
	if (e != SP_E_OK) {
		sp__script_step_free(&s->steps[s->nsteps]);
		return (e);
	}
	s->nsteps++;
	return (SP_E_OK);
}

const struct sp_script_meta *
sp_script_get_meta(const sp_script *s)
{
	return (&s->meta);
}

size_t
sp_script_nsteps(const sp_script *s)
{
	return (s != NULL ? s->nsteps : 0);
}

const struct sp_script_step *
sp_script_step_at(const sp_script *s, size_t i)
{
	return (s != NULL && i < s->nsteps ? &s->steps[i] : NULL);
}

/* ------------------------------------------------------- equality */

static int
str_eq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return (a == b);
	return (strcmp(a, b) == 0);
}

static int
text_eq(const struct sp_script_text *a, const struct sp_script_text *b)
{
	return (a->len == b->len && (a->len == 0 ||
	    memcmp(a->p, b->p, a->len) == 0));
}

static int
expect_eq(const struct sp_script_expect *a, const struct sp_script_expect *b)
{
	if (a->ncodes != b->ncodes || a->regex != b->regex ||
	    a->icase != b->icase || a->within_ms != b->within_ms ||
	    !str_eq(a->pattern, b->pattern))
		return (0);
	for (size_t i = 0; i < a->ncodes; i++)
		if (strcmp(a->codes[i], b->codes[i]) != 0)
			return (0);
	return (1);
}

static int
step_eq(const struct sp_script_step *a, const struct sp_script_step *b)
{
	if (a->op != b->op || !text_eq(&a->text, &b->text) ||
	    a->nlines != b->nlines || !str_eq(a->path, b->path) ||
	    !expect_eq(&a->expect, &b->expect) || a->count != b->count ||
	    a->ms != b->ms || a->size != b->size || a->last != b->last ||
	    a->has_text != b->has_text || a->mech != b->mech ||
	    !str_eq(a->user, b->user) || !str_eq(a->secret, b->secret))
		return (0);
	for (size_t i = 0; i < a->nlines; i++)
		if (!text_eq(&a->lines[i], &b->lines[i]))
			return (0);
	return (1);
}

static int
list_eq(const char *const *a, size_t na, const char *const *b, size_t nb)
{
	if (na != nb)
		return (0);
	for (size_t i = 0; i < na; i++)
		if (strcmp(a[i], b[i]) != 0)
			return (0);
	return (1);
}

int
sp_script_equal(const sp_script *a, const sp_script *b)
{
	if (a == NULL || b == NULL)
		return (a == b);
	if (!str_eq(a->meta.id, b->meta.id) ||
	    !str_eq(a->meta.title, b->meta.title) ||
	    !str_eq(a->meta.rfc, b->meta.rfc) ||
	    a->meta.level != b->meta.level ||
	    !list_eq(a->meta.fixtures, a->meta.nfixtures, b->meta.fixtures,
	    b->meta.nfixtures) ||
	    !list_eq(a->meta.tags, a->meta.ntags, b->meta.tags,
	    b->meta.ntags) || a->nsteps != b->nsteps)
		return (0);
	for (size_t i = 0; i < a->nsteps; i++)
		if (!step_eq(&a->steps[i], &b->steps[i]))
			return (0);
	return (1);
}
