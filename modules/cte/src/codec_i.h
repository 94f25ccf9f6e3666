/*
 * Little-endian encoding of record payloads: a private interface of the
 * CTE module, shared by the metadata journal's records and the metadata
 * image (image.c).
 *
 * The encoder is a growing buffer with a sticky error: a failed put sets
 * err and later puts do nothing, so a record is built with puts and its
 * err checked once.  The decoder is a bounded cursor with the same sticky
 * error: a get past the end sets err, so a decoder may check once at the
 * end.  Every integer is written little-endian whatever the host.
 */
#ifndef CTE_CODEC_I_H
#define CTE_CODEC_I_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A growing output buffer; a failed put sets err (-ENOMEM) and later puts
 * do nothing, so a record is built with puts and checked once. */
typedef struct cte_jenc {
	uint8_t *data;
	size_t len, cap;
	int err;
} cte_jenc;

/* A bounded input cursor; a get past the end sets err (-EBADMSG), returns
 * -EBADMSG and zeroes its output, so a decoder may check once at the end. */
typedef struct cte_jdec {
	const uint8_t *data;
	size_t len, pos;
	int err;
} cte_jdec;

/* Little-endian stores and loads at p (a fixed-size part of a record
 * reserved at once with cte__jenc_room() or read with cte__jdec_take()):
 * a memcpy, with a byte swap on a big-endian host. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define CTE_LE16(v) __builtin_bswap16(v)
#define CTE_LE32(v) __builtin_bswap32(v)
#define CTE_LE64(v) __builtin_bswap64(v)
#else
#define CTE_LE16(v) (v)
#define CTE_LE32(v) (v)
#define CTE_LE64(v) (v)
#endif

static inline void cte__le_store16(uint8_t *p, uint16_t v)
{
	v = CTE_LE16(v);
	memcpy(p, &v, sizeof(v));
}

static inline void cte__le_store32(uint8_t *p, uint32_t v)
{
	v = CTE_LE32(v);
	memcpy(p, &v, sizeof(v));
}

static inline void cte__le_store64(uint8_t *p, uint64_t v)
{
	v = CTE_LE64(v);
	memcpy(p, &v, sizeof(v));
}

static inline uint16_t cte__le_load16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof(v));
	return CTE_LE16(v);
}

static inline uint32_t cte__le_load32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return CTE_LE32(v);
}

static inline uint64_t cte__le_load64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return CTE_LE64(v);
}

static inline void cte__jenc_init(cte_jenc *e)
{
	e->data = NULL;
	e->len = 0;
	e->cap = 0;
	e->err = 0;
}

static inline void cte__jenc_destroy(cte_jenc *e)
{
	free(e->data);
	cte__jenc_init(e);
}

/* Empty the buffer, keeping its memory. */
static inline void cte__jenc_reset(cte_jenc *e)
{
	e->len = 0;
	e->err = 0;
}

static inline uint8_t *cte__jenc_room(cte_jenc *e, size_t n)
{
	if (e->err)
		return NULL;
	if (n > SIZE_MAX / 2 - e->len) {
		e->err = -ENOMEM;
		return NULL;
	}
	if (e->len + n > e->cap) {
		size_t cap = e->cap ? e->cap : 64;
		while (cap < e->len + n)
			cap *= 2;
		uint8_t *p = realloc(e->data, cap);
		if (!p) {
			e->err = -ENOMEM;
			return NULL;
		}
		e->data = p;
		e->cap = cap;
	}
	uint8_t *at = e->data + e->len;
	e->len += n;
	return at;
}

static inline void cte__jenc_put_u8(cte_jenc *e, uint8_t v)
{
	uint8_t *p = cte__jenc_room(e, 1);
	if (p)
		p[0] = v;
}

static inline void cte__jenc_put_u16(cte_jenc *e, uint16_t v)
{
	uint8_t *p = cte__jenc_room(e, 2);
	if (p)
		cte__le_store16(p, v);
}

static inline void cte__jenc_put_u32(cte_jenc *e, uint32_t v)
{
	uint8_t *p = cte__jenc_room(e, 4);
	if (p)
		cte__le_store32(p, v);
}

static inline void cte__jenc_put_u64(cte_jenc *e, uint64_t v)
{
	uint8_t *p = cte__jenc_room(e, 8);
	if (p)
		cte__le_store64(p, v);
}

/* Overwrite the u32 at offset at (a length put as 0 before its body). */
static inline void cte__jenc_set_u32(cte_jenc *e, size_t at, uint32_t v)
{
	if (e->err || at > e->len || e->len - at < 4)
		return;
	cte__le_store32(e->data + at, v);
}

