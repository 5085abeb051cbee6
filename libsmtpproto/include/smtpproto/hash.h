/*
 * hash.h - incremental MD5, SHA-1 and SHA-256 (a thin OpenSSL EVP
 * wrapper).  The MIME core does not hash: whoever consumes the part
 * data events (the session layer, a tool) feeds the bytes here.
 */
#ifndef SMTPPROTO_HASH_H
#define SMTPPROTO_HASH_H

#include "common.h"
#include "err.h"

typedef struct sp_hash sp_hash;		/* opaque */

enum sp_hash_alg {
	SP_HASH_MD5 = 0,
	SP_HASH_SHA1,
	SP_HASH_SHA256
};

#define SP_HASH_MAX_LEN	32		/* bytes of the longest digest */
#define SP_HASH_MAX_HEX	(2 * SP_HASH_MAX_LEN + 1)

/* Digest length in bytes (16, 20, 32); 0 for an unknown alg. */
SP_EXTERN size_t sp_hash_len(enum sp_hash_alg alg);

/* "md5", "sha1", "sha256"; "unknown" otherwise. */
SP_EXTERN const char *sp_hash_name(enum sp_hash_alg alg);

/*
 * Start a digest.  Returns SP_E_OK, SP_E_INVAL (unknown alg or out
 * NULL), SP_E_UNSUPPORTED (OpenSSL lacks the algorithm, e.g. MD5 in a
 * FIPS setup) or SP_E_NOMEM.
 */
SP_EXTERN sp_err sp_hash_new(sp_hash **out, enum sp_hash_alg alg);

/* Add n bytes.  Returns SP_E_OK, SP_E_STATE (after final) or SP_E_INTERNAL. */
SP_EXTERN sp_err sp_hash_update(sp_hash *h, const void *p, size_t n);

/*
 * Finish: write sp_hash_len() bytes to md (room for SP_HASH_MAX_LEN)
 * and, when hex is not NULL, the lowercase hex digest (room for
 * SP_HASH_MAX_HEX).  Returns SP_E_OK, SP_E_STATE (twice) or
 * SP_E_INTERNAL.
 */
SP_EXTERN sp_err sp_hash_final(sp_hash *h, uint8_t *md, char *hex);

/* Start again with the same algorithm.  Returns SP_E_OK or SP_E_INTERNAL. */
SP_EXTERN sp_err sp_hash_reset(sp_hash *h);

/* Free; NULL does nothing. */
SP_EXTERN void sp_hash_free(sp_hash *h);

/*
 * One-shot digest of n bytes into hex (room for SP_HASH_MAX_HEX).
 * Returns what sp_hash_new() and sp_hash_final() return.
 */
SP_EXTERN sp_err sp_hash_hex(enum sp_hash_alg alg, const void *p, size_t n,
    char *hex);

#endif /* SMTPPROTO_HASH_H */
