/*
 * fuse_metabench: metadata operations per second in a directory.
 *
 *   fuse_metabench DIR [NFILES]
 *
 * In a fresh subdirectory of DIR: create NFILES empty files (open with
 * O_CREAT|O_EXCL, close), stat each, stat each again, list the directory
 * (readdir, five passes), unlink each.  Prints one "name value unit" line
 * per phase:
 *
 *   meta_create 12345 ops/s
 *   meta_stat 45678 ops/s
 *   meta_restat 456789 ops/s
 *   meta_list 345678 entries/s
 *   meta_unlink 23456 ops/s
 *
 * Exits 1 if any call fails (the phase's result would be meaningless).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void name_of(char *buf, size_t size, const char *dir, long i)
{
	if (snprintf(buf, size, "%s/file-%07ld", dir, i) >= (int)size) {
		fprintf(stderr, "fuse_metabench: path too long\n");
		exit(2);
	}
}

int main(int argc, char **argv)
{
	char dir[PATH_MAX], path[PATH_MAX + 32];
	long nfiles = argc > 2 ? atol(argv[2]) : 10000;
	struct stat st;
	double t0, t1;
	long i;

	if (argc < 2 || nfiles <= 0) {
		fprintf(stderr, "usage: fuse_metabench DIR [NFILES]\n");
		return 2;
	}
	if (snprintf(dir, sizeof(dir), "%s/metabench.%d", argv[1],
	             (int)getpid()) >= (int)sizeof(dir) ||
	    mkdir(dir, 0755) < 0) {
		fprintf(stderr, "fuse_metabench: mkdir in %s: %s\n", argv[1],
		        strerror(errno));
		return 1;
	}

	t0 = now();
	for (i = 0; i < nfiles; i++) {
		name_of(path, sizeof(path), dir, i);
		int fd = open(path, O_CREAT | O_EXCL | O_WRONLY, 0644);
		if (fd < 0 || close(fd) < 0)
			goto fail;
	}
	t1 = now();
	printf("meta_create %.0f ops/s\n", (double)nfiles / (t1 - t0));

	/* twice: the second pass finds what a file system caches cached */
	for (int pass = 0; pass < 2; pass++) {
		t0 = now();
		for (i = 0; i < nfiles; i++) {
			name_of(path, sizeof(path), dir, i);
			if (stat(path, &st) < 0)
				goto fail;
		}
		t1 = now();
		printf("%s %.0f ops/s\n", pass ? "meta_restat" : "meta_stat",
		       (double)nfiles / (t1 - t0));
	}

	long seen = 0;
	t0 = now();
	for (int pass = 0; pass < 5; pass++) {
		DIR *d = opendir(dir);
		struct dirent *e;
		if (!d)
			goto fail;
		errno = 0;
		while ((e = readdir(d)))
			seen++;
		if (errno) {
			closedir(d);
			goto fail;
		}
		closedir(d);
	}
	t1 = now();
	if (seen != 5 * (nfiles + 2)) {
		fprintf(stderr,
		        "fuse_metabench: listed %ld entries, want %ld\n", seen,
		        5 * (nfiles + 2));
		return 1;
	}
	printf("meta_list %.0f entries/s\n", (double)seen / (t1 - t0));

	t0 = now();
	for (i = 0; i < nfiles; i++) {
		name_of(path, sizeof(path), dir, i);
		if (unlink(path) < 0)
			goto fail;
	}
	t1 = now();
	printf("meta_unlink %.0f ops/s\n", (double)nfiles / (t1 - t0));
	if (rmdir(dir) < 0)
		goto fail;
	return 0;

fail:
	fprintf(stderr, "fuse_metabench: %s: %s\n", path, strerror(errno));
	return 1;
}
