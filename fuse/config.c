/*
 * cte-fuse: configuration.  The runtime's config file if it defines a CTE
 * pool, else the daemon's built-in default: a RAM tier (score 1.0) and a
 * file tier under $XDG_DATA_HOME/cte-fuse or ~/.local/share/cte-fuse
 * (score 0.2), sized for this machine: a quarter of the free space at the
 * first start, and never smaller than the tier's file after that.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "ctefs_i.h"

#define MIB            (1024ull * 1024)
#define GIB            (1024ull * MIB)
#define RAM_TIER_MAX   (1 * GIB)
#define FILE_TIER_MAX  (64 * GIB)
#define TIER_MIN       (64 * MIB)
#define TIER_ID_BLOCK  4096 /* CTE's identity block past the capacity */
#define FILE_TIER_NAME "file_tier.dat"
#define RAM_TIER_NAME  "ram::cte_fuse_ram"

static bool is_builtin(const chi_config *cfg)
{
	return !cfg->path || strcmp(cfg->path, "<built-in>") == 0;
}

/* The CTE pool the config creates: its name, or NULL if none. */
static const char *find_cte_pool(const chi_config *cfg)
{
	size_t i;

	if (cfg->compose) {
		for (i = 0; i < cfg->compose->n_children; i++) {
			const chi_conf_node *entry = &cfg->compose->children[i];
			const char *mod = NULL, *pool = CTE_DEFAULT_POOL_NAME;
			if (entry->type != CHI_CONF_MAP)
				continue;
			if (chi_conf_get_str(entry, "mod_name", &mod) || !mod ||
			    strcmp(mod, CTE_MODULE_NAME) != 0)
				continue;
			chi_conf_get_str(entry, "pool_name", &pool);
			return pool;
		}
	}
	if (cfg->cte_flat)
		return CTE_DEFAULT_POOL_NAME;
	return NULL;
}

/* mkdir -p */
static int make_dirs(const char *path)
{
	char *copy = strdup(path), *p;
	int ret = 0;

	if (!copy)
		return -ENOMEM;
	for (p = copy + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(copy, 0700) && errno != EEXIST)
			ret = -errno;
		*p = '/';
		if (ret)
			goto out;
	}
	if (mkdir(copy, 0700) && errno != EEXIST)
		ret = -errno;
out:
	if (ret)
		chi_error_set(ret, "%s: cannot create directory: %s", copy,
		              strerror(-ret));
	free(copy);
	return ret;
}

/* $XDG_DATA_HOME/cte-fuse, else ~/.local/share/cte-fuse (malloc'd). */
static int data_dir(char **out)
{
	const char *xdg = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
	int n;

	if (xdg && xdg[0] == '/') {
		n = asprintf(out, "%s/cte-fuse", xdg);
	} else {
		if (!home || !home[0]) {
			struct passwd *pw = getpwuid(getuid());
			home = pw ? pw->pw_dir : NULL;
		}
		if (!home)
			return chi_error_set(-ENOENT,
			                     "no HOME to put the file tier in");
		n = asprintf(out, "%s/.local/share/cte-fuse", home);
	}
	return n < 0 ? -ENOMEM : 0;
}

/*
 * The size of an existing file tier (0: none): its file's size less the
 * identity block CTE keeps past the capacity, rounded up to a MiB.  The
 * bdev never shrinks the file, so this is at least the capacity the store
 * was last started with.
 */
static uint64_t existing_tier(const char *file)
{
	struct stat st;
	uint64_t size;

	if (stat(file, &st) || !S_ISREG(st.st_mode))
		return 0;
	size = (uint64_t)st.st_size > TIER_ID_BLOCK
	           ? (uint64_t)st.st_size - TIER_ID_BLOCK
	           : 0;
	return (size + MIB - 1) / MIB * MIB;
}

