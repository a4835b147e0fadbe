/* bench-loader: loads a BPF object the way BPFProbe.swift does, attaches every program and drains the
 * ring buffer in a loop until SIGINT/SIGTERM or --seconds. For bench/overhead.sh and for debugging:
 *
 *   bench-loader OBJ [--seconds N] [--dump] [--wakeup BYTES] [--ignore-self 0|1] [--only PREFIX] [--skip PREFIX] [--hex] [--stats]
 *
 * --stats prints, at the end, each attached program's run count and ns per run (needs
 * kernel.bpf_stats_enabled=1 while it runs); only this loader's programs, whoever else has probes loaded.
 * --dump prints each record (header, fixed part in hex, variable fields as text); --hex adds the raw bytes.
 * --only / --skip attach only the programs whose name starts (or does not start) with PREFIX.
 * OBJ without a lanner_events map (bench/empty.bpf.o) is only attached. At the end it prints one line:
 *   records=N bytes=N emitted=N ringbuf_full=N read_failures=N scratch_busy=N path_truncated=N cpu_s=F */
#define _GNU_SOURCE
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <linux/types.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "gen/lanner_events.h"
#include "lanner_abi.h"

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }

static unsigned long long n_records, n_bytes;
static int dump, hex, stats, vstats;

static const int fixed_size[LANNER_EVT_MAX] = {
	[LANNER_EVT_EXECVE] = LANNER_EVT_EXECVE_FIXED_SIZE, [LANNER_EVT_EXECVEAT] = LANNER_EVT_EXECVEAT_FIXED_SIZE,
	[LANNER_EVT_CLONE] = LANNER_EVT_CLONE_FIXED_SIZE, [LANNER_EVT_CLONE3] = LANNER_EVT_CLONE3_FIXED_SIZE,
	[LANNER_EVT_FORK] = LANNER_EVT_FORK_FIXED_SIZE, [LANNER_EVT_VFORK] = LANNER_EVT_VFORK_FIXED_SIZE,
	[LANNER_EVT_PROCEXIT] = LANNER_EVT_PROCEXIT_FIXED_SIZE, [LANNER_EVT_OPEN] = LANNER_EVT_OPEN_FIXED_SIZE,
	[LANNER_EVT_OPENAT] = LANNER_EVT_OPENAT_FIXED_SIZE, [LANNER_EVT_OPENAT2] = LANNER_EVT_OPENAT2_FIXED_SIZE,
	[LANNER_EVT_CREAT] = LANNER_EVT_CREAT_FIXED_SIZE, [LANNER_EVT_CONNECT] = LANNER_EVT_CONNECT_FIXED_SIZE,
};

