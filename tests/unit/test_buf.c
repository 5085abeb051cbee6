/* The bounded buffer: grows to its max and never past it. */
#include "internal.h"

#include "check.h"

int
main(void)
{
	struct sp_buf	b;
	uint8_t		chunk[100];

	memset(chunk, 'x', sizeof(chunk));
	sp__buf_init(&b, 250, NULL);
	CHECK_EQ(sp__buf_append(&b, chunk, 100), SP_E_OK);
	CHECK_EQ(sp__buf_append(&b, chunk, 100), SP_E_OK);
	CHECK_EQ(sp__buf_append(&b, chunk, 100), SP_E_LIMIT);
	CHECK_EQ(b.len, 200u);
	CHECK_EQ(sp__buf_append(&b, chunk, 50), SP_E_OK);
	CHECK_EQ(b.len, 250u);
	CHECK(b.cap <= 250, "cap %zu", b.cap);
	CHECK_EQ(sp__buf_append(&b, chunk, 1), SP_E_LIMIT);
	CHECK_EQ(sp__buf_append(&b, chunk, SIZE_MAX), SP_E_LIMIT);
	sp__buf_reset(&b);
	CHECK_EQ(b.len, 0u);
	sp__buf_free(&b);

	sp__buf_init(&b, 10, NULL);
	CHECK_EQ(sp__buf_append(&b, chunk, 10), SP_E_OK);
	CHECK_EQ(b.cap, 10u);
	sp__buf_free(&b);
	return (check_done("test_buf"));
}
