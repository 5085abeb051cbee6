/*
 * client.c - the client engine's handle, connection and writes.
 *
 * The socket is non-blocking from the start; every wait is one
 * poll(2) with a deadline on the monotonic clock, on the socket and on
 * the caller's cancel fd, so no call can hang and Ctrl-C in a shell
 * cancels the wait without killing the session.  Replies are read in
 * client_reply.c, TLS lives in client_tls.c.
 */
#include <errno.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "client_int.h"

#define MS(x)	((uint64_t)(x) * 1000000u)

void
sp_client_options_default(struct sp_client_options *o)
{
	memset(o, 0, sizeof(*o));
	o->cancel_fd = -1;
}

uint64_t
sp__client_now(void)
{
	struct timespec	ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * SP_TS_PER_SEC + (uint64_t)ts.tv_nsec);
}

sp_err
sp__client_err(sp_client *c, sp_err e, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	(void)vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
	return (e);
}

const char *
sp_client_errmsg(const sp_client *c)
{
	return (c != NULL ? c->err : "");
}

/* Zero timeouts mean RFC 5321 4.5.3.2's client timers. */
static void
fill_timeouts(struct sp_client_timeouts *t)
{
	static const unsigned	min = 60 * 1000;

	if (t->connect_ms == 0)
		t->connect_ms = 30 * 1000;
	if (t->tls_ms == 0)
		t->tls_ms = 30 * 1000;
	if (t->greeting_ms == 0)
		t->greeting_ms = 5 * min;
	if (t->mail_ms == 0)
		t->mail_ms = 5 * min;
	if (t->rcpt_ms == 0)
		t->rcpt_ms = 5 * min;
	if (t->data_start_ms == 0)
		t->data_start_ms = 2 * min;
	if (t->data_block_ms == 0)
		t->data_block_ms = 3 * min;
	if (t->data_end_ms == 0)
		t->data_end_ms = 10 * min;
	if (t->command_ms == 0)
		t->command_ms = 5 * min;
}

sp_err
sp_client_new(sp_client **out, const struct sp_client_options *o)
{
	sp_client	*c;

	if (out == NULL)
		return (SP_E_INVAL);
	*out = NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return (SP_E_NOMEM);
	if (o != NULL)
		c->o = *o;
	else
		sp_client_options_default(&c->o);
	if (c->o.limits != NULL)
		c->lim = *c->o.limits;
	else
		sp_limits_default(&c->lim);
	c->o.limits = NULL;		/* not the caller's pointer later */
	if (c->o.max_reply_bytes == 0)
		c->o.max_reply_bytes = 64 * 1024;
	fill_timeouts(&c->o.timeouts);
	c->fd = -1;
	c->qcap = c->lim.max_pipeline + 2;
	c->q = sp__calloc(c->lim.alloc, c->qcap, sizeof(*c->q));
	sp__buf_init(&c->raw, c->o.max_reply_bytes, c->lim.alloc);
	sp__buf_init(&c->text, c->o.max_reply_bytes + 1, c->lim.alloc);
	sp__buf_init(&c->capbuf, c->o.max_reply_bytes, c->lim.alloc);
	c->capv = sp__calloc(c->lim.alloc, c->lim.max_reply_lines,
	    sizeof(*c->capv));
	if (c->q == NULL || c->capv == NULL) {
		sp_client_free(c);
		return (SP_E_NOMEM);
	}
	*out = c;
	return (SP_E_OK);
}

void
sp_client_close(sp_client *c)
{
	if (c == NULL)
		return;
	sp__client_tls_close(c);
	if (c->fd >= 0)
		(void)close(c->fd);
	c->fd = -1;
	c->connected = 0;
}

void
sp_client_free(sp_client *c)
{
	if (c == NULL)
		return;
	sp_client_close(c);
	sp_smtp_parser_free(c->parser);
	sp__buf_free(&c->raw);
	sp__buf_free(&c->text);
	sp__buf_free(&c->capbuf);
	sp__free(c->lim.alloc, c->q);
	sp__free(c->lim.alloc, c->capv);
	free(c);
}

int
sp_client_is_open(const sp_client *c)
{
	return (c != NULL && c->connected && c->eof == EOF_NONE &&
	    !c->broken);
}

static int
cancelled(const sp_client *c)
{
	return (c->o.cancel_flag != NULL && *c->o.cancel_flag != 0);
}

/*
 * Wait ms milliseconds unless cancelled first (SP_E_CANCELLED): a
 * script's sleep step (a recorded pause, up to --max-gap) must not
 * hold up a stop.  A cancel_fd of -1 makes poll(2) a plain sleep.
 */
