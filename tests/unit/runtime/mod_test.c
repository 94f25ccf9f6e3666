/*
 * libchimaera_test_runtime.so: the runtime tests' module.  Its methods
 * exercise subtasks, yields, suspension, the locks and pool queries; the
 * tests read what happened through chi_test_stats (found with dlsym).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <string.h>
#include <time.h>

#include "chimaera/chimaera.h"
#include "chimaera/config.h"
#include "chimaera/sys/module.h"
#include "chimaera/sys/worker.h"
#include "mod_test.h"

/* exported: the tests dlsym() it */
chi_test_stats chi_test_module_stats;
static int stats_ready;

struct state {
	_Atomic uint64_t counter;
	uint64_t tag;
};

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000ull + (uint64_t)ts.tv_nsec / 1000;
}

static void m_noop(chi_container *c, chi_task *task)
{
	(void)c;
	task->rc = 0;
}

static void record(chi_container *c, chi_task *task)
{
	chi_test_task *t = (chi_test_task *)task;

	t->worker = chi_worker_self();
	t->container = c->container_id;
	atomic_fetch_add(&chi_test_module_stats.ran, 1);
}

static void m_subtask(chi_container *c, chi_task *task)
{
	chi_test_task *t = (chi_test_task *)task, *sub;
	chi_pool_id target = c->pool_id;

	record(c, task);
	if (t->arg2) /* another pool: "major << 32 | minor" */
		target =
		    (chi_pool_id){(uint32_t)(t->arg2 >> 32), (uint32_t)t->arg2};
	sub = chi_task_new(sizeof(*sub), target,
	                   t->arg ? CHI_TEST_METHOD_SUBTASK
	                          : CHI_TEST_METHOD_COUNT);
	if (!sub) {
		task->rc = -ENOMEM;
		return;
	}
	sub->arg = t->arg ? t->arg - 1 : 0;
	task->rc = chi_wait(chi_submit(&sub->base));
	/* out: 1 + the subtask's out (depth reached), group must match */
	t->out = 1 + sub->out;
	if (sub->base.group_id != task->group_id)
		task->rc = -EXDEV;
	chi_task_free(sub);
}

static void m_count(chi_container *c, chi_task *task)
{
	struct state *s = c->state;
	chi_test_task *t = (chi_test_task *)task;

	record(c, task);
	atomic_fetch_add(&s->counter, 1);
	t->out = 0;
	task->rc = 0;
}

static void m_sleep(chi_container *c, chi_task *task)
{
	chi_test_task *t = (chi_test_task *)task;
	uint64_t end = now_us() + t->arg;

	record(c, task);
	while (now_us() < end)
		chi_task_yield();
	task->rc = 0;
}

static void m_lock(chi_container *c, chi_task *task)
{
	chi_test_task *t = (chi_test_task *)task;
	chi_test_stats *st = &chi_test_module_stats;
	int in;
	uint64_t pos;

	record(c, task);
	chi_comutex_lock(&st->mutex);
	in = atomic_fetch_add(&st->in_section, 1) + 1;
	if (in > atomic_load(&st->max_in_section))
		atomic_store(&st->max_in_section, in);
	pos = atomic_fetch_add(&st->order_pos, 1);
	if (pos < 4096)
		st->order[pos] = t->arg & ~CHI_TEST_LOCK_NESTED;
	if (t->arg & CHI_TEST_LOCK_NESTED) {
		/* a subtask (same TaskId group) takes the lock we hold */
		chi_test_task *sub = chi_task_new(sizeof(*sub), c->pool_id,
		                                  CHI_TEST_METHOD_LOCK);

		if (!sub) {
			task->rc = -ENOMEM;
			goto out;
		}
		sub->arg = t->arg & ~CHI_TEST_LOCK_NESTED;
		sub->arg2 = 1;
		task->rc = chi_run(&sub->base);
		chi_task_free(sub);
		if (task->rc)
			goto out;
	}
	/* hold it across yields: others must queue up, not enter */
	for (uint64_t i = 0; i < t->arg2; i++)
		chi_task_yield();
	task->rc = 0;
out:
	atomic_fetch_sub(&st->in_section, 1);
	chi_comutex_unlock(&st->mutex);
}

