/*
 * client_tls.c - OpenSSL 3 for the client engine: STARTTLS (RFC 3207)
 * and implicit TLS (RFC 8314 3.3) over the non-blocking socket.
 *
 * Certificates are verified by default, against the system CAs or a
 * CA file, and the name checked is the host the caller connected to
 * (RFC 6125 through SSL_set1_host, or the IP for a literal).  The
 * SSL_CTX belongs to the handle: no global state.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "client_int.h"

#define MS(x)	((uint64_t)(x) * 1000000u)

static int
is_ip_literal(const char *h)
{
	unsigned char	buf[sizeof(struct in6_addr)];

	return (inet_pton(AF_INET, h, buf) == 1 ||
	    inet_pton(AF_INET6, h, buf) == 1);
}

/* The reason of the first queued OpenSSL error, or fallback. */
static const char *
ssl_reason(const char *fallback)
{
	unsigned long	 e = ERR_peek_last_error();
	const char	*r = e != 0 ? ERR_reason_error_string(e) : NULL;

	return (r != NULL ? r : fallback);
}

/*
 * The system trust store, parsed once per process and shared by every
 * context.  Loading Debian's CA bundle (~140 certificates) took about
 * 40 ms, paid on each STARTTLS: the fuzzer and load runs do thousands.
 * An X509_STORE may be shared between contexts and threads once built
 * (OpenSSL locks its lazy directory cache); it lives as long as the
 * process, like OpenSSL's own global tables.
 */
static pthread_once_t	 system_once = PTHREAD_ONCE_INIT;
static X509_STORE	*system_store;

static void
load_system_store(void)
{
	X509_STORE	*st = X509_STORE_new();

	if (st != NULL && X509_STORE_set_default_paths(st) != 1) {
		X509_STORE_free(st);
		st = NULL;
	}
	system_store = st;
}

static int
use_system_store(SSL_CTX *ctx)
{
	(void)pthread_once(&system_once, load_system_store);
	if (system_store == NULL)
		return (0);
	SSL_CTX_set1_cert_store(ctx, system_store);
	return (1);
}

static sp_err
make_ctx(sp_client *c, SSL_CTX **out)
{
	SSL_CTX	*ctx = SSL_CTX_new(TLS_client_method());

	*out = ctx;
	if (ctx == NULL)
		return (sp__client_err(c, SP_E_TLS, "TLS: %s",
		    ssl_reason("cannot create a context")));
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_verify(ctx, c->o.no_verify ? SSL_VERIFY_NONE :
	    SSL_VERIFY_PEER, NULL);
	if (c->o.ca_file != NULL) {
		if (SSL_CTX_load_verify_locations(ctx, c->o.ca_file, NULL) != 1)
			return (sp__client_err(c, SP_E_TLS, "TLS: cannot load "
			    "CA file %s: %s", c->o.ca_file,
			    ssl_reason("unreadable")));
	} else if (!use_system_store(ctx)) {
		return (sp__client_err(c, SP_E_TLS, "TLS: no system CAs: %s",
		    ssl_reason("?")));
	}
	return (SP_E_OK);
}

static sp_err
make_ssl(sp_client *c)
{
	const char	*sni = c->o.sni != NULL ? c->o.sni : c->host;
	SSL		*ssl = SSL_new(c->ssl_ctx);
	X509_VERIFY_PARAM *vp;

	if ((c->ssl = ssl) == NULL || SSL_set_fd(ssl, c->fd) != 1)
		return (sp__client_err(c, SP_E_TLS, "TLS: %s",
		    ssl_reason("cannot create a session")));
	/* RFC 6066 3: SNI carries a host name, never an address. */
	if (!is_ip_literal(sni))
		(void)SSL_set_tlsext_host_name(ssl, sni);
	vp = SSL_get0_param(ssl);
	if (is_ip_literal(c->host))
		(void)X509_VERIFY_PARAM_set1_ip_asc(vp, c->host);
	else
		(void)SSL_set1_host(ssl, sni);
	return (SP_E_OK);
}

static void
fill_name(X509_NAME *n, char *buf, size_t cap)
{
	BIO	*b = BIO_new(BIO_s_mem());
	int	 k;

	buf[0] = '\0';
	if (b == NULL)
		return;
	if (X509_NAME_print_ex(b, n, 0, XN_FLAG_RFC2253) >= 0 &&
	    (k = BIO_read(b, buf, (int)cap - 1)) > 0)
		buf[k] = '\0';
	BIO_free(b);
}

static void
append(char *buf, size_t cap, const char *pfx, const char *s, int n)
{
	size_t	l = strlen(buf);

	(void)snprintf(buf + l, cap - l, "%s%s%.*s", l > 0 ? ", " : "", pfx,
	    n, s);
}

