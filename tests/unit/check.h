/*
 * check.h - the unit tests' tiny harness.  A failed CHECK prints where
 * and why and the test goes on; check_done() prints the plain
 * "N passed, N failed" line and returns the exit status.
 */
#ifndef SP_CHECK_H
#define SP_CHECK_H

#include <stdio.h>
#include <string.h>

static int	check_passed, check_failed;

#define CHECK(cond, ...) do {						\
	if (cond) {							\
		check_passed++;						\
	} else {							\
		check_failed++;						\
		fprintf(stderr, "%s:%d: CHECK(%s) failed: ",		\
		    __FILE__, __LINE__, #cond);				\
		fprintf(stderr, " " __VA_ARGS__);			\
		fputc('\n', stderr);					\
	}								\
} while (0)

#define CHECK_EQ(a, b, ...)	CHECK((a) == (b), __VA_ARGS__)

#define CHECK_STREQ(a, b, ...) do {					\
	const char *check_a_ = (a), *check_b_ = (b);			\
	if (check_a_ != NULL && check_b_ != NULL &&			\
	    strcmp(check_a_, check_b_) == 0) {				\
		check_passed++;						\
	} else {							\
		check_failed++;						\
		fprintf(stderr, "%s:%d: strings differ\n--- got:\n%s\n"	\
		    "--- want:\n%s\n", __FILE__, __LINE__,		\
		    check_a_ ? check_a_ : "(null)",			\
		    check_b_ ? check_b_ : "(null)");			\
		fprintf(stderr, " " __VA_ARGS__);			\
		fputc('\n', stderr);					\
	}								\
} while (0)

static inline int
check_done(const char *suite)
{
	printf("%s: %d passed, %d failed\n", suite, check_passed,
	    check_failed);
	return (check_failed == 0 ? 0 : 1);
}

#endif /* SP_CHECK_H */
