/*
 * chi_gen_methods: turn a module's chimaera_mod.yaml into its method-id
 * header.
 *
 *   chi_gen_methods YAML OUT            write OUT
 *   chi_gen_methods --check YAML OUT    exit 1 when OUT is missing or differs
 *                                       from what YAML generates
 *   chi_gen_methods --stdout YAML       print the header
 *
 * Input:
 *
 *   module_name: chimaera_bdev      # required, a C identifier
 *   namespace: chimaera::bdev       # required
 *   version: 1.0.0                  # required
 *   macro_prefix: CHI_BDEV          # optional, overrides the derived prefix
 *   methods:                        # required, name: id
 *     kCreate: 0
 *     kDestroy: 1
 *     kAllocateBlocks: 10
 *
 * Rules: names unique C identifiers; ids unique integers in 0..4095; ids
 * 0-9 belong to the runtime (kCreate must be 0 and kDestroy 1, both required,
 * and no other method may use 0-9); module methods start at 10.  Every error
 * names file:line.  Exit status: 0 ok, 1 stale (--check), 2 bad input or I/O
 * error.
 *
 * Output: one <PREFIX>_METHOD_<NAME> id macro per method, the list
 * <PREFIX>_METHODS(X) expanding X(id macro, name) for each method in id
 * order, <PREFIX>_METHOD_COUNT, <PREFIX>_METHOD_TABLE_SIZE (largest id + 1)
 * and <prefix>_method_name(id).
 *
 * The output has no timestamps or absolute paths, so the same YAML always
 * gives byte-identical output wherever it is built.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#define MAX_METHOD_ID 4095
#define FIRST_CUSTOM  10

struct method {
	char *name;  /* as written: kAllocateBlocks */
	char *macro; /* ALLOCATE_BLOCKS */
	long id;
	int line;
};

struct module_desc {
	const char *file;
	char *module_name;
	char *namespace_name;
	char *version;
	char *prefix; /* CHI_BDEV */
	struct method *methods;
	size_t n_methods;
};

static const char *prog = "chi_gen_methods";

static int fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Print "prog: file:line: message" and return 2 (the bad-input status). */
static int fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	if (line > 0)
		fprintf(stderr, "%s: %s:%d: ", prog, file, line);
	else
		fprintf(stderr, "%s: %s: ", prog, file);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 2;
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p) {
		fprintf(stderr, "%s: out of memory\n", prog);
		exit(2);
	}
	return p;
}

static char *xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;

	return memcpy(xmalloc(n), s, n);
}

static int node_line(const yaml_node_t *node)
{
	return (int)node->start_mark.line + 1;
}

static const char *scalar_text(const yaml_node_t *node)
{
	return (const char *)node->data.scalar.value;
}

static int is_identifier(const char *s)
{
	if (!(isalpha((unsigned char)*s) || *s == '_'))
		return 0;
	for (s++; *s; s++)
		if (!(isalnum((unsigned char)*s) || *s == '_'))
			return 0;
	return 1;
}

/*
 * Method name to macro suffix: drop the upstream "k" marker when it precedes
 * a capital (kPutBlob -> PutBlob), then split CamelCase at each lower-or-
 * digit-to-upper step and before the last capital of an acronym followed by
 * lower case (GetBlobIO -> GET_BLOB_IO, IOStats -> IO_STATS), upper-casing
 * everything.
 */
static char *method_macro(const char *name)
{
	size_t len = strlen(name), o = 0, i;
	char *out = xmalloc(2 * len + 1);

	if (name[0] == 'k' && isupper((unsigned char)name[1]))
		name++;
	for (i = 0; name[i]; i++) {
		unsigned char c = (unsigned char)name[i];
		unsigned char prev = i ? (unsigned char)name[i - 1] : 0;
		unsigned char next = (unsigned char)name[i + 1];

		if (i && isupper(c) && prev != '_' &&
		    (islower(prev) || isdigit(prev) ||
		     (isupper(prev) && islower(next))))
			out[o++] = '_';
		out[o++] = (char)toupper(c);
	}
	out[o] = '\0';
	return out;
}

/* module_name to macro prefix: "chimaera_" becomes "CHI_", then upper-case
 * (chimaera_bdev -> CHI_BDEV, wrp_cte_core -> WRP_CTE_CORE). */
