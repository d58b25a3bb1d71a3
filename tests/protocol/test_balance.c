/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The balancer under traffic (issue 4): a sender thread keeps frontend A's four TX queues
 * busy (one of them hot) toward frontend B, whose receiver checks every frame of every flow
 * arrives once and in order. Meanwhile:
 *   - hot queue: it ends up alone (among queues carrying traffic) on its worker, and the
 *     spread between the two workers' loads narrows, within about a second;
 *   - CPU affinity: the daemon's allowed CPUs shrink to one and grow back; workers follow
 *     within a second and no frame is lost;
 *   - environment changes: a queue pair disabled, a port added and removed: each forces a
 *     re-plan, and no frame is lost.
 */
#include <dirent.h>
#include <json-c/json.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "proto_common.h"

#define NQP 4
#define TAG 0xba1a0001u
#define MAX_INFLIGHT 192

/* VHOST_LB_SLOW=N (sanitizer builds) stretches the time bounds N times. */
static int slow = 1;

struct traffic {
	struct vu_dev *a, *b;
	atomic_bool stop;
	atomic_bool sender_done;        /* the receiver may only give up after the sender ended */
	atomic_uint qp_mask;            /* TX queue pairs the sender uses */
	unsigned burst[NQP];
	unsigned len[NQP];      /* frame size per queue pair (0: 60 bytes) */
	unsigned every[NQP];            /* a queue pair sends every Nth round */
	atomic_ullong sent, received;
	uint32_t next_seq[NQP];         /* sender side */
	uint32_t expect[NQP];           /* receiver side */
	atomic_ullong lost, reordered, bad;
};

static void *sender(void *opaque)
{
	struct traffic *t = opaque;
	static uint8_t buf[2048];
	uint8_t src[6], dst[6];
	struct vu_tx_opts o = { .layout = VU_TX_SINGLE, .no_kick = true };
	unsigned round = 0;

	vu_mac(src, 0xa);
	vu_mac(dst, 0xb);
	while (!atomic_load(&t->stop)) {
		unsigned mask = atomic_load(&t->qp_mask);

		round++;
		for (unsigned qp = 0; qp < NQP; qp++) {
			if (!(mask & (1u << qp)) || round % t->every[qp])
				continue;
			for (unsigned i = 0; i < t->burst[qp]; i++) {
				/* Stay within the receiver's buffers: a drop would be our fault, not the switch's. */
				if (atomic_load(&t->sent) - atomic_load(&t->received) > MAX_INFLIGHT) {
					/* Kick what is queued before waiting: the switch may be asleep. */
					vu_dev_tx_flush(t->a, qp);
					while (atomic_load(&t->sent) - atomic_load(&t->received) > MAX_INFLIGHT &&
					       !atomic_load(&t->stop))
						usleep(50);
				}
				const unsigned len = t->len[qp] ? t->len[qp] : 60;

				vu_frame_build(buf, len, dst, src, TAG, t->next_seq[qp], (uint16_t)qp);
				if (vu_dev_send(t->a, qp, buf, len, &o, 1000) != 0)
					break;
				t->next_seq[qp]++;
				atomic_fetch_add(&t->sent, 1);
			}
			vu_dev_tx_flush(t->a, qp);
		}
	}
	atomic_store(&t->sender_done, true);
	return NULL;
}

static void *receiver(void *opaque)
{
	struct traffic *t = opaque;
	static uint8_t buf[2048];

	int64_t give_up = 0;

	while (!atomic_load(&t->sender_done) || atomic_load(&t->received) < atomic_load(&t->sent)) {
		struct vu_stamp s;
		int r = vu_dev_recv(t->b, VU_ANY_QP, buf, sizeof(buf), 200, NULL);

		if (r == -ETIMEDOUT) {
			if (atomic_load(&t->sender_done) && !give_up)
				give_up = vu_now_ms() + 2000;
			if (give_up && vu_now_ms() > give_up)
				break;
			continue;
		}
		if (r < 0 || !vu_frame_stamp(buf, (size_t)r, &s) || s.tag != TAG || s.flow >= NQP) {
			atomic_fetch_add(&t->bad, 1);
			continue;
		}
		if (s.seq > t->expect[s.flow])
			atomic_fetch_add(&t->lost, s.seq - t->expect[s.flow]);
		else if (s.seq < t->expect[s.flow])
			atomic_fetch_add(&t->reordered, 1);
		t->expect[s.flow] = s.seq + 1;
		atomic_fetch_add(&t->received, 1);
	}
	return NULL;
}

