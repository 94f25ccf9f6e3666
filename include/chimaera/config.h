/*
 * The runtime's YAML configuration.
 *
 * One file, read with libyaml into a tree of nodes that remember their file
 * and line, so that every error can name "file:line: key: what is wrong".
 * Lookup order for the file: an explicit path (--config), then
 * $CHI_SERVER_CONF, then $WRP_RUNTIME_CONF, then ~/.chimaera/chimaera.yaml,
 * then the built-in default (chi_config_default_yaml()).
 *
 * Shape (the upstream shape; the CTE documentation's flat form, with
 * worker_count / storage / dpe at the top level, loads too):
 *
 *   runtime:
 *     num_threads: 4
 *     queue_depth: 1024
 *     module_path: /opt/chimaera/lib     # optional, ':'-separated
 *   compose:                             # pools created at start
 *     - mod_name: chimaera_bdev
 *       pool_name: ...
 *       pool_id: "301.0"
 *       pool_query: local
 *       ...module-specific keys, read by the module's parse_params()
 *
 * Unknown keys produce a warning naming file, line and key.  Malformed values
 * are errors; a config with any error is rejected whole (nothing starts).
 */
#ifndef CHIMAERA_CONFIG_H
#define CHIMAERA_CONFIG_H

#include <stddef.h>
#include <stdint.h>

typedef enum chi_conf_type {
	CHI_CONF_SCALAR = 0,
	CHI_CONF_MAP,
	CHI_CONF_SEQ,
} chi_conf_type;

/* One YAML node.  Map children carry their key; seq children have key NULL. */
typedef struct chi_conf_node {
	chi_conf_type type;
	const char *key;   /* key in the parent map, or NULL */
	const char *value; /* scalar text (never NULL for scalars) */
	const char *file;  /* file name for messages ("<built-in>" for default) */
	int line;          /* 1-based line of the node */
	struct chi_conf_node *children;
	size_t n_children;
} chi_conf_node;

/* Parsed runtime configuration. */
typedef struct chi_config {
	char *path;               /* file it came from, or "<built-in>" */
	chi_conf_node *root;      /* the whole tree (owned) */
	uint32_t num_threads;     /* runtime.num_threads / worker_count; default 4 */
	uint32_t queue_depth;     /* runtime.queue_depth; default 1024 */
	char *module_path;        /* runtime.module_path or NULL */
	const chi_conf_node *compose; /* the compose: sequence, or NULL */
	const chi_conf_node *cte_flat; /* root if it has top-level storage:, or NULL */
} chi_config;

/*
 * Load the config: explicit_path if non-NULL, else the lookup order above.
 * On success *out is the caller's to free with chi_config_free().  Errors:
 * -ENOENT (explicit file missing), -EACCES, -EINVAL (malformed; the message
 * from chi_error_last() names file, line and key).
 */
int chi_config_load(chi_config **out, const char *explicit_path);

/* Parse YAML text (file_label is used in messages). */
int chi_config_load_string(chi_config **out, const char *yaml_text,
			   const char *file_label);

void chi_config_free(chi_config *cfg);

/* The built-in default configuration's YAML text (borrowed). */
const char *chi_config_default_yaml(void);

/* --- helpers for modules reading their compose entries --- */

/* Child of a map by key, or NULL (borrowed). */
const chi_conf_node *chi_conf_get(const chi_conf_node *map, const char *key);

/*
 * Typed getters: when the key is absent *out is left unchanged and 0 is
 * returned (the caller pre-loads the default); when present but malformed,
 * -EINVAL with a "file:line: key: ..." message.
 */
int chi_conf_get_str(const chi_conf_node *map, const char *key,
		     const char **out);
int chi_conf_get_u64(const chi_conf_node *map, const char *key,
		     uint64_t *out);
int chi_conf_get_u32(const chi_conf_node *map, const char *key,
		     uint32_t *out);
int chi_conf_get_double(const chi_conf_node *map, const char *key,
			double *out);
int chi_conf_get_bool(const chi_conf_node *map, const char *key, int *out);
/* Size strings: "512", "4KB", "1.5 GB", "100gb", "2TB", "64B" (1024-based). */
int chi_conf_get_size(const chi_conf_node *map, const char *key,
		      uint64_t *out);

/* Parse a size string; 0 or -EINVAL. */
int chi_parse_size(const char *text, uint64_t *out);

/*
 * Warn (log, not fail) about keys of `map` that are not in the NULL-ended
 * list `known`; `section` names the place for the message.
 */
void chi_conf_warn_unknown(const chi_conf_node *map,
			   const char *const *known, const char *section);

/* Report an error at a node: sets chi_error_last() to "file:line: key: msg"
 * and returns err_neg. */
int chi_conf_error(const chi_conf_node *node, int err_neg, const char *fmt,
		   ...) __attribute__((format(printf, 3, 4)));

#endif
