/*
 * sp_script_run - a minimal driver for the client tests: run one
 * session script against a server, print one line per step, exit 0
 * on pass, 1 on fail, 2 on error, 3 when skipped (missing fixture),
 * 4 on usage or load errors.  smtp-replay is the real tool.
 *
 *   sp_script_run [-46EKkT] [-c cafile] [-t ms] [-m max_reply]
 *                 [-v name=value]... host port script
 *   sp_script_run -w script        parse and write back (round trip)
 *   sp_script_run -x capture       the first SMTP session as a script
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "smtpproto/smtpproto.h"

#define MAX_VARS	32

static void
print_anomaly(void *ud, enum sp_anomaly a, enum sp_dir dir, const char *d)
{
	(void)ud;
	printf("# anomaly %s (%s)%s%s\n", sp_anomaly_name(a),
	    dir == SP_DIR_CLIENT ? "client" : "server", d ? ": " : "",
	    d ? d : "");
}

static int
print_step(void *ud, const struct sp_step_result *r)
{
	(void)ud;
	printf("%u\t%s\t%d\t%.1fms\t%s\t%s\t%s\n", r->line,
	    sp_verdict_name(r->verdict), r->code,
	    (double)r->latency_ns / 1e6, r->sent ? r->sent : "-",
	    r->got ? r->got : "-", r->note ? r->note : "");
	return (0);
}

static int
write_back(const char *path)
{
	struct sp_script_error	 err;
	sp_script		*s;
	char			*out;

	if (sp_script_load(&s, path, &err) != SP_E_OK) {
		fprintf(stderr, "%s:%u: %s\n", path, err.line, err.msg);
		return (4);
	}
	if (sp_script_write(s, &out, NULL) != SP_E_OK)
		return (4);
	fputs(out, stdout);
	free(out);
	sp_script_free(s);
	return (0);
}

struct conv {
	sp_script_conv	*cv;
	int		 taken;		/* the first session is ours */
	sp_err		 err;
};

static int
conv_event(void *ud, const struct sp_event *ev)
{
	struct conv	*x = ud;

	if (ev->kind == SP_EV_SESSION_BEGIN && !x->taken) {
		x->taken = 1;
		*ev->user = x;
	}
	if (*ev->user == x && x->err == SP_E_OK)
		x->err = sp_script_conv_event(x->cv, ev);
	return (0);
}

static int
convert(const char *path)
{
	struct conv	 x = { NULL, 0, SP_E_OK };
	struct sp_packet pkt;
	sp_capture	*cap;
	sp_analyzer	*an;
	sp_script	*s;
	char		 errbuf[256], *out;
	sp_err		 e;

	if (sp_capture_open_file(&cap, path, NULL, NULL, errbuf,
	    sizeof(errbuf)) != SP_E_OK) {
		fprintf(stderr, "%s\n", errbuf);
		return (4);
	}
	if (sp_script_conv_new(&x.cv, NULL) != SP_E_OK ||
	    sp_analyzer_new(&an, NULL, NULL, conv_event, &x) != SP_E_OK)
		return (4);
	while ((e = sp_capture_next(cap, &pkt)) == SP_E_OK)
		(void)sp_analyzer_packet(an, &pkt);
	(void)sp_analyzer_finish(an);
	sp_analyzer_free(an);
	sp_capture_free(cap);
	if (x.err != SP_E_OK || sp_script_conv_finish(x.cv, &s) != SP_E_OK ||
	    sp_script_write(s, &out, NULL) != SP_E_OK) {
		fprintf(stderr, "%s: conversion failed: %s\n", path,
		    sp_strerror(x.err));
		return (4);
	}
	fputs(out, stdout);
	free(out);
	sp_script_free(s);
	sp_script_conv_free(x.cv);
	return (0);
}

static int
usage(void)
{
	fprintf(stderr, "usage: sp_script_run [-46EKkT] [-c cafile] "
	    "[-t ms] [-m bytes] [-v name=value]... host port script\n"
	    "       sp_script_run -w script\n");
	return (4);
}

