/*
 * complete.c - Tab completion.  SMTP verbs, MAIL and RCPT parameters
 * and AUTH mechanisms come from the capabilities of the server's last
 * EHLO reply (nothing it did not advertise is offered: a parameter of
 * an extension that was not announced is a 555, RFC 5321 4.1.1.11);
 * ':' commands from the command table; file names after a command that
 * takes one and after '@'.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <readline/readline.h>

#include "shell.h"

#define MAX_CAND	128

struct cands {
	char	*v[MAX_CAND];
	size_t	 n;
	int	 icase;
};

static void
add(struct cands *c, const char *text, const char *s, size_t len)
{
	size_t tl = strlen(text);

	if (c->n >= MAX_CAND || tl > len)
		return;
	if (c->icase ? strncasecmp(s, text, tl) != 0 :
	    strncmp(s, text, tl) != 0)
		return;
	c->v[c->n] = strndup(s, len);
	if (c->v[c->n] != NULL)
		c->n++;
}

static void
adds(struct cands *c, const char *text, const char *s)
{
	add(c, text, s, strlen(s));
}

/* Is keyword kw in the last EHLO's capabilities? */
static int
has(const struct sp_smtp_capabilities *caps, const char *kw)
{
	size_t i;

	for (i = 0; caps != NULL && i < caps->ncaps; i++)
		if (caps->caps[i].keyword.len == strlen(kw) &&
		    strncasecmp((const char *)caps->caps[i].keyword.p, kw,
		    strlen(kw)) == 0)
			return (1);
	return (0);
}

static void
verbs(struct cands *c, const char *text,
    const struct sp_smtp_capabilities *caps)
{
	static const char *const base[] = {
		"HELO", "EHLO", "MAIL FROM:<", "RCPT TO:<", "DATA", "RSET",
		"NOOP", "QUIT", "VRFY", "EXPN", "HELP"
	};
	static const char *const ext[][2] = {
		{ "STARTTLS", "STARTTLS" }, { "AUTH", "AUTH" },
		{ "CHUNKING", "BDAT" }, { "ETRN", "ETRN" },
	};
	size_t i;

	c->icase = 1;
	for (i = 0; i < sizeof(base) / sizeof(base[0]); i++)
		adds(c, text, base[i]);
	for (i = 0; i < sizeof(ext) / sizeof(ext[0]); i++)
		if (has(caps, ext[i][0]))
			adds(c, text, ext[i][1]);
}

/* Parameters by the extension that defines them. */
static const struct {
	const char	*ext, *param;
	int		 rcpt;
} params[] = {
	{ "SIZE", "SIZE=", 0 },			/* RFC 1870 */
	{ "8BITMIME", "BODY=8BITMIME", 0 },	/* RFC 6152 */
	{ "8BITMIME", "BODY=7BIT", 0 },
	{ "BINARYMIME", "BODY=BINARYMIME", 0 },	/* RFC 3030 */
	{ "SMTPUTF8", "SMTPUTF8", 0 },		/* RFC 6531 */
	{ "DSN", "RET=FULL", 0 },		/* RFC 3461 */
	{ "DSN", "RET=HDRS", 0 },
	{ "DSN", "ENVID=", 0 },
	{ "AUTH", "AUTH=<>", 0 },		/* RFC 4954 5 */
	{ "REQUIRETLS", "REQUIRETLS", 0 },	/* RFC 8689 */
	{ "MT-PRIORITY", "MT-PRIORITY=", 0 },	/* RFC 6710 */
	{ "DSN", "NOTIFY=", 1 },
	{ "DSN", "ORCPT=rfc822;", 1 },
};

static void
mail_params(struct cands *c, const char *text,
    const struct sp_smtp_capabilities *caps, int rcpt)
{
	size_t i;

	c->icase = 1;
	for (i = 0; i < sizeof(params) / sizeof(params[0]); i++)
		if (params[i].rcpt == rcpt && has(caps, params[i].ext))
			adds(c, text, params[i].param);
}