sp_err
sp__client_sleep(sp_client *c, unsigned ms)
{
	uint64_t	deadline = sp__client_now() + MS(ms), now;
	struct pollfd	pfd;

	for (;;) {
		if (cancelled(c))
			break;
		if ((now = sp__client_now()) >= deadline)
			return (SP_E_OK);
		pfd.fd = c->o.cancel_fd;
		pfd.events = POLLIN;
		pfd.revents = 0;
		if (poll(&pfd, 1, (int)SP_MIN((deadline - now + 999999) /
		    1000000, (uint64_t)INT32_MAX)) > 0 && pfd.revents != 0)
			break;
	}
	return (sp__client_err(c, SP_E_CANCELLED, "cancelled while "
	    "sleeping"));
}

/*
 * Wait until the socket is ready for events, the deadline passes or
 * the caller cancels.  what completes "timed out after N s ...".
 */
sp_err
sp__client_poll(sp_client *c, short events, uint64_t deadline,
    const char *what)
{
	struct pollfd	pfd[2];
	uint64_t	now;
	int		n, ms;

	for (;;) {
		if (cancelled(c))
			return (sp__client_err(c, SP_E_CANCELLED,
			    "cancelled while %s", what));
		now = sp__client_now();
		if (now >= deadline)
			return (SP_E_TIMEOUT);	/* caller words it */
		ms = (int)SP_MIN((deadline - now + 999999) / 1000000,
		    (uint64_t)INT32_MAX);
		pfd[0].fd = c->fd;
		pfd[0].events = events;
		pfd[1].fd = c->o.cancel_fd;
		pfd[1].events = POLLIN;
		pfd[0].revents = pfd[1].revents = 0;
		n = poll(pfd, c->o.cancel_fd >= 0 ? 2 : 1, ms);
		if (n < 0 && errno != EINTR)
			return (sp__client_err(c, SP_E_IO, "poll: %s",
			    strerror(errno)));
		if (n > 0 && c->o.cancel_fd >= 0 && pfd[1].revents != 0)
			return (sp__client_err(c, SP_E_CANCELLED,
			    "cancelled while %s", what));
		if (n > 0 && pfd[0].revents != 0)
			return (SP_E_OK);
	}
}

/* ---------------------------------------------------------- connect */

static void
format_addr(const struct sockaddr *sa, char *buf, size_t cap)
{
	/* Numeric: an IPv6 literal at most, and a zone ("%eth0"). */
	char	h[INET6_ADDRSTRLEN + IF_NAMESIZE], s[NI_MAXSERV];

	if (getnameinfo(sa, sa->sa_family == AF_INET6 ?
	    sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in), h,
	    sizeof(h), s, sizeof(s), NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
		(void)snprintf(buf, cap, "?");
		return;
	}
	(void)snprintf(buf, cap, sa->sa_family == AF_INET6 ? "[%s]:%s" :
	    "%s:%s", h, s);
}

/* One address: non-blocking connect, then poll for writability. */
static sp_err
try_addr(sp_client *c, const struct addrinfo *ai)
{
	int		fd, soerr = 0, one = 1;
	socklen_t	sl = sizeof(soerr);
	sp_err		e;

	format_addr(ai->ai_addr, c->peer, sizeof(c->peer));
	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, ai->ai_protocol);
	if (fd < 0)
		return (sp__client_err(c, SP_E_IO, "connect to %s: %s",
		    c->peer, strerror(errno)));
	/* Commands are small and latency is measured: no Nagle delay. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->fd = fd;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
		return (SP_E_OK);
	if (errno != EINPROGRESS) {
		soerr = errno;
		goto fail;
	}
	e = sp__client_poll(c, POLLOUT, sp__client_now() +
	    MS(c->o.timeouts.connect_ms), "connecting");
	if (e == SP_E_TIMEOUT)
		e = sp__client_err(c, e, "connect to %s: timed out after "
		    "%.1f s", c->peer, c->o.timeouts.connect_ms / 1000.0);
	if (e != SP_E_OK) {
		sp_client_close(c);
		return (e);
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 &&
	    soerr == 0)
		return (SP_E_OK);
fail:
	sp_client_close(c);
	return (sp__client_err(c, SP_E_IO, "connect to %s: %s", c->peer,
	    soerr == ECONNREFUSED ? "connection refused" : strerror(soerr)));
}

sp_err
sp_client_resolve(enum sp_client_family family, const char *host,
    const char *port, struct addrinfo **res, char *msg, size_t cap)
{
	struct addrinfo	hints;
	int		rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_family = family == SP_CLIENT_FAMILY_IPV4 ? AF_INET :
	    family == SP_CLIENT_FAMILY_IPV6 ? AF_INET6 : AF_UNSPEC;
	/*
	 * An address literal first: no name service, and no AI_ADDRCONFIG,
	 * whose netlink query of the interfaces cost seven system calls
	 * on every connect (a load run connects thousands of times).
	 */
	hints.ai_flags = AI_NUMERICHOST;
	if ((rc = getaddrinfo(host, port, &hints, res)) == 0)
		return (SP_E_OK);
	hints.ai_flags = AI_ADDRCONFIG;
	rc = getaddrinfo(host, port, &hints, res);
	if (rc == EAI_NONAME || rc == EAI_FAMILY) {
		hints.ai_flags = 0;	/* loopback-only hosts: no ADDRCONFIG */
		rc = getaddrinfo(host, port, &hints, res);
	}
	if (rc == 0)
		return (SP_E_OK);
	(void)snprintf(msg, cap, "resolve %s port %s: %s", host, port,
	    gai_strerror(rc));
	return (SP_E_IO);
}

