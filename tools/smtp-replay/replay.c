/*
 * replay.c - replay mode: play recorded sessions (a capture, through
 * the analyzer and the script converter) or session scripts against
 * --target, compare every reply with the recorded or expected one, and
 * report per session PASS or the first divergence and what followed.
 * See replay.h; options and exit status in usage() below.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#include "compare.h"
#include "replay.h"
#include "ropts.h"
#include "rplay.h"
#include "rsession.h"

static void
usage(FILE *f)
{
	fputs(
"usage: smtp-replay --target HOST:PORT [options] INPUT...\n"
"       smtp-replay --suite NAME|DIR --target HOST:PORT [options]\n"
"                   (conformance suites: smtp-replay --suite x --help)\n"
"  INPUT is a capture (.pcap, .pcapng: every SMTP session in it, with\n"
"  its replies as the reference), smtp-decode --dialogue records\n"
"  (.json, .ndjson) or a session script (.smtp, .txt;\n"
"  docs/script-format.md).\n"
"\n", f);
	ropts_usage(f);
	fputs(
"  --session LIST        only these sessions, by number from 1 in the\n"
"                        order given (\"1,3,5-7\")\n"
"  --filter KEY=VALUE    only sessions with port= (server port),\n"
"                        client= / server= (address), sender= (MAIL\n"
"                        FROM); repeat to require several\n"
"  --helo NAME           EHLO/HELO/LHLO argument\n"
"  --map-sender A=B      MAIL FROM <A> becomes <B> (also in From:...)\n"
"  --map-rcpt A=B        RCPT TO <A> becomes <B> (also in To:, Cc:)\n"
"  --rcpt ADDR           every RCPT TO becomes <ADDR>\n"
"  --fresh-date          a new Date: header;  --fresh-msgid  Message-ID:\n"
"  --auth MECH:USER      AUTH (plain, login, cram-md5, xoauth2) as USER;\n"
"                        the secret comes from the environment variable\n"
"                        SP_AUTH_SECRET, or --auth-env NAME, or the\n"
"                        first line of --auth-file FILE (recorded\n"
"                        secrets are redacted and never replayed)\n"
"  --extract-dir DIR     where smtp-decode --extract put the messages of\n"
"                        JSON records (default: the JSON file's folder)\n"
"  --starttls            where a capture's session did STARTTLS, do the\n"
"                        handshake too and QUIT inside TLS (the rest was\n"
"                        encrypted: it cannot be replayed)\n"
"  --speed X             keep the recorded clients' pauses, divided by X\n"
"                        (1: as recorded, 2: twice as fast; 0, the\n"
"                        default: as fast as possible)\n"
"  --max-gap T           no pause longer than T (default 10s)\n"
"  --stop-at-divergence  skip the steps after the first divergence\n"
"  --list                list the sessions and exit (nothing is sent)\n"
"  -h, --help            this text;  -V, --version\n"
"\n"
"Exit status: 0 every session held, 1 a divergence, 2 usage error,\n"
"3 could not run (connection refused, unreadable input, time out).\n",
	    f);
}

enum {
	OPT_SESSION = 2001, OPT_FILTER, OPT_HELO, OPT_MAP_SENDER,
	OPT_MAP_RCPT, OPT_RCPT, OPT_FRESH_DATE, OPT_FRESH_MSGID, OPT_AUTH,
	OPT_AUTH_ENV, OPT_AUTH_FILE, OPT_STOP, OPT_LIST, OPT_HELP, OPT_EXTRACT,
	OPT_STARTTLS, OPT_SPEED, OPT_MAX_GAP
};

static const struct option longopts[] = {
	ROPTS_LONGOPTS,
	{ "session",	required_argument, NULL, OPT_SESSION },
	{ "filter",	required_argument, NULL, OPT_FILTER },
	{ "helo",	required_argument, NULL, OPT_HELO },
	{ "map-sender",	required_argument, NULL, OPT_MAP_SENDER },
	{ "map-rcpt",	required_argument, NULL, OPT_MAP_RCPT },
	{ "rcpt",	required_argument, NULL, OPT_RCPT },
	{ "fresh-date",	no_argument,	   NULL, OPT_FRESH_DATE },
	{ "fresh-msgid", no_argument,	   NULL, OPT_FRESH_MSGID },
	{ "auth",	required_argument, NULL, OPT_AUTH },
	{ "auth-env",	required_argument, NULL, OPT_AUTH_ENV },
	{ "auth-file",	required_argument, NULL, OPT_AUTH_FILE },
	{ "stop-at-divergence", no_argument, NULL, OPT_STOP },
	{ "list",	no_argument,	   NULL, OPT_LIST },
	{ "extract-dir", required_argument, NULL, OPT_EXTRACT },
	{ "starttls",	no_argument,	   NULL, OPT_STARTTLS },
	{ "speed",	required_argument, NULL, OPT_SPEED },
	{ "max-gap",	required_argument, NULL, OPT_MAX_GAP },
	{ "help",	no_argument,	   NULL, OPT_HELP },
	{ "version",	no_argument,	   NULL, 'V' },
	{ NULL, 0, NULL, 0 }
};

#define MAX_FILTERS	16

struct replay_opts {
	struct ropts	 r;
	struct rw_opts	 rw;
	const char	*sessions;
	const char	*filters[MAX_FILTERS];
	size_t		 nfilters;
	const char	*auth_file;
	const char	*extract;	/* smtp-decode --extract folder */
	int		 stop, list;
	double		 speed;		/* 0: as fast as possible */
	unsigned	 max_gap_ms;
};