static inline void cte__jenc_put_f64(cte_jenc *e, double v)
{
	uint64_t bits;
	memcpy(&bits, &v, sizeof(bits));
	cte__jenc_put_u64(e, bits);
}

/* Raw bytes, no length prefix. */
static inline void cte__jenc_put_bytes(cte_jenc *e, const void *src, size_t n)
{
	uint8_t *p = cte__jenc_room(e, n);
	if (p && n)
		memcpy(p, src, n);
}

/* A u32 length and the bytes (values, names). */
static inline void cte__jenc_put_blob(cte_jenc *e, const void *src, size_t n)
{
	if (n > UINT32_MAX) {
		if (!e->err)
			e->err = -EMSGSIZE;
		return;
	}
	cte__jenc_put_u32(e, (uint32_t)n);
	cte__jenc_put_bytes(e, src, n);
}

/* A NUL-terminated string as a u32 length and its bytes (no NUL). */
static inline void cte__jenc_put_str(cte_jenc *e, const char *s)
{
	cte__jenc_put_blob(e, s, strlen(s));
}

static inline void cte__jdec_init(cte_jdec *d, const void *data, size_t len)
{
	d->data = data;
	d->len = len;
	d->pos = 0;
	d->err = 0;
}

/* Bytes not yet read. */
static inline size_t cte__jdec_left(const cte_jdec *d)
{
	return d->len - d->pos;
}

static inline const uint8_t *cte__jdec_take(cte_jdec *d, size_t n)
{
	if (d->err || n > d->len - d->pos) {
		d->err = -EBADMSG;
		return NULL;
	}
	const uint8_t *p = d->data + d->pos;
	d->pos += n;
	return p;
}

static inline int cte__jdec_get_u8(cte_jdec *d, uint8_t *out)
{
	const uint8_t *p = cte__jdec_take(d, 1);
	*out = p ? p[0] : 0;
	return p ? 0 : -EBADMSG;
}

static inline int cte__jdec_get_u16(cte_jdec *d, uint16_t *out)
{
	const uint8_t *p = cte__jdec_take(d, 2);
	*out = p ? cte__le_load16(p) : 0;
	return p ? 0 : -EBADMSG;
}

static inline int cte__jdec_get_u32(cte_jdec *d, uint32_t *out)
{
	const uint8_t *p = cte__jdec_take(d, 4);
	*out = p ? cte__le_load32(p) : 0;
	return p ? 0 : -EBADMSG;
}

static inline int cte__jdec_get_u64(cte_jdec *d, uint64_t *out)
{
	const uint8_t *p = cte__jdec_take(d, 8);
	*out = p ? cte__le_load64(p) : 0;
	return p ? 0 : -EBADMSG;
}

static inline int cte__jdec_get_f64(cte_jdec *d, double *out)
{
	uint64_t bits;
	int rc = cte__jdec_get_u64(d, &bits);
	memcpy(out, &bits, sizeof(*out));
	return rc;
}

/* n raw bytes copied to dst. */
static inline int cte__jdec_get_bytes(cte_jdec *d, void *dst, size_t n)
{
	const uint8_t *p = cte__jdec_take(d, n);
	if (!p) {
		if (n)
			memset(dst, 0, n);
		return -EBADMSG;
	}
	if (n)
		memcpy(dst, p, n);
	return 0;
}

/* A length-prefixed value, borrowed from the payload (*out_ptr, *out_n). */
static inline int cte__jdec_get_blob(cte_jdec *d, const void **out_ptr,
                                     uint32_t *out_n)
{
	uint32_t n;
	const uint8_t *p = NULL;
	if (cte__jdec_get_u32(d, &n) == 0)
		p = cte__jdec_take(d, n);
	*out_ptr = p;
	*out_n = p ? n : 0;
	return p ? 0 : -EBADMSG;
}

/* A length-prefixed string copied NUL-terminated into buf; a string that
 * does not fit, or that holds a NUL, is -EBADMSG. */
static inline int cte__jdec_get_str(cte_jdec *d, char *buf, size_t size)
{
	const void *p;
	uint32_t n;
	if (size)
		buf[0] = '\0';
	if (cte__jdec_get_blob(d, &p, &n))
		return -EBADMSG;
	if ((size_t)n >= size || memchr(p, '\0', n)) {
		d->err = -EBADMSG;
		return -EBADMSG;
	}
	memcpy(buf, p, n);
	buf[n] = '\0';
	return 0;
}

#endif
