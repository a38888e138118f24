/* alloc-util.h — growing an array one element at a time.
 *
 * array_grow() makes room for one more element in *array, which holds n of them in room for
 * *allocated: nothing when there is room, else it doubles the room (starting at first).  On
 * failure (-ENOMEM) *array and *allocated are untouched. */
#pragma once

#include <stddef.h>

int array_grow(void **array, size_t n, size_t *allocated, size_t elem_size, size_t first);
