/*
 * tcp_harness.h - helpers for the TCP reassembly tests: hand-built
 * segments, and an event log that renders every callback as one line
 * of text, so expected logs read like this:
 *
 *	start #1 10.0.0.1:40000>10.0.0.2:25 hs
 *	data #1 S 0+8 "220 hi\r\n"
 *	gap #1 C 10+10
 *	anom #1 C tcp_gap 10
 *	end #1 fin
 *
 * The log also checks the reassembler's promise as it goes: per flow
 * and direction, on_data and on_gap cover offsets 0, 1, 2... exactly
 * once and in order, and nothing follows on_flow_end.  It keeps each
 * stream's bytes (gap bytes as '#') for the every-split tests.
 */
#ifndef SP_TCP_HARNESS_H
#define SP_TCP_HARNESS_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"

#include "check.h"

#define EV_MAX_FLOWS	512

struct ev_stream {
	uint64_t	 next;		/* where the next event must start */
	uint8_t		*bytes;
	size_t		 len, cap;
};

struct evlog {
	char		*text;
	size_t		 len, cap;
	int		 log_data;	/* print data bytes (default on) */
	int		 violations;	/* broken coverage/order promises */
	int		 ended[EV_MAX_FLOWS];
	struct ev_stream s[EV_MAX_FLOWS][2];
	int		 fail_at;	/* fail the Nth callback (from 1) */
	int		 ncalls;
};

static inline void
ev_init(struct evlog *l)
{
	memset(l, 0, sizeof(*l));
	l->log_data = 1;
}

static inline void
ev_free(struct evlog *l)
{
	free(l->text);
	for (int i = 0; i < EV_MAX_FLOWS; i++) {
		free(l->s[i][0].bytes);
		free(l->s[i][1].bytes);
	}
	memset(l, 0, sizeof(*l));
}

static inline void
ev_grow(void **p, size_t *cap, size_t need)
{
	size_t	ncap = *cap != 0 ? *cap : 256;

	if (need <= *cap)
		return;
	while (ncap < need)
		ncap *= 2;
	*p = realloc(*p, ncap);
	if (*p == NULL)
		abort();
	*cap = ncap;
}

