/* report.c — errors go to TypeScript once, from the failing call, as JSON lines. */
#include "init.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

void json_escape(char *out, size_t outlen, const char *in)
{
	size_t o = 0;
	for (; in && *in && o + 7 < outlen; in++) {
		unsigned char c = (unsigned char)*in;
		if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else if (c < 0x20) {
			o += (size_t)snprintf(out + o, outlen - o, "\\u%04x", c);
		} else {
			out[o++] = (char)c;
		}
	}
	out[o] = '\0';
}

/* Returns 0 when everything was written (else -1 with errno). On sockets, MSG_NOSIGNAL: a
 * caller that went away (after `create`) must not kill the container with SIGPIPE. */
int write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n < 0 && errno == ENOTSOCK)
			n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0)
			errno = EIO;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

int sync_send(const char *json)
{
	if (ctx.sync_fd < 0)
		return -1;
	size_t len = strlen(json);
	char *line = malloc(len + 2);
	if (!line)
		return -1;
	memcpy(line, json, len);
	line[len] = '\n';
	int rc = write_all(ctx.sync_fd, line, len + 1);
	free(line);
	return rc;
}

char *sync_read_line(void)
{
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);
	if (!buf)
		return NULL;
	for (;;) {
		char c;
		ssize_t n = read(ctx.sync_fd, &c, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			free(buf);
			return NULL;
		}
		if (c == '\n')
			break;
		if (len + 1 >= cap) {
			char *next = realloc(buf, cap * 2);
			if (!next) {
				free(buf);
				return NULL;
			}
			buf = next;
			cap *= 2;
		}
		buf[len++] = c;
	}
	buf[len] = '\0';
	return buf;
}

void report_error(const char *op, int err, const char *path, const char *message)
{
	char epath[4096 * 2], emsg[1024], line[12288];
	const char *name = err ? strerrorname_np(err) : NULL;
	json_escape(epath, sizeof(epath), path ? path : "");
	json_escape(emsg, sizeof(emsg), message ? message : "");
	snprintf(line, sizeof(line),
		 "{\"type\":\"" MSG_ERROR "\",\"stage\":\"%s\",\"op\":\"%s\",\"errno\":%d,\"errnoName\":\"%s\","
		 "\"path\":\"%s\",\"message\":\"%s\"}",
		 ctx.stage, op, err, name ? name : "", epath, emsg);
	if (sync_send(line) != 0) {
		/* no caller listens any more (after `create`): the container's stderr is all we have */
		char text[8192];
		int n = snprintf(text, sizeof(text), "berth-init: %s: %s%s%s: %s\n", ctx.stage, op,
				 path ? " " : "", path ? path : "", message ? message : strerror(err));
		if (n > 0 && write_all(2, text, (size_t)n < sizeof(text) ? (size_t)n : sizeof(text) - 1) < 0)
			return; /* nowhere left to say it: the exit status tells */
	}
}

void fail(const char *op, int err, const char *path)
{
	report_error(op, err, path, NULL);
	_exit(BERTH_INIT_EXIT_SETUP_FAILED);
}

void fail_msg(const char *op, int err, const char *path, const char *message)
{
	report_error(op, err, path, message);
	_exit(BERTH_INIT_EXIT_SETUP_FAILED);
}
