// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Balancer benchmark (issue 4, item 5): prints figures, asserts nothing.
 *   1. idle CPU: the daemon with 8 ports, each with a connected idle frontend, for 10 s;
 *   2. time to rebalance: two workers, four TX queues, one made hot: time until it is alone
 *      on its worker, over several rounds (median and max);
 *   3. guest interrupts: one RX queue at low load (a frame every 2 ms) and at full load:
 *      interrupts per second and frames per interrupt, beside the one-per-frame a backend
 *      without coalescing and event-idx suppression would inject.
 * Uses the project's own vhost-user frontend (tests/lib). Run: bench/balance-bench.sh.
 */
#include <json-c/json.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vu_frame.h"
#include "vu_frontend.h"
#include "vu_harness.h"

static double cpu_seconds(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long ut = 0, st = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f || !fgets(buf, sizeof(buf), f)) {
		if (f)
			fclose(f);
		return 0;
	}
	fclose(f);
	p = strrchr(buf, ')');
	if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) == 2)
		return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
	return 0;
}

static struct vu_dev *dev(struct vu_daemon *d, const char *port, unsigned qps, bool irqs)
{
	struct vu_dev_opts o;
	struct vu_dev *v = NULL;
	char path[256];

	vu_dev_opts_init(&o);
	o.name = port;
	o.queue_pairs = qps;
	o.rx_interrupts = irqs;
	if (vu_dev_connect(vu_daemon_sock(d, port, path, sizeof(path)), &o, 5000, &v) || vu_dev_start(v)) {
		fprintf(stderr, "frontend on %s failed\n", port);
		exit(1);
	}
	return v;
}

static void idle_cpu(void)
{
	static const char *const ports[] = { "p0", "p1", "p2", "p3", "p4", "p5", "p6", "p7", NULL };
	struct vu_daemon d;
	struct vu_dev *v[8];
	double before;

	if (vu_daemon_start(&d, ports, NULL))
		exit(1);
	for (int i = 0; i < 8; i++)
		v[i] = dev(&d, ports[i], 1, true);
	sleep(1);
	before = cpu_seconds(d.pid);
	sleep(10);
	printf("idle, 8 ports with connected frontends, 10 s: daemon CPU %.4f s = %.3f%% of one core\n",
	       cpu_seconds(d.pid) - before, (cpu_seconds(d.pid) - before) * 10.0);
	for (int i = 0; i < 8; i++)
		vu_dev_free(v[i]);
	vu_daemon_stop(&d);
}

struct sender {
	struct vu_dev *a;
	atomic_bool stop;
	unsigned burst[4];
	uint64_t sent;
	int gap_us;               /* sleep between frames (low load), 0: flat out */
};

static void *send_loop(void *opaque)
{
	struct sender *s = opaque;
	struct vu_tx_opts o = { .layout = VU_TX_SINGLE, .no_kick = true };
	uint8_t buf[64], src[6], dst[6];
	uint32_t seq = 0;

	vu_mac(src, 0xa);
	vu_mac(dst, 0xb);
	while (!atomic_load(&s->stop)) {
		for (unsigned q = 0; q < 4; q++) {
			for (unsigned i = 0; i < s->burst[q]; i++) {
				vu_frame_build(buf, 60, dst, src, 1, seq++, (uint16_t)q);
				if (vu_dev_send(s->a, q, buf, 60, &o, 100) == 0)
					s->sent++;
			}
			if (s->burst[q])
				vu_dev_tx_flush(s->a, q);
		}
		if (s->gap_us)
			usleep((useconds_t)s->gap_us);
	}
	return NULL;
}

static void *drain_loop(void *opaque)
{
	struct vu_dev *b = ((struct vu_dev **)opaque)[0];
	atomic_bool *stop = ((atomic_bool **)opaque)[1];
	uint8_t buf[2048];

	while (!atomic_load(stop))
		(void)vu_dev_recv(b, VU_ANY_QP, buf, sizeof(buf), 50, NULL);
	return NULL;
}

static int worker_of(struct vu_daemon *d, int vq, int *alone)
{
	static const char *const args[] = { "placement", NULL };
	struct json_object *r = NULL, *qs;
	int w = -1, others = 0;

	if (vu_ctl_json(d, &r, args) || !json_object_object_get_ex(r, "queues", &qs)) {
		json_object_put(r);
		return -1;
	}
	for (size_t i = 0; i < json_object_array_length(qs); i++) {
		struct json_object *q = json_object_array_get_idx(qs, i);

		if (strcmp(json_object_get_string(json_object_object_get(q, "port")), "a") == 0 &&
		    json_object_get_int(json_object_object_get(q, "vq")) == vq)
			w = json_object_get_int(json_object_object_get(q, "worker"));
	}
	for (size_t i = 0; i < json_object_array_length(qs); i++) {
		struct json_object *q = json_object_array_get_idx(qs, i);

		if (strcmp(json_object_get_string(json_object_object_get(q, "port")), "a") == 0 &&
		    json_object_get_int(json_object_object_get(q, "vq")) != vq &&
		    json_object_get_int(json_object_object_get(q, "worker")) == w)
			others++;
	}
	json_object_put(r);
	*alone = others == 0;
	return w;
}

