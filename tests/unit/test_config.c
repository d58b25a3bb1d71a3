// SPDX-License-Identifier: GPL-2.0-or-later
/* Port specs, CPU lists and the config file, with the errors users will see. */
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "daemon/config.h"

static int load(const char *text, struct config *c, char *why, size_t len)
{
	char path[] = "/tmp/vulb-config-XXXXXX";
	int fd = mkstemp(path), r;

	if (fd < 0 || write(fd, text, strlen(text)) < 0)
		return -1;
	close(fd);
	config_init(c);
	r = config_load_file(c, path, why, len);
	if (!r)
		r = config_resolve_paths(c, why, len);
	unlink(path);
	return r;
}

int main(void)
{
	struct port_spec s;
	struct config c;
	char why[512];
	int cpus[8];
	unsigned int n;

	CHECK(port_spec_parse("vm1", "/run/x", &s, why, sizeof(why)) == 0 &&
	      strcmp(s.path, "/run/x/vm1.sock") == 0 && s.mode == PORT_MODE_SERVER && s.queues == 8,
	      "NAME alone: server socket in the socket dir");
	CHECK(port_spec_parse("b,path=/tmp/q.sock,mode=client,queues=2", "/run/x", &s, why, sizeof(why)) == 0 &&
	      strcmp(s.path, "/tmp/q.sock") == 0 && s.mode == PORT_MODE_CLIENT && s.queues == 2,
	      "all options");
	CHECK(port_spec_parse("b,mode=proxy", "/run/x", &s, why, sizeof(why)) == -EINVAL, "bad mode: %s", why);
	CHECK(port_spec_parse("b,queues=99", "/run/x", &s, why, sizeof(why)) == -EINVAL, "bad queues: %s", why);
	CHECK(port_spec_parse("a/b", "/run/x", &s, why, sizeof(why)) == -EINVAL, "bad name: %s", why);
	CHECK(port_spec_parse("b,colour=red", "/run/x", &s, why, sizeof(why)) == -EINVAL, "unknown option: %s", why);

	CHECK(config_parse_cpulist("0-2,5", cpus, 8, &n) == 0 && n == 4 && cpus[3] == 5, "cpu list 0-2,5");
	CHECK(config_parse_cpulist("2-1", cpus, 8, &n) == -EINVAL, "reversed range rejected");
	CHECK(config_parse_cpulist("0-9", cpus, 8, &n) == -E2BIG, "too many CPUs rejected");
	CHECK(config_parse_cpulist("x", cpus, 8, &n) == -EINVAL, "garbage rejected");

	CHECK(load("# a comment\n[daemon]\nsocket-dir = /tmp/vd\nworkers = 1\nlog-level = debug\n"
		   "[port vm1]\nqueues = 4\n[port vm2]\npath = /tmp/vm2.sock\nmode = client\n",
		   &c, why, sizeof(why)) == 0, "a full file parses: %s", why);
	CHECK(c.nports == 2 && strcmp(c.ports[0].path, "/tmp/vd/vm1.sock") == 0 && c.ports[0].queues == 4 &&
	      c.ports[1].mode == PORT_MODE_CLIENT && c.workers_pinned && c.worker_cpus[0] == 1 &&
	      c.log_level == LOG_LVL_DEBUG, "values applied");
	config_free(&c);
	CHECK(load("[daemon]\nworkers = a\n", &c, why, sizeof(why)) == -EINVAL && strstr(why, ":2: workers"),
	      "error names line and key: %s", why);
	config_free(&c);
	CHECK(load("[daemon]\nsocket-dir /x\n", &c, why, sizeof(why)) == -EINVAL && strstr(why, ":2:"),
	      "missing '=': %s", why);
	config_free(&c);
	CHECK(load("[bogus]\n", &c, why, sizeof(why)) == -EINVAL, "unknown section: %s", why);
	config_free(&c);
	CHECK(load("[port vm1]\nmode = sideways\n", &c, why, sizeof(why)) == -EINVAL && strstr(why, "mode"),
	      "bad port value: %s", why);
	config_free(&c);
	CHECK(load("key = 1\n", &c, why, sizeof(why)) == -EINVAL, "key outside a section: %s", why);
	config_free(&c);
	CHECK(load("[vip 10.0.0.1:80/tcp]\nalgo = wrr\nbackend = mac=02:00:00:00:00:01,ip=10.0.0.2,weight=5\n"
		   "backend = vm=web2,mac=02:00:00:00:00:02,ip=10.0.0.3\n[vm web2]\nvf-min-rate = 100\nvf-max-rate = 900\n",
		   &c, why, sizeof(why)) == 0, "[vip] and [vm] sections: %s", why);
	CHECK(c.nvips == 1 && c.vips[0].nbackends == 2 && strcmp(c.vips[0].algo, "wrr") == 0 &&
	      strcmp(c.vips[0].backends[1].vm, "web2") == 0 &&
	      strcmp(c.vips[0].backends[1].spec, "mac=02:00:00:00:00:02,ip=10.0.0.3") == 0 &&
	      c.nvms == 1 && c.vms[0].vf_min_mbps == 100 && c.vms[0].vf_max_mbps == 900,
	      "VIP, backends (one tied to a VM) and VM rates read");
	config_free(&c);
	CHECK(load("[vip 10.0.0.1:80/sctp]\n", &c, why, sizeof(why)) == -EINVAL && strstr(why, ":1:"),
	      "a bad VIP is refused with its line: %s", why);
	config_free(&c);
	CHECK(load("[vip 10.0.0.1:80/tcp]\nbackend = ip=10.0.0.2\n", &c, why, sizeof(why)) == -EINVAL &&
	      strstr(why, ":2: backend"), "a backend without a MAC is refused: %s", why);
	config_free(&c);
	CHECK(load("[vip 10.0.0.1:80/tcp]\nalgo = random\n", &c, why, sizeof(why)) == -EINVAL,
	      "an unknown algorithm is refused: %s", why);
	config_free(&c);
	CHECK(load("[vm a]\nvf-max-rate = fast\n", &c, why, sizeof(why)) == -EINVAL, "a bad rate is refused: %s", why);
	config_free(&c);

	/* The uplink: type = tap, its own defaults, and the keys it refuses. */
	CHECK(port_spec_parse("up0,type=tap", "/run/x", &s, why, sizeof(why)) == 0 &&
	      s.type == PORT_TYPE_TAP && strcmp(s.ifname, "up0") == 0 && s.queues == 1 && !s.path[0],
	      "--port up0,type=tap: TAP up0, 1 queue, no socket (%s)", why);
	CHECK(port_spec_parse("up0,type=tap,tap=vlb0,queues=4", "/run/x", &s, why, sizeof(why)) == 0 &&
	      strcmp(s.ifname, "vlb0") == 0 && s.queues == 4, "tap= and queues=");
	CHECK(port_spec_parse("up0,type=tap,path=/tmp/u.sock", "/run/x", &s, why, sizeof(why)) == -EINVAL,
	      "a TAP port with a socket path is refused: %s", why);
	CHECK(port_spec_parse("up0,type=tap,mode=client", "/run/x", &s, why, sizeof(why)) == -EINVAL,
	      "a TAP port in client mode is refused: %s", why);
	CHECK(port_spec_parse("up0,tap=vlb0", "/run/x", &s, why, sizeof(why)) == -EINVAL,
	      "tap= on a vhost-user port is refused: %s", why);
	CHECK(port_spec_parse("up0,type=tap,tap=much-too-long-name", "/run/x", &s, why, sizeof(why)) == -EINVAL,
	      "an interface name over 15 characters is refused: %s", why);
	CHECK(port_spec_parse("a-port-name-of-20-ch,type=tap", "/run/x", &s, why, sizeof(why)) == -EINVAL,
	      "a long port name needs tap=: %s", why);
	CHECK(port_spec_parse("up0,type=bridge", "/run/x", &s, why, sizeof(why)) == -EINVAL,
	      "an unknown type is refused: %s", why);
	CHECK(load("[port up0]\ntype = tap\ntap = vlb0\nqueues = 2\n[port vm1]\n", &c, why, sizeof(why)) == 0 &&
	      c.nports == 2 && c.ports[0].type == PORT_TYPE_TAP && strcmp(c.ports[0].ifname, "vlb0") == 0 &&
	      c.ports[0].queues == 2 && !c.ports[0].path[0] && c.ports[1].type == PORT_TYPE_VHOST_USER &&
	      c.ports[1].queues == 8 && c.ports[1].path[0], "[port up0] type = tap, then a guest port (%s)", why);
	config_free(&c);
	CHECK(load("[port up0]\ntype = tap\n", &c, why, sizeof(why)) == 0 && c.ports[0].queues == 1 &&
	      strcmp(c.ports[0].ifname, "up0") == 0, "[port up0] type = tap: defaults (%s)", why);
	config_free(&c);
	CHECK(load("[port up0]\ntype = tap\ngroup = root\n", &c, why, sizeof(why)) == -EINVAL &&
	      strstr(why, ":3:") && strstr(why, "[port up0]"), "group on a TAP port is refused: %s", why);
	config_free(&c);
	CHECK(load("[port up0]\ntype = tun\n", &c, why, sizeof(why)) == -EINVAL && strstr(why, ":2: type"),
	      "type = tun is refused: %s", why);
	config_free(&c);
	CHECK(load("[vm a]\nvf-min-rate = -5\n", &c, why, sizeof(why)) == -EINVAL && strstr(why, ":2: vf-min-rate"),
	      "a negative rate is refused with its line and key: %s", why);
	config_free(&c);
	CHECK(load("[vm a]\nvf-max-rate = 1000001\n", &c, why, sizeof(why)) == -EINVAL,
	      "a rate above 1 Tbit/s is refused: %s", why);
	config_free(&c);
	CHECK(load("[vm a]\nvf-min-rate = 500\nvf-max-rate = 400\n", &c, why, sizeof(why)) == -EINVAL &&
	      strstr(why, ":3:") && strstr(why, "above"), "min above max is refused (max second): %s", why);
	config_free(&c);
	CHECK(load("[vm a]\nvf-max-rate = 400\n\nvf-min-rate = 500\n", &c, why, sizeof(why)) == -EINVAL &&
	      strstr(why, ":4:"), "min above max is refused (min second): %s", why);
	config_free(&c);
	CHECK(load("[vm a]\nvf-min-rate = 500\nvf-max-rate = 0\n[vm b]\nvf-max-rate = 50\n", &c, why,
		   sizeof(why)) == 0 && c.nvms == 2 && c.vms[0].vf_min_mbps == 500 && c.vms[0].vf_max_mbps == 0 &&
	      c.vms[1].vf_min_mbps == 0 && c.vms[1].vf_max_mbps == 50,
	      "max 0 means no maximum; a key left out is 0: %s", why);
	config_free(&c);
	CHECK(load("[vm a]\nvf-min-rate = 1\n[vm a]\nvf-min-rate = 2\n", &c, why, sizeof(why)) == -EINVAL &&
	      strstr(why, ":3:"), "a second [vm] section for one VM is refused: %s", why);
	config_free(&c);
	CHECK(load("[vm a]\nvf-rate = 1\n", &c, why, sizeof(why)) == -EINVAL && strstr(why, "vf-rate"),
	      "an unknown [vm] key is refused: %s", why);
	config_free(&c);

	/* The table `vf assign` reads, replaced whole on reload. */
	{
		struct config_vm a[2] = { { "vmA", 300, 0 }, { "vmB", 200, 400 } };
		const struct config_vm *f;

		config_vms_set(a, 2);
		a[0].vf_min_mbps = 1;	/* the table is a copy */
		f = config_vm_find("vmA");
		CHECK(f && f->vf_min_mbps == 300 && config_vm_find("vmB")->vf_max_mbps == 400 &&
		      !config_vm_find("vmC"), "config_vm_find() finds the sections set, by copy");
		a[0].vf_min_mbps = 400;
		config_vms_set(a, 1);
		CHECK(config_vm_find("vmA")->vf_min_mbps == 400 && !config_vm_find("vmB"),
		      "a reload's sections replace the old ones");
		config_vms_set(NULL, 0);
		CHECK(!config_vm_find("vmA"), "no sections: nothing found");
	}
	/* The load balancer's checkpoint: file and period, their defaults and their ranges. */
	{
		char path[4096];

		CHECK(load("[daemon]\nsocket-dir = /tmp/vd\n", &c, why, sizeof(why)) == 0 &&
		      c.lb_checkpoint_ms == 1000 && config_lb_state_path(&c, path, sizeof(path)) == 0 &&
		      strcmp(path, "/tmp/vd/lb-state.json") == 0,
		      "defaults: every 1000 ms to SOCKET-DIR/lb-state.json (%s)", path);
		config_free(&c);
		CHECK(load("[daemon]\nlb-state-file = /var/lib/vulb/lb.json\nlb-checkpoint-ms = 250\n", &c, why,
			   sizeof(why)) == 0 && c.lb_checkpoint_ms == 250 &&
		      config_lb_state_path(&c, path, sizeof(path)) == 0 &&
		      strcmp(path, "/var/lib/vulb/lb.json") == 0, "both set: %s", why);
		config_free(&c);
		CHECK(load("[daemon]\nlb-state-file = none\n", &c, why, sizeof(why)) == 0 &&
		      config_lb_state_path(&c, path, sizeof(path)) == 0 && !path[0], "none: off");
		config_free(&c);
		CHECK(load("[daemon]\nlb-state-file =\n", &c, why, sizeof(why)) == 0 &&
		      config_lb_state_path(&c, path, sizeof(path)) == 0 && !path[0], "empty: off");
		config_free(&c);
		CHECK(load("[daemon]\nlb-checkpoint-ms = 0\n", &c, why, sizeof(why)) == 0 &&
		      config_lb_state_path(&c, path, sizeof(path)) == 0 && !path[0], "period 0: off");
		config_free(&c);
		CHECK(load("[daemon]\nlb-state-file = state.json\n", &c, why, sizeof(why)) == -EINVAL &&
		      strstr(why, ":2: lb-state-file"), "a relative path is refused: %s", why);
		config_free(&c);
		CHECK(load("[daemon]\nlb-checkpoint-ms = 10\n", &c, why, sizeof(why)) == -EINVAL &&
		      strstr(why, ":2: lb-checkpoint-ms"), "below the minimum: %s", why);
		config_free(&c);
		CHECK(load("[daemon]\nlb-checkpoint-ms = 3600001\n", &c, why, sizeof(why)) == -EINVAL,
		      "above the maximum: %s", why);
		config_free(&c);
		CHECK(load("[daemon]\nlb-checkpoint-ms = -1\n", &c, why, sizeof(why)) == -EINVAL &&
		      load("[daemon]\nlb-checkpoint-ms = 1s\n", &c, why, sizeof(why)) == -EINVAL,
		      "not a number: %s", why);
		config_free(&c);
		config_init(&c);
		CHECK(config_set_daemon_key(&c, "lb-checkpoint-ms", "500", why, sizeof(why)) == 0 &&
		      c.lb_checkpoint_ms == 500, "the command line's --lb-checkpoint-ms takes the same path");
		config_free(&c);
	}
	return check_done();
}
