/*
 * mime_decode.c - streaming base64 and quoted-printable decoders
 * (RFC 2045 6.7 and 6.8).  They keep a few bytes of state between
 * calls, so a run may end anywhere, and they never fail: malformed
 * input is reported and decoded the way mail clients do.
 */
#include "mime_int.h"

/* Values 0..63, or one of these classes. */
#define B64_WS		0x40
#define B64_PAD		0x41
#define B64_BAD		0x80

static const uint8_t b64_tab[256] = {
#define B8(x) x, x, x, x, x, x, x, x
	B8(B64_BAD), B64_BAD, B64_WS, B64_WS, B64_BAD, B64_BAD, B64_WS,
	B64_BAD, B64_BAD, B8(B64_BAD), B8(B64_BAD),
	/* 0x20 */ B64_WS, B64_BAD, B64_BAD, B64_BAD, B64_BAD, B64_BAD,
	B64_BAD, B64_BAD, B64_BAD, B64_BAD, B64_BAD, 62, B64_BAD, B64_BAD,
	B64_BAD, 63,
	/* 0x30 */ 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, B64_BAD, B64_BAD,
	B64_BAD, B64_PAD, B64_BAD, B64_BAD,
	/* 0x40 */ B64_BAD, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
	/* 0x50 */ 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, B64_BAD,
	B64_BAD, B64_BAD, B64_BAD, B64_BAD,
	/* 0x60 */ B64_BAD, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38,
	39, 40,
	/* 0x70 */ 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, B64_BAD,
	B64_BAD, B64_BAD, B64_BAD, B64_BAD,
	/* 0x80 */ B8(B64_BAD), B8(B64_BAD), B8(B64_BAD), B8(B64_BAD),
	B8(B64_BAD), B8(B64_BAD), B8(B64_BAD), B8(B64_BAD),
	B8(B64_BAD), B8(B64_BAD), B8(B64_BAD), B8(B64_BAD),
	B8(B64_BAD), B8(B64_BAD), B8(B64_BAD), B8(B64_BAD)
#undef B8
};

/* Emit what a quantum holding s->n sextets carries (RFC 4648 4). */
static size_t
b64_close(struct sp__b64 *s, uint8_t *out)
{
	size_t	k = 0;

	if (s->n == 2) {
		out[k++] = (uint8_t)(s->acc >> 4);
	} else if (s->n == 3) {
		out[k++] = (uint8_t)(s->acc >> 10);
		out[k++] = (uint8_t)(s->acc >> 2);
	}
	s->acc = 0;
	s->n = 0;
	return (k);
}

/*
 * The same alphabet as tables of values already shifted into their
 * place in a 24-bit quantum, so four characters decode with four
 * lookups and three ORs.  Anything else (whitespace, '=', garbage)
 * sets the top byte, which sends the quantum to the careful loop.
 */
#define B64_VAL(c)							\
	((c) >= 'A' && (c) <= 'Z' ? (c) - 'A' :				\
	 (c) >= 'a' && (c) <= 'z' ? (c) - 'a' + 26 :			\
	 (c) >= '0' && (c) <= '9' ? (c) - '0' + 52 :			\
	 (c) == '+' ? 62 : (c) == '/' ? 63 : -1)
#define B64_AT(c, sh)							\
	(B64_VAL(c) < 0 ? 0xff000000u : (uint32_t)B64_VAL(c) << (sh))
#define B64_S18(c)	B64_AT(c, 18)
#define B64_S12(c)	B64_AT(c, 12)
#define B64_S6(c)	B64_AT(c, 6)
#define B64_S0(c)	B64_AT(c, 0)
#define T4(f, c)	f(c), f((c) + 1), f((c) + 2), f((c) + 3)
#define T16(f, c)	T4(f, c), T4(f, (c) + 4), T4(f, (c) + 8), T4(f, (c) + 12)
#define T64(f, c)	T16(f, c), T16(f, (c) + 16), T16(f, (c) + 32),	\
			T16(f, (c) + 48)
