/*
 * commands.c - the ':' commands.  As in OpenSMTPD's smtp_session.c,
 * each entry pairs a check (a flat list of guard clauses that says why
 * the command cannot run now: not connected, no capture open, missing
 * arguments) with a run function that does the work and may assume
 * what its check guaranteed.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "shell.h"

/* A check returns NULL when the command may run, else the reason. */
typedef const char *check_fn(const struct repl *, const char *args);

struct command {
	const char	*name;
	check_fn	*check;
	int		 file_arg;	/* complete file names */
	const char	*usage;
	int		(*run)(struct repl *, const char *args);
};

static check_fn	check_none, check_conn, check_args, check_conn_args,
		check_auth, check_bdat, check_capture, check_session;

static int	cmd_help(struct repl *, const char *);
static int	cmd_connect(struct repl *, const char *);
static int	cmd_close(struct repl *, const char *);
static int	cmd_quit(struct repl *, const char *);
static int	cmd_starttls(struct repl *, const char *);
static int	cmd_tls(struct repl *, const char *);
static int	cmd_auth(struct repl *, const char *);
static int	cmd_data(struct repl *, const char *);
static int	cmd_bdat(struct repl *, const char *);
static int	cmd_pipeline(struct repl *, const char *);
static int	cmd_raw(struct repl *, const char *);
static int	cmd_explain(struct repl *, const char *);
static int	cmd_caps(struct repl *, const char *);
static int	cmd_record(struct repl *, const char *);

