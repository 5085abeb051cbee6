/*
 * loadev.c - the event-driven engine of load mode, for the built-in
 * session (banner, EHLO, MAIL, RCPT..., DATA, message, end of data,
 * QUIT; -k transactions per connection; RFC 2920 groups when the
 * server offers PIPELINING, unless --no-pipelining).
 *
 * Why: the threaded engine (load.c) runs one blocking client per
 * thread, so every reply wakes a thread, and on a small machine the
 * context switches, not SMTP, set the pace.  Here one thread drives
 * every connection of the run, non-blocking, through epoll(7): it
 * reads whatever a socket holds, hands it to the library's I/O-free
 * SMTP parser (which frames complete replies, RFC 5321 4.2.1, and
 * reads the EHLO capabilities), and answers with one write per step.
 * STARTTLS, scripts and recorded sessions stay with the threaded
 * engine.
 *
 * Bounds: --concurrency connections, each wait (connect, every reply)
 * at most --timeout, no new session after --duration, and the run's
 * cancel pipe (SIGINT, SIGTERM, the deadline) ends every session in
 * flight.  Only the --target address is ever connected to.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <smtpproto/smtp.h>

#include "load.h"

#define EV_BATCH	256		/* events per epoll_wait */
#define EV_RBUF		65536		/* one read */
#define EV_SCAN_NS	50000000u	/* timeouts looked at every 50 ms */

struct ev_loop;

/* A reply awaited: its phase and when its command went out. */
struct ev_pend {
	enum ls_phase	 phase;
	uint64_t	 ts;
};

struct ev_conn {
	struct ev_loop	*L;
	int		 fd;
	int		 busy;		/* a session runs in the slot */
	sp_smtp_parser	*p;
	const struct addrinfo *ai;	/* the address being tried */
	struct ev_pend	*q;		/* awaited replies, a ring */
	unsigned	 qhead, qlen, qcap;
	struct iovec	 out[2];	/* what a short write left */
	int		 nout;
	int		 connecting, pipe, caps_pipe, failed, done;
	enum ls_phase	 act;		/* the reply that wants a step */
	unsigned	 rcpts_sent, bodies_sent, msgs_ok;
	uint64_t	 t0, deadline;
};

struct ev_loop {
	struct load_run	*run;
	const struct load_cfg *cfg;
	struct ls_stats	*st;
	struct addrinfo	*addrs;
	int		 ep;
	struct ev_conn	*conns;
	unsigned	 nconns, active;
	int		 exhausted;	/* no session left to start */
	uint64_t	 now, wake_at, tmo, last_scan;
	uint64_t	 spin_ns;	/* 0: never poll before sleeping */
	unsigned	 spin_misses, spin_skip;
	uint8_t		*rbuf;
	/* The commands, built once: they never change in a run. */
	char		*ehlo, *mail, *rcpt, *group;
	size_t		 ehlolen, maillen, rcptlen, grouplen;
};

static const char data_cmd[] = "DATA\r\n";
static const char quit_cmd[] = "QUIT\r\n";

/* ------------------------------------------------------ the queue */

static void
push(struct ev_conn *c, enum ls_phase p)
{
	if (c->qlen == c->qcap)
		return;		/* sized for the largest group: cannot */
	c->q[(c->qhead + c->qlen) % c->qcap].phase = p;
	c->q[(c->qhead + c->qlen) % c->qcap].ts = c->L->now;
	c->qlen++;
}

static int
pop(struct ev_conn *c, struct ev_pend *out)
{
	if (c->qlen == 0)
		return (-1);
	*out = c->q[c->qhead];
	c->qhead = (c->qhead + 1) % c->qcap;
	c->qlen--;
	return (0);
}

/* --------------------------------------------------- session's end */

/* The first failure of a session is its error class; once. */
static void
fail(struct ev_conn *c, enum ls_err cls)
{
	if (c->failed || c->done)
		return;
	c->failed = 1;
	c->L->st->errors[cls]++;
}

