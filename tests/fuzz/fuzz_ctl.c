// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Fuzz target: the control socket's request handling (ctl/ctl.c ctl_handle_request()) against
 * a minimal daemon: an event loop and a datapath without workers, no balancer ticks. Requests
 * really add and delete ports, which creates, connects to and removes unix sockets.
 *
 * Input: text, split into request lines at '\n' exactly as the control server does; each line
 * is handed over in a buffer of exactly its length (no terminating NUL), so an over-read shows.
 * "@@" in the input stands for this process's private socket directory. Sandbox: a request
 * whose "path" (as json-c reads it, the same way the daemon will) is outside that directory or
 * contains "..", is not run: the fuzzer must not create, chmod, connect to or unlink sockets
 * elsewhere on the host; nor are vf-assign, vf-release, vf-rate and vf-irq-set, which change
 * real network devices and IRQ affinities (vf-list and vf-irq, which only read, do run), nor
 * a request with "type" or "tap", which could create a TAP device (an uplink port). Every reply must be a JSON object with a boolean "ok". After each
 * input every port is deleted, which must leave no socket file, fd or memory behind.
 */
#include <sys/socket.h>
#include <sys/stat.h>

#include "balance/balancer.h"
#include "core/log.h"
#include "ctl/ctl.h"
#include "daemon/daemon.h"
#include "fuzz.h"

static struct daemon d;
static char sandbox[64];
static size_t sandbox_len;

static void cleanup(void)
{
	ports_free_all(&d);
	(void)rmdir(sandbox);
}

static void init_once(void)
{
	log_max_level = LOG_LVL_ERROR;
	rcu_register_thread();
	snprintf(sandbox, sizeof(sandbox), "%s/vulb-fuzz-ctl.XXXXXX",
		 getenv("TMPDIR") && strlen(getenv("TMPDIR")) < 30 ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(sandbox))
		abort();
	sandbox_len = strlen(sandbox);
	snprintf(d.socket_dir, sizeof(d.socket_dir), "%s", sandbox);
	snprintf(d.ctl_path, sizeof(d.ctl_path), "%s/ctl.sock", sandbox);
	d.start_ns = time_ns_mono();
	if (evloop_new(&d.loop) || dp_new(&d.dp))
		abort();
	/* The balancer's state as the commands read it; no ticks run here. */
	d.bal = calloc(1, sizeof(*d.bal));
	if (!d.bal)
		abort();
	d.bal->dp = d.dp;
	d.bal->loop = d.loop;
	atexit(cleanup);
	{
		/* The VF commands open their netlink socket once and keep it: open it now. */
		static const char warm[] = "{\"cmd\":\"vf-list\"}";

		json_object_put(ctl_handle_request(&d, warm, sizeof(warm) - 1));
	}
	rcu_thread_offline();
}

/*
 * The VF commands that change the host (VF MAC/VLAN/rate, IRQ affinity) go to the real kernel;
 * vf-list and vf-irq only read.
 */
static bool cmd_allowed(const char *cmd)
{
	return strncmp(cmd, "vf-", 3) != 0 || strcmp(cmd, "vf-list") == 0 || strcmp(cmd, "vf-irq") == 0;
}

/* Same parser, same lookups as the daemon: the sandbox sees the request the daemon will run. */
static bool request_allowed(const char *line, size_t len)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *req, *v;
	bool ok = true;

	if (!tok)
		abort();
	req = json_tokener_parse_ex(tok, line, (int)len);
	if (req && json_object_is_type(req, json_type_object) &&
	    json_object_object_get_ex(req, "path", &v) && json_object_is_type(v, json_type_string)) {
		const char *p = json_object_get_string(v);

		ok = strncmp(p, sandbox, sandbox_len) == 0 && p[sandbox_len] == '/' && !strstr(p, "..");
	}
	if (req && json_object_is_type(req, json_type_object) &&
	    (json_object_object_get_ex(req, "type", NULL) || json_object_object_get_ex(req, "tap", NULL)))
		ok = false;
	if (req && json_object_is_type(req, json_type_object) &&
	    json_object_object_get_ex(req, "cmd", &v) && json_object_is_type(v, json_type_string) &&
	    !cmd_allowed(json_object_get_string(v)))
		ok = false;
	json_object_put(req);
	json_tokener_free(tok);
	return ok;
}