static sp_err
new_parser(sp_client *c, int after_starttls)
{
	struct sp_smtp_options	o;
	sp_err			e;

	sp_smtp_parser_free(c->parser);
	c->parser = NULL;
	if ((e = sp__client_parser_new(c)) != SP_E_OK)
		return (e);
	memset(&o, 0, sizeof(o));
	o.decrypted = c->o.implicit_tls;
	o.after_starttls = after_starttls;
	return (sp_smtp_parser_set_options(c->parser, &o));
}

sp_err
sp_client_connect(sp_client *c, const char *host, const char *port)
{
	struct addrinfo	*res = NULL, *ai;
	sp_err		 e;

	if (c == NULL || host == NULL || port == NULL)
		return (SP_E_INVAL);
	if (c->connected || c->fd >= 0)
		return (sp__client_err(c, SP_E_STATE, "already connected"));
	(void)snprintf(c->host, sizeof(c->host), "%s", host);
	if ((e = sp_client_resolve(c->o.family, host, port, &res, c->err,
	    sizeof(c->err))) != SP_E_OK)
		return (e);
	e = SP_E_IO;
	for (ai = res; ai != NULL; ai = ai->ai_next)
		if ((e = try_addr(c, ai)) == SP_E_OK || e == SP_E_CANCELLED)
			break;
	freeaddrinfo(res);
	if (e != SP_E_OK)
		return (e);
	c->connected = 1;
	c->eof = EOF_NONE;
	c->broken = 0;
	c->rpos = c->rlen = 0;
	if ((e = new_parser(c, 0)) != SP_E_OK)
		return (sp__client_err(c, e, "parser: %s", sp_strerror(e)));
	sp__client_expect_greeting(c);
	if (c->o.implicit_tls &&
	    (e = sp__client_tls_start(c, sp__client_now() +
	    MS(c->o.timeouts.tls_ms))) != SP_E_OK)
		sp_client_close(c);
	return (e);
}

/* After STARTTLS: a fresh parser, no queue, no capabilities. */
sp_err
sp__client_restart_session(sp_client *c)
{
	sp_err	e;

	c->qlen = 0;
	c->have_caps = 0;
	if ((e = new_parser(c, 1)) != SP_E_OK)
		return (sp__client_err(c, e, "parser: %s", sp_strerror(e)));
	return (SP_E_OK);
}

/* ------------------------------------------------------------ writes */

static sp_err
write_some(sp_client *c, const uint8_t *p, size_t n, size_t *done,
    short *want)
{
	ssize_t	k;

	if (c->ssl != NULL)
		return (sp__client_tls_write(c, p, n, done, want));
	*want = POLLOUT;
	k = send(c->fd, p, n, MSG_NOSIGNAL);
	if (k >= 0) {
		*done = (size_t)k;
		return (SP_E_OK);
	}
	*done = 0;
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		return (SP_E_AGAIN);
	if (errno == ECONNRESET || errno == EPIPE) {
		c->eof = EOF_RST;
		return (sp__client_err(c, SP_E_RESET, "write to %s: connection "
		    "reset by the server", c->peer));
	}
	return (sp__client_err(c, SP_E_IO, "write to %s: %s", c->peer,
	    strerror(errno)));
}

