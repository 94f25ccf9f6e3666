/*
 * bdev client API: each call builds a task, submits it to the pool and
 * waits (bdev.h).  Errors come back as task->rc, and the runtime's message
 * (task errmsg) becomes the calling thread's chi_error_last().
 */
#include <errno.h>
#include <string.h>

#include "chimaera/bdev/bdev_tasks.h"
#include "chimaera/chimaera.h"
#include "bdev_i.h"

/* Copy the worker's message into this thread's error slot. */
static int pass_error(int rc, const char *errmsg)
{
	if (rc && errmsg[0])
		chi_error_set(rc, "%s", errmsg);
	return rc;
}

int chi_bdev_create(chi_pool_id *inout_id, const char *pool_name,
                    const chi_bdev_params *params)
{
	chi_bdev_params checked;
	int rc;

	if (!params || !pool_name || !pool_name[0])
		return chi_error_set(-EINVAL,
		                     "bdev: create needs a pool name and "
		                     "parameters");
	/* Check here too, so the message lands on the caller's thread; the
	 * container repeats the checks when it creates the device. */
	rc = bdev__params_check(&checked, params);
	if (rc)
		return rc;
	return chi_pool_get_or_create(inout_id, CHI_BDEV_MODULE_NAME, pool_name,
	                              params, sizeof(*params), 1);
}

int chi_bdev_destroy(chi_pool_id id)
{
	return chi_pool_destroy(id);
}

int chi_bdev_allocate(chi_pool_id id, uint64_t size, chi_bdev_block *out,
                      uint32_t max_blocks, uint32_t *out_n)
{
	chi_bdev_alloc_task *t;
	int rc;

	*out_n = 0;
	if (max_blocks > CHI_BDEV_MAX_BLOCKS)
		max_blocks = CHI_BDEV_MAX_BLOCKS;
	t = chi_task_new(sizeof(*t), id, CHI_BDEV_METHOD_ALLOCATE_BLOCKS);
	if (!t)
		return -ENOMEM;
	t->size = size;
	t->max_blocks = max_blocks;
	rc = pass_error(chi_run(&t->base), t->errmsg);
	if (!rc) {
		memcpy(out, t->blocks, sizeof(*out) * t->n_blocks);
		*out_n = t->n_blocks;
	}
	chi_task_free(t);
	return rc;
}

static int run_blocks(chi_pool_id id, uint32_t method,
                      const chi_bdev_block *blocks, uint32_t n)
{
	chi_bdev_blocks_task *t;
	int rc;

	if (!n)
		return 0;
	t = chi_task_new(sizeof(*t), id, method);
	if (!t)
		return -ENOMEM;
	t->blocks = blocks;
	t->n = n;
	rc = pass_error(chi_run(&t->base), t->errmsg);
	chi_task_free(t);
	return rc;
}

int chi_bdev_free(chi_pool_id id, const chi_bdev_block *blocks, uint32_t n)
{
	return run_blocks(id, CHI_BDEV_METHOD_FREE_BLOCKS, blocks, n);
}

int chi_bdev_reserve(chi_pool_id id, const chi_bdev_block *blocks, uint32_t n)
{
	return run_blocks(id, CHI_BDEV_METHOD_RESERVE_BLOCKS, blocks, n);
}

static chi_bdev_io_task *io_task(chi_pool_id id, uint32_t method,
                                 uint64_t offset, void *buf, uint64_t len)
{
	chi_bdev_io_task *t = chi_task_new(sizeof(*t), id, method);

	if (t) {
		t->offset = offset;
		t->len = len;
		t->buf = buf;
	}
	return t;
}

static int run_io(chi_pool_id id, uint32_t method, uint64_t offset, void *buf,
                  uint64_t len)
{
	chi_bdev_io_task *t = io_task(id, method, offset, buf, len);
	int rc;

	if (!t)
		return -ENOMEM;
	rc = pass_error(chi_run(&t->base), t->errmsg);
	chi_task_free(t);
	return rc;
}

int chi_bdev_write(chi_pool_id id, uint64_t offset, const void *buf,
                   uint64_t len)
{
	/* the task's buf is IN for writes: the device never stores to it */
	return run_io(id, CHI_BDEV_METHOD_WRITE, offset, (void *)buf, len);
}

int chi_bdev_read(chi_pool_id id, uint64_t offset, void *buf, uint64_t len)
{
	return run_io(id, CHI_BDEV_METHOD_READ, offset, buf, len);
}

int chi_bdev_sync(chi_pool_id id)
{
	chi_bdev_sync_task *t =
	    chi_task_new(sizeof(*t), id, CHI_BDEV_METHOD_SYNC);
	int rc;

	if (!t)
		return -ENOMEM;
	rc = pass_error(chi_run(&t->base), t->errmsg);
	chi_task_free(t);
	return rc;
}

int chi_bdev_get_stats(chi_pool_id id, chi_bdev_stats *out)
{
	chi_bdev_stats_task *t =
	    chi_task_new(sizeof(*t), id, CHI_BDEV_METHOD_GET_STATS);
	int rc;

	if (!t)
		return -ENOMEM;
	rc = chi_run(&t->base);
	if (!rc)
		*out = t->stats;
	chi_task_free(t);
	return rc;
}

chi_future chi_bdev_write_async(chi_pool_id id, uint64_t offset,
                                const void *buf, uint64_t len)
{
	chi_bdev_io_task *t =
	    io_task(id, CHI_BDEV_METHOD_WRITE, offset, (void *)buf, len);

	if (!t)
		return (chi_future){NULL};
	return chi_submit(&t->base);
}

chi_future chi_bdev_read_async(chi_pool_id id, uint64_t offset, void *buf,
                               uint64_t len)
{
	chi_bdev_io_task *t =
	    io_task(id, CHI_BDEV_METHOD_READ, offset, buf, len);

	if (!t)
		return (chi_future){NULL};
	return chi_submit(&t->base);
}
