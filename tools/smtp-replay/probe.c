/*
 * probe.c - smtp-replay --probe: one short monitoring check of an SMTP
 * server.  Banner, EHLO, optionally STARTTLS (with the certificate's
 * days to expiry), AUTH, MAIL and RCPT (then RSET, or a whole test
 * message with --send-message), QUIT; each phase timed.
 *
 * Output and exit status follow the monitoring-plugin convention
 * (Nagios plugin guidelines, also Icinga and Naemon): one line
 * "SMTP OK - text | perfdata" and exit 0 OK, 1 WARNING, 2 CRITICAL,
 * 3 UNKNOWN.  Like check_smtp, a server that cannot be reached
 * (refused, timed out) is CRITICAL: the service is down.  UNKNOWN is
 * kept for what says nothing about the server: bad options, a
 * missing secret, out of memory.  A 4xx reply is WARNING (RFC 5321
 * 4.2.1: transient), any other failure CRITICAL.  --prometheus prints
 * the same figures as Prometheus text metrics instead; the exit
 * status is the same.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <smtpproto/client.h>

#include "loadstats.h"
#include "replay.h"

enum { ST_OK = 0, ST_WARN = 1, ST_CRIT = 2, ST_UNKNOWN = 3 };

static const char *const status_names[] = {
	"OK", "WARNING", "CRITICAL", "UNKNOWN"
};

/* The phases a probe reports, in order. */
static const enum ls_phase probe_phases[] = {
	LS_CONNECT, LS_BANNER, LS_EHLO, LS_STARTTLS, LS_AUTH, LS_MAIL,
	LS_RCPT, LS_DATA, LS_DOT, LS_QUIT
};
#define NPROBE	(sizeof(probe_phases) / sizeof(probe_phases[0]))

struct probe_cfg {
	const char	*host, *port, *target;
	const char	*helo, *from, *rcpt;
	const char	*auth_mech, *auth_user, *secret_file;
	const char	*ca_file;
	int		 starttls, implicit_tls, no_verify, send_message;
	int		 prometheus;
	double		 warn, crit, timeout;	/* seconds; <0 unset */
	double		 pwarn[LS_NPHASES], pcrit[LS_NPHASES];
	double		 cert_warn, cert_crit;	/* days */
	enum sp_client_family family;
};

struct probe {
	const struct probe_cfg	*cfg;
	sp_client		*c;
	struct sp_client_reply	 r;
	double			 t[LS_NPHASES];	/* seconds; <0 not run */
	int			 status;
	char			 why[300];	/* the first problem */
	int			 tls;
	double			 cert_days;
	int64_t			 not_after;
	char			 tls_proto[16];
};

/* Raise the status; the first reason at the worst level is kept. */
static void
raise_to(struct probe *p, int st, const char *why)
{
	if (st <= p->status && p->why[0] != '\0')
		return;
	if (st < p->status)
		return;
	p->status = st;
	snprintf(p->why, sizeof(p->why), "%s", why);
}

static void
client_failed(struct probe *p, const char *phase, sp_err e)
{
	char	buf[300];

	snprintf(buf, sizeof(buf), "%s: %s", phase,
	    sp_client_errmsg(p->c)[0] != '\0' ? sp_client_errmsg(p->c) :
	    sp_strerror(e));
	raise_to(p, ST_CRIT, buf);
}

static const char *
pname(enum ls_phase ph)
{
	return (ph == LS_NPHASES ? "rset" : ls_phase_name(ph));
}

/*
 * Read the reply to phase ph (LS_NPHASES: RSET, not timed); 0 if its
 * code is want.
 */
static int
reply(struct probe *p, enum ls_phase ph, int want)
{
	char	buf[300];
	sp_err	e;

	e = sp_client_read_reply(p->c, -1, &p->r);
	if (e != SP_E_OK) {
		client_failed(p, pname(ph), e);
		return (-1);
	}
	if (ph < LS_NPHASES)
		p->t[ph] = (double)p->r.latency_ns / 1e9;
	if (p->r.code == want)
		return (0);
	snprintf(buf, sizeof(buf), "%s: %d %.200s", pname(ph),
	    p->r.code, p->r.text != NULL ? p->r.text : "");
	raise_to(p, p->r.code / 100 == 4 ? ST_WARN : ST_CRIT, buf);
	return (-1);
}