static sp_err
write_all(sp_client *c, const uint8_t *p, size_t n)
{
	uint64_t	deadline = sp__client_now() +
			    MS(c->o.timeouts.data_block_ms);
	size_t		off = 0, k;
	short		want;
	sp_err		e;

	while (off < n) {
		e = write_some(c, p + off, n - off, &k, &want);
		off += k;
		if (e == SP_E_OK)
			continue;
		if (e != SP_E_AGAIN)
			return (e);
		e = sp__client_poll(c, want, deadline, "sending");
		if (e == SP_E_TIMEOUT)
			return (sp__client_err(c, e, "timed out after %.1f s "
			    "sending to %s", c->o.timeouts.data_block_ms /
			    1000.0, c->peer));
		if (e != SP_E_OK)
			return (e);
	}
	return (SP_E_OK);
}

static sp_err
check_writable(sp_client *c)
{
	if (!c->connected || c->fd < 0)
		return (sp__client_err(c, SP_E_STATE, "not connected"));
	if (c->broken)
		return (sp__client_err(c, SP_E_STATE, "the connection is "
		    "unusable after an earlier error"));
	return (SP_E_OK);
}

sp_err
sp_client_send_raw(sp_client *c, const void *p, size_t n)
{
	sp_err	e;

	if (c == NULL || (p == NULL && n > 0))
		return (SP_E_INVAL);
	if ((e = check_writable(c)) != SP_E_OK)
		return (e);
	if ((e = write_all(c, p, n)) != SP_E_OK)
		return (e);
	c->last_write = sp__client_now();
	if (c->o.on_wire != NULL)
		c->o.on_wire(c->o.ud, SP_DIR_CLIENT, p, n);
	return (sp__client_feed(c, SP_DIR_CLIENT, p, n));
}

sp_err
sp_client_send_line(sp_client *c, const char *line, size_t len)
{
	const char	*v[1] = { line };

	return (sp_client_send_pipeline(c, v, &len, 1));
}

sp_err
sp_client_send_pipeline(sp_client *c, const char *const *lines,
    const size_t *lens, size_t n)
{
	struct sp_buf	b;
	sp_err		e = SP_E_OK;

	if (c == NULL || (n > 0 && (lines == NULL || lens == NULL)))
		return (SP_E_INVAL);
	sp__buf_init(&b, SP_CLIENT_MAX_GROUP, c->lim.alloc);
	for (size_t i = 0; i < n && e == SP_E_OK; i++) {
		e = sp__buf_append(&b, lines[i], lens[i]);
		if (e == SP_E_OK)
			e = sp__buf_append(&b, "\r\n", 2);
	}
	if (e == SP_E_LIMIT)
		e = sp__client_err(c, e, "pipelined group over %d bytes",
		    SP_CLIENT_MAX_GROUP);
	if (e == SP_E_OK)
		e = sp_client_send_raw(c, b.p, b.len);
	sp__buf_free(&b);
	return (e);
}

/*
 * The message is encoded and written in blocks, so memory stays at
 * 64 KiB whatever its size; writes are not required to be one for
 * DATA content, only for pipelined command groups.
 */
sp_err
sp_client_send_message(sp_client *c, const uint8_t *msg, size_t n, int crlf)
{
	enum { BLOCK = 32 * 1024 };
	struct sp_data_enc	 enc;
	uint8_t			*out;
	size_t			 off = 0, k, take;
	sp_err			 e = SP_E_OK;

	if (c == NULL || (msg == NULL && n > 0))
		return (SP_E_INVAL);
	if ((out = sp__malloc(c->lim.alloc, 2 * BLOCK + 8)) == NULL)
		return (SP_E_NOMEM);
	sp_data_enc_init(&enc, crlf);
	do {
		take = SP_MIN(n - off, (size_t)BLOCK);
		k = sp_data_enc_update(&enc, msg + off, take, out);
		off += take;
		if (off == n)
			k += sp_data_enc_final(&enc, out + k);
		e = sp_client_send_raw(c, out, k);
	} while (e == SP_E_OK && off < n);
	sp__free(c->lim.alloc, out);
	return (e);
}

sp_err
sp_client_send_bdat(sp_client *c, const uint8_t *chunk, size_t n, int last)
{
	char	hdr[48];
	uint8_t	*out;
	size_t	h;
	sp_err	e;

	if (c == NULL || (chunk == NULL && n > 0))
		return (SP_E_INVAL);
	h = sp_bdat_header(hdr, sizeof(hdr), n, last);
	if (n > SIZE_MAX - h)
		return (SP_E_LIMIT);
	if ((out = sp__malloc(c->lim.alloc, h + n + 1)) == NULL)
		return (SP_E_NOMEM);
	memcpy(out, hdr, h);
	if (n > 0)
		memcpy(out + h, chunk, n);
	e = sp_client_send_raw(c, out, h + n);
	sp__free(c->lim.alloc, out);
	return (e);
}
