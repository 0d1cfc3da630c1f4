/* Listening sockets: opened from "address:port" text, or adopted from a parent process (socket
 * activation or a binary upgrade hands them over), so that a restart never refuses a connection. */
#ifndef TANDEM_LISTENER_H
#define TANDEM_LISTENER_H

#include <stddef.h>
#include <sys/socket.h>

#include "err.h"

/* "127.0.0.1:8080", "[::1]:8080", "[::]:8080" (IPv6 and IPv4), "0.0.0.0:8080", "localhost:8080".
 * Addresses are numeric (no DNS). Fills *ss and *len. */
int listener_parse(const char *text, struct sockaddr_storage *ss, socklen_t *len,
                   char **err) TND_MUST_CHECK;

/* Opens a non-blocking, close-on-exec listening TCP socket. Returns the fd or -1. */
int listener_open(const char *text, int backlog, char **err) TND_MUST_CHECK;

/* Makes an inherited fd usable: checks it is a listening TCP socket, sets O_NONBLOCK and
 * FD_CLOEXEC. */
int listener_adopt(int fd, char **err) TND_MUST_CHECK;

/* The address of a peer as text ("127.0.0.1", "::1"; "?" for other families). */
void listener_addr_text(const struct sockaddr *sa, char *out, size_t len);

/* "127.0.0.1:8080" or "[::1]:8080" for a bound socket (caller frees). */
char *listener_describe(int fd);

#endif
