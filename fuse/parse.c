/*
 * cte-fuse: command-line parsing (pure: no runtime, no FUSE session), kept
 * apart from main.c so unit tests can drive it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "ctefs_i.h"

/* Options libfuse's mount code understands, passed on unchanged. */
static const char *const passed_opts[] = {
    "allow_other",
    "allow_root",
    "default_permissions",
    "auto_unmount",
    "ro",
    "rw",
    "suid",
    "nosuid",
    "dev",
    "nodev",
    "exec",
    "noexec",
    "async",
    "sync",
    "dirsync",
    "atime",
    "noatime",
    "diratime",
    "nodiratime",
    "relatime",
    "norelatime",
    "strictatime",
    "nostrictatime",
    "lazytime",
    "nolazytime",
    NULL,
};
static const char *const passed_prefixes[] = {
    "fsname=",
    "subtype=",
    "max_read=",
    NULL,
};
/* Options of mount(8)/fstab that mean nothing here. */
static const char *const ignored_opts[] = {
    "defaults", "auto",   "noauto", "user",    "users",    "nouser",
    "owner",    "group",  "nofail", "_netdev", "nonempty", "remount",
    "bind",     "loop",   "silent", "loud",    "iversion", "noiversion",
    "mand",     "nomand", NULL,
};

/* Prefixes of options mount(8) repeats from /proc/mounts or fstab. */
static const char *const ignored_prefixes[] = {
    "x-",        "comment=", "user_id=", "group_id=",
    "rootmode=", "fd=",      "blksize=", NULL,
};

static bool in_list(const char *const *list, const char *s)
{
	for (; *list; list++)
		if (strcmp(*list, s) == 0)
			return true;
	return false;
}

static bool has_prefix_in(const char *const *list, const char *s)
{
	for (; *list; list++)
		if (strncmp(s, *list, strlen(*list)) == 0)
			return true;
	return false;
}

int ctefs__append_opt(char **list, const char *opt)
{
	char *joined;
	int n;

	if (*list)
		n = asprintf(&joined, "%s,%s", *list, opt);
	else
		n = asprintf(&joined, "%s", opt);
	if (n < 0)
		return -ENOMEM;
	free(*list);
	*list = joined;
	return 0;
}