static void m_rwlock(chi_container *c, chi_task *task)
{
	chi_test_task *t = (chi_test_task *)task;
	chi_test_stats *st = &chi_test_module_stats;

	record(c, task);
	if (t->arg2) {
		chi_corwlock_wrlock(&st->rwlock);
		if (atomic_fetch_add(&st->writers_in, 1) != 0 ||
		    atomic_load(&st->readers_in) != 0)
			atomic_fetch_add(&st->rw_violations, 1);
	} else {
		chi_corwlock_rdlock(&st->rwlock);
		atomic_fetch_add(&st->readers_in, 1);
		if (atomic_load(&st->writers_in) != 0)
			atomic_fetch_add(&st->rw_violations, 1);
	}
	for (uint64_t i = 0; i < t->arg; i++)
		chi_task_yield();
	if (t->arg2)
		atomic_fetch_sub(&st->writers_in, 1);
	else
		atomic_fetch_sub(&st->readers_in, 1);
	chi_corwlock_unlock(&st->rwlock);
	task->rc = 0;
}

static void m_suspend(chi_container *c, chi_task *task)
{
	chi_test_task *t = (chi_test_task *)task;

	record(c, task);
	if (t->arg) {
		/* resume before suspend: the permit must not be lost */
		chi_task_resume(task);
	} else {
		atomic_store(&chi_test_module_stats.suspended, task);
	}
	chi_task_suspend();
	t->out = 42;
	task->rc = 0;
}

static void m_fail(chi_container *c, chi_task *task)
{
	chi_test_task *t = (chi_test_task *)task;

	record(c, task);
	task->rc = (c->container_id == t->arg2) ? -(int32_t)t->arg : 0;
}

static void watch_cb(void *arg)
{
	chi_task *task = arg;
	int fd = atomic_load(&chi_test_module_stats.watch_fd);
	uint64_t v;

	if (read(fd, &v, sizeof(v)) != sizeof(v))
		return; /* spurious */
	atomic_fetch_add(&chi_test_module_stats.watch_callbacks, 1);
	chi_worker_unwatch_fd(fd);
	chi_task_resume(task);
}

static void m_watch(chi_container *c, chi_task *task)
{
	int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);

	record(c, task);
	if (fd < 0) {
		task->rc = -errno;
		return;
	}
	atomic_store(&chi_test_module_stats.watch_fd, fd);
	task->rc = chi_worker_watch_fd(fd, watch_cb, task);
	if (task->rc == 0)
		chi_task_suspend(); /* until watch_cb resumes us */
	atomic_store(&chi_test_module_stats.watch_fd, -1);
	close(fd);
}

static int test_parse(const chi_conf_node *entry, void **out, size_t *size)
{
	chi_test_params *p = calloc(1, sizeof(*p));
	int fail = 0, sub = 0, rc;
	uint64_t tag = 0;
	uint32_t pin = UINT32_MAX;

	if (!p)
		return -ENOMEM;
	p->pin_worker = -1;
	rc = chi_conf_get_bool(entry, "fail", &fail);
	if (!rc)
		rc = chi_conf_get_u64(entry, "tag", &tag);
	if (!rc)
		rc = chi_conf_get_u32(entry, "pin_worker", &pin);
	if (!rc)
		rc = chi_conf_get_bool(entry, "sub_pool", &sub);
	if (rc) {
		free(p);
		return rc;
	}
	p->fail_create = fail ? -EIO : 0;
	p->tag = tag;
	p->sub_pool = sub;
	p->pin_worker = pin == UINT32_MAX ? -1 : (int32_t)pin;
	*out = p;
	*size = sizeof(*p);
	return 0;
}

