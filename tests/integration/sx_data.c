/* syscall_exerciser: file data: open flags, read/write, holes, truncate,
 * fallocate, copy_file_range, lseek, mmap, O_DIRECT, fsync. */
#include "sx_i.h"

void t_open_flags(void)
{
	char buf[64];
	struct stat st;
	int fd;

	REQUIRE_OK(fd = open(P("f"), O_CREAT | O_EXCL | O_RDWR, 0644));
	CHECK(write(fd, "hello world", 11) == 11, "write 11 bytes");
	CHECK_OK(close(fd));

	CHECK_ERR(open(P("f"), O_CREAT | O_EXCL | O_RDWR, 0644), EEXIST);
	CHECK_ERR(open(P("missing"), O_RDONLY), ENOENT);
	CHECK_ERR(open(P("f/x"), O_RDONLY), ENOTDIR);
	CHECK_ERR(open(P("f"), O_RDONLY | O_DIRECTORY), ENOTDIR);
	CHECK_ERR(open(base_dir, O_WRONLY), EISDIR);

	/* O_CREAT without O_EXCL on an existing file keeps its data */
	REQUIRE_OK(fd = open(P("f"), O_CREAT | O_RDWR, 0600));
	CHECK(fstat(fd, &st) == 0 && st.st_size == 11, "size kept: %lld",
	      (long long)st.st_size);
	CHECK((st.st_mode & 07777) == 0644, "mode kept: %o",
	      st.st_mode & 07777);
	close(fd);

	/* O_APPEND: writes land at the end whatever the offset */
	REQUIRE_OK(fd = open(P("f"), O_WRONLY | O_APPEND));
	CHECK(lseek(fd, 0, SEEK_SET) == 0, "lseek 0");
	CHECK(write(fd, "!!", 2) == 2, "append write");
	CHECK(lseek(fd, 0, SEEK_CUR) == 13, "offset after append");
	/* pwrite on O_APPEND appends on Linux (documented bug in pwrite(2)) */
	close(fd);
	REQUIRE_OK(fd = open(P("f"), O_RDONLY));
	memset(buf, 0, sizeof(buf));
	CHECK(read(fd, buf, sizeof(buf)) == 13, "read 13");
	CHECK(memcmp(buf, "hello world!!", 13) == 0, "content '%s'", buf);
	close(fd);

	/* O_TRUNC */
	REQUIRE_OK(fd = open(P("f"), O_WRONLY | O_TRUNC));
	CHECK(fstat(fd, &st) == 0 && st.st_size == 0, "size after O_TRUNC %lld",
	      (long long)st.st_size);
	close(fd);
	CHECK(stat(P("f"), &st) == 0 && st.st_size == 0,
	      "stat size after O_TRUNC");

	/* the create mode honours the umask; read-only modes apply after */
	mode_t old = umask(022);
	REQUIRE_OK(fd = open(P("ro"), O_CREAT | O_EXCL | O_RDWR, 0444));
	CHECK(write(fd, "x", 1) == 1,
	      "write through the fd that created a 0444 file");
	close(fd);
	umask(old);
	CHECK(stat(P("ro"), &st) == 0 && (st.st_mode & 07777) == 0444,
	      "mode 0444: %o", st.st_mode & 07777);

	/* mknod of a regular file */
	CHECK_OK(mknod(P("node"), S_IFREG | 0640, 0));
	CHECK(stat(P("node"), &st) == 0 && S_ISREG(st.st_mode) &&
	          (st.st_mode & 07777) == 0640 && st.st_size == 0,
	      "mknod regular file: mode %o", st.st_mode);
	CHECK_ERR(mknod(P("node"), S_IFREG | 0640, 0), EEXIST);
}

