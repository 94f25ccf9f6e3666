/*
 * The namespace as the module's methods see it: POSIX operations
 * (ns.c), extended attributes (xattr.c), and tags and blobs by name
 * (names.c).  Every function takes ns_lock itself.
 */
#ifndef CTE_NS_I_H
#define CTE_NS_I_H

#include "core_i.h"

/* ns.c */
int cte__ns_lookup(struct cte_core *core, cte_id parent, const char *name,
                   cte_attr *out);
int cte__ns_getattr(struct cte_core *core, cte_id id, cte_attr *out);
int cte__ns_setattr(struct cte_core *core, cte_id id, const cte_attr *attr,
                    uint32_t mask, cte_attr *out);
int cte__ns_create(struct cte_core *core, cte_id parent, const char *name,
                   const cte_attr *attr, const char *symlink_target,
                   cte_attr *out);
int cte__ns_link(struct cte_core *core, cte_id id, cte_id new_parent,
                 const char *new_name, cte_attr *out);
int cte__ns_unlink(struct cte_core *core, cte_id parent, const char *name,
                   bool dir, bool destroy_orphan, cte_attr *out_attr);
int cte__ns_rename(struct cte_core *core, cte_id old_parent,
                   const char *old_name, cte_id new_parent,
                   const char *new_name, uint32_t flags, bool destroy_orphan,
                   cte_id *out_replaced);
int cte__ns_readdir(struct cte_core *core, cte_id dir, uint64_t cookie,
                    cte_dirent *out, size_t max, size_t *out_n);
int cte__ns_readlink(struct cte_core *core, cte_id id, char *buf, size_t size);
int cte__ns_forget(struct cte_core *core, cte_id id);
int cte__statfs(struct cte_core *core, cte_fs_stats *out);

/* xattr.c */
int cte__xattr_set(struct cte_core *core, cte_id id, const char *name,
                   const void *value, size_t size, uint32_t flags);
int cte__xattr_get(struct cte_core *core, cte_id id, const char *name,
                   void *buf, size_t size, size_t *out_size);
int cte__xattr_list(struct cte_core *core, cte_id id, char *buf, size_t size,
                    size_t *out_size);
int cte__xattr_remove(struct cte_core *core, cte_id id, const char *name);

/* names.c */
int cte__tag_get_name(struct cte_core *core, cte_id tag, char **out);
int cte__tag_get_or_create(struct cte_core *core, const char *name,
                           cte_id *out);
int cte__tag_del(struct cte_core *core, cte_id tag);
int cte__tag_get_size(struct cte_core *core, cte_id tag, uint64_t *out);
int cte__tag_contained_blobs(struct cte_core *core, cte_id tag, char ***out,
                             size_t *out_n);
int cte__tag_rename(struct cte_core *core, const char *old_name,
                    const char *new_name);
int cte__tag_query(struct cte_core *core, const char *re, char ***out,
                   size_t *out_n);
int cte__blob_query(struct cte_core *core, const char *tag_re,
                    const char *blob_re, char ***out, size_t *out_n);
/* Find or (create != 0) make blob `name` in tag; *out_id. */
int cte__blob_by_name(struct cte_core *core, cte_id tag, const char *name,
                      bool create, cte_id *out_id);

#endif