static char *module_prefix(const char *module_name)
{
	static const char chimaera[] = "chimaera_";
	const char *rest = module_name;
	char *out, *p;

	if (strncmp(module_name, chimaera, sizeof(chimaera) - 1) == 0 &&
	    module_name[sizeof(chimaera) - 1] != '\0')
		rest = module_name + sizeof(chimaera) - 1;
	out = xmalloc(strlen(rest) + 5);
	sprintf(out, "%s%s", rest == module_name ? "" : "CHI_", rest);
	for (p = out; *p; p++)
		*p = (char)toupper((unsigned char)*p);
	return out;
}

static int parse_id(const char *text, long *out)
{
	char *end;
	long v;

	if (!*text || isspace((unsigned char)*text))
		return -1;
	errno = 0;
	v = strtol(text, &end, 10);
	if (errno || *end)
		return -1;
	*out = v;
	return 0;
}

static int check_methods(struct module_desc *mod, const yaml_node_t *seen)
{
	int have_create = 0, have_destroy = 0;
	size_t i, j;

	for (i = 0; i < mod->n_methods; i++) {
		struct method *m = &mod->methods[i];

		for (j = 0; j < i; j++) {
			struct method *o = &mod->methods[j];

			if (strcmp(o->name, m->name) == 0)
				return fail(mod->file, m->line,
				            "methods: %s: duplicate name "
				            "(first at line %d)",
				            m->name, o->line);
			if (o->id == m->id)
				return fail(mod->file, m->line,
				            "methods: %s: id %ld already used "
				            "by %s (line %d)",
				            m->name, m->id, o->name, o->line);
			if (strcmp(o->macro, m->macro) == 0)
				return fail(mod->file, m->line,
				            "methods: %s: macro name %s "
				            "collides with %s (line %d)",
				            m->name, m->macro, o->name,
				            o->line);
		}
		if (strcmp(m->name, "kCreate") == 0) {
			have_create = 1;
			if (m->id != 0)
				return fail(mod->file, m->line,
				            "methods: kCreate: must be 0 (the "
				            "runtime's id), not %ld",
				            m->id);
		} else if (strcmp(m->name, "kDestroy") == 0) {
			have_destroy = 1;
			if (m->id != 1)
				return fail(mod->file, m->line,
				            "methods: kDestroy: must be 1 (the "
				            "runtime's id), not %ld",
				            m->id);
		} else if (m->id < FIRST_CUSTOM) {
			return fail(mod->file, m->line,
			            "methods: %s: id %ld is reserved for "
			            "runtime methods (0-9); module methods "
			            "start at %d",
			            m->name, m->id, FIRST_CUSTOM);
		}
	}
	if (!have_create || !have_destroy)
		return fail(mod->file, node_line(seen),
		            "methods: %s is required (the runtime's %s)",
		            have_create ? "kDestroy" : "kCreate",
		            have_create ? "id 1" : "id 0");
	return 0;
}

static int read_methods(struct module_desc *mod, yaml_document_t *doc,
                        const yaml_node_t *map)
{
	const yaml_node_pair_t *pair;
	size_t cap;

	if (map->type != YAML_MAPPING_NODE)
		return fail(mod->file, node_line(map),
		            "methods: expected a map of name: id");
	cap = (size_t)(map->data.mapping.pairs.top -
	               map->data.mapping.pairs.start);
	mod->methods = xmalloc(cap * sizeof(*mod->methods));
	for (pair = map->data.mapping.pairs.start;
	     pair < map->data.mapping.pairs.top; pair++) {
		yaml_node_t *k = yaml_document_get_node(doc, pair->key);
		yaml_node_t *v = yaml_document_get_node(doc, pair->value);
		struct method *m;
		long id;

		if (k->type != YAML_SCALAR_NODE)
			return fail(mod->file, node_line(k),
			            "methods: a method name must be a scalar");
		if (!is_identifier(scalar_text(k)))
			return fail(mod->file, node_line(k),
			            "methods: %s: not a C identifier",
			            scalar_text(k));
		if (v->type != YAML_SCALAR_NODE ||
		    parse_id(scalar_text(v), &id) != 0)
			return fail(mod->file, node_line(v),
			            "methods: %s: id must be an integer",
			            scalar_text(k));
		if (id < 0 || id > MAX_METHOD_ID)
			return fail(mod->file, node_line(v),
			            "methods: %s: id %ld out of range 0..%d",
			            scalar_text(k), id, MAX_METHOD_ID);
		m = &mod->methods[mod->n_methods++];
		m->name = xstrdup(scalar_text(k));
		m->macro = method_macro(m->name);
		m->id = id;
		m->line = node_line(k);
	}
	return check_methods(mod, map);
}

