/*
 * cte-fuse: hooks on the /dev/fuse channel (fuse_session_custom_io).
 *
 * DESIGN: libfuse 3.14 neither offers FUSE_HANDLE_KILLPRIV_V2 nor passes
 * the kernel's "kill suid/sgid" request flags to the handlers.  Without
 * that INIT flag the kernel keeps SB_NOSEC off the superblock, so every
 * write(2) costs a GETXATTR security.capability round trip (FUSE-NOTES,
 * "the security.capability trap"), which with the write-back cache is the
 * whole cost of a small write.  So the daemon reads and writes the channel
 * through two hooks installed on the mount's own fd (no splice hooks:
 * libfuse then offers no splice, and every request and reply passes here):
 *
 *   read    after each read(2) of a request, note in thread-local storage
 *           the opcode, the node id and the privilege-killing flag of the
 *           request (FUSE_WRITE_KILL_SUIDGID, FATTR_KILL_SUIDGID,
 *           FUSE_OPEN_KILL_SUIDGID), and for FUSE_INIT whether the kernel
 *           offered FUSE_HANDLE_KILLPRIV_V2.  libfuse serves a request on
 *           the thread that read it, so the handler then finds its own
 *           request's flag (ctefs__raw_kill_flag), checked against its
 *           opcode and node id.
 *   writev  the reply to that FUSE_INIT (same thread, same unique, no
 *           error) gets FUSE_HANDLE_KILLPRIV_V2 added to fuse_init_out.flags
 *           when the kernel offered it and -o no_killpriv_v2 was not given;
 *           every other reply is passed to writev(2) untouched.
 *
 * The contract the daemon then owes (the kernel no longer does it) is kept
 * in attr.c: see ctefs__kill_privs there and cte-fuse(1), "SET-USER-ID,
 * SET-GROUP-ID AND CAPABILITIES".  Layouts are those of <linux/fuse.h>
 * (the kernel ABI, stable); the offsets used are checked at compile time.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>
#include <linux/fuse.h>

#include "ctefs_i.h"

_Static_assert(CTEFS_OP_SETATTR == FUSE_SETATTR, "FUSE_SETATTR");
_Static_assert(CTEFS_OP_OPEN == FUSE_OPEN, "FUSE_OPEN");
_Static_assert(CTEFS_OP_WRITE == FUSE_WRITE, "FUSE_WRITE");
_Static_assert(CTEFS_OP_CREATE == FUSE_CREATE, "FUSE_CREATE");
_Static_assert(sizeof(struct fuse_in_header) == 40, "fuse_in_header");
_Static_assert(sizeof(struct fuse_out_header) == 16, "fuse_out_header");
_Static_assert(offsetof(struct fuse_init_in, flags) == 12, "init_in.flags");
_Static_assert(offsetof(struct fuse_init_out, flags) == 12, "init_out.flags");
_Static_assert(offsetof(struct fuse_write_in, write_flags) == 20,
               "write_in.write_flags");
_Static_assert(offsetof(struct fuse_setattr_in, valid) == 0,
               "setattr_in.valid");
_Static_assert(offsetof(struct fuse_open_in, open_flags) == 4,
               "open_in.open_flags");
_Static_assert(offsetof(struct fuse_create_in, open_flags) == 12,
               "create_in.open_flags");

/* The request this thread read last (see DESIGN). */
struct raw_note {
	uint64_t unique;
	uint64_t nodeid;
	uint32_t opcode; /* 0: nothing usable was read */
	uint32_t flag;   /* the request's kill flag, or the INIT offer */
};

static __thread struct raw_note note;

/* A 32-bit field at `off` of the request body, if the body holds it. */
static bool body_u32(const char *body, size_t len, size_t off, uint32_t *out)
{
	if (len < off + sizeof(*out))
		return false;
	memcpy(out, body + off, sizeof(*out));
	return true;
}