struct placement {
	int worker_of[NQP];             /* A's TX rings, by queue pair */
	unsigned load_of[NQP];
	unsigned nworkers;
	int worker_cpu[8];
	unsigned worker_load[8];
	int worker_id[8];
	unsigned replans;
	unsigned moves;
	bool topology_move;
};

static const char *jstr(struct json_object *o, const char *k)
{
	struct json_object *v;

	return json_object_object_get_ex(o, k, &v) ? json_object_get_string(v) : "";
}

static bool get_placement(struct vu_daemon *d, struct placement *p)
{
	static const char *const pl_args[] = { "placement", NULL };
	static const char *const w_args[] = { "workers", NULL };
	struct json_object *r = NULL, *arr;

	memset(p, 0, sizeof(*p));
	for (unsigned i = 0; i < NQP; i++)
		p->worker_of[i] = -1;
	if (vu_ctl_json(d, &r, pl_args) != 0)
		return false;
	if (json_object_object_get_ex(r, "queues", &arr))
		for (size_t i = 0; i < json_object_array_length(arr); i++) {
			struct json_object *q = json_object_array_get_idx(arr, i);
			int vq = (int)vu_json_int(q, "vq");

			if (strcmp(jstr(q, "port"), "a") == 0 && vq % 2 == 1 && vq / 2 < NQP) {
				p->worker_of[vq / 2] = (int)vu_json_int(q, "worker");
				p->load_of[vq / 2] = (unsigned)vu_json_int(q, "load_permille");
			}
		}
	p->replans = (unsigned)vu_json_int(r, "replans");
	if (json_object_object_get_ex(r, "moves", &arr)) {
		p->moves = (unsigned)json_object_array_length(arr);
		for (size_t i = 0; i < json_object_array_length(arr); i++)
			p->topology_move |= strcmp(jstr(json_object_array_get_idx(arr, i), "reason"), "load") != 0;
	}
	json_object_put(r);
	if (vu_ctl_json(d, &r, w_args) != 0)
		return false;
	if (json_object_object_get_ex(r, "workers", &arr))
		for (size_t i = 0; i < json_object_array_length(arr) && i < 8; i++) {
			struct json_object *w = json_object_array_get_idx(arr, i);

			p->worker_id[p->nworkers] = (int)vu_json_int(w, "id");
			p->worker_cpu[p->nworkers] = (int)vu_json_int(w, "cpu");
			p->worker_load[p->nworkers++] = (unsigned)vu_json_int(w, "load_permille");
		}
	json_object_put(r);
	return true;
}

/*
 * Spread between the workers' loads if A's rings sat where @where puts them, with the loads
 * measured in @loads: the same measurement judges the placement before and after.
 */
static unsigned load_spread(const struct placement *where, const struct placement *loads)
{
	unsigned hi = 0, lo = ~0u;

	for (unsigned i = 0; i < where->nworkers; i++) {
		unsigned sum = 0;

		for (unsigned q = 0; q < NQP; q++)
			if (where->worker_of[q] == where->worker_id[i])
				sum += loads->load_of[q];
		hi = sum > hi ? sum : hi;
		lo = sum < lo ? sum : lo;
	}
	return where->nworkers ? hi - lo : 0;
}

/* The hot ring (qp 0) shares its worker with no other ring that carries traffic. */
static bool hot_alone(const struct placement *p)
{
	for (unsigned q = 1; q < NQP; q++)
		if (p->worker_of[q] == p->worker_of[0])
			return false;
	return p->worker_of[0] >= 0;
}

/*
 * The balancer's minimum gain (balancer.c: min_gain, 2% of a core). Moving a ring this light
 * narrows the spread by little more than that, often less, and with the 15% hysteresis on top
 * the balancer may leave it beside the hot one, where a load swing of one tick put it.
 */
#define POLICY_MIN_GAIN_PERMILLE 20

