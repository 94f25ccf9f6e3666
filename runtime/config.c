/*
 * The runtime's YAML configuration: file lookup, the node tree, the runtime
 * section, and typed getters for modules reading their compose: entries.
 *
 * The file is read whole, parsed with libyaml's document API, and copied into
 * a chi_conf_node tree whose nodes remember file and line.  Validation works
 * on a fresh chi_config that is handed out only when everything checked out,
 * so a config with any error is never partially applied.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yaml.h>

#include "chimaera/config.h"
#include "chimaera/error.h"
#include "chimaera/log.h"

#define CONF_MAX_FILE_BYTES (16u << 20)
/* Guards against alias bombs and runaway nesting. */
#define CONF_MAX_DEPTH 64
#define CONF_MAX_NODES 1000000

#define DEFAULT_NUM_THREADS 4
#define DEFAULT_QUEUE_DEPTH 1024
#define MAX_NUM_THREADS     256
#define MIN_QUEUE_DEPTH     2
#define MAX_QUEUE_DEPTH     (1u << 20)

static const char builtin_label[] = "<built-in>";

static const char default_yaml[] =
    "# cte-fuse built-in runtime configuration (used when no file is\n"
    "# found).  Pools are created by their users (the FUSE daemon makes\n"
    "# its own default CTE pool with storage tiers), so no compose:.\n"
    "runtime:\n"
    "  num_threads: 4\n"
    "  queue_depth: 1024\n";

/* The built-in default configuration's YAML text (borrowed, static). */
const char *chi_config_default_yaml(void)
{
	return default_yaml;
}

/* ---- errors ---- */

static int conf_verror(const chi_conf_node *node, const char *key, int err_neg,
                       const char *fmt, va_list ap)
{
	char msg[768];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (!node)
		return chi_error_set(err_neg, "%s", msg);
	if (key)
		return chi_error_set(err_neg, "%s:%d: %s: %s", node->file,
		                     node->line, key, msg);
	return chi_error_set(err_neg, "%s:%d: %s", node->file, node->line, msg);
}

static int conf_error_key(const chi_conf_node *node, const char *key,
                          int err_neg, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Like chi_conf_error(), naming `key` instead of the node's own key (for a
 * key that is missing from map `node`). */
static int conf_error_key(const chi_conf_node *node, const char *key,
                          int err_neg, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = conf_verror(node, key, err_neg, fmt, ap);
	va_end(ap);
	return rc;
}

/*
 * Record "file:line: key: message" (or "file:line: message" for a node with
 * no key, such as a sequence item) as this thread's error and return err_neg.
 */
int chi_conf_error(const chi_conf_node *node, int err_neg, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = conf_verror(node, node ? node->key : NULL, err_neg, fmt, ap);
	va_end(ap);
	return rc;
}

/* ---- the node tree ---- */

static void node_release(chi_conf_node *node)
{
	size_t i;

	for (i = 0; i < node->n_children; i++)
		node_release(&node->children[i]);
	free(node->children);
	free((char *)node->key);
	free((char *)node->value);
}

static const char *type_name(chi_conf_type type)
{
	switch (type) {
	case CHI_CONF_SCALAR:
		return "a scalar";
	case CHI_CONF_MAP:
		return "a map";
	case CHI_CONF_SEQ:
		return "a list";
	}
	return "?";
}

struct tree_builder {
	yaml_document_t *doc;
	const char *file;
	size_t n_nodes;
};

/*
 * Fill *dst (already zeroed, key set by the caller) from libyaml node `src`.
 * Map children take the line of their key, where a reader looks for them.
 */