/*
 * Once QUIT is answered nothing is left to say (RFC 5321 4.1.1.10),
 * so the close is abortive, as smtp-source's: no FIN exchange, and no
 * TIME_WAIT left on our side for each session (a long run at a few
 * hundred sessions/s would otherwise run out of ephemeral ports).
 */
static void
close_abortive(int fd)
{
	struct linger	l = { 1, 0 };

	(void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
}

/* Close the connection, count the session, free the slot. */
static void
finish(struct ev_conn *c)
{
	struct ev_loop	*L = c->L;
	struct load_run	*run = L->run;

	if (c->done && !c->failed) {
		close_abortive(c->fd);
		L->st->sessions_ok++;
		ls_hist_add(&L->st->h[LS_SESSION], L->now - c->t0);
		atomic_fetch_add_explicit(&run->ok, 1, memory_order_relaxed);
	} else
		atomic_fetch_add_explicit(&run->errs, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&run->done, 1, memory_order_relaxed);
	if (c->fd >= 0)
		(void)close(c->fd);	/* also leaves the epoll set */
	c->fd = -1;
	c->busy = 0;
	L->active--;
}

/* ----------------------------------------------------------- writes */

/*
 * Write what is left in c->out.  A short write waits for the socket's
 * next EPOLLOUT edge (add_fd: edge-triggered), which comes when the
 * peer has read enough.
 */
static int
flush(struct ev_conn *c)
{
	struct msghdr	m;
	ssize_t		n;

	while (c->nout > 0) {
		/* sendmsg, not writev: a reset peer must not raise SIGPIPE. */
		memset(&m, 0, sizeof(m));
		m.msg_iov = c->out;
		m.msg_iovlen = (size_t)c->nout;
		n = sendmsg(c->fd, &m, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return (0);
		if (n < 0) {
			fail(c, errno == ECONNRESET || errno == EPIPE ?
			    LS_ERR_RESET : LS_ERR_OTHER);
			return (-1);
		}
		c->deadline = c->L->now + c->L->tmo;	/* each write bounded */
		while (c->nout > 0 && (size_t)n >= c->out[0].iov_len) {
			n -= (ssize_t)c->out[0].iov_len;
			c->out[0] = c->out[1];
			c->nout--;
		}
		if (c->nout > 0) {
			c->out[0].iov_base = (char *)c->out[0].iov_base + n;
			c->out[0].iov_len -= (size_t)n;
		}
	}
	return (0);
}

/*
 * Send a and b (b may be empty) in one write.  The parser sees them
 * first, as the client's side of the session: it then knows which
 * command each reply answers, and reads EHLO's capabilities.  The
 * bytes are the loop's or the run's and outlive the connection, so a
 * short write keeps pointers, not copies.
 */
static int
send2(struct ev_conn *c, const void *a, size_t alen, const void *b,
    size_t blen)
{
	size_t	used;

	if (sp_smtp_parser_feed(c->p, SP_DIR_CLIENT, c->L->now, a, alen,
	    &used) != SP_E_OK || (blen > 0 && sp_smtp_parser_feed(c->p,
	    SP_DIR_CLIENT, c->L->now, b, blen, &used) != SP_E_OK)) {
		fail(c, LS_ERR_OTHER);
		return (-1);
	}
	c->out[0].iov_base = (void *)(uintptr_t)a;
	c->out[0].iov_len = alen;
	c->out[1].iov_base = (void *)(uintptr_t)b;
	c->out[1].iov_len = blen;
	c->nout = blen > 0 ? 2 : 1;
	c->deadline = c->L->now + c->L->tmo;
	return (flush(c));
}

/* -------------------------------------------------- session's steps */

static void
push_group(struct ev_conn *c)
{
	push(c, LS_MAIL);
	for (unsigned i = 0; i < c->L->cfg->rcpts; i++)
		push(c, LS_RCPT);
	push(c, LS_DATA);
}

/*
 * A transaction's envelope: RFC 2920 3.1 lets MAIL, every RCPT and
 * DATA go in one group when the server offered PIPELINING (their
 * replies come back in order); else MAIL alone, lock-step.
 */
static int
send_envelope(struct ev_conn *c)
{
	struct ev_loop *L = c->L;

	if (c->pipe) {
		push_group(c);
		return (send2(c, L->group, L->grouplen, NULL, 0));
	}
	push(c, LS_MAIL);
	c->rcpts_sent = 0;
	return (send2(c, L->mail, L->maillen, NULL, 0));
}

/*
 * After the 354: the message, dot-stuffed once for the run, ending in
 * CRLF.CRLF.  Pipelined, RFC 2920 3.1 lets the end of data start
 * nothing and close a group, but what follows may share its segment:
 * the next envelope, or QUIT after the last message, goes in the same
 * write, so the server can answer both in one write, and a message
 * costs one round trip for its envelope and one for its data.
 */
static int
send_body(struct ev_conn *c)
{
	struct load_run	*run = c->L->run;
	int		 last = ++c->bodies_sent >= c->L->cfg->per_session;

	push(c, LS_DOT);
	if (!c->pipe)
		return (send2(c, run->wire, run->wirelen, NULL, 0));
	if (last) {
		push(c, LS_QUIT);
		return (send2(c, run->wire, run->wirelen, quit_cmd, 6));
	}
	push_group(c);
	return (send2(c, run->wire, run->wirelen, c->L->group,
	    c->L->grouplen));
}

static int
send_quit(struct ev_conn *c)
{
	push(c, LS_QUIT);
	return (send2(c, quit_cmd, 6, NULL, 0));
}

/* Lock-step: the next RCPT, or DATA once every RCPT is accepted. */
static int
send_next_rcpt(struct ev_conn *c)
{
	if (c->rcpts_sent < c->L->cfg->rcpts) {
		c->rcpts_sent++;
		push(c, LS_RCPT);
		return (send2(c, c->L->rcpt, c->L->rcptlen, NULL, 0));
	}
	push(c, LS_DATA);
	return (send2(c, data_cmd, 6, NULL, 0));
}

/* What the reply that set c->act calls for. */
static int
step(struct ev_conn *c)
{
	struct ev_loop	*L = c->L;
	enum ls_phase	 p = c->act;

	c->act = LS_NPHASES;
	switch (p) {
	case LS_BANNER:
		push(c, LS_EHLO);
		return (send2(c, L->ehlo, L->ehlolen, NULL, 0));
	case LS_EHLO:
		/* Capabilities came with the reply (on_caps). */
		c->pipe = L->cfg->pipelining && c->caps_pipe;
		return (send_envelope(c));
	case LS_MAIL:
	case LS_RCPT:
		return (send_next_rcpt(c));
	case LS_DATA:
		return (send_body(c));
	case LS_DOT:
		return (c->msgs_ok < L->cfg->per_session ? send_envelope(c) :
		    send_quit(c));
	default:
		return (0);
	}
}

/* ---------------------------------------------------- the replies */

static void
message_accepted(struct ev_conn *c)
{
	struct load_run *run = c->L->run;

	c->msgs_ok++;
	c->L->st->messages++;
	c->L->st->bytes += run->msglen;
	atomic_fetch_add_explicit(&run->msgs, 1, memory_order_relaxed);
}

/* Does reply to phase p call for a step of ours? */
static int
wants_step(const struct ev_conn *c, enum ls_phase p)
{
	switch (p) {
	case LS_MAIL:
	case LS_RCPT:
	case LS_DOT:
		return (!c->pipe);	/* pipelined, the group is sent */
	case LS_BANNER:
	case LS_EHLO:
	case LS_DATA:
		return (1);
	default:
		return (0);
	}
}

/*
 * A complete reply: time it against its command, check its class,
 * then pause the parser if it calls for a step (the step writes, and
 * writing feeds the parser, which cannot happen inside its callback).
 */
static int
on_reply(void *ud, const struct sp_smtp_reply *r)
{
	struct ev_conn	*c = ud;
	struct ev_pend	 f;

	if (c->failed || c->done)
		return (SP_E_PAUSED);
	if (pop(c, &f) != 0) {
		fail(c, LS_ERR_PROTOCOL);	/* a reply to nothing */
		return (SP_E_PAUSED);
	}
	ls_hist_add(&c->L->st->h[f.phase], c->L->now > f.ts ?
	    c->L->now - f.ts : 0);
	if (r->code / 100 != (f.phase == LS_DATA ? 3 : 2)) {
		fail(c, ls_classify(SP_E_OK, NULL, r->code));
		return (SP_E_PAUSED);
	}
	c->deadline = c->L->now + c->L->tmo;
	if (f.phase == LS_DOT)
		message_accepted(c);
	if (f.phase == LS_QUIT) {
		c->done = 1;
		return (SP_E_PAUSED);
	}
	if (!wants_step(c, f.phase))
		return (0);
	c->act = f.phase;
	return (SP_E_PAUSED);
}

static int
on_caps(void *ud, const struct sp_smtp_capabilities *k)
{
	struct ev_conn	*c = ud;

	c->caps_pipe = k->pipelining;
	return (0);
}

/* Feed what was read, a reply at a time, taking each step it asks. */
static void
feed(struct ev_conn *c, const uint8_t *b, size_t n)
{
	size_t	used;
	sp_err	e;

	while (n > 0 && !c->failed && !c->done) {
		e = sp_smtp_parser_feed(c->p, SP_DIR_SERVER, c->L->now, b, n,
		    &used);
		if (e != SP_E_OK && e != SP_E_PAUSED) {
			fail(c, ls_classify(e, NULL, 0));
			return;
		}
		b += used;
		n -= used;
		if (c->act != LS_NPHASES && step(c) != 0)
			return;
	}
}

/* ---------------------------------------------------------- connect */

/*
 * Edge-triggered, for both directions, once per connection: no
 * epoll_ctl as the session moves from connecting to reading to
 * writing.  The price is reading until a short read (on_readable) and
 * keeping what a short write left until the next EPOLLOUT edge.
 */
static int
add_fd(struct ev_conn *c)
{
	struct epoll_event e;

	memset(&e, 0, sizeof(e));
	e.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
	e.data.ptr = c;
	return (epoll_ctl(c->L->ep, EPOLL_CTL_ADD, c->fd, &e));
}

/* A non-blocking connect to c->ai; 0 if under way or done. */
static int
try_addr(struct ev_conn *c)
{
	const struct addrinfo *ai = c->ai;
	int	one = 1, err;

	c->fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, ai->ai_protocol);
	if (c->fd < 0)
		return (-1);
	/* Commands are small and latency is measured: no Nagle delay. */
	(void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if ((connect(c->fd, ai->ai_addr, ai->ai_addrlen) == 0 ||
	    errno == EINPROGRESS) && add_fd(c) == 0) {
		c->connecting = 1;
		c->deadline = c->L->now + c->L->tmo;
		return (0);
	}
	err = errno;
	(void)close(c->fd);
	c->fd = -1;
	errno = err;
	return (-1);
}

/*
 * The connect ended (err from SO_ERROR, or the socket call): on to
 * the next address of the target if there is one, else the error is
 * the session's.  Connected, the greeting is awaited.
 */
static void
connected(struct ev_conn *c, int err)
{
	if (err != 0) {
		while (c->ai->ai_next != NULL) {
			if (c->fd >= 0)
				(void)close(c->fd);
			c->fd = -1;
			c->ai = c->ai->ai_next;
			if (try_addr(c) == 0)
				return;
			err = errno;
		}
		fail(c, err == ECONNREFUSED ? LS_ERR_REFUSED :
		    LS_ERR_CONNECT);
		return;
	}
	c->connecting = 0;
	ls_hist_add(&c->L->st->h[LS_CONNECT], c->L->now - c->t0);
	push(c, LS_BANNER);
	c->deadline = c->L->now + c->L->tmo;
}

/* Session ticket i in slot c. */
static void
start(struct ev_conn *c)
{
	struct ev_loop *L = c->L;

	c->busy = 1;
	c->failed = c->done = c->pipe = c->caps_pipe = 0;
	c->qhead = c->qlen = 0;
	c->nout = 0;
	c->act = LS_NPHASES;
	c->rcpts_sent = c->bodies_sent = c->msgs_ok = 0;
	c->t0 = L->now;
	c->ai = L->addrs;
	sp_smtp_parser_reset(c->p, c);
	L->active++;
	L->st->sessions++;
	if (try_addr(c) != 0)
		connected(c, errno);
	if (c->failed)
		finish(c);
}

/*
 * The connect's outcome: writable without an error is connected (no
 * getsockopt then); an error event carries it in SO_ERROR.
 */
static void
on_connect(struct ev_conn *c, uint32_t ev)
{
	int		err = 0;
	socklen_t	sl = sizeof(err);

	if ((ev & (EPOLLERR | EPOLLHUP)) == 0) {
		connected(c, 0);
		return;
	}
	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &sl) != 0)
		err = errno;
	connected(c, err != 0 ? err : ECONNREFUSED);
}

