/*
 * script_write.c - the session-script writer.  It picks the plainest
 * form the reader turns back into the same step (plain text when that
 * is unambiguous, a quoted string otherwise), so that
 * parse(write(x)) == x for every script, and what the shell records
 * or the fuzzer reduces stays readable.
 */
#include <stdio.h>

#include "script_int.h"

#define OUT_MAX	((size_t)256 * 1024 * 1024)

/*
 * Plain (unquoted) text must come back byte for byte: printable, no
 * leading quote or blank, no trailing blank (editors strip it).
 */
static int
plain_ok(const uint8_t *p, size_t n)
{
	if (n == 0 || p[0] == '"' || p[0] == ' ' || p[0] == '\t' ||
	    p[n - 1] == ' ' || p[n - 1] == '\t' || p[0] == '#')
		return (0);
	for (size_t i = 0; i < n; i++)
		if (p[i] < 0x20 || p[i] == 0x7f)
			return (0);
	return (1);
}

static void
add_quoted(struct sp_str *o, const struct sp_script_text *t)
{
	sp__str_add(o, "\"", 1);
	sp__str_add_escaped(o, t->p, t->len);
	sp__str_add(o, "\"", 1);
}

static void
add_text(struct sp_str *o, const struct sp_script_text *t)
{
	if (plain_ok(t->p, t->len))
		sp__str_add(o, t->p, t->len);
	else
		add_quoted(o, t);
}

static void
add_word(struct sp_str *o, const char *w)
{
	struct sp_script_text	t = { (const uint8_t *)w, strlen(w) };

	if (t.len > 0 && strpbrk(w, " \t\"") == NULL && plain_ok(t.p, t.len))
		sp__str_add(o, w, t.len);
	else
		add_quoted(o, &t);
}

static void
add_ms(struct sp_str *o, unsigned ms)
{
	if (ms % 1000 == 0)
		sp__str_addf(o, "%us", ms / 1000);
	else
		sp__str_addf(o, "%ums", ms);
}

static void
add_expect(struct sp_str *o, const struct sp_script_expect *x)
{
	struct sp_script_text	t;

	sp__str_add(o, "expect ", 7);
	if (x->ncodes == 0)
		sp__str_add(o, "any", 3);
	for (size_t i = 0; i < x->ncodes; i++)
		sp__str_addf(o, "%s%s", i > 0 ? "|" : "", x->codes[i]);
	if (x->within_ms != 0) {
		sp__str_add(o, " within ", 8);
		add_ms(o, x->within_ms);
	}
	if (x->pattern == NULL)
		return;
	sp__str_add(o, " ", 1);
	if (x->regex) {
		sp__str_addf(o, "/%s/%s", x->pattern, x->icase ? "i" : "");
		return;
	}
	t.p = (const uint8_t *)x->pattern;
	t.len = strlen(x->pattern);
	add_quoted(o, &t);
}

/*
 * A body can be written as lines up to "." when it is CRLF-separated
 * lines ending in CRLF, none of them a lone "." and none holding a CR
 * or LF of its own.
 */
static int
body_inline_ok(const struct sp_script_text *t)
{
	size_t	i = 0, k;

	while (i < t->len) {
		for (k = i; k < t->len && t->p[k] != '\r' && t->p[k] != '\n';
		    k++)
			continue;
		if (k + 1 >= t->len || t->p[k] != '\r' || t->p[k + 1] != '\n')
			return (0);
		if ((k - i == 1 && t->p[i] == '.') ||
		    memchr(t->p + i, '\0', k - i) != NULL)
			return (0);
		i = k + 2;
	}
	return (1);
}

static void
write_data(struct sp_str *o, const struct sp_script_step *st)
{
	sp__str_add(o, sp__script_op_name(st->op),
	    strlen(sp__script_op_name(st->op)));
	if (st->path != NULL) {
		sp__str_addf(o, " @%s\n", st->path);
		return;
	}
	if (!body_inline_ok(&st->text)) {
		sp__str_add(o, " ", 1);
		add_quoted(o, &st->text);
		sp__str_add(o, "\n", 1);
		return;
	}
	sp__str_add(o, "\n", 1);
	for (size_t i = 0; i < st->text.len; i++)
		if (st->text.p[i] != '\r')
			sp__str_add(o, st->text.p + i, 1);
	sp__str_add(o, ".\n", 2);
}

