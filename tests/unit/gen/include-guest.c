/* The generated opencl-guest.h compiles on its own (first include). */
#include "opencl-guest.h"

int
main(void)
{
	return 0;
}
