// SPDX-License-Identifier: GPL-2.0-or-later
/* vhost-user-lbctl: the command-line client of the daemon's control socket. */
#include <errno.h>
#include <signal.h>
#include <getopt.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "build-config.h"

static bool opt_json;

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: vhost-user-lbctl [-s CTLSOCK] [-j] COMMAND\n\n"
		"Commands:\n"
		"  status                                       daemon version, uptime, ports\n"
		"  port add NAME [--path P] [--client] [--queues N] [--group G] [--perm MODE]\n"
		"  port add NAME --tap IFNAME [--queues N]     the uplink: a TAP device to the host\n"
		"  port del NAME\n"
		"  port list\n"
		"  stats [NAME] [--watch [SECS]]                per-port and per-queue counters\n"
		"  fdb                                          learned MAC addresses\n"
		"  workers                                      datapath workers: CPU, load, queues\n"
		"  reload                                       re-read the config file (as SIGHUP)\n"
		"  placement                                    which worker drains which queue, and the last moves\n"
		"  vms                                          co-resident VMs (libvirt) and their ports\n"
		"  vip add ADDR:PORT/PROTO [--algo maglev|least-load|wrr]\n"
		"  vip del ADDR:PORT/PROTO\n"
		"  vip backend add VIP mac=M,ip=A[,port=P][,weight=W] [--vm NAME]\n"
		"  vip backend del VIP mac=M,ip=A\n"
		"  vip weight VIP mac=M,ip=A WEIGHT              0 drains: no new flows\n"
		"  vip show                                     services, backends, flows, counters\n"
		"  vf list [PF]                                 SR-IOV VFs: IOMMU group, owner, rates\n"
		"  vf assign PF VF VM [--min MBPS] [--max MBPS] give a VF to a VM, with its rate guarantee\n"
		"                                               (no rates given: the VM's [vm] section's)\n"
		"  vf release PF VF\n"
		"  vf rate PF VF [--min MBPS] [--max MBPS]\n"
		"  vf irq DEV [VECTOR CPULIST]                  a NIC's queue IRQs; or set one's affinity\n\n"
		"  -s, --socket PATH   control socket (default " VHOST_LB_DEFAULT_SOCKET_DIR "/ctl.sock)\n"
		"  -j, --json          print the daemon's JSON answer\n");
}

static int ctl_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "vhost-user-lbctl: socket path too long\n");
		return -1;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "vhost-user-lbctl: cannot reach the daemon at %s: %s\n", path,
			strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* Sends one request line, returns the parsed answer line (NULL on failure, said on stderr). */
static struct json_object *call(int fd, struct json_object *req)
{
	const char *text = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN);
	static char buf[1 << 22];
	size_t len = 0;
	struct json_object *reply;

	if (write(fd, text, strlen(text)) < 0 || write(fd, "\n", 1) < 0) {
		/* A daemon that refuses us (access, too many clients) says why, then hangs up. */
		if (errno != EPIPE && errno != ECONNRESET) {
			perror("vhost-user-lbctl: write");
			return NULL;
		}
	}
	for (;;) {
		ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);

		if (n <= 0) {
			fprintf(stderr, "vhost-user-lbctl: the daemon closed the connection\n");
			return NULL;
		}
		len += (size_t)n;
		if (memchr(buf, '\n', len))
			break;
		if (len == sizeof(buf) - 1) {
			fprintf(stderr, "vhost-user-lbctl: answer too long\n");
			return NULL;
		}
	}
	buf[len] = '\0';
	reply = json_tokener_parse(buf);
	if (!reply)
		fprintf(stderr, "vhost-user-lbctl: the daemon's answer is not JSON\n");
	return reply;
}

static const char *s(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) ? json_object_get_string(v) : "";
}

static uint64_t u(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) ? json_object_get_uint64(v) : 0;
}

static struct json_object *arr(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_array) ? v
												 : NULL;
}

