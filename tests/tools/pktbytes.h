/*
 * pktbytes.h - network byte order loads and stores and the Internet
 * checksum, for the programs that write packets: tests/tools/pcapmangle
 * and bench/mkcapture (with bench/tmpl.c).  libc only, on purpose:
 * those programs must not depend on the library whose input they make.
 * Callers check the bounds before.
 */
#ifndef SP_PKTBYTES_H
#define SP_PKTBYTES_H

#include <stddef.h>
#include <stdint.h>

static inline uint16_t
get16(const uint8_t *p)
{
	return ((uint16_t)(p[0] << 8 | p[1]));
}

static inline uint32_t
get32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3]);
}

static inline void
put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void
put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/*
 * Add n bytes to a one's-complement sum (RFC 1071); an odd last byte
 * is padded with a zero.  Start from 0, or from a pseudo header's sum.
 */
static inline uint32_t
csum_add(uint32_t sum, const uint8_t *p, size_t n)
{
	size_t	i;

	for (i = 0; i + 1 < n; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (n & 1)
		sum += (uint32_t)p[n - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (sum);
}

/* The checksum field's value: the sum folded to 16 bits, inverted. */
static inline uint16_t
csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return ((uint16_t)~sum);
}

#endif /* SP_PKTBYTES_H */
