/*
 * smtp-decode - SMTP sessions from captures or live traffic, as JSON.
 *
 * main.c: options and the run.  input.c pulls packets; the shared
 * record builder (tools/common/record.c) turns analyzer events into
 * session records; output.c writes them in the chosen format.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "decode.h"

static void
usage(FILE *f)
{
	fputs(
"usage: smtp-decode [options] FILE...        (FILE may be - for stdin)\n"
"       smtp-decode -i IFACE [-f BPF] [-Z USER] [options]\n"
"\n"
"  -o FILE               write to FILE instead of stdout\n"
"  --format json|zeek|eve  session records (NDJSON), a Zeek smtp.log,\n"
"                        or Suricata EVE smtp events\n"
"  --pretty              indented JSON, for reading (not one per line)\n"
"  --events              one object per command, reply, transaction and\n"
"                        anomaly, as they happen\n"
"  --dialogue            add every command and reply to the records\n"
"  --hashes              md5 and sha1 besides sha256\n"
"  --extract DIR         messages as .eml, parts named by sha256\n"
"  --ports LIST          SMTP server ports (default 25,465,587,2525)\n"
"  --no-content-detection  only those ports are SMTP\n"
"  --show-secrets        keep AUTH passwords and tokens\n"
"  --stats               summary on stderr\n"
"  --max-flows N         TCP flows followed at once (default 65536); the\n"
"                        least recently active is ended past it.  Memory\n"
"                        is about 6 KB per open flow\n"
"  --no-progress         no progress line\n"
"  -f BPF                capture filter\n"
"  -i IFACE              live capture (any interface, \"any\" included)\n"
"  -s SNAPLEN, -B BYTES  live snap length, kernel buffer size\n"
"  -Z USER               drop privileges after opening the interface\n"
"  -j N                  analyse each file in N threads (default: one per\n"
"                        core, at most 8); records then come in any order\n"
"  -h, --help            this text;  -V, --version\n"
"\n"
"Exit status: 0 ok, 1 bad or partly unreadable input (what was decoded\n"
"is still written), 2 usage error.\n", f);
}

/* "25,587" -> ports; 0 on success. */
static int
parse_ports(const char *s, struct sp_analyzer_options *an)
{
	char	*end;

	an->nports = 0;
	while (*s != '\0') {
		unsigned long	p;

		errno = 0;
		p = strtoul(s, &end, 10);
		if (errno != 0 || end == s || p == 0 || p > 65535 ||
		    an->nports == SP_ANALYZER_MAX_PORTS ||
		    (*end != ',' && *end != '\0'))
			return (-1);
		an->ports[an->nports++] = (uint16_t)p;
		s = *end == ',' ? end + 1 : end;
	}
	return (an->nports > 0 ? 0 : -1);
}

static int
parse_int(const char *s, int *out)
{
	char	*end;
	long	 v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < 0 || v > 1 << 30)
		return (-1);
	*out = (int)v;
	return (0);
}

enum {
	OPT_FORMAT = 256, OPT_EVENTS, OPT_DIALOGUE, OPT_HASHES, OPT_EXTRACT,
	OPT_PORTS, OPT_NO_CONTENT, OPT_SECRETS, OPT_STATS, OPT_NO_PROGRESS,
	OPT_PRETTY, OPT_MAX_FLOWS
};

static const struct option longopts[] = {
	{ "format", required_argument, NULL, OPT_FORMAT },
	{ "events", no_argument, NULL, OPT_EVENTS },
	{ "dialogue", no_argument, NULL, OPT_DIALOGUE },
	{ "hashes", no_argument, NULL, OPT_HASHES },
	{ "extract", required_argument, NULL, OPT_EXTRACT },
	{ "ports", required_argument, NULL, OPT_PORTS },
	{ "no-content-detection", no_argument, NULL, OPT_NO_CONTENT },
	{ "show-secrets", no_argument, NULL, OPT_SECRETS },
	{ "stats", no_argument, NULL, OPT_STATS },
	{ "no-progress", no_argument, NULL, OPT_NO_PROGRESS },
	{ "pretty", no_argument, NULL, OPT_PRETTY },
	{ "max-flows", required_argument, NULL, OPT_MAX_FLOWS },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 }
};

