/*
 * main.c - smtp-shell options, the connection, and how replies are
 * shown: one group per reply, coloured by class on a terminal, with
 * the latency from our write to the reply's final line.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "shell.h"

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: smtp-shell [-46k] [--tls] [--ca FILE] [--timeout SEC]\n"
	    "                  [--color|--no-color] [--script FILE]"
	    " [HOST[:PORT]]\n"
	    "  --tls         implicit TLS from the first byte (port 465)\n"
	    "  -k, --insecure  do not verify the server certificate\n"
	    "  --script FILE run a session script without a terminal;\n"
	    "                exit 0 if every expectation held, 1 if not,\n"
	    "                2 on an error\n"
	    "Lines are sent with CRLF; ':help' lists the shell commands.\n");
}

/*
 * HOST, HOST:PORT, [v6]:PORT or a bare v6 literal, split in place;
 * *port is left alone when s names none.
 */
void
shell_split_hostport(char *s, const char **host, const char **port)
{
	char	*colon = strrchr(s, ':');

	*host = s;
	if (s[0] == '[') {
		char *rb = strchr(s, ']');

		if (rb != NULL) {
			*rb = '\0';
			*host = s + 1;
			if (rb[1] == ':')
				*port = rb + 2;
		}
		return;
	}
	if (colon != NULL && strchr(s, ':') == colon) {
		*colon = '\0';
		*port = colon + 1;
	}
}

static int
parse_seconds(const char *s, unsigned *ms)
{
	char	*end;
	double	 v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || v < 0 || v > 86400)
		return (-1);
	*ms = (unsigned)(v * 1000.0);
	return (0);
}