/*
 * Read until a short read: with edge-triggered events no new event
 * comes for bytes already there.  A short read is the end only while
 * the peer's side is open: when the event says it closed (the last
 * reply and the FIN can come in one edge), reading goes on to the EOF,
 * which no later event would announce.  EOF or a reset before QUIT's
 * reply fails the session.
 */
static void
on_readable(struct ev_conn *c, uint32_t ev)
{
	int	closing = (ev & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0;
	ssize_t	n = EV_RBUF;

	while ((n == EV_RBUF || (n > 0 && closing)) && !c->failed &&
	    !c->done) {
		n = read(c->fd, c->L->rbuf, EV_RBUF);
		if (n < 0 && errno == EINTR)
			n = EV_RBUF;
		else if (n < 0 && errno != EAGAIN)
			fail(c, errno == ECONNRESET ? LS_ERR_RESET :
			    LS_ERR_OTHER);
		else if (n == 0)
			fail(c, LS_ERR_CLOSED);
		else if (n > 0)
			feed(c, c->L->rbuf, (size_t)n);
	}
}

static void
on_event(struct ev_conn *c, uint32_t ev)
{
	if (c->connecting) {
		on_connect(c, ev);
		/* The banner may have come with the connect's edge. */
		if (c->connecting || c->failed || !(ev & EPOLLIN))
			goto out;
	}
	if ((ev & EPOLLOUT) && c->nout > 0)
		(void)flush(c);
	if (!c->failed && (ev & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP)))
		on_readable(c, ev);
out:
	if (c->failed || c->done)
		finish(c);
}