static void run_line(const char *line, size_t len)
{
	struct json_object *reply, *ok;
	char *exact;

	if (!request_allowed(line, len))
		return;
	exact = malloc(len ? len : 1);
	if (!exact)
		abort();
	memcpy(exact, line, len);
	reply = ctl_handle_request(&d, exact, len);
	free(exact);
	FUZZ_ASSERT(reply && json_object_is_type(reply, json_type_object), "reply is not an object");
	FUZZ_ASSERT(json_object_object_get_ex(reply, "ok", &ok) &&
		    json_object_is_type(ok, json_type_boolean), "reply without a boolean \"ok\"");
	FUZZ_LOG("ctl: %.*s -> %s\n", (int)len, line,
		 json_object_to_json_string_ext(reply, JSON_C_TO_STRING_PLAIN));
	(void)json_object_to_json_string_ext(reply, JSON_C_TO_STRING_PLAIN);
	json_object_put(reply);
	/*
	 * Known bug: clear_stale_socket() connects in blocking mode, so a port-add on a path whose
	 * listener has a full backlog blocks the control thread for ever. The daemon's event loop
	 * would accept between requests of different batches; do that here when steering around it.
	 */
	for (struct port *p = d.ports; p; p = p->next) {
		int c;

		if (p->listen_fd < 0 || !fuzz_skip_known("ports: clear_stale_socket() blocks in connect()"))
			continue;
		while ((c = accept4(p->listen_fd, NULL, NULL, SOCK_CLOEXEC)) >= 0)
			close(c);
	}
}

/* Expands "@@" to the sandbox directory. Return: a malloc'ed copy, its length in @ret_len. */
static char *expand(const uint8_t *data, size_t size, size_t *ret_len)
{
	size_t n = 0, cap = size + 1;
	char *out;

	for (size_t i = 0; i + 1 < size; i++)
		if (data[i] == '@' && data[i + 1] == '@')
			cap += sandbox_len;
	out = malloc(cap);
	if (!out)
		abort();
	for (size_t i = 0; i < size; i++) {
		if (i + 1 < size && data[i] == '@' && data[i + 1] == '@') {
			memcpy(out + n, sandbox, sandbox_len);
			n += sandbox_len;
			i++;
		} else {
			out[n++] = (char)data[i];
		}
	}
	*ret_len = n;
	return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool inited;
	size_t len, start = 0;
	char *text;

	if (!inited) {
		init_once();
		inited = true;
	}
	fuzz_fd_begin();
	/* Like the control thread, which goes offline while it waits in epoll. */
	rcu_thread_online();
	text = expand(data, size, &len);
	/* Like the server: only complete lines are requests; a trailing fragment waits forever. */
	for (size_t i = 0; i < len; i++) {
		if (text[i] != '\n')
			continue;
		run_line(text + start, i - start);
		start = i + 1;
	}
	free(text);
	ports_free_all(&d);
	FUZZ_ASSERT(d.nports == 0 && !d.ports, "ports left");
	{
		/* Every port's socket file is gone with the port. */
		DIR *dir = opendir(sandbox);
		struct dirent *e;
		int files = 0;

		if (!dir)
			abort();
		while ((e = readdir(dir)))
			if (e->d_name[0] != '.' || (e->d_name[1] && strcmp(e->d_name, "..")))
				files++;
		closedir(dir);
		FUZZ_ASSERT(files == 0, "%d files left in the socket directory", files);
	}
	fuzz_fd_check();
	rcu_thread_offline();
	/* Offline first: rcu_barrier() waits for grace periods, which wait for online readers. */
	fuzz_periodic_leak_check(2000, rcu_barrier);
	return 0;
}