static void print_port_list(struct json_object *reply)
{
	struct json_object *ports = arr(reply, "ports");

	printf("%-16s %-7s %-12s %6s  %s\n", "PORT", "MODE", "STATE", "QUEUES", "SOCKET");
	for (size_t i = 0; ports && i < json_object_array_length(ports); i++) {
		struct json_object *p = json_object_array_get_idx(ports, i);

		char where[160];

		/* An uplink has no socket: its TAP device stands in the SOCKET column. */
		if (strcmp(s(p, "type"), "tap") == 0)
			snprintf(where, sizeof(where), "tap %s", s(p, "tap"));
		else
			snprintf(where, sizeof(where), "%s", s(p, "path"));
		printf("%-16s %-7s %-12s %6llu  %s\n", s(p, "name"), s(p, "mode"), s(p, "state"),
		       (unsigned long long)u(p, "queues"), where);
	}
}

static uint64_t drops_sum(struct json_object *p)
{
	struct json_object *d;
	uint64_t t = 0;

	if (!json_object_object_get_ex(p, "drops", &d))
		return 0;
	json_object_object_foreach(d, k, v) {
		(void)k;
		t += json_object_get_uint64(v);
	}
	return t;
}

static void print_stats(struct json_object *reply)
{
	struct json_object *ports = arr(reply, "ports");

	printf("%-14s %-11s %12s %14s %12s %14s %9s  %s\n", "PORT", "STATE", "RX_PKTS", "RX_BYTES",
	       "TX_PKTS", "TX_BYTES", "DROPS", "MACS");
	for (size_t i = 0; ports && i < json_object_array_length(ports); i++) {
		struct json_object *p = json_object_array_get_idx(ports, i), *macs = arr(p, "macs");
		struct json_object *qs = arr(p, "queues");
		char macbuf[128] = "";

		for (size_t m = 0; macs && m < json_object_array_length(macs) && m < 4; m++) {
			strncat(macbuf, json_object_get_string(json_object_array_get_idx(macs, m)),
				sizeof(macbuf) - strlen(macbuf) - 2);
			strcat(macbuf, " ");
		}
		printf("%-14s %-11s %12llu %14llu %12llu %14llu %9llu  %s\n", s(p, "name"),
		       s(p, "state"), (unsigned long long)u(p, "rx_packets"),
		       (unsigned long long)u(p, "rx_bytes"), (unsigned long long)u(p, "tx_packets"),
		       (unsigned long long)u(p, "tx_bytes"), (unsigned long long)drops_sum(p), macbuf);
		for (size_t q = 0; qs && q < json_object_array_length(qs); q++) {
			struct json_object *e = json_object_array_get_idx(qs, q);

			printf("  vq%-3llu guest-%-2s %-3s %10llu pkts %14llu bytes %8llu drops %8llu irqs  worker %s\n",
			       (unsigned long long)u(e, "index"), s(e, "guest_queue"),
			       json_object_get_boolean(json_object_object_get(e, "enabled")) ? "on" : "off",
			       (unsigned long long)u(e, "packets"), (unsigned long long)u(e, "bytes"),
			       (unsigned long long)u(e, "drops"), (unsigned long long)u(e, "interrupts"),
			       s(e, "worker"));
		}
	}
}

static void print_fdb(struct json_object *reply)
{
	struct json_object *es = arr(reply, "entries");

	printf("%-18s %-16s %s\n", "MAC", "PORT", "AGE");
	for (size_t i = 0; es && i < json_object_array_length(es); i++) {
		struct json_object *e = json_object_array_get_idx(es, i);

		printf("%-18s %-16s %llus\n", s(e, "mac"), s(e, "port"), (unsigned long long)u(e, "age_s"));
	}
}

static void print_workers(struct json_object *reply)
{
	struct json_object *ws = arr(reply, "workers");

	printf("%-7s %-4s %8s %7s %7s %7s %12s %10s\n", "WORKER", "CPU", "LOAD%", "QUEUES", "POLLED",
	       "PARKED", "LOOPS", "SLEEPS");
	for (size_t i = 0; ws && i < json_object_array_length(ws); i++) {
		struct json_object *w = json_object_array_get_idx(ws, i);

		printf("%-7llu %-4s %7.1f%% %7llu %7llu %7llu %12llu %10llu%s\n",
		       (unsigned long long)u(w, "id"), s(w, "cpu"), u(w, "load_permille") / 10.0,
		       (unsigned long long)u(w, "queues"), (unsigned long long)u(w, "polled"),
		       (unsigned long long)u(w, "parked"), (unsigned long long)u(w, "loops"),
		       (unsigned long long)u(w, "sleeps"),
		       json_object_get_boolean(json_object_object_get(w, "retiring")) ? "  retiring" : "");
	}
}

