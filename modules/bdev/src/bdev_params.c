/*
 * bdev create parameters: compose-entry parsing and the checks that turn
 * bad input into clear errors before anything is created.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "chimaera/error.h"
#include "chimaera/log.h"
#include "bdev_i.h"

#define RAM_PREFIX "ram::"

static bool is_pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

/* The directory part of path, in buf. */
static void dir_of(char *buf, size_t size, const char *path)
{
	char tmp[sizeof(((chi_bdev_params *)0)->path)];

	snprintf(tmp, sizeof(tmp), "%s", path);
	snprintf(buf, size, "%s", dirname(tmp));
}

/*
 * Room on the filesystem.  The file is sparse, so a capacity larger than
 * the free space is not wrong by itself: blocks are taken as data is
 * written, and a write that finds the filesystem full fails with -ENOSPC
 * then.  What can never work is a capacity above the filesystem's total
 * size: that is refused.  Free space below the capacity is only a warning
 * (the device can be used, but cannot be filled).
 */
static int check_room(const char *path, const char *dir, uint64_t capacity)
{
	struct statvfs vfs;
	struct stat st;
	uint64_t total, avail, held = 0;

	if (statvfs(dir, &vfs) != 0)
		return chi_error_set(-errno,
		                     "bdev: %s: cannot stat the "
		                     "filesystem of %s: %s",
		                     path, dir, strerror(errno));
	total = (uint64_t)vfs.f_blocks * vfs.f_frsize;
	avail = (uint64_t)vfs.f_bavail * vfs.f_frsize;
	if (stat(path, &st) == 0)
		held = (uint64_t)st.st_blocks * 512; /* already allocated */
	if (total && capacity > total)
		return chi_error_set(-ENOSPC,
		                     "bdev: %s: capacity %llu bytes exceeds "
		                     "the size of its filesystem (%llu bytes)",
		                     path, (unsigned long long)capacity,
		                     (unsigned long long)total);
	if (avail + held < capacity)
		CHI_WARN("bdev",
		         "%s: capacity %llu bytes but only %llu bytes free on "
		         "its filesystem: writes fail with ENOSPC when it "
		         "fills",
		         path, (unsigned long long)capacity,
		         (unsigned long long)(avail + held));
	return 0;
}

