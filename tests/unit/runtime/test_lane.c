/* Lanes: bounded MPSC queue under concurrent producers. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "runtime_i.h"

#define PRODUCERS    4
#define PER_PRODUCER 50000

struct producer {
	chi__lane *lane;
	unsigned id;
	unsigned long full_retries;
};

/* Items are fake pointers: (producer << 32 | seq) + 1, never dereferenced. */
static chi_task *item(unsigned p, unsigned seq)
{
	return (chi_task *)(uintptr_t)((((uint64_t)p << 32) | seq) + 1);
}

static void *produce(void *arg)
{
	struct producer *p = arg;

	for (unsigned i = 0; i < PER_PRODUCER; i++) {
		while (chi__lane_push(p->lane, item(p->id, i)) == -EAGAIN)
			p->full_retries++;
	}
	return NULL;
}

static void test_lane_concurrent_producers(void **state)
{
	chi__lane lane;
	pthread_t th[PRODUCERS];
	struct producer pr[PRODUCERS];
	unsigned next[PRODUCERS] = {0};
	uint64_t got = 0;

	(void)state;
	/* small lane: producers keep hitting "full" and the wrap-around */
	assert_int_equal(chi__lane_init(&lane, 64), 0);
	for (unsigned i = 0; i < PRODUCERS; i++) {
		pr[i] = (struct producer){&lane, i, 0};
		pthread_create(&th[i], NULL, produce, &pr[i]);
	}
	while (got < (uint64_t)PRODUCERS * PER_PRODUCER) {
		chi_task *t = chi__lane_pop(&lane);
		uint64_t v;
		unsigned p, seq;

		if (!t) {
			sched_yield(); /* let producers run on a busy box */
			continue;
		}
		v = (uint64_t)(uintptr_t)t - 1;
		p = (unsigned)(v >> 32);
		seq = (unsigned)(v & 0xffffffffu);
		assert_true(p < PRODUCERS);
		/* each producer's items arrive once, in order: no loss, no
		 * duplication */
		assert_int_equal(seq, next[p]);
		next[p]++;
		got++;
	}
	for (unsigned i = 0; i < PRODUCERS; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(next[i], PER_PRODUCER);
	}
	assert_null(chi__lane_pop(&lane));
	assert_true(chi__lane_empty(&lane));
	chi__lane_destroy(&lane);
}

static void test_lane_bounded(void **state)
{
	chi__lane lane;

	(void)state;
	assert_int_equal(chi__lane_init(&lane, 5), 0); /* rounds up to 8 */
	assert_true(chi__lane_empty(&lane));
	for (unsigned i = 0; i < 8; i++)
		assert_int_equal(chi__lane_push(&lane, item(0, i)), 0);
	assert_int_equal(chi__lane_push(&lane, item(0, 8)), -EAGAIN);
	assert_false(chi__lane_empty(&lane));
	assert_ptr_equal(chi__lane_pop(&lane), item(0, 0));
	assert_int_equal(chi__lane_push(&lane, item(0, 8)), 0);
	for (unsigned i = 1; i <= 8; i++)
		assert_ptr_equal(chi__lane_pop(&lane), item(0, i));
	assert_null(chi__lane_pop(&lane));
	chi__lane_destroy(&lane);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_lane_bounded),
	    cmocka_unit_test(test_lane_concurrent_producers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