/* Every connection whose wait is over: a timeout (RFC 5321 4.5.3.2). */
static void
scan_timeouts(struct ev_loop *L)
{
	if (L->now - L->last_scan < EV_SCAN_NS)
		return;
	L->last_scan = L->now;
	for (unsigned i = 0; i < L->nconns; i++) {
		struct ev_conn *c = &L->conns[i];

		if (!c->busy || L->now < c->deadline)
			continue;
		fail(c, LS_ERR_TIMEOUT);
		finish(c);
	}
}

/* The run was stopped: every session in flight is cancelled. */
static void
cancel_all(struct ev_loop *L)
{
	for (unsigned i = 0; i < L->nconns; i++) {
		if (!L->conns[i].busy)
			continue;
		fail(&L->conns[i], LS_ERR_CANCELLED);
		finish(&L->conns[i]);
	}
	L->exhausted = 1;
}

/*
 * Start sessions in free slots while tickets are left and due
 * (load_start_time: --rate); a ticket not yet due sets wake_at.
 */
static void
fill(struct ev_loop *L)
{
	struct load_run	*run = L->run;
	unsigned	 slot = 0;
	uint64_t	 i, at;

	L->wake_at = 0;
	while (!L->exhausted && L->active < L->nconns) {
		i = atomic_load(&run->next);
		at = load_start_time(run, i);
		if (i >= L->cfg->sessions || atomic_load(&run->stop) ||
		    at >= run->deadline || L->now >= run->deadline) {
			L->exhausted = 1;
			break;
		}
		if (at > L->now) {
			L->wake_at = at;
			break;
		}
		atomic_store(&run->next, i + 1);
		while (L->conns[slot].busy)
			slot++;
		start(&L->conns[slot]);
	}
}