static int
command(struct probe *p, enum ls_phase ph, const char *pre, const char *arg,
    const char *post, int want)
{
	char	line[1100];
	int	n;
	sp_err	e;

	n = snprintf(line, sizeof(line), "%s%s%s", pre, arg, post);
	if (n < 0 || (size_t)n >= sizeof(line)) {
		raise_to(p, ST_UNKNOWN, "command line too long");
		return (-1);
	}
	e = sp_client_send_line(p->c, line, (size_t)n);
	if (e != SP_E_OK) {
		client_failed(p, pname(ph), e);
		return (-1);
	}
	return (reply(p, ph, want));
}

/* The certificate's days to expiry against --cert-warn/--cert-crit. */
static void
check_cert(struct probe *p)
{
	struct sp_client_tls_info ti;
	char	buf[300];

	if (!sp_client_tls_info(p->c, &ti))
		return;
	p->tls = 1;
	snprintf(p->tls_proto, sizeof(p->tls_proto), "%s", ti.protocol);
	p->not_after = ti.not_after;
	if (ti.not_after == 0) {
		raise_to(p, ST_WARN, "certificate expiry unknown");
		return;
	}
	p->cert_days = (double)(ti.not_after - (int64_t)time(NULL)) / 86400.0;
	snprintf(buf, sizeof(buf), "certificate expires in %.1f days (%s)",
	    p->cert_days, ti.subject);
	if (p->cert_days < p->cfg->cert_crit)
		raise_to(p, ST_CRIT, buf);
	else if (p->cert_days < p->cfg->cert_warn)
		raise_to(p, ST_WARN, buf);
}

static int
starttls(struct probe *p)
{
	uint64_t t0 = ls_now();
	char	 buf[300];
	sp_err	 e;

	e = sp_client_starttls(p->c, &p->r);
	if (e != SP_E_OK) {
		client_failed(p, "starttls", e);
		return (-1);
	}
	if (p->r.code != 220) {
		snprintf(buf, sizeof(buf), "starttls: %d %.200s", p->r.code,
		    p->r.text);
		raise_to(p, p->r.code / 100 == 4 ? ST_WARN : ST_CRIT, buf);
		return (-1);
	}
	p->t[LS_STARTTLS] = (double)(ls_now() - t0) / 1e9;
	check_cert(p);
	/* RFC 3207 4.2: forget everything, EHLO again. */
	return (command(p, LS_EHLO, "EHLO ", p->cfg->helo, "", 250));
}

/* The secret: --secret-file's first line, else $SMTP_PROBE_SECRET. */
static int
read_secret(const struct probe_cfg *cfg, char *out, size_t cap)
{
	const char	*env;
	FILE		*f;
	size_t		 n;

	if (cfg->secret_file == NULL) {
		env = getenv("SMTP_PROBE_SECRET");
		if (env == NULL || strlen(env) >= cap)
			return (-1);
		memcpy(out, env, strlen(env) + 1);
		return (0);
	}
	if ((f = fopen(cfg->secret_file, "r")) == NULL)
		return (-1);
	if (fgets(out, (int)cap, f) == NULL)
		out[0] = '\0';
	fclose(f);
	n = strcspn(out, "\r\n");
	out[n] = '\0';
	return (n > 0 ? 0 : -1);
}

static int
auth_login(struct probe *p, const char *secret)
{
	char	b[700];
	size_t	n;

	if (command(p, LS_AUTH, "AUTH LOGIN", "", "", 334) != 0)
		return (-1);
	if (sp_base64_encode(b, sizeof(b), &n, (const uint8_t *)
	    p->cfg->auth_user, strlen(p->cfg->auth_user)) != SP_E_OK ||
	    command(p, LS_AUTH, b, "", "", 334) != 0)
		return (-1);
	if (sp_base64_encode(b, sizeof(b), &n, (const uint8_t *)secret,
	    strlen(secret)) != SP_E_OK)
		return (-1);
	return (command(p, LS_AUTH, b, "", "", 235));
}

