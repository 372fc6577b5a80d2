/* The generated opencl-server.h compiles on its own (first include). */
#include "opencl-server.h"

int
main(void)
{
	return 0;
}