/* --speed X: 0 (as fast as possible) or a factor in (0, 1000]. */
int
replay_parse_speed(const char *arg, double *out)
{
	char	*end;
	double	 v = strtod(arg, &end);

	if (end == arg || *end != '\0' || !(v >= 0 && v <= 1000))
		return (-1);
	*out = v;
	return (0);
}

/* --max-gap T: 1 ms to 1 hour. */
int
replay_parse_gap(const char *arg, unsigned *out)
{
	long	ms = ropts_ms(arg);

	if (ms < 1 || ms > 3600L * 1000)
		return (-1);
	*out = (unsigned)ms;
	return (0);
}

static int
add_map(struct rw_map *m, size_t *n, const char *arg)
{
	const char	*eq = strchr(arg, '=');
	char		*from;

	if (eq == NULL || eq == arg || *n == RW_MAX_MAPS)
		return (-1);
	if ((from = strndup(arg, (size_t)(eq - arg))) == NULL)
		return (-1);
	m[*n].from = from;
	m[(*n)++].to = eq + 1;
	return (0);
}

static int
parse_auth(struct rw_opts *rw, const char *arg)
{
	const char	*colon = strchr(arg, ':');

	if (colon == NULL || colon[1] == '\0')
		return (-1);
	rw->auth_mech = sp_script_auth_from_name(arg, (size_t)(colon - arg));
	rw->auth_user = colon + 1;
	return (rw->auth_mech != 0 ? 0 : -1);
}

static int
filter_key(const char *f)
{
	static const char *const keys[] = { "port=", "client=", "server=",
	    "sender=" };

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strncmp(f, keys[i], strlen(keys[i])) == 0)
			return (1);
	return (0);
}

/* A bad option value, said; returns -1. */
static int
bad_value(int ch, const char *arg)
{
	fprintf(stderr, "smtp-replay: bad value for %s: %s\n",
	    ch == OPT_AUTH ? "--auth (MECH:USER)" : ch == OPT_FILTER ?
	    "--filter (port=, client=, server=, sender=)" :
	    ch == OPT_SPEED ? "--speed (0, or a factor up to 1000)" :
	    ch == OPT_MAX_GAP ? "--max-gap (1ms to 1h)" : "option", arg);
	return (-1);
}