static int
set_format(struct decode_opts *o, const char *s)
{
	if (strcmp(s, "json") == 0)
		o->format = FMT_JSON;
	else if (strcmp(s, "zeek") == 0)
		o->format = FMT_ZEEK;
	else if (strcmp(s, "eve") == 0)
		o->format = FMT_EVE;
	else
		return (-1);
	return (0);
}

/* One option; returns 0, or 2 for a usage error, or -1 to exit 0. */
static int
option(struct decode_opts *o, int c, const char *arg)
{
	switch (c) {
	case 'o': o->outfile = arg; return (0);
	case 'f': o->filter = arg; return (0);
	case 'i': o->iface = arg; return (0);
	case 'Z': o->user = arg; return (0);
	case 's': return (parse_int(arg, &o->snaplen) ? 2 : 0);
	case 'B': return (parse_int(arg, &o->bufsize) ? 2 : 0);
	case 'j':
		if (parse_int(arg, &o->threads) || o->threads < 1 ||
		    o->threads > 16)
			return (2);
		return (0);
	case OPT_FORMAT: return (set_format(o, arg) ? 2 : 0);
	case OPT_EVENTS: o->events = 1; return (0);
	case OPT_DIALOGUE: o->dialogue = 1; return (0);
	case OPT_HASHES: o->an.md5 = o->an.sha1 = 1; return (0);
	case OPT_EXTRACT: o->extract_dir = arg; return (0);
	case OPT_PORTS: return (parse_ports(arg, &o->an) ? 2 : 0);
	case OPT_NO_CONTENT: o->an.by_content = 0; return (0);
	case OPT_SECRETS: o->an.show_secrets = 1; return (0);
	case OPT_STATS: o->stats = 1; return (0);
	case OPT_NO_PROGRESS: o->progress = 0; return (0);
	case OPT_PRETTY: o->pretty = 1; return (0);
	case OPT_MAX_FLOWS:
		return (parse_int(arg, &o->max_flows) || o->max_flows < 1 ?
		    2 : 0);
	case 'h': usage(stdout); return (-1);
	case 'V': printf("smtp-decode %s\n", sp_version()); return (-1);
	default: return (2);
	}
}

/* One shard per core, up to 8: more only contend for the same file. */
static int
default_threads(void)
{
	long	n = sysconf(_SC_NPROCESSORS_ONLN);

	return (n < 1 ? 1 : n > 8 ? 8 : (int)n);
}

int
main(int argc, char **argv)
{
	struct decode_opts	o;
	int			c, rc, li;

	memset(&o, 0, sizeof(o));
	o.progress = 1;
	o.threads = default_threads();
	sp_analyzer_options_default(&o.an);
	li = -1;
	while ((c = getopt_long(argc, argv, "o:f:i:Z:s:B:j:hV", longopts,
	    &li)) != -1) {
		if ((rc = option(&o, c, optarg)) == -1)
			return (0);
		if (rc != 0) {
			/*
			 * Name the option, not argv[optind - 1]: that is the
			 * value itself for "--format xml" (two words).
			 */
			if (c != '?' && li >= 0)
				fprintf(stderr, "smtp-decode: bad value for "
				    "option --%s: '%s'\n", longopts[li].name,
				    optarg != NULL ? optarg : "");
			else if (c != '?')
				fprintf(stderr, "smtp-decode: bad value for "
				    "option -%c: '%s'\n", c,
				    optarg != NULL ? optarg : "");
			usage(stderr);
			return (2);
		}
		li = -1;
	}
	if ((o.iface == NULL) == (optind == argc)) {
		fprintf(stderr, "smtp-decode: give capture files or -i IFACE "
		    "(not both)\n");
		usage(stderr);
		return (2);
	}
	if (o.events && o.format != FMT_JSON) {
		fprintf(stderr, "smtp-decode: --events writes JSON only\n");
		return (2);
	}
	return (decode_run(&o, argv + optind, argc - optind));
}
