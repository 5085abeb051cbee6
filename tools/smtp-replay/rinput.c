/*
 * rinput.c - sessions from captures and script files; see rsession.h.
 *
 * A capture goes through the analyzer; each SMTP session gets its own
 * converter (the client side becomes script steps) and keeps the
 * replies the server gave, which the replay compares with what the
 * target answers.
 */
#include <libgen.h>
#include <strings.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rsession.h"

struct loader {
	struct rs_list	*l;
	const char	*base;		/* file name, for labels */
	size_t		 first;		/* index of our first session */
	int		 full;		/* RS_MAX_SESSIONS reached */
};

void
rs_session_free(struct rs_session *s)
{
	if (s == NULL)
		return;
	sp_script_conv_free(s->cv);
	sp_script_free(s->script);
	for (size_t i = 0; i < s->nreplies; i++)
		free(s->replies[i].text);
	free(s->replies);
	free(s->expect_map);
	free(s);
}

void
rs_list_free(struct rs_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		rs_session_free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

int
rs_list_add(struct rs_list *l, struct rs_session *s)
{
	struct rs_session	**v;

	if (l->n >= RS_MAX_SESSIONS)
		return (-1);
	if ((v = realloc(l->v, (l->n + 1) * sizeof(*v))) == NULL)
		return (-1);
	l->v = v;
	s->index = l->n + 1;
	l->v[l->n++] = s;
	return (0);
}

static struct rs_session *
session_begin(struct loader *ld, const struct sp_tcp_flow *f)
{
	struct sp_script_conv_options co;
	struct rs_session	*s;
	int			 v6;

	memset(&co, 0, sizeof(co));
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return (NULL);
	s->from_capture = 1;
	s->start_ts = f->first_ts;
	(void)sp_addr_format(&f->client, s->client, sizeof(s->client));
	(void)sp_addr_format(&f->server, s->server, sizeof(s->server));
	s->server_port = f->server_port;
	co.speed = ld->l->speed;
	co.max_gap_ms = ld->l->max_gap_ms;
	co.raw_data = 1;	/* irregular DATA content as it was sent */
	if (sp_script_conv_new(&s->cv, &co) != SP_E_OK ||
	    rs_list_add(ld->l, s) != 0) {
		rs_session_free(s);
		ld->full = 1;
		return (NULL);
	}
	v6 = f->client.family == 6;
	(void)snprintf(s->source, sizeof(s->source), "%s #%zu %s%s%s:%u -> "
	    "%s%s%s:%u", ld->base, s->index - ld->first, v6 ? "[" : "",
	    s->client, v6 ? "]" : "", (unsigned)f->client_port, v6 ? "[" : "",
	    s->server, v6 ? "]" : "", s->server_port);
	return (s);
}

int
rs_add_reply(struct rs_session *s, int code, const unsigned enh[3],
    const struct sp_smtp_str *lines, size_t nlines)
{
	struct rs_reply	*nr, *x;
	size_t		 len = 0;

	if (s->nreplies >= RS_MAX_REPLIES) {
		s->truncated = 1;
		return (-1);
	}
	if (s->nreplies == s->capreplies) {
		size_t	ncap = s->capreplies ? s->capreplies * 2 : 16;

		if ((nr = realloc(s->replies, ncap * sizeof(*nr))) == NULL)
			return (-1);
		s->replies = nr;
		s->capreplies = ncap;
	}
	x = &s->replies[s->nreplies];
	x->code = code;
	x->ecls = enh[0];
	x->esub = enh[1];
	x->edet = enh[2];
	for (size_t i = 0; i < nlines; i++)
		len += lines[i].len + 1;
	if ((x->text = malloc(len + 1)) == NULL)
		return (-1);
	len = 0;
	for (size_t i = 0; i < nlines; i++) {
		if (i > 0)
			x->text[len++] = '\n';
		memcpy(x->text + len, lines[i].p, lines[i].len);
		len += lines[i].len;
	}
	x->text[len] = '\0';
	s->nreplies++;
	return (0);
}

/* Keep a final reply (not a 334 inside AUTH) for the comparison. */
static void
keep_reply(struct rs_session *s, const struct sp_smtp_reply *r)
{
	unsigned	enh[3] = { r->enhanced.cls, r->enhanced.subject,
			    r->enhanced.detail };

	if (!r->intermediate &&
	    rs_add_reply(s, r->code, enh, r->lines, r->nlines) != 0)
		s->truncated = 1;
}

static int
on_event(void *ud, const struct sp_event *ev)
{
	struct loader		*ld = ud;
	struct rs_session	*s;

	if (ev->kind == SP_EV_SESSION_BEGIN && !ld->full)
		*ev->user = session_begin(ld, ev->flow);
	if ((s = *ev->user) == NULL)
		return (0);
	if (ev->kind == SP_EV_REPLY)
		keep_reply(s, ev->u.reply);
	if (s->conv_err == SP_E_OK)
		s->conv_err = sp_script_conv_event(s->cv, ev);
	return (0);
}

/* Each converted session's script, once the capture is read. */
static int
finish_sessions(struct rs_list *l, size_t first, char *msg, size_t cap)
{
	for (size_t i = first; i < l->n; i++) {
		struct rs_session	*s = l->v[i];
		sp_err			 e = s->conv_err;

		if (e == SP_E_OK)
			e = sp_script_conv_finish(s->cv, &s->script);
		if (e != SP_E_OK) {
			(void)snprintf(msg, cap, "%s: cannot convert: %s",
			    s->source, sp_strerror(e));
			return (-1);
		}
		sp_script_conv_free(s->cv);
		s->cv = NULL;
	}
	return (0);
}

/* The analyzer, with the stream events the converter's raw_data needs. */
static sp_err
new_analyzer(sp_analyzer **an, struct loader *ld)
{
	struct sp_analyzer_options ao;

	sp_analyzer_options_default(&ao);
	ao.stream_events = 1;
	return (sp_analyzer_new(an, NULL, &ao, on_event, ld));
}

int
rs_load_capture(struct rs_list *l, const char *path, char *msg, size_t cap)
{
	struct loader	 ld = { l, path, l->n, 0 };
	struct sp_packet pkt;
	sp_capture	*c;
	sp_analyzer	*an;
	char		 errbuf[256], *copy;
	sp_err		 e;
	int		 rc;

	if ((copy = strdup(path)) == NULL)
		return (-1);
	ld.base = basename(copy);
	if (sp_capture_open_file(&c, path, NULL, NULL, errbuf,
	    sizeof(errbuf)) != SP_E_OK) {
		(void)snprintf(msg, cap, "%s", errbuf);
		free(copy);
		return (-1);
	}
	if (new_analyzer(&an, &ld) != SP_E_OK) {
		sp_capture_free(c);
		free(copy);
		return (-1);
	}
	while ((e = sp_capture_next(c, &pkt)) == SP_E_OK)
		(void)sp_analyzer_packet(an, &pkt);
	if (e != SP_E_EOF)	/* a truncated file: replay what was read */
		fprintf(stderr, "smtp-replay: %s: %s\n", path,
		    sp_capture_error(c)[0] != '\0' ? sp_capture_error(c) :
		    sp_strerror(e));
	(void)sp_analyzer_finish(an);
	sp_analyzer_free(an);
	sp_capture_free(c);
	rc = finish_sessions(l, ld.first, msg, cap);
	if (rc == 0 && l->n == ld.first) {
		(void)snprintf(msg, cap, "%s: no SMTP session found", path);
		rc = -1;
	}
	free(copy);
	return (rc);
}

int
rs_load_script(struct rs_list *l, const char *path, char *msg, size_t cap)
{
	struct sp_script_error	 err;
	struct rs_session	*s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return (-1);
	if (sp_script_load(&s->script, path, &err) != SP_E_OK) {
		(void)snprintf(msg, cap, "%s:%u: %s", path, err.line, err.msg);
		free(s);
		return (-1);
	}
	if (rs_list_add(l, s) != 0) {
		rs_session_free(s);
		(void)snprintf(msg, cap, "too many sessions");
		return (-1);
	}
	(void)snprintf(s->source, sizeof(s->source), "%s", path);
	return (0);
}

static int
has_suffix(const char *path, const char *const *sfx)
{
	const char	*dot = strrchr(path, '.');

	for (; dot != NULL && *sfx != NULL; sfx++)
		if (strcasecmp(dot, *sfx) == 0)
			return (1);
	return (0);
}

int
rs_load_any(struct rs_list *l, const char *path, const char *extract_dir,
    char *msg, size_t cap)
{
	static const char *const caps[] = { ".pcap", ".pcapng", ".cap",
	    NULL };
	static const char *const json[] = { ".json", ".ndjson", ".jsonl",
	    NULL };

	if (has_suffix(path, caps))
		return (rs_load_capture(l, path, msg, cap));
	if (has_suffix(path, json))
		return (rs_load_json(l, path, extract_dir, msg, cap));
	return (rs_load_script(l, path, msg, cap));
}