void t_read_write(void)
{
	enum { LEN = 3 * MIB + 123 };
	uint8_t *buf = malloc(LEN), *rd = malloc(LEN);
	int fd;
	long bad;

	REQUIRE(buf && rd, "malloc");
	fill_pattern(buf, LEN, 0, 1);
	REQUIRE_OK(fd = open(P("f"), O_CREAT | O_RDWR, 0644));
	/* sequential writes of odd sizes */
	size_t done = 0, step = 1000;
	while (done < LEN) {
		size_t n = LEN - done < step ? LEN - done : step;
		ssize_t w = write(fd, buf + done, n);
		if (w <= 0) {
			CHECK(0, "write at %zu", done);
			break;
		}
		done += (size_t)w;
		step = step * 3 % 300007 + 1;
	}
	CHECK(lseek(fd, 0, SEEK_CUR) == LEN, "offset after writes");
	CHECK(read_full(fd, rd, LEN, 0) == LEN, "read back");
	bad = check_pattern(rd, LEN, 0, 1);
	CHECK(bad < 0, "data differs at %ld", bad);

	/* reads at odd offsets and lengths */
	for (off_t off = 1; off < LEN; off = off * 7 + 4093) {
		size_t len =
		    (size_t)(LEN - off) < 70001 ? (size_t)(LEN - off) : 70001;
		ssize_t n = pread(fd, rd, len, off);
		CHECK(n == (ssize_t)len, "pread %zu at %lld: %zd", len,
		      (long long)off, n);
		if (n > 0) {
			bad = check_pattern(rd, (size_t)n, (uint64_t)off, 1);
			CHECK(bad < 0, "pread at %lld differs at +%ld",
			      (long long)off, bad);
		}
	}
	/* short read at EOF, 0 past EOF */
	CHECK(pread(fd, rd, 100, LEN - 10) == 10, "short read at EOF");
	CHECK(pread(fd, rd, 100, LEN) == 0, "read at EOF returns 0");
	CHECK(pread(fd, rd, 100, LEN + 5000) == 0, "read past EOF returns 0");

	/* overwrite in the middle, across a 1 MiB boundary */
	fill_pattern(buf, 8192, MIB - 4096, 2);
	CHECK(pwrite(fd, buf, 8192, MIB - 4096) == 8192, "overwrite");
	CHECK(read_full(fd, rd, 3 * 4096 * 2, MIB - 8192) == 3 * 8192,
	      "read around overwrite");
	CHECK(check_pattern(rd, 4096, MIB - 8192, 1) < 0, "before overwrite");
	CHECK(check_pattern(rd + 4096, 8192, MIB - 4096, 2) < 0, "overwrite");
	CHECK(check_pattern(rd + 12288, 12288, MIB + 4096, 1) < 0,
	      "after overwrite");

	/* pread/pwrite leave the file offset alone */
	CHECK(lseek(fd, 100, SEEK_SET) == 100, "lseek");
	CHECK(pwrite(fd, "abc", 3, 5000) == 3, "pwrite");
	CHECK(pread(fd, rd, 3, 5000) == 3 && memcmp(rd, "abc", 3) == 0,
	      "pread after pwrite");
	CHECK(lseek(fd, 0, SEEK_CUR) == 100,
	      "offset unchanged by pread/pwrite");
	CHECK(read(fd, rd, 10) == 10 && check_pattern(rd, 10, 100, 1) < 0,
	      "read() continues at offset 100");
	close(fd);

	/* a second descriptor sees what the first wrote without a close */
	int a, b;
	REQUIRE_OK(a = open(P("g"), O_CREAT | O_RDWR, 0644));
	REQUIRE_OK(b = open(P("g"), O_RDWR));
	CHECK(pwrite(a, "0123456789", 10, 0) == 10, "write via a");
	CHECK(pread(b, rd, 20, 0) == 10 && memcmp(rd, "0123456789", 10) == 0,
	      "read via b sees a's write");
	CHECK(pwrite(b, "XY", 2, 4) == 2, "write via b");
	CHECK(pread(a, rd, 20, 0) == 10 && memcmp(rd, "0123XY6789", 10) == 0,
	      "read via a sees b's write");
	close(a);
	close(b);
	free(buf);
	free(rd);
}