static void
print_tls(const sp_client *c)
{
	struct sp_client_tls_info	t;

	if (!sp_client_tls_info(c, &t))
		return;
	printf("# tls %s %s verified=%d subject=%s issuer=%s sans=%s "
	    "not_after=%lld%s%s\n", t.protocol, t.cipher, t.verified,
	    t.subject, t.issuer, t.sans, (long long)t.not_after,
	    t.verify_error[0] ? " verify_error=" : "", t.verify_error);
}

static int
run(sp_client *c, const char *host, const char *port, const char *path,
    struct sp_script_run_options *ro)
{
	struct sp_script_error	 err;
	struct sp_script_report	*rep;
	sp_script		*s;
	sp_err			 e;
	int			 rc;

	if (sp_script_load(&s, path, &err) != SP_E_OK) {
		fprintf(stderr, "%s:%u: %s\n", path, err.line, err.msg);
		return (4);
	}
	if ((e = sp_client_connect(c, host, port)) != SP_E_OK) {
		printf("connect\terror\t%s\n", sp_client_errmsg(c));
		sp_script_free(s);
		return (2);
	}
	ro->on_step = print_step;
	if (sp_script_run(s, c, ro, &rep) != SP_E_OK) {
		sp_script_free(s);
		return (2);
	}
	printf("verdict\t%s\t%zu passed, %zu failed, %zu errors, %zu "
	    "skipped%s%s\n", sp_verdict_name(rep->verdict), rep->passed,
	    rep->failed, rep->errors, rep->skipped, rep->note ? "\t" : "",
	    rep->note ? rep->note : "");
	print_tls(c);
	rc = rep->verdict == SP_VERDICT_PASS ? 0 :
	    rep->verdict == SP_VERDICT_FAIL ? 1 :
	    rep->verdict == SP_VERDICT_ERROR ? 2 : 3;
	sp_script_report_free(rep);
	sp_script_free(s);
	return (rc);
}

int
main(int argc, char **argv)
{
	struct sp_client_options	o;
	struct sp_script_run_options	ro;
	struct sp_script_var		vars[MAX_VARS];
	sp_client			*c;
	char				*eq;
	int				 ch, rc;
	unsigned			 t;

	sp_client_options_default(&o);
	memset(&ro, 0, sizeof(ro));
	ro.vars = vars;
	o.on_anomaly = print_anomaly;
	while ((ch = getopt(argc, argv, "46c:EKkm:Tt:v:w:x:")) != -1) {
		switch (ch) {
		case '4': o.family = SP_CLIENT_FAMILY_IPV4; break;
		case '6': o.family = SP_CLIENT_FAMILY_IPV6; break;
		case 'c': o.ca_file = optarg; break;
		case 'E': ro.allow_env = 1; break;
		case 'K': ro.keep_going = 1; break;
		case 'k': o.no_verify = 1; break;
		case 'm': o.max_reply_bytes = strtoul(optarg, NULL, 10); break;
		case 'T': o.implicit_tls = 1; break;
		case 't':
			t = (unsigned)strtoul(optarg, NULL, 10);
			ro.default_ms = t;
			o.timeouts = (struct sp_client_timeouts){ t, t, t, t,
			    t, t, t, t, t };
			break;
		case 'v':
			if ((eq = strchr(optarg, '=')) == NULL ||
			    ro.nvars == MAX_VARS)
				return (usage());
			*eq = '\0';
			vars[ro.nvars].name = optarg;
			vars[ro.nvars++].value = eq + 1;
			break;
		case 'w': return (write_back(optarg));
		case 'x': return (convert(optarg));
		default: return (usage());
		}
	}
	if (argc - optind != 3)
		return (usage());
	if (sp_client_new(&c, &o) != SP_E_OK)
		return (2);
	rc = run(c, argv[optind], argv[optind + 1], argv[optind + 2], &ro);
	sp_client_free(c);
	return (rc);
}