static void print_placement(struct json_object *reply)
{
	struct json_object *qs = arr(reply, "queues"), *ms = arr(reply, "moves");

	printf("%-16s %4s %7s %4s %8s %12s\n", "PORT", "VQ", "WORKER", "CPU", "LOAD%", "PACKETS");
	for (size_t i = 0; qs && i < json_object_array_length(qs); i++) {
		struct json_object *q = json_object_array_get_idx(qs, i);

		printf("%-16s %4llu %7s %4s %7.1f%% %12llu\n", s(q, "port"), (unsigned long long)u(q, "vq"),
		       s(q, "worker"), s(q, "cpu"), u(q, "load_permille") / 10.0,
		       (unsigned long long)u(q, "packets"));
	}
	printf("\nLast moves (oldest first):\n");
	for (size_t i = 0; ms && i < json_object_array_length(ms); i++) {
		struct json_object *m = json_object_array_get_idx(ms, i);
		time_t t = (time_t)(u(m, "time_ns") / 1000000000ull);
		char when[32];

		strftime(when, sizeof(when), "%H:%M:%S", localtime(&t));
		printf("  %s.%03llu %s vq%llu: worker %s (cpu %s) -> %s (cpu %s)  %s%s%s\n", when,
		       (unsigned long long)(u(m, "time_ns") / 1000000 % 1000), s(m, "port"),
		       (unsigned long long)u(m, "vq"), s(m, "from_worker"), s(m, "from_cpu"),
		       s(m, "to_worker"), s(m, "to_cpu"), s(m, "reason"), *s(m, "detail") ? ": " : "",
		       s(m, "detail"));
	}
}

static void print_status(struct json_object *reply)
{
	printf("vhost-user-lb %s, up %llus, %llu ports, %llu workers, %llu MACs learned\n",
	       s(reply, "version"), (unsigned long long)u(reply, "uptime_s"),
	       (unsigned long long)u(reply, "ports"), (unsigned long long)u(reply, "workers"),
	       (unsigned long long)u(reply, "fdb_entries"));

	struct json_object *limits, *in_use;

	if (!json_object_object_get_ex(reply, "limits", &limits) ||
	    !json_object_is_type(limits, json_type_object))
		return;
	printf("\n%-20s %10s %10s %10s  %s\n", "LIMIT", "MAX", "IN USE", "HITS", "ON RELOAD");
	json_object_object_foreach(limits, name, l) {
		char used[24] = "-";

		if (json_object_object_get_ex(l, "in_use", &in_use))
			snprintf(used, sizeof(used), "%llu", (unsigned long long)json_object_get_uint64(in_use));
		printf("%-20s %10llu %10s %10llu  %s\n", name, (unsigned long long)u(l, "max"), used,
		       (unsigned long long)u(l, "hits"), strcmp(s(l, "reload"), "true") == 0 ? "applied" : "restart");
	}
	printf("control connections refused (not root, not in ctl-group): %llu\n",
	       (unsigned long long)u(reply, "ctl_refused"));
}

/* Return: process exit code. */
static int run(int fd, struct json_object *req, void (*print)(struct json_object *))
{
	struct json_object *reply = call(fd, req);
	struct json_object *ok;
	int rc;

	if (!reply)
		return 1;
	rc = json_object_object_get_ex(reply, "ok", &ok) && json_object_get_boolean(ok) ? 0 : 1;
	if (opt_json)
		printf("%s\n", json_object_to_json_string_ext(reply, JSON_C_TO_STRING_PRETTY));
	else if (rc)
		fprintf(stderr, "vhost-user-lbctl: %s\n", s(reply, "error"));
	else if (print)
		print(reply);
	json_object_put(reply);
	return rc;
}

static struct json_object *req_new(const char *cmd)
{
	struct json_object *r = json_object_new_object();