/* RFC 4954 AUTH with PLAIN, LOGIN or CRAM-MD5; one phase in all. */
static int
auth(struct probe *p)
{
	const char	*mech = p->cfg->auth_mech, *user = p->cfg->auth_user;
	char		 secret[512], b[1024];
	size_t		 n;
	uint64_t	 t0 = ls_now();
	int		 rc = -1;

	if (read_secret(p->cfg, secret, sizeof(secret)) != 0) {
		raise_to(p, ST_UNKNOWN, "no AUTH secret (--secret-file or "
		    "$SMTP_PROBE_SECRET)");
		return (-1);
	}
	if (strcasecmp(mech, "PLAIN") == 0) {
		if (sp_auth_plain(b, sizeof(b), &n, "", user, secret) == SP_E_OK)
			rc = command(p, LS_AUTH, "AUTH PLAIN ", b, "", 235);
	} else if (strcasecmp(mech, "LOGIN") == 0) {
		rc = auth_login(p, secret);
	} else if (command(p, LS_AUTH, "AUTH CRAM-MD5", "", "", 334) == 0 &&
	    sp_auth_cram_md5(b, sizeof(b), &n, user, secret,
	    p->r.text) == SP_E_OK) {
		rc = command(p, LS_AUTH, b, "", "", 235);
	}
	explicit_bzero(secret, sizeof(secret));
	if (rc == 0)
		p->t[LS_AUTH] = (double)(ls_now() - t0) / 1e9;
	else
		raise_to(p, ST_CRIT, "auth failed");
	return (rc);
}

static int
message(struct probe *p)
{
	char	msg[512];
	int	n;
	sp_err	e;

	if (command(p, LS_DATA, "DATA", "", "", 354) != 0)
		return (-1);
	n = snprintf(msg, sizeof(msg), "From: <%s>\r\nTo: <%s>\r\n"
	    "Subject: smtp-replay probe\r\n\r\nmonitoring test message\r\n",
	    p->cfg->from, p->cfg->rcpt);
	if (n < 0 || (size_t)n >= sizeof(msg)) {
		raise_to(p, ST_UNKNOWN, "address too long");
		return (-1);
	}
	e = sp_client_send_message(p->c, (const uint8_t *)msg, (size_t)n, 0);
	if (e != SP_E_OK) {
		client_failed(p, "dot", e);
		return (-1);
	}
	return (reply(p, LS_DOT, 250));
}

/* After EHLO: AUTH, MAIL, RCPT, then DATA or RSET; QUIT in any case. */
static int
transaction(struct probe *p)
{
	const struct probe_cfg *cfg = p->cfg;

	if (cfg->auth_mech != NULL && auth(p) != 0)
		return (-1);
	if (cfg->rcpt == NULL)
		return (0);
	if (command(p, LS_MAIL, "MAIL FROM:<", cfg->from, ">", 250) != 0 ||
	    command(p, LS_RCPT, "RCPT TO:<", cfg->rcpt, ">", 250) != 0)
		return (-1);
	if (cfg->send_message)
		return (message(p));
	/* RFC 5321 4.1.1.5: RSET abandons the transaction, nothing sent. */
	return (command(p, LS_NPHASES, "RSET", "", "", 250));
}

static void
run_probe(struct probe *p)
{
	const struct probe_cfg *cfg = p->cfg;
	uint64_t t0 = ls_now();
	sp_err	 e;

	e = sp_client_connect(p->c, cfg->host, cfg->port);
	if (e != SP_E_OK) {
		client_failed(p, "connect", e);
		return;
	}
	p->t[LS_CONNECT] = (double)(ls_now() - t0) / 1e9;
	if (cfg->implicit_tls)
		check_cert(p);
	if (reply(p, LS_BANNER, 220) != 0 ||
	    command(p, LS_EHLO, "EHLO ", cfg->helo, "", 250) != 0)
		return;
	if (cfg->starttls && starttls(p) != 0)
		return;
	if (transaction(p) != 0)
		return;
	(void)command(p, LS_QUIT, "QUIT", "", "", 221);
}

/* Time thresholds: the total, then each phase given. */
static void
check_times(struct probe *p)
{
	const struct probe_cfg *cfg = p->cfg;
	double	total = p->t[LS_SESSION];
	char	buf[200];

	for (size_t i = 0; i < LS_NPHASES; i++) {
		double	v = i == LS_SESSION ? total : p->t[i];
		double	c = i == LS_SESSION ? cfg->crit : cfg->pcrit[i];
		double	w = i == LS_SESSION ? cfg->warn : cfg->pwarn[i];
		const char *name = i == LS_SESSION ? "total" :
		    ls_phase_name((enum ls_phase)i);

		if (v < 0)
			continue;
		snprintf(buf, sizeof(buf), "%s %.6fs over %gs", name, v,
		    c >= 0 && v > c ? c : w);
		if (c >= 0 && v > c)
			raise_to(p, ST_CRIT, buf);
		else if (w >= 0 && v > w)
			raise_to(p, ST_WARN, buf);
	}
}