/* The hot queue's worker carries nothing else the balancer would move. */
static bool hot_isolated(const struct placement *p)
{
	unsigned beside = 0;

	for (unsigned q = 1; q < NQP; q++)
		if (p->worker_of[q] == p->worker_of[0])
			beside += p->load_of[q];
	return p->worker_of[0] >= 0 && beside < POLICY_MIN_GAIN_PERMILLE;
}

static void start_traffic(struct traffic *t, pthread_t th[2])
{
	atomic_store(&t->stop, false);
	atomic_store(&t->sender_done, false);
	REQUIRE(pthread_create(&th[0], NULL, receiver, t) == 0, "receiver thread");
	REQUIRE(pthread_create(&th[1], NULL, sender, t) == 0, "sender thread");
}

/* Frames the switch dropped because @port's guest had posted no RX buffer. */
static uint64_t no_buffer_drops(struct vu_daemon *d, const char *port)
{
	struct vu_port_stats st;
	const char *at;

	if (vu_ctl_port_stats(d, port, &st) != 0)
		return 0;
	at = strstr(st.drop_reasons, "no_buffer=");
	return at ? strtoull(at + strlen("no_buffer="), NULL, 10) : 0;
}

static void stop_traffic(struct traffic *t, pthread_t th[2], const char *what,
			 struct vu_daemon *d)
{
	atomic_store(&t->stop, true);
	pthread_join(th[1], NULL);
	pthread_join(th[0], NULL);
	vu_test_note("%s: %llu sent, %llu received, %llu lost, %llu reordered", what,
		     (unsigned long long)atomic_load(&t->sent), (unsigned long long)atomic_load(&t->received),
		     (unsigned long long)atomic_load(&t->lost), (unsigned long long)atomic_load(&t->reordered));
	CHECK(atomic_load(&t->sent) > 1000, "%s: traffic flowed", what);
	/*
	 * A queue move must lose nothing. The one loss allowed is the receiver's own: a frame
	 * for which its RX ring had no buffer (a receiving thread slowed down, e.g. under TSan),
	 * which the switch counts as no_buffer on b (counted since b started: a bound on what
	 * this run may miss).
	 */
	if (!CHECK(atomic_load(&t->received) <= atomic_load(&t->sent) &&
		   atomic_load(&t->sent) - atomic_load(&t->received) <= no_buffer_drops(d, "b"),
		   "%s: every frame arrived (or found b without a buffer)", what)) {
		struct vu_port_stats a, b;

		static const char *const st[] = { "stats", NULL };
		char *txt = NULL;

		if (vu_ctl_port_stats(d, "a", &a) == 0 && vu_ctl_port_stats(d, "b", &b) == 0)
			vu_test_note("daemon: a rx %llu drops %s; b tx %llu drops %s",
				     (unsigned long long)a.rx_packets, a.drop_reasons,
				     (unsigned long long)b.tx_packets, b.drop_reasons);
		if (vu_ctl_run(d, true, &txt, st) == 0)
			vu_test_note("%s", txt);
		free(txt);
	}
	CHECK(atomic_load(&t->lost) == 0 && atomic_load(&t->reordered) == 0 && atomic_load(&t->bad) == 0,
	      "%s: none lost, reordered or damaged", what);
}

static void setup(struct vu_daemon *d, const char *const *extra, struct traffic *t)
{
	static const char *const ports[] = { "a,queues=4", "b,queues=4", NULL };
	struct vu_dev_opts o;
	int r;

	r = vu_daemon_start(d, ports, extra);
	REQUIRE(r == 0, "daemon start: %s", strerror(-r));
	pc_opts(&o, "A");
	o.queue_pairs = NQP;
	o.ring_size = 256;
	t->a = pc_dev(d, "a", &o);
	o.name = "B";
	t->b = pc_dev(d, "b", &o);
	pc_wait_running(d, "a");
	pc_wait_running(d, "b");
	/* B announces itself so the switch learns where it is. */
	pc_send1(t->b, 0, 0xb, 0xa, TAG + 1, 0, 60);
	(void)pc_recv_tag(t->a, TAG + 1, 1000, NULL);
	atomic_store(&t->qp_mask, (1u << NQP) - 1);
}

