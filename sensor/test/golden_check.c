/* C side of the layout check: fills struct lanner_evt_openat (sensor/gen/lanner_events.h) with the
 * values of Golden.openat (Tests/LannerWireTests/GoldenVectors.swift) and compares its bytes with the
 * record inside proto/golden/002-openat.bin, which the Swift encoder wrote. If the generated C structs
 * and the Swift codec ever disagree on an offset or a size, this fails.
 *   usage: golden_check proto/golden/002-openat.bin */
#include <linux/types.h>
#include <stdio.h>
#include <string.h>

#include "gen/lanner_events.h"

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: golden_check 002-openat.bin\n");
		return 2;
	}
	FILE *f = fopen(argv[1], "rb");
	if (!f) {
		perror(argv[1]);
		return 2;
	}
	unsigned char body[4096];
	size_t n = fread(body, 1, sizeof(body), f);
	fclose(f);
	if (n < 92) {
		fprintf(stderr, "golden_check: %s too short (%zu bytes)\n", argv[1], n);
		return 1;
	}
	/* Batch header: magic "LNRB", u16 major, u16 minor, u32 header length, ...; records follow it. */
	__u32 hlen;
	memcpy(&hlen, body + 8, 4);
	if (memcmp(body, "LNRB", 4) || hlen + sizeof(struct lanner_evt_openat) > n) {
		fprintf(stderr, "golden_check: not a batch with one openat record\n");
		return 1;
	}
	const unsigned char *rec = body + hlen;

	const char *name = "/etc/hostname";
	struct lanner_evt_openat e;
	memset(&e, 0xA5, sizeof(e)); /* every byte must be written by the assignments below */
	e.hdr.len = sizeof(e) + 2 + strlen(name) + 2 + strlen(name);
	e.hdr.type = LANNER_EVT_OPENAT;
	e.hdr.pid = 4242;
	e.hdr.tid = 4242;
	e.hdr.ts = 123460000;
	e.res = 3;
	e.flags = 02000000;
	e.mode = 0;
	e.dirfd = -100;
	e.dev = 0x800001;
	e.ino = 131075;

	int bad = 0;
	if (memcmp(&e, rec, sizeof(e))) {
		fprintf(stderr, "golden_check: fixed part of openat differs\n  C:    ");
		for (size_t i = 0; i < sizeof(e); i++) fprintf(stderr, "%02x", ((unsigned char *)&e)[i]);
		fprintf(stderr, "\n  wire: ");
		for (size_t i = 0; i < sizeof(e); i++) fprintf(stderr, "%02x", rec[i]);
		fprintf(stderr, "\n");
		bad = 1;
	}
	/* The variable part as the header comment says: u16 length + bytes, name then nameraw. */
	const unsigned char *v = rec + LANNER_EVT_OPENAT_FIXED_SIZE;
	for (int i = 0; i < LANNER_EVT_OPENAT_NVAR; i++) {
		__u16 len;
		memcpy(&len, v, 2);
		if (len != strlen(name) || memcmp(v + 2, name, len)) {
			fprintf(stderr, "golden_check: variable field %d differs\n", i);
			bad = 1;
		}
		v += 2 + len;
	}
	if ((size_t)(v - rec) != e.hdr.len) {
		fprintf(stderr, "golden_check: record length %u, fields end at %zu\n", e.hdr.len, (size_t)(v - rec));
		bad = 1;
	}
	if (!bad)
		printf("golden_check: struct lanner_evt_openat matches proto/golden/002-openat.bin (%zu fixed bytes)\n", sizeof(e));
	return bad;
}
