// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Idle frontends for the many-ports figure of bench/run.sh (issue 3, target 5): connects to
 * COUNT vhost-user sockets SOCKDIR/PREFIX<i>.sock, starts QPS queue pairs on each (every ring
 * enabled, RX buffers posted, nothing sent), prints "ready N" and stays connected until stdin
 * closes. The daemon then has COUNT * QPS more TX rings to watch while two other ports carry
 * the traffic, which is what the figure prices.
 *
 * usage: idle-ports SOCKDIR PREFIX COUNT QPS
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vu_frontend.h"

int main(int argc, char **argv)
{
	struct vu_dev **devs;
	unsigned int count, qps;
	char buf[256];

	if (argc != 5) {
		fprintf(stderr, "usage: idle-ports SOCKDIR PREFIX COUNT QPS\n");
		return 2;
	}
	count = (unsigned int)strtoul(argv[3], NULL, 10);
	qps = (unsigned int)strtoul(argv[4], NULL, 10);
	devs = calloc(count, sizeof(*devs));
	if (!devs || count == 0 || qps == 0)
		return 2;
	for (unsigned int i = 0; i < count; i++) {
		struct vu_dev_opts o;
		char path[256], name[64];

		snprintf(name, sizeof(name), "%s%u", argv[2], i);
		snprintf(path, sizeof(path), "%s/%s.sock", argv[1], name);
		vu_dev_opts_init(&o);
		o.name = name;
		o.queue_pairs = qps;
		if (vu_dev_connect(path, &o, 10000, &devs[i]) || vu_dev_start(devs[i])) {
			fprintf(stderr, "idle-ports: %s failed\n", path);
			return 1;
		}
	}
	printf("ready %u\n", count);
	fflush(stdout);
	while (fgets(buf, sizeof(buf), stdin))
		;
	for (unsigned int i = 0; i < count; i++)
		vu_dev_free(devs[i]);
	free(devs);
	return 0;
}