void t_sparse(void)
{
	uint8_t *rd = malloc(4 * MIB);
	struct stat st;
	int fd;

	REQUIRE(rd, "malloc");
	REQUIRE_OK(fd = open(P("sparse"), O_CREAT | O_RDWR, 0644));
	CHECK(pwrite(fd, "A", 1, 0) == 1, "write at 0");
	CHECK(pwrite(fd, "Z", 1, 10 * MIB + 7) == 1, "write at 10 MiB");
	CHECK(fstat(fd, &st) == 0 && st.st_size == 10 * MIB + 8,
	      "sparse size %lld", (long long)st.st_size);
	/* A sparse file should not allocate its holes (st_blocks).  A file
	 * system may round allocations up (a 1 MiB block size would give
	 * 4096 blocks): allow up to 4 MiB for two written bytes. */
	CHECK(st.st_blocks < 8192, "st_blocks %lld for a 10 MiB sparse file",
	      (long long)st.st_blocks);
	for (off_t off = 0; off < 10 * MIB + 8; off += 4 * MIB) {
		ssize_t n = pread(fd, rd, 4 * MIB, off);
		REQUIRE(n > 0, "read sparse at %lld", (long long)off);
		if (off == 0) {
			CHECK(rd[0] == 'A', "byte 0");
			rd[0] = 0;
		}
		if (off + n == 10 * MIB + 8) {
			CHECK(rd[n - 1] == 'Z', "last byte");
			rd[n - 1] = 0;
		}
		long nz = first_nonzero(rd, (size_t)n);
		CHECK(nz < 0, "hole at %lld reads non-zero",
		      (long long)off + nz);
	}
	/* a hole inside a written 1 MiB region */
	CHECK(pwrite(fd, "B", 1, 2 * MIB + 100) == 1, "write inside hole");
	CHECK(pread(fd, rd, 200, 2 * MIB) == 200, "read near B");
	CHECK(rd[100] == 'B', "B in place");
	rd[100] = 0;
	CHECK(first_nonzero(rd, 200) < 0, "zeros around B");
	close(fd);
	free(rd);
}

void t_truncate(void)
{
	uint8_t *rd = malloc(2 * MIB);
	struct stat st;
	int fd;

	REQUIRE(rd, "malloc");
	REQUIRE_OK(make_file(P("f"), 2 * MIB, 3));
	REQUIRE_OK(fd = open(P("f"), O_RDWR));
	CHECK_OK(ftruncate(fd, 1000));
	CHECK(fstat(fd, &st) == 0 && st.st_size == 1000, "size after shrink");
	/* grow again: the cut-off bytes must read as zeros, not old data */
	CHECK_OK(ftruncate(fd, 2 * MIB));
	CHECK(fstat(fd, &st) == 0 && st.st_size == 2 * MIB, "size after grow");
	CHECK(read_full(fd, rd, 2 * MIB, 0) == 2 * MIB, "read after grow");
	CHECK(check_pattern(rd, 1000, 0, 3) < 0, "kept bytes");
	long nz = first_nonzero(rd + 1000, 2 * MIB - 1000);
	CHECK(nz < 0, "old data after shrink+grow at %ld", nz + 1000);

	/* shrink to a non-block boundary, then write past it */
	REQUIRE_OK(make_file(P("g"), 100000, 4));
	CHECK_OK(truncate(P("g"), 5000));
	int g;
	REQUIRE_OK(g = open(P("g"), O_RDWR));
	CHECK(pwrite(g, "E", 1, 9999) == 1, "write past new EOF");
	CHECK(pread(g, rd, 20000, 0) == 10000, "size 10000 after write");
	CHECK(check_pattern(rd, 5000, 0, 4) < 0, "first 5000 kept");
	rd[9999] = rd[9999] == 'E' ? 0 : 1;
	CHECK(first_nonzero(rd + 5000, 5000) < 0, "gap reads zero");
	close(g);

	/* truncate to 0 and by path; ftruncate on a read-only fd */
	CHECK_OK(truncate(P("f"), 0));
	CHECK(stat(P("f"), &st) == 0 && st.st_size == 0, "truncate 0");
	int ro;
	REQUIRE_OK(ro = open(P("f"), O_RDONLY));
	CHECK_ERR(ftruncate(ro, 10), EINVAL);
	close(ro);
	CHECK_ERR(truncate(base_dir, 0), EISDIR);
	CHECK_ERR(truncate(P("missing"), 0), ENOENT);
	close(fd);
	free(rd);
}