static int build_node(struct tree_builder *b, chi_conf_node *dst,
                      yaml_node_t *src, int depth)
{
	size_t i, n;

	dst->file = b->file;
	dst->line = (int)src->start_mark.line + 1;
	if (depth > CONF_MAX_DEPTH || ++b->n_nodes > CONF_MAX_NODES)
		return chi_conf_error(dst, -EINVAL,
		                      "nested too deeply or too many nodes "
		                      "(aliases?)");
	switch (src->type) {
	case YAML_SCALAR_NODE:
		dst->type = CHI_CONF_SCALAR;
		dst->value = strndup((const char *)src->data.scalar.value,
		                     src->data.scalar.length);
		return dst->value ? 0 : -ENOMEM;
	case YAML_SEQUENCE_NODE:
		dst->type = CHI_CONF_SEQ;
		n = (size_t)(src->data.sequence.items.top -
		             src->data.sequence.items.start);
		dst->children = calloc(n ? n : 1, sizeof(*dst->children));
		if (!dst->children)
			return -ENOMEM;
		for (i = 0; i < n; i++) {
			yaml_node_t *item = yaml_document_get_node(
			    b->doc, src->data.sequence.items.start[i]);
			int rc;

			dst->n_children++;
			rc = build_node(b, &dst->children[i], item, depth + 1);
			if (rc)
				return rc;
		}
		return 0;
	case YAML_MAPPING_NODE:
		dst->type = CHI_CONF_MAP;
		n = (size_t)(src->data.mapping.pairs.top -
		             src->data.mapping.pairs.start);
		dst->children = calloc(n ? n : 1, sizeof(*dst->children));
		if (!dst->children)
			return -ENOMEM;
		for (i = 0; i < n; i++) {
			yaml_node_pair_t *pair =
			    &src->data.mapping.pairs.start[i];
			yaml_node_t *k =
			    yaml_document_get_node(b->doc, pair->key);
			yaml_node_t *v =
			    yaml_document_get_node(b->doc, pair->value);
			chi_conf_node *child = &dst->children[i];
			size_t j;
			int rc;

			dst->n_children++;
			child->file = b->file;
			child->line = (int)k->start_mark.line + 1;
			if (k->type != YAML_SCALAR_NODE)
				return chi_conf_error(child, -EINVAL,
				                      "map keys must be plain "
				                      "scalars");
			child->key = strndup((const char *)k->data.scalar.value,
			                     k->data.scalar.length);
			if (!child->key)
				return -ENOMEM;
			for (j = 0; j < i; j++)
				if (strcmp(dst->children[j].key, child->key) ==
				    0)
					return chi_conf_error(
					    child, -EINVAL,
					    "duplicate key (first at line "
					    "%d)",
					    dst->children[j].line);
			rc = build_node(b, child, v, depth + 1);
			/* build_node set the value's line; keep the key's */
			child->line = (int)k->start_mark.line + 1;
			if (rc)
				return rc;
		}
		return 0;
	default:
		return chi_conf_error(dst, -EINVAL, "empty YAML node");
	}
}

/*
 * Parse `text` into a tree.  An empty document is an empty map.  Errors:
 * -EINVAL with "file:line: YAML syntax error: ..." or a tree error,
 * -ENOMEM.
 */
static int parse_tree(chi_conf_node **out, const char *text, size_t len,
                      const char *file)
{
	struct tree_builder b = {.file = file};
	yaml_parser_t parser;
	yaml_document_t doc;
	yaml_node_t *root;
	chi_conf_node *tree;
	int rc = 0;

	tree = calloc(1, sizeof(*tree));
	if (!tree)
		return -ENOMEM;
	if (!yaml_parser_initialize(&parser)) {
		free(tree);
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &doc)) {
		if (parser.error == YAML_MEMORY_ERROR)
			rc = -ENOMEM;
		else
			rc = chi_error_set(
			    -EINVAL, "%s:%d: YAML syntax error: %s%s%s", file,
			    (int)parser.problem_mark.line + 1,
			    parser.problem ? parser.problem : "invalid",
			    parser.context ? " " : "",
			    parser.context ? parser.context : "");
		free(tree);
		goto out_parser;
	}
	b.doc = &doc;
	root = yaml_document_get_root_node(&doc);
	if (!root) {
		tree->type = CHI_CONF_MAP;
		tree->file = file;
		tree->line = 1;
	} else {
		rc = build_node(&b, tree, root, 0);
	}
	yaml_document_delete(&doc);
	if (rc) {
		node_release(tree);
		free(tree);
		goto out_parser;
	}
	*out = tree;