	json_object_object_add(r, "cmd", json_object_new_string(cmd));
	return r;
}

static int cmd_port(int fd, int argc, char **argv)
{
	struct json_object *req;
	int rc;

	if (argc < 1) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[0], "list") == 0) {
		req = req_new("port-list");
		rc = run(fd, req, print_port_list);
	} else if (strcmp(argv[0], "del") == 0 && argc == 2) {
		req = req_new("port-del");
		json_object_object_add(req, "name", json_object_new_string(argv[1]));
		rc = run(fd, req, NULL);
	} else if (strcmp(argv[0], "add") == 0 && argc >= 2) {
		req = req_new("port-add");
		json_object_object_add(req, "name", json_object_new_string(argv[1]));
		for (int i = 2; i < argc; i++) {
			const char *a = argv[i];

			if (strcmp(a, "--client") == 0) {
				json_object_object_add(req, "mode", json_object_new_string("client"));
			} else if (i + 1 < argc && (strcmp(a, "--path") == 0 || strcmp(a, "--group") == 0 ||
						    strcmp(a, "--perm") == 0 || strcmp(a, "--tap") == 0)) {
				json_object_object_add(req, a + 2, json_object_new_string(argv[++i]));
			} else if (i + 1 < argc && strcmp(a, "--queues") == 0) {
				json_object_object_add(req, "queues", json_object_new_int(atoi(argv[++i])));
			} else {
				fprintf(stderr, "vhost-user-lbctl: port add: unknown option '%s'\n", a);
				json_object_put(req);
				return 2;
			}
		}
		rc = run(fd, req, NULL);
	} else {
		usage(stderr);
		return 2;
	}
	json_object_put(req);
	return rc;
}

static bool b(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) && json_object_get_boolean(v);
}

/* "300", or "-" for 0 (no rate). */
static const char *mbps(struct json_object *o, const char *key, char buf[16])
{
	snprintf(buf, 16, "%llu", (unsigned long long)u(o, key));
	return strcmp(buf, "0") ? buf : "-";
}

/* How the rates of a PF's VFs are kept, said once per PF (the rule is in vulb_sriov.h). */
static void explain_rates(const char *mode, const char *pf, const char *ifname, uint64_t link,
			  struct json_object *vfs)
{
	uint64_t sum = 0, n = 0;

	if (strcmp(mode, "capped") == 0) {
		for (size_t i = 0; vfs && i < json_object_array_length(vfs); i++) {
			struct json_object *v = json_object_array_get_idx(vfs, i);

			if (b(v, "assigned_here") && strcmp(s(v, "pf"), pf) == 0) {
				sum += u(v, "min_mbps");
				n++;
			}
		}
		printf("rates on %s (%s) capped: its driver has no minimum TX rate, so each VF assigned "
		       "here is capped at its minimum + (link %llu - sum of minima %llu) / %llu VFs = "
		       "minimum + %llu Mbit/s, or its own maximum if lower (no cap if that reaches the "
		       "link)\n", pf, ifname, (unsigned long long)link, (unsigned long long)sum,
		       (unsigned long long)n, (unsigned long long)(n && link > sum ? (link - sum) / n : 0));
	} else if (strcmp(mode, "native") == 0) {
		printf("rates on %s (%s) native: the driver enforces minimum and maximum TX rates\n", pf,
		       ifname);
	}
}