/* Offsets past 4 GiB: a sparse file with data at 5 GiB. */
void t_large_offsets(void)
{
	const off_t far = 5ll * 1024 * MIB + 12345;
	struct stat st;
	char buf[16];
	int fd;

	REQUIRE_OK(fd = open(P("big"), O_CREAT | O_RDWR, 0644));
	CHECK(pwrite(fd, "far away", 8, far) == 8, "pwrite at 5 GiB");
	CHECK(fstat(fd, &st) == 0 && st.st_size == far + 8, "size %lld",
	      (long long)st.st_size);
	CHECK(pread(fd, buf, 16, far) == 8 && !memcmp(buf, "far away", 8),
	      "pread at 5 GiB");
	CHECK(pread(fd, buf, 8, 4ll * 1024 * MIB) == 8 &&
	          first_nonzero((uint8_t *)buf, 8) < 0,
	      "hole at 4 GiB reads zero");
	CHECK(lseek(fd, 0, SEEK_END) == far + 8, "SEEK_END at 5 GiB");
	/* a sparse 64 GiB size is only a size, even on a small store */
	CHECK_OK(ftruncate(fd, 64ll * 1024 * MIB));
	CHECK(fstat(fd, &st) == 0 && st.st_size == 64ll * 1024 * MIB,
	      "size 64 GiB");
	CHECK(pread(fd, buf, 8, far) == 8 && !memcmp(buf, "far away", 8),
	      "data kept by growing truncate");
	CHECK_OK(ftruncate(fd, far + 4));
	CHECK(pread(fd, buf, 16, far) == 4 && !memcmp(buf, "far ", 4),
	      "shrink to 5 GiB + 4");
	close(fd);
}

void t_fallocate(void)
{
	struct stat st;
	uint8_t *rd = malloc(MIB);
	int fd;

	REQUIRE(rd, "malloc");
	REQUIRE_OK(fd = open(P("f"), O_CREAT | O_RDWR, 0644));
	CHECK(fallocate(fd, 0, 0, MIB) == 0, "fallocate mode 0");
	CHECK(fstat(fd, &st) == 0 && st.st_size == MIB,
	      "size after fallocate: %lld", (long long)st.st_size);
	CHECK(pread(fd, rd, MIB, 0) == MIB && first_nonzero(rd, MIB) < 0,
	      "fallocated range reads zero");
	CHECK(pwrite(fd, "data", 4, 100) == 4, "write");
	CHECK(fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, 4 * MIB) == 0,
	      "fallocate KEEP_SIZE");
	CHECK(fstat(fd, &st) == 0 && st.st_size == MIB,
	      "KEEP_SIZE keeps size: %lld", (long long)st.st_size);
	CHECK(pread(fd, rd, 8, 98) == 8 && !memcmp(rd + 2, "data", 4),
	      "data kept by fallocate");
	/* extending past the end from an offset */
	CHECK(fallocate(fd, 0, 2 * MIB, MIB) == 0, "fallocate past EOF");
	CHECK(fstat(fd, &st) == 0 && st.st_size == 3 * MIB,
	      "size after fallocate past EOF: %lld", (long long)st.st_size);
	CHECK(pread(fd, rd, MIB, MIB) == MIB && first_nonzero(rd, MIB) < 0,
	      "gap reads zero");
	/* posix_fallocate (glibc emulates it when fallocate is missing) */
	CHECK(posix_fallocate(fd, 0, 5 * MIB) == 0, "posix_fallocate");
	CHECK(fstat(fd, &st) == 0 && st.st_size == 5 * MIB, "size 5 MiB");
	CHECK_ERR(fallocate(fd, 0, 0, 0), EINVAL);
	close(fd);

	/* punching a hole: the range reads zeros, the size stays, the
	 * blocks wholly inside it are freed, the bytes around are kept */
	{
		enum { N = 64 * 1024, OFF = 4096 + 10, LEN = 3 * 4096 };
		uint8_t *pat = malloc(N);
		struct stat before;
		int bad = -1;

		REQUIRE(pat, "malloc");
		for (int i = 0; i < N; i++)
			pat[i] = (uint8_t)(1 + i % 253);
		REQUIRE_OK(fd = open(P("holey"), O_CREAT | O_RDWR, 0644));
		CHECK(pwrite(fd, pat, N, 0) == N, "write pattern");
		/* with the write-back cache, st_blocks is refreshed at close */
		CHECK_OK(close(fd));
		REQUIRE_OK(fd = open(P("holey"), O_RDWR));
		CHECK_OK(fstat(fd, &before));
		CHECK(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		                OFF, LEN) == 0,
		      "punch hole: %s", strerror(errno));
		CHECK_OK(fsync(fd));
		CHECK(fstat(fd, &st) == 0 && st.st_size == N,
		      "size after punch: %lld", (long long)st.st_size);
		CHECK(st.st_blocks <= before.st_blocks - 2 * 8,
		      "punch frees blocks: %lld -> %lld",
		      (long long)before.st_blocks, (long long)st.st_blocks);
		memset(pat + OFF, 0, LEN);
		CHECK(pread(fd, rd, N, 0) == N, "read after punch");
		for (int i = 0; i < N && bad < 0; i++)
			if (rd[i] != pat[i])
				bad = i;
		CHECK(bad < 0, "after punch, byte %d differs", bad);
		CHECK_ERR(fallocate(fd, FALLOC_FL_PUNCH_HOLE, 0, 4096),
		          EOPNOTSUPP);
		/* ZERO_RANGE, where the kernel passes it to FUSE */
		if (fallocate(fd, FALLOC_FL_ZERO_RANGE, 100, 50) == 0) {
			memset(pat + 100, 0, 50);
			bad = -1;
			CHECK(pread(fd, rd, N, 0) == N, "read after zero");
			for (int i = 0; i < N && bad < 0; i++)
				if (rd[i] != pat[i])
					bad = i;
			CHECK(bad < 0, "after zero range, byte %d differs",
			      bad);
		} else {
			CHECK(errno == EOPNOTSUPP, "zero range: %s",
			      strerror(errno));
		}
		close(fd);
		free(pat);
	}
	free(rd);
}

