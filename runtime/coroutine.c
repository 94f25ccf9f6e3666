/*
 * Coroutines: every task runs on its own stack so that it can wait.
 *
 * DESIGN
 * - A coroutine is a stack plus a saved context.  Stacks are
 *   CHI_CORO_STACK_SIZE bytes (128 KiB; 512 KiB under AddressSanitizer,
 *   whose redzones make frames larger) with one PROT_NONE guard page below,
 *   so an overflow faults instead of corrupting a neighbour.  Memory is
 *   mmap'd and only touched pages become resident.
 * - Each worker keeps a free list of finished coroutines and reuses them
 *   (up to MAX_FREE_CORO; beyond that stacks are unmapped).  A coroutine
 *   never migrates between workers, so thread-locals stay valid in it.
 * - A coroutine's body is a loop: run the task given to it, mark itself
 *   FINISHED, switch back to the worker.  Reusing a pooled coroutine is
 *   therefore a single switch, with no context set-up.
 * - The switch on x86_64 is a dozen instructions of assembly
 *   (chi__ctx_swap) saving the callee-saved registers, the x87 control
 *   word and MXCSR on the old stack and restoring them from the new one.
 *   Other architectures (or -DCHI_CORO_UCONTEXT) use swapcontext(), which
 *   is correct but slower (it saves the signal mask with a system call).
 * - Under AddressSanitizer every switch is announced with
 *   __sanitizer_start_switch_fiber / __sanitizer_finish_switch_fiber so
 *   ASan knows which stack is live, and stacks are unpoisoned before they
 *   are unmapped.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "runtime_i.h"

#if !defined(__x86_64__) && !defined(CHI_CORO_UCONTEXT)
#define CHI_CORO_UCONTEXT 1
#endif

#ifdef CHI_CORO_UCONTEXT
#include <ucontext.h>
#endif

#ifdef CHI_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

#define MAX_FREE_CORO 256

static void coro_main(chi__coro *co);

#ifndef CHI_CORO_UCONTEXT
/*
 * void chi__ctx_swap(void **save_sp, void *new_sp)
 * Push the callee-saved state, store rsp in *save_sp, load new_sp, pop the
 * state saved there and return into that context.
 *
 * chi__ctx_entry: first "return address" of a fresh coroutine; calls
 * r13(r12) with a 16-byte aligned stack and never returns.
 */
void chi__ctx_swap(void **save_sp, void *new_sp);
void chi__ctx_entry(void);
/* clang-format off */
__asm__(".text\n"
	".p2align 4\n"
	".globl chi__ctx_swap\n"
	".hidden chi__ctx_swap\n"
	".type chi__ctx_swap,@function\n"
	"chi__ctx_swap:\n"
	"\tpushq %rbp\n"
	"\tpushq %rbx\n"
	"\tpushq %r12\n"
	"\tpushq %r13\n"
	"\tpushq %r14\n"
	"\tpushq %r15\n"
	"\tsubq $8, %rsp\n"
	"\tstmxcsr (%rsp)\n"
	"\tfnstcw 4(%rsp)\n"
	"\tmovq %rsp, (%rdi)\n"
	"\tmovq %rsi, %rsp\n"
	"\tldmxcsr (%rsp)\n"
	"\tfldcw 4(%rsp)\n"
	"\taddq $8, %rsp\n"
	"\tpopq %r15\n"
	"\tpopq %r14\n"
	"\tpopq %r13\n"
	"\tpopq %r12\n"
	"\tpopq %rbx\n"
	"\tpopq %rbp\n"
	"\tret\n"
	".size chi__ctx_swap, .-chi__ctx_swap\n"
	".p2align 4\n"
	".globl chi__ctx_entry\n"
	".hidden chi__ctx_entry\n"
	".type chi__ctx_entry,@function\n"
	"chi__ctx_entry:\n"
	"\tmovq %r12, %rdi\n"
	"\tcallq *%r13\n"
	"\tud2\n"
	".size chi__ctx_entry, .-chi__ctx_entry\n");
/* clang-format on */

/* Lay out a fresh stack so that the first chi__ctx_swap into it "returns"
 * into chi__ctx_entry with r12 = co and r13 = coro_main. */
static void ctx_make(chi__coro *co)
{
	uintptr_t top = ((uintptr_t)co->stack_lo + co->stack_size) & ~15ul;
	/* after `ret` pops the entry address rsp must be 16-byte aligned */
	uint64_t *ret_slot = (uint64_t *)(top - 24);
	uint64_t *sp = ret_slot - 7;

	ret_slot[0] = (uint64_t)(uintptr_t)chi__ctx_entry;
	ret_slot[-1] = 0;                              /* rbp */
	ret_slot[-2] = 0;                              /* rbx */
	ret_slot[-3] = (uint64_t)(uintptr_t)co;        /* r12 */
	ret_slot[-4] = (uint64_t)(uintptr_t)coro_main; /* r13 */
	ret_slot[-5] = 0;                              /* r14 */
	ret_slot[-6] = 0;                              /* r15 */
	/* MXCSR default (all exceptions masked) and x87 control word */
	sp[0] = 0x1F80ull | (0x037Full << 32);
	co->sp = sp;
}

