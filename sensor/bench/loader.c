/* bench-loader: loads a BPF object the way BPFProbe.swift does, attaches every program and drains the
 * ring buffer in a loop until SIGINT/SIGTERM or --seconds. For bench/overhead.sh and for debugging:
 *
 *   bench-loader OBJ [--interest SPEC] [--seconds N] [--dump] [--wakeup BYTES] [--ignore-self 0|1] [--only PREFIX]
 *                [--skip PREFIX] [--hex] [--stats] [--verifier-stats]
 *
 * --interest picks the programs BPFProbe would attach for an interest set (sensor/README.md, attach strategy)
 * and writes the interest map alike: "default" (BPFProbe.defaultInterest: execs, the clone family, exits, the
 * open family, connect), "all", "none", or event names separated by commas. Default: "default". Programs
 * whose names follow no Lanner convention (bench/rawtp.bpf.c's) are always attached.
 * --verifier-stats loads only, and prints each program's verified instruction count and the load time.
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

#define fixed_size lanner_event_fixed_size

/* ---- the attach strategy of Sources/LannerSensorAgent/ProgramPlan.swift, for the same program names ---- */
static unsigned char wanted[LANNER_EVT_MAX];

static int event_id(const char *name, size_t len)
{
	for (int i = 1; i < LANNER_EVT_MAX; i++)
		if (lanner_event_names[i] && lanner_event_from_kernel[i] && strlen(lanner_event_names[i]) == len &&
		    !strncmp(lanner_event_names[i], name, len))
			return i;
	return -1;
}

static int parse_interest(const char *spec)
{
	memset(wanted, 0, sizeof(wanted));
	if (!strcmp(spec, "none"))
		return 0;
	if (!strcmp(spec, "all")) {
		for (int i = 1; i < LANNER_EVT_MAX; i++)
			wanted[i] = lanner_event_from_kernel[i];
		return 0;
	}
	if (!strcmp(spec, "default"))
		spec = "execve,execveat,clone,clone3,fork,vfork,procexit,open,openat,openat2,creat,connect";
	for (const char *p = spec; *p;) {
		const char *e = strchr(p, ',');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		int id = event_id(p, n);
		if (id < 0) {
			fprintf(stderr, "bench-loader: unknown event %.*s\n", (int)n, p);
			return -1;
		}
		wanted[id] = 1;
		p += n + (e ? 1 : 0);
	}
	return 0;
}

/* Does the tracefs event of a "tracepoint/..." section exist? Other sections are assumed present. */
static int hook_exists(const char *sec)
{
	if (strncmp(sec, "tracepoint/", 11))
		return 1;
	char path[256];
	snprintf(path, sizeof(path), "/sys/kernel/tracing/events/%s", sec + 11);
	return access("/sys/kernel/tracing/events/syscalls", F_OK) || !access(path, F_OK);
}

static int name_wanted(const char *name, size_t len)
{
	int id = event_id(name, len);
	return id > 0 && wanted[id];
}