void t_copy_file_range(void)
{
	enum { LEN = 3 * MIB + 17 };
	int in, out;
	uint8_t *rd = malloc(LEN);

	REQUIRE(rd, "malloc");
	REQUIRE_OK(make_file(P("src"), LEN, 28));
	REQUIRE_OK(in = open(P("src"), O_RDONLY));
	REQUIRE_OK(out = open(P("dst"), O_CREAT | O_WRONLY | O_TRUNC, 0644));
	size_t done = 0;
	while (done < LEN) {
		ssize_t n = copy_file_range(in, NULL, out, NULL, LEN - done, 0);
		if (n <= 0) {
			CHECK(0, "copy_file_range returned %zd at %zu", n,
			      done);
			break;
		}
		done += (size_t)n;
	}
	CHECK(lseek(in, 0, SEEK_CUR) == LEN && lseek(out, 0, SEEK_CUR) == LEN,
	      "offsets advanced");
	close(out);
	CHECK(file_has_pattern(P("dst"), LEN, 28), "copy matches");
	/* explicit offsets: 1000 bytes from 5000 to 70000 of a new file */
	REQUIRE_OK(out = open(P("dst2"), O_CREAT | O_RDWR, 0644));
	loff_t ino = 5000, outo = 70000;
	CHECK(copy_file_range(in, &ino, out, &outo, 1000, 0) == 1000,
	      "copy with offsets");
	CHECK(ino == 6000 && outo == 71000, "offsets updated");
	CHECK(read_full(out, rd, 100000, 0) == 71000, "size 71000");
	CHECK(first_nonzero(rd, 70000) < 0, "hole before copy");
	CHECK(check_pattern(rd + 70000, 1000, 5000, 28) < 0, "copied bytes");
	/* past EOF of the source: 0 */
	ino = LEN;
	CHECK(copy_file_range(in, &ino, out, NULL, 100, 0) == 0,
	      "copy at EOF returns 0");
	close(out);
	close(in);
	free(rd);
}