/* Mode-specific options: 1 handled, -1 bad, 0 unknown. */
static int
replay_option(struct replay_opts *o, int ch, const char *arg)
{
	int	bad = 0;

	switch (ch) {
	case OPT_SESSION: o->sessions = arg; break;
	case OPT_FILTER:
		if (o->nfilters == MAX_FILTERS || !filter_key(arg))
			bad = 1;
		else
			o->filters[o->nfilters++] = arg;
		break;
	case OPT_HELO: o->rw.helo = arg; break;
	case OPT_MAP_SENDER:
		bad = add_map(o->rw.senders, &o->rw.nsenders, arg) != 0;
		break;
	case OPT_MAP_RCPT:
		bad = add_map(o->rw.rcpts, &o->rw.nrcpts, arg) != 0;
		break;
	case OPT_RCPT: o->rw.rcpt = arg; break;
	case OPT_FRESH_DATE: o->rw.fresh_date = 1; break;
	case OPT_FRESH_MSGID: o->rw.fresh_msgid = 1; break;
	case OPT_AUTH: bad = parse_auth(&o->rw, arg) != 0; break;
	case OPT_AUTH_ENV: o->rw.secret_env = arg; break;
	case OPT_AUTH_FILE: o->auth_file = arg; break;
	case OPT_STOP: o->stop = 1; break;
	case OPT_LIST: o->list = 1; break;
	case OPT_EXTRACT: o->extract = arg; break;
	case OPT_STARTTLS: o->rw.starttls = 1; break;
	case OPT_SPEED: bad = replay_parse_speed(arg, &o->speed) != 0; break;
	case OPT_MAX_GAP:
		bad = replay_parse_gap(arg, &o->max_gap_ms) != 0;
		break;
	default:
		return (0);
	}
	return (bad ? bad_value(ch, arg) : 1);
}

/*
 * The secret for --auth: the runner reads "$NAME" secrets from the
 * environment, so a secret from a file is put into our own environment
 * (never on a command line, where ps(1) would show it).
 */
static int
setup_secret(struct replay_opts *o, char *secret_ref, size_t cap)
{
	char	 line[1024];
	FILE	*f;
	size_t	 n;

	(void)snprintf(secret_ref, cap, "$%s", o->rw.secret_env != NULL ?
	    o->rw.secret_env : "SP_AUTH_SECRET");
	o->rw.secret_env = secret_ref;
	if (o->auth_file == NULL)
		return (0);
	if ((f = fopen(o->auth_file, "r")) == NULL ||
	    fgets(line, sizeof(line), f) == NULL) {
		fprintf(stderr, "smtp-replay: cannot read %s\n", o->auth_file);
		if (f != NULL)
			(void)fclose(f);
		return (-1);
	}
	(void)fclose(f);
	n = strcspn(line, "\r\n");
	line[n] = '\0';
	(void)snprintf(secret_ref, cap, "$SP_REPLAY_AUTH_FILE_SECRET");
	return (setenv("SP_REPLAY_AUTH_FILE_SECRET", line, 1));
}

static int
parse_args(struct replay_opts *o, int argc, char **argv, char *sref,
    size_t cap)
{
	int	ch, r;

	while ((ch = getopt_long(argc, argv, ROPTS_SHORTOPTS "hV", longopts,
	    NULL)) != -1) {
		if (ch == 'h' || ch == OPT_HELP) {
			usage(stdout);
			exit(0);
		}
		if (ch == 'V') {
			printf("smtp-replay %s\n", sp_version());
			exit(0);
		}
		if ((r = ropts_option(&o->r, ch, optarg)) == 0)
			r = replay_option(o, ch, optarg);
		if (r <= 0) {
			if (r == 0)
				usage(stderr);
			return (-1);
		}
	}
	if (optind == argc) {
		fprintf(stderr, "smtp-replay: no input (a capture or a "
		    "script)\n");
		return (-1);
	}
	if (!o->list && ropts_check(&o->r, "replay") != 0)
		return (-1);
	return (setup_secret(o, sref, cap));
}

static int
load_inputs(struct rs_list *l, char **paths, int n, const char *extract)
{
	char	msg[600];

	for (int i = 0; i < n; i++)
		if (rs_load_any(l, paths[i], extract, msg, sizeof(msg)) != 0) {
			fprintf(stderr, "smtp-replay: %s\n", msg);
			return (-1);
		}
	return (0);
}

/* Is index in "1,3,5-7"? */
static int
in_list(const char *list, size_t index)
{
	const char	*p = list;
	char		*end;

	while (*p != '\0') {
		unsigned long	a = strtoul(p, &end, 10), b = a;

		if (end == p)
			return (-1);
		if (*end == '-') {
			p = end + 1;
			b = strtoul(p, &end, 10);
			if (end == p)
				return (-1);
		}
		if (index >= a && index <= b)
			return (1);
		if (*end != ',' && *end != '\0')
			return (-1);
		p = *end == ',' ? end + 1 : end;
	}
	return (0);
}