static void print_vfs(struct json_object *reply)
{
	struct json_object *vs = arr(reply, "vfs");
	char b1[16], b2[16], b3[16], b4[16];

	printf("%-13s %-3s %-13s %-10s %-8s %5s %4s %-10s %-17s %6s %6s  %-24s (via %s)\n", "PF", "VF",
	       "PCI", "IFNAME", "DRIVER", "GROUP", "ISOL", "VM", "MAC", "TX_MIN", "TX_MAX",
	       "VM_RATES(MIN/MAX,FROM)", s(reply, "backend"));
	for (size_t i = 0; vs && i < json_object_array_length(vs); i++) {
		struct json_object *v = json_object_array_get_idx(vs, i);
		char want[64] = "-";

		if (b(v, "assigned_here"))
			snprintf(want, sizeof(want), "%s/%s,%s", mbps(v, "min_mbps", b3), mbps(v, "max_mbps", b4),
				 s(v, "rates_from"));
		printf("%-13s %-3s %-13s %-10s %-8s %5s %4s %-10s %-17s %6s %6s  %s\n", s(v, "pf"), s(v, "vf"),
		       s(v, "pci"), *s(v, "ifname") ? s(v, "ifname") : "-", s(v, "driver"),
		       s(v, "iommu_group"), b(v, "isolated") ? "yes" : "no", *s(v, "vm") ? s(v, "vm") : "-",
		       s(v, "mac"), mbps(v, "min_tx_rate", b1), mbps(v, "max_tx_rate", b2), want);
	}
	/* one explanation per PF whose rates this daemon keeps */
	for (size_t i = 0; vs && i < json_object_array_length(vs); i++) {
		struct json_object *v = json_object_array_get_idx(vs, i);
		bool first = b(v, "assigned_here");

		for (size_t k = 0; first && k < i; k++) {
			struct json_object *w = json_object_array_get_idx(vs, k);

			first = !(b(w, "assigned_here") && strcmp(s(w, "pf"), s(v, "pf")) == 0);
		}
		if (first)
			explain_rates(s(v, "rate_mode"), s(v, "pf"), s(v, "pf_ifname"), u(v, "link_mbps"), vs);
	}
}

static void print_irqs(struct json_object *reply)
{
	struct json_object *is = arr(reply, "irqs");

	printf("%-6s %-5s %-24s %-12s %s  (via %s)\n", "VECTOR", "IRQ", "NAME", "AFFINITY", "EFFECTIVE",
	       s(reply, "backend"));
	for (size_t i = 0; is && i < json_object_array_length(is); i++) {
		struct json_object *q = json_object_array_get_idx(is, i);

		printf("%-6s %-5s %-24s %-12s %s\n", s(q, "index"), s(q, "irq"), s(q, "name"),
		       s(q, "affinity"), s(q, "effective"));
	}
}

static void print_irq_set(struct json_object *reply)
{
	struct json_object *q = json_object_object_get(reply, "vector");

	printf("vector %s (IRQ %s, %s): affinity %s, effective %s (via %s)\n", s(q, "index"), s(q, "irq"),
	       s(q, "name"), s(q, "affinity"), s(q, "effective"), s(reply, "backend"));
}

/* After assign, rate or release: what was done, and where every VF of the PF now stands. */
static void print_vf_change(struct json_object *reply)
{
	struct json_object *vs = arr(reply, "pf_vfs");
	const char *from = s(reply, "rates_from");
	char b1[16], b2[16], b3[16];

	printf("VF %s of %s (%s) ", s(reply, "vf"), s(reply, "pf_pci"), s(reply, "pf_ifname"));
	if (*s(reply, "vm"))
		printf("assigned to %s", s(reply, "vm"));
	else if (*from)
		printf("rates set");
	else
		printf("released, its rate limits removed");
	printf(" (via %s)", s(reply, "backend"));
	if (*from)
		printf("; rates %s: min %s, max %s Mbit/s", strcmp(from, "config") == 0 ? "from its [vm] section" :
		       strcmp(from, "command") == 0 ? "from the command line" : "none (no [vm] section)",
		       mbps(reply, "min_mbps", b1), mbps(reply, "max_mbps", b2));
	printf("\n");
	if (vs && json_object_array_length(vs)) {
		struct json_object *v0 = json_object_array_get_idx(vs, 0);

		explain_rates(s(v0, "rate_mode"), s(reply, "pf_pci"), s(reply, "pf_ifname"),
			      u(reply, "link_mbps"), vs);
		printf("  %-3s %-12s %6s %6s %-8s -> %s\n", "VF", "VM", "MIN", "MAX", "FROM", "MAX_TX_RATE");
	}
	for (size_t i = 0; vs && i < json_object_array_length(vs); i++) {
		struct json_object *v = json_object_array_get_idx(vs, i);

		printf("  %-3s %-12s %6s %6s %-8s -> %s\n", s(v, "vf"), s(v, "vm"), mbps(v, "min_mbps", b1),
		       mbps(v, "max_mbps", b2), s(v, "rates_from"), mbps(v, "max_tx_rate", b3));
	}
}