out_parser:
	yaml_parser_delete(&parser);
	return rc;
}

/* ---- getters ---- */

/* Child of a map by key, or NULL (borrowed).  NULL or a non-map gives NULL. */
const chi_conf_node *chi_conf_get(const chi_conf_node *map, const char *key)
{
	size_t i;

	if (!map || map->type != CHI_CONF_MAP || !key)
		return NULL;
	for (i = 0; i < map->n_children; i++)
		if (strcmp(map->children[i].key, key) == 0)
			return &map->children[i];
	return NULL;
}

/* The scalar under `key`: 1 and *out when present, 0 when absent, or a
 * negative error when present but not a scalar. */
static int get_scalar(const chi_conf_node *map, const char *key,
                      const chi_conf_node **out)
{
	const chi_conf_node *node = chi_conf_get(map, key);

	if (!node)
		return 0;
	if (node->type != CHI_CONF_SCALAR)
		return chi_conf_error(node, -EINVAL,
		                      "expected a single value, found %s",
		                      type_name(node->type));
	*out = node;
	return 1;
}

/*
 * The string under `key` (borrowed from the tree; "" for `key:` with no
 * value).  Absent: 0 and *out unchanged.  Not a scalar: -EINVAL.
 */
int chi_conf_get_str(const chi_conf_node *map, const char *key,
                     const char **out)
{
	const chi_conf_node *node = NULL;
	int rc = get_scalar(map, key, &node);

	if (rc <= 0)
		return rc;
	*out = node->value;
	return 0;
}