static void
fill_sans(X509 *x, char *buf, size_t cap)
{
	GENERAL_NAMES	*gs = X509_get_ext_d2i(x, NID_subject_alt_name,
			    NULL, NULL);
	char		 ip[INET6_ADDRSTRLEN];

	buf[0] = '\0';
	for (int i = 0; gs != NULL && i < sk_GENERAL_NAME_num(gs); i++) {
		GENERAL_NAME		*g = sk_GENERAL_NAME_value(gs, i);
		const unsigned char	*d;
		int			 len;

		if (g->type == GEN_DNS) {
			d = ASN1_STRING_get0_data(g->d.dNSName);
			len = ASN1_STRING_length(g->d.dNSName);
			append(buf, cap, "DNS:", (const char *)d, len);
		} else if (g->type == GEN_IPADD) {
			d = ASN1_STRING_get0_data(g->d.iPAddress);
			len = ASN1_STRING_length(g->d.iPAddress);
			if (inet_ntop(len == 16 ? AF_INET6 : AF_INET, d, ip,
			    sizeof(ip)) != NULL)
				append(buf, cap, "IP:", ip, (int)strlen(ip));
		}
	}
	GENERAL_NAMES_free(gs);
}

static void
fill_info(sp_client *c)
{
	struct sp_client_tls_info	*t = &c->tls;
	X509				*x = SSL_get1_peer_certificate(c->ssl);
	struct tm			 tm;
	long				 vr = SSL_get_verify_result(c->ssl);

	memset(t, 0, sizeof(*t));
	(void)snprintf(t->protocol, sizeof(t->protocol), "%s",
	    SSL_get_version(c->ssl));
	(void)snprintf(t->cipher, sizeof(t->cipher), "%s",
	    SSL_get_cipher_name(c->ssl));
	t->verified = x != NULL && vr == X509_V_OK && !c->o.no_verify;
	if (vr != X509_V_OK)
		(void)snprintf(t->verify_error, sizeof(t->verify_error), "%s",
		    X509_verify_cert_error_string(vr));
	if (x == NULL)
		return;
	fill_name(X509_get_subject_name(x), t->subject, sizeof(t->subject));
	fill_name(X509_get_issuer_name(x), t->issuer, sizeof(t->issuer));
	fill_sans(x, t->sans, sizeof(t->sans));
	if (ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) == 1)
		t->not_after = (int64_t)timegm(&tm);
	X509_free(x);
}

static sp_err
handshake_error(sp_client *c)
{
	long	vr = SSL_get_verify_result(c->ssl);

	if (vr != X509_V_OK && !c->o.no_verify)
		return (sp__client_err(c, SP_E_TLS, "TLS handshake with %s "
		    "failed: certificate verify failed (%s)", c->peer,
		    X509_verify_cert_error_string(vr)));
	return (sp__client_err(c, SP_E_TLS, "TLS handshake with %s failed: %s",
	    c->peer, ssl_reason("the server closed or reset the connection")));
}

sp_err
sp__client_tls_start(sp_client *c, uint64_t deadline)
{
	SSL_CTX	*ctx;
	int	 rc, se;
	sp_err	 e;

	ERR_clear_error();
	e = make_ctx(c, &ctx);
	c->ssl_ctx = ctx;
	if (e != SP_E_OK || (e = make_ssl(c)) != SP_E_OK)
		return (e);
	while ((rc = SSL_connect(c->ssl)) != 1) {
		se = SSL_get_error(c->ssl, rc);
		if (se != SSL_ERROR_WANT_READ && se != SSL_ERROR_WANT_WRITE)
			return (handshake_error(c));
		e = sp__client_poll(c, se == SSL_ERROR_WANT_READ ? POLLIN :
		    POLLOUT, deadline, "in the TLS handshake");
		if (e == SP_E_TIMEOUT)
			return (sp__client_err(c, e, "timed out after "
			    "%.1f s in the TLS handshake with %s",
			    c->o.timeouts.tls_ms / 1000.0, c->peer));
		if (e != SP_E_OK)
			return (e);
	}
	fill_info(c);
	return (SP_E_OK);
}

/* Map an SSL_read/SSL_write failure; *want is what to poll for. */
static sp_err
io_error(sp_client *c, int rc, short *want, const char *op)
{
	int		se = SSL_get_error(c->ssl, rc);
	unsigned long	er = ERR_peek_error();

	*want = se == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN;
	if (se == SSL_ERROR_WANT_READ || se == SSL_ERROR_WANT_WRITE)
		return (SP_E_AGAIN);
	if (se == SSL_ERROR_ZERO_RETURN) {
		c->eof = EOF_FIN;
		return (sp__client_err(c, SP_E_CLOSED, "connection closed by "
		    "%s (TLS close_notify)", c->peer));
	}
	if (se == SSL_ERROR_SYSCALL && (errno == ECONNRESET ||
	    errno == EPIPE)) {
		c->eof = EOF_RST;
		return (sp__client_err(c, SP_E_RESET, "connection reset by %s",
		    c->peer));
	}
	/* OpenSSL 3 reports a FIN without close_notify as an error. */
	if (ERR_GET_REASON(er) == SSL_R_UNEXPECTED_EOF_WHILE_READING ||
	    (se == SSL_ERROR_SYSCALL && er == 0)) {
		c->eof = EOF_FIN;
		ERR_clear_error();
		return (sp__client_err(c, SP_E_CLOSED, "connection closed by "
		    "%s (no TLS close_notify)", c->peer));
	}
	return (sp__client_err(c, SP_E_TLS, "TLS %s with %s: %s", op, c->peer,
	    ssl_reason("failed")));
}

