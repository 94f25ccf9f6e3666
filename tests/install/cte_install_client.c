/*
 * An external CTE client, built against an installed tree only:
 *
 *   cc cte_install_client.c $(pkg-config --cflags --libs cte)
 *   cte_install_client LIBDIR
 *
 * Starts the runtime embedded in this process with a RAM-only CTE pool,
 * creates a tag, puts a blob, gets it back and compares the bytes (by
 * name through cte.h and through a tag handle, tag.h), and checks that
 * libchimaera, the client libraries and the three modules (admin, bdev,
 * CTE) were all loaded from LIBDIR.  Exits 0 when all of that holds.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chimaera/chimaera.h"
#include "cte/cte.h"
#include "cte/tag.h"

#define BLOB_SIZE (3u * 1024 * 1024 + 123) /* several blocks, a partial one */

static const char *const expected_libs[] = {
    "libchimaera.so",
    "libchimaera_bdev_client.so",
    "libcte_client.so",
    "libchimaera_admin_runtime.so",
    "libchimaera_bdev_runtime.so",
    "libwrp_cte_core_runtime.so",
};
#define N_LIBS (sizeof(expected_libs) / sizeof(expected_libs[0]))

static const char yaml[] = "runtime:\n"
                           "  num_threads: 2\n"
                           "compose:\n"
                           "  - mod_name: wrp_cte_core\n"
                           "    pool_name: cte_install\n"
                           "    pool_id: \"512.0\"\n"
                           "    pool_query: local\n"
                           "    storage:\n"
                           "      - path: \"ram::cte_install_ram\"\n"
                           "        bdev_type: ram\n"
                           "        capacity_limit: 64MB\n"
                           "        score: 1.0\n"
                           "    performance:\n"
                           "      stat_targets_period_ms: 0\n";

struct lib_check {
	const char *libdir; /* realpath of LIBDIR */
	int found[N_LIBS];
	int bad;
};

static int fail(const char *what, int rc)
{
	fprintf(stderr, "cte_install_client: %s: %s (%s)\n", what,
	        strerror(rc < 0 ? -rc : rc), chi_error_last());
	return 1;
}

/* dl_iterate_phdr callback: note where each expected library came from. */
static int check_lib(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct lib_check *lc = arg;
	const char *name = info->dlpi_name, *base;
	char dir[PATH_MAX], real[PATH_MAX];
	size_t n;

	(void)size;
	if (!name || !*name)
		return 0;
	base = strrchr(name, '/');
	base = base ? base + 1 : name;
	for (size_t i = 0; i < N_LIBS; i++) {
		n = strlen(expected_libs[i]);
		/* libchimaera.so.0 is what the dynamic linker loads */
		if (strncmp(base, expected_libs[i], n) != 0 ||
		    (base[n] != '\0' && base[n] != '.'))
			continue;
		snprintf(dir, sizeof(dir), "%.*s", (int)(base - name), name);
		if (!realpath(dir[0] ? dir : ".", real) ||
		    strcmp(real, lc->libdir) != 0) {
			fprintf(stderr,
			        "cte_install_client: %s loaded from %s, "
			        "not from %s\n",
			        base, name, lc->libdir);
			lc->bad = 1;
		}
		lc->found[i] = 1;
	}
	return 0;
}

static int check_libs(const char *libdir)
{
	struct lib_check lc;
	char real[PATH_MAX];

	memset(&lc, 0, sizeof(lc));
	if (!realpath(libdir, real)) {
		perror(libdir);
		return 1;
	}
	lc.libdir = real;
	dl_iterate_phdr(check_lib, &lc);
	for (size_t i = 0; i < N_LIBS; i++) {
		if (!lc.found[i]) {
			fprintf(stderr, "cte_install_client: %s not loaded\n",
			        expected_libs[i]);
			lc.bad = 1;
		}
	}
	return lc.bad;
}

static int run(char *data, char *back)
{
	cte_client client;
	cte_tag_handle *tag = NULL;
	cte_id tag_id, blob_id, sub_id;
	uint64_t n = 0, size = 0;
	int rc;

	rc = cte_client_init(&client, "cte_install");
	if (rc)
		return fail("cte_client_init", rc);

	/* by name (cte.h) */
	rc = cte_tag_get_or_create(&client, "/install", &tag_id);
	if (rc)
		return fail("cte_tag_get_or_create", rc);
	rc = cte_put_blob(&client, tag_id, "blob0", 0, data, BLOB_SIZE,
	                  CTE_SCORE_UNSET, &blob_id);
	if (rc)
		return fail("cte_put_blob", rc);
	rc = cte_get_blob(&client, tag_id, "blob0", 0, back, BLOB_SIZE, &n);
	if (rc)
		return fail("cte_get_blob", rc);
	if (n != BLOB_SIZE || memcmp(data, back, BLOB_SIZE) != 0) {
		fprintf(stderr,
		        "cte_install_client: blob0: read back %llu "
		        "bytes that differ from those put\n",
		        (unsigned long long)n);
		return 1;
	}

	/* through a tag handle (tag.h) */
	rc = cte_tag_open(&tag, &client, "/install/sub");
	if (rc)
		return fail("cte_tag_open", rc);
	sub_id = cte_tag_id(tag);
	if (sub_id == CTE_ID_NONE || sub_id == tag_id) {
		fprintf(stderr, "cte_install_client: /install/sub: bad id\n");
		return 1;
	}
	rc = cte_tag_put(tag, "blob1", 7, data, 4096, CTE_SCORE_UNSET);
	if (rc)
		return fail("cte_tag_put", rc);
	memset(back, 0xff, 4096 + 7);
	rc = cte_tag_get(tag, "blob1", 0, back, 4096 + 7, &n);
	if (rc)
		return fail("cte_tag_get", rc);
	if (n != 4096 + 7 || memcmp(back, "\0\0\0\0\0\0\0", 7) != 0 ||
	    memcmp(back + 7, data, 4096) != 0) {
		fprintf(stderr, "cte_install_client: blob1: wrong bytes\n");
		return 1;
	}
	rc = cte_tag_size(tag, &size);
	if (rc)
		return fail("cte_tag_size", rc);
	if (size != 4096 + 7) {
		fprintf(stderr, "cte_install_client: /install/sub: size %llu\n",
		        (unsigned long long)size);
		return 1;
	}
	cte_tag_close(tag);
	return 0;
}

int main(int argc, char **argv)
{
	chi_config *cfg = NULL;
	char *data, *back;
	int rc, bad;

	if (argc != 2) {
		fprintf(stderr, "usage: %s LIBDIR\n", argv[0]);
		return 2;
	}
	data = malloc(BLOB_SIZE);
	back = malloc(BLOB_SIZE);
	if (!data || !back)
		return fail("malloc", -ENOMEM);
	for (size_t i = 0; i < BLOB_SIZE; i++)
		data[i] = (char)(i * 131 + (i >> 12));

	rc = chi_config_load_string(&cfg, yaml, "cte_install_client");
	if (rc)
		return fail("chi_config_load_string", rc);
	rc = chi_init_with_loaded_config(cfg);
	if (rc)
		return fail("chi_init_with_loaded_config", rc);
	bad = run(data, back);
	/* before chi_finalize, which unloads the modules */
	bad |= check_libs(argv[1]);
	chi_finalize();
	free(data);
	free(back);
	if (!bad)
		printf("cte_install_client: ok\n");
	return bad;
}