static void
perf_threshold(double v)
{
	if (v >= 0)
		printf("%.6f", v);
}

/* "SMTP OK - 0.012s, ... | connect=0.000120s;; ..." (plugin format). */
static void
print_nagios(const struct probe *p)
{
	const struct probe_cfg *cfg = p->cfg;

	printf("SMTP %s - ", status_names[p->status]);
	if (p->why[0] != '\0')
		printf("%s, ", p->why);
	printf("%.3fs to %s", p->t[LS_SESSION], cfg->target);
	if (p->tls)
		printf(", %s, certificate expires in %.0f days", p->tls_proto,
		    p->cert_days);
	printf(" |");
	for (size_t i = 0; i < NPROBE; i++) {
		enum ls_phase ph = probe_phases[i];

		if (p->t[ph] < 0)
			continue;
		printf(" %s=%.6fs;", ls_phase_name(ph), p->t[ph]);
		perf_threshold(cfg->pwarn[ph]);
		printf(";");
		perf_threshold(cfg->pcrit[ph]);
		printf(";0;");
	}
	printf(" total=%.6fs;", p->t[LS_SESSION]);
	perf_threshold(cfg->warn);
	printf(";");
	perf_threshold(cfg->crit);
	printf(";0;");
	if (p->tls && p->not_after != 0)
		printf(" cert_days=%.2f;%.0f;%.0f;;", p->cert_days,
		    cfg->cert_warn, cfg->cert_crit);
	printf("\n");
}

static void
print_prometheus(const struct probe *p)
{
	const char *t = p->cfg->target;

	printf("# HELP smtp_probe_success 1 if the check was OK.\n"
	    "# TYPE smtp_probe_success gauge\n"
	    "smtp_probe_success{target=\"%s\"} %d\n", t, p->status == ST_OK);
	printf("# HELP smtp_probe_status Monitoring-plugin status: 0 OK, "
	    "1 WARNING, 2 CRITICAL, 3 UNKNOWN.\n"
	    "# TYPE smtp_probe_status gauge\n"
	    "smtp_probe_status{target=\"%s\"} %d\n", t, p->status);
	printf("# HELP smtp_probe_duration_seconds Time of the whole check.\n"
	    "# TYPE smtp_probe_duration_seconds gauge\n"
	    "smtp_probe_duration_seconds{target=\"%s\"} %.6f\n", t,
	    p->t[LS_SESSION]);
	printf("# HELP smtp_probe_phase_duration_seconds Time of each phase "
	    "(command to reply).\n"
	    "# TYPE smtp_probe_phase_duration_seconds gauge\n");
	for (size_t i = 0; i < NPROBE; i++)
		if (p->t[probe_phases[i]] >= 0)
			printf("smtp_probe_phase_duration_seconds{target=\"%s\","
			    "phase=\"%s\"} %.6f\n", t,
			    ls_phase_name(probe_phases[i]),
			    p->t[probe_phases[i]]);
	if (!p->tls || p->not_after == 0)
		return;
	printf("# HELP smtp_probe_tls_cert_not_after_seconds Unix time the "
	    "server certificate expires.\n"
	    "# TYPE smtp_probe_tls_cert_not_after_seconds gauge\n"
	    "smtp_probe_tls_cert_not_after_seconds{target=\"%s\"} %lld\n", t,
	    (long long)p->not_after);
	printf("# HELP smtp_probe_tls_cert_days_left Days until it expires.\n"
	    "# TYPE smtp_probe_tls_cert_days_left gauge\n"
	    "smtp_probe_tls_cert_days_left{target=\"%s\"} %.3f\n", t,
	    p->cert_days);
}

