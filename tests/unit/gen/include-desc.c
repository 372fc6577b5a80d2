/* The generated opencl-desc.h compiles on its own (first include). */
#include "opencl-desc.h"

int
main(void)
{
	return 0;
}