static void
write_pipeline(struct sp_str *o, const struct sp_script_step *st)
{
	sp__str_add(o, "pipeline\n", 9);
	for (size_t i = 0; i < st->nlines; i++) {
		const struct sp_script_text	*l = &st->lines[i];

		if (l->len == 3 && memcmp(l->p, "end", 3) == 0)
			add_quoted(o, l);
		else
			add_text(o, l);
		sp__str_add(o, "\n", 1);
	}
	sp__str_add(o, "end\n", 4);
}

static void
write_bdat(struct sp_str *o, const struct sp_script_step *st)
{
	sp__str_addf(o, "bdat %llu%s", (unsigned long long)st->size,
	    st->last ? " last" : "");
	if (st->has_text) {
		sp__str_add(o, " ", 1);
		add_quoted(o, &st->text);
	}
	sp__str_add(o, "\n", 1);
}

static void
write_step(struct sp_str *o, const struct sp_script_step *st)
{
	const char	*name = sp__script_op_name(st->op);

	switch (st->op) {
	case SP_STEP_SEND:
		sp__str_add(o, "send ", 5);
		add_text(o, &st->text);
		break;
	case SP_STEP_SENDRAW:
		sp__str_add(o, "sendraw ", 8);
		add_quoted(o, &st->text);
		break;
	case SP_STEP_PIPELINE:
		write_pipeline(o, st);
		return;
	case SP_STEP_EXPECT:
		add_expect(o, &st->expect);
		break;
	case SP_STEP_EXPECT_COUNT:
		sp__str_addf(o, "expect-count %u within ", st->count);
		add_ms(o, st->ms);
		break;
	case SP_STEP_EXPECT_CLOSE:
	case SP_STEP_EXPECT_SILENCE:
	case SP_STEP_SLEEP:
		sp__str_add(o, name, strlen(name));
		if (st->ms != 0 || st->op != SP_STEP_EXPECT_CLOSE) {
			sp__str_add(o, " ", 1);
			add_ms(o, st->ms);
		}
		break;
	case SP_STEP_DATA:
	case SP_STEP_DATA_BODY:
		write_data(o, st);
		return;
	case SP_STEP_BDAT:
		write_bdat(o, st);
		return;
	case SP_STEP_BDAT_FILE:
		sp__str_addf(o, "bdat-file @%s %llu", st->path,
		    (unsigned long long)st->size);
		break;
	case SP_STEP_AUTH:
		sp__str_addf(o, "auth %s ", sp__script_auth_name(st->mech));
		add_word(o, st->user);
		sp__str_add(o, " ", 1);
		add_word(o, st->secret);
		break;
	case SP_STEP_STARTTLS:
	case SP_STEP_QUIT:
	case SP_STEP_TLS:
		sp__str_add(o, name, strlen(name));
		break;
	}
	sp__str_add(o, "\n", 1);
}

static void
write_list(struct sp_str *o, const char *key, const char *const *v, size_t n)
{
	if (n == 0)
		return;
	sp__str_addf(o, "%s:", key);
	for (size_t i = 0; i < n; i++)
		sp__str_addf(o, " %s", v[i]);
	sp__str_add(o, "\n", 1);
}

static void
add_field(struct sp_str *o, const char *key, const char *v)
{
	if (v == NULL)
		return;
	sp__str_add(o, key, strlen(key));
	sp__str_add(o, v, strlen(v));
	sp__str_add(o, "\n", 1);
}

static void
write_meta(struct sp_str *o, const struct sp_script_meta *m)
{
	size_t	before = o->len;

	add_field(o, "id: ", m->id);
	add_field(o, "title: ", m->title);
	add_field(o, "rfc: ", m->rfc);
	if (m->level != SP_LEVEL_NONE)
		sp__str_addf(o, "level: %s\n", sp__script_level_name(m->level));
	write_list(o, "fixture", m->fixtures, m->nfixtures);
	write_list(o, "tags", m->tags, m->ntags);
	if (o->len != before)
		sp__str_add(o, "\n", 1);
}

sp_err
sp_script_write(const sp_script *s, char **out, size_t *len)
{
	struct sp_str	o;

	if (s == NULL || out == NULL)
		return (SP_E_INVAL);
	sp__str_init(&o, OUT_MAX);
	write_meta(&o, &s->meta);
	for (size_t i = 0; i < s->nsteps; i++)
		write_step(&o, &s->steps[i]);
	if (len != NULL)
		*len = o.len;
	*out = sp__str_take(&o);
	return (*out != NULL ? SP_E_OK : SP_E_NOMEM);
}