static void set_affinity_all(pid_t pid, const cpu_set_t *set)
{
	char path[64];
	DIR *dir;
	struct dirent *e;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	dir = opendir(path);
	REQUIRE(dir, "%s", path);
	while ((e = readdir(dir)))
		if (e->d_name[0] != '.')
			(void)sched_setaffinity(atoi(e->d_name), sizeof(*set), set);
	closedir(dir);
}

static bool workers_on(struct vu_daemon *d, const cpu_set_t *want, int timeout_ms, int64_t *took)
{
	int64_t start = vu_now_ms(), end = start + timeout_ms;
	struct placement p;

	while (vu_now_ms() < end) {
		if (get_placement(d, &p) && p.nworkers == (unsigned)CPU_COUNT(want)) {
			bool ok = true;

			for (unsigned i = 0; i < p.nworkers; i++)
				ok &= p.worker_cpu[i] >= 0 && CPU_ISSET(p.worker_cpu[i], want);
			for (unsigned q = 0; q < NQP; q++) {
				bool found = false;

				for (unsigned i = 0; i < p.nworkers; i++)
					found |= p.worker_of[q] == p.worker_id[i];
				ok &= found;
			}
			if (ok) {
				*took = vu_now_ms() - start;
				return true;
			}
		}
		usleep(20000);
	}
	return false;
}

static void test_hot_queue(void)
{
	static const char *const extra[] = { "--workers", "0,1", NULL };
	/*
	 * The hot ring must stay hot next to a fast datapath: big frames, sent every round; the
	 * others small and rare, so their per-drain costs do not read as load close to it.
	 */
	struct traffic t = { .burst = { 64, 16, 16, 16 }, .every = { 1, 2, 2, 2 },
			     .len = { 1400, 60, 60, 60 } };
	struct vu_daemon d;
	struct placement first, p;
	pthread_t th[2];
	int64_t start, took = -1;
	unsigned spread_first, alone = 0;

	vu_test_case("a hot queue is isolated and the spread narrows");
	setup(&d, extra, &t);
	REQUIRE(get_placement(&d, &first), "placement before traffic");
	start_traffic(&t, th);
	start = vu_now_ms();
	while (vu_now_ms() - start < 3000) {
		if (get_placement(&d, &p) && hot_alone(&p) && p.moves > 0) {
			took = vu_now_ms() - start;
			break;
		}
		usleep(20000);
	}
	/*
	 * It stays isolated: sampled 10 times over half a second. A loaded machine preempts
	 * workers inside a drain, which reads as a load spike of a quiet ring, and the balancer may
	 * then move that ring for a tick; most samples must still show nothing that matters
	 * beside the hot queue (hot_isolated()).
	 */
	for (int i = 0; i < 10; i++) {
		usleep(50000);
		if (get_placement(&d, &p) && hot_isolated(&p))
			alone++;
	}
	get_placement(&d, &p);
	spread_first = load_spread(&first, &p);
	vu_test_note("ring loads permille: hot %u, others %u %u %u; spread %u -> %u; took %lld ms",
		     p.load_of[0], p.load_of[1], p.load_of[2], p.load_of[3], spread_first,
		     load_spread(&p, &p), (long long)took);
	CHECK(!hot_alone(&first), "the hot queue started out sharing its worker");
	/* Sanitizer builds run everything several times slower: the bound scales with them. */
	CHECK(took >= 0 && took <= 1200 * slow, "hot queue alone on its worker within ~%d s (took %lld ms)",
	      slow, (long long)took);
	if (!CHECK(alone >= 8, "and it stays isolated (%u of 10 samples)", alone)) {
		static const char *const pl[] = { "placement", NULL };
		char *txt = NULL;

		if (vu_ctl_run(&d, false, &txt, pl) == 0)
			vu_test_note("%s", txt);
		free(txt);
	}
	CHECK(load_spread(&p, &p) < spread_first, "worker load spread narrowed (%u -> %u permille)",
	      spread_first, load_spread(&p, &p));
	stop_traffic(&t, th, "hot queue", &d);
	vu_dev_free(t.a);
	vu_dev_free(t.b);
	vu_daemon_stop(&d);
}

