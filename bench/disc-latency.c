/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * disc-latency: how soon does the disc registry reflect a VM start/stop, next to what a 1 s
 * polling loop would see. Run through bench/disc-latency.sh (sets up libvirtd and a domain).
 *
 *   disc-latency -x DOMAIN.xml [-u URI] [-n CYCLES] [-p POLL_S] [-P]
 *
 * The domain in DOMAIN.xml is defined, then started and destroyed CYCLES times (-P: started
 * paused, so a TCG guest costs no CPU). For every transition it records, on CLOCK_MONOTONIC:
 *   op_ret   when virDomainCreate / virDomainDestroy returned in this thread
 *   event    when the libvirt event reached the discovery thread (disc_change.event_ns)
 *   publish  when the registry snapshot containing the change was published
 *   poll     when a free-running thread calling virConnectListAllDomains every POLL_S on its
 *            own connection first saw the transition (a heartbeat-style discovery)
 * and prints median and max of publish - op_ret, poll - op_ret and publish - event.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <urcu-qsbr.h>

#include "disc.h"

#define MAX_CYCLES 1000

static const char *uri = "qemu:///system";
static double poll_s = 1.0;
static char dom_name[256];

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* the poller: a heartbeat-style discovery to compare with */
static pthread_mutex_t poll_lock = PTHREAD_MUTEX_INITIALIZER;
static int poll_seen = -1;		/* last presence the poller saw: 1 active, 0 absent */
static uint64_t poll_change_ns;		/* when it last saw the presence flip */
static volatile int poll_quit;

static void *poller(void *arg)
{
	virConnectPtr c = virConnectOpenReadOnly(uri);
	uint64_t next = now_ns();

	(void)arg;
	if (!c) {
		fprintf(stderr, "poller: connect: %s\n", virGetLastErrorMessage());
		return NULL;
	}
	while (!poll_quit) {
		virDomainPtr *doms = NULL;
		int n = virConnectListAllDomains(c, &doms, VIR_CONNECT_LIST_DOMAINS_ACTIVE);
		int present = 0;
		uint64_t t = now_ns();

		for (int i = 0; i < n; i++) {
			if (strcmp(virDomainGetName(doms[i]), dom_name) == 0)
				present = 1;
			virDomainFree(doms[i]);
		}
		free(doms);
		if (n >= 0) {
			pthread_mutex_lock(&poll_lock);
			if (present != poll_seen) {
				poll_seen = present;
				poll_change_ns = t;
			}
			pthread_mutex_unlock(&poll_lock);
		}
		next += (uint64_t)(poll_s * 1e9);
		while (now_ns() < next && !poll_quit) {
			uint64_t left = next - now_ns();

			(void)poll(NULL, 0, left > 50000000 ? 50 : (int)(left / 1000000) + 1);
		}
	}
	virConnectClose(c);
	return NULL;
}

/* waits until the poller reports @present, returns its detection time (0: timeout) */
static uint64_t poll_wait(int present, double timeout_s)
{
	uint64_t end = now_ns() + (uint64_t)(timeout_s * 1e9);

	while (now_ns() < end) {
		uint64_t t = 0;

		pthread_mutex_lock(&poll_lock);
		if (poll_seen == present)
			t = poll_change_ns;
		pthread_mutex_unlock(&poll_lock);
		if (t)
			return t;
		(void)poll(NULL, 0, 5);
	}
	return 0;
}

/* waits on the disc eventfd for @kind of our domain; fills event/publish times */
static int disc_wait(struct disc *d, enum disc_change_kind kind, uint64_t *event_ns,
		     uint64_t *publish_ns, int timeout_ms)
{
	uint64_t end = now_ns() + (uint64_t)timeout_ms * 1000000;

	for (;;) {
		struct pollfd pfd = { .fd = disc_event_fd(d), .events = POLLIN };
		struct disc_change ch[16];
		size_t n = disc_changes_drain(d, ch, 16);
		uint64_t t;

		for (size_t i = 0; i < n; i++)
			if (ch[i].kind == kind &&
			    (kind == DISC_CHANGE_CONNECTED || strcmp(ch[i].name, dom_name) == 0)) {
				*event_ns = ch[i].event_ns;
				*publish_ns = ch[i].published_ns;
				return 0;
			}
		t = now_ns();
		if (t >= end)
			return -ETIMEDOUT;
		(void)poll(&pfd, 1, (int)((end - t) / 1000000) + 1);
	}
}

