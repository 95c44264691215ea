/* A main() for the fuzz targets when libFuzzer is not linked in (a gcc
 * build, or CI's sanitizer build): it runs each file named on the command
 * line, or each file of each directory named, through the target once.
 * That replays the seed corpus and every crash ever found as a regression
 * test in every build; fuzzing itself needs ./configure --enable-fuzzing. */
#include <dirent.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

/* Runs one file; returns 0, or -1 when it cannot be read. */
static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *data = NULL;
	size_t size = 0, cap = 0, n;

	if (f == NULL) {
		perror(path);
		return -1;
	}
	do {
		if (size == cap) {
			uint8_t *grown = realloc(data, cap = cap * 2 + 4096);

			if (grown == NULL) {
				free(data);
				fclose(f);
				return -1;
			}
			data = grown;
		}
		n = fread(data + size, 1, cap - size, f);
		size += n;
	} while (n > 0);
	fclose(f);
	/* A private copy of exactly size bytes, so ASan sees any read past the end. */
	{
		uint8_t *exact = malloc(size > 0 ? size : 1);

		if (exact == NULL) {
			free(data);
			return -1;
		}
		memcpy(exact, data, size);
		free(data);
		LLVMFuzzerTestOneInput(exact, size);
		free(exact);
	}
	return 0;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
	int files = 0, failed = 0;

	if (LLVMFuzzerInitialize != NULL)
		LLVMFuzzerInitialize(&argc, &argv);
	for (int i = 1; i < argc; i++) {
		struct stat sb;
		DIR *d;
		struct dirent *e;
		char **names = NULL;
		size_t count = 0;

		if (argv[i][0] == '-')
			continue; /* a libFuzzer option: meaningless here */
		if (stat(argv[i], &sb) == -1 || !S_ISDIR(sb.st_mode)) {
			failed |= run_file(argv[i]) == -1;
			files++;
			continue;
		}
		if ((d = opendir(argv[i])) == NULL) {
			perror(argv[i]);
			failed = 1;
			continue;
		}
		while ((e = readdir(d)) != NULL) {
			char **grown;

			if (e->d_name[0] == '.')
				continue;
			if ((grown = realloc(names, (count + 1) * sizeof(*names))) == NULL)
				break;
			names = grown;
			if ((names[count] = malloc(strlen(argv[i]) + strlen(e->d_name) + 2)) == NULL)
				break;
			sprintf(names[count++], "%s/%s", argv[i], e->d_name);
		}
		closedir(d);
		qsort(names, count, sizeof(*names), by_name);
		for (size_t k = 0; k < count; k++) {
			failed |= run_file(names[k]) == -1;
			files++;
			free(names[k]);
		}
		free(names);
	}
	printf("%s: ran %d inputs\n", argv[0], files);
	return failed;
}