void t_lseek(void)
{
	struct stat st;
	int fd;

	REQUIRE_OK(make_file(P("f"), 10000, 29));
	REQUIRE_OK(fd = open(P("f"), O_RDWR));
	CHECK(lseek(fd, 0, SEEK_END) == 10000, "SEEK_END");
	CHECK(lseek(fd, -100, SEEK_END) == 9900, "SEEK_END -100");
	CHECK(lseek(fd, 50, SEEK_CUR) == 9950, "SEEK_CUR");
	CHECK_ERR(lseek(fd, -1, SEEK_SET), EINVAL);
	/* seek past the end and write: a hole */
	CHECK(lseek(fd, 3 * MIB, SEEK_SET) == 3 * MIB, "seek past EOF");
	CHECK(write(fd, "T", 1) == 1, "write past EOF");
	CHECK(fstat(fd, &st) == 0 && st.st_size == 3 * MIB + 1, "size");
	/* SEEK_DATA / SEEK_HOLE: a file system may report everything as
	 * data (the generic implementation does), so only the bounds are
	 * checked: data at 0 is found at 0, a hole exists at or before EOF,
	 * and both are ENXIO at EOF */
	CHECK(lseek(fd, 0, SEEK_DATA) == 0, "SEEK_DATA 0");
	off_t h = lseek(fd, 0, SEEK_HOLE);
	CHECK(h >= 10000 && h <= 3 * MIB + 1, "SEEK_HOLE 0 -> %lld",
	      (long long)h);
	off_t dpos = lseek(fd, 20000, SEEK_DATA);
	CHECK(dpos >= 20000 && dpos <= 3 * MIB, "SEEK_DATA in hole -> %lld",
	      (long long)dpos);
	CHECK_ERR(lseek(fd, 3 * MIB + 1, SEEK_DATA), ENXIO);
	CHECK_ERR(lseek(fd, 3 * MIB + 10, SEEK_HOLE), ENXIO);
	close(fd);
}

void t_mmap(void)
{
	enum { LEN = 2 * MIB };
	uint8_t *rd = malloc(LEN);
	int fd;

	REQUIRE(rd, "malloc");
	REQUIRE_OK(make_file(P("m"), LEN, 34));
	REQUIRE_OK(fd = open(P("m"), O_RDWR));
	/* FUSE: a direct_io file cannot be mmapped (ENODEV) */
	uint8_t *map =
	    mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	REQUIRE(map != MAP_FAILED, "mmap MAP_SHARED");
	CHECK(check_pattern(map, LEN, 0, 34) < 0, "mapped content");
	for (size_t i = 0; i < LEN; i += 4096)
		map[i] = (uint8_t)~pattern_byte(i, 34);
	memcpy(map + MIB + 10, "MAPPED", 6);
	CHECK_OK(msync(map, LEN, MS_SYNC));
	/* read() through the same and another descriptor sees it */
	CHECK(pread(fd, rd, 6, MIB + 10) == 6 && !memcmp(rd, "MAPPED", 6),
	      "read() sees mmap write");
	int fd2;
	REQUIRE_OK(fd2 = open(P("m"), O_RDONLY));
	CHECK(read_full(fd2, rd, LEN, 0) == LEN, "read all");
	int bad = 0;
	for (size_t i = 0; i < LEN; i++) {
		uint8_t want = pattern_byte(i, 34);
		if (i % 4096 == 0)
			want = (uint8_t)~want;
		if (i >= MIB + 10 && i < MIB + 16)
			want = (uint8_t) "MAPPED"[i - MIB - 10];
		if (rd[i] != want) {
			bad = 1;
			CHECK(0, "byte %zu after msync: %u want %u", i, rd[i],
			      want);
			break;
		}
	}
	(void)bad;
	/* a write() is seen through the mapping */
	CHECK(pwrite(fd2 >= 0 ? fd : fd, "WRITE", 5, 100) == 5, "pwrite");
	CHECK(!memcmp(map + 100, "WRITE", 5), "mapping sees write()");
	CHECK_OK(munmap(map, LEN));
	close(fd2);
	close(fd);
	/* after close and reopen */
	REQUIRE_OK(fd = open(P("m"), O_RDONLY));
	CHECK(pread(fd, rd, 6, MIB + 10) == 6 && !memcmp(rd, "MAPPED", 6),
	      "mmap write persists after close");
	/* a private read-only mapping */
	map = mmap(NULL, LEN, PROT_READ, MAP_PRIVATE, fd, 0);
	CHECK(map != MAP_FAILED, "mmap MAP_PRIVATE");
	if (map != MAP_FAILED) {
		CHECK(!memcmp(map + 100, "WRITE", 5), "private mapping");
		munmap(map, LEN);
	}
	close(fd);
	/* extend through ftruncate, then write through the mapping */
	REQUIRE_OK(fd = open(P("grow"), O_CREAT | O_RDWR, 0644));
	CHECK_OK(ftruncate(fd, 8192));
	map = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	REQUIRE(map != MAP_FAILED, "mmap grown file");
	memset(map, 'g', 8192);
	CHECK_OK(msync(map, 8192, MS_SYNC));
	munmap(map, 8192);
	close(fd);
	CHECK(read_full(fd = open(P("grow"), O_RDONLY), rd, 9000, 0) == 8192 &&
	          rd[0] == 'g' && rd[8191] == 'g',
	      "mmap writes into a truncated-up file");
	close(fd);
	free(rd);
}