/* Write s into a YAML double-quoted scalar (escaping " and \). */
static void yaml_quote(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

static int make_default(chi_config **out, const chi_config *user, bool verbose)
{
	char *dir = NULL, *file = NULL, *yaml = NULL;
	uint64_t ram, ram_tier, file_free, file_tier, existing;
	size_t yaml_len = 0;
	struct statvfs sv;
	FILE *f = NULL;
	int ret;

	ret = data_dir(&dir);
	if (ret)
		goto out;
	ret = make_dirs(dir);
	if (ret)
		goto out;
	if (statvfs(dir, &sv)) {
		ret = chi_error_set(-errno, "%s: statvfs: %s", dir,
		                    strerror(errno));
		goto out;
	}
	if (asprintf(&file, "%s/%s", dir, FILE_TIER_NAME) < 0) {
		file = NULL;
		ret = -ENOMEM;
		goto out;
	}
	ram =
	    (uint64_t)sysconf(_SC_PHYS_PAGES) * (uint64_t)sysconf(_SC_PAGESIZE);
	ram_tier = ram / 8 < RAM_TIER_MAX ? ram / 8 : RAM_TIER_MAX;
	ram_tier = ram_tier / MIB * MIB;
	file_free = (uint64_t)sv.f_bavail * sv.f_frsize;
	file_tier =
	    file_free / 4 < FILE_TIER_MAX ? file_free / 4 : FILE_TIER_MAX;
	file_tier = file_tier / MIB * MIB;
	existing = existing_tier(file);
	if (existing > file_tier) /* never shrink a tier: it holds data */
		file_tier = existing;
	if (ram_tier < TIER_MIN)
		ram_tier = TIER_MIN;
	if (file_tier < TIER_MIN) {
		ret = chi_error_set(-ENOSPC,
		                    "%s: only %llu MiB free, the file tier "
		                    "needs %llu MiB",
		                    dir, (unsigned long long)(file_free / MIB),
		                    (unsigned long long)(TIER_MIN / MIB));
		goto out;
	}

	f = open_memstream(&yaml, &yaml_len);
	if (!f) {
		ret = -ENOMEM;
		goto out;
	}
	fprintf(f, "runtime:\n");
	if (user) {
		fprintf(f, "  num_threads: %u\n", user->num_threads);
		fprintf(f, "  queue_depth: %u\n", user->queue_depth);
		if (user->module_path) {
			fprintf(f, "  module_path: ");
			yaml_quote(f, user->module_path);
			fputc('\n', f);
		}
	} else {
		fprintf(f, "  num_threads: 4\n");
	}
	fprintf(f,
	        "compose:\n"
	        "  - mod_name: %s\n"
	        "    pool_name: %s\n"
	        "    pool_query: local\n"
	        "    pool_id: \"512.0\"\n"
	        "    storage:\n"
	        "      - path: \"%s\"\n"
	        "        bdev_type: ram\n"
	        "        capacity_limit: \"%lluMB\"\n"
	        "        score: 1.0\n"
	        "      - path: ",
	        CTE_MODULE_NAME, CTE_DEFAULT_POOL_NAME, RAM_TIER_NAME,
	        (unsigned long long)(ram_tier / MIB));
	yaml_quote(f, file);
	fprintf(f,
	        "\n"
	        "        bdev_type: file\n"
	        "        capacity_limit: \"%lluMB\"\n"
	        "        score: 0.2\n",
	        (unsigned long long)(file_tier / MIB));
	if (fclose(f)) {
		f = NULL;
		ret = -ENOMEM;
		goto out;
	}
	f = NULL;
	ret = chi_config_load_string(out, yaml, "<cte-fuse default>");
	if (ret)
		goto out;
	if (verbose) {
		printf("cte-fuse: default tiers:\n"
		       "  ram   %-40s %8llu MiB  score 1.0\n"
		       "  file  %-40s %8llu MiB  score 0.2\n",
		       RAM_TIER_NAME, (unsigned long long)(ram_tier / MIB),
		       file, (unsigned long long)(file_tier / MIB));
		fflush(stdout);
	}
out:
	if (f)
		fclose(f);
	free(yaml);
	free(file);
	free(dir);
	return ret;
}

int ctefs__config_load(chi_config **out, char **out_pool,
                       const char *config_path, bool verbose)
{
	chi_config *cfg = NULL, *generated = NULL;
	const char *pool;
	int ret;

	*out = NULL;
	*out_pool = NULL;
	ret = chi_config_load(&cfg, config_path);
	if (ret)
		goto out;
	pool = find_cte_pool(cfg);
	if (pool && !is_builtin(cfg)) {
		*out_pool = strdup(pool);
		if (!*out_pool) {
			ret = -ENOMEM;
			goto out;
		}
		if (verbose)
			printf("cte-fuse: config %s, CTE pool %s\n", cfg->path,
			       pool);
		*out = cfg;
		cfg = NULL;
		goto out;
	}
	if (verbose && !is_builtin(cfg))
		printf("cte-fuse: %s defines no %s pool\n", cfg->path,
		       CTE_MODULE_NAME);
	ret = make_default(&generated, is_builtin(cfg) ? NULL : cfg, verbose);
	if (ret)
		goto out;
	*out_pool = strdup(CTE_DEFAULT_POOL_NAME);
	if (!*out_pool) {
		chi_config_free(generated);
		ret = -ENOMEM;
		goto out;
	}
	*out = generated;
out:
	chi_config_free(cfg);
	return ret;
}