static int parse_seconds(const char *opt, const char *text, double *out)
{
	char *end;
	double v = strtod(text, &end);

	if (end == text || *end || v < 0 || v != v) {
		fprintf(stderr, "cte-fuse: -o %s: not a number of seconds\n",
		        opt);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

static int parse_o(struct ctefs_opts *o, const char *list, bool *remount)
{
	char *copy = strdup(list), *opt, *save = NULL;
	int ret = 0;

	if (!copy)
		return -ENOMEM;
	for (opt = strtok_r(copy, ",", &save); opt && !ret;
	     opt = strtok_r(NULL, ",", &save)) {
		if (strncmp(opt, "config=", 7) == 0) {
			o->config_path = strdup(opt + 7);
		} else if (strcmp(opt, "no_writeback") == 0 ||
		           strcmp(opt, "no_writeback_cache") == 0) {
			o->writeback = false;
		} else if (strcmp(opt, "writeback") == 0 ||
		           strcmp(opt, "writeback_cache") == 0) {
			o->writeback = true;
		} else if (strcmp(opt, "no_killpriv_v2") == 0) {
			o->killpriv_v2 = false;
		} else if (strcmp(opt, "killpriv_v2") == 0) {
			o->killpriv_v2 = true;
		} else if (strcmp(opt, "readdirplus") == 0) {
			o->readdirplus = true;
		} else if (strcmp(opt, "no_readdirplus") == 0) {
			o->readdirplus = false;
		} else if (strncmp(opt, "attr_timeout=", 13) == 0) {
			ret = parse_seconds(opt, opt + 13, &o->attr_timeout);
		} else if (strncmp(opt, "entry_timeout=", 14) == 0) {
			ret = parse_seconds(opt, opt + 14, &o->entry_timeout);
		} else if (strncmp(opt, "dirty_ratio=", 12) == 0) {
			char *end;
			unsigned long v = strtoul(opt + 12, &end, 10);
			if (end == opt + 12 || *end || v > 100) {
				fprintf(stderr,
				        "cte-fuse: -o %s: not a percentage\n",
				        opt);
				ret = -EINVAL;
			}
			o->dirty_ratio = (unsigned)v;
		} else if (strncmp(opt, "max_threads=", 12) == 0) {
			o->max_threads = (unsigned)strtoul(opt + 12, NULL, 10);
		} else if (strcmp(opt, "debug") == 0) {
			o->debug = true;
			o->foreground = true;
		} else if (in_list(passed_opts, opt) ||
		           has_prefix_in(passed_prefixes, opt)) {
			if (strcmp(opt, "ro") == 0 || strcmp(opt, "rw") == 0)
				o->read_only = opt[1] == 'o';
			ret = ctefs__append_opt(&o->fuse_opts, opt);
		} else if (strcmp(opt, "remount") == 0) {
			*remount = true;
		} else if (in_list(ignored_opts, opt) ||
		           has_prefix_in(ignored_prefixes, opt)) {
			continue;
		} else {
			fprintf(stderr, "cte-fuse: ignoring mount option %s\n",
			        opt);
		}
	}
	free(copy);
	return ret;
}

static bool is_regular_file(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/*
 * `mount -o remount,...` runs us again on a live mount: change the
 * superblock flags the kernel handles itself, start nothing.
 */
static int do_remount(const struct ctefs_opts *o)
{
	unsigned long flags = MS_REMOUNT | (o->read_only ? MS_RDONLY : 0);

	if (mount(NULL, o->mountpoint, NULL, flags, NULL)) {
		fprintf(stderr, "cte-fuse: remount %s: %s\n", o->mountpoint,
		        strerror(errno));
		return 1;
	}
	return 0;
}

int ctefs__parse_args(struct ctefs_opts *o, int argc, char **argv)
{
	const char *words[3];
	bool remount = false;
	size_t n_words = 0;
	int i, ret = 0;

	memset(o, 0, sizeof(*o));
	o->writeback = true;
	o->killpriv_v2 = true;
	o->readdirplus = true;
	o->dirty_ratio = CTEFS_DEFAULT_DIRTY_RATIO;
	o->attr_timeout = CTEFS_DEFAULT_TIMEOUT;
	o->entry_timeout = CTEFS_DEFAULT_TIMEOUT;
	for (i = 1; i < argc && !ret; i++) {
		const char *arg = argv[i];
		if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
			o->show_help = true;
		} else if (strcmp(arg, "-V") == 0 ||
		           strcmp(arg, "--version") == 0) {
			o->show_version = true;
		} else if (strcmp(arg, "-f") == 0) {
			o->foreground = true;
		} else if (strcmp(arg, "-d") == 0) {
			o->debug = true;
			o->foreground = true;
		} else if (strcmp(arg, "-s") == 0) {
			o->single_thread = true;
		} else if (strcmp(arg, "-c") == 0 ||
		           strcmp(arg, "--config") == 0) {
			if (i + 1 >= argc) {
				fprintf(stderr, "cte-fuse: %s needs a file\n",
				        arg);
				ret = -EINVAL;
				break;
			}
			o->config_path = argv[++i];
		} else if (strncmp(arg, "--config=", 9) == 0) {
			o->config_path = arg + 9;
		} else if (strcmp(arg, "-o") == 0) {
			if (i + 1 >= argc) {
				fprintf(stderr, "cte-fuse: -o needs options\n");
				ret = -EINVAL;
				break;
			}
			ret = parse_o(o, argv[++i], &remount);
		} else if (strncmp(arg, "-o", 2) == 0) {
			ret = parse_o(o, arg + 2, &remount);
		} else if (arg[0] == '-' && arg[1] != '\0') {
			fprintf(stderr,
			        "cte-fuse: unknown option %s (try -h)\n", arg);
			ret = -EINVAL;
		} else if (n_words < 3) {
			words[n_words++] = arg;
		} else {
			fprintf(stderr, "cte-fuse: too many arguments\n");
			ret = -EINVAL;
		}
	}
	if (ret || o->show_help || o->show_version)
		return ret;
	if (n_words == 0 || n_words > 2) {
		fprintf(stderr, "cte-fuse: %s (try -h)\n",
		        n_words ? "too many arguments" : "missing mountpoint");
		return -EINVAL;
	}
	o->mountpoint = words[n_words - 1];
	if (n_words == 2 && !o->config_path && is_regular_file(words[0]))
		o->config_path = words[0];
	if (remount)
		exit(do_remount(o));
	return 0;
}

int ctefs__parse_score(const char *value, size_t size, double *out)
{
	char text[64], *end;
	size_t len;
	double v;

	if (!value || size == 0 || size >= sizeof(text))
		return -EINVAL;
	memcpy(text, value, size);
	text[size] = '\0';
	len = strlen(text);
	/* a trailing NUL (from tools that count it) is fine, others not */
	for (size_t i = len; i < size; i++)
		if (value[i] != '\0')
			return -EINVAL;
	if (len == 0)
		return -EINVAL;
	errno = 0;
	v = strtod(text, &end);
	if (end == text || errno == ERANGE)
		return -EINVAL;
	while (*end == ' ' || *end == '\t' || *end == '\n')
		end++;
	if (*end != '\0' || !isfinite(v) || v < 0.0 || v > 1.0)
		return -EINVAL;
	*out = v;
	return 0;
}