/* Parses --min/--max into @req; returns false on an unknown argument or a bad number. */
static bool rate_opts(struct json_object *req, int argc, char **argv)
{
	for (int i = 0; i < argc; i++) {
		char *end;
		long v;

		if (i + 1 >= argc || (strcmp(argv[i], "--min") != 0 && strcmp(argv[i], "--max") != 0))
			return false;
		errno = 0;
		v = strtol(argv[i + 1], &end, 10);
		if (errno || *end || end == argv[i + 1] || v < 0 || v > 1000000) {
			fprintf(stderr, "vhost-user-lbctl: %s: '%s' is not a rate in Mbit/s\n", argv[i],
				argv[i + 1]);
			return false;
		}
		json_object_object_add(req, argv[i][3] == 'i' ? "min_mbps" : "max_mbps",
				       json_object_new_int((int)v));
		i++;
	}
	return true;
}

/* A VF or vector index: a plain non-negative number. */
static bool index_arg(struct json_object *req, const char *key, const char *text)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(text, &end, 10);
	if (errno || *end || end == text || v < 0 || v > 65535) {
		fprintf(stderr, "vhost-user-lbctl: '%s' is not an index\n", text);
		return false;
	}
	json_object_object_add(req, key, json_object_new_int((int)v));
	return true;
}

static int cmd_vf(int fd, int argc, char **argv)
{
	struct json_object *req = NULL;
	void (*print)(struct json_object *) = print_vf_change;
	const char *sub = argc ? argv[0] : "";
	int rc;

	if (strcmp(sub, "list") == 0 && argc <= 2) {
		req = req_new("vf-list");
		if (argc == 2)
			json_object_object_add(req, "pf", json_object_new_string(argv[1]));
		print = print_vfs;
	} else if ((strcmp(sub, "release") == 0 && argc == 3) ||
		   ((strcmp(sub, "assign") == 0 && argc >= 4) || (strcmp(sub, "rate") == 0 && argc >= 3))) {
		bool assign = strcmp(sub, "assign") == 0;

		req = req_new(assign ? "vf-assign" : sub[0] == 'r' && sub[1] == 'e' ? "vf-release" : "vf-rate");
		json_object_object_add(req, "pf", json_object_new_string(argv[1]));
		if (assign)
			json_object_object_add(req, "vm", json_object_new_string(argv[3]));
		if (!index_arg(req, "vf", argv[2]) ||
		    !rate_opts(req, argc - (assign ? 4 : 3), argv + (assign ? 4 : 3))) {
			json_object_put(req);
			usage(stderr);
			return 2;
		}
	} else if (strcmp(sub, "irq") == 0 && (argc == 2 || argc == 4)) {
		req = req_new(argc == 2 ? "vf-irq" : "vf-irq-set");
		json_object_object_add(req, "dev", json_object_new_string(argv[1]));
		if (argc == 4) {
			if (!index_arg(req, "index", argv[2])) {
				json_object_put(req);
				return 2;
			}
			json_object_object_add(req, "cpus", json_object_new_string(argv[3]));
			print = print_irq_set;
		} else {
			print = print_irqs;
		}
	} else {
		usage(stderr);
		return 2;
	}
	rc = run(fd, req, print);
	json_object_put(req);
	return rc;
}

