/*
 * CRC32C (Castagnoli polynomial, reflected 0x82F63B78), as used by iSCSI,
 * ext4 and btrfs.  The SSE4.2 crc32 instruction when the CPU has it, else a
 * table built once.  cte__crc32c(0, "123456789", 9) == 0xE3069283.
 */
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "journal_i.h"

#define CRC32C_POLY 0x82F63B78u

static uint32_t crc_table[256];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;
static int have_sse42;

static void table_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ CRC32C_POLY : c >> 1;
		crc_table[i] = c;
	}
#if defined(__x86_64__)
	__builtin_cpu_init();
	have_sse42 = __builtin_cpu_supports("sse4.2");
#endif
}

static uint32_t crc_soft(uint32_t crc, const uint8_t *p, size_t len)
{
	while (len--)
		crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t
crc_hw(uint32_t crc, const uint8_t *p, size_t len)
{
	uint64_t c = crc;
	while (len >= 8) {
		uint64_t word;
		memcpy(&word, p, 8);
		c = __builtin_ia32_crc32di(c, word);
		p += 8;
		len -= 8;
	}
	uint32_t c32 = (uint32_t)c;
	while (len--)
		c32 = __builtin_ia32_crc32qi(c32, *p++);
	return c32;
}
#endif

/*
 * CRC32C of len bytes, continuing from a previous result `crc` (0 for the
 * first piece): crc32c(crc32c(0, a), b) == crc32c(0, a || b).
 */
uint32_t cte__crc32c(uint32_t crc, const void *data, size_t len)
{
	pthread_once(&table_once, table_init);
	crc = ~crc;
#if defined(__x86_64__)
	if (have_sse42)
		return ~crc_hw(crc, data, len);
#endif
	return ~crc_soft(crc, data, len);
}