static inline void __attribute__((format(printf, 2, 3)))
ev_printf(struct evlog *l, const char *fmt, ...)
{
	va_list	ap;
	int	n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	ev_grow((void **)&l->text, &l->cap, l->len + (size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(l->text + l->len, l->cap - l->len, fmt, ap);
	va_end(ap);
	l->len += (size_t)n;
}

/* Forget the text so far (streams and checks carry on). */
static inline void
ev_clear(struct evlog *l)
{
	l->len = 0;
	if (l->text != NULL)
		l->text[0] = '\0';
}

static inline const char *
ev_text(struct evlog *l)
{
	if (l->text == NULL)
		ev_printf(l, "%s", "");
	return (l->text);
}

static inline char
ev_dir(enum sp_dir d)
{
	return (d == SP_DIR_CLIENT ? 'C' : 'S');
}

static inline void
ev_addr(struct evlog *l, const struct sp_addr *a, uint16_t port)
{
	if (a->family == 6) {
		ev_printf(l, "[");
		for (int i = 0; i < 16; i += 2)
			ev_printf(l, "%s%x", i ? ":" : "",
			    (unsigned)a->a[i] << 8 | a->a[i + 1]);
		ev_printf(l, "]:%u", port);
		return;
	}
	ev_printf(l, "%u.%u.%u.%u:%u", a->a[0], a->a[1], a->a[2], a->a[3],
	    port);
}

/* Check the event covers [off, off + n) right after the last one. */
static inline struct ev_stream *
ev_cover(struct evlog *l, const struct sp_tcp_flow *f, enum sp_dir d,
    uint64_t off, uint64_t n)
{
	struct ev_stream	*s;

	if (f->id >= EV_MAX_FLOWS)
		return (NULL);
	s = &l->s[f->id][d];
	if (off != s->next || n == 0 || l->ended[f->id]) {
		l->violations++;
		fprintf(stderr, "coverage: flow %llu %c off %llu n %llu, "
		    "expected off %llu\n", (unsigned long long)f->id,
		    ev_dir(d), (unsigned long long)off,
		    (unsigned long long)n, (unsigned long long)s->next);
	}
	s->next = off + n;
	return (s);
}

static inline void
ev_keep(struct ev_stream *s, const uint8_t *p, size_t n, int fill)
{
	if (s == NULL || n > (1u << 24))
		return;
	ev_grow((void **)&s->bytes, &s->cap, s->len + n);
	if (p != NULL)
		memcpy(s->bytes + s->len, p, n);
	else
		memset(s->bytes + s->len, fill, n);
	s->len += n;
}

static inline int
ev_call(struct evlog *l)
{
	return (++l->ncalls == l->fail_at ? -1 : 0);
}

static inline int
ev_on_start(void *ud, struct sp_tcp_flow *f)
{
	struct evlog	*l = ud;

	ev_printf(l, "start #%llu ", (unsigned long long)f->id);
	ev_addr(l, &f->client, f->client_port);
	ev_printf(l, ">");
	ev_addr(l, &f->server, f->server_port);
	ev_printf(l, " %s\n", f->handshake ? "hs" : "mid");
	return (ev_call(l));
}

static inline int
ev_on_data(void *ud, struct sp_tcp_flow *f, enum sp_dir d, uint64_t off,
    const uint8_t *p, size_t n, sp_ts ts)
{
	struct evlog	*l = ud;

	(void)ts;
	ev_keep(ev_cover(l, f, d, off, n), p, n, 0);
	ev_printf(l, "data #%llu %c %llu+%zu", (unsigned long long)f->id,
	    ev_dir(d), (unsigned long long)off, n);
	if (l->log_data) {
		ev_printf(l, " \"");
		for (size_t i = 0; i < n; i++) {
			if (p[i] == '\r')
				ev_printf(l, "\\r");
			else if (p[i] == '\n')
				ev_printf(l, "\\n");
			else if (p[i] < 32 || p[i] > 126 || p[i] == '"')
				ev_printf(l, "\\x%02x", p[i]);
			else
				ev_printf(l, "%c", p[i]);
		}
		ev_printf(l, "\"");
	}
	ev_printf(l, "\n");
	return (ev_call(l));
}

static inline int
ev_on_gap(void *ud, struct sp_tcp_flow *f, enum sp_dir d, uint64_t off,
    uint64_t n, sp_ts ts)
{
	struct evlog	*l = ud;

	(void)ts;
	ev_keep(ev_cover(l, f, d, off, n), NULL, (size_t)n, '#');
	ev_printf(l, "gap #%llu %c %llu+%llu\n", (unsigned long long)f->id,
	    ev_dir(d), (unsigned long long)off, (unsigned long long)n);
	return (ev_call(l));
}

static inline int
ev_on_anomaly(void *ud, struct sp_tcp_flow *f, enum sp_dir d,
    enum sp_anomaly a, uint64_t off, const char *detail)
{
	struct evlog	*l = ud;

	if (f->id < EV_MAX_FLOWS && l->ended[f->id])
		l->violations++;
	ev_printf(l, "anom #%llu %c %s %llu", (unsigned long long)f->id,
	    ev_dir(d), sp_anomaly_name(a), (unsigned long long)off);
	if (detail != NULL)
		ev_printf(l, " (%s)", detail);
	ev_printf(l, "\n");
	return (ev_call(l));
}

static inline int
ev_on_end(void *ud, struct sp_tcp_flow *f, enum sp_flow_end why)
{
	struct evlog	*l = ud;

	if (f->id < EV_MAX_FLOWS) {
		if (l->ended[f->id])
			l->violations++;
		l->ended[f->id] = 1;
	}
	ev_printf(l, "end #%llu %s\n", (unsigned long long)f->id,
	    sp_flow_end_name(why));
	return (ev_call(l));
}

static const struct sp_tcp_callbacks ev_callbacks = {
	ev_on_start, ev_on_data, ev_on_gap, ev_on_anomaly, ev_on_end
};

/* --- Hand-built segments --- */

/* Two endpoints; "c" sends from cport to sport. */
struct tends {
	struct sp_addr	c, s;
	uint16_t	cport, sport;
	uint16_t	vlan;
	uint8_t		nvlan;
};

static inline struct tends
tends_v4(uint8_t clast, uint16_t cport, uint8_t slast, uint16_t sport)
{
	struct tends	e;

	memset(&e, 0, sizeof(e));
	e.c.family = e.s.family = 4;
	e.c.a[0] = e.s.a[0] = 10;
	e.c.a[3] = clast;
	e.s.a[3] = slast;
	e.cport = cport;
	e.sport = sport;
	return (e);
}

static inline uint8_t
tflags(const char *f)
{
	uint8_t	v = 0;

	for (; *f != '\0'; f++) {
		switch (*f) {
		case 'S': v |= SP_TCP_SYN; break;
		case 'A': v |= SP_TCP_ACK; break;
		case 'F': v |= SP_TCP_FIN; break;
		case 'R': v |= SP_TCP_RST; break;
		case 'P': v |= SP_TCP_PSH; break;
		default: abort();
		}
	}
	return (v);
}

/* A segment from the client (from_server 0) or the server. */
static inline struct sp_packet
tseg_n(const struct tends *e, int from_server, const char *flags,
    uint32_t seq, uint32_t ack, const void *p, size_t n, sp_ts ts)
{
	struct sp_packet	pkt;

	memset(&pkt, 0, sizeof(pkt));
	pkt.ts = ts;
	pkt.src = from_server ? e->s : e->c;
	pkt.dst = from_server ? e->c : e->s;
	pkt.sport = from_server ? e->sport : e->cport;
	pkt.dport = from_server ? e->cport : e->sport;
	pkt.nvlan = e->nvlan;
	pkt.vlan[0] = e->vlan;
	pkt.flags = tflags(flags);
	pkt.seq = seq;
	pkt.ack = ack;
	pkt.payload = p;
	pkt.payload_len = n;
	pkt.payload_wire_len = n;
	return (pkt);
}

static inline struct sp_packet
tseg(const struct tends *e, int from_server, const char *flags,
    uint32_t seq, uint32_t ack, const char *s, sp_ts ts)
{
	return (tseg_n(e, from_server, flags, seq, ack, s,
	    s != NULL ? strlen(s) : 0, ts));
}

#define MS(x)	((sp_ts)(x) * 1000000u)

/* A reassembler logging into l, with limits lim (NULL: defaults). */
static inline sp_tcp_reasm *
tnew(struct evlog *l, const struct sp_limits *lim)
{
	struct sp_limits	 def;
	sp_tcp_reasm		*r = NULL;

	if (lim == NULL) {
		sp_limits_default(&def);
		lim = &def;
	}
	ev_init(l);
	if (sp_tcp_reasm_new(&r, lim, &ev_callbacks, l) != SP_E_OK)
		abort();
	return (r);
}

/* Feed a segment; any error is a test failure. */
#define FEED(r, pkt) do {						\
	struct sp_packet feed_p_ = (pkt);				\
	sp_err feed_e_ = sp_tcp_reasm_packet((r), &feed_p_);		\
	CHECK_EQ(feed_e_, SP_E_OK, "feed: %s", sp_errname(feed_e_));	\
} while (0)

#endif /* SP_TCP_HARNESS_H */