sp_err
sp__client_tls_read(sp_client *c, uint8_t *p, size_t cap, size_t *n,
    short *want)
{
	int	rc;

	ERR_clear_error();
	rc = SSL_read_ex(c->ssl, p, cap, n);
	if (rc == 1)
		return (SP_E_OK);
	*n = 0;
	return (io_error(c, rc, want, "read"));
}

/*
 * OpenSSL writes with write(2), which raises SIGPIPE on a reset peer
 * and would kill a program that did not ignore it.  The library may
 * not change process-wide signal handling, so SIGPIPE is blocked in
 * this thread around the write and a pending one is consumed (the way
 * libpq does it).
 */
static int
write_nosigpipe(SSL *ssl, const uint8_t *p, size_t n, size_t *done)
{
	sigset_t	pipe, old, pending;
	struct timespec	zero = { 0, 0 };
	int		rc, had, err;

	sigemptyset(&pipe);
	sigaddset(&pipe, SIGPIPE);
	(void)pthread_sigmask(SIG_BLOCK, &pipe, &old);
	sigemptyset(&pending);
	(void)sigpending(&pending);
	had = sigismember(&pending, SIGPIPE);
	rc = SSL_write_ex(ssl, p, n, done);
	err = errno;
	if (!had) {
		sigemptyset(&pending);
		(void)sigpending(&pending);
		if (sigismember(&pending, SIGPIPE))
			(void)sigtimedwait(&pipe, NULL, &zero);
	}
	(void)pthread_sigmask(SIG_SETMASK, &old, NULL);
	errno = err;
	return (rc);
}

sp_err
sp__client_tls_write(sp_client *c, const uint8_t *p, size_t n, size_t *done,
    short *want)
{
	int	rc;

	ERR_clear_error();
	rc = write_nosigpipe(c->ssl, p, n, done);
	if (rc == 1)
		return (SP_E_OK);
	*done = 0;
	return (io_error(c, rc, want, "write"));
}

void
sp__client_tls_close(sp_client *c)
{
	if (c->ssl != NULL) {
		if (c->eof == EOF_NONE && c->fd >= 0)
			(void)SSL_shutdown(c->ssl);	/* no wait */
		SSL_free(c->ssl);
	}
	SSL_CTX_free(c->ssl_ctx);
	memset(&c->tls, 0, sizeof(c->tls));
	c->ssl = NULL;
	c->ssl_ctx = NULL;
}

sp_err
sp_client_tls_upgrade(sp_client *c)
{
	sp_err	e;

	if (c == NULL)
		return (SP_E_INVAL);
	if (!c->connected || c->broken || c->eof != EOF_NONE)
		return (sp__client_err(c, SP_E_STATE, "not connected"));
	if (c->ssl != NULL)
		return (sp__client_err(c, SP_E_STATE, "TLS is already on"));
	/*
	 * Plaintext the server sent after its 220 would be taken as if
	 * it came inside TLS (CVE-2011-0411's mirror image): the parser
	 * flags it, then it is dropped.
	 */
	if (c->rpos < c->rlen) {
		(void)sp__client_feed(c, SP_DIR_SERVER, c->rbuf + c->rpos,
		    c->rlen - c->rpos);
		c->rpos = c->rlen = 0;
	}
	e = sp__client_tls_start(c, sp__client_now() +
	    MS(c->o.timeouts.tls_ms));
	if (e != SP_E_OK) {
		c->broken = 1;
		return (e);
	}
	return (sp__client_restart_session(c));
}

sp_err
sp_client_starttls(sp_client *c, struct sp_client_reply *r)
{
	sp_err	e;

	if (c == NULL || r == NULL)
		return (SP_E_INVAL);
	if ((e = sp_client_send_line(c, "STARTTLS", 8)) != SP_E_OK ||
	    (e = sp_client_read_reply(c, -1, r)) != SP_E_OK)
		return (e);
	if (r->code != 220)
		return (SP_E_OK);
	return (sp_client_tls_upgrade(c));
}

int
sp_client_tls_info(const sp_client *c, struct sp_client_tls_info *info)
{
	/* fill_info() sets the protocol once a handshake succeeded. */
	if (c == NULL || c->ssl == NULL || c->tls.protocol[0] == '\0')
		return (0);
	if (info != NULL)
		*info = c->tls;
	return (1);
}
