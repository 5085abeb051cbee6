/*
 * output.c - writes finished session records (json-c objects built by
 * record.c) in the chosen format:
 *   json   one object per line (NDJSON), the record as it is;
 *   zeek   a Zeek-style smtp.log: TSV, one row per transaction, with
 *          Zeek's header lines and field names, so Zeek pipelines
 *          take it unchanged;
 *   eve    Suricata-style EVE "smtp" events, one per transaction.
 * Zeek and EVE are derived from the JSON record, never from the wire,
 * so the three formats cannot disagree.
 */
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "output.h"

#define JSON_FLAGS	(JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

static const char *const zeek_fields[] = {
	"ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p",
	"trans_depth", "helo", "mailfrom", "rcptto", "date", "from", "to",
	"cc", "reply_to", "msg_id", "in_reply_to", "subject",
	"x_originating_ip", "first_received", "second_received",
	"last_reply", "path", "user_agent", "tls", "fuids"
};

static const char *const zeek_types[] = {
	"time", "string", "addr", "port", "addr", "port", "count", "string",
	"string", "set[string]", "string", "string", "set[string]",
	"set[string]", "string", "string", "string", "string", "addr",
	"string", "string", "string", "vector[addr]", "string", "bool",
	"vector[string]"
};

/* Follow a path of object keys; NULL when any step is missing. */
static json_object *
get(json_object *o, const char *k1, const char *k2)
{
	json_object	*v = NULL;

	if (o == NULL || !json_object_object_get_ex(o, k1, &v))
		return (NULL);
	if (k2 == NULL)
		return (v);
	if (!json_object_object_get_ex(v, k2, &v))
		return (NULL);
	return (v);
}

static const char *
get_str(json_object *o, const char *k1, const char *k2)
{
	json_object	*v = get(o, k1, k2);

	return (v != NULL ? json_object_get_string(v) : NULL);
}

/* A field the record lacks, as Zeek writes an unset one. */
static const char *
or_unset(const char *s)
{
	return (s != NULL ? s : "-");
}

/*
 * Zeek's escaping: separators, backslashes and non-printable bytes
 * become \xNN; an empty string is "(empty)"; a missing one is "-".
 */
static void
zeek_str(FILE *f, const char *s)
{
	if (s == NULL) {
		fputc('-', f);
		return;
	}
	if (*s == '\0') {
		fputs("(empty)", f);
		return;
	}
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '\t' || *p == ',' || *p == '\\' || *p < 0x20 ||
		    *p == 0x7f)
			fprintf(f, "\\x%02x", *p);
		else
			fputc(*p, f);
	}
}

/* A set or vector: elements joined by ','; "-" when absent. */
static void
zeek_list(FILE *f, json_object *arr, const char *key)
{
	size_t	n;

	if (arr == NULL || (n = json_object_array_length(arr)) == 0) {
		fputc('-', f);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		json_object	*e = json_object_array_get_idx(arr, i);

		if (i > 0)
			fputc(',', f);
		if (key != NULL)
			zeek_str(f, get_str(e, key, NULL));
		else
			zeek_str(f, json_object_get_string(e));
	}
}

static void
zeek_reply(FILE *f, json_object *rep)
{
	char		 buf[1024];
	const char	*text;

	if (rep == NULL) {
		fputc('-', f);
		return;
	}
	text = get_str(rep, "text", NULL);
	snprintf(buf, sizeof(buf), "%d %s",
	    json_object_get_int(get(rep, "code", NULL)),
	    text != NULL ? text : "");
	/* Zeek keeps only the first line of the last reply. */
	buf[strcspn(buf, "\n")] = '\0';
	zeek_str(f, buf);
}

/* The #open and #close stamps: the time of writing, in UTC. */
static void
zeek_stamp(char *buf, size_t n)
{
	time_t		 now = time(NULL);
	struct tm	 tm;

	strftime(buf, n, "%Y-%m-%d-%H-%M-%S", gmtime_r(&now, &tm));
}

void
output_zeek_header(FILE *f)
{
	char		 buf[64];

	zeek_stamp(buf, sizeof(buf));
	fprintf(f, "#separator \\x09\n#set_separator\t,\n"
	    "#empty_field\t(empty)\n#unset_field\t-\n#path\tsmtp\n"
	    "#open\t%s\n#fields", buf);
	for (size_t i = 0; i < sizeof(zeek_fields) / sizeof(*zeek_fields); i++)
		fprintf(f, "\t%s", zeek_fields[i]);
	fputs("\n#types", f);
	for (size_t i = 0; i < sizeof(zeek_types) / sizeof(*zeek_types); i++)
		fprintf(f, "\t%s", zeek_types[i]);
	fputc('\n', f);
}