/* Decimal digits only (no sign, no spaces, no hex): 0 or -EINVAL/-ERANGE. */
static int parse_u64(const char *text, uint64_t *out)
{
	uint64_t v = 0;
	const char *p = text;

	if (!*p)
		return -EINVAL;
	for (; *p; p++) {
		unsigned d;

		if (*p < '0' || *p > '9')
			return -EINVAL;
		d = (unsigned)(*p - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

/* A non-negative decimal integer.  Absent: 0, unchanged; bad: -EINVAL. */
int chi_conf_get_u64(const chi_conf_node *map, const char *key, uint64_t *out)
{
	const chi_conf_node *node = NULL;
	uint64_t v;
	int rc = get_scalar(map, key, &node);

	if (rc <= 0)
		return rc;
	rc = parse_u64(node->value, &v);
	if (rc == -ERANGE)
		return chi_conf_error(node, -EINVAL, "'%s' is too large",
		                      node->value);
	if (rc)
		return chi_conf_error(node, -EINVAL,
		                      "'%s' is not a non-negative integer",
		                      node->value);
	*out = v;
	return 0;
}

/* As chi_conf_get_u64, limited to 0..UINT32_MAX. */
int chi_conf_get_u32(const chi_conf_node *map, const char *key, uint32_t *out)
{
	uint64_t v;
	int rc = chi_conf_get_u64(map, key, &v);
	const chi_conf_node *node = chi_conf_get(map, key);

	if (rc || !node)
		return rc;
	if (v > UINT32_MAX)
		return chi_conf_error(node, -EINVAL,
		                      "'%s' is too large (at most %u)",
		                      node->value, UINT32_MAX);
	*out = (uint32_t)v;
	return 0;
}

/* A finite number ("0.5", "-1", "1e3").  Absent: 0; bad: -EINVAL. */
int chi_conf_get_double(const chi_conf_node *map, const char *key, double *out)
{
	const chi_conf_node *node = NULL;
	char *end;
	double v;
	int rc = get_scalar(map, key, &node);

	if (rc <= 0)
		return rc;
	errno = 0;
	v = strtod(node->value, &end);
	if (end == node->value || *end || errno == ERANGE || !isfinite(v) ||
	    node->value[0] == ' ' || node->value[0] == '\t')
		return chi_conf_error(node, -EINVAL, "'%s' is not a number",
		                      node->value);
	*out = v;
	return 0;
}

/* true/false, yes/no, on/off, 1/0 (any case).  Absent: 0; bad: -EINVAL. */
int chi_conf_get_bool(const chi_conf_node *map, const char *key, int *out)
{
	static const char *const yes[] = {"true", "yes", "on", "1"};
	static const char *const no[] = {"false", "no", "off", "0"};
	const chi_conf_node *node = NULL;
	size_t i;
	int rc = get_scalar(map, key, &node);

	if (rc <= 0)
		return rc;
	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(node->value, yes[i]) == 0) {
			*out = 1;
			return 0;
		}
		if (strcasecmp(node->value, no[i]) == 0) {
			*out = 0;
			return 0;
		}
	}
	return chi_conf_error(node, -EINVAL,
	                      "'%s' is not a boolean (true or false)",
	                      node->value);
}

/*
 * Parse a size: a decimal number with an optional fraction, optional blanks,
 * and an optional unit B, K/KB/KiB, M/MB/MiB, G/GB/GiB, T/TB/TiB in any case
 * (1024-based; no unit means bytes).  A fraction is exact to the byte and
 * rounds down ("1.5KB" = 1536, "0.5B" = 0).  Zero is allowed here; callers
 * that need a positive size check themselves.  Negative numbers, garbage and
 * values above 2^64-1 give -EINVAL (with a message).
 */
int chi_parse_size(const char *text, uint64_t *out)
{
	static const struct {
		const char *suffix;
		unsigned shift;
	} units[] = {
	    {"", 0},     {"b", 0},   {"k", 10},   {"kb", 10},  {"kib", 10},
	    {"m", 20},   {"mb", 20}, {"mib", 20}, {"g", 30},   {"gb", 30},
	    {"gib", 30}, {"t", 40},  {"tb", 40},  {"tib", 40},
	};
	unsigned __int128 whole = 0, frac_num = 0, frac_den = 1, bytes;
	const char *p = text, *unit_start, *unit_end;
	int have_digits = 0, shift = -1;
	size_t i, unit_len;

	if (!text)
		goto bad;
	while (*p == ' ' || *p == '\t')
		p++;
	for (; *p >= '0' && *p <= '9'; p++) {
		whole = whole * 10 + (unsigned)(*p - '0');
		if (whole > UINT64_MAX)
			goto bad;
		have_digits = 1;
	}
	if (*p == '.') {
		for (p++; *p >= '0' && *p <= '9'; p++) {
			/* 10^19 still fits the denominator; later digits
			 * cannot change the byte count. */
			if (frac_den <
			    (unsigned __int128)10000000000000000000u) {
				frac_num = frac_num * 10 + (unsigned)(*p - '0');
				frac_den *= 10;
			}
			have_digits = 1;
		}
	}
	if (!have_digits)
		goto bad;
	while (*p == ' ' || *p == '\t')
		p++;
	unit_start = p;
	while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z'))
		p++;
	unit_end = p;
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p)
		goto bad;
	unit_len = (size_t)(unit_end - unit_start);
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strlen(units[i].suffix) == unit_len &&
		    strncasecmp(unit_start, units[i].suffix, unit_len) == 0) {
			shift = (int)units[i].shift;
			break;
		}
	}
	if (shift < 0)
		goto bad;
	bytes = (whole << shift) + ((frac_num << shift) / frac_den);
	if (bytes > UINT64_MAX)
		goto bad;
	*out = (uint64_t)bytes;
	return 0;
bad:
	return chi_error_set(-EINVAL,
	                     "'%s' is not a size (a number with an optional "
	                     "B, KB, MB, GB or TB suffix, e.g. 512MB or 1.5GB)",
	                     text ? text : "(null)");
}

