/* Growing an array one element at a time: room doubles from the first size, and nothing moves
 * while there is room. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>

#include "alloc-util.h"
#include "check-run.h"

START_TEST(test_an_empty_array_gets_the_first_size_then_doubles)
{
	uint64_t *a = NULL;
	size_t allocated = 0, seen[4], n_seen = 0;

	for (size_t n = 0; n < 30; n++) {
		size_t before = allocated;
		ck_assert_int_eq(array_grow((void **)&a, n, &allocated, sizeof(uint64_t), 4), 0);
		ck_assert_uint_gt(allocated, n);
		if (allocated != before)
			seen[n_seen++] = allocated;
		a[n] = n; /* the room is really there (AddressSanitizer would say otherwise) */
	}
	ck_assert_uint_eq(n_seen, 4);
	ck_assert_uint_eq(seen[0], 4);
	ck_assert_uint_eq(seen[1], 8);
	ck_assert_uint_eq(seen[2], 16);
	ck_assert_uint_eq(seen[3], 32);
	for (size_t n = 0; n < 30; n++)
		ck_assert_uint_eq(a[n], n);
	free(a);
}
END_TEST

START_TEST(test_an_array_with_room_left_is_not_moved)
{
	char *a = malloc(8), *before = a;
	size_t allocated = 8;

	ck_assert_ptr_nonnull(a);
	ck_assert_int_eq(array_grow((void **)&a, 7, &allocated, 1, 2), 0);
	ck_assert_ptr_eq(a, before);
	ck_assert_uint_eq(allocated, 8);
	free(a);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("alloc-util");
	TCase *tc = tcase_create("alloc-util");

	tcase_add_test(tc, test_an_empty_array_gets_the_first_size_then_doubles);
	tcase_add_test(tc, test_an_array_with_room_left_is_not_moved);
	suite_add_tcase(s, tc);

	return check_run_suite(s);
}