static int on_record(void *ctx, void *data, size_t size)
{
	(void)ctx;
	n_records++;
	n_bytes += size;
	if (!dump)
		return 0;
	const struct lanner_hdr *h = data;
	printf("type=%u len=%u pid=%u tid=%u ts=%llu", h->type, h->len, h->pid, h->tid, (unsigned long long)h->ts);
	if (h->type < LANNER_EVT_MAX && fixed_size[h->type]) {
		const unsigned char *p = data;
		printf(" fixed=");
		for (int i = sizeof(*h); i < fixed_size[h->type]; i++)
			printf("%02x", p[i]);
		size_t off = fixed_size[h->type];
		while (off + 2 <= size) {
			unsigned n = p[off] | p[off + 1] << 8;
			printf(" [");
			for (unsigned i = 0; i < n && off + 2 + i < size; i++) {
				unsigned char c = p[off + 2 + i];
				putchar(c >= 32 && c < 127 ? c : (c == 0 ? '|' : '?'));
			}
			printf("]");
			off += 2 + n;
		}
	}
	if (hex) {
		printf("\n  raw=");
		for (size_t i = 0; i < size; i++)
			printf("%02x", ((const unsigned char *)data)[i]);
	}
	printf("\n");
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: bench-loader OBJ [--seconds N] [--dump] [--wakeup BYTES] [--ignore-self 0|1]\n");
		return 2;
	}
	double seconds = 0;
	long long wakeup = 256 << 10;
	int ignore_self = 1;
	const char *only = NULL, *skip = NULL;
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--seconds") && i + 1 < argc) seconds = atof(argv[++i]);
		else if (!strcmp(argv[i], "--dump")) dump = 1;
		else if (!strcmp(argv[i], "--hex")) dump = hex = 1;
		else if (!strcmp(argv[i], "--stats")) stats = 1;
		else if (!strcmp(argv[i], "--verifier-stats")) vstats = 1;
		else if (!strcmp(argv[i], "--wakeup") && i + 1 < argc) wakeup = atoll(argv[++i]);
		else if (!strcmp(argv[i], "--ignore-self") && i + 1 < argc) ignore_self = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--only") && i + 1 < argc) only = argv[++i];
		else if (!strcmp(argv[i], "--skip") && i + 1 < argc) skip = argv[++i];
	}
	struct bpf_object *obj = bpf_object__open_file(argv[1], NULL);
	if (!obj) { perror("open"); return 1; }
	struct bpf_map *events = bpf_object__find_map_by_name(obj, "lanner_events");
	struct bpf_map *scratch = bpf_object__find_map_by_name(obj, "lanner_scratch");
	if (scratch) bpf_map__set_max_entries(scratch, libbpf_num_possible_cpus());
	static char vlog[64][4096];
	if (vstats) {
		int i = 0;
		struct bpf_program *p;
		bpf_object__for_each_program(p, obj) {
			if (i < 64) {
				bpf_program__set_log_level(p, 4);
				bpf_program__set_log_buf(p, vlog[i++], sizeof(vlog[0]));
			}
		}
	}
	struct timespec l0, l1;
	clock_gettime(CLOCK_MONOTONIC, &l0);
	if (bpf_object__load(obj)) { perror("load"); return 1; }
	clock_gettime(CLOCK_MONOTONIC, &l1);
	if (vstats) {
		int i = 0;
		struct bpf_program *p;
		bpf_object__for_each_program(p, obj) {
			if (i >= 64)
				break;
			const char *line = strstr(vlog[i++], "processed ");
			unsigned long insns = 0;
			if (line)
				sscanf(line, "processed %lu", &insns);
			fprintf(stderr, "verifier %-40s %8lu insns processed %6zu insns\n", bpf_program__name(p), insns,
				bpf_program__insn_cnt(p));
		}
		fprintf(stderr, "verifier load %.3f s\n", (l1.tv_sec - l0.tv_sec) + (l1.tv_nsec - l0.tv_nsec) / 1e9);
		return 0;
	}
	struct bpf_map *cfgm = bpf_object__find_map_by_name(obj, "lanner_cfg");
	struct bpf_map *interest = bpf_object__find_map_by_name(obj, "lanner_interest");
	struct bpf_map *counters = bpf_object__find_map_by_name(obj, "lanner_counters");
	if (cfgm) {
		struct lanner_config c = { .wakeup_bytes = wakeup, .argv_limit = 4096 };
		if (ignore_self) { c.n_ignored = 1; c.ignored_tgids[0] = getpid(); }
		__u32 k = 0;
		bpf_map_update_elem(bpf_map__fd(cfgm), &k, &c, BPF_ANY);
	}
	if (interest)
		for (__u32 k = 0; k < bpf_map__max_entries(interest); k++) {
			__u32 on = 1;
			bpf_map_update_elem(bpf_map__fd(interest), &k, &on, BPF_ANY);
		}
	struct bpf_program *prog;
	int nprog = 0;
	bpf_object__for_each_program(prog, obj) {
		const char *name = bpf_program__name(prog);
		if ((only && strncmp(name, only, strlen(only))) || (skip && !strncmp(name, skip, strlen(skip))))
			continue;
		if (!bpf_program__attach(prog)) {
			fprintf(stderr, "attach %s: %s\n", bpf_program__name(prog), strerror(errno));
			return 1;
		}
		nprog++;
	}
	struct ring_buffer *rb = events ? ring_buffer__new(bpf_map__fd(events), on_record, NULL, NULL) : NULL;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	struct rusage ru0;
	getrusage(RUSAGE_SELF, &ru0); /* consumer CPU is counted from here: loading and verifying is not */
	fprintf(stderr, "bench-loader: %d programs attached, pid %d\n", nprog, getpid());
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (!stop) {
		if (rb) {
			ring_buffer__poll(rb, 100);
			ring_buffer__consume(rb);
		} else {
			usleep(100000);
		}
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (seconds > 0 && (t.tv_sec - t0.tv_sec) + (t.tv_nsec - t0.tv_nsec) / 1e9 >= seconds)
			break;
	}
	if (rb) ring_buffer__consume(rb);
	unsigned long long sum[LANNER_CNT_MAX] = {0};
	if (counters) {
		int ncpu = libbpf_num_possible_cpus();
		__u64 vals[ncpu];
		for (__u32 k = 0; k < LANNER_CNT_MAX; k++)
			if (!bpf_map_lookup_elem(bpf_map__fd(counters), &k, vals))
				for (int c = 0; c < ncpu; c++) sum[k] += vals[c];
	}
	if (stats) {
		bpf_object__for_each_program(prog, obj) {
			struct bpf_prog_info info = {};
			__u32 len = sizeof(info);
			if (bpf_program__fd(prog) < 0 || bpf_obj_get_info_by_fd(bpf_program__fd(prog), &info, &len) || !info.run_cnt)
				continue;
			fprintf(stderr, "    %-24s %7.0f ns/run %10llu runs\n", bpf_program__name(prog),
				(double)info.run_time_ns / info.run_cnt, (unsigned long long)info.run_cnt);
		}
	}
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	printf("records=%llu bytes=%llu emitted=%llu ringbuf_full=%llu read_failures=%llu scratch_busy=%llu path_truncated=%llu cpu_s=%.3f\n",
	       n_records, n_bytes, sum[0], sum[1], sum[2], sum[3], sum[4],
	       (ru.ru_utime.tv_sec - ru0.ru_utime.tv_sec) + (ru.ru_stime.tv_sec - ru0.ru_stime.tv_sec) +
		       ((ru.ru_utime.tv_usec - ru0.ru_utime.tv_usec) + (ru.ru_stime.tv_usec - ru0.ru_stime.tv_usec)) / 1e6);
	fflush(stdout);
	return 0;
}