/* A size string (see chi_parse_size).  Absent: 0; bad: -EINVAL. */
int chi_conf_get_size(const chi_conf_node *map, const char *key, uint64_t *out)
{
	const chi_conf_node *node = NULL;
	uint64_t v;
	int rc = get_scalar(map, key, &node);

	if (rc <= 0)
		return rc;
	if (chi_parse_size(node->value, &v) != 0)
		return chi_conf_error(node, -EINVAL,
		                      "'%s' is not a size (a number with an "
		                      "optional B, KB, MB, GB or TB suffix, "
		                      "e.g. 512MB or 1.5GB)",
		                      node->value);
	*out = v;
	return 0;
}

/*
 * Log a warning "file:line: unknown key 'k' in <section> (ignored)" for each
 * key of `map` not in the NULL-terminated `known` list.
 */
void chi_conf_warn_unknown(const chi_conf_node *map, const char *const *known,
                           const char *section)
{
	size_t i, j;

	if (!map || map->type != CHI_CONF_MAP)
		return;
	for (i = 0; i < map->n_children; i++) {
		const chi_conf_node *child = &map->children[i];
		int found = 0;

		for (j = 0; known && known[j]; j++)
			if (strcmp(known[j], child->key) == 0)
				found = 1;
		if (!found)
			CHI_WARN("config",
			         "%s:%d: %s: unknown key in %s (ignored)",
			         child->file, child->line, child->key,
			         section ? section : "this section");
	}
}

/* ---- the runtime's own keys ---- */

static int get_ranged_u32(const chi_conf_node *map, const char *key,
                          uint32_t min, uint32_t max, uint32_t *out)
{
	const chi_conf_node *node = chi_conf_get(map, key);
	uint32_t v;
	int rc;

	if (!node)
		return 0;
	rc = chi_conf_get_u32(map, key, &v);
	if (rc)
		return rc;
	if (v < min || v > max)
		return chi_conf_error(
		    node, -EINVAL, "%u is out of range (%u..%u)", v, min, max);
	*out = v;
	return 0;
}

static uint32_t round_up_pow2(uint32_t v)
{
	uint32_t p = 1;

	while (p < v)
		p <<= 1;
	return p;
}

static int parse_runtime_section(chi_config *cfg, const chi_conf_node *rt)
{
	static const char *const known[] = {"num_threads", "queue_depth",
	                                    "module_path", NULL};
	const char *module_path = NULL;
	uint32_t depth = cfg->queue_depth;
	int rc;

	if (rt->type != CHI_CONF_MAP)
		return chi_conf_error(rt, -EINVAL, "expected a map, found %s",
		                      type_name(rt->type));
	chi_conf_warn_unknown(rt, known, "runtime");
	rc = get_ranged_u32(rt, "num_threads", 1, MAX_NUM_THREADS,
	                    &cfg->num_threads);
	if (rc)
		return rc;
	rc = get_ranged_u32(rt, "queue_depth", MIN_QUEUE_DEPTH, MAX_QUEUE_DEPTH,
	                    &depth);
	if (rc)
		return rc;
	if (round_up_pow2(depth) != depth)
		CHI_INFO("config", "%s:%d: queue_depth: %u rounded up to %u",
		         rt->file, chi_conf_get(rt, "queue_depth")->line, depth,
		         round_up_pow2(depth));
	cfg->queue_depth = round_up_pow2(depth);
	rc = chi_conf_get_str(rt, "module_path", &module_path);
	if (rc)
		return rc;
	if (module_path && *module_path) {
		cfg->module_path = strdup(module_path);
		if (!cfg->module_path)
			return -ENOMEM;
	}
	return 0;
}