static void test_affinity(void)
{
	struct traffic t = { .burst = { 16, 16, 16, 16 }, .every = { 1, 1, 1, 1 } };
	cpu_set_t one, both;
	struct vu_daemon d;
	pthread_t th[2];
	int64_t took = -1;

	vu_test_case("workers follow the daemon's CPU affinity");
	CPU_ZERO(&one);
	CPU_SET(0, &one);
	CPU_ZERO(&both);
	CPU_SET(0, &both);
	CPU_SET(1, &both);
	setup(&d, NULL, &t);
	REQUIRE(workers_on(&d, &both, 2000, &took), "one worker per CPU at start");
	start_traffic(&t, th);
	usleep(300000);
	set_affinity_all(d.pid, &one);
	CHECK(workers_on(&d, &one, 1000 * slow, &took), "CPU 1 removed: one worker left on CPU 0 with every queue");
	vu_test_note("shrink to CPU 0 followed in %lld ms", (long long)took);
	usleep(300000);
	set_affinity_all(d.pid, &both);
	took = -1;
	CHECK(workers_on(&d, &both, 1000 * slow, &took), "CPU 1 given back: a worker on it again");
	vu_test_note("grow to CPUs 0-1 followed in %lld ms", (long long)took);
	usleep(300000);
	stop_traffic(&t, th, "affinity changes", &d);
	vu_dev_free(t.a);
	vu_dev_free(t.b);
	vu_daemon_stop(&d);
}

static void test_changes(void)
{
	static const char *const extra[] = { "--workers", "0,1", NULL };
	static const char *const add_c[] = { "port", "add", "c", NULL };
	static const char *const del_c[] = { "port", "del", "c", NULL };
	struct traffic t = { .burst = { 16, 16, 16, 16 }, .every = { 1, 1, 1, 1 } };
	struct vu_daemon d;
	struct placement before, p;
	struct vu_dev_opts o;
	struct vu_dev *c;
	pthread_t th[2];
	char path[256];

	vu_test_case("queue disable and port add/remove re-plan without loss");
	setup(&d, extra, &t);
	start_traffic(&t, th);
	usleep(300000);
	REQUIRE(get_placement(&d, &before), "placement");

	/* The sender leaves queue pair 3 first: frames on a disabled TX ring are discarded. */
	atomic_store(&t.qp_mask, 0x7);
	usleep(100000);
	CHECK(vu_dev_enable_qp(t.a, 3, false) == 0, "disable A's queue pair 3");
	usleep(300000);
	get_placement(&d, &p);
	CHECK(p.replans > before.replans, "disabling a queue re-planned (%u -> %u)", before.replans, p.replans);

	before = p;
	REQUIRE(vu_ctl_run(&d, false, NULL, add_c) == 0, "port add c");
	pc_opts(&o, "C");
	c = pc_dev_try(&d, "c", &o);
	usleep(300000);
	get_placement(&d, &p);
	CHECK(c && p.replans > before.replans, "a new port re-planned (%u -> %u)", before.replans, p.replans);

	before = p;
	vu_dev_free(c);
	CHECK(vu_ctl_run(&d, false, NULL, del_c) == 0, "port del c");
	usleep(300000);
	get_placement(&d, &p);
	CHECK(p.replans > before.replans, "a removed port re-planned (%u -> %u)", before.replans, p.replans);
	CHECK(access(vu_daemon_sock(&d, "c", path, sizeof(path)), F_OK) != 0, "its socket is gone");

	CHECK(vu_dev_enable_qp(t.a, 3, true) == 0, "re-enable A's queue pair 3");
	usleep(100000);
	atomic_store(&t.qp_mask, 0xf);
	usleep(300000);
	stop_traffic(&t, th, "environment changes", &d);
	vu_dev_free(t.a);
	vu_dev_free(t.b);
	vu_daemon_stop(&d);
}

int main(void)
{
	vu_test_init("balance", 120);
	if (getenv("VHOST_LB_SLOW") && atoi(getenv("VHOST_LB_SLOW")) > 1)
		slow = atoi(getenv("VHOST_LB_SLOW"));
	if (sysconf(_SC_NPROCESSORS_ONLN) < 2)
		vu_test_skip("needs 2 CPUs");
	test_hot_queue();
	test_affinity();
	test_changes();
	return vu_test_finish();
}
