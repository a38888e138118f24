/* Growing arrays (alloc-util.h). */
#include <errno.h>
#include <stdlib.h>

#include "alloc-util.h"

int array_grow(void **array, size_t n, size_t *allocated, size_t elem_size, size_t first)
{
	if (n < *allocated)
		return 0;
	size_t room = *allocated ? *allocated * 2 : first;
	void *grown = reallocarray(*array, room, elem_size);
	if (!grown)
		return -ENOMEM;
	*array = grown;
	*allocated = room;
	return 0;
}
