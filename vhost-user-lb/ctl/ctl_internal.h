/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Shared by the control command modules. */
#ifndef VULB_CTL_CTL_INTERNAL_H
#define VULB_CTL_CTL_INTERNAL_H

#include <json-c/json.h>

#include "daemon/config.h"

struct daemon;

struct json_object *ctl_ok_reply(void);
struct json_object *ctl_error_reply(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const char *ctl_get_str(struct json_object *req, const char *key);

struct json_object *ctl_cmd_vf_list(struct daemon *d, struct json_object *req);
struct json_object *ctl_cmd_vf_assign(struct daemon *d, struct json_object *req);
struct json_object *ctl_cmd_vf_release(struct daemon *d, struct json_object *req);
struct json_object *ctl_cmd_vf_rate(struct daemon *d, struct json_object *req);
struct json_object *ctl_cmd_vf_irq(struct daemon *d, struct json_object *req);
struct json_object *ctl_cmd_vf_irq_set(struct daemon *d, struct json_object *req);
void ctl_vf_close(void);
struct json_object *ctl_cmd_vip_add(struct daemon *d, struct json_object *req);
struct json_object *ctl_cmd_vip_del(struct daemon *d, struct json_object *req);
struct json_object *ctl_cmd_vip_backend_add(struct daemon *d, struct json_object *req);
struct json_object *ctl_cmd_vip_backend_del(struct daemon *d, struct json_object *req);
struct json_object *ctl_cmd_vip_weight(struct daemon *d, struct json_object *req);
struct json_object *ctl_cmd_vip_show(struct daemon *d, struct json_object *req);

#endif