void t_odirect(void)
{
	enum { LEN = MIB };
	void *wb, *rb;
	int fd, fd2;

	REQUIRE(posix_memalign(&wb, 4096, LEN) == 0 &&
	            posix_memalign(&rb, 4096, LEN) == 0,
	        "posix_memalign");
	fill_pattern(wb, LEN, 0, 35);
	fd = open(P("d"), O_CREAT | O_RDWR | O_DIRECT, 0644);
	REQUIRE(fd >= 0, "open O_DIRECT (tmpfs before 6.6 says EINVAL)");
	CHECK(pwrite(fd, wb, LEN, 0) == LEN, "O_DIRECT write 1 MiB");
	CHECK(pwrite(fd, wb, 4096, LEN + 8192) == 4096,
	      "O_DIRECT write 4 KiB past a hole");
	memset(rb, 0xee, LEN);
	CHECK(pread(fd, rb, LEN, 0) == LEN && check_pattern(rb, LEN, 0, 35) < 0,
	      "O_DIRECT read back");
	/* buffered and direct descriptors agree */
	REQUIRE_OK(fd2 = open(P("d"), O_RDWR));
	uint8_t *tmp = malloc(LEN + 16384);
	REQUIRE(tmp, "malloc");
	CHECK(read_full(fd2, tmp, LEN + 16384, 0) == LEN + 12288,
	      "buffered read of O_DIRECT data: size");
	CHECK(check_pattern(tmp, LEN, 0, 35) < 0, "buffered sees direct data");
	CHECK(first_nonzero(tmp + LEN, 8192) < 0, "hole between");
	CHECK(check_pattern(tmp + LEN + 8192, 4096, 0, 35) < 0, "tail");
	CHECK(pwrite(fd2, "BUFFERED", 8, 4096) == 8, "buffered write");
	memset(rb, 0, 8192);
	CHECK(pread(fd, rb, 8192, 0) == 8192 &&
	          !memcmp((char *)rb + 4096, "BUFFERED", 8),
	      "O_DIRECT read sees a buffered write");
	CHECK_OK(fsync(fd));
	CHECK_OK(fdatasync(fd2));
	close(fd2);
	close(fd);
	free(tmp);
	free(wb);
	free(rb);
}

void t_fsync(void)
{
	int fd;

	REQUIRE_OK(make_file(P("f"), 100000, 36));
	REQUIRE_OK(fd = open(P("f"), O_RDWR));
	CHECK(pwrite(fd, "s", 1, 5) == 1, "write");
	CHECK_OK(fsync(fd));
	CHECK_OK(fdatasync(fd));
	close(fd);
	REQUIRE_OK(fd = open(P("f"), O_RDONLY));
	CHECK_OK(fsync(fd));
	close(fd);
	/* directories: fsync on a dir fd (FUSE answers ENOSYS as 0) */
	REQUIRE_OK(fd = open(base_dir, O_RDONLY | O_DIRECTORY));
	CHECK_OK(fsync(fd));
	close(fd);
	CHECK_OK(syncfs(fd = open(base_dir, O_RDONLY)));
	close(fd);
	sync();
}