void
output_zeek_footer(FILE *f)
{
	char		 buf[64];

	zeek_stamp(buf, sizeof(buf));
	fprintf(f, "#close\t%s\n", buf);
}

static void
zeek_row(FILE *f, json_object *rec, json_object *tx)
{
	json_object	*msg = get(tx, "message", NULL);
	json_object	*hdr = get(msg, "headers", NULL);
	json_object	*rcv = get(hdr, "received", NULL);
	json_object	*tls = get(rec, "tls", "started");
	json_object	*ts = get(tx, "ts", NULL);
	size_t		 nrcv = rcv != NULL ? json_object_array_length(rcv) : 0;

	fprintf(f, "%.6f", json_object_get_double(ts != NULL ? ts :
	    get(rec, "ts", NULL)));
	fputc('\t', f);
	zeek_str(f, get_str(rec, "uid", NULL));
	fprintf(f, "\t%s\t%d\t%s\t%d\t%d\t",
	    or_unset(get_str(get(rec, "flow", "client"), "ip", NULL)),
	    json_object_get_int(get(get(rec, "flow", "client"), "port", NULL)),
	    or_unset(get_str(get(rec, "flow", "server"), "ip", NULL)),
	    json_object_get_int(get(get(rec, "flow", "server"), "port", NULL)),
	    json_object_get_int(get(tx, "index", NULL)));
	zeek_str(f, get_str(rec, "helo", NULL));
	fputc('\t', f);
	zeek_str(f, get_str(get(tx, "mail_from", NULL), "address", NULL));
	fputc('\t', f);
	zeek_list(f, get(tx, "rcpt_to", NULL), "address");
	fputc('\t', f);
	zeek_str(f, get_str(hdr, "date", NULL));
	fputc('\t', f);
	zeek_str(f, get_str(hdr, "from", NULL));
	fputc('\t', f);
	zeek_list(f, get(hdr, "to", NULL), NULL);
	fputc('\t', f);
	zeek_list(f, get(hdr, "cc", NULL), NULL);
	fputc('\t', f);
	zeek_str(f, get_str(hdr, "reply_to", NULL));
	fputc('\t', f);
	zeek_str(f, get_str(hdr, "message_id", NULL));
	fputc('\t', f);
	zeek_str(f, get_str(hdr, "in_reply_to", NULL));
	fputc('\t', f);
	zeek_str(f, get_str(hdr, "subject", NULL));
	fputc('\t', f);
	zeek_str(f, get_str(hdr, "x_originating_ip", NULL));
	fputc('\t', f);
	zeek_str(f, nrcv > 0 ? json_object_get_string(
	    json_object_array_get_idx(rcv, 0)) : NULL);
	fputc('\t', f);
	zeek_str(f, nrcv > 1 ? json_object_get_string(
	    json_object_array_get_idx(rcv, 1)) : NULL);
	fputc('\t', f);
	zeek_reply(f, get(tx, "reply", NULL));
	fputc('\t', f);
	/* Zeek's path: the server, then the client. */
	zeek_str(f, get_str(get(rec, "flow", "server"), "ip", NULL));
	fputc(',', f);
	zeek_str(f, get_str(get(rec, "flow", "client"), "ip", NULL));
	fputc('\t', f);
	zeek_str(f, get_str(hdr, "user_agent", NULL) != NULL ?
	    get_str(hdr, "user_agent", NULL) : get_str(hdr, "x_mailer", NULL));
	fprintf(f, "\t%s\t", tls != NULL && json_object_get_boolean(tls) ?
	    "T" : "F");
	zeek_list(f, get(msg, "parts", NULL), "sha256");
	fputc('\n', f);
}

void
output_zeek(FILE *f, json_object *rec)
{
	json_object	*txs = get(rec, "transactions", NULL);
	size_t		 n = txs != NULL ? json_object_array_length(txs) : 0;

	for (size_t i = 0; i < n; i++)
		zeek_row(f, rec, json_object_array_get_idx(txs, i));
}

void
output_json(FILE *f, json_object *rec, int pretty)
{
	/* NDJSON by default: one record a line, for jq and log shippers. */
	if (!pretty) {
		ndjson_write(f, rec);
		return;
	}
	fputs(json_object_to_json_string_ext(rec, JSON_FLAGS |
	    JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED), f);
	fputc('\n', f);
}

/* Suricata's timestamp: 2009-10-05T06:06:07.492411+0000. */
static void
eve_timestamp(double ts, char *buf, size_t len)
{
	time_t		sec = (time_t)ts;
	struct tm	tm;
	char		base[32];
	long		usec = (long)((ts - (double)sec) * 1e6 + 0.5);

	if (usec >= 1000000) {
		sec++;
		usec -= 1000000;
	}
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", gmtime_r(&sec, &tm));
	snprintf(buf, len, "%s.%06ld+0000", base, usec);
}