static int
parse_args(int argc, char **argv, struct shell_opts *o)
{
	static const struct option lo[] = {
		{ "tls", no_argument, NULL, 'T' },
		{ "insecure", no_argument, NULL, 'k' },
		{ "ca", required_argument, NULL, 'C' },
		{ "timeout", required_argument, NULL, 't' },
		{ "script", required_argument, NULL, 's' },
		{ "color", no_argument, NULL, 'c' },
		{ "no-color", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	int	ch;

	while ((ch = getopt_long(argc, argv, "46kt:h", lo, NULL)) != -1) {
		switch (ch) {
		case '4': o->family = SP_CLIENT_FAMILY_IPV4; break;
		case '6': o->family = SP_CLIENT_FAMILY_IPV6; break;
		case 'T': o->implicit_tls = 1; break;
		case 'k': o->no_verify = 1; break;
		case 'C': o->ca_file = optarg; break;
		case 's': o->script = optarg; break;
		case 'c': o->color = 1; break;
		case 'n': o->color = 0; break;
		case 't':
			if (parse_seconds(optarg, &o->timeout_ms) == 0)
				break;
			fprintf(stderr, "smtp-shell: bad timeout %s\n", optarg);
			return (-1);
		case 'h': usage(stdout); exit(0);
		default: return (-1);
		}
	}
	if (argc - optind > 1)
		return (-1);
	if (argc - optind == 1)
		shell_split_hostport(argv[optind], &o->host, &o->port);
	if (o->port == NULL)
		o->port = o->implicit_tls ? "465" : "25";
	return (0);
}

const char *
shell_color(const struct repl *r, int code)
{
	static const char *const by_class[] = {
		"\033[1;35m", "\033[1;35m", "\033[32m", "\033[36m",
		"\033[33m", "\033[1;31m"
	};

	if (!r->color)
		return ("");
	if (code < 100 || code > 599)
		return (by_class[0]);
	return (by_class[code / 100]);
}

const char *
shell_reset(const struct repl *r)
{
	return (r->color ? "\033[0m" : "");
}

/* One reply as a group: its lines, then its latency on the last. */
void
shell_print_reply(struct repl *r, const struct sp_client_reply *rep)
{
	const char	*p = (const char *)rep->raw, *end = p + rep->raw_len;
	double		 ms = (double)rep->latency_ns / 1e6;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
		size_t shown = n > 0 && p[n - 1] == '\r' ? n - 1 : n;
		int last = nl == NULL || nl + 1 >= end;

		printf("%s<- %.*s%s", shell_color(r, rep->code), (int)shown, p,
		    shell_reset(r));
		if (last)
			printf("  (%.1f ms)", ms);
		printf("\n");
		p += n + (nl != NULL);
	}
	r->last_code = rep->code;
	r->last_enh = rep->enhanced;
	if (rep->anomalies > 0)
		printf("   ! anomaly: %s\n",
		    sp_anomaly_name(rep->first_anomaly));
	fflush(stdout);
}

/* A failed wait or write: say what happened; the shell goes on. */
void
shell_report(struct repl *r, sp_err e, const char *what)
{
	const char *msg = sp_client_errmsg(r->c);

	if (e == SP_E_CANCELLED) {
		printf("^C: %s cancelled; the session goes on\n", what);
		r->cancel = 0;
	} else if (e == SP_E_CLOSED || e == SP_E_RESET) {
		printf("** connection %s by the server (%s); :connect to "
		    "start again\n", e == SP_E_CLOSED ? "closed" : "reset",
		    what);
		sp_client_close(r->c);
		r->in_data = 0;
	} else {
		printf("** %s: %s\n", what,
		    *msg != '\0' ? msg : sp_strerror(e));
		if (!sp_client_is_open(r->c))
			printf("** not connected; :connect HOST[:PORT]\n");
	}
	fflush(stdout);
}

/*
 * Read n replies and show each.  With drain_ms > 0, replies that come
 * within drain_ms afterwards are shown too (a pipelined or smuggled
 * line may get answers nobody counted).
 */
int
shell_read_replies(struct repl *r, size_t n, int drain_ms)
{
	struct sp_client_reply	 rep;
	enum sp_client_event	 ev;
	int			 to = r->o.timeout_ms != 0 ?
				    (int)r->o.timeout_ms : -1;
	size_t			 i;
	sp_err			 e;

	for (i = 0; i < n + 100; i++) {
		if (i >= n) {
			/*
			 * After 221 the server closes (RFC 5321 3.8):
			 * wait a moment for it, so the close is shown
			 * whether or not its FIN came with the reply.
			 */
			e = sp_client_wait(r->c, r->last_code == 221 &&
			    drain_ms < 1000 ? 1000 : drain_ms, &ev);
			if (e != SP_E_OK || ev == SP_CLIENT_EV_SILENCE)
				return (0);
			if (ev != SP_CLIENT_EV_DATA) {
				printf("-- the server %s the connection\n",
				    ev == SP_CLIENT_EV_CLOSED ? "closed" :
				    "reset");
				sp_client_close(r->c);
				return (0);
			}
		}
		e = sp_client_read_reply(r->c, to, &rep);
		if (e != SP_E_OK) {
			shell_report(r, e, "waiting for the reply");
			return (-1);
		}
		shell_print_reply(r, &rep);
		record_expect(r, rep.code);
		if (rep.code == 354)
			r->in_data = 1;
	}
	return (0);
}

int
shell_send_line(struct repl *r, const char *line, size_t n)
{
	sp_err e;

	if (r->c == NULL || !sp_client_is_open(r->c)) {
		printf("** not connected; :connect HOST[:PORT]\n");
		return (-1);
	}
	e = sp_client_send_line(r->c, line, n);
	if (e != SP_E_OK) {
		shell_report(r, e, "sending");
		return (-1);
	}
	record_send(r, SP_STEP_SEND, line, n);
	return (0);
}

void
shell_print_tls(struct repl *r)
{
	struct sp_client_tls_info	ti;
	char				when[32] = "?";
	time_t				t;

	if (r->c == NULL || !sp_client_tls_info(r->c, &ti)) {
		printf("TLS is off\n");
		return;
	}
	t = (time_t)ti.not_after;
	if (ti.not_after != 0)
		strftime(when, sizeof(when), "%Y-%m-%d", gmtime(&t));
	printf("TLS %s %s\n  subject: %s\n  issuer:  %s\n  names:   %s\n"
	    "  expires: %s\n  verified: %s%s%s\n", ti.protocol, ti.cipher,
	    ti.subject, ti.issuer, ti.sans, when, ti.verified ? "yes" : "NO",
	    ti.verify_error[0] ? " - " : "", ti.verify_error);
}

sp_client *
shell_new_client(struct repl *r)
{
	struct sp_client_options	 co;
	sp_client			*c;

	sp_client_options_default(&co);
	co.family = r->o.family;
	co.implicit_tls = r->o.implicit_tls;
	co.no_verify = r->o.no_verify;
	co.ca_file = r->o.ca_file;
	co.cancel_flag = &r->cancel;
	if (r->o.timeout_ms != 0) {
		co.timeouts.connect_ms = r->o.timeout_ms;
		co.timeouts.tls_ms = r->o.timeout_ms;
		co.timeouts.data_block_ms = r->o.timeout_ms;
	}
	if (sp_client_new(&c, &co) != SP_E_OK)
		return (NULL);
	return (c);
}

/* Connect, show the greeting; the old session (if any) is closed. */
int
shell_connect(struct repl *r, const char *host, const char *port)
{
	sp_err	e;

	sp_client_free(r->c);
	r->in_data = 0;
	/* A recording holds one session: a new connection starts anew. */
	sp_script_free(r->rec);
	r->rec = NULL;
	r->c = shell_new_client(r);
	if (r->c == NULL) {
		printf("** out of memory\n");
		return (-1);
	}
	e = sp_client_connect(r->c, host, port);
	if (e != SP_E_OK) {
		shell_report(r, e, "connect");
		return (-1);
	}
	printf("connected to %s port %s%s\n", host, port,
	    r->o.implicit_tls ? " (TLS)" : "");
	if (r->o.implicit_tls)
		shell_print_tls(r);
	return (shell_read_replies(r, 1, 0));
}

int
shell_print_step(void *ud, const struct sp_step_result *s)
{
	(void)ud;
	if (s->line != 0)
		printf("%-5s line %-3u", sp_verdict_name(s->verdict), s->line);
	else
		printf("%-5s step %-3zu", sp_verdict_name(s->verdict),
		    s->index + 1);
	printf("%s%s%s%s",
	    s->sent ? "  > " : "", s->sent ? s->sent : "",
	    s->got ? "  < " : "", s->got ? s->got : "");
	if (s->code != 0)
		printf(" (%.1f ms)", (double)s->latency_ns / 1e6);
	if (s->note != NULL)
		printf("  -- %s", s->note);
	printf("\n");
	return (0);
}

/* --script: no terminal, no prompt; the status is the verdict. */
static int
run_script(struct repl *r)
{
	struct sp_script_error		 se = { 0, "" };
	struct sp_script_run_options	 ro;
	struct sp_script_report		*rep = NULL;
	sp_script			*s;
	int				 rc;

	if (sp_script_load(&s, r->o.script, &se) != SP_E_OK) {
		fprintf(stderr, "smtp-shell: %s:%u: %s\n", r->o.script, se.line,
		    se.msg);
		return (2);
	}
	r->c = shell_new_client(r);
	if (r->c == NULL || sp_client_connect(r->c, r->o.host, r->o.port) !=
	    SP_E_OK) {
		fprintf(stderr, "smtp-shell: %s\n",
		    r->c ? sp_client_errmsg(r->c) : "out of memory");
		sp_script_free(s);
		return (2);
	}
	memset(&ro, 0, sizeof(ro));
	ro.allow_env = 1;
	ro.default_ms = r->o.timeout_ms;
	ro.on_step = shell_print_step;
	if (sp_script_run(s, r->c, &ro, &rep) != SP_E_OK) {
		sp_script_free(s);
		return (2);
	}
	printf("%s: %zu passed, %zu failed, %zu errors, %zu skipped\n",
	    sp_verdict_name(rep->verdict), rep->passed, rep->failed,
	    rep->errors, rep->skipped);
	rc = rep->verdict == SP_VERDICT_PASS ? 0 :
	    rep->verdict == SP_VERDICT_FAIL ? 1 : 2;
	sp_script_report_free(rep);
	sp_script_free(s);
	return (rc);
}

int
main(int argc, char **argv)
{
	struct repl	*r = NULL;
	struct shell_opts o = { .color = -1, .settle_ms = 500 };
	int		 rc;

	if (parse_args(argc, argv, &o) != 0) {
		usage(stderr);
		return (2);
	}
	if (o.script != NULL && o.host == NULL) {
		fprintf(stderr, "smtp-shell: --script needs HOST[:PORT]\n");
		return (2);
	}
	r = repl_get();
	r->o = o;
	r->interactive = isatty(STDIN_FILENO);
	r->color = o.color >= 0 ? o.color :
	    isatty(STDOUT_FILENO) && getenv("NO_COLOR") == NULL;
	if (o.script != NULL)
		rc = run_script(r);
	else
		rc = repl_run(r);
	sp_client_free(r->c);
	record_flush(r);
	sp_script_free(r->rec);
	free(r->rec_path);
	capture_free(r->caps);
	return (rc);
}