/* How long epoll_wait may sleep (ms): until a start, a scan. */
static int
sleep_ms(const struct ev_loop *L)
{
	uint64_t ns = EV_SCAN_NS;

	if (L->wake_at > L->now && L->wake_at - L->now < ns)
		ns = L->wake_at - L->now;
	return ((int)((ns + 999999) / 1000000));
}

/*
 * Wait for events, first polling for up to --spin microseconds.  On
 * loopback, and more so in a virtual machine, much of a round trip can
 * be waking this thread on another core rather than the server's
 * work; polling through the server's short turns takes that out, so
 * the client goes at the server's pace and the latencies it reports
 * are the server's, not its own wakeups.  A poll that ends with
 * nothing is time taken from the server on a busy machine, and a
 * server far away (a millisecond round trip) makes every poll such a
 * miss: after eight misses in a row the next 2, 4, ... up to 1024
 * waits sleep at once.  One hit starts polling every time again.
 */
static int
wait_events(struct ev_loop *L, struct epoll_event *ev)
{
	uint64_t	until;
	int		n;

	if (L->spin_ns == 0 || L->spin_skip > 0) {
		if (L->spin_skip > 0)
			L->spin_skip--;
		return (epoll_wait(L->ep, ev, EV_BATCH, sleep_ms(L)));
	}
	until = ls_now() + L->spin_ns;
	if (L->wake_at > L->now && L->wake_at < until)
		until = L->wake_at;	/* a paced start is due */
	while ((n = epoll_wait(L->ep, ev, EV_BATCH, 0)) == 0 &&
	    ls_now() < until)
		continue;
	if (n != 0) {
		L->spin_misses = 0;
		return (n);
	}
	if (L->spin_misses < 17)
		L->spin_misses++;
	if (L->spin_misses > 7)
		L->spin_skip = 1u << (L->spin_misses - 7);
	return (epoll_wait(L->ep, ev, EV_BATCH, sleep_ms(L)));
}

