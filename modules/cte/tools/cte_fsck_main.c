/*
 * cte-fsck (journal level): check a stopped CTE store's metadata journal.
 *
 *   cte-fsck-journal [-r] [-d] [-q] DIR
 *
 * Verifies the checkpoint (checksum, framing) and every log segment
 * (framing, checksums, sequence continuity, group commits) in DIR and
 * prints a report.  -r cuts a torn tail of the last segment as the
 * daemon's startup would; -d (implies -r) also cuts the journal at a bad
 * record in an earlier, already synced segment (corruption, which the
 * daemon refuses to start on) and renames the later segments to
 * *.discarded; without either nothing is modified.  When built with CTE's
 * record decoder (CTE_FSCK_DECODER defined, linking cte__fsck_decoder), the
 * decoded metadata is cross-checked too (JOURNAL.md, "cte-fsck").
 *
 * Exit status: 0 consistent; 1 problems found (a torn tail, a corrupt
 * segment, uncommitted records, metadata inconsistencies); 2 the store cannot
 * be read (corrupt checkpoint, missing records, I/O error, bad usage).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "chimaera/error.h"
#include "journal_i.h"

#ifdef CTE_FSCK_DECODER
extern const cte_journal_decoder cte__fsck_decoder;
static const cte_journal_decoder *decoder = &cte__fsck_decoder;
#else
static const cte_journal_decoder *decoder;
#endif

static void usage(const char *prog)
{
	fprintf(
	    stderr,
	    "usage: %s [-r] [-d] [-q] JOURNAL_DIR\n"
	    "  -r  cut a torn tail (as startup does)\n"
	    "  -d  also cut at a bad record in a synced segment, renaming\n"
	    "      the later segments to *.discarded (drops their records)\n"
	    "  -q  print only problems\n",
	    prog);
}

int main(int argc, char **argv)
{
	cte_journal_report rep;
	uint32_t flags = 0;
	bool quiet = false;
	void *state = NULL;
	uint64_t problems = 0;
	int opt, rc, status;

	while ((opt = getopt(argc, argv, "rdqh")) != -1) {
		switch (opt) {
		case 'r':
			flags |= CTE_JOURNAL_REPAIR;
			break;
		case 'd':
			flags |= CTE_JOURNAL_REPAIR | CTE_JOURNAL_DISCARD;
			break;
		case 'q':
			quiet = true;
			break;
		default:
			usage(argv[0]);
			return opt == 'h' ? 0 : 2;
		}
	}
	if (optind + 1 != argc) {
		usage(argv[0]);
		return 2;
	}
	const char *dir = argv[optind];

	if (decoder) {
		rc = decoder->init(&state);
		if (rc) {
			fprintf(stderr, "%s: %s decoder: %s\n", dir,
			        decoder->name, strerror(-rc));
			return 2;
		}
	}
	rc = cte__journal_replay(dir, flags, decoder ? decoder->snapshot : NULL,
	                         decoder ? decoder->record : NULL, state, &rep);
	if (rc == -EUCLEAN && rep.corrupt) {
		/* -r on a corrupt segment: refused, nothing changed; the
		 * records before it were read and are checked below. */
		fprintf(stderr, "%s: not repaired: %s\n", dir,
		        chi_error_last());
		rc = 0;
	}
	if (rc) {
		const char *msg = chi_error_last();
		fprintf(stderr, "%s: cannot check: %s\n", dir,
		        msg[0] ? msg : strerror(-rc));
		status = 2;
		goto out;
	}
	if (!quiet || rep.torn)
		cte__journal_report_print(&rep, stdout);
	status = rep.torn ? 1 : 0;
	if (decoder) {
		rc = decoder->finish(state, stdout, &problems);
		if (rc) {
			fprintf(stderr, "%s: metadata checks stopped: %s\n",
			        dir, strerror(-rc));
			status = 2;
			goto out;
		}
		printf("metadata: %" PRIu64 " problems\n", problems);
		if (problems)
			status = 1;
	} else if (!quiet) {
		printf("metadata: not checked (built without CTE's decoder)\n");
	}
	if (!quiet || status)
		printf("%s: %s\n", dir, status ? "PROBLEMS FOUND" : "clean");
out:
	if (decoder)
		decoder->free(state);
	return status;
}