static const struct command commands[] = {
	{ "help", check_none, 0, "", cmd_help },
	{ "connect", check_args, 0, "HOST[:PORT]", cmd_connect },
	{ "close", check_conn, 0, "", cmd_close },
	{ "quit", check_none, 0, "", cmd_quit },
	{ "exit", check_none, 0, "", cmd_quit },
	{ "starttls", check_conn, 0, "", cmd_starttls },
	{ "tls", check_none, 0, "(peer certificate)", cmd_tls },
	{ "auth", check_auth, 0, "plain|login|cram-md5|xoauth2 USER",
	    cmd_auth },
	{ "data", check_conn, 1, "[@FILE]", cmd_data },
	{ "bdat", check_bdat, 1, "@FILE [CHUNK]", cmd_bdat },
	{ "pipeline", check_conn, 0, "(lines, then a lone '.')",
	    cmd_pipeline },
	{ "raw", check_conn_args, 0, "BYTES with \\r \\n \\t \\0 \\xNN",
	    cmd_raw },
	{ "explain", check_none, 0, "[CODE] [X.Y.Z] (none: the last reply)",
	    cmd_explain },
	{ "caps", check_conn, 0, "", cmd_caps },
	{ "record", check_args, 1, "FILE (session script)", cmd_record },
	{ "open", check_args, 1, "FILE.pcap", capture_open },
	{ "sessions", check_capture, 0, "", capture_sessions },
	{ "show", check_session, 0, "N [message]", capture_show },
	{ "filter", check_capture, 0,
	    "[from=S] [to=S] [class=N] [anomaly=S] | off", capture_filter },
	{ "replay", check_session, 0, "N [HOST:PORT]", capture_replay },
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

const char *
command_name(size_t i)
{
	return (i < NCOMMANDS ? commands[i].name : NULL);
}

int
command_takes_file(const char *name)
{
	size_t i;

	for (i = 0; i < NCOMMANDS; i++)
		if (strcmp(commands[i].name, name) == 0)
			return (commands[i].file_arg);
	return (0);
}

static const char *
check_none(const struct repl *r, const char *args)
{
	(void)r;
	(void)args;
	return (NULL);
}

static const char *
check_conn(const struct repl *r, const char *args)
{
	(void)args;
	if (r->c == NULL || !sp_client_is_open(r->c))
		return ("not connected; :connect HOST[:PORT]");
	return (NULL);
}

static const char *
check_args(const struct repl *r, const char *args)
{
	(void)r;
	if (*args == '\0')
		return ("missing arguments");
	return (NULL);
}

static const char *
check_conn_args(const struct repl *r, const char *args)
{
	const char *why = check_conn(r, args);

	return (why != NULL ? why : check_args(r, args));
}

static const char *
check_auth(const struct repl *r, const char *args)
{
	const char *why = check_conn_args(r, args);

	if (why != NULL)
		return (why);
	if (args[strcspn(args, " \t")] == '\0')
		return ("no user name");
	return (NULL);
}

static const char *
check_bdat(const struct repl *r, const char *args)
{
	const char *why = check_conn_args(r, args);

	if (why != NULL)
		return (why);
	if (args[0] != '@')
		return ("the file is written @FILE");
	return (NULL);
}

static const char *
check_capture(const struct repl *r, const char *args)
{
	(void)args;
	if (r->caps == NULL)
		return ("no capture open; :open FILE.pcap");
	return (NULL);
}

static const char *
check_session(const struct repl *r, const char *args)
{
	const char *why = check_capture(r, args);

	if (why != NULL)
		return (why);
	if (*args < '1' || *args > '9')
		return ("which session? (:sessions lists them)");
	return (NULL);
}

int
command_run(struct repl *r, const char *line)
{
	const char	*name = line + 1, *args;
	size_t		 n, i;
	const char	*why;

	n = strcspn(name, " \t");
	args = name + n + strspn(name + n, " \t");
	for (i = 0; i < NCOMMANDS; i++) {
		if (strlen(commands[i].name) != n ||
		    strncmp(commands[i].name, name, n) != 0)
			continue;
		why = commands[i].check(r, args);
		if (why == NULL)
			return (commands[i].run(r, args));
		printf("** :%s: %s", commands[i].name, why);
		if (commands[i].usage[0] != '\0')
			printf(" (usage: :%s %s)", commands[i].name,
			    commands[i].usage);
		printf("\n");
		return (-1);
	}
	printf("** unknown command %.*s (:help lists them; to send a line "
	    "that starts with ':', use :raw)\n", (int)n + 1, line);
	return (-1);
}

static int
cmd_help(struct repl *r, const char *args)
{
	size_t i;

	(void)r;
	(void)args;
	printf("Lines are sent to the server with CRLF.  Shell commands:\n");
	for (i = 0; i < NCOMMANDS; i++)
		printf("  :%-9s %s\n", commands[i].name, commands[i].usage);
	printf("Tab completes verbs, parameters and AUTH mechanisms from the"
	    " last EHLO.\nCtrl-C cancels a wait; Ctrl-D leaves.\n");
	return (0);
}

static int
cmd_connect(struct repl *r, const char *args)
{
	char		 buf[512];
	const char	*host, *port = r->o.implicit_tls ? "465" : "25";

	snprintf(buf, sizeof(buf), "%.*s", (int)strcspn(args, " \t"), args);
	shell_split_hostport(buf, &host, &port);
	return (shell_connect(r, host, port));
}

static int
cmd_close(struct repl *r, const char *args)
{
	(void)args;
	sp_client_close(r->c);
	r->in_data = 0;
	printf("closed\n");
	return (0);
}

static int
cmd_quit(struct repl *r, const char *args)
{
	(void)args;
	r->quit = 1;
	return (0);
}

static int
cmd_starttls(struct repl *r, const char *args)
{
	struct sp_client_reply	rep;
	sp_err			e;

	(void)args;
	e = sp_client_starttls(r->c, &rep);
	if (e == SP_E_OK || e == SP_E_TLS)
		shell_print_reply(r, &rep);
	if (e != SP_E_OK) {
		shell_report(r, e, "STARTTLS");
		return (-1);
	}
	if (rep.code != 220)
		return (-1);
	record_send(r, SP_STEP_STARTTLS, NULL, 0);
	shell_print_tls(r);
	printf("(the server forgot the session: send EHLO again, RFC 3207 "
	    "4.2)\n");
	return (0);
}

static int
cmd_tls(struct repl *r, const char *args)
{
	(void)args;
	shell_print_tls(r);
	return (0);
}

static int
cmd_explain(struct repl *r, const char *args)
{
	if (*args != '\0')
		return (explain(stdout, args));
	if (r->last_code == 0) {
		printf("** no reply yet: :explain CODE [X.Y.Z]\n");
		return (-1);
	}
	explain_code(stdout, r->last_code);
	if (r->last_enh.cls != 0)
		explain_enhanced(stdout, r->last_enh.cls, r->last_enh.subject,
		    r->last_enh.detail);
	return (0);
}

static int
cmd_caps(struct repl *r, const char *args)
{
	const struct sp_smtp_capabilities	*c;
	size_t					 i;

	(void)args;
	c = sp_client_capabilities(r->c);
	if (c == NULL) {
		printf("no EHLO accepted yet (or TLS started since): send "
		    "EHLO\n");
		return (-1);
	}
	for (i = 0; i < c->ncaps; i++)
		printf("  %.*s%s%.*s\n", (int)c->caps[i].keyword.len,
		    (const char *)c->caps[i].keyword.p,
		    c->caps[i].params.len ? " " : "",
		    (int)c->caps[i].params.len,
		    (const char *)c->caps[i].params.p);
	if (c->has_size)
		printf("message size limit: %llu bytes%s\n",
		    (unsigned long long)c->size, c->size ? "" : " (none)");
	return (0);
}

static int
cmd_record(struct repl *r, const char *args)
{
	return (record_start(r, args));
}

/* \r \n \t \0 \\ \xNN; returns the length, or -1 on a bad escape. */
static long
unescape(const char *s, unsigned char *out, size_t cap)
{
	size_t n = 0;

	for (; *s != '\0'; s++) {
		unsigned v;

		if (n >= cap)
			return (-1);
		if (*s != '\\') {
			out[n++] = (unsigned char)*s;
			continue;
		}
		s++;
		switch (*s) {
		case 'r': v = '\r'; break;
		case 'n': v = '\n'; break;
		case 't': v = '\t'; break;
		case '0': v = 0; break;
		case '\\': v = '\\'; break;
		case 'x':
			if (!isxdigit((unsigned char)s[1]) ||
			    !isxdigit((unsigned char)s[2]))
				return (-1);
			v = (unsigned)strtoul((char[]){ s[1], s[2], 0 }, NULL,
			    16);
			s += 2;
			break;
		default:
			return (-1);
		}
		out[n++] = (unsigned char)v;
	}
	return ((long)n);
}

static int
cmd_raw(struct repl *r, const char *args)
{
	unsigned char	buf[SHELL_MAX_LINE];
	long		n = unescape(args, buf, sizeof(buf));
	sp_err		e;

	if (n < 0) {
		printf("** :raw: bad escape or too long (\\r \\n \\t \\0 \\\\ "
		    "\\xNN)\n");
		return (-1);
	}
	e = sp_client_send_raw(r->c, buf, (size_t)n);
	if (e != SP_E_OK) {
		shell_report(r, e, "sending");
		return (-1);
	}
	record_send(r, SP_STEP_SENDRAW, buf, (size_t)n);
	printf("-> %ld bytes\n", n);
	/* Nobody knows how many replies smuggled bytes earn. */
	return (shell_read_replies(r, 0, (int)r->o.settle_ms));
}

/* :pipeline: lines until a lone ".", then ONE write (RFC 2920). */
static int
cmd_pipeline(struct repl *r, const char *args)
{
	char		*lines[SHELL_MAX_PIPELINE];
	size_t		 lens[SHELL_MAX_PIPELINE], n = 0, i;
	int		 rc = -1;
	sp_err		 e;

	(void)args;
	while (n < SHELL_MAX_PIPELINE) {
		char *l = repl_readline(r, "pipe> ");

		if (l == NULL || strcmp(l, ".") == 0) {
			free(l);
			break;
		}
		lines[n] = l;
		lens[n++] = strlen(l);
	}
	if (n == 0)
		return (0);
	e = sp_client_send_pipeline(r->c, (const char *const *)lines, lens,
	    n);
	if (e != SP_E_OK)
		shell_report(r, e, "sending the pipeline");
	else {
		struct sp_script_text	t[SHELL_MAX_PIPELINE];
		struct sp_script_step	st = { .op = SP_STEP_PIPELINE };

		for (i = 0; i < n; i++) {
			t[i].p = (const uint8_t *)lines[i];
			t[i].len = lens[i];
		}
		st.lines = t;
		st.nlines = n;
		record_step(r, &st);
		printf("-> %zu lines in one write\n", n);
		rc = shell_read_replies(r, n, 200);
	}
	for (i = 0; i < n; i++)
		free(lines[i]);
	return (rc);
}

static int
cmd_auth(struct repl *r, const char *args)
{
	return (auth_run(r, args));
}

static int
cmd_data(struct repl *r, const char *args)
{
	return (data_run(r, args));
}

static int
cmd_bdat(struct repl *r, const char *args)
{
	return (bdat_run(r, args));
}