/* Does any MAIL FROM of the session name this sender? */
static int
has_sender(const sp_script *s, const char *addr)
{
	size_t	 n = sp_script_nsteps(s), al = strlen(addr);

	for (size_t i = 0; i < n; i++) {
		const struct sp_script_step *st = sp_script_step_at(s, i);
		const struct sp_script_text *t = st->op == SP_STEP_PIPELINE ?
		    st->lines : &st->text;
		size_t	 nt = st->op == SP_STEP_PIPELINE ? st->nlines : 1;

		if (st->op != SP_STEP_SEND && st->op != SP_STEP_PIPELINE)
			continue;
		for (size_t k = 0; k < nt; k++) {
			const char *p = (const char *)t[k].p;

			if (t[k].len >= 12 + al && strncasecmp(p,
			    "MAIL FROM:<", 11) == 0 && strncasecmp(p + 11,
			    addr, al) == 0 && p[11 + al] == '>')
				return (1);
		}
	}
	return (0);
}

/* 1 selected, 0 not, -1 a bad filter. */
static int
selected(const struct replay_opts *o, const struct rs_session *s)
{
	int	r;

	if (o->sessions != NULL && (r = in_list(o->sessions, s->index)) != 1)
		return (r);
	for (size_t i = 0; i < o->nfilters; i++) {
		const char	*f = o->filters[i], *v = strchr(f, '=') + 1;
		size_t		 k = (size_t)(v - 1 - f);

		if (k == 4 && strncmp(f, "port", 4) == 0)
			r = strtoul(v, NULL, 10) == s->server_port;
		else if (k == 6 && strncmp(f, "client", 6) == 0)
			r = strcmp(v, s->client) == 0;
		else if (k == 6 && strncmp(f, "server", 6) == 0)
			r = strcmp(v, s->server) == 0;
		else if (k == 6 && strncmp(f, "sender", 6) == 0)
			r = has_sender(s->script, v);
		else
			return (-1);
		if (!r)
			return (0);
	}
	return (1);
}

static void
list_sessions(const struct rs_list *l, const struct replay_opts *o)
{
	for (size_t i = 0; i < l->n; i++)
		if (selected(o, l->v[i]) == 1)
			printf("%zu\t%s\t%zu steps\n", l->v[i]->index,
			    l->v[i]->source, sp_script_nsteps(l->v[i]->script));
}

static void
free_opts(struct replay_opts *o)
{
	for (size_t i = 0; i < o->r.nvars; i++)
		free((char *)o->r.vars[i].name);
	for (size_t i = 0; i < o->rw.nsenders; i++)
		free((char *)o->rw.senders[i].from);
	for (size_t i = 0; i < o->rw.nrcpts; i++)
		free((char *)o->rw.rcpts[i].from);
}

static int
run_all(struct replay_opts *o, struct rs_list *l)
{
	struct rplay_run	 run;
	char			 msg[600];
	int			 rc;

	rplay_init(&run, &o->r, o->stop);
	for (size_t i = 0; i < l->n; i++) {
		int	sel = selected(o, l->v[i]);

		if (sel < 0) {
			fprintf(stderr, "smtp-replay: bad --session or "
			    "--filter (keys: port, client, server, sender)\n");
			rplay_free(&run);
			return (2);
		}
		if (sel == 0)
			continue;
		if (rw_apply(l->v[i], &o->rw, msg, sizeof(msg)) != 0) {
			fprintf(stderr, "smtp-replay: %s\n", msg);
			rplay_free(&run);
			return (3);
		}
		rplay_session(&run, l->v[i]);
	}
	rc = rplay_finish(&run);
	rplay_free(&run);
	return (rc);
}

int
replay_main(int argc, char **argv)
{
	struct replay_opts	 o;
	struct rs_list		 l;
	char			 sref[128];
	int			 rc;

	memset(&o, 0, sizeof(o));
	memset(&l, 0, sizeof(l));
	ropts_init(&o.r);
	if (parse_args(&o, argc, argv, sref, sizeof(sref)) != 0) {
		free_opts(&o);
		return (2);
	}
	l.speed = o.speed;
	l.max_gap_ms = o.max_gap_ms;
	if (load_inputs(&l, argv + optind, argc - optind, o.extract) != 0)
		rc = 3;
	else if (o.list) {
		list_sessions(&l, &o);
		rc = 0;
	} else
		rc = run_all(&o, &l);
	rs_list_free(&l);
	free_opts(&o);
	return (rc);
}