static int read_string_key(struct module_desc *mod, const yaml_node_t *k,
                           const yaml_node_t *v, char **out)
{
	if (v->type != YAML_SCALAR_NODE || !*scalar_text(v))
		return fail(mod->file, node_line(v),
		            "%s: expected a non-empty string", scalar_text(k));
	if (*out)
		return fail(mod->file, node_line(k), "%s: given twice",
		            scalar_text(k));
	*out = xstrdup(scalar_text(v));
	return 0;
}

static int load_module(struct module_desc *mod, const char *path)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	yaml_node_t *root;
	const yaml_node_pair_t *pair;
	const yaml_node_t *methods_node = NULL;
	FILE *f;
	int rc = 0;

	memset(mod, 0, sizeof(*mod));
	mod->file = path;
	f = fopen(path, "rb");
	if (!f)
		return fail(path, 0, "cannot open: %s", strerror(errno));
	yaml_parser_initialize(&parser);
	yaml_parser_set_input_file(&parser, f);
	if (!yaml_parser_load(&parser, &doc)) {
		rc = fail(path, (int)parser.problem_mark.line + 1,
		          "YAML syntax error: %s%s%s",
		          parser.problem ? parser.problem : "unknown",
		          parser.context ? " " : "",
		          parser.context ? parser.context : "");
		goto out_parser;
	}
	root = yaml_document_get_root_node(&doc);
	if (!root || root->type != YAML_MAPPING_NODE) {
		rc = fail(path, root ? node_line(root) : 0,
		          "expected a map with module_name, namespace, "
		          "version and methods");
		goto out_doc;
	}
	for (pair = root->data.mapping.pairs.start;
	     rc == 0 && pair < root->data.mapping.pairs.top; pair++) {
		yaml_node_t *k = yaml_document_get_node(&doc, pair->key);
		yaml_node_t *v = yaml_document_get_node(&doc, pair->value);
		const char *key;

		if (k->type != YAML_SCALAR_NODE) {
			rc = fail(path, node_line(k), "keys must be scalars");
			break;
		}
		key = scalar_text(k);
		if (strcmp(key, "module_name") == 0)
			rc = read_string_key(mod, k, v, &mod->module_name);
		else if (strcmp(key, "namespace") == 0)
			rc = read_string_key(mod, k, v, &mod->namespace_name);
		else if (strcmp(key, "version") == 0)
			rc = read_string_key(mod, k, v, &mod->version);
		else if (strcmp(key, "macro_prefix") == 0)
			rc = read_string_key(mod, k, v, &mod->prefix);
		else if (strcmp(key, "methods") == 0) {
			if (methods_node)
				rc = fail(path, node_line(k),
				          "methods: given twice");
			methods_node = v;
		} else
			fprintf(stderr, "%s: warning: %s:%d: unknown key %s\n",
			        prog, path, node_line(k), key);
	}
	if (rc)
		goto out_doc;
	if (!mod->module_name || !mod->namespace_name || !mod->version ||
	    !methods_node) {
		rc = fail(path, node_line(root), "missing required key %s",
		          !mod->module_name      ? "module_name"
		          : !mod->namespace_name ? "namespace"
		          : !mod->version        ? "version"
		                                 : "methods");
		goto out_doc;
	}
	if (!is_identifier(mod->module_name)) {
		rc = fail(path, node_line(root),
		          "module_name: %s is not a C identifier",
		          mod->module_name);
		goto out_doc;
	}
	if (mod->prefix && !is_identifier(mod->prefix)) {
		rc =
		    fail(path, node_line(root),
		         "macro_prefix: %s is not a C identifier", mod->prefix);
		goto out_doc;
	}
	if (!mod->prefix)
		mod->prefix = module_prefix(mod->module_name);
	rc = read_methods(mod, &doc, methods_node);
