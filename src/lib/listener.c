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

#include "addr.h"

int listener_parse(const char *text, struct sockaddr_storage *ss, socklen_t *len, char **err)
{
	addr a;
	if (addr_parse(text, 0, ADDR_PORT_ZERO, &a, err) < 0)
		return -1;
	const char *host = strcmp(a.host, "localhost") == 0 ? "127.0.0.1" : a.host;
	char port[16];
	snprintf(port, sizeof port, "%d", a.port);
	struct addrinfo hints = {.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE,
	                         .ai_socktype = SOCK_STREAM};
	struct addrinfo *ai = NULL;
	int rc = getaddrinfo(host, port, &hints, &ai);
	if (rc != 0 || !ai) {
		err_set(err, "'%s': '%s' is not a numeric IPv4 or IPv6 address", text, host);
		addr_clear(&a);
		return -1;
	}
	addr_clear(&a);
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