static void
probe_usage(FILE *f)
{
	fprintf(f,
"usage: smtp-replay --probe --target HOST:PORT [options]\n"
"  --helo NAME             (default smtp-replay.invalid)\n"
"  --starttls | --tls      STARTTLS, or TLS from the first byte\n"
"  --ca-file FILE, --no-verify\n"
"  --cert-warn DAYS --cert-crit DAYS   (default 14 and 7)\n"
"  --auth MECH:USER        PLAIN, LOGIN or CRAM-MD5; the secret is the\n"
"                          first line of --secret-file or $SMTP_PROBE_SECRET\n"
"  --from ADDR --rcpt ADDR MAIL and RCPT (then RSET); none without --rcpt\n"
"  --send-message          a short test message instead of RSET\n"
"  --warn S --crit S       thresholds on the total time\n"
"  --warn-phase PHASE=S --crit-phase PHASE=S   (repeatable)\n"
"  --timeout S             every wait (default 10)\n"
"  --prometheus            Prometheus text metrics instead of the line\n"
"Exit: 0 OK, 1 WARNING, 2 CRITICAL (also: not reachable), 3 UNKNOWN.\n");
}

enum {
	P_PROBE = 256, P_TARGET, P_HELO, P_STARTTLS, P_TLS, P_CAFILE,
	P_NOVERIFY, P_CERTWARN, P_CERTCRIT, P_AUTH, P_SECRETFILE, P_FROM,
	P_RCPT, P_SEND, P_WARN, P_CRIT, P_WARNPH, P_CRITPH, P_TIMEOUT,
	P_PROM, P_HELP
};

static const struct option probe_opts[] = {
	{ "probe", no_argument, NULL, P_PROBE },
	{ "target", required_argument, NULL, P_TARGET },
	{ "helo", required_argument, NULL, P_HELO },
	{ "starttls", no_argument, NULL, P_STARTTLS },
	{ "tls", no_argument, NULL, P_TLS },
	{ "ca-file", required_argument, NULL, P_CAFILE },
	{ "no-verify", no_argument, NULL, P_NOVERIFY },
	{ "cert-warn", required_argument, NULL, P_CERTWARN },
	{ "cert-crit", required_argument, NULL, P_CERTCRIT },
	{ "auth", required_argument, NULL, P_AUTH },
	{ "secret-file", required_argument, NULL, P_SECRETFILE },
	{ "from", required_argument, NULL, P_FROM },
	{ "rcpt", required_argument, NULL, P_RCPT },
	{ "send-message", no_argument, NULL, P_SEND },
	{ "warn", required_argument, NULL, P_WARN },
	{ "crit", required_argument, NULL, P_CRIT },
	{ "warn-phase", required_argument, NULL, P_WARNPH },
	{ "crit-phase", required_argument, NULL, P_CRITPH },
	{ "timeout", required_argument, NULL, P_TIMEOUT },
	{ "prometheus", no_argument, NULL, P_PROM },
	{ "help", no_argument, NULL, P_HELP },
	{ NULL, 0, NULL, 0 }
};

/* "ehlo=0.5" into v[phase]. */
static int
phase_threshold(double *v, const char *a)
{
	const char *eq = strchr(a, '=');

	if (eq == NULL)
		return (-1);
	for (int i = 0; i < LS_NPHASES; i++) {
		const char *n = ls_phase_name((enum ls_phase)i);

		if (strlen(n) == (size_t)(eq - a) &&
		    strncmp(a, n, (size_t)(eq - a)) == 0)
			return (ls_parse_double(eq + 1, 0, 86400, &v[i]));
	}
	return (-1);
}