#define T256(f)		T64(f, 0), T64(f, 64), T64(f, 128), T64(f, 192)

static const uint32_t b64_s18[256] = { T256(B64_S18) };
static const uint32_t b64_s12[256] = { T256(B64_S12) };
static const uint32_t b64_s6[256] = { T256(B64_S6) };
static const uint32_t b64_s0[256] = { T256(B64_S0) };

static inline uint32_t
b64_quantum(const uint8_t *in)
{
	return (b64_s18[in[0]] | b64_s12[in[1]] | b64_s6[in[2]] |
	    b64_s0[in[3]]);
}

static inline void
b64_put3(uint8_t *out, uint32_t v)
{
	out[0] = (uint8_t)(v >> 16);
	out[1] = (uint8_t)(v >> 8);
	out[2] = (uint8_t)v;
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

/*
 * Sixteen characters to twelve bytes a step with SSSE3 (W. Mula and
 * D. Lemire, "Faster Base64 Encoding and Decoding Using AVX2
 * Instructions", ACM TWEB 2018).  Each character's high and low nibble
 * index two small tables whose AND is nonzero exactly for bytes
 * outside the alphabet; a third table, indexed by the high nibble
 * ('/' apart), holds what to add to get the character's value; two
 * multiply-adds pack each four sextets into three bytes.  In a block
 * holding anything else (a line end, usually) the whole quanta before
 * it are kept and the rest is left to the scalar loops: lanes never mix
 * across quanta, so the others' garbage stays in bytes not counted.  A
 * step stores 16 bytes, so it runs only while 24 characters remain:
 * then the caller's room of (n / 4 + 1) * 3 bytes covers it.
 */
__attribute__((target("ssse3"))) static size_t
b64_ssse3(const uint8_t *in, size_t n, uint8_t *out, size_t *k)
{
	const __m128i	lut_lo = _mm_setr_epi8(0x15, 0x11, 0x11, 0x11, 0x11,
	    0x11, 0x11, 0x11, 0x11, 0x11, 0x13, 0x1a, 0x1b, 0x1b, 0x1b, 0x1a);
	const __m128i	lut_hi = _mm_setr_epi8(0x10, 0x10, 0x01, 0x02, 0x04,
	    0x08, 0x04, 0x08, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10);
	const __m128i	lut_roll = _mm_setr_epi8(0, 16, 19, 4, -65, -65, -71,
	    -71, 0, 0, 0, 0, 0, 0, 0, 0);
	const __m128i	pack = _mm_setr_epi8(2, 1, 0, 6, 5, 4, 10, 9, 8, 14,
	    13, 12, -1, -1, -1, -1);
	const __m128i	m2f = _mm_set1_epi8(0x2f), zero = _mm_setzero_si128();
	size_t		i = 0, o = *k;

	while (n - i >= 24) {
		__m128i	v = _mm_loadu_si128((const __m128i *)(in + i));
		__m128i	hin = _mm_and_si128(_mm_srli_epi32(v, 4), m2f);
		__m128i	bad = _mm_and_si128(_mm_shuffle_epi8(lut_lo,
		    _mm_and_si128(v, m2f)), _mm_shuffle_epi8(lut_hi, hin));
		__m128i	roll = _mm_shuffle_epi8(lut_roll,
		    _mm_add_epi8(_mm_cmpeq_epi8(v, m2f), hin));

		unsigned	ok = (unsigned)_mm_movemask_epi8(
		    _mm_cmpeq_epi8(bad, zero));
		/* Whole quanta before the first byte outside the alphabet. */
		unsigned	q = ok == 0xffff ? 4 :
		    (unsigned)__builtin_ctz(~ok) / 4;

		if (q == 0)
			break;
		v = _mm_add_epi8(v, roll);		/* the sextets */
		v = _mm_maddubs_epi16(v, _mm_set1_epi32(0x01400140));
		v = _mm_madd_epi16(v, _mm_set1_epi32(0x00011000));
		_mm_storeu_si128((__m128i *)(out + o),
		    _mm_shuffle_epi8(v, pack));
		o += 3 * q;
		i += 4 * q;
		if (q < 4)
			break;	/* the quantum after them is the scalar loops' */
	}
	*k = o;
	return (i);
}

/*
 * The same with AVX2, 32 characters to 24 bytes a step: the shuffles
 * work within each 16-byte lane, so the tables are the SSSE3 ones
 * twice, and a final permutation closes the 4-byte hole between the
 * lanes' 12 bytes.  A step stores 32 bytes, so it runs only while 40
 * characters remain.
 */
__attribute__((target("avx2"))) static size_t
b64_avx2(const uint8_t *in, size_t n, uint8_t *out, size_t *k)
{
	const __m256i	lut_lo = _mm256_setr_epi8(0x15, 0x11, 0x11, 0x11,
	    0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x13, 0x1a, 0x1b, 0x1b, 0x1b,
	    0x1a, 0x15, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11,
	    0x13, 0x1a, 0x1b, 0x1b, 0x1b, 0x1a);
	const __m256i	lut_hi = _mm256_setr_epi8(0x10, 0x10, 0x01, 0x02,
	    0x04, 0x08, 0x04, 0x08, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10,
	    0x10, 0x10, 0x10, 0x01, 0x02, 0x04, 0x08, 0x04, 0x08, 0x10, 0x10,
	    0x10, 0x10, 0x10, 0x10, 0x10, 0x10);
	const __m256i	lut_roll = _mm256_setr_epi8(0, 16, 19, 4, -65, -65,
	    -71, -71, 0, 0, 0, 0, 0, 0, 0, 0, 0, 16, 19, 4, -65, -65, -71, -71,
	    0, 0, 0, 0, 0, 0, 0, 0);
	const __m256i	pack = _mm256_setr_epi8(2, 1, 0, 6, 5, 4, 10, 9, 8,
	    14, 13, 12, -1, -1, -1, -1, 2, 1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12,
	    -1, -1, -1, -1);
	const __m256i	join = _mm256_setr_epi32(0, 1, 2, 4, 5, 6, 7, 7);
	const __m256i	m2f = _mm256_set1_epi8(0x2f);
	const __m256i	zero = _mm256_setzero_si256();
	size_t		i = 0, o = *k;

	while (n - i >= 40) {
		__m256i	v = _mm256_loadu_si256((const __m256i *)(in + i));
		__m256i	hin = _mm256_and_si256(_mm256_srli_epi32(v, 4), m2f);
		__m256i	bad = _mm256_and_si256(_mm256_shuffle_epi8(lut_lo,
		    _mm256_and_si256(v, m2f)), _mm256_shuffle_epi8(lut_hi, hin));
		__m256i	roll = _mm256_shuffle_epi8(lut_roll,
		    _mm256_add_epi8(_mm256_cmpeq_epi8(v, m2f), hin));
		unsigned	ok = (unsigned)_mm256_movemask_epi8(
		    _mm256_cmpeq_epi8(bad, zero));
		unsigned	q = ok == 0xffffffffu ? 8 :
		    (unsigned)__builtin_ctz(~ok) / 4;

		if (q == 0)
			break;
		v = _mm256_add_epi8(v, roll);
		v = _mm256_maddubs_epi16(v, _mm256_set1_epi32(0x01400140));
		v = _mm256_madd_epi16(v, _mm256_set1_epi32(0x00011000));
		v = _mm256_permutevar8x32_epi32(_mm256_shuffle_epi8(v, pack),
		    join);
		_mm256_storeu_si256((__m256i *)(out + o), v);
		o += 3 * q;
		i += 4 * q;
		if (q < 8)
			break;
	}
	*k = o;
	return (i);
}

/*
 * The widest the CPU has; the SSSE3 steps take a tail the AVX2 can't.
 * *stopped: a step found a byte outside the alphabet, so nothing more
 * decodes here (the quantum it is in is the caller's to judge).
 */
static size_t
b64_simd(const uint8_t *in, size_t n, uint8_t *out, size_t *k,
    bool *stopped)
{
	size_t	i = 0;

	*stopped = false;
	if (n < 24)
		return (0);
	if (n >= 40 && __builtin_cpu_supports("avx2")) {
		i = b64_avx2(in, n, out, k);
		if (n - i >= 40) {
			*stopped = true;
			return (i);
		}
	}
	if (n - i >= 24 && __builtin_cpu_supports("ssse3")) {
		i += b64_ssse3(in + i, n - i, out, k);
		*stopped = n - i >= 24;
	}
	return (i);
}
#else
static size_t
b64_simd(const uint8_t *in, size_t n, uint8_t *out, size_t *k,
    bool *stopped)
{
	(void)in, (void)n, (void)out, (void)k;
	*stopped = false;
	return (0);
}
#endif

/*
 * The common case: whole quanta of valid characters, two at a time,
 * with no quantum open.  Stops before the first quantum holding
 * anything else (a line end, usually: 76 characters are 19 quanta).
 */
size_t
sp__b64_quanta(const uint8_t *in, size_t n, uint8_t *out, size_t *k)
{
	bool		stopped;
	size_t		i = b64_simd(in, n, out, k, &stopped), o = *k;
	uint32_t	v, w;

	if (stopped)
		return (i);

	while (n - i >= 8) {
		v = b64_quantum(in + i);
		w = b64_quantum(in + i + 4);
		if (((v | w) >> 24) != 0)
			break;
		b64_put3(out + o, v);
		b64_put3(out + o + 3, w);
		o += 6;
		i += 8;
	}
	while (n - i >= 4 && ((v = b64_quantum(in + i)) >> 24) == 0) {
		b64_put3(out + o, v);
		o += 3;
		i += 4;
	}
	*k = o;
	return (i);
}

/* One character the careful way: whitespace, padding and garbage. */
static size_t
b64_byte(struct sp__b64 *s, const uint8_t *in, size_t i, uint8_t *out,
    size_t *bad)
{
	unsigned	v = b64_tab[in[i]];

	if (v < 64) {
		s->acc = s->acc << 6 | v;
		if (++s->n < 4)
			return (0);
		b64_put3(out, s->acc);
		s->acc = 0;
		s->n = 0;
		return (3);
	}
	if (v == B64_PAD) {
		if (s->n == 1 && *bad == SIZE_MAX)
			*bad = i;
		return (b64_close(s, out));
	}
	if (v == B64_BAD && *bad == SIZE_MAX)
		*bad = i;
	return (0);
}

size_t
sp__b64_run(struct sp__b64 *s, const uint8_t *in, size_t n, uint8_t *out,
    size_t *bad)
{
	size_t	i = 0, k = 0;

	*bad = SIZE_MAX;
	while (i < n) {
		if (s->n == 0)
			i += sp__b64_quanta(in + i, n - i, out, &k);
		if (i >= n)
			break;
		k += b64_byte(s, in, i, out + k, bad);
		i++;
	}
	return (k);
}

size_t
sp__b64_end(struct sp__b64 *s, uint8_t *out, bool *bad)
{
	*bad = (s->n == 1);
	return (b64_close(s, out));
}

/* Quoted-printable states: after '=', after "=X", after "=" blanks. */
enum { QP_TEXT = 0, QP_EQ, QP_EQ1, QP_EQ_WS };

/* Give back held blanks: they were not at the end of the line. */
static size_t
qp_flush_ws(struct sp__qp *s, uint8_t *out)
{
	size_t	n = s->nws;

	memcpy(out, s->ws, n);
	s->nws = 0;
	return (n);
}

/*
 * A malformed '=' sequence is kept literally (RFC 2045 6.7 note (2):
 * "the robust implementation might include the "=" character and the
 * following character in the decoded data").
 */
static size_t
qp_literal(struct sp__qp *s, uint8_t *out)
{
	size_t	k = 0;

	out[k++] = '=';
	if (s->state == QP_EQ1)
		out[k++] = s->hex1;
	if (s->state == QP_EQ_WS)
		k += qp_flush_ws(s, out + k);
	s->state = QP_TEXT;
	s->bad = true;
	return (k);
}

static size_t
qp_byte(struct sp__qp *s, uint8_t c, uint8_t *out)
{
	size_t	k = 0;

	switch (s->state) {
	case QP_EQ:
		if (sp__hexval(c) >= 0) {
			s->hex1 = c;
			s->state = QP_EQ1;
			return (0);
		}
		if (c == ' ' || c == '\t') {
			s->ws[s->nws++] = c;	/* nws was 0 */
			s->state = QP_EQ_WS;
			return (0);
		}
		k = qp_literal(s, out);
		break;
	case QP_EQ1:
		if (sp__hexval(c) >= 0) {
			out[0] = (uint8_t)(sp__hexval(s->hex1) << 4 |
			    sp__hexval(c));
			s->state = QP_TEXT;
			return (1);
		}
		k = qp_literal(s, out);
		break;
	case QP_EQ_WS:
		if ((c == ' ' || c == '\t') && s->nws < SP__QP_WS_MAX) {
			s->ws[s->nws++] = c;
			return (0);
		}
		k = qp_literal(s, out);
		break;
	}
	/* QP_TEXT, or the byte that ended a malformed sequence. */
	if (c == '=') {
		k += qp_flush_ws(s, out + k);
		s->state = QP_EQ;
	} else if (c == ' ' || c == '\t') {
		if (s->nws == SP__QP_WS_MAX)
			k += qp_flush_ws(s, out + k);
		s->ws[s->nws++] = c;
	} else {
		k += qp_flush_ws(s, out + k);
		out[k++] = c;
	}
	return (k);
}

size_t
sp__qp_run(struct sp__qp *s, const uint8_t *in, size_t n, uint8_t *out)
{
	const uint8_t	*eq;
	size_t		 i = 0, j, t, k = 0;
	int		 h;

	while (i < n) {
		if (s->state == QP_TEXT && s->nws == 0) {
			/*
			 * Fast path: copy up to the next '='; only blanks at
			 * the very end of the run may be trailing ones.
			 */
			eq = memchr(in + i, '=', n - i);
			j = eq != NULL ? (size_t)(eq - in) : n;
			t = j;
			while (j == n && t > i && (in[t - 1] == ' ' ||
			    in[t - 1] == '\t') && j - t < SP__QP_WS_MAX)
				t--;
			memcpy(out + k, in + i, t - i);
			k += t - i;
			i = t;
			h = i < n && in[i] == '=' ?
			    sp__hexpair(in + i + 1, n - i - 1) : -1;
			if (h >= 0) {
				out[k++] = (uint8_t)h;
				i += 3;
				continue;
			}
			if (i == n)
				break;
		}
		k += qp_byte(s, in[i], out + k);
		i++;
	}
	return (k);
}

/*
 * Line end.  Blanks before it are transport padding and go (RFC 2045
 * 6.7 rule 3); "=" (plus blanks) before it is a soft line break.
 */
size_t
sp__qp_eol(struct sp__qp *s, const uint8_t *eol, size_t n, uint8_t *out)
{
	size_t	k = 0;

	if (s->state == QP_EQ || s->state == QP_EQ_WS) {
		s->state = QP_TEXT;
		s->nws = 0;
		return (0);
	}
	if (s->state == QP_EQ1)
		k = qp_literal(s, out);
	s->nws = 0;
	memcpy(out + k, eol, n);
	return (k + n);
}

size_t
sp__qp_end(struct sp__qp *s, uint8_t *out)
{
	size_t	k = 0;

	if (s->state == QP_EQ1)
		k = qp_literal(s, out);
	s->state = QP_TEXT;
	s->nws = 0;
	return (k);
}
