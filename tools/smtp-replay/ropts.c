/*
 * ropts.c - see ropts.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ropts.h"

void
ropts_init(struct ropts *o)
{
	memset(o, 0, sizeof(*o));
	sp_client_options_default(&o->client);
	/*
	 * The RFC 5321 4.5.3.2 timers are minutes long; a replay that
	 * waits minutes for a reply that will not come is useless, so
	 * the tool waits 10 s unless told otherwise.
	 */
	o->timeout_ms = 10000;
	o->max_time_s = 300;
}

long
ropts_ms(const char *s)
{
	char	*end;
	double	 v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || v < 0 || v > 86400)
		return (-1);
	if (strcmp(end, "ms") == 0)
		return ((long)v);
	if (*end == '\0' || strcmp(end, "s") == 0)
		return ((long)(v * 1000));
	if (strcmp(end, "m") == 0)
		return ((long)(v * 60000));
	return (-1);
}

/* "HOST:PORT", "[V6]:PORT" or "V6.LITERAL:PORT" (the last colon). */
static int
parse_target(struct ropts *o, const char *s)
{
	const char	*h = s, *colon;
	size_t		 hl;

	if (*s == '[') {
		if ((colon = strstr(s, "]:")) == NULL)
			return (-1);
		h = s + 1;
		hl = (size_t)(colon - h);
		colon++;
	} else {
		if ((colon = strrchr(s, ':')) == NULL)
			return (-1);
		hl = (size_t)(colon - s);
	}
	if (hl == 0 || hl >= sizeof(o->host) || strlen(colon + 1) == 0 ||
	    strlen(colon + 1) >= sizeof(o->port) ||
	    strspn(colon + 1, "0123456789") != strlen(colon + 1))
		return (-1);
	memcpy(o->host, h, hl);
	o->host[hl] = '\0';
	(void)snprintf(o->port, sizeof(o->port), "%s", colon + 1);
	o->have_target = 1;
	return (0);
}

static int
add_var(struct ropts *o, const char *arg)
{
	const char	*eq = strchr(arg, '=');
	char		*name;

	if (eq == NULL || eq == arg || o->nvars == ROPTS_MAX_VARS)
		return (-1);
	if ((name = strndup(arg, (size_t)(eq - arg))) == NULL)
		return (-1);
	/* A later --var of the same name wins. */
	for (size_t i = 0; i < o->nvars; i++)
		if (strcmp(o->vars[i].name, name) == 0) {
			free(name);
			o->vars[i].value = eq + 1;
			return (0);
		}
	o->vars[o->nvars].name = name;
	o->vars[o->nvars++].value = eq + 1;
	return (0);
}

static int
bad(const char *what, const char *arg)
{
	fprintf(stderr, "smtp-replay: bad %s: %s\n", what, arg);
	return (-1);
}

/* Timeouts and the time bound: 1 handled, -1 bad, 0 not ours. */
static int
time_option(struct ropts *o, int ch, const char *arg)
{
	struct sp_client_timeouts *t = &o->client.timeouts;
	long	 ms;

	if (ch != 1004 && ch != 1005 && ch != 1006 && ch != 1007)
		return (0);
	if ((ms = ropts_ms(arg)) <= 0)
		return (bad("time", arg));
	if (ch == 1004)
		o->timeout_ms = (unsigned)ms;
	else if (ch == 1005)
		t->connect_ms = t->tls_ms = (unsigned)ms;
	else if (ch == 1006)
		t->data_end_ms = t->data_block_ms = (unsigned)ms;
	else
		o->max_time_s = (unsigned)((ms + 999) / 1000);
	return (1);
}

int
ropts_option(struct ropts *o, int ch, const char *arg)
{
	int	r;

	if ((r = time_option(o, ch, arg)) != 0)
		return (r);
	switch (ch) {
	case '4': o->client.family = SP_CLIENT_FAMILY_IPV4; return (1);
	case '6': o->client.family = SP_CLIENT_FAMILY_IPV6; return (1);
	case 't':
		return (parse_target(o, arg) == 0 ? 1 : bad("target "
		    "(HOST:PORT or [V6]:PORT)", arg));
	case 'o': o->json_path = arg; return (1);
	case 'q': o->quiet = 1; return (1);
	case 1001: o->client.implicit_tls = 1; return (1);
	case 1002: o->client.no_verify = 1; return (1);
	case 1003: o->client.ca_file = arg; return (1);
	case 1008:
		return (add_var(o, arg) == 0 ? 1 : bad("--var (NAME=VALUE)",
		    arg));
	case 1009: o->client.sni = arg; return (1);
	default:
		return (0);
	}
}

int
ropts_check(struct ropts *o, const char *mode)
{
	struct sp_client_timeouts *t = &o->client.timeouts;

	if (!o->have_target) {
		/* No default target: the tool sends only where told. */
		fprintf(stderr, "smtp-replay: %s needs --target HOST:PORT "
		    "(there is no default target)\n", mode);
		return (-1);
	}
	if (t->connect_ms == 0)
		t->connect_ms = t->tls_ms = o->timeout_ms;
	t->greeting_ms = t->mail_ms = t->rcpt_ms = t->data_start_ms =
	    t->command_ms = o->timeout_ms;
	if (t->data_end_ms == 0)
		t->data_end_ms = t->data_block_ms = o->timeout_ms;
	return (0);
}

void
ropts_usage(FILE *f)
{
	fputs(
"  -t, --target HOST:PORT  the server (required; [::1]:25 for IPv6)\n"
"  -4, -6                only IPv4 / IPv6 addresses of HOST\n"
"  --tls                 implicit TLS from the first byte (port 465)\n"
"  --insecure            accept any certificate;  --cafile FILE  CAs\n"
"  --sni NAME            TLS server name\n"
"  --timeout T           wait for each reply at most T (default 10s;\n"
"                        T is 500ms, 2s, 1.5m or seconds)\n"
"  --connect-timeout T   connect and TLS handshake (default: --timeout)\n"
"  --data-timeout T      each write and the reply after the message\n"
"  --max-time T          the whole run (default 300s)\n"
"  --var NAME=VALUE      a ${NAME} for scripts (fixtures: rcpt, helo...)\n"
"  -o FILE               the report as JSON\n"
"  -q, --quiet           no per-step lines, the summary only\n", f);
}

unsigned long long
ropts_now_ms(void)
{
	struct timespec	ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((unsigned long long)ts.tv_sec * 1000ULL +
	    (unsigned long long)ts.tv_nsec / 1000000ULL);
}

sp_client *
ropts_connect(const struct ropts *o, char *msg, size_t cap)
{
	sp_client	*c;

	if (sp_client_new(&c, &o->client) != SP_E_OK) {
		(void)snprintf(msg, cap, "out of memory");
		return (NULL);
	}
	if (sp_client_connect(c, o->host, o->port) != SP_E_OK) {
		(void)snprintf(msg, cap, "%s", sp_client_errmsg(c));
		sp_client_free(c);
		return (NULL);
	}
	return (c);
}

const char *
ropts_shorten(const char *s, size_t n, char *buf, size_t cap)
{
	size_t	len;

	if (s == NULL)
		s = "";
	len = strlen(s);
	if (cap < 4)
		return ("");
	if (n > cap - 1)
		n = cap - 1;
	if (len <= n) {
		(void)snprintf(buf, cap, "%s", s);
		return (buf);
	}
	(void)snprintf(buf, cap, "%.*s...", (int)(n > 3 ? n - 3 : 0), s);
	return (buf);
}