static int check_compose(const chi_conf_node *compose)
{
	static const char *const required[] = {"mod_name", "pool_name"};
	size_t i, k;

	if (compose->type != CHI_CONF_SEQ)
		return chi_conf_error(compose, -EINVAL,
		                      "expected a list of pools (\"- mod_name: "
		                      "...\"), found %s",
		                      type_name(compose->type));
	for (i = 0; i < compose->n_children; i++) {
		const chi_conf_node *entry = &compose->children[i];

		if (entry->type != CHI_CONF_MAP)
			return conf_error_key(entry, "compose", -EINVAL,
			                      "entry %zu: expected a map with "
			                      "mod_name and pool_name, found "
			                      "%s",
			                      i + 1, type_name(entry->type));
		for (k = 0; k < sizeof(required) / sizeof(required[0]); k++) {
			const chi_conf_node *v =
			    chi_conf_get(entry, required[k]);

			if (!v)
				return conf_error_key(
				    entry, required[k], -EINVAL,
				    "missing in compose entry %zu", i + 1);
			if (v->type != CHI_CONF_SCALAR || !*v->value)
				return chi_conf_error(
				    v, -EINVAL, "expected a non-empty name");
		}
	}
	return 0;
}

/* Validate the tree into cfg (which owns it already). */
static int apply_tree(chi_config *cfg)
{
	static const char *const known[] = {
	    "runtime", "compose", "worker_count", "storage",
	    "dpe",     "targets", "performance",  NULL,
	};
	const chi_conf_node *root = cfg->root, *node;
	int rc;

	if (root->type != CHI_CONF_MAP)
		return chi_error_set(-EINVAL,
		                     "%s:%d: expected a map of sections "
		                     "(runtime:, compose:), found %s",
		                     root->file, root->line,
		                     type_name(root->type));
	chi_conf_warn_unknown(root, known, "the top level");
	/* The CTE documentation's flat form. */
	rc = get_ranged_u32(root, "worker_count", 1, MAX_NUM_THREADS,
	                    &cfg->num_threads);
	if (rc)
		return rc;
	node = chi_conf_get(root, "runtime");
	if (node) {
		rc = parse_runtime_section(cfg, node);
		if (rc)
			return rc;
	}
	node = chi_conf_get(root, "compose");
	if (node) {
		rc = check_compose(node);
		if (rc)
			return rc;
		cfg->compose = node;
	}
	if (chi_conf_get(root, "storage"))
		cfg->cte_flat = root;
	return 0;
}

/* ---- loading ---- */

/*
 * Parse YAML text into a validated config; file_label names it in messages
 * and becomes cfg->path.  Errors: -EINVAL (message names file, line, key),
 * -ENOMEM.
 */
int chi_config_load_string(chi_config **out, const char *yaml_text,
                           const char *file_label)
{
	chi_config *cfg;
	int rc;

	if (!out || !yaml_text)
		return chi_error_set(-EINVAL, "config: no YAML text given");
	cfg = calloc(1, sizeof(*cfg));
	if (!cfg)
		return -ENOMEM;
	cfg->num_threads = DEFAULT_NUM_THREADS;
	cfg->queue_depth = DEFAULT_QUEUE_DEPTH;
	cfg->path = strdup(file_label ? file_label : "<string>");
	if (!cfg->path) {
		rc = -ENOMEM;
		goto fail;
	}
	rc = parse_tree(&cfg->root, yaml_text, strlen(yaml_text), cfg->path);
	if (rc)
		goto fail;
	rc = apply_tree(cfg);
	if (rc)
		goto fail;
	*out = cfg;
	return 0;
fail:
	if (rc == -ENOMEM)
		chi_error_set(rc, "%s: out of memory reading the config",
		              file_label ? file_label : "<string>");
	chi_config_free(cfg);
	return rc;
}

/* Free a config and its tree; NULL is a no-op. */
void chi_config_free(chi_config *cfg)
{
	if (!cfg)
		return;
	if (cfg->root) {
		node_release(cfg->root);
		free(cfg->root);
	}
	free(cfg->module_path);
	free(cfg->path);
	free(cfg);
}