/* `vip show`: per service a line, its backends as a table, then the balancer's own counters. */
static void print_vip_show(struct json_object *reply)
{
	struct json_object *lb = json_object_object_get(reply, "lb"), *vips = arr(lb, "vips");
	struct json_object *drops = json_object_object_get(lb, "drops");
	struct json_object *ck = json_object_object_get(lb, "checkpoint");

	printf("flows %llu of %llu, virtual MAC %s\n", (unsigned long long)u(lb, "flows"),
	       (unsigned long long)u(lb, "max_flows"), s(lb, "vmac"));
	for (size_t i = 0; vips && i < json_object_array_length(vips); i++) {
		struct json_object *v = json_object_array_get_idx(vips, i), *bes = arr(v, "backends");

		printf("\nVIP %s  %s  flows %llu  new %llu  refused %llu  in %llu pkts  out %llu pkts\n",
		       s(v, "vip"), s(v, "algorithm"), (unsigned long long)u(v, "active_flows"),
		       (unsigned long long)u(v, "new_flows"), (unsigned long long)u(v, "refused"),
		       (unsigned long long)u(v, "packets_in"), (unsigned long long)u(v, "packets_out"));
		printf("  %-17s %-15s %5s %6s %-6s %-24s %8s %8s %9s %10s %10s\n", "BACKEND MAC", "ADDRESS",
		       "PORT", "WEIGHT", "STATE", "VM / WHY DOWN", "FLOWS", "NEW", "LOAD_US", "PKTS_IN",
		       "PKTS_OUT");
		for (size_t k = 0; bes && k < json_object_array_length(bes); k++) {
			struct json_object *b = json_object_array_get_idx(bes, k);
			char why[64];

			snprintf(why, sizeof(why), "%s%s%s", s(b, "vm"), *s(b, "vm") && *s(b, "down_because") ? ": " : "",
				 s(b, "down_because"));
			printf("  %-17s %-15s %5llu %6llu %-6s %-24s %8llu %8llu %9llu %10llu %10llu\n", s(b, "mac"),
			       s(b, "address"), (unsigned long long)u(b, "port"), (unsigned long long)u(b, "weight"),
			       s(b, "state"), *why ? why : "-", (unsigned long long)u(b, "active_flows"),
			       (unsigned long long)u(b, "new_flows"), (unsigned long long)u(b, "load_us"),
			       (unsigned long long)u(b, "packets_in"), (unsigned long long)u(b, "packets_out"));
		}
	}
	if (drops) {
		printf("\ndrops:");
		json_object_object_foreach(drops, k, val)
			printf(" %s=%llu", k, (unsigned long long)json_object_get_uint64(val));
		printf("\n");
	}
	if (ck && *s(ck, "file"))
		printf("checkpoint: %s every %llu ms, %llu written, %llu failed\n", s(ck, "file"),
		       (unsigned long long)u(ck, "period_ms"), (unsigned long long)u(ck, "writes"),
		       (unsigned long long)u(ck, "failures"));
}

static void print_vms(struct json_object *reply)
{
	struct json_object *vms = arr(reply, "vms");

	if (!json_object_get_boolean(json_object_object_get(reply, "discovery")))
		printf("(VM discovery is off)\n");
	printf("%-20s %-10s %5s  %s\n", "VM", "STATE", "VCPUS", "INTERFACES (socket -> port)");
	for (size_t i = 0; vms && i < json_object_array_length(vms); i++) {
		struct json_object *v = json_object_array_get_idx(vms, i), *ifs = arr(v, "interfaces");

		printf("%-20s %-10s %5s ", s(v, "name"), s(v, "state"), s(v, "vcpus"));
		for (size_t k = 0; ifs && k < json_object_array_length(ifs); k++) {
			struct json_object *f = json_object_array_get_idx(ifs, k);

			printf(" %s %s -> %s", s(f, "mac"), s(f, "path"), *s(f, "port") ? s(f, "port") : "-");
		}
		printf("\n");
	}
}