static int
probe_opt(struct probe_cfg *cfg, int ch, char *a)
{
	char *colon;

	switch (ch) {
	case P_PROBE: return (0);
	case P_HELO: cfg->helo = a; return (0);
	case P_STARTTLS: cfg->starttls = 1; return (0);
	case P_TLS: cfg->implicit_tls = 1; return (0);
	case P_CAFILE: cfg->ca_file = a; return (0);
	case P_NOVERIFY: cfg->no_verify = 1; return (0);
	case P_CERTWARN: return (ls_parse_double(a, 0, 1e5, &cfg->cert_warn));
	case P_CERTCRIT: return (ls_parse_double(a, 0, 1e5, &cfg->cert_crit));
	case P_SECRETFILE: cfg->secret_file = a; return (0);
	case P_FROM: cfg->from = a; return (0);
	case P_RCPT: cfg->rcpt = a; return (0);
	case P_SEND: cfg->send_message = 1; return (0);
	case P_WARN: return (ls_parse_double(a, 0, 86400, &cfg->warn));
	case P_CRIT: return (ls_parse_double(a, 0, 86400, &cfg->crit));
	case P_WARNPH: return (phase_threshold(cfg->pwarn, a));
	case P_CRITPH: return (phase_threshold(cfg->pcrit, a));
	case P_TIMEOUT: return (ls_parse_double(a, 0.001, 3600, &cfg->timeout));
	case P_PROM: cfg->prometheus = 1; return (0);
	case P_AUTH:
		colon = strchr(a, ':');
		if (colon == NULL || colon[1] == '\0')
			return (-1);
		*colon = '\0';
		cfg->auth_mech = a, cfg->auth_user = colon + 1;
		return (strcasecmp(a, "PLAIN") == 0 ||
		    strcasecmp(a, "LOGIN") == 0 ||
		    strcasecmp(a, "CRAM-MD5") == 0 ? 0 : -1);
	default: return (-1);
	}
}

/* 0 to run, 1 after --help, -1 on a usage error. */
static int
probe_args(struct probe_cfg *cfg, int argc, char **argv, char *tbuf,
    size_t tcap)
{
	int ch;

	memset(cfg, 0, sizeof(*cfg));
	cfg->helo = "smtp-replay.invalid", cfg->from = "";
	cfg->warn = cfg->crit = -1, cfg->timeout = 10;
	cfg->cert_warn = 14, cfg->cert_crit = 7;
	for (int i = 0; i < LS_NPHASES; i++)
		cfg->pwarn[i] = cfg->pcrit[i] = -1;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "46", probe_opts, NULL)) != -1) {
		if (ch == P_HELP) {
			probe_usage(stdout);
			return (1);
		}
		if (ch == '4' || ch == '6') {
			cfg->family = ch == '4' ? SP_CLIENT_FAMILY_IPV4 :
			    SP_CLIENT_FAMILY_IPV6;
			continue;
		}
		if (ch == P_TARGET) {
			cfg->target = optarg;
			if (strpbrk(optarg, "\"\\\n") == NULL &&
			    ls_parse_target(optarg, tbuf, tcap, &cfg->host,
			    &cfg->port) == 0)
				continue;
		} else if (probe_opt(cfg, ch, optarg) == 0)
			continue;
		fprintf(stderr, "smtp-replay: bad option or value: %s\n",
		    argv[optind - 1]);
		return (-1);
	}
	if (cfg->host == NULL || optind < argc) {
		fprintf(stderr, "smtp-replay: --probe needs --target HOST:PORT "
		    "(there is no default target) and no operands\n");
		return (-1);
	}
	return (0);
}

int
probe_main(int argc, char **argv)
{
	struct probe_cfg	 cfg;
	struct sp_client_options o;
	struct probe		 p;
	char			 tbuf[512];
	unsigned		 ms;
	uint64_t		 t0;
	int			 rc;

	rc = probe_args(&cfg, argc, argv, tbuf, sizeof(tbuf));
	if (rc != 0) {
		if (rc < 0)
			printf("SMTP UNKNOWN - bad command line\n");
		return (rc > 0 ? ST_OK : ST_UNKNOWN);
	}
	sp_client_options_default(&o);
	ms = (unsigned)(cfg.timeout * 1000);
	o.timeouts = (struct sp_client_timeouts){ ms, ms, ms, ms, ms, ms, ms,
	    ms, ms };
	o.family = cfg.family, o.implicit_tls = cfg.implicit_tls;
	o.ca_file = cfg.ca_file, o.no_verify = cfg.no_verify;
	memset(&p, 0, sizeof(p));
	p.cfg = &cfg;
	for (int i = 0; i < LS_NPHASES; i++)
		p.t[i] = -1;
	if (sp_client_new(&p.c, &o) != SP_E_OK) {
		printf("SMTP UNKNOWN - out of memory\n");
		return (ST_UNKNOWN);
	}
	t0 = ls_now();
	run_probe(&p);
	p.t[LS_SESSION] = (double)(ls_now() - t0) / 1e9;
	sp_client_free(p.c);
	check_times(&p);
	if (cfg.prometheus)
		print_prometheus(&p);
	else
		print_nagios(&p);
	return (p.status);
}