static int test_create(chi_container *c, const void *params, size_t size)
{
	const chi_test_params *p = params;
	struct state *s;

	if (!stats_ready) {
		chi_comutex_init(&chi_test_module_stats.mutex);
		chi_corwlock_init(&chi_test_module_stats.rwlock);
		stats_ready = 1;
	}
	if (p && size != sizeof(*p))
		return -EINVAL;
	if (p && p->fail_create)
		return p->fail_create;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->tag = p ? p->tag : 0;
	if (p && p->sub_pool && c->container_id == 0) {
		/* a create that creates a pool: runs in a task, the admin
		 * subtask is in our TaskId group and re-enters the registry */
		chi_test_params sp = {.pin_worker = -1, .tag = p->tag};
		chi_pool_id id = {400, (uint32_t)p->tag};
		char name[64];
		int rc;

		snprintf(name, sizeof(name), "sub_%llu",
		         (unsigned long long)p->tag);
		rc = chi_pool_get_or_create(&id, CHI_TEST_MODULE, name, &sp,
		                            sizeof(sp), 1);
		if (rc) {
			free(s);
			return rc;
		}
	}
	chi_test_module_stats.last_tag = s->tag;
	if (p)
		c->pinned_worker = p->pin_worker;
	c->state = s;
	atomic_fetch_add(&chi_test_module_stats.created, 1);
	return 0;
}

static void test_destroy(chi_container *c)
{
	free(c->state);
	c->state = NULL;
	atomic_fetch_add(&chi_test_module_stats.destroyed, 1);
}

static void m_inline(chi_container *c, chi_task *task)
{
	chi_test_task *t = (chi_test_task *)task, *sub;
	chi_test_stats *st = &chi_test_module_stats;

	record(c, task);
	t->out = (uint64_t)gettid();
	task->rc = 0;
	if (t->arg & 1) {
		chi_comutex_lock(&st->mutex);
		sub = chi_task_new(sizeof(*sub), c->pool_id,
		                   CHI_TEST_METHOD_LOCK);
		if (!sub) {
			task->rc = -ENOMEM;
		} else {
			task->rc = chi_run(&sub->base);
			if (!task->rc && sub->base.group_id != task->group_id)
				task->rc = -EXDEV;
			chi_task_free(sub);
		}
		chi_comutex_unlock(&st->mutex);
	}
	if (!task->rc && (t->arg & 2)) {
		chi_pool_id target = {(uint32_t)(t->arg2 >> 32),
		                      (uint32_t)t->arg2};

		sub = chi_task_new(sizeof(*sub), target,
		                   CHI_TEST_METHOD_INLINE);
		if (!sub) {
			task->rc = -ENOMEM;
			return;
		}
		task->rc = chi_run(&sub->base);
		t->sub_worker = sub->worker;
		if (!task->rc && sub->base.group_id != task->group_id)
			task->rc = -EXDEV;
		chi_task_free(sub);
	}
}

static int test_inline_ok(const chi_container *c, const chi_task *task)
{
	(void)c;
	return task->method == CHI_TEST_METHOD_INLINE;
}

/* Every method takes a chi_test_task. */
static const struct chi_method test_methods[CHI_TEST_METHOD_MAX] = {
    [CHI_TEST_METHOD_NOOP] = {m_noop, sizeof(chi_test_task)},
    [CHI_TEST_METHOD_SUBTASK] = {m_subtask, sizeof(chi_test_task)},
    [CHI_TEST_METHOD_COUNT] = {m_count, sizeof(chi_test_task)},
    [CHI_TEST_METHOD_SLEEP] = {m_sleep, sizeof(chi_test_task)},
    [CHI_TEST_METHOD_LOCK] = {m_lock, sizeof(chi_test_task)},
    [CHI_TEST_METHOD_SUSPEND] = {m_suspend, sizeof(chi_test_task)},
    [CHI_TEST_METHOD_FAIL] = {m_fail, sizeof(chi_test_task)},
    [CHI_TEST_METHOD_RWLOCK] = {m_rwlock, sizeof(chi_test_task)},
    [CHI_TEST_METHOD_WATCH] = {m_watch, sizeof(chi_test_task)},
    [CHI_TEST_METHOD_INLINE] = {m_inline, sizeof(chi_test_task)},
};

const struct chi_module_ops chi_module_ops = {
    .abi_version = CHI_MODULE_ABI_VERSION,
    .name = CHI_TEST_MODULE,
    .parse_params = test_parse,
    .create = test_create,
    .destroy = test_destroy,
    .methods = test_methods,
    .n_methods = CHI_TEST_METHOD_MAX,
    .inline_ok = test_inline_ok,
};