static void
loop(struct ev_loop *L)
{
	struct epoll_event ev[EV_BATCH];
	int	n;

	for (;;) {
		L->now = ls_now();
		if (atomic_load(&L->run->stop))
			cancel_all(L);
		fill(L);
		if (L->exhausted && L->active == 0)
			break;
		n = wait_events(L, ev);
		L->now = ls_now();
		for (int k = 0; k < n; k++) {
			if (ev[k].data.ptr == NULL)
				cancel_all(L);	/* the cancel pipe */
			else if (((struct ev_conn *)ev[k].data.ptr)->busy)
				on_event(ev[k].data.ptr, ev[k].events);
		}
		scan_timeouts(L);
	}
}

/* ------------------------------------------------------------ setup */

/* "pre arg post\r\n" in a new string; NULL if out of memory. */
static char *
line(const char *pre, const char *arg, const char *post, size_t *len)
{
	size_t	n = strlen(pre) + strlen(arg) + strlen(post) + 3;
	char	*s = malloc(n);
	int	 k;

	if (s == NULL)
		return (NULL);
	k = snprintf(s, n, "%s%s%s\r\n", pre, arg, post);
	*len = (size_t)k;
	return (s);
}

/* The commands, and the RFC 2920 envelope group MAIL RCPT... DATA. */
static int
build_commands(struct ev_loop *L)
{
	const struct load_cfg *cfg = L->cfg;
	size_t	n;

	L->ehlo = line("EHLO ", cfg->helo, "", &L->ehlolen);
	L->mail = line("MAIL FROM:<", cfg->from, ">", &L->maillen);
	L->rcpt = line("RCPT TO:<", cfg->rcpt, ">", &L->rcptlen);
	if (L->ehlo == NULL || L->mail == NULL || L->rcpt == NULL)
		return (-1);
	/* Bounded: rcpts <= MAX_RCPTS, addresses <= MAX_ADDR; +1: NUL. */
	n = L->maillen + cfg->rcpts * L->rcptlen + 6 + 1;
	if ((L->group = malloc(n)) == NULL)
		return (-1);
	L->grouplen = load_envelope(cfg, L->group, n);
	return (0);
}