/* A heartbeat runs at its own phase: start the next operation at a random point of it. */
static void random_phase(void)
{
	(void)poll(NULL, 0, (int)(drand48() * poll_s * 1000));
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

static void stats(const char *what, int64_t *v, int n)
{
	if (n == 0) {
		printf("  %-44s (no samples)\n", what);
		return;
	}
	qsort(v, (size_t)n, sizeof(*v), cmp_i64);
	printf("  %-44s median %10.3f ms   max %10.3f ms   min %10.3f ms   (n=%d)\n", what,
	       (n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2) / 1e6, v[n - 1] / 1e6, v[0] / 1e6,
	       n);
}

static double median_ms(int64_t *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_i64);
	return (n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2) / 1e6;
}

int main(int argc, char **argv)
{
	static int64_t st_pub[MAX_CYCLES], st_poll[MAX_CYCLES], st_ev[MAX_CYCLES];
	static int64_t st_call[MAX_CYCLES];
	static int64_t sp_pub[MAX_CYCLES], sp_poll[MAX_CYCLES], sp_ev[MAX_CYCLES];
	const char *xml_path = NULL;
	int cycles = 20, n_ok = 0, opt;
	unsigned int start_flags = 0;
	struct disc_config cfg = { 0 };
	struct disc *d;
	virConnectPtr c;
	virDomainPtr dom;
	pthread_t pt;
	char *xml, label[64];
	FILE *f;
	long len;

	while ((opt = getopt(argc, argv, "u:n:p:x:P")) != -1) {
		switch (opt) {
		case 'u': uri = optarg; break;
		case 'n': cycles = atoi(optarg); break;
		case 'p': poll_s = atof(optarg); break;
		case 'x': xml_path = optarg; break;
		case 'P': start_flags |= VIR_DOMAIN_START_PAUSED; break;
		default:
			fprintf(stderr, "usage: %s -x DOMAIN.xml [-u URI] [-n CYCLES] [-p POLL_S] [-P]\n",
				argv[0]);
			return 2;
		}
	}
	if (!xml_path || cycles < 1 || cycles > MAX_CYCLES || poll_s <= 0) {
		fprintf(stderr, "need -x DOMAIN.xml, 1 <= CYCLES <= %d, POLL_S > 0\n", MAX_CYCLES);
		return 2;
	}
	f = fopen(xml_path, "r");
	if (!f || fseek(f, 0, SEEK_END) < 0 || (len = ftell(f)) <= 0) {
		perror(xml_path);
		return 1;
	}
	rewind(f);
	xml = calloc(1, (size_t)len + 1);
	if (!xml || fread(xml, 1, (size_t)len, f) != (size_t)len) {
		perror(xml_path);
		return 1;
	}
	fclose(f);

	srand48((long)now_ns());
	rcu_register_thread();
	cfg.uri = uri;
	if (disc_new(&cfg, &d) < 0 || disc_start(d) < 0) {
		fprintf(stderr, "disc start failed\n");
		return 1;
	}
	c = virConnectOpen(uri);
	if (!c) {
		fprintf(stderr, "connect %s: %s\n", uri, virGetLastErrorMessage());
		return 1;
	}
	dom = virDomainDefineXML(c, xml);
	if (!dom) {
		fprintf(stderr, "define: %s\n", virGetLastErrorMessage());
		return 1;
	}
	snprintf(dom_name, sizeof(dom_name), "%s", virDomainGetName(dom));
	if (virDomainIsActive(dom) == 1)
		(void)virDomainDestroy(dom);
	rcu_thread_offline();
	{
		uint64_t e, p;

		if (disc_wait(d, DISC_CHANGE_CONNECTED, &e, &p, 10000) < 0) {
			fprintf(stderr, "disc did not connect\n");
			return 1;
		}
	}
	pthread_create(&pt, NULL, poller, NULL);
	(void)poll_wait(0, 5 * poll_s);

	printf("disc-latency: uri=%s domain='%s' cycles=%d poll interval %.3f s%s\n", uri, dom_name,
	       cycles, poll_s, start_flags ? " (started paused)" : "");
	for (int i = 0; i < cycles; i++) {
		uint64_t t_call, t_ret, ev, pub, tp;

		random_phase();
		t_call = now_ns();
		if (virDomainCreateWithFlags(dom, start_flags) < 0) {
			fprintf(stderr, "cycle %d: start: %s\n", i, virGetLastErrorMessage());
			break;
		}
		t_ret = now_ns();
		if (disc_wait(d, DISC_CHANGE_VM_STARTED, &ev, &pub, 10000) < 0) {
			fprintf(stderr, "cycle %d: no vm-started change\n", i);
			break;
		}
		tp = poll_wait(1, 3 * poll_s + 5);
		/*
		 * A start takes a while and the domain is listed as active during it, so a poll can
		 * see it before the call returns; both are timed from the call's start instead.
		 */
		st_call[n_ok] = (int64_t)(t_ret - t_call);
		st_pub[n_ok] = (int64_t)(pub - t_call);
		st_ev[n_ok] = (int64_t)(pub - ev);
		st_poll[n_ok] = tp ? (int64_t)(tp - t_call) : -1;

		random_phase();
		if (virDomainDestroy(dom) < 0) {
			fprintf(stderr, "cycle %d: destroy: %s\n", i, virGetLastErrorMessage());
			break;
		}
		t_ret = now_ns();
		if (disc_wait(d, DISC_CHANGE_VM_STOPPED, &ev, &pub, 10000) < 0) {
			fprintf(stderr, "cycle %d: no vm-stopped change\n", i);
			break;
		}
		tp = poll_wait(0, 3 * poll_s + 5);
		sp_pub[n_ok] = (int64_t)(pub - t_ret);
		sp_ev[n_ok] = (int64_t)(pub - ev);
		sp_poll[n_ok] = tp ? (int64_t)(tp - t_ret) : -1;
		printf("  cycle %2d: start (call %7.1f ms): registry %+9.3f ms, poll %+9.3f ms | stop: registry %+8.3f ms, poll %+9.3f ms\n",
		       i, st_call[n_ok] / 1e6, st_pub[n_ok] / 1e6, st_poll[n_ok] / 1e6, sp_pub[n_ok] / 1e6,
		       sp_poll[n_ok] / 1e6);
		fflush(stdout);
		n_ok++;
	}
	poll_quit = 1;
	pthread_join(pt, NULL);

	printf("results over %d start/destroy cycles (stop: times after virDomainDestroy returned;\n"
	       "negative: seen before the call returned):\n", n_ok);
	stats("stop : event-driven registry update", sp_pub, n_ok);
	snprintf(label, sizeof(label), "stop : %g s polling loop detection", poll_s);
	stats(label, sp_poll, n_ok);
	stats("stop : event arrival -> registry published", sp_ev, n_ok);
	stats("start: virDomainCreate call duration", st_call, n_ok);
	stats("start: event-driven registry update (*)", st_pub, n_ok);
	snprintf(label, sizeof(label), "start: %g s polling loop detection (*)", poll_s);
	stats(label, st_poll, n_ok);
	stats("start: event arrival -> registry published", st_ev, n_ok);
	printf("  (*) from the start of the virDomainCreate call\n");
	if (n_ok) {
		double a = median_ms(sp_pub, n_ok), b = median_ms(sp_poll, n_ok);

		printf("stop: polling median / event median = %.0fx\n", a > 0 ? b / a : 0.0);
	}
	virDomainUndefine(dom);
	virDomainFree(dom);
	virConnectClose(c);
	disc_free(d);
	rcu_unregister_thread();
	free(xml);
	return n_ok == cycles ? 0 : 1;
}