static void
auth_mechs(struct cands *c, const char *text,
    const struct sp_smtp_capabilities *caps)
{
	const char	*p, *end;

	c->icase = 1;
	if (caps == NULL || caps->auth.p == NULL)
		return;
	p = (const char *)caps->auth.p;
	end = p + caps->auth.len;
	while (p < end) {
		const char *w = p;

		while (p < end && *p != ' ')
			p++;
		if (p > w)
			add(c, text, w, (size_t)(p - w));
		while (p < end && *p == ' ')
			p++;
	}
}

static void
files(struct cands *c, const char *text)
{
	const char	*t = text[0] == '@' ? text + 1 : text;
	char		*f;
	int		 state = 0;

	while (c->n < MAX_CAND &&
	    (f = rl_filename_completion_function(t, state++)) != NULL) {
		if (text[0] == '@') {
			size_t n = strlen(f) + 2;
			char *a = malloc(n);

			if (a != NULL)
				snprintf(a, n, "@%s", f);
			free(f);
			f = a;
		}
		if (f != NULL)
			c->v[c->n++] = f;
	}
	rl_filename_completion_desired = 1;
}

static void
shell_cmds(struct cands *c, const char *text)
{
	const char	*name;
	char		 buf[32];
	size_t		 i;

	for (i = 0; (name = command_name(i)) != NULL; i++) {
		snprintf(buf, sizeof(buf), ":%s", name);
		adds(c, text, buf);
	}
}

/* readline's format: [0] the common prefix, then matches, NULL. */
static char **
to_matches(struct cands *c)
{
	char	**m;
	size_t	  i, lcp;

	if (c->n == 0)
		return (NULL);
	m = calloc(c->n + 2, sizeof(*m));
	if (m == NULL)
		return (NULL);
	lcp = strlen(c->v[0]);
	for (i = 1; i < c->n; i++) {
		size_t k = 0;

		while (k < lcp && c->v[i][k] != '\0' && (c->icase ?
		    toupper((unsigned char)c->v[i][k]) ==
		    toupper((unsigned char)c->v[0][k]) :
		    c->v[i][k] == c->v[0][k]))
			k++;
		lcp = k;
	}
	m[0] = c->n == 1 ? strdup(c->v[0]) : strndup(c->v[0], lcp);
	for (i = 0; c->n > 1 && i < c->n; i++)
		m[i + 1] = c->v[i];
	if (c->n == 1)
		free(c->v[0]);
	return (m);
}

char **
complete(struct repl *r, const char *text, int start, int end,
    const char *line)
{
	const struct sp_smtp_capabilities *caps = r->c != NULL ?
	    sp_client_capabilities(r->c) : NULL;
	struct cands	 c = { .n = 0 };
	size_t		 vlen = strcspn(line, " \t");
	int		 word = 0, i;

	(void)end;
	for (i = 0; i < start; i++)
		if (line[i] != ' ' && (i == 0 || line[i - 1] == ' '))
			word++;
	if (word == 0 && text[0] == ':')
		shell_cmds(&c, text);
	else if (word == 0)
		verbs(&c, text, caps);
	else if (line[0] == ':' && vlen == 5 &&
	    strncmp(line, ":auth", 5) == 0 && word == 1) {
		static const char *const m[] = { "plain", "login",
		    "cram-md5", "xoauth2" };
		for (i = 0; i < 4; i++)
			adds(&c, text, m[i]);
	} else if (line[0] == ':' || text[0] == '@') {
		char name[32];

		snprintf(name, sizeof(name), "%.*s", (int)vlen - 1, line + 1);
		if (text[0] == '@' || command_takes_file(name))
			files(&c, text);
	} else if (vlen == 4 && strncasecmp(line, "AUTH", 4) == 0)
		auth_mechs(&c, text, caps);
	else if (vlen == 4 && strncasecmp(line, "MAIL", 4) == 0 && word > 1)
		mail_params(&c, text, caps, 0);
	else if (vlen == 4 && strncasecmp(line, "RCPT", 4) == 0 && word > 1)
		mail_params(&c, text, caps, 1);
	if (c.n > 0 && c.v[0][strlen(c.v[0]) - 1] != '/' && strchr("=<;",
	    c.v[0][strlen(c.v[0]) - 1]) != NULL)
		rl_completion_append_character = '\0';
	return (to_matches(&c));
}
