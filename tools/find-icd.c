/*
 * find-icd.c - locate ava's OpenCL ICD file for `ava run`.
 */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tool.h"

static bool
readable(const char *path)
{
	return access(path, R_OK) == 0;
}

/* The build tree keeps tools/ava beside guest/ava.icd. */
static char *
icd_beside_exe(void)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return NULL;
	exe[n] = '\0';
	char *path = NULL;
	if (asprintf(&path, "%s/../guest/ava.icd", dirname(exe)) < 0)
		return NULL;
	if (readable(path))
		return path;
	free(path);
	return NULL;
}

char *
tool_find_icd(void)
{
	const char *env = getenv("AVA_ICD");
	if (env != NULL && env[0] != '\0') {
		if (!readable(env)) {
			tool_error("run: AVA_ICD=%s: %s", env, strerror(errno));
			return NULL;
		}
		return strdup(env);
	}
	char *path = icd_beside_exe();
	if (path != NULL)
		return path;
	if (readable(AVA_ICD_INSTALLED))
		return strdup(AVA_ICD_INSTALLED);
	tool_error("run: cannot find ava's ICD file (looked beside this "
		   "executable and at %s); set AVA_ICD", AVA_ICD_INSTALLED);
	return NULL;
}