static int cmp(const void *a, const void *b)
{
	return *(const int64_t *)a < *(const int64_t *)b ? -1 : *(const int64_t *)a > *(const int64_t *)b;
}

static void rebalance_time(void)
{
	static const char *const ports[] = { "a,queues=4", "b,queues=4", NULL };
	static const char *const extra[] = { "--workers", "0,1", "--libvirt-uri", "none", NULL };
	int64_t took[5];
	unsigned n = 0;

	for (int round = 0; round < 5; round++) {
		struct vu_daemon d;
		struct sender s = { .burst = { 64, 8, 8, 8 } };
		atomic_bool stop = false;
		void *dr[2];
		pthread_t ts, tr;
		int64_t start;
		int alone = 0;

		if (vu_daemon_start(&d, ports, extra))
			exit(1);
		s.a = dev(&d, "a", 4, false);
		dr[0] = dev(&d, "b", 4, false);
		dr[1] = &stop;
		worker_of(&d, 1, &alone);
		pthread_create(&tr, NULL, drain_loop, dr);
		pthread_create(&ts, NULL, send_loop, &s);
		start = vu_now_ms();
		while (vu_now_ms() - start < 5000) {
			worker_of(&d, 1, &alone);
			if (alone)
				break;
			usleep(10000);
		}
		if (alone)
			took[n++] = vu_now_ms() - start;
		atomic_store(&s.stop, true);
		pthread_join(ts, NULL);
		atomic_store(&stop, true);
		pthread_join(tr, NULL);
		vu_dev_free(s.a);
		vu_dev_free(dr[0]);
		vu_daemon_stop(&d);
	}
	qsort(took, n, sizeof(took[0]), cmp);
	if (n)
		printf("time to isolate a hot queue (2 workers, 4 queues, %u of 5 rounds): median %lld ms, max %lld ms\n",
		       n, (long long)took[n / 2], (long long)took[n - 1]);
	else
		printf("time to isolate a hot queue: not reached within 5 s in any round\n");
}

static void interrupts(const char *what, int gap_us, unsigned burst)
{
	static const char *const ports[] = { "a", "b", NULL };
	static const char *const extra[] = { "--libvirt-uri", "none", NULL };
	struct vu_daemon d;
	struct sender s = { .burst = { burst, 0, 0, 0 }, .gap_us = gap_us };
	atomic_bool stop = false;
	struct vu_port_stats before, after;
	void *dr[2];
	pthread_t ts, tr;
	uint64_t irq_before = 0, irq_after = 0;

	if (vu_daemon_start(&d, ports, extra))
		exit(1);
	s.a = dev(&d, "a", 1, false);
	dr[0] = dev(&d, "b", 1, true);
	dr[1] = &stop;
	pthread_create(&tr, NULL, drain_loop, dr);
	pthread_create(&ts, NULL, send_loop, &s);
	sleep(1);
	vu_ctl_port_stats(&d, "b", &before);
	{
		static const char *const st[] = { "stats", "b", NULL };
		struct json_object *r = NULL, *p, *qs;

		vu_ctl_json(&d, &r, st);
		p = json_object_array_get_idx(json_object_object_get(r, "ports"), 0);
		qs = json_object_object_get(p, "queues");
		irq_before = json_object_get_uint64(json_object_object_get(json_object_array_get_idx(qs, 0), "interrupts"));
		json_object_put(r);
		sleep(5);
		vu_ctl_port_stats(&d, "b", &after);
		vu_ctl_json(&d, &r, st);
		p = json_object_array_get_idx(json_object_object_get(r, "ports"), 0);
		qs = json_object_object_get(p, "queues");
		irq_after = json_object_get_uint64(json_object_object_get(json_object_array_get_idx(qs, 0), "interrupts"));
		json_object_put(r);
	}
	{
		double frames = (double)(after.tx_packets - before.tx_packets) / 5.0;
		double irqs = (double)(irq_after - irq_before) / 5.0;

		printf("interrupts, %s: %.0f frames/s into the guest, %.0f interrupts/s (%.1f frames per interrupt; "
		       "one per frame would be %.0f/s)\n", what, frames, irqs, irqs > 0 ? frames / irqs : 0, frames);
	}
	atomic_store(&s.stop, true);
	pthread_join(ts, NULL);
	atomic_store(&stop, true);
	pthread_join(tr, NULL);
	vu_dev_free(s.a);
	vu_dev_free(dr[0]);
	vu_daemon_stop(&d);
}

int main(void)
{
	vu_test_init("balance-bench", 600);
	idle_cpu();
	rebalance_time();
	interrupts("low load (a frame every 2 ms)", 2000, 1);
	interrupts("full load", 0, 32);
	return 0;
}
