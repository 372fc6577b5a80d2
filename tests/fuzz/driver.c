/*
 * driver.c - replays a libFuzzer corpus without libFuzzer.
 *
 * Each argument is a file or a directory of files; every file is fed once
 * to LLVMFuzzerTestOneInput(). A crash or sanitizer report fails the test.
 * An empty or missing corpus is a hard error (99): a corpus that silently
 * replays nothing would prove nothing.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		fprintf(stderr, "fuzz-replay: %s: cannot open\n", path);
		return -1;
	}
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0, n;
	do {
		if (len == cap) {
			cap = cap ? cap * 2 : 4096;
			uint8_t *nb = realloc(buf, cap);
			if (nb == NULL) {
				free(buf);
				fclose(f);
				return -1;
			}
			buf = nb;
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
	} while (n > 0);
	fclose(f);
	LLVMFuzzerTestOneInput(buf, len);
	free(buf);
	return 0;
}

static long
run_path(const char *path)
{
	struct stat st;
	if (stat(path, &st) != 0) {
		fprintf(stderr, "fuzz-replay: %s: no such corpus\n", path);
		return -1;
	}
	if (!S_ISDIR(st.st_mode))
		return run_file(path) == 0 ? 1 : -1;

	DIR *dir = opendir(path);
	if (dir == NULL)
		return -1;
	long count = 0;
	struct dirent *de;
	while ((de = readdir(dir)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		char child[4096];
		snprintf(child, sizeof(child), "%s/%s", path, de->d_name);
		long r = run_path(child);
		if (r < 0) {
			count = -1;
			break;
		}
		count += r;
	}
	closedir(dir);
	return count;
}

int
main(int argc, char **argv)
{
	long total = 0;
	for (int i = 1; i < argc; i++) {
		long r = run_path(argv[i]);
		if (r < 0)
			return 99;
		total += r;
	}
	if (total == 0) {
		fprintf(stderr, "fuzz-replay: empty corpus\n");
		return 99;
	}
	printf("replayed %ld inputs\n", total);
	return 0;
}