static inline void ctx_switch(void **save, void **load_from)
{
	chi__ctx_swap(save, *load_from);
}
#else
static void uctx_entry(unsigned int hi, unsigned int lo)
{
	chi__coro *co = (chi__coro *)(((uintptr_t)hi << 32) | lo);

	coro_main(co);
}

static void ctx_make(chi__coro *co)
{
	ucontext_t *uc = co->uctx;
	uintptr_t p = (uintptr_t)co;

	getcontext(uc);
	uc->uc_stack.ss_sp = co->stack_lo;
	uc->uc_stack.ss_size = co->stack_size;
	uc->uc_link = NULL;
	makecontext(uc, (void (*)(void))uctx_entry, 2, (unsigned int)(p >> 32),
	            (unsigned int)(p & 0xffffffffu));
}
#endif

static chi__coro *coro_new(chi__worker *w)
{
	long page = sysconf(_SC_PAGESIZE);
	size_t map_size = CHI_CORO_STACK_SIZE + (size_t)page;
	chi__coro *co = calloc(1, sizeof(*co));
	void *map;

	if (!co)
		return NULL;
	map = mmap(NULL, map_size, PROT_READ | PROT_WRITE,
	           MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (map == MAP_FAILED)
		goto err_co;
	if (mprotect(map, (size_t)page, PROT_NONE) != 0)
		goto err_map;
	co->map = map;
	co->map_size = map_size;
	co->stack_lo = (char *)map + page;
	co->stack_size = CHI_CORO_STACK_SIZE;
	co->worker = w;
#ifdef CHI_CORO_UCONTEXT
	co->uctx = calloc(1, sizeof(ucontext_t));
	if (!co->uctx)
		goto err_map;
#endif
	ctx_make(co);
	w->n_coros++;
	return co;

err_map:
	munmap(map, map_size);
err_co:
	free(co);
	return NULL;
}

static void coro_destroy(chi__coro *co)
{
#ifdef CHI_ASAN
	/* frames parked on this stack left redzones poisoned */
	ASAN_UNPOISON_MEMORY_REGION(co->stack_lo, co->stack_size);
#endif
	munmap(co->map, co->map_size);
	free(co->uctx);
	co->worker->n_coros--;
	free(co);
}

chi__coro *chi__coro_get(chi__worker *w)
{
	chi__coro *co = w->free_coros;

	if (co) {
		w->free_coros = co->next;
		w->n_free_coros--;
		co->next = NULL;
		return co;
	}
	return coro_new(w);
}

void chi__coro_put(chi__worker *w, chi__coro *co)
{
	co->task = NULL;
	if (w->n_free_coros >= MAX_FREE_CORO) {
		coro_destroy(co);
		return;
	}
	co->next = w->free_coros;
	w->free_coros = co;
	w->n_free_coros++;
}

void chi__coro_free_all(chi__worker *w)
{
	while (w->free_coros) {
		chi__coro *co = w->free_coros;

		w->free_coros = co->next;
		coro_destroy(co);
	}
	w->n_free_coros = 0;
}

void chi__coro_enter(chi__worker *w, chi__coro *co)
{
#ifdef CHI_ASAN
	void *fake = NULL;

	__sanitizer_start_switch_fiber(&fake, co->stack_lo, co->stack_size);
#endif
	co->state = CHI__CORO_RUNNING;
	w->current = co;
#ifdef CHI_CORO_UCONTEXT
	if (!w->sched_uctx)
		w->sched_uctx = calloc(1, sizeof(ucontext_t));
	swapcontext(w->sched_uctx, co->uctx);
#else
	ctx_switch(&w->sched_sp, &co->sp);
#endif
	w->current = NULL;
#ifdef CHI_ASAN
	__sanitizer_finish_switch_fiber(fake, NULL, NULL);
#endif
}

void chi__coro_leave(chi__coro *co)
{
	chi__worker *w = co->worker;

#ifdef CHI_ASAN
	__sanitizer_start_switch_fiber(&co->asan_fake, w->sched_stack_lo,
	                               w->sched_stack_size);
#endif
#ifdef CHI_CORO_UCONTEXT
	swapcontext(co->uctx, w->sched_uctx);
#else
	ctx_switch(&co->sp, &w->sched_sp);
#endif
#ifdef CHI_ASAN
	__sanitizer_finish_switch_fiber(co->asan_fake, &w->sched_stack_lo,
	                                &w->sched_stack_size);
#endif
}

/* Body of every coroutine: run tasks handed to it, forever. */
static void coro_main(chi__coro *co)
{
#ifdef CHI_ASAN
	__sanitizer_finish_switch_fiber(NULL, &co->worker->sched_stack_lo,
	                                &co->worker->sched_stack_size);
#endif
	for (;;) {
		chi__task_execute(co->task);
		co->state = CHI__CORO_FINISHED;
		chi__coro_leave(co);
	}
}
