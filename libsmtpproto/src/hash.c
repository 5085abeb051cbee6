/*
 * hash.c - incremental digests over OpenSSL's EVP interface.  Only this
 * file includes OpenSSL; the protocol cores stay libc-only.
 */
#include <stdbool.h>
#include <string.h>

#include <openssl/evp.h>

#include "internal.h"
#include "smtpproto/hash.h"

/*
 * Updates smaller than this are gathered first.  A message arrives a
 * TCP segment at a time, and OpenSSL's per-call cost (the EVP dispatch,
 * the partial block) makes 1.4 KB updates about a fifth slower than
 * 8 KB ones with SHA-NI; the copy costs less than that.
 */
#define STAGE_SIZE	8192

struct sp_hash {
	EVP_MD_CTX	*ctx;
	EVP_MD		*md;		/* fetched: ours to free */
	enum sp_hash_alg alg;
	bool		 done;
	size_t		 staged;
	uint8_t		 stage[STAGE_SIZE];
};

static bool
unstage(sp_hash *h)
{
	size_t	n = h->staged;

	h->staged = 0;
	return (n == 0 || EVP_DigestUpdate(h->ctx, h->stage, n) == 1);
}

/*
 * The digest, fetched from the default provider once per handle.  The
 * EVP_sha256()-style constants are not provider implementations: with
 * them every EVP_DigestInit_ex() does an implicit fetch (a locked
 * lookup costing as much as hashing a few KB), and a handle is reset
 * for each message and MIME part.
 */
static EVP_MD *
alg_md(enum sp_hash_alg alg)
{
	switch (alg) {
	case SP_HASH_MD5:
		return (EVP_MD_fetch(NULL, "MD5", NULL));
	case SP_HASH_SHA1:
		return (EVP_MD_fetch(NULL, "SHA1", NULL));
	case SP_HASH_SHA256:
		return (EVP_MD_fetch(NULL, "SHA256", NULL));
	}
	return (NULL);
}

size_t
sp_hash_len(enum sp_hash_alg alg)
{
	switch (alg) {
	case SP_HASH_MD5:
		return (16);
	case SP_HASH_SHA1:
		return (20);
	case SP_HASH_SHA256:
		return (32);
	}
	return (0);
}

const char *
sp_hash_name(enum sp_hash_alg alg)
{
	switch (alg) {
	case SP_HASH_MD5:
		return ("md5");
	case SP_HASH_SHA1:
		return ("sha1");
	case SP_HASH_SHA256:
		return ("sha256");
	}
	return ("unknown");
}

sp_err
sp_hash_new(sp_hash **out, enum sp_hash_alg alg)
{
	sp_hash	*h;

	if (out == NULL)
		return (SP_E_INVAL);
	*out = NULL;
	if (sp_hash_len(alg) == 0)
		return (SP_E_INVAL);
	h = calloc(1, sizeof(*h));
	if (h == NULL)
		return (SP_E_NOMEM);
	h->alg = alg;
	h->md = alg_md(alg);
	if (h->md == NULL) {		/* not in this provider */
		free(h);
		return (SP_E_UNSUPPORTED);
	}
	h->ctx = EVP_MD_CTX_new();
	if (h->ctx == NULL) {
		sp_hash_free(h);
		return (SP_E_NOMEM);
	}
	if (EVP_DigestInit_ex(h->ctx, h->md, NULL) != 1) {
		sp_hash_free(h);
		return (SP_E_UNSUPPORTED);
	}
	*out = h;
	return (SP_E_OK);
}

sp_err
sp_hash_update(sp_hash *h, const void *p, size_t n)
{
	if (h->done)
		return (SP_E_STATE);
	if (n == 0)
		return (SP_E_OK);	/* p may be NULL */
	if (n <= STAGE_SIZE - h->staged) {
		memcpy(h->stage + h->staged, p, n);
		h->staged += n;
		return (SP_E_OK);
	}
	if (!unstage(h))
		return (SP_E_INTERNAL);
	if (n < STAGE_SIZE) {
		memcpy(h->stage, p, n);
		h->staged = n;
		return (SP_E_OK);
	}
	if (EVP_DigestUpdate(h->ctx, p, n) != 1)
		return (SP_E_INTERNAL);
	return (SP_E_OK);
}

sp_err
sp_hash_final(sp_hash *h, uint8_t *md, char *hex)
{
	static const char	 digits[] = "0123456789abcdef";
	unsigned		 len = 0;

	if (h->done)
		return (SP_E_STATE);
	if (!unstage(h) || EVP_DigestFinal_ex(h->ctx, md, &len) != 1 ||
	    len != sp_hash_len(h->alg))
		return (SP_E_INTERNAL);
	h->done = true;
	if (hex == NULL)
		return (SP_E_OK);
	for (unsigned i = 0; i < len; i++) {
		hex[2 * i] = digits[md[i] >> 4];
		hex[2 * i + 1] = digits[md[i] & 15];
	}
	hex[2 * len] = '\0';
	return (SP_E_OK);
}

sp_err
sp_hash_reset(sp_hash *h)
{
	h->staged = 0;
	if (EVP_DigestInit_ex(h->ctx, h->md, NULL) != 1)
		return (SP_E_INTERNAL);
	h->done = false;
	return (SP_E_OK);
}

void
sp_hash_free(sp_hash *h)
{
	if (h == NULL)
		return;
	EVP_MD_CTX_free(h->ctx);
	EVP_MD_free(h->md);
	free(h);
}

sp_err
sp_hash_hex(enum sp_hash_alg alg, const void *p, size_t n, char *hex)
{
	uint8_t	 md[SP_HASH_MAX_LEN];
	sp_hash	*h;
	sp_err	 e;

	e = sp_hash_new(&h, alg);
	if (e != SP_E_OK)
		return (e);
	e = sp_hash_update(h, p, n);
	if (e == SP_E_OK)
		e = sp_hash_final(h, md, hex);
	sp_hash_free(h);
	return (e);
}
