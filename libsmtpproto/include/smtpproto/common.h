/*
 * common.h - types shared by every layer of libsmtpproto.
 *
 * The library does no I/O in its protocol cores and reads no clock:
 * time always arrives as an argument (an sp_ts), which is what makes
 * decoding, replay and fuzzing deterministic.
 */
#ifndef SMTPPROTO_COMMON_H
#define SMTPPROTO_COMMON_H

#include <stddef.h>
#include <stdint.h>

#if defined(SP_BUILDING_LIBRARY) && defined(__GNUC__)
#define SP_EXTERN	__attribute__((visibility("default")))
#else
#define SP_EXTERN
#endif

/* Nanoseconds since the Unix epoch, as seen by the capture or caller. */
typedef uint64_t sp_ts;

#define SP_TS_PER_SEC	UINT64_C(1000000000)

/* The two directions of a conversation. */
enum sp_dir {
	SP_DIR_CLIENT = 0,	/* bytes sent by the client */
	SP_DIR_SERVER = 1	/* bytes sent by the server */
};

/*
 * A pluggable allocator (modelled on nghttp2_mem), so tests can fail
 * each allocation in turn.  NULL anywhere an allocator is accepted
 * means the C library's malloc family.
 */
struct sp_allocator {
	void	*(*malloc)(size_t n, void *ud);
	void	*(*realloc)(void *p, size_t n, void *ud);
	void	 (*free)(void *p, void *ud);
	void	*ud;
};

#endif /* SMTPPROTO_COMMON_H */