/* 1 attach, 0 not, for a program of the plan; missing[] = events whose own program is unavailable */
static int plan_wants(const char *name, const unsigned char *missing)
{
	if (!strncmp(name, "lanner_sched_", 13))
		return 1;
	if (!strcmp(name, "lanner_enter_execveat") || !strcmp(name, "lanner_exit_execveat"))
		return wanted[LANNER_EVT_EXECVE] || wanted[LANNER_EVT_EXECVEAT];
	if (!strncmp(name, "lanner_exit_", 12))
		return name_wanted(name + 12, strlen(name + 12));
	if (!strncmp(name, "lanner_enter_", 13))
		return name_wanted(name + 13, strlen(name + 13));
	if (!strncmp(name, "lanner_raw_", 11)) {
		for (const char *p = name + 11; *p;) {
			const char *e = strstr(p, "__");
			size_t n = e ? (size_t)(e - p) : strlen(p);
			int id = event_id(p, n);
			if (id > 0 && wanted[id] && missing[id])
				return 1;
			p += n + (e ? 2 : 0);
		}
		return 0;
	}
	return 1;
}

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
		fprintf(stderr, "usage: bench-loader OBJ [--seconds N] [--dump] [--wakeup BYTES] [--ignore-self 0|1] [--interest LIST]"
				" [--omit open.nameraw]\n");
		return 2;
	}
	double seconds = 0;
	long long wakeup = 256 << 10;
	int ignore_self = 1;
	const char *only = NULL, *skip = NULL, *interest_spec = "default";
	int omit_nameraw = 0; /* the collector's omit ["open.nameraw"] (Interest.Omit) */
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
		else if (!strcmp(argv[i], "--interest") && i + 1 < argc) interest_spec = argv[++i];
		else if (!strcmp(argv[i], "--omit") && i + 1 < argc) {
			if (strcmp(argv[++i], "open.nameraw")) {
				fprintf(stderr, "bench-loader: --omit knows only open.nameraw, not %s\n", argv[i]);
				return 2;
			}
			omit_nameraw = 1;
		} else {
			fprintf(stderr, "bench-loader: unknown option %s\n", argv[i]);
			return 2;
		}
	}
	if (parse_interest(interest_spec))
		return 2;
	/* first: a background job of a script starts with SIGINT ignored, and a stop during the load must count */
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	struct bpf_object *obj = bpf_object__open_file(argv[1], NULL);
	if (!obj) { perror("open"); return 1; }
	/* programs whose hook is missing are not loaded; their events go to a lanner_raw_* stand-in */
	unsigned char missing[LANNER_EVT_MAX] = {0};
	struct bpf_program *prog;
	bpf_object__for_each_program(prog, obj) {
		if (hook_exists(bpf_program__section_name(prog)))
			continue;
		bpf_program__set_autoload(prog, false);
		const char *n = bpf_program__name(prog);
		const char *ev = !strncmp(n, "lanner_exit_", 12) ? n + 12 : (!strncmp(n, "lanner_enter_", 13) ? n + 13 : NULL);
		int id = ev ? event_id(ev, strlen(ev)) : -1;
		if (id > 0)
			missing[id] = 1;
	}
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
			__u32 on = k < LANNER_EVT_MAX && wanted[k] ? LANNER_INTEREST_CAPTURE : 0;
			if (on && omit_nameraw &&
			    (k == LANNER_EVT_OPEN || k == LANNER_EVT_OPENAT || k == LANNER_EVT_OPENAT2 || k == LANNER_EVT_CREAT))
				on |= LANNER_INTEREST_OMIT_NAMERAW;
			bpf_map_update_elem(bpf_map__fd(interest), &k, &on, BPF_ANY);
		}
	int nprog = 0;
	struct timespec a0, a1;
	clock_gettime(CLOCK_MONOTONIC, &a0);
	/* exit hooks first, entry hooks after (an entry hook's record is finished by its exit hook) */
	for (int pass = 0; pass < 2; pass++) {
		bpf_object__for_each_program(prog, obj) {
			const char *name = bpf_program__name(prog);
			if (!bpf_program__autoload(prog) || (!strncmp(name, "lanner_enter_", 13)) != pass)
				continue;
			if ((only && strncmp(name, only, strlen(only))) || (skip && !strncmp(name, skip, strlen(skip))))
				continue;
			if (!plan_wants(name, missing))
				continue;
			if (!bpf_program__attach(prog)) {
				fprintf(stderr, "attach %s: %s\n", bpf_program__name(prog), strerror(errno));
				return 1;
			}
			if (dump)
				fprintf(stderr, "bench-loader: attached %s\n", name);
			nprog++;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &a1);
	struct ring_buffer *rb = events ? ring_buffer__new(bpf_map__fd(events), on_record, NULL, NULL) : NULL;
	struct rusage ru0;
	getrusage(RUSAGE_SELF, &ru0); /* consumer CPU is counted from here: loading and verifying is not */
	fprintf(stderr, "bench-loader: load %.3f s, attach %.3f s\n", (l1.tv_sec - l0.tv_sec) + (l1.tv_nsec - l0.tv_nsec) / 1e9,
		(a1.tv_sec - a0.tv_sec) + (a1.tv_nsec - a0.tv_nsec) / 1e9);
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