/* The target's addresses: those the client library would try. */
static int
resolve(struct ev_loop *L)
{
	char	msg[512];

	if (sp_client_resolve(L->cfg->family, L->cfg->host, L->cfg->port,
	    &L->addrs, msg, sizeof(msg)) == SP_E_OK)
		return (0);
	fprintf(stderr, "smtp-replay: %s\n", msg);
	return (-1);
}

static int
new_conns(struct ev_loop *L)
{
	struct sp_smtp_callbacks cb;

	memset(&cb, 0, sizeof(cb));
	cb.on_reply = on_reply;
	cb.on_capabilities = on_caps;
	L->nconns = L->cfg->concurrency;
	if ((L->conns = calloc(L->nconns, sizeof(*L->conns))) == NULL)
		return (-1);
	for (unsigned i = 0; i < L->nconns; i++) {
		struct ev_conn *c = &L->conns[i];

		c->L = L;
		c->fd = -1;
		/* The largest group: DOT, MAIL, the RCPTs, DATA; QUIT. */
		c->qcap = L->cfg->rcpts + 4;
		if ((c->q = calloc(c->qcap, sizeof(*c->q))) == NULL ||
		    sp_smtp_parser_new(&c->p, NULL, &cb, c) != SP_E_OK)
			return (-1);
	}
	return (0);
}

static void
loop_free(struct ev_loop *L)
{
	for (unsigned i = 0; L->conns != NULL && i < L->nconns; i++) {
		free(L->conns[i].q);
		sp_smtp_parser_free(L->conns[i].p);
	}
	free(L->conns);
	if (L->addrs != NULL)
		freeaddrinfo(L->addrs);
	if (L->ep >= 0)
		(void)close(L->ep);
	free(L->rbuf);
	free(L->ehlo);
	free(L->mail);
	free(L->rcpt);
	free(L->group);
}

static int
loop_init(struct ev_loop *L, struct load_run *run, struct ls_stats *st)
{
	struct epoll_event e;

	memset(L, 0, sizeof(*L));
	L->run = run;
	L->cfg = run->cfg;
	L->st = st;
	L->tmo = (uint64_t)(run->cfg->timeout * 1e9);
	/* On one core the server could not run while this one polls. */
	if (sysconf(_SC_NPROCESSORS_ONLN) > 1)
		L->spin_ns = (uint64_t)run->cfg->spin_us * 1000;
	L->ep = epoll_create1(EPOLL_CLOEXEC);
	L->rbuf = malloc(EV_RBUF);
	if (L->ep < 0 || L->rbuf == NULL || build_commands(L) != 0 ||
	    new_conns(L) != 0)
		return (-1);
	memset(&e, 0, sizeof(e));
	e.events = EPOLLIN;
	e.data.ptr = NULL;	/* the cancel pipe: readable = stop */
	return (epoll_ctl(L->ep, EPOLL_CTL_ADD, run->cancel[0], &e));
}

int
loadev_applies(const struct load_cfg *cfg)
{
	return (cfg->script_path == NULL && cfg->ninputs == 0 &&
	    !cfg->starttls && cfg->engine != LOAD_ENGINE_THREADS);
}

void *
loadev_main(void *arg)
{
	struct worker	*w = arg;
	struct ev_loop	 L;

	if (loop_init(&L, w->run, w->st) != 0) {
		fprintf(stderr, "smtp-replay: event engine: %s\n",
		    strerror(errno));
		w->st->errors[LS_ERR_OTHER]++;
	} else if (resolve(&L) != 0)
		w->st->errors[LS_ERR_CONNECT]++;
	else
		loop(&L);
	loop_free(&L);
	load_worker_done(w->run);
	return (NULL);
}