static int check_file_target(const char *path, uint64_t capacity)
{
	char dir[PATH_MAX];
	struct stat st;

	if (!path[0])
		return chi_error_set(-EINVAL,
		                     "bdev: a file device needs a path");
	if (strncmp(path, RAM_PREFIX, strlen(RAM_PREFIX)) == 0)
		return chi_error_set(-EINVAL,
		                     "bdev: %s: a file device cannot have a "
		                     "\"ram::\" path",
		                     path);
	dir_of(dir, sizeof(dir), path);
	if (stat(dir, &st) != 0)
		return chi_error_set(
		    -errno, "bdev: %s: directory %s: %s", path, dir,
		    errno == ENOENT ? "does not exist" : strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return chi_error_set(
		    -ENOTDIR, "bdev: %s: %s is not a directory", path, dir);
	if (stat(path, &st) == 0) {
		if (S_ISDIR(st.st_mode))
			return chi_error_set(-EISDIR,
			                     "bdev: %s: is a directory", path);
		if (access(path, R_OK | W_OK) != 0)
			return chi_error_set(-errno,
			                     "bdev: %s: no read/write "
			                     "permission: %s",
			                     path, strerror(errno));
	} else if (errno != ENOENT) {
		return chi_error_set(-errno, "bdev: %s: %s", path,
		                     strerror(errno));
	} else if (access(dir, W_OK | X_OK) != 0) {
		return chi_error_set(-errno,
		                     "bdev: %s: cannot create the file in %s: "
		                     "%s",
		                     path, dir, strerror(errno));
	}
	return check_room(path, dir, capacity);
}

int bdev__params_check(chi_bdev_params *out, const chi_bdev_params *in)
{
	const char *name = in->path[0] ? in->path : "(unnamed)";

	*out = *in;
	out->path[sizeof(out->path) - 1] = '\0';
	if (in->type != CHI_BDEV_RAM && in->type != CHI_BDEV_FILE)
		return chi_error_set(-EINVAL,
		                     "bdev: %s: bad type %d (ram or "
		                     "file)",
		                     name, (int)in->type);
	if (!out->alignment)
		out->alignment = BDEV_DEFAULT_ALIGNMENT;
	if (!is_pow2(out->alignment) || out->alignment < BDEV_MIN_ALIGNMENT ||
	    out->alignment > BDEV_MAX_ALIGNMENT)
		return chi_error_set(-EINVAL,
		                     "bdev: %s: alignment %u must be a power "
		                     "of two from %u to %u",
		                     name, in->alignment, BDEV_MIN_ALIGNMENT,
		                     BDEV_MAX_ALIGNMENT);
	if (!out->io_depth)
		out->io_depth = BDEV_DEFAULT_IO_DEPTH;
	if (out->io_depth > BDEV_MAX_IO_DEPTH)
		return chi_error_set(-EINVAL,
		                     "bdev: %s: io_depth %u is above %u", name,
		                     in->io_depth, BDEV_MAX_IO_DEPTH);
	if (!in->capacity)
		return chi_error_set(-EINVAL, "bdev: %s: capacity is zero",
		                     name);
	out->capacity = in->capacity / out->alignment * out->alignment;
	if (!out->capacity)
		return chi_error_set(-EINVAL,
		                     "bdev: %s: capacity %llu is smaller than "
		                     "the alignment %u",
		                     name, (unsigned long long)in->capacity,
		                     out->alignment);
	if (out->type == CHI_BDEV_FILE)
		return check_file_target(out->path, out->capacity);
	return 0;
}

/* Keys a chimaera_bdev compose entry may have (the runtime's own first). */
static const char *const known_keys[] = {
    "mod_name",  "pool_name", "pool_query", "pool_id",   "num_containers",
    "bdev_type", "capacity",  "io_depth",   "alignment", NULL,
};

int bdev__parse_params(const chi_conf_node *entry, void **out_params,
                       size_t *out_size)
{
	chi_bdev_params *p = calloc(1, sizeof(*p));
	const chi_conf_node *node;
	const char *pool_name = NULL, *type = NULL;
	uint64_t capacity = 0;
	int rc;

	*out_params = NULL;
	*out_size = 0;
	if (!p)
		return -ENOMEM;
	chi_conf_warn_unknown(entry, known_keys, "chimaera_bdev compose entry");
	rc = chi_conf_get_str(entry, "pool_name", &pool_name);
	if (rc)
		goto out;
	if (!pool_name || !pool_name[0]) {
		rc = chi_conf_error(entry, -EINVAL,
		                    "pool_name: required (\"ram::<name>\" or "
		                    "a file path)");
		goto out;
	}
	rc = chi_conf_get_str(entry, "bdev_type", &type);
	if (rc)
		goto out;
	if (!type) {
		/* absent: the pool name says which */
		p->type = strncmp(pool_name, RAM_PREFIX, strlen(RAM_PREFIX))
		              ? CHI_BDEV_FILE
		              : CHI_BDEV_RAM;
	} else if (strcasecmp(type, "ram") == 0) {
		p->type = CHI_BDEV_RAM;
	} else if (strcasecmp(type, "file") == 0) {
		p->type = CHI_BDEV_FILE;
	} else {
		rc = chi_conf_error(chi_conf_get(entry, "bdev_type"), -EINVAL,
		                    "\"%s\" is not a bdev type (ram or file)",
		                    type);
		goto out;
	}
	if (strlen(pool_name) >= sizeof(p->path)) {
		rc = chi_conf_error(chi_conf_get(entry, "pool_name"), -EINVAL,
		                    "path longer than %zu bytes",
		                    sizeof(p->path) - 1);
		goto out;
	}
	strcpy(p->path, pool_name);
	node = chi_conf_get(entry, "capacity");
	if (!node) {
		rc = chi_conf_error(entry, -EINVAL,
		                    "capacity: required (a size such as "
		                    "\"512MB\")");
		goto out;
	}
	rc = chi_conf_get_size(entry, "capacity", &capacity);
	if (rc)
		goto out;
	if (!capacity) {
		rc = chi_conf_error(node, -EINVAL, "must be greater than 0");
		goto out;
	}
	p->capacity = capacity;
	rc = chi_conf_get_u32(entry, "io_depth", &p->io_depth);
	if (rc)
		goto out;
	node = chi_conf_get(entry, "io_depth");
	if (node && (!p->io_depth || p->io_depth > BDEV_MAX_IO_DEPTH)) {
		rc = chi_conf_error(node, -EINVAL, "must be 1 to %u",
		                    BDEV_MAX_IO_DEPTH);
		goto out;
	}
	rc = chi_conf_get_u32(entry, "alignment", &p->alignment);
	if (rc)
		goto out;
	node = chi_conf_get(entry, "alignment");
	if (node &&
	    (!is_pow2(p->alignment) || p->alignment < BDEV_MIN_ALIGNMENT ||
	     p->alignment > BDEV_MAX_ALIGNMENT)) {
		rc = chi_conf_error(node, -EINVAL,
		                    "must be a power of two from %u to %u",
		                    BDEV_MIN_ALIGNMENT, BDEV_MAX_ALIGNMENT);
		goto out;
	}
	if (p->capacity <
	    (p->alignment ? p->alignment : BDEV_DEFAULT_ALIGNMENT)) {
		rc = chi_conf_error(chi_conf_get(entry, "capacity"), -EINVAL,
		                    "smaller than the alignment");
		goto out;
	}
	*out_params = p;
	*out_size = sizeof(*p);
	p = NULL;
out:
	free(p);
	return rc;
}
