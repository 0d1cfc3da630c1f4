#include "listener.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int listener_parse(const char *text, struct sockaddr_storage *ss, socklen_t *len, char **err)
{
	char host[256];
	const char *port;
	if (text[0] == '[') {
		const char *close = strchr(text, ']');
		if (!close || close[1] != ':' || (size_t)(close - text - 1) >= sizeof host) {
			err_set(err, "'%s' is not [IPv6]:port", text);
			return -1;
		}
		memcpy(host, text + 1, (size_t)(close - text - 1));
		host[close - text - 1] = '\0';
		port = close + 2;
	} else {
		const char *colon = strrchr(text, ':');
		if (!colon || strchr(text, ':') != colon || (size_t)(colon - text) >= sizeof host) {
			err_set(err, "'%s' is not address:port (IPv6 as [address]:port)", text);
			return -1;
		}
		memcpy(host, text, (size_t)(colon - text));
		host[colon - text] = '\0';
		port = colon + 1;
	}
	if (host[0] == '\0') {
		err_set(err, "'%s': the address is missing (use 0.0.0.0 or [::] for all)", text);
		return -1;
	}
	if (strcmp(host, "localhost") == 0)
		snprintf(host, sizeof host, "127.0.0.1");
	char *end;
	errno = 0;
	long p = strtol(port, &end, 10);
	if (!*port || *end || errno || p < 0 || p > 65535) {
		err_set(err, "'%s': the port must be a number from 0 to 65535", text);
		return -1;
	}
	struct addrinfo hints = {.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE,
	                         .ai_socktype = SOCK_STREAM};
	struct addrinfo *ai = NULL;
	int rc = getaddrinfo(host, port, &hints, &ai);
	if (rc != 0 || !ai) {
		err_set(err, "'%s': '%s' is not a numeric IPv4 or IPv6 address", text, host);
		return -1;
	}
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*len = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

static int set_flags(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -1;
	int fdfl = fcntl(fd, F_GETFD);
	if (fdfl < 0 || fcntl(fd, F_SETFD, fdfl | FD_CLOEXEC) < 0)
		return -1;
	return 0;
}

int listener_open(const char *text, int backlog, char **err)
{
	struct sockaddr_storage ss;
	socklen_t len;
	if (listener_parse(text, &ss, &len, err) < 0)
		return -1;
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		err_set(err, "%s: socket: %s", text, strerror(errno));
		return -1;
	}
	int one = 1, zero = 0;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
	if (bind(fd, (struct sockaddr *)&ss, len) < 0) {
		err_set(err, "%s: bind: %s", text, strerror(errno));
		close(fd);
		return -1;
	}
	if (listen(fd, backlog) < 0) {
		err_set(err, "%s: listen: %s", text, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

int listener_adopt(int fd, char **err)
{
	int type = 0, accepting = 0;
	socklen_t l = sizeof type;
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l) < 0 || type != SOCK_STREAM) {
		err_set(err, "inherited fd %d is not a stream socket", fd);
		return -1;
	}
	l = sizeof accepting;
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &l) < 0 || !accepting) {
		err_set(err, "inherited fd %d is not a listening socket", fd);
		return -1;
	}
	if (set_flags(fd) < 0) {
		err_set(err, "inherited fd %d: fcntl: %s", fd, strerror(errno));
		return -1;
	}
	return 0;
}

void listener_addr_text(const struct sockaddr *sa, char *out, size_t len)
{
	if (sa && sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out,
		          (socklen_t)len);
	else if (sa && sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
		          out, (socklen_t)len);
	else
		snprintf(out, len, "?");
}

char *listener_describe(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0 ||
	    (ss.ss_family != AF_INET && ss.ss_family != AF_INET6))
		return xasprintf("fd %d", fd);
	char host[INET6_ADDRSTRLEN];
	listener_addr_text((const struct sockaddr *)&ss, host, sizeof host);
	const struct sockaddr_in *a4 = (const struct sockaddr_in *)(const void *)&ss;
	const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)(const void *)&ss;
	if (ss.ss_family == AF_INET)
		return xasprintf("%s:%u", host, ntohs(a4->sin_port));
	return xasprintf("[%s]:%u", host, ntohs(a6->sin6_port));
}
