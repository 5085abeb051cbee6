/*
 * rjson.c - replay sessions from smtp-decode's JSON records: the
 * shared reader (tools/common/dialogue_json.c) gives each record's
 * script and recorded replies; this keeps them as an rs_session, the
 * replies being the reference the server's answers are compared with.
 */
#include <stdio.h>
#include <stdlib.h>

#include "dialogue_json.h"
#include "rsession.h"

struct jload {
	struct rs_list		*l;
	struct rs_session	*s;	/* the record being converted */
};

/* The session the current record's replies go to, made on first use. */
static struct rs_session *
current(struct jload *x)
{
	if (x->s == NULL && (x->s = calloc(1, sizeof(*x->s))) != NULL)
		x->s->from_capture = 1;
	return (x->s);
}

static int
on_reply(void *ud, int code, const unsigned enh[3],
    const struct sp_smtp_str *lines, size_t nlines)
{
	struct rs_session	*s = current(ud);

	return (s != NULL ? rs_add_reply(s, code, enh, lines, nlines) : -1);
}

static int
on_record(void *ud, struct dj_record *r)
{
	struct jload		*x = ud;
	struct rs_session	*s = current(x);

	x->s = NULL;
	if (s == NULL)
		return (-1);
	s->script = r->script;
	r->script = NULL;
	s->placeholder = r->placeholder;
	s->start_ts = r->start > 0 ? (sp_ts)(r->start * 1e9) : 0;
	s->server_port = r->server_port;
	(void)snprintf(s->client, sizeof(s->client), "%s", r->client);
	(void)snprintf(s->server, sizeof(s->server), "%s", r->server);
	(void)snprintf(s->source, sizeof(s->source), "%s #%zu %s:%u -> "
	    "%s:%u", r->base, r->nth, r->client, r->client_port, r->server,
	    r->server_port);
	if (rs_list_add(x->l, s) != 0) {
		rs_session_free(s);
		return (-1);
	}
	return (0);
}

int
rs_load_json(struct rs_list *l, const char *path, const char *extract_dir,
    char *msg, size_t cap)
{
	static const struct dj_ops	 ops = { on_reply, on_record };
	struct dj_options		 o = { extract_dir, l->speed,
					    l->max_gap_ms };
	struct jload			 x = { l, NULL };
	int				 rc;

	rc = dj_load(path, &o, &ops, &x, msg, cap);
	rs_session_free(x.s);	/* a record that failed half-way */
	return (rc);
}