out_doc:
	yaml_document_delete(&doc);
out_parser:
	yaml_parser_delete(&parser);
	fclose(f);
	return rc;
}

static void free_module(struct module_desc *mod)
{
	size_t i;

	for (i = 0; i < mod->n_methods; i++) {
		free(mod->methods[i].name);
		free(mod->methods[i].macro);
	}
	free(mod->methods);
	free(mod->module_name);
	free(mod->namespace_name);
	free(mod->version);
	free(mod->prefix);
}

static int by_id(const void *a, const void *b)
{
	const struct method *x = a, *y = b;

	return (x->id > y->id) - (x->id < y->id);
}

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
}

/* Render the header into a malloc'd string (open_memstream). */
static char *render(struct module_desc *mod)
{
	char *text = NULL, *guard, *lower, *p;
	size_t len = 0, i;
	long max_id = 0;
	FILE *s = open_memstream(&text, &len);

	if (!s) {
		fprintf(stderr, "%s: open_memstream: %s\n", prog,
		        strerror(errno));
		exit(2);
	}
	qsort(mod->methods, mod->n_methods, sizeof(*mod->methods), by_id);
	for (i = 0; i < mod->n_methods; i++)
		if (mod->methods[i].id > max_id)
			max_id = mod->methods[i].id;
	guard = xmalloc(strlen(mod->prefix) + 32);
	sprintf(guard, "%s_METHODS_AUTOGEN_H", mod->prefix);
	lower = xstrdup(mod->prefix);
	for (p = lower; *p; p++)
		*p = (char)tolower((unsigned char)*p);

	fprintf(s,
	        "/*\n"
	        " * GENERATED by tools/chi_gen_methods from %s: do not edit.\n"
	        " * Regenerate with `cmake --build <build> --target "
	        "regen-methods`;\n"
	        " * the build fails while this file is stale.\n"
	        " *\n"
	        " * module %s (namespace %s, version %s)\n"
	        " *\n"
	        " * Macro names: <PREFIX>_METHOD_<NAME>.  PREFIX is the "
	        "module_name\n"
	        " * upper-cased with a leading \"chimaera_\" written as "
	        "\"CHI_\"\n"
	        " * (chimaera_bdev -> CHI_BDEV), unless the YAML gives "
	        "macro_prefix.\n"
	        " * NAME is the method name without its leading \"k\", "
	        "CamelCase split\n"
	        " * into upper-case words (kAllocateBlocks -> "
	        "ALLOCATE_BLOCKS).\n"
	        " * Ids 0-9 belong to the runtime; module methods start at "
	        "10.\n"
	        " */\n"
	        "#ifndef %s\n#define %s\n\n#include <stddef.h>\n#include "
	        "<stdint.h>\n\n",
	        base_name(mod->file), mod->module_name, mod->namespace_name,
	        mod->version, guard, guard);
	for (i = 0; i < mod->n_methods; i++)
		fprintf(s, "#define %s_METHOD_%s %ld\n", mod->prefix,
		        mod->methods[i].macro, mod->methods[i].id);
	fprintf(s,
	        "\n/*\n"
	        " * Every method in id order as X(ID, name): ID its id macro, "
	        "name as in\n"
	        " * %s (a token; #name is the string).  For code that walks "
	        "all\n"
	        " * the methods, such as a check of the module's method "
	        "table:\n"
	        " *   #define CHECK(id, name) check(id, #name);\n"
	        " *   %s_METHODS(CHECK)\n"
	        " */\n"
	        "#define %s_METHODS(X)",
	        base_name(mod->file), mod->prefix, mod->prefix);
	for (i = 0; i < mod->n_methods; i++)
		fprintf(s, " \\\n\tX(%s_METHOD_%s, %s)", mod->prefix,
		        mod->methods[i].macro, mod->methods[i].name);
	fputc('\n', s);
	fprintf(s,
	        "\n/* Number of methods, and the size of a table indexed by "
	        "id. */\n"
	        "#define %s_METHOD_COUNT %zu\n"
	        "#define %s_METHOD_TABLE_SIZE %ld\n\n"
	        "/* The method's name as in %s (\"kCreate\"), or NULL. */\n"
	        "static inline const char *%s_method_name(uint32_t id)\n"
	        "{\n\tswitch (id) {\n",
	        mod->prefix, mod->n_methods, mod->prefix, max_id + 1,
	        base_name(mod->file), lower);
	for (i = 0; i < mod->n_methods; i++)
		fprintf(s, "\tcase %s_METHOD_%s:\n\t\treturn \"%s\";\n",
		        mod->prefix, mod->methods[i].macro,
		        mod->methods[i].name);
	fprintf(s, "\tdefault:\n\t\treturn NULL;\n\t}\n}\n\n#endif\n");
	fclose(s);
	free(guard);
	free(lower);
	return text;
}