/* Copy rec[key] (if present) into dst under name. */
static void
copy_field(json_object *dst, const char *name, json_object *v)
{
	if (v != NULL)
		json_object_object_add(dst, name, json_object_get(v));
}

static json_object *
eve_email(json_object *msg)
{
	json_object	*hdr = get(msg, "headers", NULL);
	json_object	*email = json_object_new_object();
	json_object	*att = json_object_new_array();
	json_object	*parts = get(msg, "parts", NULL);
	size_t		 n = parts != NULL ? json_object_array_length(parts) : 0;
	json_object	*c = get(msg, "complete", NULL);

	json_object_object_add(email, "status", json_object_new_string(
	    c != NULL && json_object_get_boolean(c) ? "PARSE_DONE" :
	    "PARSE_ERROR"));
	copy_field(email, "from", get(hdr, "from", NULL));
	copy_field(email, "to", get(hdr, "to", NULL));
	copy_field(email, "cc", get(hdr, "cc", NULL));
	copy_field(email, "subject", get(hdr, "subject", NULL));
	copy_field(email, "message_id", get(hdr, "message_id", NULL));
	copy_field(email, "date", get(hdr, "date", NULL));
	copy_field(email, "x_mailer", get(hdr, "x_mailer", NULL));
	copy_field(email, "received", get(hdr, "received", NULL));
	for (size_t i = 0; i < n; i++) {
		json_object *fn = get(json_object_array_get_idx(parts, i),
		    "filename", NULL);

		if (fn != NULL)
			json_object_array_add(att, json_object_get(fn));
	}
	json_object_object_add(email, "attachment", att);
	copy_field(email, "url", get(msg, "urls", NULL));
	return (email);
}

/* Angle brackets, as Suricata logs envelope addresses. */
static json_object *
bracketed(const char *addr)
{
	char	buf[1024];

	snprintf(buf, sizeof(buf), "<%s>", addr != NULL ? addr : "");
	return (json_object_new_string(buf));
}

static json_object *
eve_smtp(json_object *rec, json_object *tx)
{
	json_object	*smtp = json_object_new_object();
	json_object	*rcpts = json_object_new_array();
	json_object	*list = get(tx, "rcpt_to", NULL);
	size_t		 n = list != NULL ? json_object_array_length(list) : 0;

	copy_field(smtp, "helo", get(rec, "helo", NULL));
	if (get(tx, "mail_from", NULL) != NULL)
		json_object_object_add(smtp, "mail_from", bracketed(
		    get_str(get(tx, "mail_from", NULL), "address", NULL)));
	for (size_t i = 0; i < n; i++)
		json_object_array_add(rcpts, bracketed(get_str(
		    json_object_array_get_idx(list, i), "address", NULL)));
	json_object_object_add(smtp, "rcpt_to", rcpts);
	return (smtp);
}

void
output_eve(FILE *f, json_object *rec)
{
	json_object	*txs = get(rec, "transactions", NULL);
	size_t		 n = txs != NULL ? json_object_array_length(txs) : 0;
	const char	*uid = get_str(rec, "uid", NULL);

	for (size_t i = 0; i < n; i++) {
		json_object	*tx = json_object_array_get_idx(txs, i);
		json_object	*ev = json_object_new_object();
		json_object	*ts = get(tx, "ts", NULL);
		char		 tbuf[64];

		eve_timestamp(json_object_get_double(ts != NULL ? ts :
		    get(rec, "ts", NULL)), tbuf, sizeof(tbuf));
		json_object_object_add(ev, "timestamp",
		    json_object_new_string(tbuf));
		/* The uid's 64 bits, as Suricata's flow_id is a number. */
		json_object_object_add(ev, "flow_id", json_object_new_uint64(
		    uid != NULL ? strtoull(uid + 1, NULL, 16) : 0));
		json_object_object_add(ev, "event_type",
		    json_object_new_string("smtp"));
		copy_field(ev, "src_ip", get(get(rec, "flow", "client"), "ip", NULL));
		copy_field(ev, "src_port", get(get(rec, "flow", "client"), "port", NULL));
		copy_field(ev, "dest_ip", get(get(rec, "flow", "server"), "ip", NULL));
		copy_field(ev, "dest_port", get(get(rec, "flow", "server"), "port", NULL));
		json_object_object_add(ev, "proto", json_object_new_string("TCP"));
		json_object_object_add(ev, "app_proto", json_object_new_string("smtp"));
		json_object_object_add(ev, "tx_id", json_object_new_int((int)i));
		json_object_object_add(ev, "smtp", eve_smtp(rec, tx));
		if (get(tx, "message", NULL) != NULL)
			json_object_object_add(ev, "email",
			    eve_email(get(tx, "message", NULL)));
		output_json(f, ev, 0);
		json_object_put(ev);
	}
}