static int cmd_vip(int fd, int argc, char **argv)
{
	struct json_object *req = NULL;
	void (*print)(struct json_object *) = NULL;
	const char *sub = argc ? argv[0] : "";
	int rc;

	if (strcmp(sub, "show") == 0 && argc == 1) {
		req = req_new("vip-show");
		print = print_vip_show;
	} else if (strcmp(sub, "add") == 0 && (argc == 2 || (argc == 4 && strcmp(argv[2], "--algo") == 0))) {
		req = req_new("vip-add");
		json_object_object_add(req, "vip", json_object_new_string(argv[1]));
		if (argc == 4)
			json_object_object_add(req, "algo", json_object_new_string(argv[3]));
	} else if (strcmp(sub, "del") == 0 && argc == 2) {
		req = req_new("vip-del");
		json_object_object_add(req, "vip", json_object_new_string(argv[1]));
	} else if (strcmp(sub, "weight") == 0 && argc == 4) {
		req = req_new("vip-weight");
		json_object_object_add(req, "vip", json_object_new_string(argv[1]));
		json_object_object_add(req, "backend", json_object_new_string(argv[2]));
		json_object_object_add(req, "weight", json_object_new_int(atoi(argv[3])));
	} else if (strcmp(sub, "backend") == 0 && argc >= 4 &&
		   (strcmp(argv[1], "add") == 0 || strcmp(argv[1], "del") == 0)) {
		req = req_new(argv[1][0] == 'a' ? "vip-backend-add" : "vip-backend-del");
		json_object_object_add(req, "vip", json_object_new_string(argv[2]));
		json_object_object_add(req, "backend", json_object_new_string(argv[3]));
		if (argc == 6 && strcmp(argv[4], "--vm") == 0)
			json_object_object_add(req, "vm", json_object_new_string(argv[5]));
		else if (argc != 4) {
			json_object_put(req);
			usage(stderr);
			return 2;
		}
	} else {
		usage(stderr);
		return 2;
	}
	rc = run(fd, req, print);
	json_object_put(req);
	return rc;
}

static int cmd_stats(int fd, int argc, char **argv)
{
	struct json_object *req = req_new("stats");
	double watch = 0;
	int rc;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--watch") == 0) {
			watch = 1;
			if (i + 1 < argc && atof(argv[i + 1]) > 0)
				watch = atof(argv[++i]);
		} else {
			json_object_object_add(req, "name", json_object_new_string(argv[i]));
		}
	}
	for (;;) {
		if (watch && !opt_json) {
			time_t now = time(NULL);

			printf("\033[H\033[2Jvhost-user-lb port statistics, every %.1fs - %s", watch, ctime(&now));
		}
		rc = run(fd, req, print_stats);
		fflush(stdout);
		if (!watch || rc)
			break;
		usleep((useconds_t)(watch * 1e6));
	}
	json_object_put(req);
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	const char *path = VHOST_LB_DEFAULT_SOCKET_DIR "/ctl.sock";
	struct json_object *req;
	int opt, fd, rc;

	/* A write to a daemon that already hung up must not kill us before we read why. */
	signal(SIGPIPE, SIG_IGN);

	while ((opt = getopt_long(argc, argv, "+s:jhV", opts, NULL)) != -1) {
		switch (opt) {
		case 's': path = optarg; break;
		case 'j': opt_json = true; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("vhost-user-lbctl %s\n", VHOST_LB_VERSION); return 0;
		default: usage(stderr); return 2;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1) {
		usage(stderr);
		return 2;
	}
	fd = ctl_connect(path);
	if (fd < 0)
		return 1;
	if (strcmp(argv[0], "port") == 0) {
		rc = cmd_port(fd, argc - 1, argv + 1);
	} else if (strcmp(argv[0], "stats") == 0) {
		rc = cmd_stats(fd, argc - 1, argv + 1);
	} else if (strcmp(argv[0], "vf") == 0) {
		rc = cmd_vf(fd, argc - 1, argv + 1);
	} else if (strcmp(argv[0], "vip") == 0) {
		rc = cmd_vip(fd, argc - 1, argv + 1);
	} else if (strcmp(argv[0], "status") == 0 || strcmp(argv[0], "fdb") == 0 ||
		   strcmp(argv[0], "workers") == 0 || strcmp(argv[0], "placement") == 0 ||
		   strcmp(argv[0], "reload") == 0 || strcmp(argv[0], "vms") == 0) {
		static const struct {
			const char *name;
			void (*print)(struct json_object *);
		} simple[] = {
			{ "status", print_status },
			{ "fdb", print_fdb },
			{ "workers", print_workers },
			{ "placement", print_placement },
			{ "reload", NULL },
			{ "vms", print_vms },
		};

		rc = 2;
		for (size_t i = 0; i < sizeof(simple) / sizeof(simple[0]); i++)
			if (strcmp(argv[0], simple[i].name) == 0) {
				req = req_new(argv[0]);
				rc = run(fd, req, simple[i].print);
				json_object_put(req);
			}
	} else {
		usage(stderr);
		rc = 2;
	}
	close(fd);
	return rc;
}