/*
 * Read a whole file into a NUL-terminated buffer.  Errors carry a message
 * "<path>: cannot read config (from <origin>): <reason>".
 */
static int read_whole_file(char **out, const char *path, const char *origin)
{
	struct stat st;
	char *buf = NULL, *grown;
	size_t len = 0, cap;
	int fd, rc = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0) {
		rc = -errno;
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		rc = -EISDIR;
		goto out;
	}
	cap = S_ISREG(st.st_mode) ? (size_t)st.st_size + 1 : 4096;
	for (;;) {
		ssize_t n;

		if (cap > CONF_MAX_FILE_BYTES + 1) {
			rc = -EFBIG;
			goto out;
		}
		if (!buf || len + 1 == cap) {
			if (buf)
				cap *= 2;
			grown = realloc(buf, cap);
			if (!grown) {
				rc = -ENOMEM;
				goto out;
			}
			buf = grown;
		}
		n = read(fd, buf + len, cap - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	if (memchr(buf, '\0', len)) {
		rc = chi_error_set(-EINVAL,
		                   "%s: not a YAML text file (contains NUL "
		                   "bytes)",
		                   path);
		goto out;
	}
	*out = buf;
	buf = NULL;
out:
	free(buf);
	if (fd >= 0)
		close(fd);
	if (rc && rc != -EINVAL)
		chi_error_set(rc, "%s: cannot read config%s%s%s: %s", path,
		              origin ? " (from " : "", origin ? origin : "",
		              origin ? ")" : "", strerror(-rc));
	return rc;
}

static int load_file(chi_config **out, const char *path, const char *origin)
{
	char *text = NULL;
	int rc = read_whole_file(&text, path, origin);

	if (rc)
		return rc;
	rc = chi_config_load_string(out, text, path);
	free(text);
	if (rc == 0)
		CHI_INFO("config", "loaded %s%s%s%s", path,
		         origin ? " (from " : "", origin ? origin : "",
		         origin ? ")" : "");
	return rc;
}

static const char *home_dir(void)
{
	const char *home = getenv("HOME");
	struct passwd *pw;

	if (home && *home)
		return home;
	pw = getpwuid(getuid());
	return pw ? pw->pw_dir : NULL;
}

/*
 * Load the config: explicit_path when given, else $CHI_SERVER_CONF, else
 * $WRP_RUNTIME_CONF, else ~/.chimaera/chimaera.yaml when it exists, else the
 * built-in default.  A path given explicitly or by a variable must be
 * readable: no silent fallback.  Errors: -ENOENT, -EACCES, -EISDIR (the
 * message names the path, where it came from and why), -EINVAL (malformed;
 * the message names file, line and key), -ENOMEM.
 */
int chi_config_load(chi_config **out, const char *explicit_path)
{
	static const char *const env_vars[] = {"CHI_SERVER_CONF",
	                                       "WRP_RUNTIME_CONF"};
	char origin[64];
	const char *home;
	size_t i;

	if (!out)
		return chi_error_set(-EINVAL, "config: no output pointer");
	if (explicit_path)
		return load_file(out, explicit_path, NULL);
	for (i = 0; i < sizeof(env_vars) / sizeof(env_vars[0]); i++) {
		const char *path = getenv(env_vars[i]);

		if (path && *path) {
			snprintf(origin, sizeof(origin), "$%s", env_vars[i]);
			return load_file(out, path, origin);
		}
	}
	home = home_dir();
	if (home) {
		char path[PATH_MAX];
		struct stat st;

		snprintf(path, sizeof(path), "%s/.chimaera/chimaera.yaml",
		         home);
		/* Only a missing file falls through; one that is there but
		 * unreadable is the user's config and an error. */
		if (stat(path, &st) == 0 || errno != ENOENT)
			return load_file(out, path, "~/.chimaera");
	}
	return chi_config_load_string(out, default_yaml, builtin_label);
}