static void note_request(const void *buf, size_t len)
{
	struct fuse_in_header in;
	const char *body = (const char *)buf + sizeof(in);
	size_t blen;
	uint32_t v = 0;
	bool ok = false;

	note.opcode = 0;
	if (len < sizeof(in))
		return;
	memcpy(&in, buf, sizeof(in));
	blen = len - sizeof(in);
	switch (in.opcode) {
	case FUSE_INIT:
		ok = body_u32(body, blen, offsetof(struct fuse_init_in, flags),
		              &v);
		v &= FUSE_HANDLE_KILLPRIV_V2;
		break;
	case FUSE_WRITE:
		ok = body_u32(body, blen,
		              offsetof(struct fuse_write_in, write_flags), &v);
		v &= FUSE_WRITE_KILL_SUIDGID;
		break;
	case FUSE_SETATTR:
		ok = body_u32(body, blen,
		              offsetof(struct fuse_setattr_in, valid), &v);
		v &= FATTR_KILL_SUIDGID;
		break;
	case FUSE_OPEN:
		ok = body_u32(body, blen,
		              offsetof(struct fuse_open_in, open_flags), &v);
		v &= FUSE_OPEN_KILL_SUIDGID;
		break;
	case FUSE_CREATE:
		ok = body_u32(body, blen,
		              offsetof(struct fuse_create_in, open_flags), &v);
		v &= FUSE_OPEN_KILL_SUIDGID;
		break;
	default:
		return;
	}
	if (!ok)
		return;
	note.unique = in.unique;
	note.nodeid = in.nodeid;
	note.flag = v;
	note.opcode = in.opcode;
}

static ssize_t raw_read(int fd, void *buf, size_t buf_len, void *userdata)
{
	ssize_t n = read(fd, buf, buf_len);

	(void)userdata;
	if (n > 0)
		note_request(buf, (size_t)n);
	else
		note.opcode = 0; /* errno stays read(2)'s for libfuse */
	return n;
}

/*
 * The INIT reply, copied into one buffer with FUSE_HANDLE_KILLPRIV_V2 added
 * (the iovecs point into libfuse's own memory, which stays untouched).
 * Returns the write's result, or -2 when the reply is not one to change.
 */
static ssize_t write_init_reply(struct ctefs *fs, int fd,
                                const struct iovec *iov, int count)
{
	char msg[sizeof(struct fuse_out_header) + 256];
	const size_t flags_at = sizeof(struct fuse_out_header) +
	                        offsetof(struct fuse_init_out, flags);
	size_t len = 0;
	uint32_t flags;
	ssize_t n;
	int i;

	for (i = 0; i < count; i++) {
		if (iov[i].iov_len > sizeof(msg) - len)
			return -2;
		memcpy(msg + len, iov[i].iov_base, iov[i].iov_len);
		len += iov[i].iov_len;
	}
	if (len < flags_at + sizeof(flags))
		return -2;
	memcpy(&flags, msg + flags_at, sizeof(flags));
	flags |= FUSE_HANDLE_KILLPRIV_V2;
	memcpy(msg + flags_at, &flags, sizeof(flags));
	n = write(fd, msg, len);
	if (n == (ssize_t)len) {
		__atomic_store_n(&fs->killpriv_v2, 1, __ATOMIC_RELEASE);
		if (fs->opts.debug)
			fprintf(stderr, "cte-fuse: INIT reply: added "
			                "FUSE_HANDLE_KILLPRIV_V2\n");
	}
	return n;
}

static ssize_t raw_writev(int fd, struct iovec *iov, int count, void *userdata)
{
	struct ctefs *fs = userdata;

	if (note.opcode == FUSE_INIT && note.flag && fs->opts.killpriv_v2 &&
	    count > 0 && iov[0].iov_len >= sizeof(struct fuse_out_header)) {
		struct fuse_out_header out;
		memcpy(&out, iov[0].iov_base, sizeof(out));
		if (out.unique == note.unique && out.error == 0) {
			ssize_t n = write_init_reply(fs, fd, iov, count);
			note.opcode = 0;
			if (n != -2)
				return n;
		}
	}
	return writev(fd, iov, count);
}

int ctefs__raw_kill_flag(uint32_t opcode, uint64_t nodeid)
{
	if (note.opcode != opcode || note.nodeid != nodeid)
		return -1;
	return note.flag != 0;
}

static const struct fuse_custom_io raw_io = {
    .read = raw_read,
    .writev = raw_writev,
};

const struct fuse_custom_io *ctefs__rawio_hooks(void)
{
	return &raw_io;
}

int ctefs__rawio_install(struct ctefs *fs)
{
	int fd = fuse_session_fd(fs->se);
	int ret;

	if (fd < 0)
		return -EBADF;
	ret = fuse_session_custom_io(fs->se, &raw_io, fd);
	return ret < 0 ? ret : ret > 0 ? -EINVAL : 0;
}