/* Read a whole file; NULL with errno set on failure. */
static char *read_file(const char *path, size_t *out_len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, len = 0, n;

	if (!f)
		return NULL;
	do {
		if (len == cap) {
			cap = cap ? 2 * cap : 8192;
			buf = realloc(buf, cap);
			if (!buf) {
				fclose(f);
				errno = ENOMEM;
				return NULL;
			}
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
	} while (n > 0);
	if (ferror(f)) {
		free(buf);
		fclose(f);
		errno = EIO;
		return NULL;
	}
	fclose(f);
	*out_len = len;
	return buf;
}

static int write_file(const char *path, const char *text)
{
	size_t len = strlen(text);
	char *tmp = xmalloc(strlen(path) + 8);
	FILE *f;
	int rc = 0;

	/* Write beside and rename, so a failed run never leaves half a
	 * header behind. */
	sprintf(tmp, "%s.tmp", path);
	f = fopen(tmp, "wb");
	if (!f) {
		rc = fail(tmp, 0, "cannot create: %s", strerror(errno));
		goto out;
	}
	if (fwrite(text, 1, len, f) != len || fclose(f) != 0) {
		rc = fail(tmp, 0, "write failed: %s", strerror(errno));
		remove(tmp);
		goto out;
	}
	if (rename(tmp, path) != 0) {
		rc = fail(path, 0, "rename failed: %s", strerror(errno));
		remove(tmp);
	}
out:
	free(tmp);
	return rc;
}

static int usage(void)
{
	fprintf(stderr,
	        "usage: %s YAML OUT          write the method header\n"
	        "       %s --check YAML OUT  exit 1 if OUT is stale\n"
	        "       %s --stdout YAML     print the header\n",
	        prog, prog, prog);
	return 2;
}

int main(int argc, char **argv)
{
	struct module_desc mod;
	const char *yaml_path, *out_path;
	char *text = NULL, *old = NULL;
	size_t old_len = 0;
	char self_buf[PATH_MAX];
	const char *self = argv[0];
	int check = 0, to_stdout = 0, rc;

	if (argc >= 2 && strcmp(argv[1], "--check") == 0)
		check = 1;
	else if (argc >= 2 && strcmp(argv[1], "--stdout") == 0)
		to_stdout = 1;
	if (to_stdout ? argc != 3 : argc != 3 + check)
		return usage();
	yaml_path = argv[1 + check + to_stdout];
	out_path = to_stdout ? "stdout" : argv[2 + check];

	/* A copy-pasteable command: the tool's absolute path. */
	if (strchr(argv[0], '/') && realpath(argv[0], self_buf))
		self = self_buf;
	rc = load_module(&mod, yaml_path);
	if (rc)
		goto out;
	text = render(&mod);
	if (to_stdout) {
		rc = fputs(text, stdout) < 0 ? 2 : 0;
	} else if (check) {
		old = read_file(out_path, &old_len);
		if (!old || old_len != strlen(text) ||
		    memcmp(old, text, old_len) != 0) {
			fprintf(stderr,
			        "%s: %s is stale%s; regenerate with: %s %s %s "
			        "(or cmake --build <build> --target "
			        "regen-methods)\n",
			        prog, out_path,
			        old ? "" : " (it does not exist)", self,
			        yaml_path, out_path);
			rc = 1;
		}
	} else {
		/* Leave an up-to-date header alone, so its mtime (and every
		 * object that includes it) stays as it is. */
		old = read_file(out_path, &old_len);
		if (!old || old_len != strlen(text) ||
		    memcmp(old, text, old_len) != 0)
			rc = write_file(out_path, text);
	}
out:
	free(old);
	free(text);
	free_module(&mod);
	return rc;
}
