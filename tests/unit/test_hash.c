/* sp_hash: known vectors (RFC 1321, FIPS 180-2) and incremental == one-shot. */
#include "internal.h"
#include "smtpproto/hash.h"

#include "check.h"

static void
vector(enum sp_hash_alg alg, const char *in, const char *want)
{
	char	hex[SP_HASH_MAX_HEX];

	CHECK_EQ(sp_hash_hex(alg, in, strlen(in), hex), SP_E_OK);
	CHECK_STREQ(hex, want, "%s(\"%s\")", sp_hash_name(alg), in);
}

static void
incremental(enum sp_hash_alg alg)
{
	uint8_t	 buf[10007], md[SP_HASH_MAX_LEN];
	char	 one[SP_HASH_MAX_HEX], inc[SP_HASH_MAX_HEX];
	sp_hash	*h;
	size_t	 off = 0, step = 1;

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 7 + (i >> 8));
	CHECK_EQ(sp_hash_hex(alg, buf, sizeof(buf), one), SP_E_OK);
	CHECK_EQ(sp_hash_new(&h, alg), SP_E_OK);
	while (off < sizeof(buf)) {
		size_t n = SP_MIN(step, sizeof(buf) - off);

		CHECK_EQ(sp_hash_update(h, buf + off, n), SP_E_OK);
		off += n;
		step = step * 3 + 1;
	}
	CHECK_EQ(sp_hash_final(h, md, inc), SP_E_OK);
	CHECK_STREQ(inc, one, "%s incremental", sp_hash_name(alg));
	CHECK_EQ(sp_hash_update(h, buf, 1), SP_E_STATE);
	CHECK_EQ(sp_hash_final(h, md, inc), SP_E_STATE);
	CHECK_EQ(sp_hash_reset(h), SP_E_OK);
	CHECK_EQ(sp_hash_update(h, buf, sizeof(buf)), SP_E_OK);
	CHECK_EQ(sp_hash_final(h, md, inc), SP_E_OK);
	CHECK_STREQ(inc, one, "%s after reset", sp_hash_name(alg));
	sp_hash_free(h);
}

/*
 * Updates below the 8 KB the handle gathers, across it and above it,
 * in every mix a message's TCP segments and a MIME part's runs give;
 * a reset drops what was gathered.
 */
static void
staged(enum sp_hash_alg alg)
{
	static const size_t	 sizes[] = { 1, 1400, 8191, 1, 8192, 3, 9000,
	    1460, 1460, 1460, 1460, 1460, 1460, 16384, 0, 7000, 8193 };
	static uint8_t		 buf[70000];
	uint8_t			 md[SP_HASH_MAX_LEN];
	char			 one[SP_HASH_MAX_HEX], inc[SP_HASH_MAX_HEX];
	sp_hash			*h;
	size_t			 off = 0;

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 13 + (i >> 9));
	CHECK_EQ(sp_hash_new(&h, alg), SP_E_OK);
	CHECK_EQ(sp_hash_update(h, buf, 5000), SP_E_OK);
	CHECK_EQ(sp_hash_reset(h), SP_E_OK);	/* the 5000 bytes go */
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		CHECK_EQ(sp_hash_update(h, buf + off, sizes[k]), SP_E_OK);
		off += sizes[k];
	}
	CHECK_EQ(sp_hash_final(h, md, inc), SP_E_OK);
	CHECK_EQ(sp_hash_hex(alg, buf, off, one), SP_E_OK);
	CHECK_STREQ(inc, one, "%s staged, %zu bytes", sp_hash_name(alg), off);
	sp_hash_free(h);
}

int
main(void)
{
	sp_hash	*h = NULL;

	vector(SP_HASH_MD5, "", "d41d8cd98f00b204e9800998ecf8427e");
	vector(SP_HASH_MD5, "abc", "900150983cd24fb0d6963f7d28e17f72");
	vector(SP_HASH_SHA1, "abc", "a9993e364706816aba3e25717850c26c9cd0d89d");
	vector(SP_HASH_SHA256, "abc",
	    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	vector(SP_HASH_SHA256, "",
	    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	vector(SP_HASH_SHA256,
	    "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
	    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
	incremental(SP_HASH_MD5);
	incremental(SP_HASH_SHA1);
	incremental(SP_HASH_SHA256);
	staged(SP_HASH_MD5);
	staged(SP_HASH_SHA256);
	CHECK_EQ(sp_hash_len(SP_HASH_SHA1), 20u);
	CHECK_EQ(sp_hash_new(&h, (enum sp_hash_alg)99), SP_E_INVAL);
	CHECK(h == NULL);
	CHECK_EQ(sp_hash_new(NULL, SP_HASH_MD5), SP_E_INVAL);
	sp_hash_free(NULL);
	return (check_done("test_hash"));
}
